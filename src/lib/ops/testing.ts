// Test helpers for op files: build a one-off graph, run it on a Runtime, get plain numbers back.
// Not used outside tests.

import { gradients } from '../autodiff/grad.ts';
import { Graph, type Value } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import type { DType, Shape } from '../graph/types.ts';
import type { HostData, HostTensor, Runtime } from '../runtime/types.ts';
import { mul, tanh } from './elementwise.ts';
import { linear } from './matmul.ts';
import { reduceSum } from './reduce.ts';

export interface TestInput {
  name: string;
  dims: number[];
  shape?: Shape;
  dtype?: DType;
  data: number[] | HostData;
}

export function hostTensor(dtype: DType, dims: number[], data: number[] | HostData): HostTensor {
  if (!Array.isArray(data)) return { dtype, dims, data };
  const typed: HostData =
    dtype === 'float64' ? Float64Array.from(data)
    : dtype === 'int64' ? BigInt64Array.from(data, (x) => BigInt(x))
    : dtype === 'int32' ? Int32Array.from(data)
    : dtype === 'bool' ? Uint8Array.from(data)
    : Float32Array.from(data);
  return { dtype, dims, data: typed };
}

/** Builds `build(inputs)` as a one-output graph and runs it; returns dims and numbers. */
export async function evaluate(
  runtime: Runtime,
  inputs: TestInput[],
  build: (x: Record<string, Value>, g: Graph) => Value,
): Promise<{ dims: number[]; data: number[]; dtype: DType }> {
  const g = new Graph('test');
  const values: Record<string, Value> = {};
  const feeds: Record<string, HostTensor> = {};
  for (const i of inputs) {
    const dtype = i.dtype ?? 'float32';
    values[i.name] = g.input(i.name, dtype, i.shape ?? i.dims);
    feeds[i.name] = hostTensor(dtype, i.dims, i.data);
  }
  g.output(build(values, g), 'y');
  const session = await runtime.load(toOnnx(g));
  try {
    const y = (await session.run(feeds)).y as HostTensor;
    return { dims: y.dims, data: Array.from(y.data as ArrayLike<number | bigint>, Number), dtype: y.dtype };
  } finally {
    await session.release();
  }
}

export function expectClose(actual: number[], expected: number[], tol = 1e-5): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => {
    const e = expected[i];
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      throw new Error(`element ${i}: ${a} vs expected ${e} (tol ${tol})\nactual   ${actual}\nexpected ${expected}`);
    }
  });
}

/** y = tanh(x·Wᵀ + b), loss = Σ y², with the gradients of W and b as outputs: the smallest graph with a backward. */
export function tinyDenseGraph(): Graph {
  const g = new Graph('tiny');
  const x = g.input('x', 'float32', ['B', 2]);
  const w = g.input('dense.weight', 'float32', [3, 2]);
  const b = g.input('dense.bias', 'float32', [3]);
  const h = g.scope('dense', () => tanh(linear(x, w, b)));
  const loss = reduceSum(mul(h, h), [0, 1]);
  g.output(loss, 'loss');
  for (const dv of gradients(g, loss, [w, b])) g.output(dv);
  return g;
}

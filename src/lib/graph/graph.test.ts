import { beforeAll, describe, expect, it } from 'vitest';
import { gradients } from '../autodiff/grad.ts';
import { add, mul, tanh } from '../ops/elementwise.ts';
import { reduceSum } from '../ops/reduce.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { dumpGraph } from './dump.ts';
import { Graph } from './graph.ts';
import { tinyDenseGraph } from '../ops/testing.ts';
import { toOnnx } from './onnx.ts';
import { fromOnnxBytes } from './onnx-protobufjs.ts';

let wasm: Runtime;
let node: Runtime;
beforeAll(async () => {
  wasm = await createRuntime('wasm', { threads: 1 });
  node = await createRuntime('node', { threads: 1 });
});


describe('graph', () => {
  it('dumps a tiny graph and its backward readably', () => {
    expect(dumpGraph(tinyDenseGraph())).toMatchInlineSnapshot(`
      "graph tiny
        input x: f32[B,2]
        input dense.weight: f32[3,2]
        input dense.bias: f32[3]
        dense/transpose: f32[2,3] = Transpose(dense.weight) {perm=[1,0]}
        dense/matmul: f32[B,3] = MatMul(x, dense/transpose)
        dense/add: f32[B,3] = Add(dense/matmul, dense.bias)
        dense/tanh: f32[B,3] = Tanh(dense/add)
        mul: f32[B,3] = Mul(dense/tanh, dense/tanh)
        loss: f32[] = ReduceSum(mul, const/i64[0,1]) {keepdims=0}
        grad/reducesum/unsqueeze: f32[1,1] = Unsqueeze(const/f32[1], const/i64[0,1])
        grad/reducesum/zeros_like: f32[B,3] = Mul(mul, const/f32[0])
        grad/reducesum/add: f32[B,3] = Add(grad/reducesum/unsqueeze, grad/reducesum/zeros_like)
        grad/mul/mul: f32[B,3] = Mul(grad/reducesum/add, dense/tanh)
        grad/mul/mul_1: f32[B,3] = Mul(grad/reducesum/add, dense/tanh)
        grad/dense/tanh/add: f32[B,3] = Add(grad/mul/mul, grad/mul/mul_1)
        grad/dense/tanh/mul: f32[B,3] = Mul(dense/tanh, dense/tanh)
        grad/dense/tanh/sub: f32[B,3] = Sub(const/f32[1], grad/dense/tanh/mul)
        grad/dense/tanh/mul_1: f32[B,3] = Mul(grad/dense/tanh/add, grad/dense/tanh/sub)
        grad/dense.bias: f32[3] = ReduceSum(grad/dense/tanh/mul_1, const/i64[0]) {keepdims=0}
        grad/dense/matmul/transpose_1: f32[2,B] = Transpose(x) {perm=[1,0]}
        grad/dense/matmul/matmul_1: f32[2,3] = MatMul(grad/dense/matmul/transpose_1, grad/dense/tanh/mul_1)
        grad/dense.weight: f32[3,2] = Transpose(grad/dense/matmul/matmul_1) {perm=[1,0]}
        output loss: f32[]
        output grad/dense.weight: f32[3,2]
        output grad/dense.bias: f32[3]
      "
    `);
  });

  it('names values uniquely and scopes intermediates', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const a = g.scope('encoder.layer.0', () => g.scope('attn', () => add(x, x)));
    const b = g.scope('encoder.layer.0', () => g.scope('attn', () => add(x, x)));
    expect([a.name, b.name]).toEqual(['encoder.layer.0/attn/add', 'encoder.layer.0/attn/add_1']);
    expect(() => g.input('x', 'float32', [1])).toThrow(/already used/);
    expect(() => add(x, new Graph().input('y', 'float32', [2]))).toThrow(/belongs to graph/);
  });

  it('throws naming the op when a gradient rule is missing', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const y = g.apply({ type: 'Sin', infer: (v) => [{ dtype: v[0]!.dtype, shape: v[0]!.shape }] }, [x])[0];
    expect(() => gradients(g, reduceSum(y, [0]), [x])).toThrow(/no gradient rule for op Sin/);
  });
});

describe('ONNX serialization', () => {
  it('writes opset 17 with dim_param for symbolic dims', () => {
    const model = fromOnnxBytes(toOnnx(tinyDenseGraph())) as any;
    expect(model.opset_import).toEqual([{ domain: '', version: 17 }]);
    expect(model.graph.input[0].type.tensor_type.shape.dim).toEqual([{ dim_param: 'B' }, { dim_value: 2 }]);
    expect(model.graph.output.map((o: any) => o.name)).toEqual(['loss', 'grad/dense.weight', 'grad/dense.bias']);
  });

  it('loads in both runtimes and accepts different batch sizes in one session', async () => {
    const bytes = toOnnx(tinyDenseGraph());
    const w = { dtype: 'float32' as const, dims: [3, 2], data: Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]) };
    const b = { dtype: 'float32' as const, dims: [3], data: Float32Array.from([0.01, 0.02, -0.03]) };
    const ref = (x: number[]) => {
      let s = 0;
      for (let r = 0; r < x.length / 2; r++) {
        for (let o = 0; o < 3; o++) s += Math.tanh(x[2 * r] * w.data[2 * o] + x[2 * r + 1] * w.data[2 * o + 1] + b.data[o]) ** 2;
      }
      return s;
    };
    for (const runtime of [wasm, node]) {
      const session = await runtime.load(bytes);
      for (const batch of [1, 4]) {
        const x = Array.from({ length: 2 * batch }, (_, i) => Math.sin(i + 1));
        const out = await session.run({ x: { dtype: 'float32', dims: [batch, 2], data: Float32Array.from(x) }, 'dense.weight': w, 'dense.bias': b });
        expect((out.loss as HostTensor).data[0]).toBeCloseTo(ref(x), 5);
        expect((out['grad/dense.weight'] as HostTensor).dims).toEqual([3, 2]);
      }
      await session.release();
    }
  });

  it('bakes chosen inputs into initializers for export', async () => {
    const g = new Graph('export');
    const x = g.input('x', 'float32', ['B', 2]);
    const w = g.input('w', 'float32', [2]);
    g.output(mul(x, w), 'y');
    const bytes = toOnnx(g, { initializers: new Map([['w', { dims: [2], data: Float32Array.from([2, 3]) }]]) });
    const session = await node.load(bytes);
    expect(session.inputNames).toEqual(['x']);
    const out = await session.run({ x: { dtype: 'float32', dims: [1, 2], data: Float32Array.from([1, 1]) } });
    expect(Array.from((out.y as HostTensor).data as Float32Array)).toEqual([2, 3]);
    await session.release();
  });
});

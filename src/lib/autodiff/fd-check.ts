// Finite-difference gradient checker: builds a graph (inputs → value), appends its gradient graph
// with `gradients`, runs both on a Runtime and compares the analytic gradient with central
// differences — per element for small inputs, along random directions for big ones
// (⟨∇f, v⟩ ≈ (f(x+hv) − f(x−hv)) / 2h). A non-scalar value is projected to a scalar with a random
// weight tensor, Σ w ⊙ y, so every output element is checked.
// Not a test runner: tests call fdCheck and assert on the report.

import { Graph, type Value } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import type { Dim, DType, Shape } from '../graph/types.ts';
import { mul } from '../ops/elementwise.ts';
import { reduceSum } from '../ops/reduce.ts';
import type { HostData, HostTensor, Runtime } from '../runtime/types.ts';
import { Rng } from '../util/rng.ts';
import { gradients } from './grad.ts';

export interface FdInput {
  name: string;
  /** Concrete shape fed at run time. */
  dims: number[];
  /** Shape declared in the graph (symbolic dims allowed); defaults to `dims`. */
  shape?: Shape;
  /** Defaults to the check's float dtype. */
  dtype?: DType;
  /** Fixed data (ids, masks); default: standard normal draws. */
  data?: HostData;
  /** Differentiate with respect to this input; default: true for float inputs without `data`. */
  wrt?: boolean;
}

export interface FdCheckOptions {
  runtime: Runtime;
  dtype: 'float32' | 'float64';
  inputs: FdInput[];
  build(inputs: Record<string, Value>, graph: Graph): Value;
  /** Step; default 1e-6 (float64) or 1e-2 (float32). */
  h?: number;
  /** Inputs up to this many elements are checked element by element; default 16. */
  elementwiseUpTo?: number;
  /** Random directions for bigger inputs; default 3. */
  directions?: number;
  seed?: number;
}

export interface FdInputReport {
  maxRelError: number;
  mode: 'elements' | 'directions';
  checks: number;
}

export interface FdReport {
  inputs: Record<string, FdInputReport>;
  maxRelError: number;
  loss: number;
}

function resolveDim(d: Dim, bind: Map<string, number>): number {
  if (typeof d === 'number') return d;
  let sum = 0;
  for (const term of d.match(/[+-]?[^+-]+/g)!) {
    const sign = term.startsWith('-') ? -1 : 1;
    const atom = term.replace(/^[+-]/, '');
    sum += sign * atom.split('*').reduce((p, t) => p * (/^\d+$/.test(t) ? Number(t) : bind.get(t)!), 1);
  }
  return sum;
}

function floatArray(dtype: DType, n: number): Float32Array | Float64Array {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** Relative error with a floor on the denominator, so near-zero gradients compare absolutely. */
function relError(a: number, b: number, floor: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
}

export async function fdCheck(opts: FdCheckOptions): Promise<FdReport> {
  const { runtime, dtype } = opts;
  const h = opts.h ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const floor = dtype === 'float64' ? 1e-7 : 1e-3;
  const rng = new Rng(opts.seed ?? 1);

  const bind = new Map<string, number>();
  const g = new Graph('fd_check');
  const values: Record<string, Value> = {};
  const feeds: Record<string, HostTensor> = {};
  const wrt: FdInput[] = [];
  for (const spec of opts.inputs) {
    const t = spec.dtype ?? dtype;
    const shape = spec.shape ?? spec.dims;
    shape.forEach((d, i) => typeof d === 'string' && bind.set(d, spec.dims[i]));
    values[spec.name] = g.input(spec.name, t, shape);
    const n = spec.dims.reduce((a, b) => a * b, 1);
    let data = spec.data;
    if (!data) {
      const arr = floatArray(t, n);
      for (let i = 0; i < n; i++) arr[i] = rng.normal();
      data = arr;
    }
    feeds[spec.name] = { dtype: t, dims: spec.dims, data };
    if (spec.wrt ?? (!spec.data && (t === 'float32' || t === 'float64'))) wrt.push(spec);
  }

  let y = opts.build(values, g);
  if (y.rank > 0) {
    const dims = y.shape.map((d) => resolveDim(d, bind));
    const w = g.input('fd.weight', y.dtype, y.shape);
    const n = dims.reduce((a, b) => a * b, 1);
    const data = floatArray(y.dtype, n);
    for (let i = 0; i < n; i++) data[i] = rng.normal();
    feeds['fd.weight'] = { dtype: y.dtype, dims, data };
    y = reduceSum(mul(y, w), y.shape.map((_, i) => i), false);
  }
  g.output(y, 'fd.loss');
  const grads = gradients(g, y, wrt.map((s) => values[s.name]));
  grads.forEach((v, i) => g.output(v, v.name === `grad/${wrt[i].name}` ? undefined : `grad/${wrt[i].name}`));

  const session = await runtime.load(toOnnx(g));
  try {
    const base = await session.run(feeds);
    const loss = async (name: string, data: HostData) => {
      const out = await session.run({ ...feeds, [name]: { ...feeds[name], data } }, ['fd.loss']);
      return Number((out['fd.loss'] as HostTensor).data[0]);
    };
    const report: FdReport = { inputs: {}, maxRelError: 0, loss: Number((base['fd.loss'] as HostTensor).data[0]) };
    for (const spec of wrt) {
      const x = feeds[spec.name].data as Float32Array | Float64Array;
      const grad = (base[`grad/${spec.name}`] as HostTensor).data as Float32Array | Float64Array;
      let worst = 0;
      let checks = 0;
      const elementwise = x.length <= (opts.elementwiseUpTo ?? 16);
      const count = elementwise ? x.length : (opts.directions ?? 3);
      for (let k = 0; k < count; k++) {
        const v = floatArray(spec.dtype ?? dtype, x.length);
        if (elementwise) v[k] = 1;
        else for (let i = 0; i < v.length; i++) v[i] = rng.normal();
        const plus = x.map((xi, i) => xi + h * v[i]) as typeof x;
        const minus = x.map((xi, i) => xi - h * v[i]) as typeof x;
        const numeric = ((await loss(spec.name, plus)) - (await loss(spec.name, minus))) / (2 * h);
        let analytic = 0;
        for (let i = 0; i < v.length; i++) analytic += grad[i] * v[i];
        worst = Math.max(worst, relError(numeric, analytic, floor));
        checks++;
      }
      report.inputs[spec.name] = { maxRelError: worst, mode: elementwise ? 'elements' : 'directions', checks };
      report.maxRelError = Math.max(report.maxRelError, worst);
    }
    return report;
  } finally {
    await session.release();
  }
}

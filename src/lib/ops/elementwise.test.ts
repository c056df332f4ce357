import { beforeAll, describe, expect, it } from 'vitest';
import type { Value } from '../graph/graph.ts';
import { fdCheck } from '../autodiff/fd-check.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import {
  add, cast, clampMin, div, equal, erf, exp, greater, less, log, mul, neg, pow, reciprocal, relu, sqrt, sub, tanh, where,
} from './elementwise.ts';
import { evaluate, expectClose } from './testing.ts';

let wasm: Runtime;
let node: Runtime;
beforeAll(async () => {
  wasm = await createRuntime('wasm', { threads: 1 });
  node = await createRuntime('node', { threads: 1 });
});

const a = [0.5, -1.5, 2, 3.25, -0.75, 1];
const b = [2, 0.25, -1];
const pos = [0.5, 1.5, 2, 3.25, 0.75, 1];
// Pure-JS erf (Abramowitz–Stegun 7.1.26 is too coarse; use a series that converges for |x| ≤ 3).
function erfRef(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 80; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const bcast = (f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i % 3]));

type Unary = (x: Value) => Value;
const unaryCases: [string, Unary, (x: number) => number, number[]][] = [
  ['neg', neg, (x) => -x, a],
  ['exp', exp, Math.exp, a],
  ['log', log, Math.log, pos],
  ['sqrt', sqrt, Math.sqrt, pos],
  ['reciprocal', reciprocal, (x) => 1 / x, a],
  ['erf', erf, erfRef, a],
  ['tanh', tanh, Math.tanh, a],
  ['relu', relu, (x) => Math.max(x, 0), a],
  ['pow 3', (x) => pow(x, 3), (x) => x ** 3, a],
  ['pow 0.5', (x) => pow(x, 0.5), Math.sqrt, pos],
  ['clampMin 0.8', (x) => clampMin(x, 0.8), (x) => Math.max(x, 0.8), a],
];

type Binary = (x: Value, y: Value) => Value;
const binaryCases: [string, Binary, (x: number, y: number) => number][] = [
  ['add', add, (x, y) => x + y],
  ['sub', sub, (x, y) => x - y],
  ['mul', mul, (x, y) => x * y],
  ['div', div, (x, y) => x / y],
];

describe('elementwise forward (onnxruntime-web WASM)', () => {
  it.each(unaryCases)('%s', async (_, op, ref, xs) => {
    const y = await evaluate(wasm, [{ name: 'x', dims: [2, 3], data: xs }], ({ x }) => op(x));
    expect(y.dims).toEqual([2, 3]);
    expectClose(y.data, xs.map(ref), 1e-6);
  });

  it.each(binaryCases)('%s broadcasts [2,3] with [3]', async (_, op, ref) => {
    const inputs = [
      { name: 'x', dims: [2, 3], shape: ['B', 3], data: a },
      { name: 'w', dims: [3], data: b },
    ];
    const y = await evaluate(wasm, inputs, ({ x, w }) => op(x, w));
    expect(y.dims).toEqual([2, 3]);
    expectClose(y.data, bcast(ref), 1e-6);
  });

  it('numbers become scalar constants of the other operand dtype', async () => {
    const y = await evaluate(wasm, [{ name: 'x', dims: [3], dtype: 'float64', data: [1, 2, 3] }], ({ x }) =>
      sub(mul(x, 0.5), 1),
    );
    expect(y.dtype).toBe('float64');
    expectClose(y.data, [-0.5, 0, 0.5]);
  });

  it('comparisons give bool masks; where and cast make float masks', async () => {
    const inputs = [{ name: 'x', dims: [6], data: a }];
    const lt = await evaluate(wasm, inputs, ({ x }) => cast(less(x, 1), 'float32'));
    expectClose(lt.data, a.map((x) => (x < 1 ? 1 : 0)));
    const gt = await evaluate(wasm, inputs, ({ x }) => where(greater(x, 1), x, -1));
    expectClose(gt.data, a.map((x) => (x > 1 ? x : -1)));
    const eq = await evaluate(wasm, inputs, ({ x }) => cast(equal(x, 2), 'float32'));
    expectClose(eq.data, a.map((x) => (x === 2 ? 1 : 0)));
  });

  it('rejects mixed dtypes and int comparisons', async () => {
    await expect(() => evaluate(wasm, [{ name: 'x', dims: [1], data: [1] }, { name: 'i', dims: [1], dtype: 'int64', data: [1] }], ({ x, i }) => add(x, i))).rejects.toThrow(/dtype/);
    await expect(() => evaluate(wasm, [{ name: 'i', dims: [1], dtype: 'int64', data: [1] }], ({ i }) => equal(i, 1))).rejects.toThrow(/masks are float/);
  });

  it('gives the same numbers on onnxruntime-node', async () => {
    const inputs = [{ name: 'x', dims: [2, 3], data: a }, { name: 'w', dims: [3], data: b }];
    const build = ({ x, w }: Record<string, Value>) => tanh(div(mul(erf(x), w), add(exp(x), 1)));
    const onWasm = await evaluate(wasm, inputs, build);
    const onNode = await evaluate(node, inputs, build);
    expectClose(onNode.data, onWasm.data, 1e-6);
  });
});

// Erf has no float64 kernel in onnxruntime's CPU EP: checked in float32.
const float32Only = new Set(['erf']);

describe('elementwise gradients (finite differences)', () => {
  it.each(unaryCases)('%s', async (name, op, _ref, xs) => {
    const dtype = float32Only.has(name) ? 'float32' : 'float64';
    const positive = xs === pos;
    const report = await fdCheck({
      runtime: node,
      dtype,
      inputs: [{ name: 'x', dims: [2, 3], data: positive ? Float64Array.from(pos) : undefined, wrt: true }],
      build: ({ x }) => op(x),
    });
    expect(report.maxRelError).toBeLessThan(dtype === 'float64' ? 1e-6 : 1e-2);
  });

  it.each(binaryCases)('%s with broadcasting [B,3] ⊕ [3] and [2,1] ⊕ [3]', async (_, op) => {
    for (const [xs, ws] of [[[2, 3], [3]], [[2, 1], [3]]] as const) {
      const report = await fdCheck({
        runtime: node,
        dtype: 'float64',
        inputs: [
          { name: 'x', dims: [...xs], shape: xs[1] === 3 ? ['B', 3] : [...xs] },
          { name: 'w', dims: [...ws], data: Float64Array.from([2, 0.5, -1.5]), wrt: true },
        ],
        build: ({ x, w }) => op(x, w),
      });
      expect(report.maxRelError).toBeLessThan(1e-6);
    }
  });

  it('where routes the gradient by the mask', async () => {
    const report = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [{ name: 'x', dims: [2, 3] }, { name: 'z', dims: [3] }],
      build: ({ x, z }) => where(less(x, 0), mul(x, 3), z),
    });
    expect(report.maxRelError).toBeLessThan(1e-6);
  });
});

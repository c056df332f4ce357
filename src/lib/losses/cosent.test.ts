import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { Graph } from '../graph/graph.ts';
import { evaluate } from '../ops/testing.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { splitColumns } from './columns.ts';
import { cosentLoss } from './cosent.ts';

let node: Runtime;
let wasm: Runtime;
beforeAll(async () => {
  node = await createRuntime('node', { threads: 1 });
  wasm = await createRuntime('wasm', { threads: 1 });
});

const cosRows = (u: number[][], v: number[][]) =>
  u.map((x, k) => x.reduce((s, xi, i) => s + xi * v[k][i], 0) / (Math.hypot(...x) * Math.hypot(...v[k])));

describe('cosentLoss', () => {
  const u = [[1, 0], [1, 1], [0, 1]];
  const v = [[1, 0.2], [-1, 1], [1, 1]];
  const input = { name: 'e', dims: [6, 2], shape: ['N', 2], data: [...u.flat(), ...v.flat()] };
  const scoreInput = (data: number[]) => ({ name: 's', dims: [3], shape: ['N/2'], data });

  it('log(1 + Σ_{y_k < y_l} exp(s_k − s_l)) over ordered pairs, ties excluded (value vs plain JS)', async () => {
    const y = [0.5, 0.5, 1];
    const s = cosRows(u, v).map((c) => 20 * c);
    let sum = 1;
    for (let k = 0; k < 3; k++) for (let l = 0; l < 3; l++) if (y[k] < y[l]) sum += Math.exp(s[k] - s[l]);
    const out = await evaluate(wasm, [input, scoreInput(y)], ({ e, s: sc }) => cosentLoss(splitColumns(e, 2), sc));
    expect(out.data[0]).toBeCloseTo(Math.log(sum), 4);
  });

  it('all scores tied: no pair counts and the loss is exactly 0', async () => {
    const out = await evaluate(wasm, [input, scoreInput([0.3, 0.3, 0.3])], ({ e, s }) => cosentLoss(splitColumns(e, 2), s));
    expect(out.data[0]).toBe(0);
  });

  it('gradient matches finite differences with tied scores (float64)', async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [{ name: 'e', dims: [12, 8], shape: ['N', 8] }, { name: 's', dims: [6], shape: ['N/2'], data: Float64Array.from([1, 0, 0.5, 0, 1, 0.25]) }],
      directions: 8,
      build: ({ e, s }) => cosentLoss(splitColumns(e, 2), s, { scale: 5 }),
    });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });

  it('rejects scores of the wrong shape or dtype', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', ['B', 4]);
    expect(() => cosentLoss([a, a], g.input('s', 'float32', ['T']))).toThrow('cosent: scores must be float32 [B], got float32 [T]');
    expect(() => cosentLoss([a, a], g.input('d', 'float64', ['B']))).toThrow(/got float64 \[B\]/);
  });
});

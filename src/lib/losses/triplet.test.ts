import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { Graph } from '../graph/graph.ts';
import { evaluate } from '../ops/testing.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { splitColumns } from './columns.ts';
import { TRIPLET_DISTANCES, type TripletDistance, tripletLoss } from './triplet.ts';

let node: Runtime;
let wasm: Runtime;
beforeAll(async () => {
  node = await createRuntime('node', { threads: 1 });
  wasm = await createRuntime('wasm', { threads: 1 });
});

describe('tripletLoss', () => {
  it('unit vectors with margin 5 keep every triplet active: mean(d(a,p) − d(a,n)) + 5', async () => {
    // B=2, C=2: a = (1,0),(0,1); p = (0,1),(0,1); n = (−1,0),(1,0).
    const rows = [1, 0, 0, 1, 0, 1, 0, 1, -1, 0, 1, 0];
    const y = await evaluate(wasm, [{ name: 'e', dims: [6, 2], shape: ['N', 2], data: rows }], ({ e }) => tripletLoss(splitColumns(e, 3)));
    const eps = 1e-6; // torch pairwise_distance adds eps to the difference
    const d = (x: number[], z: number[]) => Math.hypot(x[0] - z[0] + eps, x[1] - z[1] + eps);
    const expected = (d([1, 0], [0, 1]) - d([1, 0], [-1, 0]) + 5 + (d([0, 1], [0, 1]) - d([0, 1], [1, 0]) + 5)) / 2;
    expect(y.data[0]).toBeCloseTo(expected, 5);
  });

  it('an inactive triplet contributes nothing (margin 0, negative farther than positive)', async () => {
    const rows = [0, 0, 1, 0, 3, 0];
    const y = await evaluate(wasm, [{ name: 'e', dims: [3, 2], shape: ['N', 2], data: rows }], ({ e }) => tripletLoss(splitColumns(e, 3), { margin: 0 }));
    expect(y.data[0]).toBe(0);
  });

  for (const distance of TRIPLET_DISTANCES) {
    it(`${distance}: gradient matches finite differences (float64)`, async () => {
      const r = await fdCheck({
        runtime: node,
        dtype: 'float64',
        inputs: [{ name: 'e', dims: [15, 8], shape: ['N', 8] }],
        directions: 8,
        build: ({ e }) => tripletLoss(splitColumns(e, 3), { distance: distance as TripletDistance, margin: distance === 'cosine' ? 0.5 : 5 }),
      });
      expect(r.maxRelError).toBeLessThan(1e-6);
    });
  }

  it('rejects anything but three columns and unknown distances', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', ['B', 4]);
    expect(() => tripletLoss([a, a])).toThrow('triplet: expects 3 columns, got 2');
    expect(() => tripletLoss([a, a, a], { distance: 'chebyshev' as TripletDistance })).toThrow(/distance must be one of euclidean, cosine, manhattan/);
  });
});

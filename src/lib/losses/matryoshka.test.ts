import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { Graph } from '../graph/graph.ts';
import { evaluate } from '../ops/testing.ts';
import { l2Normalize } from '../ops/nn.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { splitColumns } from './columns.ts';
import { cosentLoss } from './cosent.ts';
import { matryoshka, matryoshkaPlan } from './matryoshka.ts';
import { mnrl } from './mnrl.ts';
import { tripletLoss } from './triplet.ts';

let node: Runtime;
let wasm: Runtime;
beforeAll(async () => {
  node = await createRuntime('node', { threads: 1 });
  wasm = await createRuntime('wasm', { threads: 1 });
});

describe('matryoshkaPlan', () => {
  it('sorts dims descending and moves the weights with them; weights default to 1', () => {
    expect(matryoshkaPlan({ dims: [4, 16, 8], weights: [0.5, 1, 2] }, 16)).toEqual([
      { dim: 16, weight: 1 }, { dim: 8, weight: 2 }, { dim: 4, weight: 0.5 },
    ]);
    expect(matryoshkaPlan({ dims: [64, 768] }, 768).map((t) => t.weight)).toEqual([1, 1]);
  });
  it('names the offending field', () => {
    expect(() => matryoshkaPlan({ dims: [] }, 16)).toThrow('matryoshka.dims: must be a non-empty list of integers');
    expect(() => matryoshkaPlan({ dims: [16, 0] }, 16)).toThrow('matryoshka.dims[1]: must be an integer > 0, got 0');
    expect(() => matryoshkaPlan({ dims: [8.5] }, 16)).toThrow('matryoshka.dims[0]: must be an integer > 0, got 8.5');
    expect(() => matryoshkaPlan({ dims: [32] }, 16)).toThrow('matryoshka.dims[0]: 32 exceeds the embedding size 16');
    expect(() => matryoshkaPlan({ dims: [8, 8] }, 16)).toThrow('matryoshka.dims: [8,8] lists a dim twice');
    expect(() => matryoshkaPlan({ dims: [16, 8], weights: [1] }, 16)).toThrow('matryoshka.weights: must list one number per dim (2), got [1]');
    expect(() => matryoshkaPlan({ dims: [16], weights: [NaN] }, 16)).toThrow('matryoshka.weights[0]: must be a finite number, got NaN');
  });
});

describe('matryoshka', () => {
  const rows = { name: 'e', dims: [12, 8], shape: ['N', 8] };

  it('is Σ w_d · inner(normalize(E[:, :d])): equals the same sum built by hand (WASM)', async () => {
    const data = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
    const input = { ...rows, data };
    const wrapped = await evaluate(wasm, [input], ({ e }) => matryoshka((c) => mnrl(c), splitColumns(e, 2), { dims: [2, 8, 4], weights: [3, 0.5, 1] }));
    const byHand = await Promise.all(
      [8, 4, 2].map(async (d) =>
        (await evaluate(wasm, [{ name: 'e', dims: [12, d], shape: ['N', d], data: data.filter((_, i) => i % 8 < d) }], ({ e }) =>
          mnrl(splitColumns(e, 2).map((x) => l2Normalize(x, -1))),
        )).data[0],
      ),
    );
    expect(wrapped.data[0]).toBeCloseTo(0.5 * byHand[0] + 1 * byHand[1] + 3 * byHand[2], 5);
  });

  it('normalizes at the full width too (changes a euclidean triplet on raw embeddings)', async () => {
    const data = Float32Array.from({ length: 15 * 4 }, (_, i) => Math.cos(i) * 3);
    const input = { name: 'e', dims: [15, 4], shape: ['N', 4], data };
    const plain = await evaluate(wasm, [input], ({ e }) => tripletLoss(splitColumns(e, 3)));
    const full = await evaluate(wasm, [input], ({ e }) => matryoshka((c) => tripletLoss(c), splitColumns(e, 3), { dims: [4] }));
    const normalized = await evaluate(wasm, [input], ({ e }) => tripletLoss(splitColumns(e, 3).map((x) => l2Normalize(x, -1))));
    expect(full.data[0]).not.toBeCloseTo(plain.data[0], 3);
    expect(full.data[0]).toBeCloseTo(normalized.data[0], 6);
  });

  it('around MNRL with a hard negative: gradient matches finite differences (float64)', async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [{ name: 'e', dims: [12, 8], shape: ['N', 8] }],
      directions: 8,
      build: ({ e }) => matryoshka((c) => mnrl(c), splitColumns(e, 3), { dims: [8, 4, 2], weights: [1, 0.5, 2] }),
    });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });

  it('around CoSENT: gradient matches finite differences (float64)', async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [rows, { name: 's', dims: [6], shape: ['N/2'], data: Float64Array.from([0, 1, 0.5, 0.5, 0.2, 1]) }],
      directions: 8,
      build: ({ e, s }) => matryoshka((c) => cosentLoss(c, s), splitColumns(e, 2), { dims: [8, 3] }),
    });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });

  it('rejects a dim wider than the embedding', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', ['B', 8]);
    expect(() => matryoshka((c) => mnrl(c), [a, a], { dims: [16] })).toThrow('matryoshka.dims[0]: 16 exceeds the embedding size 8');
  });
});

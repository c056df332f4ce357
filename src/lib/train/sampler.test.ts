import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.ts';
import { BatchSampler, epochOrder, noDuplicatesBatches, plainBatches } from './sampler.ts';

describe('plain batches', () => {
  it('cuts in order, keeps or drops the short tail', () => {
    expect(plainBatches([0, 1, 2, 3, 4], 2, false)).toEqual([[0, 1], [2, 3], [4]]);
    expect(plainBatches([0, 1, 2, 3, 4], 2, true)).toEqual([[0, 1], [2, 3]]);
  });

  it('file order without shuffle; a seeded permutation per epoch with it (seed + epoch)', () => {
    expect(epochOrder(5, 3, { shuffle: false, seed: 1 })).toEqual([0, 1, 2, 3, 4]);
    const e0 = epochOrder(50, 0, { shuffle: true, seed: 42 });
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(e0).toEqual(epochOrder(50, 0, { shuffle: true, seed: 42 }));
    expect(e0).not.toEqual(epochOrder(50, 1, { shuffle: true, seed: 42 }));
    expect(epochOrder(50, 1, { shuffle: true, seed: 42 })).toEqual(epochOrder(50, 0, { shuffle: true, seed: 43 }));
  });
});

describe('NO_DUPLICATES', () => {
  // Rows as [anchor, positive]. Row 2's anchor equals row 0's positive (cross-column conflict),
  // row 3 repeats row 1's positive, row 5 repeats row 0's anchor.
  const keys = [
    ['q0', 'd0'], ['q1', 'd1'], ['d0', 'd2'], ['q3', 'd1'], ['q4', 'd4'], ['q0', 'd5'], ['q6', 'd6'],
  ];

  it('scans the pool in order, skips conflicting rows (kept for later), yields short batches at the end', () => {
    // batch 1: 0, 1, (2 ✗ d0), (3 ✗ d1), 4 → full at 3
    // batch 2 from [2,3,5,6]: 2, 3, 5 → full
    // batch 3 from [6]: short
    expect(noDuplicatesBatches([0, 1, 2, 3, 4, 5, 6], keys, 3, false)).toEqual([[0, 1, 4], [2, 3, 5], [6]]);
    // batch 1 of 4: 0, 1, 4, 6 (2, 3, 5 conflict); batch 2 from [2,3,5]: no conflicts, short
    expect(noDuplicatesBatches([0, 1, 2, 3, 4, 5, 6], keys, 4, false)).toEqual([[0, 1, 4, 6], [2, 3, 5]]);
    expect(noDuplicatesBatches([0, 1, 2, 3, 4, 5, 6], keys, 4, true)).toEqual([[0, 1, 4, 6]]);
  });

  it('drop-last removes every short scan, not just the last batch (as ST does)', () => {
    // all rows share 'x': each scan takes one row and ends short
    const same = [['x', 'a'], ['x', 'b'], ['x', 'c']];
    expect(noDuplicatesBatches([2, 0, 1], same, 2, false)).toEqual([[2], [0], [1]]);
    expect(noDuplicatesBatches([2, 0, 1], same, 2, true)).toEqual([]);
  });

  it('on random data: no value twice in a batch, every row exactly once, full batches except at scan ends', () => {
    const rng = new Rng(5);
    const docs = Array.from({ length: 40 }, (_, i) => `doc${i}`);
    const rows = Array.from({ length: 300 }, (_, i) => [`q${rng.int(250)}`, rng.pick(docs)]);
    const s = new BatchSampler(rows, { kind: 'no_duplicates', batchSize: 16, dropLast: false, shuffle: true, seed: 42 });
    expect(s.estimatedLength).toBe(19);
    const seen: number[] = [];
    for (let b = s.next(); b; b = s.next()) {
      const vals = b.flatMap((r) => rows[r]);
      expect(new Set(vals).size).toBe(vals.length);
      seen.push(...b);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // repeated docs force skips, so there are at least as many batches as the estimate
    expect(s.epochBatches.length).toBeGreaterThanOrEqual(19);
  });
});

describe('BatchSampler state', () => {
  const rows = Array.from({ length: 23 }, (_, i) => [`a${i % 7}`, `p${i}`]);
  const opts = { kind: 'no_duplicates' as const, batchSize: 4, dropLast: false, shuffle: true, seed: 7 };

  it('resumes mid-epoch from JSON state with the same remaining batches', () => {
    const a = new BatchSampler(rows, opts);
    a.startEpoch(2);
    a.next();
    a.next();
    const state = JSON.parse(JSON.stringify(a.state()));
    const restOfA: number[][] = [];
    for (let b = a.next(); b; b = a.next()) restOfA.push(b);
    const b = new BatchSampler(rows, opts);
    b.restore(state);
    const restOfB: number[][] = [];
    for (let x = b.next(); x; x = b.next()) restOfB.push(x);
    expect(restOfB).toEqual(restOfA);
    expect(b.epoch).toBe(2);
  });

  it('is deterministic per (seed, epoch) and different across epochs', () => {
    const a = new BatchSampler(rows, opts);
    const b = new BatchSampler(rows, opts);
    a.startEpoch(1);
    b.startEpoch(1);
    expect(a.epochBatches).toEqual(b.epochBatches);
    b.startEpoch(0);
    expect(a.epochBatches).not.toEqual(b.epochBatches);
  });

  it('refuses a state for other data or a broken order', () => {
    const s = new BatchSampler(rows, opts);
    const st = s.state();
    expect(() => new BatchSampler(rows.slice(1), opts).restore(st)).toThrow(/23 rows/);
    expect(() => s.restore({ ...st, order: st.order.map(() => 0) })).toThrow(/permutation/);
    expect(() => new BatchSampler(23, { ...opts, kind: 'batch' }).restore(st)).toThrow(/no_duplicates/);
    expect(() => new BatchSampler(23, opts)).toThrow(/text values/);
  });

  it('plain sampler: shuffle off gives file order every epoch; estimatedLength floors with dropLast', () => {
    const s = new BatchSampler(10, { kind: 'batch', batchSize: 4, dropLast: true, shuffle: false, seed: 0 });
    expect(s.estimatedLength).toBe(2);
    expect(s.epochBatches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    s.startEpoch(3);
    expect(s.epochBatches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
  });
});

// The triplet evaluator against an independent numpy computation of sentence-transformers'
// TripletEvaluator (tests/reference/triplet_reference.py) on fixture embeddings: every accuracy of
// every dim, similarity and margin within 1e-9 (exact ties count as wrong).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REFERENCE_DIR } from '../../../tests/reference/load-reference.ts';
import { tripletAccuracy, type TripletSimilarity } from './triplet-eval.ts';

const ref = JSON.parse(readFileSync(join(REFERENCE_DIR, 'triplet.json'), 'utf8')) as {
  D: number;
  anchors: number[][];
  positives: number[][];
  negatives: number[][];
  cases: { dims: number[]; margin: number; similarities: TripletSimilarity[]; metrics: Record<string, number> }[];
};
const flat = (rows: number[][]) => Float32Array.from(rows.flat());

it('equals the reference for every dim, similarity and margin (≤ 1e-9)', () => {
  for (const c of ref.cases) {
    const r = tripletAccuracy(flat(ref.anchors), flat(ref.positives), flat(ref.negatives), ref.D, { dims: c.dims, similarities: c.similarities, margin: c.margin });
    expect(Object.keys(r.metrics).sort()).toEqual(Object.keys(c.metrics).sort());
    for (const [k, v] of Object.entries(c.metrics)) expect(Math.abs(r.metrics[k] - v), k).toBeLessThanOrEqual(1e-9);
    expect(r.triplets).toBe(40);
  }
  // The exact ties are wrong, so no accuracy reaches 1 even though the positives are close.
  expect(Math.max(...Object.values(ref.cases[0].metrics))).toBeLessThan(1);
});

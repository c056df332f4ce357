// TripletLoss (docs/losses.md#tripletloss) on (anchor, positive, negative) columns, each [B, C]:
// L = mean_i max(0, d(a_i, p_i) − d(a_i, n_i) + margin), defaults euclidean and margin 5.
// Distances as sentence-transformers' TripletDistanceMetric: EUCLIDEAN F.pairwise_distance p=2,
// MANHATTAN p=1 (both with torch's eps 1e-6 added to the difference), COSINE 1 − F.cosine_similarity.
// Not MNRL with hard negatives (mnrl.ts), which ranks the negative among all in-batch candidates.

import type { Value } from '../graph/graph.ts';
import { add, relu, sub } from '../ops/elementwise.ts';
import { reduceMean } from '../ops/reduce.ts';
import { checkColumns } from './columns.ts';
import { cosineSimilarity, pairwiseDistance } from './similarity.ts';

export const TRIPLET_DISTANCES = ['euclidean', 'cosine', 'manhattan'] as const;
export type TripletDistance = (typeof TRIPLET_DISTANCES)[number];

export interface TripletOptions {
  /** Default 5 (with unit-norm embeddings every triplet then stays active). */
  margin?: number;
  /** Default 'euclidean'. */
  distance?: TripletDistance;
}

function distance(x: Value, y: Value, metric: TripletDistance): Value {
  switch (metric) {
    case 'euclidean':
      return pairwiseDistance(x, y, 2);
    case 'manhattan':
      return pairwiseDistance(x, y, 1);
    case 'cosine':
      return sub(1, cosineSimilarity(x, y));
  }
}

/** columns: anchor, positive, negative, each [B, C] → scalar loss []. */
export function tripletLoss(columns: Value[], opts: TripletOptions = {}): Value {
  checkColumns('triplet', columns, { min: 3, max: 3 });
  const margin = opts.margin ?? 5;
  if (!Number.isFinite(margin)) throw new Error(`triplet: margin must be a finite number, got ${margin}`);
  const metric = opts.distance ?? 'euclidean';
  if (!TRIPLET_DISTANCES.includes(metric)) throw new Error(`triplet: distance must be one of ${TRIPLET_DISTANCES.join(', ')}, got ${metric}`);
  const [a, p, n] = columns;
  return a.graph.scope('triplet', () => {
    const hinge = relu(add(sub(distance(a, p, metric), distance(a, n, metric)), margin)); // [B, 1]
    return reduceMean(hinge, [0, 1]);
  });
}

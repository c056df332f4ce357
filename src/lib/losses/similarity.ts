// The similarity and distance functions the losses share, written as sentence-transformers
// computes them (util/similarity.py and torch.nn.functional), row by row on [B, C] columns.
// Not the losses themselves.

import type { Value } from '../graph/graph.ts';
import { add, clampMin, div, less, log, exp, mul, neg, sqrt, sub, where } from '../ops/elementwise.ts';
import { l2Normalize } from '../ops/nn.ts';
import { reduceMaxDetached, reduceSum } from '../ops/reduce.ts';

/** Row-wise dot product: [B, C] · [B, C] → [B, 1]. */
export function rowDot(a: Value, b: Value): Value {
  return reduceSum(mul(a, b), [-1], true);
}

/** ST pairwise_cos_sim: normalize (F.normalize, eps 1e-12) both, then the row-wise dot → [B, 1]. */
export function pairwiseCos(a: Value /* [B, C] */, b: Value /* [B, C] */): Value {
  return rowDot(l2Normalize(a, -1), l2Normalize(b, -1));
}

/** |x| as Where(x < 0, −x, x): the engine has no Abs gradient rule; this one is dy·sign(x). */
export function abs(x: Value): Value {
  return where(less(x, 0), neg(x), x);
}

/**
 * torch F.pairwise_distance(x, y, p, eps=1e-6) = ‖x − y + eps‖_p over the last axis → [B, 1]
 * (the eps is added to the difference, not to the norm).
 * https://pytorch.org/docs/1.13/generated/torch.nn.functional.pairwise_distance.html
 */
export function pairwiseDistance(x: Value /* [B, C] */, y: Value /* [B, C] */, p: 1 | 2): Value {
  const d = add(sub(x, y), 1e-6);
  return p === 1 ? reduceSum(abs(d), [-1], true) : sqrt(reduceSum(mul(d, d), [-1], true));
}

/**
 * torch F.cosine_similarity(x, y, eps=1e-8) as torch 1.13 computes it:
 * x·y / sqrt(max(‖x‖²·‖y‖², eps²)) → [B, 1].
 */
export function cosineSimilarity(x: Value /* [B, C] */, y: Value /* [B, C] */): Value {
  const n2 = mul(rowDot(x, x), rowDot(y, y));
  return div(rowDot(x, y), sqrt(clampMin(n2, 1e-16)));
}

/**
 * log Σ exp(x) over `axes`, kept as size-1 axes. Written out (LogSoftmax and friends run on the
 * CPU in WebGPU sessions); the shift is a detached max, whose gradient would cancel exactly.
 */
export function logSumExp(x: Value, axes: number[]): Value {
  const m = reduceMaxDetached(x, axes, true);
  return add(log(reduceSum(exp(sub(x, m)), axes, true)), m);
}

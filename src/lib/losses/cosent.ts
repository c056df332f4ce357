// CoSENTLoss (docs/losses.md#cosentloss) on (text1, text2) columns, each [B, C], with gold scores y
// [B]: s_k = scale·cos(u_k, v_k); L = log(1 + Σ_{y_k < y_l} exp(s_k − s_l)), computed as
// sentence-transformers does: LSE over [0, every pairwise difference], with the pairs that do
// not satisfy y_k < y_l (ties included) pushed down by 1e12. One scalar for the batch, not a mean.
// Not AnglELoss or CosineSimilarityLoss.
// https://github.com/UKPLab/sentence-transformers (losses/CoSENTLoss.py)

import type { Value } from '../graph/graph.ts';
import { add, cast, clampMin, exp, less, log, mul, sub } from '../ops/elementwise.ts';
import { reduceMaxDetached, reduceSum } from '../ops/reduce.ts';
import { transpose, unsqueeze } from '../ops/shape.ts';
import { checkColumns } from './columns.ts';
import { checkScale } from './mnrl.ts';
import { pairwiseCos } from './similarity.ts';

export interface CosentOptions {
  /** Default 20. */
  scale?: number;
}

/** columns: text1, text2, each [B, C]; scores [B] (same dtype) → scalar loss []. */
export function cosentLoss(columns: Value[], scores: Value, opts: CosentOptions = {}): Value {
  checkColumns('cosent', columns, { min: 2, max: 2 });
  const scale = checkScale('cosent', opts.scale ?? 20);
  const [u, v] = columns;
  if (scores.rank !== 1 || scores.shape[0] !== u.shape[0] || scores.dtype !== u.dtype) {
    throw new Error(`cosent: scores must be ${u.dtype} [${u.shape[0]}], got ${scores.dtype} [${scores.shape}]`);
  }
  return u.graph.scope('cosent', () => {
    const s = mul(pairwiseCos(u, v), scale); // [B, 1]
    const diff = sub(s, transpose(s, [1, 0])); // [B, B]: s_k − s_l
    const y = unsqueeze(scores, [1]); // [B, 1]
    const keep = cast(less(y, transpose(y, [1, 0])), u.dtype); // 1 where y_k < y_l
    const masked = sub(diff, mul(sub(1, keep), 1e12));
    // LSE over [0, masked…]: shift by max(0, max masked), detached.
    const m = clampMin(reduceMaxDetached(masked, [0, 1], true), 0); // [1, 1]
    const total = add(reduceSum(exp(sub(masked, m)), [0, 1], true), exp(sub(0, m)));
    return reduceSum(add(log(total), m), [0, 1]);
  });
}

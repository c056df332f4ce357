// MultipleNegativesRankingLoss and its symmetric variant (docs/losses.md#multiplenegativesrankingloss),
// on embedding columns (anchor, positive, negative_1 … negative_M), each [B, C]. Defaults: scale 20,
// cos_sim. Candidates are column-major, c = [p_1..p_B, n_1^(1)..n_B^(1), …]; logits
// ℓ_ij = scale·cos(a_i, c_j); L = mean_i( LSE_j ℓ_ij − ℓ_ii ). The positive logit ℓ_ii is a row-wise
// dot product, so no identity mask or int64 labels are needed for a symbolic B.
// Not GradCache (the trainer runs this graph on cached embeddings) and not Matryoshka (matryoshka.ts).
// https://github.com/UKPLab/sentence-transformers (losses/MultipleNegativesRankingLoss.py)

import type { Value } from '../graph/graph.ts';
import { add, mul, sub } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';
import { l2Normalize } from '../ops/nn.ts';
import { reduceMean } from '../ops/reduce.ts';
import { slice, transpose } from '../ops/shape.ts';
import { checkColumns, stackColumns } from './columns.ts';
import { logSumExp, rowDot } from './similarity.ts';

export interface MnrlOptions {
  /** Logit scale = 1/temperature; > 0; default 20. */
  scale?: number;
  /**
   * MultipleNegativesSymmetricRankingLoss: ½·[CE(ℓ, t) + CE(ℓ[:, :B]ᵀ, t)], the second term ranking
   * all anchors for each positive (hard negatives take no part in it).
   */
  symmetric?: boolean;
}

export function checkScale(what: string, scale: number): number {
  if (!(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) {
    throw new Error(`${what}: scale must be a finite number > 0, got ${scale}`);
  }
  return scale;
}

/** columns: anchor, positive, negative_1 … negative_M, each [B, C] → scalar loss []. */
export function mnrl(columns: Value[], opts: MnrlOptions = {}): Value {
  const what = opts.symmetric ? 'mnrl_symmetric' : 'mnrl';
  checkColumns(what, columns, { min: 2 });
  const scale = checkScale(what, opts.scale ?? 20);
  const g = columns[0].graph;
  return g.scope(what, () => {
    const [a, ...candidates] = columns.map((x) => l2Normalize(x, -1));
    const stacked = stackColumns(candidates); // [1+M, B, C]
    // logits[m, i, j] = scale · cos(a_i, candidate block m, row j): [1+M, B, B]
    const logits = mul(matmul(a, transpose(stacked, [0, 2, 1])), scale);
    const positive = mul(rowDot(a, candidates[0]), scale); // [B, 1] = ℓ_ii
    // Row i's softmax runs over every block and every candidate: axes 0 and 2.
    const forward = reduceMean(sub(logSumExp(logits, [0, 2]), positive), [0, 1, 2]);
    if (!opts.symmetric) return forward;
    // Positive j against all anchors i: column j of the anchor×positive block, LSE over axis 1.
    const block = slice(logits, [0], [1], [0]); // [1, B, B]
    const backward = reduceMean(sub(logSumExp(block, [1]), transpose(positive, [1, 0])), [0, 1, 2]);
    return mul(add(forward, backward), 0.5);
  });
}

// MatryoshkaLoss (docs/losses.md#matryoshkaloss): Σ_d w_d · L_inner(shrink(E, d)) — a weighted sum,
// not a mean — with shrink(E, d) = F.normalize(E[..., :d]) (eps 1e-12) applied to every column,
// including at the full width (which only matters for embeddings that are not already unit-norm).
// Dims and weights are sorted together by dim, descending; weights default to 1. All dims share one
// embedding matrix, so one model pass serves them all and one backward sums their gradients.
// Deliberate differences from sentence-transformers: a dim listed twice is rejected (ST would count
// it twice), and a missing full dim is not warned about here (the run config may do so).
// Not n_dims_per_step sampling (every dim runs every step) and not FlagEmbedding's MRL (a mean).

import type { Value } from '../graph/graph.ts';
import { add, mul } from '../ops/elementwise.ts';
import { l2Normalize } from '../ops/nn.ts';
import { slice } from '../ops/shape.ts';

export interface MatryoshkaOptions {
  dims: readonly number[];
  /** One per dim, in the order of `dims`; default 1 each. */
  weights?: readonly number[];
}

export interface MatryoshkaTerm {
  dim: number;
  weight: number;
}

/**
 * Validates dims/weights against the embedding width and returns them sorted by dim, descending
 * (weights moved with their dims). `field` prefixes error messages (e.g. 'loss.matryoshka').
 */
export function matryoshkaPlan(opts: MatryoshkaOptions, hidden: number | null, field = 'matryoshka'): MatryoshkaTerm[] {
  const { dims, weights } = opts;
  if (!Array.isArray(dims) || dims.length === 0) throw new Error(`${field}.dims: must be a non-empty list of integers`);
  dims.forEach((d, i) => {
    if (!Number.isInteger(d) || d <= 0) throw new Error(`${field}.dims[${i}]: must be an integer > 0, got ${d}`);
    if (hidden !== null && d > hidden) throw new Error(`${field}.dims[${i}]: ${d} exceeds the embedding size ${hidden}`);
  });
  if (new Set(dims).size !== dims.length) throw new Error(`${field}.dims: [${dims}] lists a dim twice`);
  if (weights !== undefined) {
    if (!Array.isArray(weights) || weights.length !== dims.length) {
      throw new Error(`${field}.weights: must list one number per dim (${dims.length}), got ${JSON.stringify(weights)}`);
    }
    weights.forEach((w, i) => {
      if (typeof w !== 'number' || !Number.isFinite(w)) throw new Error(`${field}.weights[${i}]: must be a finite number, got ${w}`);
    });
  }
  return dims
    .map((dim, i) => ({ dim, weight: weights?.[i] ?? 1 }))
    .sort((a, b) => b.dim - a.dim);
}

/** F.normalize(x[..., :d]) for x [B, C] → [B, d]. */
export function shrink(x: Value /* [B, C] */, d: number): Value {
  const c = x.shape[x.rank - 1];
  const cut = c === d ? x : slice(x, [0], [d], [x.rank - 1]);
  return l2Normalize(cut, -1);
}

/** inner: a loss on columns [B, d] → scalar; columns each [B, C] → scalar Σ_d w_d · inner(shrunk). */
export function matryoshka(inner: (columns: Value[]) => Value, columns: Value[], opts: MatryoshkaOptions): Value {
  if (columns.length === 0) throw new Error('matryoshka: no columns');
  const c = columns[0].shape[columns[0].rank - 1];
  if (typeof c !== 'number') throw new Error(`matryoshka: the embedding width must be static, got ${c}`);
  const plan = matryoshkaPlan(opts, c);
  const g = columns[0].graph;
  let total: Value | null = null;
  for (const { dim, weight } of plan) {
    const term = g.scope(`matryoshka_${dim}`, () => {
      const l = inner(columns.map((x) => shrink(x, dim)));
      return weight === 1 ? l : mul(l, weight);
    });
    total = total ? add(total, term) : term;
  }
  return total!;
}

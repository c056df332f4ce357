// sentence-transformers' TripletEvaluator (v6.0.0, sentence_transformer/evaluation/triplet.py), once
// per Matryoshka dimension: the share of (anchor, positive, negative) triplets whose anchor is more
// similar to the positive than to the negative, `positive > negative + margin` (strict: a tie counts
// as wrong), for cosine (truncated vectors re-normalized), dot, and the negated euclidean and
// manhattan distances (truncated vectors as they are). Keys as sentence-transformers names them
// with `name = dim_{d}`: `dim_768_cosine_accuracy`, and `dim_768_max_accuracy` when several
// similarities are asked for. Embeddings are computed once at full size and truncated per dim.
// Scores are computed in float64 from the float32 embeddings; sentence-transformers computes them in
// float32, so only a triplet within float32 rounding of a tie could count differently.
// Not the IR evaluator (ir-metrics.ts).

import type { TextPrompts } from '../models/prompts.ts';
import { embedTexts, type BatchEncoder } from '../models/embed-texts.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';

export const TRIPLET_SIMILARITIES = ['cosine', 'dot', 'euclidean', 'manhattan'] as const;
export type TripletSimilarity = (typeof TRIPLET_SIMILARITIES)[number];

export interface Triplet {
  anchor: string;
  positive: string;
  negative: string;
}

export interface TripletResult {
  /** Every evaluator's metrics, sentence-transformers' keys. */
  metrics: Record<string, number>;
  evaluators: { dim: number; name: string; metrics: Record<string, number> }[];
  triplets: number;
}

/** Similarity of rows a and b over their first d of D values ("higher is better" for all four). */
function similarity(fn: TripletSimilarity, x: Float32Array, i: number, y: Float32Array, j: number, D: number, d: number): number {
  let s = 0;
  if (fn === 'cosine') {
    let nx = 0;
    let ny = 0;
    for (let k = 0; k < d; k++) {
      s += x[i * D + k] * y[j * D + k];
      nx += x[i * D + k] ** 2;
      ny += y[j * D + k] ** 2;
    }
    return s / (Math.max(Math.sqrt(nx), 1e-12) * Math.max(Math.sqrt(ny), 1e-12));
  }
  for (let k = 0; k < d; k++) {
    const a = x[i * D + k];
    const b = y[j * D + k];
    s += fn === 'dot' ? a * b : fn === 'euclidean' ? (a - b) ** 2 : Math.abs(a - b);
  }
  return fn === 'dot' ? s : fn === 'euclidean' ? -Math.sqrt(s) : -s;
}

/** Triplet accuracy per dim and similarity from full-size embeddings [n, D] of each column. */
export function tripletAccuracy(
  anchors: Float32Array, positives: Float32Array, negatives: Float32Array, D: number,
  o: { dims: readonly number[]; similarities?: readonly TripletSimilarity[]; margin?: number },
): TripletResult {
  const n = anchors.length / D;
  if (!n) throw new Error('triplet evaluation: no triplets');
  const fns = o.similarities ?? ['cosine'];
  const margin = o.margin ?? 0;
  const evaluators = o.dims.map((d) => {
    if (!(Number.isInteger(d) && d >= 1 && d <= D)) throw new Error(`triplet evaluation: dim ${d} is not in [1, ${D}]`);
    const name = `dim_${d}`;
    const metrics: Record<string, number> = {};
    for (const fn of fns) {
      let right = 0;
      for (let i = 0; i < n; i++) if (similarity(fn, anchors, i, positives, i, D, d) > similarity(fn, anchors, i, negatives, i, D, d) + margin) right++;
      // sentence-transformers' accuracy is a float32 mean.
      metrics[`${name}_${fn}_accuracy`] = Math.fround(right / n);
    }
    if (fns.length > 1) metrics[`${name}_max_accuracy`] = Math.max(...fns.map((fn) => metrics[`${name}_${fn}_accuracy`]));
    return { dim: d, name, metrics };
  });
  return { metrics: Object.assign({}, ...evaluators.map((e) => e.metrics)), evaluators, triplets: n };
}

/** Embeds the three columns with the model (eval mode) and scores them. */
export async function evaluateTriplets(o: {
  encoder: BatchEncoder;
  tokenizer: Pick<TextTokenizer, 'encodeBatch'>;
  triplets: readonly Triplet[];
  dims: readonly number[];
  similarities?: readonly TripletSimilarity[];
  signal?: AbortSignal;
  /** The query prompt on anchors, the document prompt on positives and negatives, as training puts them (default none). */
  prompts?: TextPrompts;
}): Promise<TripletResult> {
  const step = { batchSize: 32, signal: o.signal };
  const embed = (f: keyof Triplet) => embedTexts(o.triplets.map((t) => t[f]), o.tokenizer, o.encoder, { ...step, prompt: f === 'anchor' ? o.prompts?.query : o.prompts?.document });
  return tripletAccuracy(await embed('anchor'), await embed('positive'), await embed('negative'), o.encoder.dim, o);
}

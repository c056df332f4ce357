// A loss as a graph over the embedding matrix, in the two forms the trainer needs:
//   embeddingLoss(spec, k)    (E [K·B, C], g) → scalar, to splice into the fused train_step graph
//                             after the encoder (declares `scores` [B] for cosent);
//   buildLossGraph(spec, …)   a loss-only graph: inputs `embeddings` [N = K·B, C] (+ `scores`),
//                             outputs `loss` [] and `grad/embeddings` [N, C] — GradCache's step 2
//                             (dL/dE on the full batch of cached embeddings).
// Rows of E are column-major: all anchors, then all positives, then each negative column.
// Not the encoder graphs (src/lib/models/graphs.ts) and not the GradCache loop (src/lib/train/).

import { gradients } from '../autodiff/grad.ts';
import { Graph, type Value } from '../graph/graph.ts';
import type { Dim } from '../graph/types.ts';
import type { EmbeddingLoss } from '../models/graphs.ts';
import { columnDim, splitColumns } from './columns.ts';
import { buildLoss, columnRange, type LossSpec, needsScores, validateLossSpec } from './spec.ts';

export const EMBEDDINGS_INPUT = 'embeddings';
export const SCORES_INPUT = 'scores';
export const LOSS_OUTPUT = 'loss';
export const EMBEDDINGS_GRAD_OUTPUT = 'grad/embeddings';

function checkColumnCount(spec: LossSpec, k: number): void {
  const { min, max } = columnRange(spec.type);
  if (!Number.isInteger(k) || k < min || k > max) {
    const want = min === max ? `${min}` : `${min} or more`;
    throw new Error(`${spec.type}: takes ${want} text columns, the data has ${k}`);
  }
}

/**
 * The loss on E [K·B, C] (K = `columns` text columns stacked row-wise). For cosent it declares
 * the input `scores` [B] (B = columnDim(E rows, K), e.g. 'B/2'), of E's dtype.
 */
export function embeddingLoss(spec: LossSpec, columns: number): EmbeddingLoss {
  const checked = validateLossSpec(spec);
  checkColumnCount(checked, columns);
  return (e, g) => {
    const hidden = e.shape[1];
    if (typeof hidden === 'number') validateLossSpec(spec, { hidden });
    const cols = splitColumns(e, columns);
    const scores = needsScores(checked.type) ? g.input(SCORES_INPUT, e.dtype, [columnDim(e.shape[0], columns)]) : undefined;
    return buildLoss(checked, cols, scores);
  };
}

export interface LossGraphOptions {
  /** K, the number of text columns (anchor, positive, negatives…). */
  columns: number;
  /** C, the embedding width. */
  hidden: number;
  /** Default float32; float64 for reference checks on the node runtime. */
  dtype?: 'float32' | 'float64';
  /** Row count of `embeddings`; default the symbol 'N' (any K·B). */
  rows?: Dim;
}

/** Loss-only graph: `embeddings` [N, C] (+ `scores` [N/K]) → `loss` [], `grad/embeddings` [N, C]. */
export function buildLossGraph(spec: LossSpec, opts: LossGraphOptions): Graph {
  const checked = validateLossSpec(spec, { hidden: opts.hidden });
  const g = new Graph(`loss_${checked.type}${checked.matryoshka ? '_matryoshka' : ''}`);
  const e = g.input(EMBEDDINGS_INPUT, opts.dtype ?? 'float32', [opts.rows ?? 'N', opts.hidden]);
  const loss = g.scope('loss', () => embeddingLoss(checked, opts.columns)(e, g));
  g.output(loss, LOSS_OUTPUT);
  const [de] = gradients(g, loss, [e]);
  if (de.name !== EMBEDDINGS_GRAD_OUTPUT) throw new Error(`loss graph: gradient came back as ${de.name}`);
  g.output(de);
  return g;
}

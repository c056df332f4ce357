// The graphs the trainer and evaluator run, built from bert.ts:
//   encode       input_ids, attention_mask, position_ids (+ dropout_seed in train mode) → embeddings
//   encode_grad  the same + upstream [B,C] (dL/dembeddings) → grad/<name> for every trainable weight
//                (GradCache's second pass)
//   train_step   the same + whatever the loss declares → loss + grad/<name> (fwd, loss, bwd fused)
// Weights are inputs named as in model.safetensors, the spec's parameter set's `inputs` (no pooler:
// nothing uses it), and gradients are taken for its `trained` ones; B and T are symbolic so one
// session serves every batch. Shape letters as in bert.ts.
// Not sessions or feeding (encoder.ts) and not the losses themselves (src/lib/losses/).

import { gradients } from '../autodiff/grad.ts';
import { Graph, type Value } from '../graph/graph.ts';
import { declareBertInputs, declareBertWeights, type ForwardMode, sentenceEmbedding, type SentenceSpec } from './bert.ts';

export interface ForwardOptions {
  /** Dropout on (a `dropout_seed` float32 scalar input is declared); default false. */
  train?: boolean;
}

export const SEED_INPUT = 'dropout_seed';

function forward(g: Graph, spec: SentenceSpec, opts: ForwardOptions) {
  const inputs = declareBertInputs(g, spec);
  const weights = declareBertWeights(g, spec.parameters, spec.frozenDtype, spec.wordLookup);
  const mode: ForwardMode = opts.train ? { train: true, seed: g.input(SEED_INPUT, 'float32', []) } : { train: false };
  return { inputs, weights, ...sentenceEmbedding(spec, weights, inputs, mode) };
}

/** `grad/<name>` for each trained parameter of the spec's set. */
function outputGradients(g: Graph, spec: SentenceSpec, y: Value, weights: Map<string, Value>, dy?: Value): void {
  const wrt = spec.parameters.trained.map((p) => weights.get(p.name)!);
  gradients(g, y, wrt, dy).forEach((dw, i) => g.output(dw, dw.name === `grad/${wrt[i].name}` ? undefined : `grad/${wrt[i].name}`));
}

/** encode: → `embeddings` [B,C] (and `last_hidden_state` [B,T,C] when asked). */
export function buildEncodeGraph(spec: SentenceSpec, opts: ForwardOptions & { lastHiddenState?: boolean } = {}): Graph {
  const g = new Graph(opts.train ? 'encode_train' : 'encode');
  const f = forward(g, spec, opts);
  g.output(f.embeddings, 'embeddings');
  if (opts.lastHiddenState) g.output(f.lastHiddenState, 'last_hidden_state');
  return g;
}

/** encode_grad: `upstream` [B,C] = dL/dembeddings → `grad/<name>` per trainable weight. */
export function buildEncodeGradGraph(spec: SentenceSpec, opts: ForwardOptions = {}): Graph {
  const g = new Graph(opts.train ? 'encode_grad_train' : 'encode_grad');
  const f = forward(g, spec, opts);
  const upstream = g.input('upstream', 'float32', ['B', spec.config.hiddenSize]);
  outputGradients(g, spec, f.embeddings, f.weights, upstream);
  return g;
}

/**
 * A loss on the embedding matrix E [B,C]: builds a scalar (shape [] or all-1 dims) in `g`,
 * declaring with g.input whatever extra inputs it needs (labels, a scale, Matryoshka weights).
 */
export type EmbeddingLoss = (embeddings: Value, g: Graph) => Value;

/** train_step: forward, `loss`, and `grad/<name>` per trainable weight in one graph. */
export function buildTrainStepGraph(spec: SentenceSpec, loss: EmbeddingLoss, opts: ForwardOptions = {}): Graph {
  const g = new Graph(opts.train ? 'train_step_train' : 'train_step');
  const f = forward(g, spec, opts);
  const l = g.scope('loss', () => loss(f.embeddings, g));
  if (!l.shape.every((d) => d === 1)) throw new Error(`train_step: the loss must be a scalar, got [${l.shape}]`);
  g.output(l, 'loss');
  outputGradients(g, spec, l, f.weights);
  return g;
}

// The parameters of one run: every tensor of the model by its Hugging Face name, in state_dict
// order, with its shape, encoder layer, role, whether the graphs read it, whether it trains, and
// whether AdamW decays it. Built once from the model's config (`parameterSet`); the graph
// builders, the encoder, the trainer, the updaters, the memory account's callers, the worker,
// checkpoints and the ONNX export all read it instead of listing parameters themselves.
//
// Names, not values. The set says *which* tensors exist and what they are; the values live where
// they did, keyed by the set's names:
//   - the model's host arrays (SentenceModel.weights): every tensor the model file held;
//   - the encoder's device tensors (encoder.ts): one per `inputs` entry, fed to every graph;
//   - the updater's copies and moments (updater.ts, gpu-updater.ts): one per `trained` entry
//     (`adam.m/<name>`, `adam.v/<name>`), and a checkpoint's weights are exactly those.
// So a consumer iterates `inputs` (what a graph declares and the encoder uploads) or `trained`
// (what gets `grad/<name>`, AdamW and a checkpoint slot), never bertParameters or a name filter.
//
// Today every parameter but BERT's pooler trains (sentence-transformers never uses the pooler, so
// the graphs leave it out and it is copied unchanged on export). The split into `use` values is
// what lets a run train a subset later: a frozen tensor would be a third `use` (a graph input
// with no gradient), and extra tensors that are not in the model file (adapters) would be further
// entries with their own role; consumers that read `inputs` and `trained` need no change for
// either.
// Not the weights' loading or checking (sentence-model.ts), nor the config (bert-config.ts).
//
// Shape letters as in bert.ts.

import { type BertConfig, bertParameters } from './bert-config.ts';

/** What a tensor is part of: the embedding tables, attention, the feed-forward block, a LayerNorm, BERT's pooler. */
export type ParameterRole = 'embedding' | 'attention' | 'ffn' | 'norm' | 'pooler';

/**
 * How a run uses a tensor: `trained` — a graph input that gets a gradient and an AdamW update;
 * `unused` — no graph reads it (the pooler), its file values are carried through on export.
 */
export type ParameterUse = 'trained' | 'unused';

export interface Parameter {
  /** Hugging Face name without a model prefix (`encoder.layer.3.attention.self.query.weight`). */
  readonly name: string;
  /** [out, in] for nn.Linear weights, as in model.safetensors. */
  readonly shape: readonly number[];
  /** Elements (the product of shape). */
  readonly size: number;
  /** The encoder layer it belongs to; null for the embeddings and the pooler. */
  readonly layer: number | null;
  readonly role: ParameterRole;
  readonly use: ParameterUse;
  /**
   * AdamW applies weight decay to it: the HF Trainer's two groups (`get_decay_parameter_names`)
   * leave out LayerNorm parameters and every name containing "bias"; embedding tables decay.
   */
  readonly decay: boolean;
}

export class ParameterSet {
  /** Every tensor, in state_dict order (the pooler last). */
  readonly all: readonly Parameter[];
  /** What the graphs take as weight inputs and the encoder holds on its device, in order. */
  readonly inputs: readonly Parameter[];
  /** What gets `grad/<name>`, AdamW state and a checkpoint slot, in order. */
  readonly trained: readonly Parameter[];
  private readonly byName: ReadonlyMap<string, Parameter>;

  constructor(params: readonly Parameter[]) {
    const byName = new Map<string, Parameter>();
    for (const p of params) {
      if (byName.has(p.name)) throw new Error(`parameter set: ${p.name} is listed twice`);
      byName.set(p.name, p);
    }
    this.byName = byName;
    this.all = params;
    this.inputs = params.filter((p) => p.use !== 'unused');
    this.trained = params.filter((p) => p.use === 'trained');
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The parameter `name`; throws naming it when the set has none. */
  get(name: string): Parameter {
    const p = this.byName.get(name);
    if (!p) throw new Error(`parameter set: no parameter ${name}`);
    return p;
  }

  /** Elements of the trained parameters (what gradients, moments and the memory account's P count). */
  get trainedSize(): number {
    return elements(this.trained);
  }

  /** Elements of every tensor (what the model file holds, the pooler included). */
  get totalSize(): number {
    return elements(this.all);
  }

  /** `name → shape` of the trained parameters (a checkpoint's shapes). */
  trainedShapes(): Map<string, number[]> {
    return new Map(this.trained.map((p) => [p.name, [...p.shape]]));
  }
}

/** Σ size over `params`. */
export function elements(params: readonly Pick<Parameter, 'size'>[]): number {
  return params.reduce((n, p) => n + p.size, 0);
}

const LAYER = /^encoder\.layer\.(\d+)\./;

/** A BERT parameter's role, from the module its name sits in; throws for a name it does not know. */
function roleOf(name: string): ParameterRole {
  if (name.startsWith('pooler.')) return 'pooler';
  if (/(^|\.)LayerNorm\.(weight|bias)$/.test(name)) return 'norm';
  if (/^embeddings\.\w+_embeddings\.weight$/.test(name)) return 'embedding';
  if (/^encoder\.layer\.\d+\.attention\.(self\.(query|key|value)|output\.dense)\./.test(name)) return 'attention';
  if (/^encoder\.layer\.\d+\.(intermediate|output)\.dense\./.test(name)) return 'ffn';
  throw new Error(`parameter set: no role for ${name}`);
}

/** The HF Trainer's rule: no decay for LayerNorm parameters or any name containing "bias". */
const decays = (name: string, role: ParameterRole) => role !== 'norm' && !name.includes('bias');

/**
 * The parameter set of a BERT-family model (bertParameters: the names do not depend on the
 * family): every tensor but the pooler trains.
 */
export function parameterSet(config: BertConfig): ParameterSet {
  return new ParameterSet(bertParameters(config).map((p) => {
    const role = roleOf(p.name);
    const layer = LAYER.exec(p.name);
    return {
      name: p.name,
      shape: p.shape,
      size: p.shape.reduce((a, b) => a * b, 1),
      layer: layer ? Number(layer[1]) : null,
      role,
      use: p.pooler ? 'unused' : 'trained',
      decay: decays(p.name, role),
    };
  }));
}

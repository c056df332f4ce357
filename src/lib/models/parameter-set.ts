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
// What trains comes from the run's `trainable` section (trainable.ts, docs/lora.md): in full
// fine-tuning every parameter but BERT's pooler trains (sentence-transformers never uses the
// pooler, so the graphs leave it out and it is copied unchanged on export); frozen tensors
// (`use: 'frozen'`) are graph inputs with no gradient, no moments and no checkpoint slot; LoRA adds
// adapter tensors that are not in the model file (role 'adapter', after the model's tensors, named
// `<module>.lora_A.weight` / `.lora_B.weight`) and freezes every tensor of the model. Consumers
// that read `inputs` and `trained` need no change for any mode.
// Not the weights' loading or checking (sentence-model.ts), nor the config (bert-config.ts).
//
// Shape letters as in bert.ts.

import { type BertConfig, bertParameters } from './bert-config.ts';
import { FULL, loraNames, loraTargets, type Trainable } from './trainable.ts';

/** What a tensor is part of: the embedding tables, attention, the feed-forward block, a LayerNorm, BERT's pooler, a LoRA adapter. */
export type ParameterRole = 'embedding' | 'attention' | 'ffn' | 'norm' | 'pooler' | 'adapter';

/**
 * How a run uses a tensor: `trained` — a graph input that gets a gradient and an AdamW update;
 * `frozen` — a graph input with no gradient (its values stay the base model's); `unused` — no
 * graph reads it (the pooler and its adapters), its values are carried through on export.
 */
export type ParameterUse = 'trained' | 'frozen' | 'unused';

/** For an adapter tensor: the linear module it adapts (`encoder.layer.0.attention.self.query`) and which factor. */
export interface AdapterOf {
  readonly module: string;
  /** A [r, in] or B [out, r]. */
  readonly factor: 'A' | 'B';
}

/** A LoRA run's adapter settings, as the graphs need them. */
export interface LoraSettings {
  readonly r: number;
  readonly alpha: number;
  /** α / r, the factor on the adapter's output. */
  readonly scale: number;
  readonly dropout: number;
}

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
  /** Set for LoRA adapter tensors (role 'adapter'), which the model file does not hold. */
  readonly adapter?: AdapterOf;
}

export class ParameterSet {
  /** Every tensor of the run: the model file's in state_dict order (the pooler last), then the adapters. */
  readonly all: readonly Parameter[];
  /** The model file's tensors (`all` without the adapters). */
  readonly base: readonly Parameter[];
  /** LoRA adapter tensors, A then B per adapted module, in the modules' order; empty unless LoRA. */
  readonly adapters: readonly Parameter[];
  /** What the graphs take as weight inputs and the encoder holds on its device, in order. */
  readonly inputs: readonly Parameter[];
  /** What gets `grad/<name>`, AdamW state and a checkpoint slot, in order. */
  readonly trained: readonly Parameter[];
  /** Graph inputs without a gradient: their values stay the base model's. */
  readonly frozen: readonly Parameter[];
  private readonly byName: ReadonlyMap<string, Parameter>;

  /** `trainable`: the mode the set was built for; `lora`: its adapter settings when the mode is LoRA. */
  constructor(
    params: readonly Parameter[],
    readonly trainable: Trainable = FULL,
    readonly lora: LoraSettings | null = null,
  ) {
    const byName = new Map<string, Parameter>();
    for (const p of params) {
      if (byName.has(p.name)) throw new Error(`parameter set: ${p.name} is listed twice`);
      byName.set(p.name, p);
    }
    this.byName = byName;
    this.all = params;
    this.base = params.filter((p) => !p.adapter);
    this.adapters = params.filter((p) => p.adapter);
    this.inputs = params.filter((p) => p.use !== 'unused');
    this.trained = params.filter((p) => p.use === 'trained');
    this.frozen = params.filter((p) => p.use === 'frozen');
    if (this.adapters.length && !lora) throw new Error('parameter set: adapters without LoRA settings');
  }

  /** The adapters of linear module `module` (A [r, in], B [out, r]) when the graphs read them, else null. */
  loraOf(module: string): { a: Parameter; b: Parameter } | null {
    const n = loraNames(module);
    const a = this.byName.get(n.a);
    const b = this.byName.get(n.b);
    return a && b && a.use !== 'unused' ? { a, b } : null;
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

  /** Elements of the model file's tensors (the pooler included, the adapters not). */
  get totalSize(): number {
    return elements(this.base);
  }

  /** Elements of the frozen tensors (graph inputs held but never updated). */
  get frozenSize(): number {
    return elements(this.frozen);
  }

  /** Elements of the adapters (LoRA's extra tensors, the pooler's included). */
  get adapterSize(): number {
    return elements(this.adapters);
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

/** Whether `trainable` freezes a base tensor of `role` in encoder layer `layer` (null: embeddings). */
function frozenBy(trainable: Trainable, role: ParameterRole, layer: number | null): boolean {
  switch (trainable.mode) {
    case 'full':
      return false;
    case 'freeze':
      return layer === null ? role !== 'pooler' && trainable.embeddings : layer < trainable.layers;
    case 'lora':
      return true;
    default: {
      const never: never = trainable;
      throw new Error(`parameter set: unknown mode ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The parameter set of a BERT-family model (bertParameters: the names do not depend on the
 * family) for a run's `trainable` mode (default: full fine-tuning, every tensor but the pooler
 * trains). `trainable` is assumed checked against the config (resolveTrainable); a LoRA target
 * that matches nothing still throws here.
 */
export function parameterSet(config: BertConfig, trainable: Trainable = FULL): ParameterSet {
  const base: Parameter[] = bertParameters(config).map((p) => {
    const role = roleOf(p.name);
    const layer = LAYER.exec(p.name);
    const l = layer ? Number(layer[1]) : null;
    return {
      name: p.name,
      shape: p.shape,
      size: p.shape.reduce((a, b) => a * b, 1),
      layer: l,
      role,
      use: p.pooler ? 'unused' : frozenBy(trainable, role, l) ? 'frozen' : 'trained',
      decay: decays(p.name, role),
    };
  });
  if (trainable.mode !== 'lora') return new ParameterSet(base, trainable);
  const { r, alpha, dropout } = trainable;
  const adapters: Parameter[] = loraTargets(config, trainable).flatMap((m) => {
    const n = loraNames(m.module);
    // The pooler's adapters exist (PEFT adds them; its folder lists them) but no graph reads them.
    const use = m.layer === null ? 'unused' : 'trained';
    const entry = (name: string, shape: number[], factor: 'A' | 'B'): Parameter => ({
      name, shape, size: shape[0] * shape[1], layer: m.layer, role: 'adapter', use, decay: decays(name, 'adapter'), adapter: { module: m.module, factor },
    });
    return [entry(n.a, [r, m.in], 'A'), entry(n.b, [m.out, r], 'B')];
  });
  return new ParameterSet([...base, ...adapters], trainable, { r, alpha, scale: alpha / r, dropout });
}

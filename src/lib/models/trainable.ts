// What a run trains: the run config's `trainable` section — full fine-tuning, frozen embeddings
// and/or lowest layers, or LoRA adapters — its validation, PEFT's target matching over the
// model's linear layers, and the adapters' initial values (docs/lora.md).
//   { mode: 'full' }                                     every weight the graphs read trains (the default)
//   { mode: 'freeze', embeddings, layers: k }            the embeddings and/or encoder layers 0..k−1 are frozen
//   { mode: 'lora', r, alpha, dropout, targetModules }   the base model is frozen; each targeted linear
//                                                        layer gets y = x·Wᵀ + b + (α/r)·dropout(x)·Aᵀ·Bᵀ
// The parameter set (parameter-set.ts) turns a mode into tensors with a `use`; every other part of
// the program reads the set, not this file's union.
// Not the graphs (bert.ts), not memory (train/memory.ts), not the export (src/lib/export/).

import { HASH_P } from '../ops/nn.ts';
import { Rng } from '../util/rng.ts';
import { type BertConfig, bertParameters } from './bert-config.ts';
import { FieldError } from '../util/field-error.ts';

export type Trainable =
  | { mode: 'full' }
  | {
      mode: 'freeze';
      /** The embedding tables and the embeddings' LayerNorm. */
      embeddings: boolean;
      /** How many encoder layers, from the lowest (layer 0), are frozen. */
      layers: number;
    }
  | {
      mode: 'lora';
      /** Rank of A [r, in] and B [out, r]. */
      r: number;
      /** Scale α/r on the adapter's output (PEFT's `lora_alpha`). */
      alpha: number;
      /** Dropout on the adapter's input x in train mode (PEFT's `lora_dropout`). */
      dropout: number;
      /** PEFT's `target_modules`: module names matched by equality or `.`-suffix, or every linear layer. */
      targetModules: string[] | 'all-linear';
    };

export type TrainableMode = Trainable['mode'];
export const TRAINABLE_MODES: readonly TrainableMode[] = ['full', 'freeze', 'lora'];

export const FULL: Trainable = { mode: 'full' };

/**
 * PEFT's LoraConfig defaults (r 8, lora_alpha 8, lora_dropout 0) and its default targets for
 * BERT-family models (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: bert, roberta and
 * xlm-roberta → query, value).
 */
export const LORA_DEFAULTS = { r: 8, alpha: 8, dropout: 0, targetModules: ['query', 'value'] } as const;
export const FREEZE_DEFAULTS = { embeddings: true, layers: 0 } as const;

/** The most targets a config may list (BERT has 4 distinct linear names; generous for paths). */
const MAX_TARGETS = 64;
/** The largest rank accepted before the model is known (resolveTrainable checks r against the layers). */
const MAX_RANK = 4096;

export class TrainableError extends FieldError {
  override name = 'TrainableError';
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown) => (x === undefined ? 'nothing' : JSON.stringify(x));

function keys(o: Obj, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new TrainableError(`${field}.${k}`, `unknown field for mode "${String(o.mode)}" (known: ${allowed.join(', ')})`);
}

function number(x: unknown, field: string, o: { int?: boolean; min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean }): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new TrainableError(field, `must be a number, got ${show(x)}`);
  if (o.int && !Number.isInteger(x)) throw new TrainableError(field, `must be an integer, got ${x}`);
  if (o.minExclusive ? x <= o.min : x < o.min) throw new TrainableError(field, `must be ${o.minExclusive ? '>' : '≥'} ${o.min}, got ${x}`);
  if (o.maxExclusive ? x >= o.max : x > o.max) throw new TrainableError(field, `must be ${o.maxExclusive ? '<' : '≤'} ${o.max}, got ${x}`);
  return x;
}

/** A module path as PEFT's keys spell it: dot-separated names, no empty part. */
const MODULE_PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

/**
 * Checks an untrusted `trainable` value (a run config, a flag, a share link) and fills the mode's
 * defaults. What needs the model (layer counts, targets that match) is resolveTrainable's.
 */
export function parseTrainable(json: unknown, field = 'trainable'): Trainable {
  if (!isObj(json)) throw new TrainableError(field, `must be an object like { "mode": "lora" }, got ${show(json)}`);
  const mode = json.mode ?? 'full';
  switch (mode) {
    case 'full':
      keys(json, ['mode'], field);
      return { mode: 'full' };
    case 'freeze': {
      keys(json, ['mode', 'embeddings', 'layers'], field);
      const embeddings = json.embeddings ?? FREEZE_DEFAULTS.embeddings;
      if (typeof embeddings !== 'boolean') throw new TrainableError(`${field}.embeddings`, `must be true or false, got ${show(embeddings)}`);
      const layers = number(json.layers ?? FREEZE_DEFAULTS.layers, `${field}.layers`, { int: true, min: 0, max: 1024 });
      if (!embeddings && layers === 0) throw new TrainableError(field, 'freezes nothing (embeddings false, layers 0): use { "mode": "full" }');
      return { mode: 'freeze', embeddings, layers };
    }
    case 'lora': {
      keys(json, ['mode', 'r', 'alpha', 'dropout', 'targetModules'], field);
      const r = number(json.r ?? LORA_DEFAULTS.r, `${field}.r`, { int: true, min: 1, max: MAX_RANK });
      const alpha = number(json.alpha ?? LORA_DEFAULTS.alpha, `${field}.alpha`, { min: 0, max: 1e6, minExclusive: true });
      const dropout = number(json.dropout ?? LORA_DEFAULTS.dropout, `${field}.dropout`, { min: 0, max: 1, maxExclusive: true });
      const t = json.targetModules ?? [...LORA_DEFAULTS.targetModules];
      let targetModules: string[] | 'all-linear';
      if (t === 'all-linear') targetModules = t;
      else if (Array.isArray(t)) {
        if (t.length === 0) throw new TrainableError(`${field}.targetModules`, 'needs at least one module name (or "all-linear")');
        if (t.length > MAX_TARGETS) throw new TrainableError(`${field}.targetModules`, `lists ${t.length} names, more than ${MAX_TARGETS}`);
        targetModules = t.map((x, i) => {
          if (typeof x !== 'string' || !MODULE_PATH.test(x)) throw new TrainableError(`${field}.targetModules[${i}]`, `must be a module name like "query" or "attention.output.dense", got ${show(x)}`);
          return x;
        });
        targetModules = [...new Set(targetModules)];
      } else throw new TrainableError(`${field}.targetModules`, `must be a list of module names or "all-linear", got ${show(t)}`);
      return { mode: 'lora', r, alpha, dropout, targetModules };
    }
    default:
      throw new TrainableError(`${field}.mode`, `must be one of ${TRAINABLE_MODES.map((m) => `"${m}"`).join(', ')}, got ${show(mode)}`);
  }
}

/** One nn.Linear of the model: its module path (no model prefix), [out, in] and encoder layer (null: the pooler). */
export interface LinearModule {
  readonly module: string;
  readonly out: number;
  readonly in: number;
  readonly layer: number | null;
}

/** Every nn.Linear of BertModel in named_modules() order (the pooler's dense last): what PEFT's matching walks. */
export function linearModules(config: BertConfig): LinearModule[] {
  return bertParameters(config)
    .filter((p) => p.shape.length === 2 && p.name.endsWith('.weight') && !p.name.startsWith('embeddings.'))
    .map((p) => {
      const module = p.name.slice(0, -'.weight'.length);
      const layer = /^encoder\.layer\.(\d+)\./.exec(module);
      return { module, out: p.shape[0], in: p.shape[1], layer: layer ? Number(layer[1]) : null };
    });
}

/** PEFT's rule for a list of targets: the module's path equals a target or ends with `.` + it. */
export function matchesTarget(module: string, target: string): boolean {
  return module === target || module.endsWith(`.${target}`);
}

/** Every module path of BertModel that holds parameters, and each of their parents (what a target could name). */
function modulePaths(config: BertConfig): Set<string> {
  const out = new Set<string>();
  for (const p of bertParameters(config)) {
    const parts = p.name.split('.').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  return out;
}

/**
 * The linear layers a LoRA config adapts, in named_modules() order. `all-linear` is every linear
 * layer: PEFT drops only a model's output embeddings (an LM head, which BertModel has none of) and
 * a classifier head, so BERT's pooler is adapted too (it never reaches a sentence embedding, so its
 * adapters keep their initial values). Stricter than PEFT where a mistake would go unnoticed: a
 * target that matches no linear layer, or that names a module that is not one (PEFT's "not
 * supported"), is refused.
 */
export function loraTargets(config: BertConfig, lora: Extract<Trainable, { mode: 'lora' }>, field = 'trainable'): LinearModule[] {
  const linear = linearModules(config);
  if (lora.targetModules === 'all-linear') return linear;
  const linearNames = new Set(linear.map((m) => m.module));
  const paths = modulePaths(config);
  lora.targetModules.forEach((t, i) => {
    const f = `${field}.targetModules[${i}]`;
    const other = [...paths].find((p) => matchesTarget(p, t) && !linearNames.has(p));
    if (other) throw new TrainableError(f, `"${t}" matches ${other}, which is not a linear layer (LoRA adapts linear layers: ${linearSuffixes(linear)})`);
    if (!linear.some((m) => matchesTarget(m.module, t))) throw new TrainableError(f, `"${t}" matches no linear layer of this model (its linear layers: ${linearSuffixes(linear)})`);
  });
  return linear.filter((m) => (lora.targetModules as string[]).some((t) => matchesTarget(m.module, t)));
}

function linearSuffixes(linear: LinearModule[]): string {
  return [...new Set(linear.map((m) => m.module.replace(/^encoder\.layer\.\d+\./, '')))].join(', ');
}

/**
 * Checks what needs the model: the frozen layer count against the model's depth, LoRA's rank
 * against the adapted layers, its targets against the model's linear layers, and that something
 * trains. Returns the config unchanged.
 */
export function resolveTrainable(t: Trainable, config: BertConfig, field = 'trainable'): Trainable {
  switch (t.mode) {
    case 'full':
      return t;
    case 'freeze':
      if (t.layers > config.numLayers) throw new TrainableError(`${field}.layers`, `must be ≤ ${config.numLayers} (the model's layers), got ${t.layers}`);
      if (t.embeddings && t.layers === config.numLayers) throw new TrainableError(field, 'freezes the embeddings and every layer: nothing would train');
      return t;
    case 'lora': {
      const targets = loraTargets(config, t, field);
      if (targets.every((m) => m.layer === null)) throw new TrainableError(`${field}.targetModules`, 'adapts only the pooler, which no sentence embedding uses: nothing would train');
      const small = targets.find((m) => t.r > Math.min(m.in, m.out));
      if (small) throw new TrainableError(`${field}.r`, `must be ≤ ${Math.min(small.in, small.out)} (${small.module} is ${small.out} × ${small.in}), got ${t.r}`);
      // The adapters' dropout masks come from the graph's column hash, which has HASH_P distinct
      // column keys: a wider input (an FFN output layer, 1,536 wide in bge-small) would fail at the
      // first update, so it is refused here, before anything runs.
      const wide = t.dropout > 0 ? targets.find((m) => m.layer !== null && m.in > HASH_P) : undefined;
      if (wide) throw new TrainableError(`${field}.dropout`, `must be 0 when adapting ${wide.module} (its input is ${wide.in} wide; LoRA dropout supports inputs up to ${HASH_P}), got ${t.dropout}`);
      return t;
    }
    default: {
      const never: never = t;
      throw new TrainableError(field, `unknown mode ${show(never)}`);
    }
  }
}

/** The adapter tensors' names for a linear module path: `<module>.lora_A.weight` [r, in], `<module>.lora_B.weight` [out, r]. */
export const loraNames = (module: string) => ({ a: `${module}.lora_A.weight`, b: `${module}.lora_B.weight` });

/** A short human description: "full", "freeze embeddings + layers 0–5", "LoRA r=16 α=32 on query, value". */
export function describeTrainable(t: Trainable): string {
  switch (t.mode) {
    case 'full':
      return 'full fine-tuning';
    case 'freeze': {
      const parts = [...(t.embeddings ? ['embeddings'] : []), ...(t.layers > 0 ? [t.layers === 1 ? 'layer 0' : `layers 0–${t.layers - 1}`] : [])];
      return `frozen ${parts.join(' + ')}`;
    }
    case 'lora':
      return `LoRA r=${t.r} α=${t.alpha}${t.dropout ? ` dropout ${t.dropout}` : ''} on ${t.targetModules === 'all-linear' ? 'all linear layers' : t.targetModules.join(', ')}`;
    default: {
      const never: never = t;
      return String(never);
    }
  }
}

/**
 * The stream the adapters' initial values come from: `new Rng(seed ^ LORA_INIT_STREAM)` with the
 * run's seed ("LoRA" in ASCII, so it differs from the sampler's and the data split's streams).
 * Adapters are drawn in the parameter set's order, A elements row-major, each
 * (2·u − 1)·bound with u = nextUint32 / 2³² and bound = 1/√in — torch's kaiming_uniform_ with
 * a = √5 (gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in), as PEFT initialises lora_A; every
 * B is zero, so the adapted model starts equal to the base. tests/reference/train_reference.py
 * draws the same stream.
 */
export const LORA_INIT_STREAM = 0x4c6f5241;

/** Initial values of `adapters` (in order): A Kaiming-uniform from the seeded stream, B zeros (docs/lora.md#initialisation). */
export function initAdapterWeights(adapters: readonly { name: string; shape: readonly number[]; adapter?: { factor: 'A' | 'B' } }[], seed: number): Map<string, Float32Array> {
  const rng = new Rng((seed ^ LORA_INIT_STREAM) >>> 0);
  const out = new Map<string, Float32Array>();
  for (const p of adapters) {
    if (!p.adapter) throw new Error(`lora init: ${p.name} is not an adapter`);
    const size = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (p.adapter.factor === 'A') {
      const bound = 1 / Math.sqrt(p.shape[1]);
      for (let i = 0; i < size; i++) data[i] = (2 * rng.uniform() - 1) * bound;
    }
    out.set(p.name, data);
  }
  return out;
}

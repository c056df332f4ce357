// The run configuration: one JSON shape shared by the CLI (`--config FILE` + flags), the UI and
// share links. `parseRunConfig` fills defaults and rejects unknown fields and bad values with a
// message naming the field path; `resolveForModel` checks what needs the model (Matryoshka dims ≤
// hidden size). The flags (`--lr 1e-5 --loss.scale 30`) are read in run-config-flags.ts, the share
// link in run-config-link.ts; both end in parseRunConfig.
// It does not load models or data, and it does not run anything.
//
// Defaults are the recipe's (docs/training.md#the-recipe-and-the-defaults) where it has one — lr
// 2e-5, cosine, warmup ratio 0.1, batch 32, 4 epochs, NO_DUPLICATES, MNRL scale 20 in Matryoshka
// [768, 512, 256, 128, 64] — and TrainingArguments' otherwise (weight decay 0, max grad norm 1,
// seed 42), with one deliberate difference: `accumulation` defaults to 1, not the recipe's 16.
// Accumulation saves no memory and no time, and MNRL still sees only `batchSize` in-batch negatives
// per loss (docs/optimizer.md#gradient-accumulation); it only divides the number of updates by 16.
// The recipe's 6,300 rows give 48 updates with 16; the small data sets people bring to a laptop (a
// few hundred rows, ≈10 batches an epoch) would get max(floor(10/16), 1) = 1 update per epoch —
// barely a fine-tune. Larger contrastive batches are what GradCache (`gradCache`) is for. Set
// `accumulation: 16` to repeat the recipe exactly.
//
// Matryoshka dims and small models: the recipe's dims list 768, more than bge-small's 384.
// `resolveForModel` filters the *default* list to the model (dims ≤ hidden, plus the hidden size
// itself first when missing: bge-small → [384, 256, 128, 64]); a list the user wrote is never
// changed, and a dim over the hidden size is an error naming it.

import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID } from '../config.ts';
import { validateLossSpec, withLossDefaults, type LossSpec } from '../losses/spec.ts';
import { DEFAULT_PROMPT_CHOICES, parsePromptChoices, type PromptChoices } from '../models/prompts.ts';
import { FULL, parseTrainable, type Trainable } from '../models/trainable.ts';
import { FieldError } from '../util/field-error.ts';
import { SCHEDULER_TYPES, type SchedulerType, type TrainerVariant } from './schedule.ts';
import type { SamplerKind } from './sampler.ts';
import type { MomentPrecision } from './optimizer.ts';
import type { FrozenDtype } from './memory.ts';

export const RUN_CONFIG_VERSION = 1;
export const RECIPE_MATRYOSHKA_DIMS: readonly number[] = [768, 512, 256, 128, 64];
export const COLUMN_ROLES = ['anchor', 'positive', 'negative', 'score', 'id'] as const;
export type ColumnRole = (typeof COLUMN_ROLES)[number];
export const BACKENDS = ['auto', 'webgpu', 'wasm', 'node'] as const;
export type Backend = (typeof BACKENDS)[number];
const SAMPLERS: readonly SamplerKind[] = ['no_duplicates', 'batch'];
const VARIANTS: readonly TrainerVariant[] = ['current', 'transformers-4.41'];
const MOMENT_PRECISIONS: readonly MomentPrecision[] = ['float32', 'bfloat16'];
const FROZEN_DTYPES: readonly FrozenDtype[] = ['float32', 'float16'];

export interface RunConfig {
  version: 1;
  model: {
    /** Hub id (`BAAI/bge-small-en-v1.5`) or a local folder path. */
    id: string;
    revision: string;
  };
  data: {
    /** Hub data set id or a local path (folder with train/test files, or one file). */
    source: string;
    revision: string;
    /** Data column for each role (several for `negative`); null = guess from the column names (the data module's auto mapping). */
    columns: (Partial<Record<Exclude<ColumnRole, 'negative'>, string>> & { negative?: string | string[] }) | null;
    trainSplit: string;
    /** null: no test split in the data; one is cut from train with testFraction / splitSeed. */
    testSplit: string | null;
    testFraction: number;
    splitSeed: number;
    /** Hygiene remedies (docs/data.md#data-hygiene): drop duplicate rows; move test rows whose positive is a training positive into train. */
    dropDuplicates: boolean;
    moveLeakedTest: boolean;
  };
  loss: LossSpec;
  /** Query prompt (queries, the anchor column) and document prompt (corpus, positives, negatives): src/lib/models/prompts.ts. */
  prompts: PromptChoices;
  /** What trains: everything (full), frozen embeddings/lowest layers, or LoRA adapters (src/lib/models/trainable.ts). */
  trainable: Trainable;
  batchSize: number;
  /** 'auto': fused step when the run fits memoryBudgetMB, else GradCache with the largest mini-batch that fits. */
  gradCache: 'auto' | 'off' | { miniBatchSize: number };
  /** What the whole run may hold at its peak (memory.ts' account); a run that cannot fit is refused.
   *  null: half the device's memory (navigator.deviceMemory, os.totalmem()). */
  memoryBudgetMB: number | null;
  epochs: number;
  /** When set, overrides epochs (as TrainingArguments.max_steps > 0 does). */
  maxSteps: number | null;
  lr: number;
  scheduler: SchedulerType;
  warmupRatio: number;
  /** When > 0, overrides warmupRatio. */
  warmupSteps: number;
  weightDecay: number;
  /** AdamW's moments: float32 (torch's), or bfloat16 with stochastic rounding — half their memory (optimizer.ts; the wasm and node backends). */
  adamMoments: MomentPrecision;
  /** How weights that do not train (frozen layers, LoRA's base model) are held: float32, or float16 cast to float32 in the graph — half their memory (train/memory.ts). */
  frozenDtype: FrozenDtype;
  /** 0 disables clipping. */
  maxGradNorm: number;
  accumulation: number;
  /**
   * Which transformers' step arithmetic to follow (docs/optimizer.md#steps-and-accumulation);
   * identical when accumulation is 1.
   */
  trainerVariant: TrainerVariant;
  seed: number;
  shuffle: boolean;
  sampler: SamplerKind;
  dropLast: boolean;
  /** BERT dropout during training (as the model config says); false = deterministic training. */
  dropout: boolean;
  /** null: the model's sentence_bert_config.json max_seq_length. */
  maxSeqLength: number | null;
  backend: Backend;
  eval: {
    before: boolean;
    after: boolean;
    everyEpoch: boolean;
    /**
     * Evaluate on the test split every N updates during training (docs/training.md#evaluation-during-training);
     * 'auto': N chosen from the measured costs so evaluation stays under ~15 % of the run's time; null: off.
     */
    everyUpdates: number | 'auto' | null;
    /**
     * The metric that picks the best checkpoint, which the finished run then keeps (HF's
     * load_best_model_at_end): 'mean' (nDCG@10 averaged over the evaluation dims), 'dim_768'
     * (that dim's nDCG@10) or a full key such as 'dim_768_cosine_map@100'. null: the best (by 'mean')
     * is kept beside the last one and the user picks; the run's model is the last.
     */
    best: string | null;
    /** Early stopping: end training after this many evaluations without improvement, keeping the best; null: off. */
    patience: number | null;
    /** Build the IR set as the seed did (overlapping ids; docs/evaluation.md#the-seeds-ir-set). */
    recipeCompatible: boolean;
  };
  /** Output folder (CLI) or name (browser); null: the caller picks one. */
  output: string | null;
}

export function defaultRunConfig(): RunConfig {
  return {
    version: 1,
    model: { id: DEFAULT_MODEL_ID, revision: 'main' },
    data: { source: DEFAULT_DATASET_ID, revision: 'main', columns: null, trainSplit: 'train', testSplit: 'test', testFraction: 0.1, splitSeed: 42, dropDuplicates: false, moveLeakedTest: false },
    loss: { type: 'mnrl', scale: 20, matryoshka: { dims: [...RECIPE_MATRYOSHKA_DIMS] } },
    prompts: { ...DEFAULT_PROMPT_CHOICES },
    trainable: { ...FULL },
    batchSize: 32,
    gradCache: 'auto',
    memoryBudgetMB: null,
    epochs: 4,
    maxSteps: null,
    lr: 2e-5,
    scheduler: 'cosine',
    warmupRatio: 0.1,
    warmupSteps: 0,
    weightDecay: 0,
    adamMoments: 'float32',
    frozenDtype: 'float32',
    maxGradNorm: 1,
    accumulation: 1,
    trainerVariant: 'current',
    seed: 42,
    shuffle: true,
    sampler: 'no_duplicates',
    dropLast: false,
    dropout: true,
    maxSeqLength: null,
    backend: 'auto',
    eval: { before: true, after: true, everyEpoch: false, everyUpdates: null, best: null, patience: null, recipeCompatible: false },
    output: null,
  };
}

export class RunConfigError extends FieldError {
  override name = 'RunConfigError';
}

/** Runs one section's own reader (loss, prompts, trainable) and reports its field error as the run config's. */
export function asRunConfigError<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof FieldError && !(e instanceof RunConfigError)) throw new RunConfigError(e.field, e.reason);
    throw e;
  }
}

/** A parsed JSON value, and a JSON object (also what the flags and link readers build). */
export type Json = unknown;
export type Obj = Record<string, Json>;
export const isObj = (x: Json): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: Json): string => (x === undefined ? 'nothing' : JSON.stringify(x));

function checkKeys(o: Obj, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      const where = path ? `${path}.${k}` : k;
      throw new RunConfigError(where, `unknown field (known: ${allowed.join(', ')})`);
    }
  }
}

function obj(x: Json, path: string): Obj {
  if (!isObj(x)) throw new RunConfigError(path, `must be an object, got ${show(x)}`);
  return x;
}

function num(x: Json, path: string, o: { int?: boolean; min?: number; max?: number; minExclusive?: boolean } = {}): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new RunConfigError(path, `must be a number, got ${show(x)}`);
  if (o.int && !Number.isInteger(x)) throw new RunConfigError(path, `must be an integer, got ${x}`);
  if (o.min !== undefined && (o.minExclusive ? x <= o.min : x < o.min)) {
    throw new RunConfigError(path, `must be ${o.minExclusive ? '>' : '≥'} ${o.min}, got ${x}`);
  }
  if (o.max !== undefined && x > o.max) throw new RunConfigError(path, `must be ≤ ${o.max}, got ${x}`);
  return x;
}

function str(x: Json, path: string): string {
  if (typeof x !== 'string' || x.trim() === '') throw new RunConfigError(path, `must be a non-empty string, got ${show(x)}`);
  return x;
}

function bool(x: Json, path: string): boolean {
  if (typeof x !== 'boolean') throw new RunConfigError(path, `must be true or false, got ${show(x)}`);
  return x;
}

function oneOf<T extends string>(x: Json, allowed: readonly T[], path: string): T {
  if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x)) {
    throw new RunConfigError(path, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${show(x)}`);
  }
  return x as T;
}

/**
 * Checks a parsed JSON value and returns a complete RunConfig (defaults filled, inputs not mutated).
 * With `hidden` known, also resolves the Matryoshka dims (resolveForModel).
 */
export function parseRunConfig(json: Json, opts: { hidden?: number } = {}): RunConfig {
  const raw = obj(json, '(config)');
  const d = defaultRunConfig();
  checkKeys(raw, Object.keys(d), '');
  const get = <K extends keyof RunConfig>(k: K): Json => (raw[k] === undefined ? d[k] : raw[k]);

  if (raw.version !== undefined && raw.version !== RUN_CONFIG_VERSION) {
    throw new RunConfigError('version', `this tabtune reads run config version ${RUN_CONFIG_VERSION}, got ${show(raw.version)}`);
  }

  const m = obj(get('model'), 'model');
  checkKeys(m, ['id', 'revision'], 'model');
  const model = { id: str(m.id ?? d.model.id, 'model.id'), revision: str(m.revision ?? d.model.revision, 'model.revision') };

  const dt = obj(get('data'), 'data');
  checkKeys(dt, Object.keys(d.data), 'data');
  let columns: RunConfig['data']['columns'] = null;
  if (dt.columns !== undefined && dt.columns !== null) {
    const c = obj(dt.columns, 'data.columns');
    checkKeys(c, COLUMN_ROLES, 'data.columns');
    columns = {};
    const used = new Map<string, string>();
    const claim = (col: string, role: string, path: string) => {
      if (used.has(col)) throw new RunConfigError(path, `column "${col}" is already mapped to ${used.get(col)}`);
      used.set(col, role);
      return col;
    };
    for (const role of COLUMN_ROLES) {
      const v = c[role];
      if (v === undefined) continue;
      if (role === 'negative' && Array.isArray(v)) {
        if (!v.length) throw new RunConfigError('data.columns.negative', 'a list of negative columns needs at least one');
        columns.negative = v.map((x, i) => claim(str(x, `data.columns.negative[${i}]`), role, `data.columns.negative[${i}]`));
      } else columns[role] = claim(str(v, `data.columns.${role}`), role, `data.columns.${role}`);
    }
    if (columns.anchor === undefined || columns.positive === undefined) {
      throw new RunConfigError('data.columns', 'must map at least anchor and positive (or leave columns out for the automatic mapping)');
    }
  }
  const testSplitRaw = dt.testSplit === undefined ? d.data.testSplit : dt.testSplit;
  const data: RunConfig['data'] = {
    source: str(dt.source ?? d.data.source, 'data.source'),
    revision: str(dt.revision ?? d.data.revision, 'data.revision'),
    columns,
    trainSplit: str(dt.trainSplit ?? d.data.trainSplit, 'data.trainSplit'),
    testSplit: testSplitRaw === null ? null : str(testSplitRaw, 'data.testSplit'),
    testFraction: num(dt.testFraction ?? d.data.testFraction, 'data.testFraction', { min: 0, max: 0.9 }),
    splitSeed: num(dt.splitSeed ?? d.data.splitSeed, 'data.splitSeed', { int: true, min: 0 }),
    dropDuplicates: bool(dt.dropDuplicates ?? d.data.dropDuplicates, 'data.dropDuplicates'),
    moveLeakedTest: bool(dt.moveLeakedTest ?? d.data.moveLeakedTest, 'data.moveLeakedTest'),
  };
  if (data.testSplit !== null && data.testSplit === data.trainSplit) {
    throw new RunConfigError('data.testSplit', `must differ from data.trainSplit ("${data.trainSplit}")`);
  }

  // The loss type's parameters with its record's defaults (src/lib/losses/records.ts).
  const loss: LossSpec = asRunConfigError(() => withLossDefaults(validateLossSpec(get('loss'), { field: 'loss' })));
  const prompts: PromptChoices = asRunConfigError(() => parsePromptChoices(get('prompts')));
  const trainable: Trainable = asRunConfigError(() => parseTrainable(get('trainable')));

  const gc = get('gradCache');
  let gradCache: RunConfig['gradCache'];
  if (gc === 'auto' || gc === 'off') gradCache = gc;
  else if (isObj(gc)) {
    checkKeys(gc, ['miniBatchSize'], 'gradCache');
    gradCache = { miniBatchSize: num(gc.miniBatchSize, 'gradCache.miniBatchSize', { int: true, min: 1 }) };
  } else throw new RunConfigError('gradCache', `must be "auto", "off" or { "miniBatchSize": n }, got ${show(gc)}`);

  const batchSize = num(get('batchSize'), 'batchSize', { int: true, min: 1 });
  if (typeof gradCache === 'object' && gradCache.miniBatchSize > batchSize) {
    throw new RunConfigError('gradCache.miniBatchSize', `must be ≤ batchSize (${batchSize}), got ${gradCache.miniBatchSize}`);
  }
  const nullable = <T>(x: Json, f: (v: Json) => T): T | null => (x === null ? null : f(x));

  const config: RunConfig = {
    version: 1,
    model,
    data,
    loss,
    prompts,
    trainable,
    batchSize,
    gradCache,
    memoryBudgetMB: nullable(get('memoryBudgetMB'), (v) => num(v, 'memoryBudgetMB', { min: 0, minExclusive: true })),
    epochs: num(get('epochs'), 'epochs', { min: 0, minExclusive: true }),
    maxSteps: nullable(get('maxSteps'), (v) => num(v, 'maxSteps', { int: true, min: 1 })),
    lr: num(get('lr'), 'lr', { min: 0, minExclusive: true, max: 1 }),
    scheduler: oneOf(get('scheduler'), SCHEDULER_TYPES, 'scheduler'),
    warmupRatio: num(get('warmupRatio'), 'warmupRatio', { min: 0, max: 1 }),
    warmupSteps: num(get('warmupSteps'), 'warmupSteps', { int: true, min: 0 }),
    weightDecay: num(get('weightDecay'), 'weightDecay', { min: 0 }),
    adamMoments: oneOf(get('adamMoments'), MOMENT_PRECISIONS, 'adamMoments'),
    frozenDtype: oneOf(get('frozenDtype'), FROZEN_DTYPES, 'frozenDtype'),
    maxGradNorm: num(get('maxGradNorm'), 'maxGradNorm', { min: 0 }),
    accumulation: num(get('accumulation'), 'accumulation', { int: true, min: 1 }),
    trainerVariant: oneOf(get('trainerVariant'), VARIANTS, 'trainerVariant'),
    seed: num(get('seed'), 'seed', { int: true, min: 0, max: 2 ** 32 - 1 }),
    shuffle: bool(get('shuffle'), 'shuffle'),
    sampler: oneOf(get('sampler'), SAMPLERS, 'sampler'),
    dropLast: bool(get('dropLast'), 'dropLast'),
    dropout: bool(get('dropout'), 'dropout'),
    maxSeqLength: nullable(get('maxSeqLength'), (v) => num(v, 'maxSeqLength', { int: true, min: 2 })),
    backend: oneOf(get('backend'), BACKENDS, 'backend'),
    eval: (() => {
      const e = obj(get('eval'), 'eval');
      checkKeys(e, Object.keys(d.eval), 'eval');
      return {
        before: bool(e.before ?? d.eval.before, 'eval.before'),
        after: bool(e.after ?? d.eval.after, 'eval.after'),
        everyEpoch: bool(e.everyEpoch ?? d.eval.everyEpoch, 'eval.everyEpoch'),
        ...duringTraining(e),
        recipeCompatible: bool(e.recipeCompatible ?? d.eval.recipeCompatible, 'eval.recipeCompatible'),
      };
    })(),
    output: nullable(get('output'), (v) => str(v, 'output')),
  };
  return opts.hidden === undefined ? config : resolveForModel(config, { hidden: opts.hidden });
}

/** The grammar of eval.best: 'mean', 'dim_{d}', or a full metric key 'dim_{d}_{cosine|dot}_{name}@{k}' / '…_accuracy'. */
export const BEST_METRIC = /^(mean|dim_[1-9]\d*|dim_[1-9]\d*_(cosine|dot)_[a-z_]+(@[1-9]\d*)?)$/;

/** eval.everyUpdates, eval.best and eval.patience: each checked, and patience and best only with something evaluated during training. */
function duringTraining(e: Obj): Pick<RunConfig['eval'], 'everyUpdates' | 'best' | 'patience'> {
  const every = e.everyUpdates ?? null;
  const everyUpdates = every === null || every === 'auto' ? every : num(every, 'eval.everyUpdates', { int: true, min: 1 });
  const rawBest = e.best ?? null;
  if (rawBest !== null && (typeof rawBest !== 'string' || !BEST_METRIC.test(rawBest))) {
    throw new RunConfigError('eval.best', `must be "mean", "dim_<d>" (e.g. "dim_768") or a metric key such as "dim_768_cosine_ndcg@10", got ${show(rawBest)}`);
  }
  const patience = e.patience === undefined || e.patience === null ? null : num(e.patience, 'eval.patience', { int: true, min: 1 });
  const during = everyUpdates !== null || e.everyEpoch === true;
  if (!during && patience !== null) throw new RunConfigError('eval.patience', 'early stopping counts evaluations during training: set eval.everyUpdates (or eval.everyEpoch) too');
  if (!during && rawBest !== null) throw new RunConfigError('eval.best', 'the best checkpoint is chosen among evaluations during training: set eval.everyUpdates (or eval.everyEpoch) too');
  return { everyUpdates, best: rawBest as string | null, patience };
}

/**
 * What needs the model: Matryoshka dims ≤ hidden. The recipe's default list is filtered to the
 * model (and the hidden size added first when missing, weight 1); any other list must fit, or a
 * RunConfigError names the first dim that does not.
 */
export function resolveForModel(config: RunConfig, model: { hidden: number }): RunConfig {
  const mat = config.loss.matryoshka;
  if (!mat) return config;
  const { hidden } = model;
  const isRecipeDefault = mat.dims.length === RECIPE_MATRYOSHKA_DIMS.length && mat.dims.every((x, i) => x === RECIPE_MATRYOSHKA_DIMS[i]);
  if (isRecipeDefault && mat.dims.some((x) => x > hidden)) {
    const keep = mat.dims.map((dim, i) => ({ dim, w: mat.weights?.[i] })).filter((t) => t.dim <= hidden);
    if (!keep.some((t) => t.dim === hidden)) keep.unshift({ dim: hidden, w: mat.weights ? 1 : undefined });
    const matryoshka = { dims: keep.map((t) => t.dim), ...(mat.weights ? { weights: keep.map((t) => t.w!) } : {}) };
    return { ...config, loss: { ...config.loss, matryoshka } };
  }
  mat.dims.forEach((x, i) => {
    if (x > hidden) throw new RunConfigError(`loss.matryoshka.dims[${i}]`, `must be ≤ ${hidden} (the model's hidden size), got ${x}`);
  });
  return config;
}

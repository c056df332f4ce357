// One fine-tuning run from config to outputs, the same for the CLI and the page's worker: resolve
// the config against the model, evaluate before, train with checkpoints (every N updates and at
// each epoch end), evaluate every epoch and after, and write the outputs through the run's Store
// (record.ts has the layout): the trained model as a sentence-transformers folder (the one writer,
// src/lib/export/st-folder.ts), train_log.jsonl, eval_results.json and the run config.
// Stops happen only at update boundaries (the Trainer finishes a group in progress), and a
// stopped run always leaves a checkpoint of the step it stopped at. The two newest checkpoints
// are kept; resuming reads the newest one that can be read (saying so when it skips a damaged
// one) and refuses one made from another base model, other training rows or another config,
// naming what differs.
// Pure TypeScript over a Store and a Runtime: no fs, no DOM, no comlink. The CLI adapts it to a
// terminal (progress bars, Ctrl-C), the worker to IndexedDB and comlink events.
//
// Shape letters: none; this file moves whole runs.

import type { Example } from '../data/validate.ts';
import { defaultEvalDims, type EvalProgress, evaluateModel } from '../eval/evaluate-model.ts';
import { evaluateTriplets, type Triplet } from '../eval/triplet-eval.ts';
import { buildIrSet, type IrSet } from '../eval/ir-set.ts';
import { beforeAfterRows } from '../eval/report.ts';
import { modelCard } from '../export/model-card.ts';
import { publicConfig, publicName } from '../export/public-names.ts';
import { exportSentenceTransformers } from '../export/st-folder.ts';
import { runExportWeights } from '../export/lora-export.ts';
import { parameterSet } from '../models/parameter-set.ts';
import { CONFIG_ST_FILE, exportedPrompts, type ModelPrompts, PromptError, resolvePrompts, textChoices, type TextPrompts } from '../models/prompts.ts';
import { modelFilesBytes, withSingleWeightsFile, type SentenceModel } from '../models/sentence-model.ts';
import type { Runtime } from '../runtime/types.ts';
import { sizeOfValue, type Store, type StoreValue } from '../store/store.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { type Checkpoint, readCheckpoint } from '../train/checkpoint.ts';
import { parseRunConfig, type RunConfig, RunConfigError } from '../train/run-config.ts';
import type { StepsPlan } from '../train/schedule.ts';
import { type TrainEvent, Trainer, type TrainerOptions, TrainingFault } from '../train/trainer.ts';
import { dataFingerprint, type ModelIdentity, type Provenance, provenanceDifference } from './identity.ts';
import {
  CHECKPOINTS_PREFIX, checkpointKey, checkpointSteps, type EpochEval, RUN_OUTPUT_EXTRAS, RUN_RECORD_FORMAT, readRunRecord, type RunEvaluation, type RunRecord, writeRunRecord,
} from './record.ts';

export interface RunModel {
  /** The base model as the user named it: a Hub id with its revision, a folder, a stored model. */
  name: string;
  model: SentenceModel;
  tokenizer: TextTokenizer;
  /** The base model's files (path → bytes); the output copies them with the trained weights. */
  files: ReadonlyMap<string, Uint8Array>;
  identity: ModelIdentity;
  /**
   * Train the model's weight arrays in place (TrainerOptions.trainInPlace): one copy of the weights
   * fewer, but afterwards they — and the F32 file bytes they view — hold the run's weights, not the
   * base model's; the caller reads the base model again if it needs it.
   */
  trainInPlace?: boolean;
}

export interface RunData {
  /** The data set as the user named it (Hub id, file or folder). */
  source: string;
  train: readonly Example[];
  test: readonly Example[];
}

export type EvalWhich = 'before' | 'epoch' | 'after';
export type RunPhase = 'prepare' | 'eval-before' | 'train' | 'eval-after' | 'save' | 'done';
export type StepEvent = Extract<TrainEvent, { type: 'step' }>;

/** What a run reports: the Trainer's events (path, step, epoch, stopping) and its own. */
export type RunEvent =
  | Exclude<TrainEvent, { type: 'checkpoint' } | { type: 'done' }>
  | { type: 'start'; runId: string; resumedFrom: number | null; maxSteps: number; train: number; test: number; encoder: string; steps: StepEvent[] }
  | { type: 'phase'; phase: RunPhase }
  | { type: 'checkpoint'; step: number; bytes: number }
  | { type: 'warning'; message: string }
  | { type: 'eval-progress'; which: EvalWhich; progress: EvalProgress }
  | { type: 'eval'; which: EvalWhich; epoch: number | null; step: number; result: RunEvaluation };

export interface RunTrainingOptions {
  /** The run's own store: a CLI output folder, or `run/{runId}/` in IndexedDB. */
  store: Store;
  runtime: Runtime;
  model: RunModel;
  data: RunData;
  config: RunConfig;
  runId: string;
  /** The name "My models" and the model card show; default "base model · data set". */
  name?: string;
  /** Continue from the newest checkpoint in the store (refused when model, data or config differ). */
  resume?: boolean;
  /** Checkpoint after every this many updates; default defaultCheckpointEvery(plan). Epoch ends always. */
  checkpointEvery?: number | null;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** For the memory account: the device's memory (the default budget is half) and, on WebGPU, the adapter's largest buffer. */
  memory?: Omit<NonNullable<TrainerOptions['memory']>, 'fileBytes'>;
}

export interface RunOutcome {
  record: RunRecord;
  /** done: the model is written; stopped: a checkpoint of `record.step` is kept (unless at step 0). */
  status: 'done' | 'stopped';
}

/** A checkpoint every quarter of the run, at most an epoch apart (at least every update). */
export function defaultCheckpointEvery(plan: Pick<StepsPlan, 'maxSteps' | 'updatesPerEpoch'>): number {
  return Math.max(1, Math.min(plan.updatesPerEpoch, Math.ceil(plan.maxSteps / 4)));
}

/** Evaluation dims of a run: the Matryoshka dims it trains, else the seed's dims cut to the model. */
export function runEvalDims(config: RunConfig, hidden: number): number[] {
  return config.loss.matryoshka ? [...config.loss.matryoshka.dims] : defaultEvalDims(hidden);
}

export function buildRunIrSet(config: RunConfig, data: Pick<RunData, 'train' | 'test'>): IrSet | null {
  if (!data.test.length) return null;
  if (config.eval.recipeCompatible) return buildIrSet(data.train as Example[], data.test as Example[], { mode: 'recipe' });
  // Mined data repeats an (anchor, positive) pair once per negative: one query each.
  const seen = new Set<string>();
  const test = data.test.filter((e) => {
    const k = JSON.stringify([e.anchor, e.positive]);
    return !seen.has(k) && seen.add(k);
  });
  return buildIrSet(data.train as Example[], test as Example[], { mode: 'default' });
}

/** The test split's (anchor, positive, negative) triplets, one per negative of each row. */
export function runTriplets(data: Pick<RunData, 'test'>): Triplet[] {
  return data.test.flatMap((e) => (e.negatives ?? []).map((negative) => ({ anchor: e.anchor, positive: e.positive, negative })));
}

const enc = new TextEncoder();
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const lossesOf = (events: readonly TrainEvent[]) => events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);

/** The HF trainer's eval log line: {type, epoch, step, eval_dim_384_cosine_ndcg@10: …}. */
function evalLogLine(e: EpochEval): string {
  const line: Record<string, number | string> = { type: 'eval', epoch: e.epoch, step: e.step };
  for (const [k, v] of Object.entries(e.result.metrics)) line[`eval_${k}`] = v;
  return JSON.stringify(line);
}

/** train_log.jsonl: a line per update, each epoch's evaluation right after its step's line. */
function trainLog(events: readonly TrainEvent[], evals: readonly EpochEval[]): Uint8Array {
  const lines: string[] = [];
  for (const e of events) {
    if (e.type !== 'step') continue;
    lines.push(JSON.stringify(e));
    for (const v of evals) if (v.step === e.step) lines.push(evalLogLine(v));
  }
  return enc.encode(lines.map((l) => l + '\n').join(''));
}

/**
 * The newest checkpoint of a run's store that can be read, newest first: a missing, truncated or
 * damaged one is skipped with a warning that names it and why, so the run resumes from the one
 * before it. Throws when none can be read.
 */
export async function readNewestCheckpoint(store: Store, emit: (e: RunEvent) => void = () => {}): Promise<Checkpoint> {
  const steps = await checkpointSteps(store);
  if (steps.length === 0) throw new Error(`resume: no checkpoint in ${store.description}`);
  const failed: string[] = [];
  for (const step of steps) {
    const bytes = await store.get(checkpointKey(step)).catch(() => undefined);
    try {
      if (!bytes) throw new Error('its bytes are missing or incomplete');
      const c = readCheckpoint(bytes);
      if (failed.length) emit({ type: 'warning', message: `resuming from the checkpoint at update ${step}: ${failed.join('; ')}` });
      return c;
    } catch (e) {
      failed.push(`the checkpoint at update ${step} could not be read (${message(e)})`);
    }
  }
  throw new Error(`resume: no readable checkpoint in ${store.description}: ${failed.join('; ')}; start a new run`);
}

export async function runTraining(o: RunTrainingOptions): Promise<RunOutcome> {
  const { store, runtime, model, data, signal } = o;
  const emit = (e: RunEvent) => o.onEvent?.(e);
  emit({ type: 'phase', phase: 'prepare' });
  const hidden = model.model.config.hiddenSize;
  const parsed = parseRunConfig(o.config, { hidden });
  // The prompts as the texts they resolve to for this model, so the record, the card, train.py
  // and a resumed run all read what training used.
  const prompts = runPrompts(parsed, model.model.prompts);
  const config: RunConfig = { ...parsed, prompts: textChoices(prompts) };
  if (data.train.length === 0) throw new Error(`${data.source}: no usable training rows`);
  const provenance: Provenance = { model: model.identity, data: await dataFingerprint(data.source, data.train) };

  // The memory account first: a run that cannot fit is refused before anything is read or written.
  const trainer = new Trainer({
    runtime, model: model.model, tokenizer: model.tokenizer, config, train: data.train, provenance, trainInPlace: model.trainInPlace,
    memory: { ...o.memory, fileBytes: accountedFileBytes(model) },
    onEvent: (e) => {
      if (e.type === 'path') record.path = { path: e.path, miniBatchSize: e.miniBatchSize, why: e.why };
      if (e.type !== 'checkpoint' && e.type !== 'done') emit(e);
    },
  });
  trainer.planMemory();

  // What to resume from, checked before anything is written.
  let previous = await readRunRecord(store).catch(() => null);
  let checkpoint = null;
  /** The newest checkpoint known readable: kept beside the next one until that one is stored. */
  let resumedStep: number | null = null;
  if (o.resume) {
    checkpoint = await readNewestCheckpoint(store, emit);
    resumedStep = checkpoint.globalStep;
    const saved = checkpoint.provenance as Provenance | null;
    if (!saved) throw new Error('resume: the checkpoint does not record its base model and data, so it cannot be checked; start a new run');
    const diff = provenanceDifference(saved, provenance);
    if (diff) throw new Error(`resume refused: ${diff}`);
  } else {
    // A new run in a store that held another one starts clean.
    await store.delPrefix(CHECKPOINTS_PREFIX);
    previous = null;
  }

  const now = Date.now();
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT, version: 1, runId: o.runId,
    name: o.name ?? previous?.name ?? `${publicName(model.name)} · ${publicName(data.source)}`,
    status: 'running', config, baseModel: model.name, dataSource: data.source, provenance,
    step: 0, maxSteps: trainer.plan.maxSteps, checkpointStep: null, path: null,
    before: previous?.before ?? null, after: null,
    // Evaluations after the checkpoint are repeated by the resumed run.
    evals: (previous?.evals ?? []).filter((e) => checkpoint && e.step <= checkpoint.globalStep),
    losses: [], error: null, fault: null, started: previous?.started ?? now, updated: now, finished: null, modelBytes: null,
  };
  const save = async () => {
    try {
      await writeRunRecord(store, record);
    } catch (e) {
      emit({ type: 'warning', message: `the run record was not saved: ${message(e)}` });
    }
  };

  const encoder = await trainer.getEncoder();
  const irSet = buildRunIrSet(config, data);
  const dims = runEvalDims(config, hidden);
  const triplets = runTriplets(data);
  const evaluate = async (which: EvalWhich, epoch: number | null, step: number, evalSignal?: AbortSignal): Promise<RunEvaluation> => {
    const result = await evaluateModel({ encoder, tokenizer: model.tokenizer, set: irSet!, dims, prompts, signal: evalSignal, onProgress: (p) => emit({ type: 'eval-progress', which, progress: p }) });
    const { timing: _timing, ...plain } = result;
    const out: RunEvaluation = plain;
    if (triplets.length) {
      const triplet = await evaluateTriplets({ encoder, tokenizer: model.tokenizer, triplets, dims, prompts, signal: evalSignal });
      Object.assign(out, { triplet, metrics: { ...plain.metrics, ...triplet.metrics } });
    }
    emit({ type: 'eval', which, epoch, step, result: out });
    return out;
  };
  const recordEval = async (epoch: number, step: number) => {
    const result = await evaluate('epoch', epoch, step);
    record.evals = [...record.evals.filter((e) => e.step !== step), { epoch, step, result }];
    await save();
  };
  let writtenStep: number | null = null;
  const writeCheckpoint = async (parts: Uint8Array[], step: number) => {
    try {
      await store.set(checkpointKey(step), parts);
    } catch (e) {
      emit({ type: 'warning', message: `the checkpoint at update ${step} was not stored (${message(e)}); the previous one is kept` });
      return;
    }
    // The two newest are kept: if this one cannot be read back, a resume falls back to the one before.
    const keep = writtenStep ?? resumedStep;
    for (const old of await checkpointSteps(store)) if (old !== step && old !== keep) await store.del(checkpointKey(old));
    writtenStep = step;
    Object.assign(record, { checkpointStep: step, step, losses: lossesOf(trainer.events) });
    await save();
    await store.set('train_log.jsonl', trainLog(trainer.events, record.evals)).catch(() => undefined);
    emit({ type: 'checkpoint', step, bytes: sizeOfValue(parts) });
  };

  try {
    if (checkpoint) {
      await trainer.resume(checkpoint);
      Object.assign(record, { step: trainer.step, checkpointStep: trainer.step, losses: lossesOf(trainer.events) });
    }
    emit({
      type: 'start', runId: o.runId, resumedFrom: checkpoint ? trainer.step : null, maxSteps: trainer.plan.maxSteps,
      train: data.train.length, test: data.test.length, encoder: encoder.describe(),
      steps: trainer.events.filter((e): e is StepEvent => e.type === 'step'),
    });
    await save();

    if (config.eval.before && irSet && !record.before) {
      emit({ type: 'phase', phase: 'eval-before' });
      record.before = await evaluate('before', null, 0, signal);
      await save();
    } else if (record.before) emit({ type: 'eval', which: 'before', epoch: null, step: 0, result: record.before });

    emit({ type: 'phase', phase: 'train' });
    const everyEpoch = config.eval.everyEpoch && irSet !== null;
    if (config.eval.everyEpoch && !irSet) emit({ type: 'warning', message: 'eval.everyEpoch: the data has no test rows, so there is nothing to evaluate on' });
    const r = await trainer.run({
      signal,
      checkpointEvery: o.checkpointEvery ?? defaultCheckpointEvery(trainer.plan),
      checkpointAtEpochEnd: true,
      onCheckpoint: writeCheckpoint,
      onEpochEnd: everyEpoch ? (epoch, step) => recordEval(epoch + 1, step) : undefined,
    });
    const lastEpoch = trainer.events.filter((e): e is StepEvent => e.type === 'step').at(-1)?.epoch ?? 0;
    record.step = r.step;
    record.losses = lossesOf(trainer.events);

    if (r.stopped) {
      if (r.step > 0 && writtenStep !== r.step && record.checkpointStep !== r.step) await writeCheckpoint(await trainer.checkpoint(), r.step);
      record.status = 'stopped';
      await save();
      return { record, status: 'stopped' };
    }

    // The plan's last update may come before an epoch's end; HF evaluates there too.
    if (everyEpoch && r.step > 0 && record.evals.at(-1)?.step !== r.step) await recordEval(lastEpoch, r.step);
    let after: RunEvaluation | null = null;
    if (config.eval.after && irSet) {
      const last = record.evals.at(-1);
      if (last?.step === r.step) after = last.result;
      else {
        emit({ type: 'phase', phase: 'eval-after' });
        try {
          after = await evaluate('after', null, r.step, signal);
        } catch (e) {
          if (!signal?.aborted) throw e;
          // Cancelled while evaluating a finished run: keep the model, without the "after" numbers.
          emit({ type: 'warning', message: 'the evaluation after training was cancelled; the trained model is saved without it' });
        }
      }
    }
    record.after = after;

    emit({ type: 'phase', phase: 'save' });
    const files = runOutputs(record, model, await trainer.weights(), trainer.events);
    for (const [path, bytes] of files) await store.set(path, bytes);
    record.modelBytes = [...files].reduce((n, [path, b]) => n + (RUN_OUTPUT_EXTRAS.has(path) ? 0 : sizeOfValue(b)), 0);
    // A finished run keeps its model, not its checkpoint (bge-base's is ~1.3 GB).
    await store.delPrefix(CHECKPOINTS_PREFIX);
    Object.assign(record, { status: 'done', checkpointStep: null, finished: Date.now() });
    await save();
    emit({ type: 'phase', phase: 'done' });
    return { record, status: 'done' };
  } catch (e) {
    // Cancelled before the first update (during the "before" evaluation): nothing to keep but the record.
    if (signal?.aborted && trainer.atUpdateBoundary) {
      record.status = 'stopped';
      await save();
      return { record, status: 'stopped' };
    }
    record.status = 'failed';
    record.error = message(e);
    if (e instanceof TrainingFault) {
      record.fault = { kind: e.kind, failedStep: e.failedStep, lastGoodStep: e.lastGoodStep };
      Object.assign(record, { step: e.lastGoodStep, losses: lossesOf(trainer.events) });
      // Keep the last good update when its weights can still be read (not from a lost GPU).
      if (e.lastGoodStep > 0 && record.checkpointStep !== e.lastGoodStep) {
        const bytes = await trainer.checkpoint().catch(() => null);
        if (bytes) await writeCheckpoint(bytes, e.lastGoodStep);
      }
      record.error += record.checkpointStep !== null
        ? ` The checkpoint at update ${record.checkpointStep} is kept: resume from it${e.kind === 'device-lost' ? ' on WASM' : ''}${e.kind === 'runtime' ? ', on WASM or with a smaller mini-batch' : ''}.`
        : ' No checkpoint was stored yet: start the run again.';
    }
    await save();
    throw e instanceof TrainingFault ? new Error(record.error, { cause: e }) : e;
  } finally {
    await trainer.dispose();
  }
}

/** The run's query and document prompt texts for its model (RunConfigError naming the field when a choice does not fit the model). */
export function runPrompts(config: RunConfig, model: ModelPrompts, modelId = config.model.id): TextPrompts {
  try {
    const { query, document } = resolvePrompts(config.prompts, model, modelId);
    return { query, document };
  } catch (e) {
    if (e instanceof PromptError) throw new RunConfigError(e.field, e.reason);
    throw e;
  }
}

/**
 * The model's config_sentence_transformers.json with the prompts training used (prompts.ts
 * exportedPrompts), or undefined when the source file stays as it is.
 */
export function promptsConfigFile(files: ReadonlyMap<string, Uint8Array>, model: ModelPrompts, used: TextPrompts): Uint8Array | undefined {
  const prompts = exportedPrompts(model, used);
  if (!prompts) return undefined;
  const src = files.get(CONFIG_ST_FILE);
  const json = src ? (JSON.parse(new TextDecoder().decode(src)) as Record<string, unknown>) : {};
  return enc.encode(JSON.stringify({ ...json, prompts, default_prompt_name: model.defaultPromptName }, null, 2) + '\n');
}

/**
 * The model-file bytes a run holds besides the trained weights (the memory account's 'model
 * files'): trained in place, weights parsed as views of their file are the file's bytes, so those
 * count once, as the updater's.
 */
export function accountedFileBytes(model: Pick<RunModel, 'model' | 'files' | 'trainInPlace'>): number {
  if (!model.trainInPlace) return modelFilesBytes(model.files);
  const buffers = new Set([...model.files.values()].map((b) => b.buffer));
  let viewed = 0;
  for (const w of model.model.weights.values()) if (buffers.has(w.data.buffer)) viewed += w.data.byteLength;
  return modelFilesBytes(model.files) - viewed;
}

/** The finished run's output files: the sentence-transformers folder, its log, results and config. */
function runOutputs(record: RunRecord, model: RunModel, weights: ReadonlyMap<string, Float32Array>, events: readonly TrainEvent[]): Map<string, StoreValue> {
  const { before, after, config } = record;
  const rows = after
    ? (before ? beforeAfterRows(before, after) : after.evaluators.map((e) => ({ dim: e.dim, key: 'cosine_ndcg@10', before: null, after: e.metrics[`${e.name}_cosine_ndcg@10`] })))
        .map((r) => ({ key: `dim_${r.dim}_${r.key}`, before: r.before, after: r.after }))
    : [];
  const stConfig = promptsConfigFile(model.files, model.model.prompts, runPrompts(config, model.model.prompts));
  // A LoRA run writes its adapters merged into the weights and, beside them, its PEFT adapter folder's files (docs/export-forms.md).
  const out = runExportWeights({
    set: parameterSet(model.model.config, config.trainable), trained: weights, base: model.model.weights, seed: config.seed,
    baseModel: publicName(config.model.id), revision: config.model.revision === 'main' ? null : config.model.revision,
  });
  return exportSentenceTransformers({
    sourceFiles: withSingleWeightsFile(model.files),
    weights: out.weights,
    readme: modelCard(record, { pooling: model.model.pooling }),
    extra: new Map([
      ...(stConfig ? ([[CONFIG_ST_FILE, stConfig]] as const) : []),
      ['train_log.jsonl', trainLog(events, record.evals)],
      ['eval_results.json', enc.encode(JSON.stringify({ before: before?.metrics ?? null, after: after?.metrics ?? null, rows }, null, 2) + '\n')],
      ['run_config.json', enc.encode(JSON.stringify(publicConfig(config), null, 2) + '\n')],
      ...(out.adapterFiles ?? []),
    ]),
  });
}

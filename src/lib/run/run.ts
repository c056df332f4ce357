// One fine-tuning run from config to outputs, the same for the CLI and the page's worker: resolve
// the config against the model, evaluate before, train with checkpoints (every N updates and at
// each epoch end), evaluate every epoch and after, and write the outputs through the run's Store
// (record.ts has the layout): the trained model as a sentence-transformers folder (the one writer,
// src/lib/export/st-folder.ts), train_log.jsonl, eval_results.json and the run config.
// Evaluation during training (every N updates and/or every epoch; docs/training.md#evaluation-during-training)
// runs in the trainer's hook between updates: each one may become the best, whose weights are kept
// under kept/ (beyond the reach of checkpoint pruning); early stopping ends training after
// eval.patience evaluations without improvement; the finished model holds the best or the last
// update's weights, and useKeptWeights switches between them afterwards.
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
import type { GeneratedOrigin } from '../generate/generated-set.ts';
import { modelCard } from '../export/model-card.ts';
import { publicConfig, publicName } from '../export/public-names.ts';
import { exportSentenceTransformers } from '../export/st-folder.ts';
import { ADAPTER_WEIGHTS_FILE, adaptersFromPeft, isLoraName, peftKey, runExportWeights } from '../export/lora-export.ts';
import type { BertConfig } from '../models/bert-config.ts';
import { parameterSet } from '../models/parameter-set.ts';
import { CONFIG_ST_FILE, exportedPrompts, type ModelPrompts, resolvePrompts, textChoices, type TextPrompts } from '../models/prompts.ts';
import { loadSentenceModel, modelFilesBytes, withSingleWeightsFile, type SentenceModel } from '../models/sentence-model.ts';
import { parseSafetensors, safetensorsParts, type TensorToWrite } from '../models/safetensors.ts';
import { architectureOfType, bareWeightName } from '../models/architectures.ts';
import type { Runtime } from '../runtime/types.ts';
import { sizeOfValue, type Store, type StoreValue } from '../store/store.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { type Checkpoint, readCheckpoint } from '../train/checkpoint.ts';
import { asRunConfigError, parseRunConfig, type RunConfig, RunConfigError } from '../train/run-config.ts';
import type { StepsPlan } from '../train/schedule.ts';
import { type TrainEvent, Trainer, type TrainerOptions, TrainingFault } from '../train/trainer.ts';
import { dataFingerprint, describeModel, type ModelIdentity, type Provenance, provenanceDifference } from './identity.ts';
import { bestOf, checkBestMetric, DEFAULT_BEST_METRIC, estimateEvalS, EVAL_TIME_SHARE, evalEvery, metricValue, metricWords } from './best.ts';
import {
  CHECKPOINTS_PREFIX, checkpointKey, checkpointSteps, type EpochEval, type EvalCostRecord, KEPT_PREFIX, keptKey, type KeptRecord, RUN_OUTPUT_EXTRAS, RUN_RECORD_FORMAT, RUN_RECORD_KEY,
  readRunRecord, type RunEvaluation, type RunRecord, writeRunRecord,
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
  /** What made it, when it is a generated set (docs/generate.md#the-trained-models-card). */
  generated?: GeneratedOrigin | null;
}

/** before/after training; epoch: at an epoch's end (eval.everyEpoch); updates: every N updates (eval.everyUpdates). */
export type EvalWhich = 'before' | 'epoch' | 'updates' | 'after';
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
  /** `replayed`: an evaluation from before a resume, told again (not computed again). */
  | { type: 'eval'; which: EvalWhich; epoch: number | null; step: number; result: RunEvaluation; seconds?: number; replayed?: true }
  /** After each evaluation during training: how often it runs, its measured cost, and the best so far. */
  | { type: 'eval-cost'; cost: EvalCostRecord; best: NonNullable<RunRecord['best']> | null };

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
const fail = (why: string): never => {
  throw new Error(why);
};
const lossesOf = (events: readonly TrainEvent[]) => events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);

/** The HF trainer's eval log line: {type, epoch, step, eval_dim_384_cosine_ndcg@10: …, eval_runtime}. */
function evalLogLine(e: EpochEval): string {
  const line: Record<string, number | string> = { type: 'eval', epoch: e.epoch, step: e.step };
  for (const [k, v] of Object.entries(e.result.metrics)) line[`eval_${k}`] = v;
  if (e.seconds !== undefined) line.eval_runtime = e.seconds;
  return JSON.stringify(line);
}

/** A weights-only safetensors file of the run's trained tensors (bare names, F32): a kept/ entry. */
function keptFile(weights: ReadonlyMap<string, Float32Array>, shapes: ReadonlyMap<string, readonly number[]>): Uint8Array[] {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, w] of weights) tensors.set(name, { shape: [...(shapes.get(name) ?? [w.length])], data: w });
  return safetensorsParts(tensors, { format: 'tabtune-kept-weights' });
}

/** The weights of a kept/ entry, by bare name. */
export async function readKeptWeights(store: Store, step: number): Promise<Map<string, Float32Array>> {
  const bytes = await store.get(keptKey(step));
  if (!bytes) throw new Error(`the weights of update ${step} are not kept in ${store.description}`);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of parseSafetensors(bytes).tensors) {
    if (!(t.data instanceof Float32Array)) throw new Error(`${keptKey(step)}: ${name} is not float32`);
    out.set(name, t.data);
  }
  return out;
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
    await store.delPrefix(KEPT_PREFIX);
    previous = null;
  }

  const now = Date.now();
  const record: RunRecord = {
    format: RUN_RECORD_FORMAT, version: 1, runId: o.runId,
    name: o.name ?? previous?.name ?? `${publicName(model.name)} · ${publicName(data.source)}`,
    status: 'running', config, baseModel: model.name, dataSource: data.source, generated: data.generated ?? null, provenance,
    step: 0, maxSteps: trainer.plan.maxSteps, checkpointStep: null, path: null,
    before: previous?.before ?? null, after: null,
    // Evaluations after the checkpoint are repeated by the resumed run.
    evals: (previous?.evals ?? []).filter((e) => checkpoint && e.step <= checkpoint.globalStep),
    best: null, kept: null, evalCost: checkpoint ? previous?.evalCost ?? null : null, earlyStopped: false,
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
  const bestMetric = config.eval.best ?? DEFAULT_BEST_METRIC;
  checkBestMetric(bestMetric, dims);
  const evaluate = async (which: EvalWhich, epoch: number | null, step: number, evalSignal?: AbortSignal): Promise<RunEvaluation> => {
    const t0 = performance.now();
    const result = await evaluateModel({ encoder, tokenizer: model.tokenizer, set: irSet!, dims, prompts, signal: evalSignal, onProgress: (p) => emit({ type: 'eval-progress', which, progress: p }) });
    const { timing: _timing, ...plain } = result;
    const out: RunEvaluation = plain;
    if (triplets.length) {
      const triplet = await evaluateTriplets({ encoder, tokenizer: model.tokenizer, triplets, dims, prompts, signal: evalSignal });
      Object.assign(out, { triplet, metrics: { ...plain.metrics, ...triplet.metrics } });
    }
    emit({ type: 'eval', which, epoch, step, result: out, seconds: (performance.now() - t0) / 1000 });
    return out;
  };

  // ---- evaluation during training: the best so far, early stopping, how often ----
  const shapes = new Map(trainer.parameters.trained.map((p) => [p.name, p.shape] as const));
  const pruneKept = async (keep: readonly number[]) => {
    for (const k of await store.keys(KEPT_PREFIX)) if (!keep.some((s) => k === keptKey(s))) await store.del(k);
  };
  /** Re-derives the best from the record's evaluations; a new best's weights are stored first (the previous best's stay until a checkpoint follows it). */
  const trackBest = async (step: number) => {
    const b = bestOf(record.evals.map((e) => ({ step: e.step, value: metricValue(e.result, bestMetric) })));
    if (!b) return;
    if (b.best.step === step && record.best?.step !== step) {
      try {
        await store.set(keptKey(step), keptFile(await trainer.weights(), shapes));
      } catch (e) {
        emit({ type: 'warning', message: `the weights of update ${step}, the best so far, were not stored (${message(e)}); the previous best is kept` });
        if (record.best) record.best.since++;
        return;
      }
    }
    if (b.best.step !== step && !record.best) return; // the best's weights were lost (a resume warned)
    record.best = { metric: bestMetric, step: b.best.step, value: b.best.value, since: b.since };
  };
  const cost: EvalCostRecord = record.evalCost ?? { every: typeof config.eval.everyUpdates === 'number' ? config.eval.everyUpdates : null, why: '', evalS: 0, trainS: 0 };
  record.evalCost = config.eval.everyUpdates !== null || config.eval.everyEpoch ? cost : null;
  if (typeof config.eval.everyUpdates === 'number') cost.why = `eval.everyUpdates = ${config.eval.everyUpdates}`;
  /** Seconds of each update of this session (from one update boundary to the next, evaluations left out). */
  const updateTimes: number[] = [];
  let boundaryT = performance.now();
  let beforeS: number | null = null;
  const textsPerUpdate = config.batchSize * config.accumulation * (2 + (data.train[0]?.negatives?.length ?? 0));
  const evalTexts = irSet ? irSet.queries.size + irSet.corpus.size : 0;
  /** eval.everyUpdates 'auto': N from the measured (else estimated) evaluation time and the measured update time. */
  /** Mean seconds per update (the first left out once there are others: it also builds the sessions) and per evaluation (null before one is timed). */
  const measure = (): { updateS: number | null; evalS: number | null } => {
    const times = updateTimes.length > 1 ? updateTimes.slice(1) : updateTimes;
    const timed = record.evals.filter((e) => e.seconds !== undefined);
    return {
      updateS: times.length ? times.reduce((a, b) => a + b, 0) / times.length : null,
      evalS: timed.length ? timed.reduce((a, e) => a + e.seconds!, 0) / timed.length : beforeS,
    };
  };
  const autoEvery = (): void => {
    const { updateS, evalS: measured } = measure();
    if (updateS === null) return;
    const evalS = measured ?? estimateEvalS({ evalTexts, textsPerUpdate, updateS });
    Object.assign(cost, { evalEachS: evalS, updateEachS: updateS });
    cost.every = evalEvery({ evalS, updateS, maxSteps: trainer.plan.maxSteps });
    cost.why = `auto: an evaluation takes ${evalS.toFixed(2)} s (${measured === null ? 'estimated from the update time' : 'measured'}), an update ${updateS.toFixed(2)} s, ` +
      `so every ${cost.every} updates keeps evaluation under ${Math.round(EVAL_TIME_SHARE * 100)} % of the run's time`;
  };
  const recordEval = async (epoch: number, step: number, at: 'epoch' | 'updates'): Promise<'end' | undefined> => {
    const t0 = performance.now();
    // Not cancelled midway: a stop waits for it, so the checkpoint after this update never lacks its evaluation (a resume starts after it).
    const result = await evaluate(at, epoch, step);
    const seconds = (performance.now() - t0) / 1000;
    cost.evalS += seconds;
    record.evals = [...record.evals.filter((e) => e.step !== step), { epoch, step, result, at, seconds }];
    await trackBest(step);
    if (config.eval.everyUpdates === 'auto') autoEvery();
    else Object.assign(cost, { evalEachS: measure().evalS, updateEachS: measure().updateS });
    await save();
    emit({ type: 'eval-cost', cost: { ...cost }, best: record.best ? { ...record.best } : null });
    const patience = config.eval.patience;
    return patience !== null && record.best && record.best.since >= patience ? 'end' : undefined;
  };
  const afterUpdate = async (step: number): Promise<'end' | undefined> => {
    const t = performance.now();
    updateTimes.push((t - boundaryT) / 1000);
    cost.trainS += (t - boundaryT) / 1000;
    let out: 'end' | undefined;
    if (config.eval.everyUpdates !== null && irSet) {
      if (config.eval.everyUpdates === 'auto' && cost.every === null) autoEvery();
      const last = record.evals.at(-1)?.step ?? 0;
      const due = config.eval.everyUpdates === 'auto' ? cost.every !== null && step - last >= cost.every : step % config.eval.everyUpdates === 0;
      if (due) out = await recordEval(step / trainer.plan.updatesPerEpoch, step, 'updates');
    }
    boundaryT = performance.now();
    return out;
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
    // A best at or before this checkpoint is the one a resume will know: the older best can go.
    if (record.best && record.best.step <= step) await pruneKept([record.best.step]).catch(() => undefined);
    Object.assign(record, { checkpointStep: step, step, losses: lossesOf(trainer.events) });
    await save();
    await store.set('train_log.jsonl', trainLog(trainer.events, record.evals)).catch(() => undefined);
    emit({ type: 'checkpoint', step, bytes: sizeOfValue(parts) });
  };

  try {
    if (checkpoint) {
      await trainer.resume(checkpoint);
      Object.assign(record, { step: trainer.step, checkpointStep: trainer.step, losses: lossesOf(trainer.events) });
      // The best so far among the evaluations the checkpoint came after, with its kept weights.
      const b = bestOf(record.evals.map((e) => ({ step: e.step, value: metricValue(e.result, bestMetric) })));
      if (b && (await store.keys(KEPT_PREFIX)).includes(keptKey(b.best.step))) record.best = { metric: bestMetric, step: b.best.step, value: b.best.value, since: b.since };
      else if (b) emit({ type: 'warning', message: `the weights of the best evaluation so far (update ${b.best.step}) are not in the store; the best is chosen among the evaluations from here on` });
      await pruneKept(record.best ? [record.best.step] : []);
    }
    emit({
      type: 'start', runId: o.runId, resumedFrom: checkpoint ? trainer.step : null, maxSteps: trainer.plan.maxSteps,
      train: data.train.length, test: data.test.length, encoder: encoder.describe(),
      steps: trainer.events.filter((e): e is StepEvent => e.type === 'step'),
    });
    await save();

    if (config.eval.before && irSet && !record.before) {
      emit({ type: 'phase', phase: 'eval-before' });
      const t0 = performance.now();
      record.before = await evaluate('before', null, 0, signal);
      beforeS = (performance.now() - t0) / 1000;
      await save();
    } else if (record.before) emit({ type: 'eval', which: 'before', epoch: null, step: 0, result: record.before });
    // A resumed run's evaluations during training up to its checkpoint, again: the page's nDCG chart
    // (and the CLI's log) start from the whole history, not from the next evaluation.
    for (const e of record.evals) emit({ type: 'eval', which: e.at ?? 'epoch', epoch: e.epoch, step: e.step, result: e.result, seconds: e.seconds, replayed: true });

    emit({ type: 'phase', phase: 'train' });
    const everyEpoch = config.eval.everyEpoch && irSet !== null;
    const during = (config.eval.everyEpoch || config.eval.everyUpdates !== null) && irSet !== null;
    if (config.eval.everyEpoch && !irSet) emit({ type: 'warning', message: 'eval.everyEpoch: the data has no test rows, so there is nothing to evaluate on' });
    if (config.eval.everyUpdates !== null && !irSet) emit({ type: 'warning', message: 'eval.everyUpdates: the data has no test rows, so there is nothing to evaluate on' });
    boundaryT = performance.now();
    const r = await trainer.run({
      signal,
      checkpointEvery: o.checkpointEvery ?? defaultCheckpointEvery(trainer.plan),
      checkpointAtEpochEnd: true,
      onCheckpoint: writeCheckpoint,
      onEpochEnd: everyEpoch ? (epoch, step) => (record.evals.at(-1)?.step === step ? undefined : recordEval(epoch + 1, step, 'epoch')) : undefined,
      afterUpdate: during ? afterUpdate : undefined,
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

    // The plan's last update may come before an epoch's end; HF evaluates there too (and the choice of best or last needs the last).
    if (during && r.step > 0 && record.evals.at(-1)?.step !== r.step) await recordEval(lastEpoch, r.step, config.eval.everyUpdates !== null ? 'updates' : 'epoch');
    record.earlyStopped = r.ended === true;
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
    let weights: ReadonlyMap<string, Float32Array> = await trainer.weights();
    /** The kept/ file that stays once the model is written: the choice not taken (the model holds the other). */
    let keepOther: number[] = [];
    if (during && record.best) {
      const kept = keptChoice(record, r.step, config.eval.best !== null || record.earlyStopped, config.eval.patience);
      if (kept.best !== kept.last) {
        if (kept.choice === 'best') {
          await store.set(keptKey(kept.last), keptFile(weights, shapes));
          weights = await readKeptWeights(store, kept.best);
        }
        keepOther = [kept.choice === 'best' ? kept.last : kept.best];
      }
      record.kept = kept;
      if (after) after = record.evals.find((e) => e.step === kept.step)?.result ?? after;
    } else await store.delPrefix(KEPT_PREFIX);
    record.after = after;

    emit({ type: 'phase', phase: 'save' });
    const files = runOutputs(record, model, weights, trainer.events);
    for (const [path, bytes] of files) await store.set(path, bytes);
    record.modelBytes = [...files].reduce((n, [path, b]) => n + (RUN_OUTPUT_EXTRAS.has(path) ? 0 : sizeOfValue(b)), 0);
    await pruneKept(keepOther);
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
  const { query, document } = asRunConfigError(() => resolvePrompts(config.prompts, model, modelId));
  return { query, document };
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

/**
 * Which weights a finished run keeps (docs/training.md#the-best-checkpoint): the best when eval.best
 * names a metric or early stopping ended the run, else the last; and why, in words.
 */
export function keptChoice(record: Pick<RunRecord, 'best' | 'evals'>, last: number, pickBest: boolean, patience: number | null): KeptRecord {
  const best = record.best!;
  const words = metricWords(best.metric);
  const lastEval = record.evals.find((e) => e.step === last);
  const lastValue = lastEval ? metricValue(lastEval.result, best.metric) : null;
  const fmt = (v: number | null) => (v === null ? '?' : v.toFixed(4));
  if (best.step === last) return { choice: pickBest ? 'best' : 'last', step: last, best: last, last, why: `the last update (${last}) is also the best by ${words} (${fmt(best.value)})` };
  if (pickBest && patience !== null && best.since >= patience) {
    return { choice: 'best', step: best.step, best: best.step, last, why: `early stopping: ${words} did not improve for ${best.since} evaluations after update ${best.step} (${fmt(best.value)}; update ${last}: ${fmt(lastValue)})` };
  }
  if (pickBest) return { choice: 'best', step: best.step, best: best.step, last, why: `eval.best: the best ${words} (${fmt(best.value)}) was at update ${best.step}; the last update (${last}) had ${fmt(lastValue)}` };
  return { choice: 'last', step: last, best: best.step, last, why: `the last update (eval.best not set); the best ${words} was ${fmt(best.value)} at update ${best.step}, the last ${fmt(lastValue)}` };
}

/** eval_results.json: before and after (the kept weights'), the table rows, and the evaluations during training with the best and the choice. */
function evalResults(record: RunRecord): Uint8Array {
  const { before, after } = record;
  const rows = after
    ? (before ? beforeAfterRows(before, after) : after.evaluators.map((e) => ({ dim: e.dim, key: 'cosine_ndcg@10', before: null, after: e.metrics[`${e.name}_cosine_ndcg@10`] })))
        .map((r) => ({ key: `dim_${r.dim}_${r.key}`, before: r.before, after: r.after }))
    : [];
  const during = record.evals.map((e) => ({ epoch: e.epoch, step: e.step, at: e.at ?? 'epoch', seconds: e.seconds ?? null, metrics: e.result.metrics }));
  return enc.encode(JSON.stringify({
    before: before?.metrics ?? null, after: after?.metrics ?? null, rows,
    ...(record.evalCost ? { during, best: record.best ?? null, kept: record.kept ?? null, evalCost: record.evalCost, earlyStopped: record.earlyStopped ?? false } : {}),
  }, null, 2) + '\n');
}

/** What runExportWeights takes for a run: one place, so "use the best / the last" writes what the finished run wrote. */
function exportWeightsInput(config: RunConfig, modelConfig: BertConfig, trained: ReadonlyMap<string, Float32Array>, base: ReadonlyMap<string, { data: Float32Array }>) {
  return {
    set: parameterSet(modelConfig, config.trainable), trained, base, seed: config.seed,
    baseModel: publicName(config.model.id), revision: config.model.revision === 'main' ? null : config.model.revision,
  };
}

/** The finished run's output files: the sentence-transformers folder, its log, results and config. */
function runOutputs(record: RunRecord, model: RunModel, weights: ReadonlyMap<string, Float32Array>, events: readonly TrainEvent[]): Map<string, StoreValue> {
  const { config } = record;
  const stConfig = promptsConfigFile(model.files, model.model.prompts, runPrompts(config, model.model.prompts));
  // A LoRA run writes its adapters merged into the weights and, beside them, its PEFT adapter folder's files (docs/export-forms.md).
  // A model trained in place is read again after the run (its arrays are no longer the base), so
  // the adapters merge into those arrays rather than into a second copy of every adapted weight.
  const out = runExportWeights({ ...exportWeightsInput(config, model.model.config, weights, model.model.weights), mergeInPlace: !!model.trainInPlace });
  return exportSentenceTransformers({
    sourceFiles: withSingleWeightsFile(model.files),
    weights: out.weights,
    readme: modelCard(record, { pooling: model.model.pooling }),
    extra: new Map([
      ...(stConfig ? ([[CONFIG_ST_FILE, stConfig]] as const) : []),
      ['train_log.jsonl', trainLog(events, record.evals)],
      ['eval_results.json', evalResults(record)],
      ['run_config.json', enc.encode(JSON.stringify(publicConfig(config), null, 2) + '\n')],
      ...(out.adapterFiles ?? []),
    ]),
  });
}

/** The base model a LoRA run's adapters merge into, for "use the best / the last": its weights and identity (checked against the run's). */
export interface KeptBase {
  weights: ReadonlyMap<string, { data: Float32Array }>;
  identity: ModelIdentity;
}

/**
 * "Use the best (update N) / use the last" after a finished run: rewrites its model folder with the
 * other kept weights (bit-identical to that update's), and the card and eval_results.json to say
 * which and why. The record names the choice; nothing else of the folder changes.
 * A LoRA run's trained tensors are its adapters: the current ones are read from its adapter file,
 * and the chosen ones are merged into the base model's weights (`base`, loaded by the caller from
 * the run's config.model), so the folder is what a run that chose that update at its end wrote.
 */
export async function useKeptWeights(store: Store, which: 'best' | 'last', o: { base?: (record: RunRecord) => Promise<KeptBase> } = {}): Promise<RunRecord> {
  const record = await readRunRecord(store);
  if (!record) throw new Error(`no run record in ${store.description}`);
  const kept = record.kept;
  if (record.status !== 'done' || !kept) throw new Error('only a finished run that evaluated during training keeps a best and a last');
  if (kept.choice === which || kept.best === kept.last) return record;
  const step = which === 'best' ? kept.best : kept.last;
  const weights = await readKeptWeights(store, step);
  const lora = record.config.trainable.mode === 'lora';
  // The folder as it is (model.safetensors holding the other choice): every tensor not trained stays as written.
  const files = new Map<string, Uint8Array>();
  for (const key of await store.keys()) {
    if (key === RUN_RECORD_KEY || key.startsWith(CHECKPOINTS_PREFIX) || key.startsWith(KEPT_PREFIX)) continue;
    const bytes = await store.get(key);
    if (bytes) files.set(key, bytes);
  }
  // Loaded before anything is written, so a missing or different base leaves the folder as it was.
  let base: KeptBase | null = null;
  if (lora) {
    if (!o.base) throw new Error(`this is a LoRA run: switching to the ${which} update merges its adapters into the base model (${record.config.model.id}), which is not given here`);
    base = await o.base(record);
    const diff = provenanceDifference(record.provenance, { ...record.provenance, model: base.identity });
    if (diff) throw new Error(`this LoRA run was trained from ${describeModel(record.provenance.model)}, but the base model given to merge its adapters into is ${describeModel(base.identity)}`);
  }
  // Only the choice not taken is kept (one weights file, not two): the model's current trained tensors go to kept/ first.
  const current = parseSafetensors(files.get('model.safetensors') ?? fail(`${store.description} has no model.safetensors`));
  const config = JSON.parse(new TextDecoder().decode(files.get('config.json') ?? fail(`${store.description} has no config.json`))) as { model_type?: unknown };
  const arch = architectureOfType(config.model_type);
  if (!arch) throw new Error(`${store.description}: config.json names model_type ${JSON.stringify(config.model_type)}, which no family builds`);
  const held = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of current.tensors) {
    const bare = bareWeightName(arch, name);
    // model.safetensors holds a LoRA run's adapters merged; they themselves are in the adapter file.
    if (!weights.has(bare) || isLoraName(bare)) continue;
    if (!(t.data instanceof Float32Array)) throw new Error(`model.safetensors: ${name} is not float32`);
    held.set(bare, t.data.slice());
    shapes.set(bare, t.shape);
  }
  if (lora) {
    const adapterBytes = files.get(ADAPTER_WEIGHTS_FILE) ?? fail(`this LoRA run's folder has no ${ADAPTER_WEIGHTS_FILE} (its current adapters)`);
    const parsed = parseSafetensors(adapterBytes);
    const adapters = adaptersFromPeft(parsed.tensors);
    for (const [name, w] of adapters) {
      if (!weights.has(name)) continue; // adapters no graph trains (the pooler's) are written from the seed, as at the end of the run
      held.set(name, w.slice());
      shapes.set(name, parsed.tensors.get(peftKey(name))!.shape);
    }
  }
  if (held.size !== weights.size) throw new Error(`${lora ? `model.safetensors and ${ADAPTER_WEIGHTS_FILE} hold` : 'model.safetensors holds'} ${held.size} of the ${weights.size} trained tensors`);
  const source = loadSentenceModel(files);
  const out = base
    ? runExportWeights(exportWeightsInput(record.config, source.config, weights, base.weights))
    : { weights, adapterFiles: null };
  await store.set(keptKey(kept.step), keptFile(held, shapes));
  const evaluation = record.evals.find((e) => e.step === step)?.result ?? null;
  const metric = record.best ? metricWords(record.best.metric) : 'the metric';
  record.kept = { ...kept, choice: which, step, why: `chosen after the run: the ${which} update (${step})${evaluation && record.best ? `, ${metric} ${metricValue(evaluation, record.best.metric).toFixed(4)}` : ''}` };
  if (record.after) record.after = evaluation ?? record.after;
  const written = exportSentenceTransformers({
    sourceFiles: files, weights: out.weights, readme: modelCard(record, { pooling: source.pooling }),
    extra: new Map([['eval_results.json', evalResults(record)], ...(out.adapterFiles ?? [])]),
  });
  for (const [path, bytes] of written) await store.set(path, bytes);
  await writeRunRecord(store, record);
  await store.del(keptKey(step));
  return record;
}

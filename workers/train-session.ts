// The engine worker's training and evaluation: runs the Trainer and evaluateModel on the engine's
// runtime with the model and data the loaders hold, reports through one batched callback, writes
// checkpoints and the run record into IndexedDB (run/{runId}/…), and resumes a stored run.
// Not the training logic (src/lib/train/trainer.ts) nor the metrics (src/lib/eval/): it wires them.

import type { ColumnMapping } from '../src/lib/data/columns.ts';
import { prepareDataset, type PreparedDataset } from '../src/lib/data/dataset.ts';
import { defaultEvalDims, evaluateModel, type EvalProgress } from '../src/lib/eval/evaluate-model.ts';
import type { IrResult } from '../src/lib/eval/ir-metrics.ts';
import { buildIrSet } from '../src/lib/eval/ir-set.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { loadSentenceModel, type SentenceModel } from '../src/lib/models/sentence-model.ts';
import { createRuntime, type Runtime } from '../src/lib/runtime/index.ts';
import { IdbStore } from '../src/lib/store/idb-store.ts';
import { runKey, type Store } from '../src/lib/store/store.ts';
import { loadTokenizer, tokenizerFilesFromMap, type TextTokenizer } from '../src/lib/tokenize/tokenizer.ts';
import { parseRunConfig, type RunConfig } from '../src/lib/train/run-config.ts';
import { Trainer } from '../src/lib/train/trainer.ts';
import type { DatasetSummary, RunEvent, RunRecord, RunRuntime, RunSummary, StepEvent, TrainRequest } from './api.ts';
import { probeBackend, probeEnvFromGlobals } from './backend-probe.ts';
import { engineRuntime, selfTest } from './engine-runtime.ts';
import { currentData, currentModel, summarize } from './loaders.ts';

/** Step events are forwarded at most this often (ms); the rest wait in the batch. */
const STEP_FLUSH_MS = 150;

let store: Store | null = null;
const getStore = () => (store ??= new IdbStore());

let loaded: { files: object; model: SentenceModel; tokenizer: TextTokenizer } | null = null;
let wasmRuntime: Promise<Runtime> | null = null;
let active: AbortController | null = null;
/** The encoder holding the last run's trained weights, for evaluate(). */
let trained: { encoder: BertEncoder; modelFiles: object } | null = null;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const encodeJson = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));

function loadedModel(): { model: SentenceModel; tokenizer: TextTokenizer; commit: string; repo: string } {
  const m = currentModel;
  if (!m) throw new Error('no model is loaded: download one first');
  const src = m.source;
  const repo = src.kind === 'hub' ? src.repo : src.name;
  if (loaded?.files !== m.files) {
    loaded = { files: m.files, model: loadSentenceModel(m.files), tokenizer: loadTokenizer(tokenizerFilesFromMap(m.files, repo)) };
  }
  return { ...loaded, commit: src.kind === 'hub' ? src.commit : '', repo };
}

function preparedData(config: RunConfig): PreparedDataset {
  const d = currentData;
  if (!d) throw new Error('no data set is loaded: load one first');
  const p = prepareDataset(d.splits, {
    source: d.source,
    mapping: config.data.columns ?? undefined,
    testFraction: config.data.testFraction,
    seed: config.data.splitSeed,
  });
  if (!p.usable) throw new Error(p.issues.find((i) => i.level === 'error')?.message ?? 'the data set has no usable training rows');
  return p;
}

export async function setMapping(mapping: ColumnMapping | null): Promise<DatasetSummary> {
  const d = currentData;
  if (!d) throw new Error('no data set is loaded');
  return summarize(d.source, d.splits, d.via, d.offline, mapping ?? undefined);
}

/** The runtime the config asks for; `auto` is the engine's own pick (WebGPU, else WASM). */
async function runtimeFor(config: RunConfig): Promise<{ runtime: Runtime; info: RunRuntime }> {
  const engine = await selfTest();
  const describe = (r: Runtime, why: string): RunRuntime => {
    const d = r.describe();
    return { kind: d.kind, backend: d.backend, threads: d.threads, why };
  };
  if (config.backend === 'auto') {
    const r = await engineRuntime();
    return { runtime: r, info: describe(r, engine.fallbackReason ? `WebGPU not used: ${engine.fallbackReason}` : 'WebGPU adapter found and its self-test passed') };
  }
  if (config.backend === 'node') throw new Error('backend "node" is the CLI\'s; in the page choose auto, webgpu or wasm');
  if (config.backend === 'webgpu') {
    if (engine.kind !== 'webgpu') throw new Error(`backend "webgpu" was asked for, but WebGPU is not available here: ${engine.fallbackReason}`);
    const r = await engineRuntime();
    return { runtime: r, info: describe(r, 'backend "webgpu" in the run config') };
  }
  if (engine.kind === 'wasm') {
    const r = await engineRuntime();
    return { runtime: r, info: describe(r, 'backend "wasm" in the run config') };
  }
  wasmRuntime ??= probeBackend(probeEnvFromGlobals()).then((p) => createRuntime('wasm', { threads: p.wasm.threads }));
  const r = await wasmRuntime;
  return { runtime: r, info: describe(r, 'backend "wasm" in the run config (WebGPU is available)') };
}

function evalDims(config: RunConfig, hidden: number): number[] {
  return config.loss.matryoshka ? [...config.loss.matryoshka.dims] : defaultEvalDims(hidden);
}

async function readRecord(runId: string): Promise<RunRecord | null> {
  const bytes = await getStore().get(runKey(runId, 'history'));
  return bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as RunRecord) : null;
}

export async function runs(): Promise<RunRecord[]> {
  const s = getStore();
  const out: RunRecord[] = [];
  for (const key of await s.keys('run/')) {
    if (!key.endsWith('/history')) continue;
    const r = await readRecord(key.split('/')[1]);
    if (r) out.push(r);
  }
  return out.sort((a, b) => b.updated - a.updated);
}

function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function cancel(): Promise<void> {
  active?.abort();
}

export async function train(req: TrainRequest, onEvent?: (e: RunEvent) => void): Promise<RunSummary> {
  if (active) throw new Error('a run is already in progress');
  const abort = new AbortController();
  active = abort;
  let pending: StepEvent[] = [];
  let lastFlush = 0;
  const flush = () => {
    if (pending.length) onEvent?.({ type: 'steps', steps: pending });
    pending = [];
    lastFlush = performance.now();
  };
  const emit = (e: RunEvent) => {
    flush();
    onEvent?.(e);
  };
  const s = getStore();
  let record: RunRecord | null = null;
  const save = async () => {
    if (!record) return;
    record.updated = Date.now();
    try {
      await s.set(runKey(record.runId, 'history'), encodeJson(record));
    } catch (e) {
      emit({ type: 'warning', message: `could not save the run record: ${message(e)}` });
    }
  };
  try {
    emit({ type: 'phase', phase: 'prepare' });
    const { model, tokenizer, commit } = loadedModel();
    const config = parseRunConfig(req.config, { hidden: model.config.hiddenSize });
    const data = preparedData(config);
    const { runtime, info } = await runtimeFor(config);
    emit({ type: 'runtime', runtime: info });

    if (trained) {
      await trained.encoder.dispose();
      trained = null;
    }
    const previous = req.resumeRunId ? await readRecord(req.resumeRunId) : null;
    if (req.resumeRunId && !previous) throw new Error(`no stored run ${req.resumeRunId}`);
    const encoder = await BertEncoder.create(runtime, model);
    const trainer = new Trainer({
      runtime,
      model,
      tokenizer,
      config,
      train: data.train,
      encoder,
      onEvent: (e) => {
        if (e.type === 'step') {
          pending.push(e);
          if (performance.now() - lastFlush >= STEP_FLUSH_MS) flush();
        } else if (e.type === 'path') emit({ type: 'path', path: e.path, miniBatchSize: e.miniBatchSize, why: e.why });
      },
    });
    const runId = previous?.runId ?? newRunId();
    record = previous ?? {
      runId, config, status: 'running', step: 0, maxSteps: trainer.plan.maxSteps, checkpointStep: null, modelCommit: commit,
      dataSource: currentData!.source, before: null, after: null, losses: [], error: null, started: Date.now(), updated: Date.now(),
    };
    record.status = 'running';
    record.error = null;
    const set = buildIrSet(data.train, data.test, { mode: config.eval.recipeCompatible ? 'recipe' : 'default' });
    const dims = evalDims(config, model.config.hiddenSize);
    const evaluate = async (which: 'before' | 'after'): Promise<IrResult> => {
      emit({ type: 'phase', phase: which === 'before' ? 'eval-before' : 'eval-after' });
      let last = 0;
      const result = await evaluateModel({
        encoder, tokenizer, set, dims, signal: abort.signal,
        onProgress: (p: EvalProgress) => {
          const now = performance.now();
          if (p.phase === 'embed' && p.done < p.total && now - last < STEP_FLUSH_MS) return;
          last = now;
          emit({ type: 'eval-progress', which, progress: p });
        },
      });
      emit({ type: 'eval', which, result });
      return result;
    };

    let resumeBytes: Uint8Array | null = null;
    if (previous) {
      if (previous.checkpointStep === null) throw new Error(`run ${previous.runId} has no checkpoint to resume from`);
      resumeBytes = (await s.get(runKey(previous.runId, `checkpoint/${previous.checkpointStep}/checkpoint.bin`))) ?? null;
      if (!resumeBytes) throw new Error(`run ${previous.runId}: its checkpoint at step ${previous.checkpointStep} is missing from storage`);
    }
    emit({ type: 'start', runId, resumedFrom: previous?.checkpointStep ?? null, maxSteps: trainer.plan.maxSteps, train: data.train.length, test: data.test.length });
    await save();

    if (config.eval.before && !record.before) {
      record.before = await evaluate('before');
      await save();
    } else if (record.before) emit({ type: 'eval', which: 'before', result: record.before });

    if (resumeBytes) {
      await trainer.resume(resumeBytes);
      const earlier = trainer.events.filter((e): e is StepEvent => e.type === 'step');
      if (earlier.length) emit({ type: 'steps', steps: earlier });
    }
    emit({ type: 'phase', phase: 'train' });
    const every = req.checkpointEvery ?? Math.max(1, Math.ceil(trainer.plan.maxSteps / 4));
    const writeCheckpoint = async (bytes: Uint8Array, step: number) => {
      const old = record!.checkpointStep;
      try {
        await s.set(runKey(runId, `checkpoint/${step}/checkpoint.bin`), bytes);
      } catch (e) {
        emit({ type: 'warning', message: `checkpoint at step ${step} not stored: ${message(e)}` });
        return;
      }
      if (old !== null && old !== step) await s.delPrefix(runKey(runId, `checkpoint/${old}/`));
      record!.checkpointStep = step;
      record!.step = step;
      record!.losses = trainer.events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);
      await save();
      emit({ type: 'checkpoint', step, bytes: bytes.byteLength });
    };
    const r = await trainer.run({ signal: abort.signal, checkpointEvery: every, onCheckpoint: writeCheckpoint });
    flush();
    if (r.stopped && record.checkpointStep !== r.step && r.step > 0) await writeCheckpoint(trainer.checkpoint(), r.step);
    record.step = r.step;
    record.losses = trainer.events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);
    const path = trainer.path?.path ?? null;
    await trainer.dispose();
    trained = { encoder, modelFiles: loaded!.files };
    if (r.stopped) {
      record.status = 'stopped';
      await save();
      return { runId, step: r.step, maxSteps: trainer.plan.maxSteps, stopped: true, path, runtime: info, before: record.before, after: null };
    }
    if (config.eval.after) record.after = await evaluate('after');
    // A finished run needs no checkpoint (bge-base's is weights + two Adam moments, ~1.3 GB).
    await s.delPrefix(runKey(runId, 'checkpoint/'));
    record.checkpointStep = null;
    record.status = 'done';
    await save();
    emit({ type: 'phase', phase: 'done' });
    return { runId, step: r.step, maxSteps: trainer.plan.maxSteps, stopped: false, path, runtime: info, before: record.before, after: record.after };
  } catch (e) {
    flush();
    if (record) {
      record.status = abort.signal.aborted ? 'stopped' : 'failed';
      record.error = abort.signal.aborted ? null : message(e);
      await save();
    }
    if (abort.signal.aborted) throw new Error('the run was cancelled');
    throw e;
  } finally {
    active = null;
  }
}

export async function evaluate(config: RunConfig, onProgress?: (p: EvalProgress) => void): Promise<{ model: 'trained' | 'base'; result: IrResult }> {
  const { model, tokenizer } = loadedModel();
  const cfg = parseRunConfig(config, { hidden: model.config.hiddenSize });
  const data = preparedData(cfg);
  const set = buildIrSet(data.train, data.test, { mode: cfg.eval.recipeCompatible ? 'recipe' : 'default' });
  const useTrained = trained !== null && trained.modelFiles === loaded?.files;
  const encoder = useTrained ? trained!.encoder : await BertEncoder.create((await runtimeFor(cfg)).runtime, model);
  try {
    const result = await evaluateModel({ encoder, tokenizer, set, dims: evalDims(cfg, model.config.hiddenSize), onProgress });
    return { model: useTrained ? 'trained' : 'base', result };
  } finally {
    if (!useTrained) await encoder.dispose();
  }
}

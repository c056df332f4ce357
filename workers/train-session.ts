// The engine worker's runs: the comlink adapter over the run orchestrator (src/lib/run/run.ts).
// It picks the runtime the config asks for, hands the orchestrator the loaded model and data and
// the run's own store (`run/{runId}/` in IndexedDB), and forwards its events to the page —
// step events batched, progress events rate-limited. It also lists stored runs ("My models" are
// the finished ones), renames them, reads their files, and evaluates a stored model again.
// Not the training or evaluation logic: that is the library's.

import { prepareDataset, type PreparedDataset } from '../src/lib/data/dataset.ts';
import { type EvalProgress, evaluateModel } from '../src/lib/eval/evaluate-model.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { loadSentenceModel } from '../src/lib/models/sentence-model.ts';
import { modelIdentity } from '../src/lib/run/identity.ts';
import { readRunRecord, type RunRecord, storedRunId, withNewestCheckpoint, writeRunRecord } from '../src/lib/run/record.ts';
import { accountedFileBytes, buildRunIrSet, type KeptBase, type RunEvent, runEvalDims, runPrompts, runTraining, useKeptWeights } from '../src/lib/run/run.ts';
import { createRuntime, type Runtime } from '../src/lib/runtime/index.ts';
import { prefixedStore, runKey, type Store } from '../src/lib/store/store.ts';
import { loadTokenizer, tokenizerFilesFromMap } from '../src/lib/tokenize/tokenizer.ts';
import { parseRunConfig, type RunConfig } from '../src/lib/train/run-config.ts';
import { Trainer } from '../src/lib/train/trainer.ts';
import type { EvaluateRequest, EvaluateResult, MemoryPlanReport, RunRuntime, RunSummary, StepEvent, TrainRequest, WorkerRunEvent } from './api.ts';
import { probeBackend, probeEnvFromGlobals } from './backend-probe.ts';
import type { EngineState } from './engine-state.ts';
import { engineChoice, engineRuntime } from './engine-runtime.ts';
import { storedModelFiles } from './loaders.ts';

/** Step events are forwarded at most this often (ms); the rest wait in the batch. */
const FLUSH_MS = 150;

const runStore = (state: EngineState, runId: string): Store => prefixedStore(state.store, runKey(runId));

export function preparedData(state: EngineState, config: RunConfig): PreparedDataset {
  const d = state.data;
  if (!d) throw new Error('no data set is loaded: load one first');
  const p = prepareDataset(d.splits, { source: d.source, mapping: config.data.columns ?? undefined, testFraction: config.data.testFraction, seed: config.data.splitSeed, remedies: config.data });
  if (!p.usable) throw new Error(p.issues.find((i) => i.level === 'error')?.message ?? 'the data set has no usable training rows');
  return p;
}

/** The runtime the config asks for; `auto` is the engine's own pick (WebGPU, else WASM). */
export async function runtimeFor(state: EngineState, config: RunConfig): Promise<{ runtime: Runtime; info: RunRuntime }> {
  const engine = await engineChoice();
  const describe = (r: Runtime, why: string): RunRuntime => {
    const d = r.describe();
    return { kind: d.kind, backend: d.backend, threads: d.threads, why };
  };
  const lost = (engine.runtime as { lost?: string | null }).lost ?? null;
  if (config.backend === 'auto' && !lost) {
    const r = await engineRuntime();
    return { runtime: r, info: describe(r, engine.fallbackReason ? `WebGPU not used: ${engine.fallbackReason}` : 'WebGPU adapter found and its self-test passed') };
  }
  if (config.backend === 'webgpu' && lost) throw new Error(`backend "webgpu" was asked for, but the GPU device was lost (${lost}); reload the page to get a new one, or continue on WASM`);
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
  state.wasmRuntime ??= probeBackend(probeEnvFromGlobals()).then((p) => createRuntime('wasm', { threads: p.wasm.threads }));
  const r = await state.wasmRuntime;
  return { runtime: r, info: describe(r, lost ? `the GPU device was lost (${lost}), so WASM` : 'backend "wasm" in the run config (WebGPU is available)') };
}

export async function runs(state: EngineState): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  for (const key of await state.store.keys('run/')) {
    const m = /^run\/([^/]+)\/run\.json$/.exec(key);
    const store = m ? runStore(state, m[1]) : null;
    const r = store ? await readRunRecord(store).catch(() => null) : null;
    if (store && r) out.push(await withNewestCheckpoint(store, r));
  }
  return out.sort((a, b) => b.updated - a.updated);
}

export async function renameRun(state: EngineState, runId: string, name: string): Promise<RunRecord> {
  const store = runStore(state, runId);
  const r = await readRunRecord(store);
  if (!r) throw new Error(`no stored run ${runId}`);
  if (!name.trim()) throw new Error('a model needs a name');
  r.name = name.trim();
  await writeRunRecord(store, r);
  return r;
}

/** "Use the best / use the last" for a finished run: rewrites its model with those kept weights. */
export async function useKept(state: EngineState, runId: string, which: 'best' | 'last'): Promise<RunRecord> {
  if (state.activeRunId === runId) throw new Error('the run is still in progress');
  return useKeptWeights(runStore(state, runId), which, { base: (record) => keptBase(state, record) });
}

/**
 * The base model a LoRA run's adapters merge into when switching: a model trained here (its stored
 * folder), else the loaded model (useKeptWeights checks it is the run's own by identity).
 */
async function keptBase(state: EngineState, record: RunRecord): Promise<KeptBase> {
  const id = record.config.model.id;
  const stored = storedRunId(id);
  if (stored) {
    const { record: base, files } = await storedModelFiles(state, stored);
    return { weights: loadSentenceModel(files).weights, identity: await modelIdentity(base.name, files) };
  }
  if (state.model?.summary.repo !== id) throw new Error(`this LoRA run merges its adapters into its base model ${id}: load that model first, then switch`);
  const { loaded, model } = state.parsedModel({ weights: true });
  return { weights: model.weights, identity: await modelIdentity(loaded.summary.name, loaded.files, loaded.hub) };
}

/** One file of a stored run (its model folder, log, record), or null. */
export async function runFile(state: EngineState, runId: string, path: string): Promise<Uint8Array | null> {
  return (await runStore(state, runId).get(path)) ?? null;
}

function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function cancel(state: EngineState): Promise<void> {
  state.active?.abort();
}

/** Destroys the engine's GPU device as a driver reset would; false when the engine is not on WebGPU. */
export async function simulateDeviceLoss(): Promise<boolean> {
  const r = (await engineRuntime()) as { loseDevice?: () => void };
  if (!r.loseDevice) return false;
  r.loseDevice();
  return true;
}

/** Forwards run events: steps batched, progress rate-limited, everything else at once. */
function forwarder(onEvent?: (e: WorkerRunEvent) => void) {
  let steps: StepEvent[] = [];
  let lastFlush = 0;
  const flush = () => {
    if (steps.length) onEvent?.({ type: 'steps', steps });
    steps = [];
    lastFlush = performance.now();
  };
  let lastProgress = 0;
  const forward = (e: RunEvent | WorkerRunEvent) => {
    if (e.type === 'step') {
      steps.push(e);
      if (performance.now() - lastFlush >= FLUSH_MS) flush();
      return;
    }
    // Micro-batch events are not thinned: one per micro-batch, and the page shows where an update is.
    // GradCache's mini-batch events are (a tiny model makes hundreds a second); the last of a pass is kept.
    const partial = (e.type === 'eval-progress' && e.progress.phase === 'embed' && e.progress.done < e.progress.total) || (e.type === 'mini-batch' && e.miniBatch < e.of);
    if (partial) {
      const now = performance.now();
      if (now - lastProgress < FLUSH_MS) return;
      lastProgress = now;
    }
    flush();
    onEvent?.(e as WorkerRunEvent);
  };
  return { forward, flush };
}

/** navigator.deviceMemory (GB, rounded to a power of two and capped by the browser), or null where it is not reported. */
function deviceMemoryGb(): number | null {
  return (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? null;
}

/** What the memory account needs from the worker: the device's memory, that it is a tab's run, and on WebGPU the adapter's largest buffer. */
async function memoryInputs(runtime: Runtime): Promise<{ deviceMemoryBytes?: number; gpuMaxBindingBytes?: number; inTab: true }> {
  const gb = deviceMemoryGb();
  const binding = runtime.describe().kind === 'webgpu' ? (await engineChoice()).gpuMaxBindingBytes : null;
  return { ...(gb ? { deviceMemoryBytes: gb * 2 ** 30 } : {}), ...(binding ? { gpuMaxBindingBytes: binding } : {}), inTab: true };
}

export async function memoryPlan(state: EngineState, request: RunConfig): Promise<MemoryPlanReport> {
  const { loaded, model, tokenizer } = state.parsedModel();
  const config = parseRunConfig(request, { hidden: model.config.hiddenSize });
  const data = preparedData(state, config);
  const { runtime } = await runtimeFor(state, config);
  const fileBytes = accountedFileBytes({ model, files: loaded.files, trainInPlace: true });
  const trainer = new Trainer({ runtime, model, tokenizer, config, train: data.train, memory: { ...(await memoryInputs(runtime)), fileBytes } });
  return { plan: trainer.memoryPlan(), deviceMemoryGb: deviceMemoryGb(), runtimeKind: runtime.describe().kind };
}

export async function train(state: EngineState, req: TrainRequest, onEvent?: (e: WorkerRunEvent) => void): Promise<RunSummary> {
  if (state.active) throw new Error('a run is already in progress');
  const abort = new AbortController();
  state.active = abort;
  const { forward, flush } = forwarder(onEvent);
  try {
    await state.disposeExplorer();
    const { loaded, model, tokenizer } = state.parsedModel();
    const config = parseRunConfig(req.config, { hidden: model.config.hiddenSize });
    const data = preparedData(state, config);
    const { runtime, info } = await runtimeFor(state, config);
    forward({ type: 'runtime', runtime: info });
    const runId = req.resumeRunId ?? newRunId();
    state.activeRunId = runId;
    const store = runStore(state, runId);
    if (req.resumeRunId) {
      const stored = await readRunRecord(store);
      if (!stored) throw new Error(`no stored run ${runId}`);
      const previous = await withNewestCheckpoint(store, stored);
      if (previous.checkpointStep === null) throw new Error(`run ${runId} has no checkpoint to resume from`);
    }
    const identity = await modelIdentity(loaded.summary.name, loaded.files, loaded.hub);
    // The loaded model's weights are trained in place (one copy fewer) and read again afterwards.
    state.trainingInPlace = true;
    const outcome = await runTraining({
      store, runtime, config, runId, resume: !!req.resumeRunId, checkpointEvery: req.checkpointEvery, signal: abort.signal, onEvent: forward,
      model: { name: loaded.summary.name, model, tokenizer, files: loaded.files, identity, trainInPlace: true },
      data: { source: state.data!.source, train: data.train, test: data.test, generated: state.data!.generated },
      memory: await memoryInputs(runtime),
    });
    flush();
    return { record: outcome.record, runtime: info };
  } finally {
    if (state.trainingInPlace) {
      state.trainingInPlace = false;
      await state.restoreModel();
    }
    flush();
    state.active = null;
    state.activeRunId = null;
  }
}

/** Evaluates a stored run's trained model (runId) or the loaded model on the loaded data set. */
export async function evaluate(state: EngineState, req: EvaluateRequest, onProgress?: (p: EvalProgress) => void): Promise<EvaluateResult> {
  const stored = req.runId ? await storedModelFiles(state, req.runId) : null;
  const { model, tokenizer, name } = stored
    ? { model: loadSentenceModel(stored.files), tokenizer: loadTokenizer(tokenizerFilesFromMap(stored.files, stored.record.name)), name: stored.record.name }
    : { ...state.parsedModel({ weights: true }), name: state.model!.summary.name };
  const config = parseRunConfig(req.config, { hidden: model.config.hiddenSize });
  const set = buildRunIrSet(config, preparedData(state, config));
  if (!set) throw new Error('the data set has no test rows to evaluate on');
  const encoder = await BertEncoder.create((await runtimeFor(state, config)).runtime, model);
  try {
    // A stored model carries the prompts it was trained with in its own config; the loaded one is config.model.id.
    const prompts = runPrompts(config, model.prompts, stored ? stored.record.name : config.model.id);
    const { timing: _timing, ...result } = await evaluateModel({ encoder, tokenizer, set, dims: runEvalDims(config, model.config.hiddenSize), prompts, onProgress });
    return { model: name, runId: req.runId ?? null, result };
  } finally {
    await encoder.dispose();
  }
}

// The page's handle on the engine worker: starts it, calls its API, and keeps what the UI
// renders in runes state (probe, self-test, model and data loads, the run, storage, stored runs).
// It holds no engine logic and never imports onnxruntime; only plain data crosses to the worker
// (runes proxies are snapshotted first), and progress comes back through comlink-proxied callbacks.

import * as Comlink from 'comlink';
import type {
  BackendReport,
  DatasetSummary,
  EngineWorkerApi,
  EvaluateResult,
  ExploreResult,
  MineProgressEvent,
  MineSummaryReport,
  ExportProgress,
  ExportRequest,
  ExportResult,
  GuardReport,
  GuardRequest,
  MemoryPlanReport,
  ModelSummary,
  Progress,
  PushRequest,
  PushSummary,
  RunPhase,
  RunRecord,
  RunRuntime,
  SelfTestReport,
  StepEvent,
  StoragePanel,
  WorkerRunEvent,
} from '../../workers/api.ts';
import type { ColumnMapping } from '../lib/data/columns.ts';
import { dataFileSizeProblem } from '../lib/data/limits.ts';
import type { EvalProgress } from '../lib/eval/evaluate-model.ts';
import type { GuardProgress } from '../lib/eval/nanobeir.ts';
import type { MineOptions } from '../lib/mine/hard-negatives.ts';
import type { BestRecord, EvalCostRecord, KeptRecord, RunEvaluation } from '../lib/run/record.ts';
import type { RunConfig } from '../lib/train/run-config.ts';
import { ProgressWatchdog, stallFloorFor, type WatchProgress } from './progress-watchdog.ts';
import { guardWorker } from './worker-guard.ts';

export type ProbeState =
  | { status: 'idle' }
  | { status: 'probing' }
  | { status: 'done'; report: BackendReport }
  | { status: 'failed'; error: string };

export type SelfTestState =
  | { status: 'idle' }
  | { status: 'running' }
  | { status: 'done'; report: SelfTestReport }
  | { status: 'failed'; error: string };

export type LoadState<T, P = Progress> =
  | { status: 'idle' }
  | { status: 'loading'; what: string; progress: P | null }
  | { status: 'done'; value: T }
  | { status: 'failed'; error: string };

export interface RunView {
  status: 'idle' | 'running' | 'cancelling' | 'done' | 'stopped' | 'failed';
  /** The run's name in "My models". */
  name: string | null;
  runId: string | null;
  phase: RunPhase | null;
  resumedFrom: number | null;
  maxSteps: number;
  trainRows: number;
  testRows: number;
  runtime: RunRuntime | null;
  path: { path: 'fused' | 'gradcache'; miniBatchSize: number | null; why: string; optimizer: 'host' | 'device' } | null;
  evalProgress: { which: 'before' | 'epoch' | 'updates' | 'after'; progress: EvalProgress } | null;
  before: RunEvaluation | null;
  after: RunEvaluation | null;
  /** Evaluations during training: after each epoch (eval.everyEpoch) and every N updates (eval.everyUpdates). */
  epochEvals: { epoch: number; step: number; result: RunEvaluation; seconds?: number }[];
  /** How often evaluation during training runs, its measured cost, and the best so far. */
  evalCost: { cost: EvalCostRecord; best: BestRecord | null } | null;
  /** A finished run that evaluated during training: which update's weights its model holds (best or last), and why. */
  kept: KeptRecord | null;
  earlyStopped: boolean;
  /** Progress inside the update in progress (long accumulation groups). */
  microBatch: { step: number; microBatch: number; of: number } | null;
  /** GradCache: the mini-batch last embedded or differentiated in the update in progress. */
  miniBatch: { step: number; pass: 'embed' | 'gradient'; miniBatch: number; of: number } | null;
  /** Before the first update: the training sessions being compiled (null once all are). */
  compiling: { compiled: number; of: number } | null;
  /** A stop asked in the middle of an update: the update being finished. */
  stopping: { step: number; microBatch: number; of: number } | null;
  checkpointStep: number | null;
  warnings: string[];
  error: string | null;
}

const IDLE_RUN: RunView = {
  status: 'idle', name: null, runId: null, phase: null, resumedFrom: null, maxSteps: 0, trainRows: 0, testRows: 0, runtime: null, path: null,
  evalProgress: null, before: null, after: null, epochEvals: [], evalCost: null, kept: null, earlyStopped: false, microBatch: null, miniBatch: null, compiling: null, stopping: null, checkpointStep: null, warnings: [], error: null,
};

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Work the watchdog stopped: what to tell the user, and how to do it again. */
export interface Stall {
  message: string;
  retry: () => Promise<void>;
}

/** The page's words for a run's phases, in the watchdog's message. */
const PHASE_WORDS: Record<RunPhase, string> = {
  prepare: 'preparing the run', 'eval-before': 'evaluating the base model', train: 'training', 'eval-after': 'evaluating the trained model', save: 'saving the model', done: 'finishing the run',
};
const EVAL_WORDS = { before: 'evaluating the base model', epoch: 'evaluating after the epoch', updates: 'evaluating during training', after: 'evaluating the trained model' } as const;

/**
 * The watchdog's floor: stallFloorFor(the model loaded), except where a test set a smaller one on the page
 * (globalThis.__tabtuneStallFloorMs) so that a deliberate stall shows in seconds. Only a script
 * already running in the page can set it, and a smaller floor only stops work sooner.
 */
function stallFloorMs(): number | undefined {
  const v = (globalThis as { __tabtuneStallFloorMs?: unknown }).__tabtuneStallFloorMs;
  return typeof v === 'number' && v > 0 ? v : undefined;
}

export class Engine {
  #worker: Worker | null = null;
  #api: Comlink.Remote<EngineWorkerApi> | null = null;
  #raw: Comlink.Remote<EngineWorkerApi> | null = null;
  #stopped = $state.raw<string | null>(null);
  #probe = $state.raw<ProbeState>({ status: 'idle' });
  #selfTest = $state.raw<SelfTestState>({ status: 'idle' });
  #model = $state.raw<LoadState<ModelSummary>>({ status: 'idle' });
  #data = $state.raw<LoadState<DatasetSummary>>({ status: 'idle' });
  #run = $state.raw<RunView>(IDLE_RUN);
  #steps = $state.raw<StepEvent[]>([]);
  #storage = $state.raw<StoragePanel | null>(null);
  #storageError = $state.raw<string | null>(null);
  #persisted = $state.raw<boolean | null>(null);
  #runs = $state.raw<RunRecord[]>([]);
  #evalNow = $state.raw<LoadState<EvaluateResult, EvalProgress>>({ status: 'idle' });
  #exporting = $state.raw<LoadState<ExportResult, ExportProgress>>({ status: 'idle' });
  #pushing = $state.raw<LoadState<PushSummary, ExportProgress>>({ status: 'idle' });
  #exploring = $state.raw<LoadState<ExploreResult, EvalProgress>>({ status: 'idle' });
  #exploreQueries = $state.raw<string[]>([]);
  #mining = $state.raw<LoadState<MineSummaryReport, MineProgressEvent>>({ status: 'idle' });
  #memory = $state.raw<LoadState<MemoryPlanReport, null>>({ status: 'idle' });
  #memoryAsked = 0;
  #stall = $state.raw<Stall | null>(null);
  /** After a stall the user asked for one thread: each new worker starts WASM on one thread. */
  #oneThread = false;
  /** What was loaded, so that a retry can load it into a new worker. */
  #sources: { model: [string, string, string] | null; data: [string, string, string] | File | null; mapping: ColumnMapping | null } = { model: null, data: null, mapping: null };

  /** Work that stopped making progress (the worker was stopped and replaced); null otherwise. */
  get stall(): Stall | null {
    return this.#stall;
  }
  get oneThread(): boolean {
    return this.#oneThread;
  }

  get probe(): ProbeState {
    return this.#probe;
  }
  /** Which backend ran the engine's self-test graph, and why that one. */
  get selfTest(): SelfTestState {
    return this.#selfTest;
  }
  get model(): LoadState<ModelSummary> {
    return this.#model;
  }
  get data(): LoadState<DatasetSummary> {
    return this.#data;
  }
  get run(): RunView {
    return this.#run;
  }
  /** Every update's step event of the current run (including those before a resume). */
  get steps(): StepEvent[] {
    return this.#steps;
  }
  get storage(): StoragePanel | null {
    return this.#storage;
  }
  get storageError(): string | null {
    return this.#storageError;
  }
  get persisted(): boolean | null {
    return this.#persisted;
  }
  get runs(): RunRecord[] {
    return this.#runs;
  }
  /** Finished runs: the models trained in this browser, newest first. */
  get models(): RunRecord[] {
    return this.#runs.filter((r) => r.status === 'done');
  }
  get evalNow() {
    return this.#evalNow;
  }
  /** The memory plan of the run the form describes (memoryPlan()). */
  get memory() {
    return this.#memory;
  }
  get mining() {
    return this.#mining;
  }
  get exporting() {
    return this.#exporting;
  }
  get pushing() {
    return this.#pushing;
  }
  get exploring() {
    return this.#exploring;
  }
  /** The explored run's test queries. */
  get exploreQueries(): string[] {
    return this.#exploreQueries;
  }

  /** Why the engine worker stopped (its calls all reject with this); null while it runs. The page offers a reload. */
  get stopped(): string | null {
    return this.#stopped;
  }

  #remote(): Comlink.Remote<EngineWorkerApi> {
    if (!this.#api) {
      this.#worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
        type: 'module',
        name: 'tabtune-engine',
      });
      this.#raw = Comlink.wrap<EngineWorkerApi>(this.#worker);
      const raw = this.#raw;
      // The first message, so it comes before anything that starts the runtime.
      if (this.#oneThread) void raw.limitThreads(1).catch((e) => console.error(`one thread: ${message(e)}`));
      // Every call in flight, and every later one, rejects once the worker has stopped.
      this.#api = guardWorker(this.#worker, raw, {
        ping: () => raw.ping(),
        onStop: (e) => {
          this.#stopped = e.message;
          if (this.#probe.status === 'probing') this.#probe = { status: 'failed', error: e.message };
        },
      }).remote;
    }
    return this.#api;
  }

  async runProbe(): Promise<void> {
    this.#probe = { status: 'probing' };
    try {
      this.#probe = { status: 'done', report: await this.#remote().probe() };
    } catch (error) {
      this.#probe = { status: 'failed', error: message(error) };
    }
  }

  async runSelfTest(): Promise<void> {
    this.#selfTest = { status: 'running' };
    try {
      const report = await this.#watched({ phase: 'the self-test', done: 0, total: 1, unit: 'graphs' }, () => this.runSelfTest(), () => this.#remote().selfTest());
      this.#selfTest = { status: 'done', report };
    } catch (error) {
      this.#selfTest = { status: 'failed', error: message(error) };
    }
  }

  // ---- models and data ------------------------------------------------------------------------

  async loadModel(hubUrl: string, repo: string, revision: string): Promise<void> {
    this.#sources.model = [hubUrl, repo, revision];
    this.#model = { status: 'loading', what: repo, progress: null };
    const onProgress = Comlink.proxy((p: Progress) => {
      if (this.#model.status === 'loading') this.#model = { ...this.#model, progress: p };
    });
    try {
      // Watched too: a model load writes IndexedDB, and a write that never ends is a stall.
      const value = await this.#watched({ phase: 'loading the model', done: 0, total: null, unit: 'bytes' }, () => this.loadModel(hubUrl, repo, revision), (watch) =>
        this.#remote().loadModel({ hubUrl, repo, revision }, Comlink.proxy((p: Progress) => (watch({ phase: `loading the model (${p.phase})`, done: p.loaded, total: p.total, unit: 'bytes' }), onProgress(p)))),
      );
      this.#model = { status: 'done', value };
    } catch (error) {
      this.#model = { status: 'failed', error: message(error) };
    }
    void this.refreshStorage();
  }

  async loadDataset(hubUrl: string, repo: string, revision: string): Promise<void> {
    this.#sources = { ...this.#sources, data: [hubUrl, repo, revision], mapping: null };
    this.#data = { status: 'loading', what: repo, progress: null };
    const onProgress = Comlink.proxy((p: Progress) => {
      if (this.#data.status === 'loading') this.#data = { ...this.#data, progress: p };
    });
    try {
      this.#data = { status: 'done', value: await this.#remote().loadDataset({ hubUrl, repo, revision }, onProgress) };
    } catch (error) {
      this.#data = { status: 'failed', error: message(error) };
    }
    void this.refreshStorage();
  }

  async loadDataFile(file: File): Promise<void> {
    this.#sources = { ...this.#sources, data: file, mapping: null };
    this.#data = { status: 'loading', what: file.name, progress: null };
    try {
      const tooLarge = dataFileSizeProblem(file.size); // before the file is read
      if (tooLarge) throw new Error(`${file.name}: ${tooLarge}`);
      const bytes = new Uint8Array(await file.arrayBuffer());
      this.#data = { status: 'done', value: await this.#remote().loadDataFile(file.name, Comlink.transfer(bytes, [bytes.buffer])) };
    } catch (error) {
      this.#data = { status: 'failed', error: message(error) };
    }
  }

  /** Mines hard negatives for the loaded data with the loaded model; the mined set becomes the loaded data. */
  async mine(config: RunConfig, options: MineOptions): Promise<boolean> {
    this.#mining = { status: 'loading', what: 'mining', progress: null };
    const onProgress = Comlink.proxy((p: MineProgressEvent) => {
      if (this.#mining.status === 'loading') this.#mining = { ...this.#mining, progress: p };
    });
    try {
      const r = await this.#watched({ phase: 'mining', done: 0, total: null, unit: 'texts' }, async () => void ((await this.#reloadSources()) && (await this.mine(config, options))), (watch) =>
        this.#remote().mine({ config, options }, Comlink.proxy((p: MineProgressEvent) => (watch({ phase: `mining (${p.split}, ${p.phase})`, done: p.done, total: p.total, unit: p.phase === 'embed' ? 'texts' : 'rows' }), onProgress(p)))),
      );
      this.#mining = { status: 'done', value: r };
      this.#data = { status: 'done', value: r.dataset };
      void this.refreshStorage();
      return true;
    } catch (error) {
      this.#mining = { status: 'failed', error: message(error) };
      return false;
    }
  }

  /**
   * The worker's documents-only methods (generate.svelte.ts keeps their state): documents, the
   * generation job, the consistency filter, the generated set's files and Hub push.
   */
  get generation(): Pick<Comlink.Remote<EngineWorkerApi>, 'loadDocuments' | 'prepareGeneration' | 'generationJobs' | 'filterGenerated' | 'generatedFile' | 'pushGenerated'> {
    return this.#remote();
  }

  /** A data set the worker made the loaded one (the filtered generated set): Train and Evaluate use it like a loaded file. */
  useDataset(hubUrl: string, value: DatasetSummary): void {
    this.#sources = { ...this.#sources, data: [hubUrl, value.source, 'main'], mapping: null };
    this.#data = { status: 'done', value };
    void this.refreshStorage();
  }

  /** Re-validates the loaded data with this mapping (null: the automatic one). */
  async setMapping(mapping: ColumnMapping | null): Promise<void> {
    this.#sources.mapping = mapping;
    try {
      this.#data = { status: 'done', value: await this.#remote().setMapping(mapping) };
    } catch (error) {
      this.#data = { status: 'failed', error: message(error) };
    }
  }

  // ---- training and evaluation ----------------------------------------------------------------

  /** Asks the worker for the memory account of training with this config; the latest ask wins. */
  async memoryPlan(config: RunConfig): Promise<void> {
    const ask = ++this.#memoryAsked;
    if (this.#memory.status !== 'done') this.#memory = { status: 'loading', what: 'memory account', progress: null };
    try {
      const value = await this.#remote().memoryPlan(config);
      if (ask === this.#memoryAsked) this.#memory = { status: 'done', value };
    } catch (error) {
      if (ask === this.#memoryAsked) this.#memory = { status: 'failed', error: message(error) };
    }
  }

  /** The memory account of `config` as a value, leaving the form's own (memoryPlan) as it is: the "What to train" control compares modes with it. */
  memoryPlanOf(config: RunConfig): Promise<MemoryPlanReport> {
    return this.#remote().memoryPlan(config);
  }

  async train(config: RunConfig, resumeRunId?: string): Promise<void> {
    this.#run = { ...IDLE_RUN, status: 'running', warnings: [] };
    this.#steps = [];
    this.#evalNow = { status: 'idle' };
    try {
      const retry = () => this.#retryRun(config, resumeRunId);
      const { record, runtime } = await this.#watched({ phase: 'starting the run', done: 0, total: null, unit: 'updates' }, retry, (watch) =>
        this.#remote().train({ config, ...(resumeRunId ? { resumeRunId } : {}) }, Comlink.proxy((e: WorkerRunEvent) => (this.#onRunEvent(e), watch(this.#runProgress(e))))),
      );
      this.#run = {
        ...this.#run, status: record.status === 'done' ? 'done' : 'stopped', runId: record.runId, name: record.name, checkpointStep: record.checkpointStep,
        before: record.before, after: record.after, runtime, evalProgress: null, microBatch: null, miniBatch: null, compiling: null, stopping: null, kept: record.kept ?? null, earlyStopped: record.earlyStopped ?? false,
      };
    } catch (error) {
      this.#run = { ...this.#run, status: 'failed', error: message(error), evalProgress: null, microBatch: null, miniBatch: null, compiling: null, stopping: null };
    }
    void this.refreshRuns();
    void this.refreshStorage();
  }

  /** Where the run is, for the watchdog: every event counts as progress; the phase and count say where. */
  #runProgress(e: WorkerRunEvent): WatchProgress {
    const r = this.#run;
    if (e.type === 'eval-progress') return { phase: EVAL_WORDS[e.which], done: e.progress.done, total: e.progress.total, unit: 'texts' };
    // Compiling is its own phase (a gap measure of its own); GradCache's mini-batches stay "training".
    if (e.type === 'compile' && e.next !== null) return { phase: 'compiling the training graphs', done: e.compiled, total: e.of, unit: 'graphs' };
    const phase = r.phase ? PHASE_WORDS[r.phase] : 'starting the run';
    return { phase, done: this.#steps.at(-1)?.step ?? 0, total: r.maxSteps || null, unit: 'updates' };
  }

  /** A stalled run again, in a new worker: from its checkpoint when it has one, else from the start. */
  async #retryRun(config: RunConfig, resumeRunId?: string): Promise<void> {
    if (!(await this.#reloadSources())) return;
    const runId = this.#run.runId ?? resumeRunId;
    const stored = runId ? (await this.#remote().runs()).find((r) => r.runId === runId) : undefined;
    const wasm = { ...config, backend: 'wasm' as const };
    await this.train(wasm, stored?.checkpointStep != null ? runId : undefined);
  }

  #onRunEvent(e: WorkerRunEvent): void {
    const r = this.#run;
    switch (e.type) {
      case 'start':
        this.#run = { ...r, runId: e.runId, resumedFrom: e.resumedFrom, maxSteps: e.maxSteps, trainRows: e.train, testRows: e.test };
        if (e.steps.length) this.#steps = e.steps;
        break;
      case 'phase':
        this.#run = { ...r, phase: e.phase, evalProgress: e.phase.startsWith('eval') ? r.evalProgress : null };
        break;
      case 'runtime':
        this.#run = { ...r, runtime: e.runtime };
        break;
      case 'path':
        this.#run = { ...r, path: { path: e.path, miniBatchSize: e.miniBatchSize, why: e.why, optimizer: e.optimizer } };
        break;
      case 'steps': {
        const last = this.#steps.at(-1)?.step ?? 0;
        this.#steps = [...this.#steps, ...e.steps.filter((s) => s.step > last)];
        this.#run = { ...r, microBatch: null, miniBatch: null };
        break;
      }
      case 'micro-batch':
        this.#run = { ...r, microBatch: { step: e.step, microBatch: e.microBatch, of: e.of }, miniBatch: null };
        break;
      case 'mini-batch':
        this.#run = { ...r, miniBatch: { step: e.step, pass: e.pass, miniBatch: e.miniBatch, of: e.of }, compiling: null };
        break;
      case 'compile':
        this.#run = { ...r, compiling: e.next === null ? null : { compiled: e.compiled, of: e.of } };
        break;
      case 'stopping':
        this.#run = { ...r, stopping: { step: e.step, microBatch: e.microBatch, of: e.of } };
        break;
      case 'checkpoint':
        this.#run = { ...r, checkpointStep: e.step };
        break;
      case 'warning':
        this.#run = { ...r, warnings: [...r.warnings, e.message] };
        break;
      case 'eval-progress':
        this.#run = { ...r, evalProgress: { which: e.which, progress: e.progress } };
        break;
      case 'eval-cost':
        this.#run = { ...r, evalCost: { cost: e.cost, best: e.best } };
        break;
      case 'eval':
        if (e.which === 'epoch' || e.which === 'updates') {
          this.#run = { ...r, epochEvals: [...r.epochEvals.filter((v) => v.step !== e.step), { epoch: e.epoch ?? 0, step: e.step, result: e.result, seconds: e.seconds }], evalProgress: null };
        }
        else this.#run = { ...r, [e.which]: e.result, evalProgress: null };
        break;
    }
  }

  async cancel(): Promise<void> {
    if (this.#run.status !== 'running') return;
    this.#run = { ...this.#run, status: 'cancelling' };
    await this.#remote().cancel();
  }

  /** Evaluates a stored model (runId) or the loaded one on the loaded data set. */
  async evaluate(config: RunConfig, runId?: string): Promise<void> {
    this.#evalNow = { status: 'loading', what: 'evaluation', progress: null };
    const onProgress = Comlink.proxy((p: EvalProgress) => {
      if (this.#evalNow.status === 'loading') this.#evalNow = { ...this.#evalNow, progress: p };
    });
    try {
      const value = await this.#watched({ phase: 'evaluating', done: 0, total: null, unit: 'texts' }, async () => void ((await this.#reloadSources()) && (await this.evaluate({ ...config, backend: 'wasm' }, runId))), (watch) =>
        this.#remote().evaluate({ config, ...(runId ? { runId } : {}) }, Comlink.proxy((p: EvalProgress) => (watch({ phase: 'evaluating', done: p.done, total: p.total, unit: 'texts' }), onProgress(p)))),
      );
      this.#evalNow = { status: 'done', value };
    } catch (error) {
      this.#evalNow = { status: 'failed', error: message(error) };
    }
  }

  /** The general-retrieval guard in the worker (its state lives in guard.svelte.ts). */
  guard(req: GuardRequest, onProgress: (p: GuardProgress) => void): Promise<GuardReport> {
    return this.#remote().guard(req, Comlink.proxy(onProgress));
  }

  // ---- the ways out ---------------------------------------------------------------------------

  /** Builds the run's zip in the worker and hands it to the browser's download. */
  async exportZip(runId: string, opts: { onnx: boolean; quantize: boolean; form?: ExportRequest['form'] }): Promise<void> {
    this.#exporting = { status: 'loading', what: 'zip', progress: null };
    const onProgress = Comlink.proxy((p: ExportProgress) => {
      if (this.#exporting.status === 'loading') this.#exporting = { ...this.#exporting, progress: p };
    });
    try {
      const r = await this.#remote().exportZip({ runId, ...opts }, onProgress);
      this.#exporting = { status: 'done', value: r };
      const url = URL.createObjectURL(r.blob);
      const a = Object.assign(document.createElement('a'), { href: url, download: r.name });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      this.#exporting = { status: 'failed', error: message(error) };
    }
  }

  async pushModel(req: PushRequest): Promise<void> {
    this.#pushing = { status: 'loading', what: req.repo, progress: null };
    const onProgress = Comlink.proxy((p: ExportProgress) => {
      if (this.#pushing.status === 'loading') this.#pushing = { ...this.#pushing, progress: p };
    });
    try {
      this.#pushing = { status: 'done', value: await this.#remote().pushModel(req, onProgress) };
    } catch (error) {
      this.#pushing = { status: 'failed', error: message(error) };
    }
  }

  /** Prepares the explorer for a run (embeds its corpus with both models) and lists its test queries. */
  async startExplorer(runId: string): Promise<void> {
    this.#exploring = { status: 'loading', what: 'corpus', progress: null };
    this.#exploreQueries = [];
    try {
      this.#exploreQueries = await this.#watched({ phase: 'embedding the explorer\'s corpus', done: 0, total: null, unit: 'texts' }, () => this.startExplorer(runId), () =>
        this.#remote().exploreQueries(runId),
      );
      this.#exploring = { status: 'idle' };
    } catch (error) {
      this.#exploring = { status: 'failed', error: message(error) };
    }
  }

  async explore(runId: string, query: string): Promise<void> {
    this.#exploring = { status: 'loading', what: query, progress: null };
    const onProgress = Comlink.proxy((p: EvalProgress) => {
      if (this.#exploring.status === 'loading') this.#exploring = { ...this.#exploring, progress: p };
    });
    try {
      const retry = async () => {
        await this.startExplorer(runId);
        if (this.#exploring.status !== 'failed') await this.explore(runId, query);
      };
      const value = await this.#watched({ phase: 'exploring', done: 0, total: null, unit: 'texts' }, retry, (watch) =>
        this.#remote().explore({ runId, query }, Comlink.proxy((p: EvalProgress) => (watch({ phase: 'exploring', done: p.done, total: p.total, unit: 'texts' }), onProgress(p)))),
      );
      this.#exploring = { status: 'done', value };
    } catch (error) {
      this.#exploring = { status: 'failed', error: message(error) };
    }
  }

  /** "Use the best (update N) / use the last" for the finished run shown (or a stored one): its model is rewritten with those weights. */
  async useKept(which: 'best' | 'last', runId = this.#run.runId): Promise<void> {
    if (!runId) return;
    try {
      const record = await this.#remote().useKeptWeights(runId, which);
      if (this.#run.runId === runId) this.#run = { ...this.#run, kept: record.kept ?? null, after: record.after };
    } catch (error) {
      this.#storageError = message(error);
    }
    await this.refreshRuns();
  }

  async renameRun(runId: string, name: string): Promise<void> {
    try {
      await this.#remote().renameRun(runId, name);
    } catch (error) {
      this.#storageError = message(error);
    }
    await this.refreshRuns();
  }

  async refreshRuns(): Promise<void> {
    try {
      this.#runs = await this.#remote().runs();
    } catch {
      this.#runs = [];
    }
  }

  // ---- storage --------------------------------------------------------------------------------

  async refreshStorage(): Promise<void> {
    try {
      this.#storage = await this.#remote().storagePanel();
      this.#storageError = null;
    } catch (error) {
      this.#storageError = message(error);
    }
    this.#persisted = (await navigator.storage?.persisted?.().catch(() => null)) ?? null;
  }

  async deleteStored(group: string): Promise<void> {
    try {
      await this.#remote().storageDelete(group);
    } catch (error) {
      this.#storageError = message(error);
    }
    await this.refreshStorage();
    await this.refreshRuns();
  }

  /** Must run on the page: browsers grant persistence to documents, not workers. */
  async persist(): Promise<void> {
    if (!navigator.storage?.persist) {
      this.#storageError = 'this browser has no navigator.storage.persist()';
      return;
    }
    const granted = await navigator.storage.persist();
    this.#persisted = granted;
    if (!granted) this.#storageError = 'the browser declined to make storage persistent (it decides by site engagement; bookmarking the page helps)';
  }

  // ---- work that stops making progress --------------------------------------------------------

  /**
   * Runs one worker call under a ProgressWatchdog (progress-watchdog.ts says why its bound).
   * `call` reports progress through `watch`. When the work makes no progress for longer than the
   * bound, the worker is terminated (a stuck worker cannot be asked to stop), the call fails with
   * the watchdog's message, and `retry` is kept for retryOnOneThread(). What the worker stored
   * stays: writes are atomic, and a run's last checkpoint is where a retry resumes.
   */
  async #watched<T>(start: WatchProgress, retry: () => Promise<void>, call: (watch: (p: WatchProgress) => void) => Promise<T>): Promise<T> {
    const loaded = this.#model.status === 'done' ? this.#model.value.architecture : null;
    const dog = new ProgressWatchdog(start, { floorMs: stallFloorMs() ?? stallFloorFor(loaded) });
    let timer: ReturnType<typeof setInterval> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        const why = dog.check();
        if (!why) return;
        clearInterval(timer);
        const text = `${why}; the engine was stopped and started again. What was stored is kept (a run keeps its last checkpoint).`;
        this.#replaceWorker();
        this.#stall = { message: text, retry };
        reject(new Error(text));
      }, Math.min(1000, dog.boundMs / 4));
    });
    try {
      return await Promise.race([call((p) => dog.progress(p)), stalled]);
    } finally {
      clearInterval(timer);
    }
  }

  /** Ends the worker; the next call starts a new one, which has nothing loaded. */
  #replaceWorker(): void {
    this.dispose();
    this.#model = { status: 'idle' };
    this.#data = { status: 'idle' };
    this.#selfTest = { status: 'idle' };
  }

  /** Loads what was loaded before the stall into the new worker; false when that failed (its card says why). */
  async #reloadSources(): Promise<boolean> {
    const { model, data, mapping } = this.#sources;
    if (model) await this.loadModel(...model);
    if (data instanceof File) await this.loadDataFile(data);
    else if (data) await this.loadDataset(...data);
    if (mapping) await this.setMapping(mapping);
    return (!model || this.#model.status === 'done') && (!data || this.#data.status === 'done');
  }

  /** The offer after a stall: a new worker whose runtime is WASM on one thread, and the stalled work again. */
  async retryOnOneThread(): Promise<void> {
    const stall = this.#stall;
    if (!stall) return;
    this.#stall = null;
    this.#oneThread = true;
    this.#replaceWorker(); // a worker started since the stall may have started its runtime
    await stall.retry();
    void this.runSelfTest();
  }

  dispose(): void {
    this.#raw?.[Comlink.releaseProxy]();
    this.#worker?.terminate();
    this.#raw = null;
    this.#api = null;
    this.#worker = null;
  }
}

// The page's handle on the engine worker: starts it, calls its API, and keeps what the UI
// renders in runes state (probe, self-test, model and data loads, the run, storage, stored runs).
// It holds no engine logic and never imports onnxruntime; only plain data crosses to the worker
// (runes proxies are snapshotted first), and progress comes back through comlink-proxied callbacks.

import * as Comlink from 'comlink';
import type {
  BackendReport,
  DatasetSummary,
  EngineWorkerApi,
  ModelSummary,
  Progress,
  RunEvent,
  RunPhase,
  RunRecord,
  RunRuntime,
  SelfTestReport,
  StepEvent,
  StoragePanel,
} from '../../workers/api.ts';
import type { ColumnMapping } from '../lib/data/columns.ts';
import type { EvalProgress } from '../lib/eval/evaluate-model.ts';
import type { IrResult } from '../lib/eval/ir-metrics.ts';
import type { RunConfig } from '../lib/train/run-config.ts';

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
  runId: string | null;
  phase: RunPhase | null;
  resumedFrom: number | null;
  maxSteps: number;
  trainRows: number;
  testRows: number;
  runtime: RunRuntime | null;
  path: { path: 'fused' | 'gradcache'; miniBatchSize: number | null; why: string } | null;
  evalProgress: { which: 'before' | 'after'; progress: EvalProgress } | null;
  before: IrResult | null;
  after: IrResult | null;
  checkpointStep: number | null;
  warnings: string[];
  error: string | null;
}

const IDLE_RUN: RunView = {
  status: 'idle', runId: null, phase: null, resumedFrom: null, maxSteps: 0, trainRows: 0, testRows: 0, runtime: null, path: null,
  evalProgress: null, before: null, after: null, checkpointStep: null, warnings: [], error: null,
};

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Engine {
  #worker: Worker | null = null;
  #api: Comlink.Remote<EngineWorkerApi> | null = null;
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
  #evalNow = $state.raw<LoadState<{ model: 'trained' | 'base'; result: IrResult }, EvalProgress>>({ status: 'idle' });

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
  get evalNow() {
    return this.#evalNow;
  }

  #remote(): Comlink.Remote<EngineWorkerApi> {
    if (!this.#api) {
      this.#worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
        type: 'module',
        name: 'tabtune-engine',
      });
      this.#worker.addEventListener('error', (event) => {
        this.#probe = { status: 'failed', error: `engine worker failed to start: ${event.message || 'unknown error'}` };
      });
      this.#api = Comlink.wrap<EngineWorkerApi>(this.#worker);
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
      this.#selfTest = { status: 'done', report: await this.#remote().selfTest() };
    } catch (error) {
      this.#selfTest = { status: 'failed', error: message(error) };
    }
  }

  // ---- models and data ------------------------------------------------------------------------

  async loadModel(hubUrl: string, repo: string, revision: string): Promise<void> {
    this.#model = { status: 'loading', what: repo, progress: null };
    const onProgress = Comlink.proxy((p: Progress) => {
      if (this.#model.status === 'loading') this.#model = { ...this.#model, progress: p };
    });
    try {
      this.#model = { status: 'done', value: await this.#remote().loadModel({ hubUrl, repo, revision }, onProgress) };
    } catch (error) {
      this.#model = { status: 'failed', error: message(error) };
    }
    void this.refreshStorage();
  }

  async loadDataset(hubUrl: string, repo: string, revision: string): Promise<void> {
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
    this.#data = { status: 'loading', what: file.name, progress: null };
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      this.#data = { status: 'done', value: await this.#remote().loadDataFile(file.name, Comlink.transfer(bytes, [bytes.buffer])) };
    } catch (error) {
      this.#data = { status: 'failed', error: message(error) };
    }
  }

  /** Re-validates the loaded data with this mapping (null: the automatic one). */
  async setMapping(mapping: ColumnMapping | null): Promise<void> {
    try {
      this.#data = { status: 'done', value: await this.#remote().setMapping(mapping) };
    } catch (error) {
      this.#data = { status: 'failed', error: message(error) };
    }
  }

  // ---- training and evaluation ----------------------------------------------------------------

  async train(config: RunConfig, resumeRunId?: string): Promise<void> {
    this.#run = { ...IDLE_RUN, status: 'running', warnings: [] };
    this.#steps = [];
    const onEvent = Comlink.proxy((e: RunEvent) => this.#onRunEvent(e));
    try {
      const r = await this.#remote().train({ config, ...(resumeRunId ? { resumeRunId } : {}) }, onEvent);
      this.#run = { ...this.#run, status: r.stopped ? 'stopped' : 'done', runId: r.runId, checkpointStep: r.stopped ? this.#run.checkpointStep : null, before: r.before, after: r.after, runtime: r.runtime, evalProgress: null };
    } catch (error) {
      const cancelled = this.#run.status === 'cancelling';
      this.#run = { ...this.#run, status: cancelled ? 'stopped' : 'failed', error: cancelled ? null : message(error), evalProgress: null };
    }
    void this.refreshRuns();
    void this.refreshStorage();
  }

  #onRunEvent(e: RunEvent): void {
    const r = this.#run;
    switch (e.type) {
      case 'start':
        this.#run = { ...r, runId: e.runId, resumedFrom: e.resumedFrom, maxSteps: e.maxSteps, trainRows: e.train, testRows: e.test };
        break;
      case 'phase':
        this.#run = { ...r, phase: e.phase, evalProgress: e.phase.startsWith('eval') ? r.evalProgress : null };
        break;
      case 'runtime':
        this.#run = { ...r, runtime: e.runtime };
        break;
      case 'path':
        this.#run = { ...r, path: { path: e.path, miniBatchSize: e.miniBatchSize, why: e.why } };
        break;
      case 'steps': {
        const last = this.#steps.at(-1)?.step ?? 0;
        this.#steps = [...this.#steps, ...e.steps.filter((s) => s.step > last)];
        break;
      }
      case 'checkpoint':
        this.#run = { ...r, checkpointStep: e.step };
        break;
      case 'warning':
        this.#run = { ...r, warnings: [...r.warnings, e.message] };
        break;
      case 'eval-progress':
        this.#run = { ...r, evalProgress: { which: e.which, progress: e.progress } };
        break;
      case 'eval':
        this.#run = { ...r, [e.which]: e.result, evalProgress: null };
        break;
    }
  }

  async cancel(): Promise<void> {
    if (this.#run.status !== 'running') return;
    this.#run = { ...this.#run, status: 'cancelling' };
    await this.#remote().cancel();
  }

  async evaluate(config: RunConfig): Promise<void> {
    this.#evalNow = { status: 'loading', what: 'evaluation', progress: null };
    const onProgress = Comlink.proxy((p: EvalProgress) => {
      if (this.#evalNow.status === 'loading') this.#evalNow = { ...this.#evalNow, progress: p };
    });
    try {
      this.#evalNow = { status: 'done', value: await this.#remote().evaluate(config, onProgress) };
    } catch (error) {
      this.#evalNow = { status: 'failed', error: message(error) };
    }
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

  dispose(): void {
    this.#api?.[Comlink.releaseProxy]();
    this.#worker?.terminate();
    this.#api = null;
    this.#worker = null;
  }
}

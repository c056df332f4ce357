// The page's state of "I have only documents": the documents read and chunked, the generation
// options (model, prompt template, questions per document, max new tokens, greedy or seeded), the
// generation in progress (documents/s, tokens/s, ETA, the latest questions), the stored jobs that a
// reload left unfinished, the consistency filter's report, downloads and the Hub push. Calls the
// engine worker through Engine.generation (documents, the job, the filter, the set) and starts the
// generation worker (workers/generate.worker.ts), which runs the job; generates, parses and filters
// nothing itself.

import * as Comlink from 'comlink';
import type { DocumentsRequest, DocumentsSummary, ExportProgress, FilterReport, GenerateEvent, GenerateProgress, GenerateSummary, GenerateWorkerApi, GenerationJobInfo, PushSummary } from '../../workers/api.ts';
import type { Progress } from '../lib/hub/progress.ts';
import { DEFAULT_FILTER_TOP_K } from '../lib/generate/filter.ts';
import { DEFAULT_PROMPT_TEMPLATE, DEFAULT_QUESTIONS_PER_DOC } from '../lib/generate/questions.ts';
import type { RunConfig } from '../lib/train/run-config.ts';
import type { Engine, LoadState } from './engine.svelte.ts';
import { DEFAULT_GENERATOR_ID } from '../lib/config.ts';
import { guardWorker } from './worker-guard.ts';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export interface GenerationView {
  status: 'idle' | 'downloading' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'failed';
  jobId: string | null;
  download: Progress | null;
  progress: GenerateProgress | null;
  resumedFrom: number;
  device: string | null;
  why: string | null;
  /** How the prompt reaches the model when not through its chat template. */
  notice: string | null;
  /** The questions of the last documents finished (newest last). */
  latest: { doc: string; questions: string[] }[];
  summary: GenerateSummary | null;
  error: string | null;
}

const IDLE: GenerationView = { status: 'idle', jobId: null, download: null, progress: null, resumedFrom: 0, device: null, why: null, notice: null, latest: [], summary: null, error: null };
const LATEST = 6;


export class GenerateState {
  #engine: Engine;
  #documents = $state.raw<LoadState<DocumentsSummary>>({ status: 'idle' });
  #generation = $state.raw<GenerationView>(IDLE);
  #jobs = $state.raw<GenerationJobInfo[]>([]);
  #filter = $state.raw<LoadState<FilterReport, { done: number; total: number }>>({ status: 'idle' });
  #pushing = $state.raw<LoadState<PushSummary, ExportProgress>>({ status: 'idle' });
  #fileError = $state.raw<string | null>(null);

  /** The options the user edits (bound by the panel). */
  model = $state(DEFAULT_GENERATOR_ID);
  template = $state(DEFAULT_PROMPT_TEMPLATE);
  perDoc = $state(DEFAULT_QUESTIONS_PER_DOC);
  maxNewTokens = $state(96);
  sampling = $state<'greedy' | 'seeded'>('greedy');
  temperature = $state(0.7);
  seed = $state(42);
  topK = $state(DEFAULT_FILTER_TOP_K);

  #worker: Worker | null = null;
  #cancelFlag: Int32Array | null = null;
  #remote: Comlink.Remote<GenerateWorkerApi> | null = null;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** The generation worker, started on first use; a stopped one fails its calls and is started again next time. */
  #generator(): Comlink.Remote<GenerateWorkerApi> {
    if (!this.#remote) {
      const worker = new Worker(new URL('../../workers/generate.worker.ts', import.meta.url), { type: 'module', name: 'tabtune-generate' });
      const raw = Comlink.wrap<GenerateWorkerApi>(worker);
      this.#worker = worker;
      this.#remote = guardWorker(worker, raw, {
        ping: () => raw.ping(),
        onStop: () => {
          if (this.#worker === worker) (this.#worker = null), (this.#remote = null);
        },
      }).remote;
    }
    return this.#remote;
  }

  dispose(): void {
    this.#worker?.terminate();
    this.#worker = null;
    this.#remote = null;
  }

  get documents() {
    return this.#documents;
  }
  get generation() {
    return this.#generation;
  }
  /** Stored jobs not finished (a reload or a cancel left them): each can be resumed. */
  get unfinished() {
    return this.#jobs.filter((j) => j.status !== 'done' && j.jobId !== this.#generation.jobId);
  }
  get jobs() {
    return this.#jobs;
  }
  get filter() {
    return this.#filter;
  }
  get pushing() {
    return this.#pushing;
  }
  get fileError() {
    return this.#fileError;
  }
  get busy(): boolean {
    const g = this.#generation.status;
    return g === 'downloading' || g === 'running' || g === 'cancelling' || this.#filter.status === 'loading' || this.#documents.status === 'loading';
  }
  /** The job whose rows the filter reads: the one generated last (finished or cancelled with rows). */
  get jobId(): string | null {
    return this.#generation.jobId;
  }

  async loadDocuments(req: DocumentsRequest): Promise<void> {
    this.#documents = { status: 'loading', what: req.kind === 'file' ? req.name : req.repo, progress: null };
    try {
      const value = await this.#engine.generation.loadDocuments(req.kind === 'file' ? Comlink.transfer(req, [req.bytes.buffer]) : req);
      this.#documents = { status: 'done', value };
      this.#generation = IDLE;
      this.#filter = { status: 'idle' };
    } catch (error) {
      this.#documents = { status: 'failed', error: message(error) };
    }
  }

  async refreshJobs(): Promise<void> {
    try {
      this.#jobs = await this.#engine.generation.generationJobs();
    } catch {
      this.#jobs = [];
    }
  }

  /** Generates for the loaded documents, or resumes stored job `jobId` (after a reload the worker reads its documents from storage). */
  async generate(hubUrl: string, jobId?: string): Promise<boolean> {
    // A stored job goes on with its own options: the panel shows them.
    const job = jobId ? this.#jobs.find((j) => j.jobId === jobId) : undefined;
    if (job) {
      Object.assign(this, { model: job.model, template: job.options.template, perDoc: job.options.perDoc, maxNewTokens: job.options.maxNewTokens, sampling: job.options.sampling.mode });
      if (job.options.sampling.mode === 'seeded') Object.assign(this, { seed: job.options.sampling.seed, temperature: job.options.sampling.temperature });
    }
    this.#generation = { ...IDLE, status: 'downloading' };
    this.#filter = { status: 'idle' };
    const onEvent = Comlink.proxy((e: GenerateEvent) => this.#onEvent(e));
    try {
      const id = jobId ?? await this.#engine.generation.prepareGeneration({
        hubUrl, model: this.model.trim(), template: this.template, perDoc: this.perDoc, maxNewTokens: this.maxNewTokens,
        sampling: this.sampling === 'greedy' ? { mode: 'greedy' } : { mode: 'seeded', seed: this.seed, temperature: this.temperature },
      });
      // Shared memory where the page is cross-origin isolated; else cancel() alone (read between chunks).
      this.#cancelFlag = globalThis.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
      const summary = await this.#generator().generate({ jobId: id, ...(this.#cancelFlag ? { cancelFlag: this.#cancelFlag.buffer as SharedArrayBuffer } : {}) }, onEvent);
      this.#generation = { ...this.#generation, status: summary.status, jobId: summary.jobId, summary };
      return summary.status === 'done';
    } catch (error) {
      this.#generation = { ...this.#generation, status: 'failed', error: message(error) };
      return false;
    } finally {
      void this.refreshJobs();
      void this.#engine.refreshStorage();
    }
  }

  #onEvent(e: GenerateEvent): void {
    const g = this.#generation;
    switch (e.type) {
      case 'download':
        this.#generation = { ...g, download: e.progress };
        break;
      case 'start':
        this.#generation = { ...g, status: g.status === 'cancelling' ? g.status : 'running', jobId: e.jobId, resumedFrom: e.resumedFrom, device: `${e.device} (${e.dtype})`, why: e.why, notice: e.notice, progress: { done: e.resumedFrom, total: e.total, questions: 0, docsPerSecond: 0, tokensPerSecond: 0, etaSeconds: null } };
        break;
      case 'progress':
        this.#generation = { ...g, progress: e.progress };
        break;
      case 'rows':
        this.#generation = { ...g, latest: [...g.latest, ...e.rows].slice(-LATEST) };
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown generation event ${JSON.stringify(never)}`);
      }
    }
  }

  async cancel(): Promise<void> {
    if (this.#generation.status !== 'running' && this.#generation.status !== 'downloading') return;
    this.#generation = { ...this.#generation, status: 'cancelling' };
    if (this.#cancelFlag) Atomics.store(this.#cancelFlag, 0, 1);
    await this.#remote?.cancel();
  }

  /** The consistency filter on the last job; the kept pairs become the run's data set. */
  async runFilter(hubUrl: string, config: RunConfig): Promise<boolean> {
    const jobId = this.jobId;
    if (!jobId) return false;
    this.#filter = { status: 'loading', what: 'filter', progress: null };
    const onProgress = Comlink.proxy((p: { done: number; total: number }) => {
      if (this.#filter.status === 'loading') this.#filter = { ...this.#filter, progress: p };
    });
    try {
      const value = await this.#engine.generation.filterGenerated({ config, jobId, topK: this.topK }, onProgress);
      this.#filter = { status: 'done', value };
      this.#engine.useDataset(hubUrl, value.dataset);
      return true;
    } catch (error) {
      this.#filter = { status: 'failed', error: message(error) };
      return false;
    }
  }

  /** The filtered set as a file through the browser's download. */
  async download(format: 'jsonl' | 'parquet'): Promise<void> {
    const jobId = this.jobId;
    if (!jobId) return;
    try {
      this.#fileError = null;
      const f = await this.#engine.generation.generatedFile(jobId, format);
      const url = URL.createObjectURL(new Blob([f.bytes as Uint8Array<ArrayBuffer>], { type: f.mime }));
      const a = Object.assign(document.createElement('a'), { href: url, download: f.name });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      this.#fileError = message(error);
    }
  }

  async push(req: { hubUrl: string; repo: string; token: string; private: boolean; update: boolean }): Promise<void> {
    const jobId = this.jobId;
    if (!jobId) return;
    this.#pushing = { status: 'loading', what: req.repo, progress: null };
    const onProgress = Comlink.proxy((p: ExportProgress) => {
      if (this.#pushing.status === 'loading') this.#pushing = { ...this.#pushing, progress: p };
    });
    try {
      this.#pushing = { status: 'done', value: await this.#engine.generation.pushGenerated({ jobId, ...req }, onProgress) };
    } catch (error) {
      this.#pushing = { status: 'failed', error: message(error) };
    }
  }
}

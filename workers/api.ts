// The contract between the page and the engine worker: every type that crosses the comlink
// boundary, imported by both sides. Only plain, structured-clonable data belongs here; no
// classes, no onnxruntime types, no implementation.

import type { ColumnMapping } from '../src/lib/data/columns.ts';
import type { HygieneReport } from '../src/lib/data/hygiene.ts';
import type { Issue } from '../src/lib/data/validate.ts';
import type { Progress } from '../src/lib/hub/progress.ts';
import type { StoreGroup } from '../src/lib/store/store.ts';
import type { EvalProgress } from '../src/lib/eval/evaluate-model.ts';
import type { IrResult } from '../src/lib/eval/ir-metrics.ts';
import type { GuardProgress, NanoBeirResult } from '../src/lib/eval/nanobeir.ts';
import type { MinedRow, MineOptions, MineSummary } from '../src/lib/mine/hard-negatives.ts';
import type { ModelPrompts } from '../src/lib/models/prompts.ts';
import type { ExportForm } from '../src/lib/export/lora-export.ts';
import type { RunRecord } from '../src/lib/run/record.ts';
import type { RunEvent, RunPhase, StepEvent } from '../src/lib/run/run.ts';
import type { MemoryPlan, ModelShape } from '../src/lib/train/memory.ts';
import type { RunConfig } from '../src/lib/train/run-config.ts';

export type { Progress, RunPhase, RunRecord, StepEvent };

/** The WebGPU limits the engine cares about when it sizes buffers and workgroups. */
export interface GpuLimitsReport {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxStorageBuffersPerShaderStage: number;
}

export interface GpuAdapterReport {
  /** From `GPUAdapter.info`; empty strings where the browser hides them. */
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software or otherwise degraded adapter (`GPUAdapterInfo.isFallbackAdapter`). */
  isFallbackAdapter: boolean;
  /** Sorted feature names, e.g. `shader-f16`, `subgroups`. */
  features: string[];
  limits: GpuLimitsReport;
}

export interface WasmReport {
  /** Threads onnxruntime-web's WASM backend will be given (`env.wasm.numThreads`). */
  threads: number;
  /** Why that number, in words. */
  reason: string;
}

export type StorageReport =
  | { available: true; usage: number; quota: number; persisted: boolean | null }
  | { available: false; reason: string };

export interface BackendReport {
  /** The backend the engine will use: WebGPU when an adapter was obtained, else WASM. */
  backend: 'webgpu' | 'wasm';
  /** Present when `backend` is `'webgpu'`. */
  gpu: GpuAdapterReport | null;
  /** Why WebGPU is not used; null when it is. */
  gpuUnavailableReason: string | null;
  /** Always filled: WASM is also the fallback when a WebGPU run fails. */
  wasm: WasmReport;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  storage: StorageReport;
  userAgent: string;
}

// ---- models, data sets, storage (workers/loaders.ts) ----------------------------------------

export interface LoadRequest {
  hubUrl: string;
  repo: string;
  revision?: string;
}

export interface ModelSummary {
  /** A Hub model, or one trained in this browser (`repo` is then `stored:{runId}`). */
  kind: 'hub' | 'stored';
  /** What to call it: `owner/name@revision`, or the stored model's name. */
  name: string;
  repo: string;
  revision: string;
  commit: string;
  modelType: string;
  /** The family that builds it (models/architectures.ts' label: BERT, XLM-RoBERTa). */
  family: string;
  /** Tokens a text may have: the position table less the family's offset (XLM-R: 514 rows, 512 tokens). */
  maxTokens: number;
  /** From config.json: the encoder's shape, and the elements its parameter set trains (the pooler left out). */
  architecture: ModelShape;
  parameters: number;
  files: { path: string; size: number }[];
  /** Loaded from IndexedDB because the Hub could not be reached. */
  offline: boolean;
  /** Its config_sentence_transformers.json prompts (the Train step resolves the run's prompts from them). */
  prompts: ModelPrompts;
}

export interface DatasetSummary {
  source: string;
  via: 'parquet' | 'rows-api' | 'file';
  offline: boolean;
  splits: { name: string; rows: number; columns: string[] }[];
  /** First rows of the first split. */
  preview: Record<string, string | number>[];
  mapping: ColumnMapping;
  mappingSource: 'seed' | 'auto' | 'user';
  train: number;
  test: number;
  split: 'given' | 'seeded';
  issues: Issue[];
  /** Duplicates, shared positives and leaked test rows before any remedy (the run config's data.dropDuplicates / moveLeakedTest apply them). */
  hygiene: HygieneReport;
}

export interface StoragePanel {
  where: string;
  groups: StoreGroup[];
  usage: number;
  quota: number | null;
}

/** What ran the engine's self-test graph (workers/engine-runtime.ts), and why that backend. */
export interface SelfTestReport {
  kind: 'webgpu' | 'wasm' | 'node';
  /** Package and execution provider, in words, e.g. "onnxruntime-web, WebGPU EP (native C++ EP)". */
  backend: string;
  threads: number;
  version: string;
  /** WebGPU only: vendor · architecture · description of the adapter. */
  adapter?: string;
  /** Why this is not WebGPU (no adapter, or the WebGPU runtime failed); null when it is. */
  fallbackReason: string | null;
  result: number[];
  expected: number[];
  ok: boolean;
  ms: number;
}

// ---- training and evaluation (workers/train-session.ts) -------------------------------------

/** The runtime a run used, and why that one (a fallback is never silent). */
export interface RunRuntime {
  kind: 'webgpu' | 'wasm' | 'node';
  backend: string;
  threads: number;
  /** Why this backend: the run config's choice, or the engine's pick and its fallback reason. */
  why: string;
}

/**
 * What `train` reports through its one callback: the run orchestrator's events (src/lib/run/run.ts),
 * with step events batched (`steps`) and progress events rate-limited so a fast run cannot flood
 * the page, plus the runtime the worker picked.
 */
export type WorkerRunEvent = Exclude<RunEvent, { type: 'step' }> | { type: 'steps'; steps: StepEvent[] } | { type: 'runtime'; runtime: RunRuntime };

/** A run's memory plan and what the device says it has. */
export interface MemoryPlanReport {
  plan: MemoryPlan;
  /** navigator.deviceMemory in GB (rounded to a power of two, and capped, by the browser); null when not reported. */
  deviceMemoryGb: number | null;
  /** The runtime the run would use. */
  runtimeKind: string;
}

export interface TrainRequest {
  config: RunConfig;
  /** Continue this stored run from its checkpoint (refused when the model, data or config differ). */
  resumeRunId?: string;
  /** Checkpoint after every this many updates (default: a quarter of the run, at most an epoch apart). */
  checkpointEvery?: number;
}

export interface RunSummary {
  /** The run as stored: status, step, evaluations; a finished run's model is in "My models". */
  record: RunRecord;
  runtime: RunRuntime;
}

export interface EvaluateRequest {
  /** Its data and evaluation settings (dims, recipe mode) are used. */
  config: RunConfig;
  /** Evaluate this stored run's trained model; without it, the loaded model. */
  runId?: string;
}

export interface EvaluateResult {
  /** The name of the model that was evaluated. */
  model: string;
  runId: string | null;
  result: IrResult;
}

// ---- mining hard negatives (workers/mine-session.ts) -------------------------------------------

export interface MineProgressEvent {
  split: 'train' | 'test';
  phase: 'embed' | 'mine';
  done: number;
  total: number;
}

export interface MineSummaryReport {
  /** The mined set, now the loaded data set (its id starts with `mined:`). */
  dataset: DatasetSummary;
  /** The model that ranked the documents. */
  model: string;
  summary: Partial<Record<'train' | 'test', MineSummary>>;
  /** The first mined train rows with their scores (positive first). */
  preview: MinedRow[];
}

// ---- documents only → generated questions (workers/generate-session.ts) ----------------------

/** Where the documents come from: a local file (a .txt is one document per line) or a Hub data set; `column` for tables. */
export type DocumentsRequest =
  | { kind: 'file'; name: string; bytes: Uint8Array; column?: string }
  | { kind: 'hub'; hubUrl: string; repo: string; revision?: string; column?: string };

export interface DocumentsSummary {
  /** The file name, or `repo` (column) for a Hub data set. */
  source: string;
  documents: number;
  /** The table's columns (none for a .txt), and the one read. */
  columns: string[];
  column: string | null;
  /** Chunks after cutting the documents to the embedding model's usable length. */
  chunks: number;
  /** The chunk size in tokens (the loaded embedding model's usable length). */
  chunkTokens: number;
  /** The first chunks: id (document id, and #n when a document was cut), text, tokens. */
  preview: { id: string; text: string; tokens: number }[];
}

export type GenerateSampling = { mode: 'greedy' } | { mode: 'seeded'; seed: number; temperature: number };

export interface GenerateRequest {
  hubUrl: string;
  /** The text-generation model's Hub id. */
  model: string;
  revision?: string;
  /** The prompt; `{document}` and `{n}` are filled per chunk. */
  template: string;
  perDoc: number;
  maxNewTokens: number;
  sampling: GenerateSampling;
}

export interface GenerateProgress {
  done: number;
  total: number;
  questions: number;
  docsPerSecond: number;
  tokensPerSecond: number;
  /** Seconds left at this pace; null until a document has finished. */
  etaSeconds: number | null;
}

export type GenerateEvent =
  | { type: 'download'; progress: Progress }
  /** `notice`: how the prompt reaches the model when that is not its chat template (say so, not silently). */
  | { type: 'start'; jobId: string; total: number; resumedFrom: number; device: 'webgpu' | 'wasm'; dtype: string; why: string; notice: string | null }
  | { type: 'progress'; progress: GenerateProgress }
  /** The questions of the documents finished since the last event (the page shows the latest). */
  | { type: 'rows'; rows: { doc: string; questions: string[] }[] };

export interface GenerateSummary {
  jobId: string;
  status: 'done' | 'cancelled';
  documents: number;
  done: number;
  questions: number;
  device: 'webgpu' | 'wasm';
  seconds: number;
}

/** A stored generation job (the page offers to resume an unfinished one after a reload). */
export interface GenerationJobInfo {
  jobId: string;
  source: string;
  model: string;
  documents: number;
  done: number;
  status: 'running' | 'cancelled' | 'done';
  updatedAt: string;
  /** What it generates with (Resume shows them in the panel). */
  options: Pick<GenerateRequest, 'template' | 'perDoc' | 'maxNewTokens' | 'sampling'>;
}

export interface FilterRequest {
  /** Its seed, prompts and backend are used; the loaded model embeds. */
  config: RunConfig;
  jobId: string;
  /** Keep a pair when its chunk is in its question's top k (default 3). */
  topK: number;
}

export interface FilterReport {
  /** The filtered set, now the loaded data set (its id starts with `generated:`). */
  dataset: DatasetSummary;
  kept: number;
  dropped: number;
  /** Some dropped pairs, with the rank their chunk had. */
  droppedExamples: { question: string; document: string; rank: number }[];
  model: string;
  topK: number;
}

export interface GenerateJobRequest {
  jobId: string;
  /**
   * 4 bytes the page sets to non-zero to cancel (where SharedArrayBuffer exists): the worker reads
   * it while tokens come, so a cancel arrives even while a model that never yields holds the worker
   * (one WASM thread), when a cancel() message would wait for the end of the chunk.
   */
  cancelFlag?: SharedArrayBuffer;
}

/** The generation worker (workers/generate.worker.ts): runs a job the engine prepared. */
export interface GenerateWorkerApi {
  /** Generates the job's questions (or goes on where it stopped); rows are stored as they come. */
  generate(req: GenerateJobRequest, onEvent?: (e: GenerateEvent) => void): Promise<GenerateSummary>;
  /** Stops generation before the next token; the chunk in progress is dropped, the rest stays for Resume. */
  cancel(): Promise<void>;
  ping(): Promise<true>;
}

export interface GeneratedFile {
  bytes: Uint8Array;
  name: string;
  mime: string;
}

export interface PushDatasetRequest {
  jobId: string;
  hubUrl: string;
  repo: string;
  /** Held in memory for this call only. */
  token: string;
  private?: boolean;
  update?: boolean;
}

// ---- the ways out (workers/export-session.ts) ------------------------------------------------

export interface ExportRequest {
  runId: string;
  /** Add onnx/model.onnx (transformers.js). */
  onnx?: boolean;
  /** Add onnx/model_quantized.onnx, evaluated on the run's test split for the card. */
  quantize?: boolean;
  /** `merged` (default) or, for a LoRA run, `adapter`: its PEFT adapter folder (docs/export-forms.md). */
  form?: ExportForm;
}

export interface ExportProgress {
  phase: 'evaluating' | 'packing' | 'uploading' | 'done';
  path: string | null;
  /** Files (packing) or bytes (uploading) done, of `total` (null when not known yet). */
  done: number;
  total: number | null;
  /** The upload's own phase (hashing, uploading, committing …). */
  pushPhase?: string;
}

export interface ExportResult {
  blob: Blob;
  /** A file name for the download. */
  name: string;
  files: { path: string; size: number }[];
  int8: IrResult | null;
}

export interface PushRequest extends ExportRequest {
  hubUrl: string;
  /** owner/name */
  repo: string;
  /** Held in memory for this call only. */
  token: string;
  private?: boolean;
  /** Add a commit to an existing repo (else an existing repo is refused). */
  update?: boolean;
}

export interface PushSummary {
  repoUrl: string;
  commitUrl: string | null;
  created: boolean;
  user: string;
  files: number;
}

export interface ExploreRequest {
  runId: string;
  /** A test query (its relevant document is marked) or any text. */
  query: string;
}

export interface ExploreHit {
  id: string;
  text: string;
  score: number;
  rank: number;
  relevant: boolean;
  /** The document's rank under the other model (1-based). */
  otherRank: number;
}

export interface ExploreResult {
  query: string;
  isTestQuery: boolean;
  corpusSize: number;
  before: ExploreHit[];
  after: ExploreHit[];
  /** Rank of the first relevant document before and after (test queries; null: not ranked). */
  relevantRank: { before: number | null; after: number | null } | null;
  /** The run's prompts, on the query and the documents under both models ('' for none). */
  prompts: { query: string; document: string };
}

export interface EngineWorkerApi {
  probe(): Promise<BackendReport>;
  /** Creates the engine's runtime if needed and runs a tiny graph on it. */
  selfTest(): Promise<SelfTestReport>;
  /** Before anything starts the runtime: WASM on this many threads (the page's retry after a stall). */
  limitThreads(threads: number): Promise<void>;
  /** `onProgress` must be wrapped with Comlink.proxy by the caller. */
  loadModel(req: LoadRequest, onProgress?: (p: Progress) => void): Promise<ModelSummary>;
  loadDataset(req: LoadRequest, onProgress?: (p: Progress) => void): Promise<DatasetSummary>;
  loadDataFile(name: string, bytes: Uint8Array): Promise<DatasetSummary>;
  storagePanel(): Promise<StoragePanel>;
  /** Deletes every entry of a group from the panel; returns how many. */
  storageDelete(group: string): Promise<number>;
  storagePersist(): Promise<boolean>;
  /** Re-prepares the loaded data set with the user's column mapping (null: the default one). */
  setMapping(mapping: ColumnMapping | null): Promise<DatasetSummary>;
  /** Mines hard negatives for the loaded data set with the loaded model; the mined set becomes the loaded one. */
  mine(req: { config: RunConfig; options: MineOptions }, onProgress?: (p: MineProgressEvent) => void): Promise<MineSummaryReport>;
  /**
   * The memory account of training the loaded model on the loaded data with this config: what it
   * holds, the fused/GradCache choice, and the refusal (with what would fit) when it cannot fit the
   * budget — the same plan train() checks before it writes anything.
   */
  memoryPlan(config: RunConfig): Promise<MemoryPlanReport>;
  /** Trains the loaded model on the loaded data (eval before/after as the config says). */
  train(req: TrainRequest, onEvent?: (e: WorkerRunEvent) => void): Promise<RunSummary>;
  /** Stops the run in progress after the update in progress (a checkpoint is kept for Resume). */
  cancel(): Promise<void>;
  /**
   * Destroys the engine's GPU device, as a driver reset does, to see what the page does then (the
   * run stops, keeps its checkpoint and offers WASM). False when the engine is not on WebGPU.
   */
  simulateDeviceLoss(): Promise<boolean>;
  /** Answers true: the page asks after an `error` event whether the worker still runs (src/ui/worker-guard.ts). */
  ping(): Promise<true>;
  evaluate(req: EvaluateRequest, onProgress?: (p: EvalProgress) => void): Promise<EvaluateResult>;
  /** Runs stored in IndexedDB, newest first; the finished ones are "My models". */
  runs(): Promise<RunRecord[]>;
  renameRun(runId: string, name: string): Promise<RunRecord>;
  /** A finished run that evaluated during training: make its model the best or the last update's weights (run.ts useKeptWeights). */
  useKeptWeights(runId: string, which: 'best' | 'last'): Promise<RunRecord>;
  /** A file of a stored run (`model.safetensors`, `train_log.jsonl`, …), or null. */
  runFile(runId: string, path: string): Promise<Uint8Array | null>;
  /** A finished run's model as a zip (the package tabtune export writes). */
  exportZip(req: ExportRequest, onProgress?: (p: ExportProgress) => void): Promise<ExportResult>;
  pushModel(req: PushRequest, onProgress?: (p: ExportProgress) => void): Promise<PushSummary>;
  /** The run's test queries (the explorer's picker); embeds the corpus with both models first. */
  exploreQueries(runId: string): Promise<string[]>;
  explore(req: ExploreRequest, onProgress?: (p: EvalProgress) => void): Promise<ExploreResult>;
  /** The general-retrieval guard (NanoBEIR) on the loaded model or a stored run's; cached by model identity. */
  guard(req: GuardRequest, onProgress?: (p: GuardProgress) => void): Promise<GuardReport>;
  /** Reads and chunks documents (to the loaded model's length) for question generation. */
  loadDocuments(req: DocumentsRequest): Promise<DocumentsSummary>;
  /** Stores the generation job for the loaded documents and these options (or finds it stored); its id, for the generation worker. */
  prepareGeneration(req: GenerateRequest): Promise<string>;
  generationJobs(): Promise<GenerationJobInfo[]>;
  /** The consistency filter on a job's pairs; the kept pairs become the loaded data set. */
  filterGenerated(req: FilterRequest, onProgress?: (p: { done: number; total: number }) => void): Promise<FilterReport>;
  /** The filtered set as a file to download. */
  generatedFile(jobId: string, format: 'jsonl' | 'parquet'): Promise<GeneratedFile>;
  /** The filtered set to the Hub as a data set repo, with its card. */
  pushGenerated(req: PushDatasetRequest, onProgress?: (p: ExportProgress) => void): Promise<PushSummary>;
}

// ---- the demo page (workers/demo.worker.ts) --------------------------------------------------

export interface DemoProgress {
  what: string;
  done: number;
  total: number;
}

export interface DemoModel {
  device: 'webgpu' | 'wasm';
  pooling: 'cls' | 'mean';
  normalize: boolean;
  dim: number;
  /** The query prompt (on searches) and document prompt (on the corpus): the model's own, or e5's ('' for none). */
  prompts: { query: string; document: string };
}

export interface DemoCorpus {
  size: number;
  /** Queries to try (the data set's test questions). */
  examples: string[];
}

/** What the card's data set would fetch, from the Hub's listing, before anything is fetched. */
export interface DemoCorpusSize {
  /** Bytes of its Parquet files; null when the Hub does not list them. */
  bytes: number | null;
  files: number;
  /** The most the demo loads; a larger (or unlisted) data set is refused. */
  cap: number;
}

export interface DemoHit {
  rank: number;
  text: string;
  score: number;
}

export interface DemoWorkerApi {
  load(req: { hubUrl: string; repo: string }, onProgress?: (p: DemoProgress) => void): Promise<DemoModel>;
  /** The size of a Hub data set from its listing alone (nothing of it is fetched). */
  corpusSize(req: { hubUrl: string; repo: string }): Promise<DemoCorpusSize>;
  loadCorpus(req: { kind: 'dataset'; hubUrl: string; repo: string } | { kind: 'texts'; texts: string[] }, onProgress?: (p: DemoProgress) => void): Promise<DemoCorpus>;
  search(query: string, k?: number): Promise<DemoHit[]>;
}

// ---- the general-retrieval guard (workers/guard-session.ts) ---------------------------------

export interface GuardRequest {
  /** Its dims and prompts are used. */
  config: RunConfig;
  /** The Hub NanoBEIR is read from. */
  hubUrl: string;
  /** NanoBEIR subset keys (msmarco, scifact, …). */
  subsets: string[];
  /** Evaluate this stored run's trained model; without it, the loaded model. */
  runId?: string;
}

export interface GuardReport {
  model: string;
  runId: string | null;
  result: NanoBeirResult;
  /** The figures came from the cache (nothing was encoded). */
  cached: boolean;
  /** Texts embedded per second on this backend (null on a cache hit). */
  rate: number | null;
}

// The engine worker's "I have only documents": reads documents (a file or a Hub data set column)
// and chunks them to the loaded embedding model's length; generates questions for the chunks with a
// text-generation model (src/lib/generate/generator.ts, WebGPU when there is an adapter, else
// WASM), its files downloaded through our Hub code into IndexedDB first; stores the rows as they
// come (generated-rows.ts) so Cancel and a reload lose at most the document in progress; runs the
// consistency filter with the loaded model and makes the kept pairs the loaded data set
// (`generated:{jobId}`, its train/test split cut as for a file), which then downloads as JSONL or
// Parquet and pushes to the Hub as a data set repo with its card. Not the generation, parsing or
// filter (src/lib/generate/) and not the page; docs/generate.md#in-the-page says how it is laid out.

import { chunkDocuments, type Chunk } from '../src/lib/generate/chunk.ts';
import { readDocumentsFile, readHubDocuments } from '../src/lib/generate/documents.ts';
import { checkTopK, FILTER_EXAMPLES, filterPairs } from '../src/lib/generate/filter.ts';
import { buildGeneratedSet, generatedTables, jsonlBytes, parquetBytes, pushGeneratedSet, type GeneratedSet } from '../src/lib/generate/generated-set.ts';
import { generateQuestions, loadGenerator, MAX_NEW_TOKENS_LIMIT, resumeDeduper, type GeneratedRow, type ModelFileSource } from '../src/lib/generate/generator.ts';
type SetRow = GeneratedSet['train'][number];
import { hubFileSource, mapFileSource } from '../src/lib/generate/model-source.ts';
import { MAX_QUESTIONS_PER_DOC, QuestionDeduper, questionsFor, type QuestionRow, templateProblem } from '../src/lib/generate/questions.ts';
import { HubError } from '../src/lib/hub/errors.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import type { ProgressCallback } from '../src/lib/hub/progress.ts';
import { modelKey, type Store } from '../src/lib/store/store.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { runPrompts } from '../src/lib/run/run.ts';
import { parseRunConfig } from '../src/lib/train/run-config.ts';
import type { DocumentsRequest, DocumentsSummary, ExportProgress, FilterReport, FilterRequest, GenerateEvent, GenerateRequest, GenerateSummary, GeneratedFile, GenerationJobInfo, PushDatasetRequest, PushSummary } from './api.ts';
import type { EngineState } from './engine-state.ts';
import { GENERATED_PREFIX, jobId as makeJobId, jobKey, listJobs, readDocuments, readJob, readRows, RowWriter } from './generated-rows.ts';
import { summarize } from './loaders.ts';
import { runtimeFor } from './train-session.ts';

/** What a job generates with (its record's options): everything that decides its rows. */
interface JobOptions {
  hubUrl: string;
  model: string;
  revision: string;
  template: string;
  perDoc: number;
  maxNewTokens: number;
  sampling: GenerateRequest['sampling'];
  /** The embedding model the documents were chunked for, and a chunk's token budget. */
  chunking: { model: string; budget: number };
}

/** What this worker holds for generation between calls (kept beside, not inside, EngineState). */
interface GenerationHold {
  documents: { source: string; chunks: Chunk[]; chunking: JobOptions['chunking'] } | null;
  abort: AbortController | null;
}
const holds = new WeakMap<EngineState, GenerationHold>();
function hold(state: EngineState): GenerationHold {
  let h = holds.get(state);
  if (!h) holds.set(state, (h = { documents: null, abort: null }));
  return h;
}

const PREVIEW_CHUNKS = 5;
/** Events to the page at most this often (a fast model finishes many documents a second). */
const EVENT_MS = 200;

export async function loadDocuments(state: EngineState, req: DocumentsRequest): Promise<DocumentsSummary> {
  const { loaded, tokenizer } = state.parsedModel();
  const read = req.kind === 'file'
    ? await readDocumentsFile(req.name, req.bytes, { column: req.column })
    : await readHubDocuments({ client: new HubClient({ hubUrl: req.hubUrl }), store: state.store, repo: req.repo, revision: req.revision, column: req.column });
  const report = chunkDocuments(read.documents, tokenizer);
  const source = read.source;
  hold(state).documents = { source, chunks: report.chunks, chunking: { model: loaded.summary.name, budget: report.budget } };
  return {
    source,
    documents: read.documents.length,
    columns: read.columns,
    column: read.column,
    chunks: report.chunks.length,
    chunkTokens: report.budget,
    preview: report.chunks.slice(0, PREVIEW_CHUNKS).map((c) => ({ id: c.chunkId, text: c.text, tokens: c.tokens })),
  };
}

function checkRequest(req: GenerateRequest): void {
  const problem = templateProblem(req.template);
  if (problem) throw new Error(problem);
  if (!Number.isInteger(req.perDoc) || req.perDoc < 1 || req.perDoc > MAX_QUESTIONS_PER_DOC) throw new Error(`questions per document must be a whole number from 1 to ${MAX_QUESTIONS_PER_DOC}`);
  if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1 || req.maxNewTokens > MAX_NEW_TOKENS_LIMIT) throw new Error(`max new tokens must be a whole number from 1 to ${MAX_NEW_TOKENS_LIMIT}`);
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(req.model)) throw new Error(`"${req.model}" is not a Hub model id (owner/name)`);
  const sm = req.sampling;
  if (sm.mode === 'seeded' && !(Number.isSafeInteger(sm.seed) && sm.seed >= 0 && Number.isFinite(sm.temperature) && sm.temperature > 0)) {
    throw new Error('seeded sampling needs a whole seed of at least 0 and a temperature above 0');
  }
  if (sm.mode !== 'seeded' && sm.mode !== 'greedy') throw new Error('decoding is greedy or seeded sampling');
}

/** WebGPU when the browser gives an adapter, else WASM; the reason is said either way. */
async function pickDevice(): Promise<{ device: 'webgpu' | 'wasm'; why: string }> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu) return { device: 'wasm', why: 'WASM: this browser has no WebGPU (navigator.gpu is absent)' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  return adapter ? { device: 'webgpu', why: 'WebGPU: the browser gave an adapter' } : { device: 'wasm', why: 'WASM: requestAdapter() returned null' };
}

/**
 * The generator's files through our Hub code into the store (hubFileSource: resumable, hash-checked,
 * with progress); without a network, what an earlier run stored under the same repo and revision.
 */
async function generatorSource(store: Store, o: JobOptions, onProgress: ProgressCallback, signal: AbortSignal): Promise<ModelFileSource> {
  try {
    return await hubFileSource({ client: new HubClient({ hubUrl: o.hubUrl }), store, repo: o.model, revision: o.revision, onProgress, signal });
  } catch (e) {
    if (!(e instanceof HubError && e.offline)) throw e;
    const prefix = modelKey(o.hubUrl, o.model, o.revision);
    const files = new Map<string, Uint8Array>();
    for (const key of await store.keys(prefix)) {
      const bytes = await store.get(key);
      if (bytes) files.set(key.slice(prefix.length), bytes);
    }
    if (!files.has('config.json')) throw new HubError('Network', `${e.message} ${o.model}@${o.revision} is not in this browser's storage either.`, null, e);
    return mapFileSource(`${o.model}@${o.revision} (offline: from storage)`, files);
  }
}

/** A job's stored rows as question/chunk pairs (the generator deduped them across the set as they came). */
function pairsOf(rows: readonly GeneratedRow[]): QuestionRow[] {
  return rows.flatMap((r) => r.questions.map((question) => ({ question, chunkId: r.chunkId, documentId: r.documentId })));
}

/** Repeats the generator dropped, counted again from the stored answers as questionsFor drops them (the card's counts). */
function duplicatesOf(rows: readonly GeneratedRow[], n: number): number {
  const d = new QuestionDeduper();
  for (const r of rows) questionsFor(r.output, r, n, d);
  return d.dropped.length;
}

export async function generate(state: EngineState, req: GenerateRequest, onEvent?: (e: GenerateEvent) => void): Promise<GenerateSummary> {
  const h = hold(state);
  if (h.abort) throw new Error('questions are being generated already');
  let chunks: Chunk[];
  let source: string;
  let options: JobOptions;
  let id: string;
  if (req.jobId) {
    const job = await readJob<JobOptions>(state.store, req.jobId);
    const docs = job && (await readDocuments<Chunk>(state.store, req.jobId));
    if (!job || !docs) throw new Error(`generation job ${req.jobId} is not in this browser's storage any more: load the documents and generate again`);
    ({ options, source } = job);
    chunks = docs;
    id = job.id;
  } else {
    checkRequest(req);
    if (!h.documents) throw new Error('no documents are loaded: load a documents file first');
    ({ chunks, source } = h.documents);
    options = { hubUrl: req.hubUrl, model: req.model, revision: req.revision ?? 'main', template: req.template, perDoc: req.perDoc, maxNewTokens: req.maxNewTokens, sampling: req.sampling, chunking: h.documents.chunking };
    // The Hub's URL is no part of the output: the same model from a mirror resumes the same job.
    const { hubUrl: _, ...decides } = options;
    id = makeJobId({ chunks: chunks.map((c) => [c.chunkId, c.text]), options: decides });
  }
  const abort = new AbortController();
  h.abort = abort;
  const started = performance.now();
  const { device, why } = await pickDevice();
  // Set inside open() (a closure), which control-flow narrowing does not follow.
  let writer = null as RowWriter<GeneratedRow, JobOptions> | null;
  let questions = 0;
  /** Chunks whose rows are stored (or handed to the writer, which stores them before it returns). */
  let doneCount = 0;
  const summary = (status: GenerateSummary['status']): GenerateSummary => ({
    jobId: id, status, documents: chunks.length, done: doneCount, questions, device, seconds: (performance.now() - started) / 1000,
  });
  let status: GenerateSummary['status'] = 'cancelled';
  try {
    // The id names the chunks, so rows stored under it are this job's.
    const stored = await readRows<GeneratedRow>(state.store, id);
    questions = stored.reduce((n, r) => n + r.questions.length, 0);
    const done = new Set(stored.map((r) => r.chunkId));
    doneCount = done.size;
    const open = async () => (writer = (await RowWriter.open<GeneratedRow, JobOptions, Chunk>(state.store, { id, source, documents: chunks, options })).writer);
    if (done.size >= chunks.length) {
      await open();
      status = 'done';
      return summary(status);
    }
    // The model first: a job is stored (and offered for Resume) only once its model loads.
    const files = await generatorSource(state.store, options, (progress) => onEvent?.({ type: 'download', progress }), abort.signal);
    const generator = await loadGenerator(files, { backend: device });
    try {
      const w = await open();
      onEvent?.({ type: 'start', jobId: id, total: chunks.length, resumedFrom: done.size, device, dtype: generator.dtype, why });
      let pending: { doc: string; questions: string[] }[] = [];
      let last = 0;
      const result = await generateQuestions(generator, chunks, {
        template: options.template, perDoc: options.perDoc, maxNewTokens: options.maxNewTokens,
        ...(options.sampling.mode === 'seeded' ? { seed: options.sampling.seed, temperature: options.sampling.temperature } : {}),
      }, {
        done,
        deduper: resumeDeduper(stored),
        signal: abort.signal,
        onRow: async (row) => {
          await w.add([row]);
          questions += row.questions.length;
          doneCount += 1;
          pending.push({ doc: row.chunkId, questions: row.questions });
          const now = performance.now();
          if (now - last >= EVENT_MS) {
            last = now;
            onEvent?.({ type: 'rows', rows: pending });
            pending = [];
          }
        },
        onProgress: (p) => onEvent?.({ type: 'progress', progress: {
          done: p.docsDone, total: p.docsTotal, questions,
          docsPerSecond: p.docsPerS ?? 0, tokensPerSecond: p.tokensPerS ?? 0, etaSeconds: p.etaS ?? null,
        } }),
      });
      if (pending.length) onEvent?.({ type: 'rows', rows: pending });
      status = result.cancelled ? 'cancelled' : 'done';
    } finally {
      await generator.dispose();
    }
    return summary(status);
  } catch (e) {
    if (abort.signal.aborted) return summary('cancelled');
    throw e;
  } finally {
    if (writer) await writer.flush(status === 'done' ? 'done' : 'cancelled');
    h.abort = null;
  }
}

export async function cancelGenerate(state: EngineState): Promise<void> {
  hold(state).abort?.abort();
}

export async function generationJobs(state: EngineState): Promise<GenerationJobInfo[]> {
  return (await listJobs<JobOptions>(state.store)).map((j) => ({
    jobId: j.id, source: j.source, model: j.options.model, documents: j.documents, done: j.done, status: j.status, updatedAt: j.updatedAt,
    options: { template: j.options.template, perDoc: j.options.perDoc, maxNewTokens: j.options.maxNewTokens, sampling: j.options.sampling },
  }));
}

const DROPPED_EXAMPLES = 8;
/** The filtered set's record (generator, prompt, filter, counts) beside its splits. */
const SET_FILE = 'set.json';

/** The decoding in the card's words. */
function decodingWords(s: JobOptions['sampling']): string {
  switch (s.mode) {
    case 'greedy':
      return 'greedy';
    case 'seeded':
      return `sampling, seed ${s.seed}, temperature ${s.temperature}`;
    default: {
      const never: never = s;
      throw new Error(`unknown decoding ${JSON.stringify(never)}`);
    }
  }
}

export async function filterGenerated(state: EngineState, req: FilterRequest, onProgress?: (p: { done: number; total: number }) => void): Promise<FilterReport> {
  checkTopK(req.topK);
  const job = await readJob<JobOptions>(state.store, req.jobId);
  const chunks = job && (await readDocuments<Chunk>(state.store, req.jobId));
  if (!job || !chunks) throw new Error(`generation job ${req.jobId} is not in this browser's storage any more`);
  const rows = await readRows<GeneratedRow>(state.store, req.jobId);
  const pairs = pairsOf(rows);
  if (!pairs.length) throw new Error('no questions were generated yet: generate (or resume) first');
  const { loaded, model, tokenizer } = state.parsedModel({ weights: true });
  const config = parseRunConfig(req.config, { hidden: model.config.hiddenSize });
  const encoder = await BertEncoder.create((await runtimeFor(state, config)).runtime, model);
  let result;
  try {
    result = await filterPairs({ pairs, chunks, encoder, tokenizer, prompts: runPrompts(config, model.prompts), options: { topK: req.topK }, onProgress: (p) => onProgress?.({ done: p.done, total: p.total }) });
  } finally {
    await encoder.dispose();
  }
  if (!result.kept.length) throw new Error(`no pair kept: no question ranked its chunk in the top ${req.topK}; raise k or check the questions`);
  const textOf = new Map(chunks.map((c) => [c.chunkId, c.text]));
  const o = job.options;
  const duplicates = duplicatesOf(rows, o.perDoc);
  const set = buildGeneratedSet(result.kept, chunks, {
    source: job.source,
    generator: { model: `${o.model}@${o.revision}`, decoding: decodingWords(o.sampling), maxNewTokens: o.maxNewTokens, questionsPerDoc: o.perDoc, prompt: o.template },
    chunking: o.chunking,
    filter: { model: loaded.summary.name, topK: req.topK },
    counts: { documents: new Set(chunks.map((c) => c.documentId)).size, chunks: chunks.length, questions: pairs.length + duplicates, duplicates, filtered: result.dropped.length },
  }, { seed: config.seed });
  for (const split of ['train', 'test'] as const) {
    if (set[split].length) await state.store.set(jobKey(req.jobId, `${split}.jsonl`), jsonlBytes(set[split]));
    else await state.store.del(jobKey(req.jobId, `${split}.jsonl`));
  }
  await state.store.set(jobKey(req.jobId, SET_FILE), new TextEncoder().encode(JSON.stringify(set.record)));
  const id = `${GENERATED_PREFIX}${req.jobId}`;
  const splits = generatedTables(set);
  const dataset = summarize(state, id, splits, 'file', false);
  return {
    dataset,
    kept: result.kept.length,
    dropped: result.dropped.length,
    droppedExamples: result.dropped.slice(0, DROPPED_EXAMPLES).map((d) => ({ question: d.question, document: textOf.get(d.chunkId) ?? '', rank: d.rank })),
    model: loaded.summary.name,
    topK: req.topK,
  };
}

/** A job's filtered set as stored (its splits and record), for the downloads and the push. */
async function filteredSet(state: EngineState, jobId: string): Promise<GeneratedSet> {
  const record = await state.store.get(jobKey(jobId, SET_FILE));
  const train = await state.store.get(jobKey(jobId, 'train.jsonl'));
  if (!record || !train) throw new Error(`the generated set ${jobId} has not been filtered yet (or was deleted): run the filter first`);
  const rowsOf = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as SetRow) : []);
  return { train: rowsOf(train), test: rowsOf(await state.store.get(jobKey(jobId, 'test.jsonl'))), record: JSON.parse(new TextDecoder().decode(record)) as GeneratedSet['record'] };
}

/** Every row of the set (train, then test) in one file: the download is the data set, its split is cut again where it is loaded. */
export async function generatedFile(state: EngineState, jobId: string, format: 'jsonl' | 'parquet'): Promise<GeneratedFile> {
  const set = await filteredSet(state, jobId);
  const rows = [...set.train, ...set.test];
  return format === 'jsonl'
    ? { bytes: jsonlBytes(rows), name: `generated-${jobId}.jsonl`, mime: 'application/jsonl' }
    : { bytes: await parquetBytes(rows), name: `generated-${jobId}.parquet`, mime: 'application/vnd.apache.parquet' };
}

export async function pushGenerated(state: EngineState, req: PushDatasetRequest, onProgress?: (p: ExportProgress) => void): Promise<PushSummary> {
  const set = await filteredSet(state, req.jobId);
  let files = 0;
  const r = await pushGeneratedSet(set, {
    hubUrl: req.hubUrl, repo: req.repo, token: req.token, private: req.private, update: req.update,
    onProgress: (p) => onProgress?.({ phase: p.phase === 'done' ? 'done' : 'uploading', path: p.path ?? null, done: p.doneBytes, total: p.totalBytes, pushPhase: p.phase }),
  });
  files = set.test.length ? 3 : 2;
  return { repoUrl: r.repoUrl, commitUrl: r.commitUrl, created: r.created, user: r.user, files };
}

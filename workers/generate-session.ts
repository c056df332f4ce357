// The engine worker's side of "I have only documents": reads documents (a file or a Hub data set
// column) and chunks them to the loaded embedding model's length; stores a generation job for them
// (generated-rows.ts), which the generation worker (generate.worker.ts) runs; runs the
// consistency filter with the loaded model and makes the kept pairs the loaded data set
// (`generated:{jobId}`, its train/test split cut as for a file), which then downloads as JSONL or
// Parquet and pushes to the Hub as a data set repo with its card. Not the generation, parsing or
// filter (src/lib/generate/) and not the page; docs/generate.md#in-the-page says how it is laid out.

import { chunkDocuments, type Chunk } from '../src/lib/generate/chunk.ts';
import { readDocumentsFile, readHubDocuments } from '../src/lib/generate/documents.ts';
import { checkTopK, FILTER_EXAMPLES, filterPairs } from '../src/lib/generate/filter.ts';
import { buildGeneratedSet, generatedTables, jsonlBytes, parquetBytes, pushGeneratedSet, type GeneratedSet } from '../src/lib/generate/generated-set.ts';
import { MAX_NEW_TOKENS_LIMIT, type GeneratedRow } from '../src/lib/generate/generator.ts';
type SetRow = GeneratedSet['train'][number];
import { MAX_QUESTIONS_PER_DOC, QuestionDeduper, questionsFor, type QuestionRow, templateProblem } from '../src/lib/generate/questions.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { runPrompts } from '../src/lib/run/run.ts';
import { parseRunConfig } from '../src/lib/train/run-config.ts';
import type { DocumentsRequest, DocumentsSummary, ExportProgress, FilterReport, FilterRequest, GenerateRequest, GeneratedFile, GenerationJobInfo, PushDatasetRequest, PushSummary } from './api.ts';
import type { EngineState } from './engine-state.ts';
import { GENERATED_PREFIX, type GenerationOptions, jobId as makeJobId, jobKey, listJobs, prepareJob, PUSHED_FILE, readDocuments, readJob, readRows, SET_FILE } from './generated-rows.ts';
import { summarize } from './loaders.ts';
import { runtimeFor } from './train-session.ts';

/** What this worker holds for generation between calls (kept beside, not inside, EngineState). */
interface GenerationHold {
  documents: { source: string; chunks: Chunk[]; chunking: GenerationOptions['chunking'] } | null;
}
const holds = new WeakMap<EngineState, GenerationHold>();
function hold(state: EngineState): GenerationHold {
  let h = holds.get(state);
  if (!h) holds.set(state, (h = { documents: null }));
  return h;
}

const PREVIEW_CHUNKS = 5;

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

/**
 * Stores the job for the loaded documents and these options (or finds it stored: the same
 * documents and options are the same job) and returns its id; the generation worker runs it.
 */
export async function prepareGeneration(state: EngineState, req: GenerateRequest): Promise<string> {
  checkRequest(req);
  const d = hold(state).documents;
  if (!d) throw new Error('no documents are loaded: load a documents file first');
  const options: GenerationOptions = { hubUrl: req.hubUrl, model: req.model, revision: req.revision ?? 'main', template: req.template, perDoc: req.perDoc, maxNewTokens: req.maxNewTokens, sampling: req.sampling, chunking: d.chunking };
  // The Hub's URL is no part of the output: the same model from a mirror resumes the same job.
  const { hubUrl: _, ...decides } = options;
  const id = makeJobId({ chunks: d.chunks.map((c) => [c.chunkId, c.text]), options: decides });
  await prepareJob(state.store, { id, source: d.source, documents: d.chunks, options });
  return id;
}

/** Stored jobs that ran (a prepared job whose model never loaded is not one to resume). */
export async function generationJobs(state: EngineState): Promise<GenerationJobInfo[]> {
  return (await listJobs<GenerationOptions>(state.store)).flatMap((j) => (j.status === 'new' ? [] : [{
    jobId: j.id, source: j.source, model: j.options.model, documents: j.documents, done: j.done, status: j.status, updatedAt: j.updatedAt,
    options: { template: j.options.template, perDoc: j.options.perDoc, maxNewTokens: j.options.maxNewTokens, sampling: j.options.sampling },
  }]));
}

const DROPPED_EXAMPLES = 8;

/** The decoding in the card's words. */
function decodingWords(s: GenerationOptions['sampling']): string {
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
  const job = await readJob<GenerationOptions>(state.store, req.jobId);
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
  // A push of the set filtered before is not this set.
  await state.store.del(jobKey(req.jobId, PUSHED_FILE));
  const id = `${GENERATED_PREFIX}${req.jobId}`;
  const splits = generatedTables(set);
  const dataset = summarize(state, id, splits, 'file', false, undefined, { record: set.record, repo: null });
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
  // A model trained on this set from now on names its Hub repo (loaders.ts generatedOrigin).
  await state.store.set(jobKey(req.jobId, PUSHED_FILE), new TextEncoder().encode(JSON.stringify({ repo: req.repo })));
  if (state.data?.source === `${GENERATED_PREFIX}${req.jobId}` && state.data.generated) state.data.generated = { ...state.data.generated, repo: req.repo };
  return { repoUrl: r.repoUrl, commitUrl: r.commitUrl, created: r.created, user: r.user, files };
}

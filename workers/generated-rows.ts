// Where a question-generation job keeps what it has made, so that a cancel, a crash or a reload
// loses at most the document in progress (and the last second of rows): the job's record
// (job.json: its options and how far it got), its chunked documents (documents.jsonl, so a resume
// after a reload needs nothing from the page but the job id), and the generated rows, appended in
// chunks (rows/000000.jsonl, rows/000001.jsonl …) as they come. Every chunk is a new key written
// once; a store's set() is atomic, so a reader sees a whole chunk or none of it.
// Keys live under `dataset/local/generated:{jobId}/`, so the Storage panel lists (and deletes) a
// job as one data set (docs/generate.md#in-the-page). Not the generation (generator.ts) or the filter.

import { localDatasetKey, type Store } from '../src/lib/store/store.ts';
import type { GenerateSampling } from './api.ts';

export const GENERATED_PREFIX = 'generated:';
export const JOB_FILE = 'job.json';
export const DOCUMENTS_FILE = 'documents.jsonl';
/** The filtered set's record (generator, prompt, filter, counts) beside its splits. */
export const SET_FILE = 'set.json';
/** The Hub dataset repo the filtered set was pushed to ({repo}); removed when the filter runs again. */
export const PUSHED_FILE = 'pushed.json';
const ROWS_DIR = 'rows/';
/** The most a job's record may hold when read back (it is our own file, but storage can be edited). */
const MAX_JOB_BYTES = 1 << 20;

/** What a page job generates with (its record's options): everything that decides its rows, and the Hub it reads the model from. */
export interface GenerationOptions {
  hubUrl: string;
  model: string;
  revision: string;
  template: string;
  perDoc: number;
  maxNewTokens: number;
  sampling: GenerateSampling;
  /** The embedding model the documents were chunked for, and a chunk's token budget. */
  chunking: { model: string; budget: number };
}

/** What a job records about itself; `options` is whatever the caller generates with. */
export interface GenerationJob<O = unknown> {
  id: string;
  /** Where the documents came from (a file name or a Hub data set column), in words. */
  source: string;
  /** Chunks (documents after chunking) the job generates for. */
  documents: number;
  options: O;
  /** Documents whose rows are stored. */
  done: number;
  /** `new`: prepared, its model never loaded (not offered for Resume). */
  status: 'new' | 'running' | 'cancelled' | 'done';
  createdAt: string;
  updatedAt: string;
}

/** The storage key of one of a job's files. */
export const jobKey = (jobId: string, file = '') => localDatasetKey(`${GENERATED_PREFIX}${jobId}`, file);

/**
 * A short, stable id for a job from everything that decides its output (documents and options): the
 * same documents generated with the same options resume the same job; anything else is a new one.
 * Two 32-bit FNV-1a hashes (different offsets) joined, as the mined set's id does with one.
 */
export function jobId(parts: unknown): string {
  const s = JSON.stringify(parts);
  let a = 2166136261;
  let b = 0x811c9dc5 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 16777619) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
    b = (b ^ (b >>> 13)) >>> 0;
  }
  return `${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const jsonl = (rows: readonly unknown[]) => enc.encode(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
function parseJsonl<T>(bytes: Uint8Array, where: string): T[] {
  return dec.decode(bytes).split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as T;
    } catch {
      throw new Error(`${where}: line ${i + 1} is not JSON; delete the job in the Storage panel and generate again`);
    }
  });
}

export async function readJob<O>(store: Store, id: string): Promise<GenerationJob<O> | null> {
  const b = await store.get(jobKey(id, JOB_FILE));
  if (!b) return null;
  if (b.byteLength > MAX_JOB_BYTES) throw new Error(`generated:${id}/${JOB_FILE} is ${b.byteLength} bytes, more than a job record holds`);
  const j = JSON.parse(dec.decode(b)) as GenerationJob<O>;
  if (j?.id !== id || typeof j.done !== 'number' || typeof j.documents !== 'number') throw new Error(`generated:${id}/${JOB_FILE} is not a job record`);
  return j;
}

/** Every stored job, newest first (the page offers to resume the unfinished ones after a reload). */
export async function listJobs<O>(store: Store): Promise<GenerationJob<O>[]> {
  const prefix = jobKey('').slice(0, -1); // dataset/local/generated:
  const ids = (await store.keys(prefix)).filter((k) => k.endsWith(`/${JOB_FILE}`)).map((k) => k.slice(prefix.length, -JOB_FILE.length - 1));
  const jobs = (await Promise.all(ids.map((id) => readJob<O>(store, id).catch(() => null)))).filter((j): j is GenerationJob<O> => !!j);
  return jobs.sort((x, y) => y.updatedAt.localeCompare(x.updatedAt));
}

export async function readDocuments<D>(store: Store, id: string): Promise<D[] | null> {
  const b = await store.get(jobKey(id, DOCUMENTS_FILE));
  return b ? parseJsonl<D>(b, `generated:${id}/${DOCUMENTS_FILE}`) : null;
}

/** The rows stored so far, in the order they were made. */
export async function readRows<R>(store: Store, id: string): Promise<R[]> {
  const keys = (await store.keys(jobKey(id, ROWS_DIR))).sort();
  const rows: R[] = [];
  for (const k of keys) {
    const b = await store.get(k);
    if (b) rows.push(...parseJsonl<R>(b, k));
  }
  return rows;
}

export interface RowWriterOptions {
  /** Write a chunk once this many rows wait (default 64). */
  chunkRows?: number;
  /** …or once the oldest waiting row is this old (default 1000 ms), so a reload loses little. */
  chunkMs?: number;
  now?: () => number;
}

/**
 * Stores a job's documents and record (status `new`) unless it is stored already: the engine
 * prepares a job from the documents it chunked, and the generation worker, which has only the
 * store, opens it by id. A stored job whose document count differs is not this job and is replaced.
 */
export async function prepareJob<O, D>(store: Store, init: { id: string; source: string; documents: readonly D[]; options: O }): Promise<GenerationJob<O>> {
  const old = await readJob<O>(store, init.id).catch(() => null);
  if (old && old.documents === init.documents.length && (await store.get(jobKey(init.id, DOCUMENTS_FILE)))) return old;
  const stamp = new Date().toISOString();
  await store.delPrefix(jobKey(init.id));
  await store.set(jobKey(init.id, DOCUMENTS_FILE), jsonl(init.documents));
  const job: GenerationJob<O> = { id: init.id, source: init.source, documents: init.documents.length, options: init.options, done: 0, status: 'new', createdAt: stamp, updatedAt: stamp };
  await store.set(jobKey(init.id, JOB_FILE), enc.encode(JSON.stringify(job)));
  return job;
}

/**
 * Appends a job's rows in chunks and keeps its record's `done` in step with what is stored (the
 * record is written after the chunk, so `done` never counts rows a crash lost). One writer per job.
 */
export class RowWriter<R, O = unknown> {
  readonly #store: Store;
  #job: GenerationJob<O>;
  #waiting: R[] = [];
  #waitingDocs = 0;
  #since = 0;
  #next: number;
  readonly #chunkRows: number;
  readonly #chunkMs: number;
  readonly #now: () => number;

  private constructor(store: Store, job: GenerationJob<O>, nextChunk: number, o: RowWriterOptions) {
    this.#store = store;
    this.#job = job;
    this.#next = nextChunk;
    this.#chunkRows = o.chunkRows ?? 64;
    this.#chunkMs = o.chunkMs ?? 1000;
    this.#now = o.now ?? Date.now;
  }

  /**
   * Opens job `id`: when it is stored, where it stopped (its rows are kept; `done` documents are
   * skipped by the caller); else a new job with these documents. A stored job whose document count
   * differs is not this job and is started over.
   */
  static async open<R, O, D>(store: Store, init: { id: string; source: string; documents: readonly D[]; options: O }, o: RowWriterOptions = {}): Promise<{ writer: RowWriter<R, O>; job: GenerationJob<O>; resumed: boolean }> {
    const stamp = new Date().toISOString();
    const old = await readJob<O>(store, init.id).catch(() => null);
    if (old && old.documents === init.documents.length && (await store.get(jobKey(init.id, DOCUMENTS_FILE)))) {
      const chunks = (await store.keys(jobKey(init.id, ROWS_DIR))).length;
      const job: GenerationJob<O> = { ...old, status: old.status === 'done' ? 'done' : 'running', updatedAt: stamp };
      return { writer: new RowWriter<R, O>(store, job, chunks, o), job, resumed: true };
    }
    await store.delPrefix(jobKey(init.id));
    await store.set(jobKey(init.id, DOCUMENTS_FILE), jsonl(init.documents));
    const job: GenerationJob<O> = { id: init.id, source: init.source, documents: init.documents.length, options: init.options, done: 0, status: 'running', createdAt: stamp, updatedAt: stamp };
    await store.set(jobKey(init.id, JOB_FILE), enc.encode(JSON.stringify(job)));
    return { writer: new RowWriter<R, O>(store, job, 0, o), job, resumed: false };
  }

  get job(): GenerationJob<O> {
    return this.#job;
  }

  /** The rows of one finished document (possibly none: a document whose output parsed to nothing). */
  async add(rows: readonly R[]): Promise<void> {
    if (!this.#waitingDocs) this.#since = this.#now();
    this.#waiting.push(...rows);
    this.#waitingDocs += 1;
    if (this.#waiting.length >= this.#chunkRows || this.#now() - this.#since >= this.#chunkMs) await this.flush();
  }

  /** Writes what waits as one chunk, then the record. */
  async flush(status: GenerationJob['status'] = this.#job.status): Promise<void> {
    if (this.#waiting.length) {
      await this.#store.set(jobKey(this.#job.id, `${ROWS_DIR}${String(this.#next).padStart(6, '0')}.jsonl`), jsonl(this.#waiting));
      this.#next += 1;
    }
    this.#job = { ...this.#job, done: this.#job.done + this.#waitingDocs, status, updatedAt: new Date().toISOString() };
    this.#waiting = [];
    this.#waitingDocs = 0;
    await this.#store.set(jobKey(this.#job.id, JOB_FILE), enc.encode(JSON.stringify(this.#job)));
  }
}

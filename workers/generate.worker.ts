// The generation worker: runs a stored question-generation job (the engine prepared it:
// generate-session.ts) with a text-generation model through src/lib/generate/generator.ts — WebGPU
// when the browser gives an adapter, else WASM — its files downloaded through our Hub code into
// IndexedDB first (offline: from there), and stores the rows as they come (generated-rows.ts), so
// Cancel and a reload lose at most the chunk in progress. A worker of its own because
// transformers.js brings onnxruntime with it: beside the engine's sessions on one WebGPU device
// they broke each other's pipelines (the self-test and a resumed job at once, in Chromium), and
// here neither waits for the other. Not the filter or the data set (the engine's), and not the
// page; docs/generate.md#in-the-page says how it is laid out.

import './csp-report.ts';
import { isOrtThread } from './ort-thread.ts';
import * as Comlink from 'comlink';
import type { Chunk } from '../src/lib/generate/chunk.ts';
import { generateQuestions, loadGenerator, resumeDeduper, type GeneratedRow, type ModelFileSource } from '../src/lib/generate/generator.ts';
import { hubFileSource, mapFileSource } from '../src/lib/generate/model-source.ts';
import { HubError } from '../src/lib/hub/errors.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import type { ProgressCallback } from '../src/lib/hub/progress.ts';
import { IdbStore } from '../src/lib/store/idb-store.ts';
import { modelKey, type Store } from '../src/lib/store/store.ts';
import type { GenerateEvent, GenerateJobRequest, GenerateSummary, GenerateWorkerApi } from './api.ts';
import { type GenerationOptions, jobKey, readDocuments, readJob, readRows, RowWriter } from './generated-rows.ts';

/** Events to the page at most this often (a fast model finishes many chunks a second). */
const EVENT_MS = 200;
/** How often, while tokens come, the shared cancel flag is read (the generator's progress calls). */
const CANCEL_CHECK_MS = 100;

let store: Store;
/** The job in progress; cancel() aborts it. */
let active: AbortController | null = null;

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
async function generatorSource(store: Store, o: GenerationOptions, onProgress: ProgressCallback, signal: AbortSignal): Promise<ModelFileSource> {
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

async function generate(req: GenerateJobRequest, onEvent?: (e: GenerateEvent) => void): Promise<GenerateSummary> {
  if (active) throw new Error('questions are being generated already');
  const job = await readJob<GenerationOptions>(store, req.jobId);
  const chunks = job && (await readDocuments<Chunk>(store, req.jobId));
  if (!job || !chunks) throw new Error(`generation job ${req.jobId} is not in this browser's storage any more: load the documents and generate again`);
  const { options, source, id } = job;
  const abort = new AbortController();
  active = abort;
  const flag = req.cancelFlag ? new Int32Array(req.cancelFlag) : null;
  /** The page's cancel through shared memory: seen while tokens come, with no message to wait for. */
  const cancelled = () => {
    if (flag && Atomics.load(flag, 0) !== 0) abort.abort();
  };
  const started = performance.now();
  const { device, why } = await pickDevice();
  // Set inside open() (a closure), which control-flow narrowing does not follow.
  let writer = null as RowWriter<GeneratedRow, GenerationOptions> | null;
  let questions = 0;
  /** Chunks whose rows are stored (or handed to the writer, which stores them before it returns). */
  let doneCount = 0;
  const summary = (status: GenerateSummary['status']): GenerateSummary => ({
    jobId: id, status, documents: chunks.length, done: doneCount, questions, device, seconds: (performance.now() - started) / 1000,
  });
  let status: GenerateSummary['status'] = 'cancelled';
  try {
    // The id names the chunks, so rows stored under it are this job's.
    const stored = await readRows<GeneratedRow>(store, id);
    questions = stored.reduce((n, r) => n + r.questions.length, 0);
    const done = new Set(stored.map((r) => r.chunkId));
    doneCount = done.size;
    const open = async () => (writer = (await RowWriter.open<GeneratedRow, GenerationOptions, Chunk>(store, { id, source, documents: chunks, options })).writer);
    if (done.size >= chunks.length) {
      await open();
      status = 'done';
      return summary(status);
    }
    // The model first: a job is stored (and offered for Resume) only once its model loads.
    const files = await generatorSource(store, options, (progress) => onEvent?.({ type: 'download', progress }), abort.signal);
    const generator = await loadGenerator(files, { backend: device });
    try {
      const w = await open();
      onEvent?.({ type: 'start', jobId: id, total: chunks.length, resumedFrom: done.size, device, dtype: generator.dtype, why, notice: generator.promptNotice ?? null });
      let pending: { doc: string; questions: string[] }[] = [];
      let last = 0;
      const result = await generateQuestions(generator, chunks, {
        template: options.template, perDoc: options.perDoc, maxNewTokens: options.maxNewTokens,
        ...(options.sampling.mode === 'seeded' ? { seed: options.sampling.seed, temperature: options.sampling.temperature } : {}),
      }, {
        done,
        deduper: resumeDeduper(stored),
        signal: abort.signal,
        progressMs: CANCEL_CHECK_MS,
        onRow: async (row) => {
          cancelled();
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
          // A macrotask between chunks, so that a cancel() message is read even where the model
          // runs without yielding (one WASM thread, in Firefox).
          await new Promise((r) => setTimeout(r, 0));
        },
        onProgress: (p) => (cancelled(), onEvent?.({ type: 'progress', progress: {
          done: p.docsDone, total: p.docsTotal, questions,
          docsPerSecond: p.docsPerS ?? 0, tokensPerSecond: p.tokensPerS ?? 0, etaSeconds: p.etaS ?? null,
        } })),
      });
      if (pending.length) onEvent?.({ type: 'rows', rows: pending });
      status = result.cancelled ? 'cancelled' : 'done';
    } finally {
      await generator.dispose();
    }
    return summary(status);
  } catch (e) {
    if (abort.signal.aborted) return summary('cancelled');
    // A prepared job whose model never loaded (a wrong id, not a text-generation model) goes away.
    if (!writer && job.status === 'new') await store.delPrefix(jobKey(id)).catch(() => undefined);
    throw e;
  } finally {
    if (writer) await writer.flush(status === 'done' ? 'done' : 'cancelled');
    active = null;
  }
}

const api: GenerateWorkerApi = {
  generate,
  cancel: async () => active?.abort(),
  ping: async () => true,
};

// onnxruntime's WASM threads run this script too (ort-thread.ts): they must not start a worker.
if (!isOrtThread()) {
  // The same IndexedDB as the engine's (writes hold Web Locks, so its sweep skips them). Its keys
  // are all Hub-keyed already: the engine's one-time move of old cache keys is not needed here.
  store = new IdbStore();
  Comlink.expose(api);
}

// The engine worker's ways out for a model trained in the page (a finished run in IndexedDB):
// the zip (the package of src/lib/export/package.ts, streamed file by file into Blob parts so a
// 440 MB model is never held twice), the push to the Hub (the same files), and the retrieval
// explorer (a query's top 10 under the base model and the trained one, side by side).
// Not the packaging, the upload protocol or the metrics: the library's.

import { embedTexts } from '../src/lib/models/embed-texts.ts';
import { type EvalProgress } from '../src/lib/eval/evaluate-model.ts';
import { type IrResult, jsScores, prepareIr } from '../src/lib/eval/ir-metrics.ts';
import { commitMessage, describeInt8, pushToHub } from '../src/lib/export/hub-push.ts';
import { evaluateQuantized, packageEntries, type PackageSource, zipPackage } from '../src/lib/export/package.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { recordedPrompts } from '../src/lib/models/prompts.ts';
import { loadSentenceModel } from '../src/lib/models/sentence-model.ts';
import { CHECKPOINTS_PREFIX, readRunRecord, type RunRecord } from '../src/lib/run/record.ts';
import { buildRunIrSet, runEvalDims } from '../src/lib/run/run.ts';
import { prefixedStore, runKey } from '../src/lib/store/store.ts';
import { loadTokenizer, tokenizerFilesFromMap } from '../src/lib/tokenize/tokenizer.ts';
import { parseRunConfig } from '../src/lib/train/run-config.ts';
import type { ExploreHit, ExploreRequest, ExploreResult, ExportProgress, ExportRequest, ExportResult, PushRequest, PushSummary } from './api.ts';
import type { EngineState } from './engine-state.ts';
import { storedModelFiles } from './loaders.ts';
import { preparedData, runtimeFor } from './train-session.ts';

async function finishedRun(state: EngineState, runId: string): Promise<{ record: RunRecord; source: PackageSource }> {
  const store = prefixedStore(state.store, runKey(runId));
  const record = await readRunRecord(store);
  if (!record) throw new Error(`no stored run ${runId}`);
  if (record.status !== 'done') throw new Error(`run ${runId} (${record.name}) has no trained model: it is ${record.status}`);
  const paths = (await store.keys()).filter((k) => !k.startsWith(CHECKPOINTS_PREFIX));
  const read = async (path: string) => {
    const bytes = await store.get(path);
    if (!bytes) throw new Error(`${record.name}: ${path} is missing from storage`);
    return bytes;
  };
  return { record, source: { paths, read } };
}

/** The int8 model's evaluation on the loaded data set (which must be the run's). */
async function int8For(state: EngineState, runId: string, record: RunRecord, onProgress?: (p: ExportProgress) => void): Promise<IrResult | null> {
  if (state.data?.source !== record.dataSource) throw new Error(`load the data set ${record.dataSource} first: the int8 model is evaluated on its test split`);
  const config = parseRunConfig(record.config);
  const set = buildRunIrSet(config, preparedData(state, config));
  if (!set) return null;
  onProgress?.({ phase: 'evaluating', path: null, done: 0, total: 1 });
  const { files } = await storedModelFiles(state, runId);
  const model = loadSentenceModel(files);
  const result = await evaluateQuantized({
    runtime: (await runtimeFor(state, config)).runtime, model, tokenizer: loadTokenizer(tokenizerFilesFromMap(files, record.name)), set,
    dims: runEvalDims(config, model.config.hiddenSize), prompts: recordedPrompts(config.prompts),
  });
  return result;
}

export async function exportZip(state: EngineState, req: ExportRequest, onProgress?: (p: ExportProgress) => void): Promise<ExportResult> {
  const { record, source } = await finishedRun(state, req.runId);
  const int8 = req.quantize ? await int8For(state, req.runId, record, onProgress) : null;
  const parts: Blob[] = [];
  let pending: Uint8Array[] = [];
  const files: { path: string; size: number }[] = [];
  async function* entries() {
    for await (const [path, bytes] of packageEntries(source, record, { onnx: req.onnx, quantize: req.quantize, int8, form: req.form })) {
      onProgress?.({ phase: 'packing', path, done: files.length, total: null });
      files.push({ path, size: bytes.byteLength });
      yield [path, bytes] as [string, Uint8Array];
      // Into browser-managed Blob storage, so the file's array can go.
      parts.push(new Blob(pending as Uint8Array<ArrayBuffer>[]));
      pending = [];
    }
  }
  await zipPackage(entries(), (chunk) => void pending.push(chunk));
  parts.push(new Blob(pending as Uint8Array<ArrayBuffer>[]));
  onProgress?.({ phase: 'done', path: null, done: files.length, total: files.length });
  return { blob: new Blob(parts, { type: 'application/zip' }), name: `${record.name.replace(/[^\w.-]+/g, '-').replace(/^-|-$/g, '') || 'model'}.zip`, files, int8 };
}

export async function pushModel(state: EngineState, req: PushRequest, onProgress?: (p: ExportProgress) => void): Promise<PushSummary> {
  const { record, source } = await finishedRun(state, req.runId);
  const int8 = req.quantize ? await int8For(state, req.runId, record, onProgress) : null;
  const files = new Map<string, Blob>();
  for await (const [path, bytes] of packageEntries(source, record, { onnx: req.onnx, quantize: req.quantize, int8, repoId: req.repo, form: req.form })) {
    onProgress?.({ phase: 'packing', path, done: files.size, total: null });
    files.set(path, new Blob([bytes as Uint8Array<ArrayBuffer>]));
  }
  const r = await pushToHub({
    hubUrl: req.hubUrl, repo: req.repo, token: req.token, private: req.private, update: req.update, files,
    message: commitMessage(record), description: describeInt8(int8),
    onProgress: (p) => onProgress?.({ phase: 'uploading', path: p.path ?? null, done: p.doneBytes, total: p.totalBytes, pushPhase: p.phase }),
  });
  return { ...r, files: files.size };
}

// ---- retrieval explorer ------------------------------------------------------------------------

const TOP = 10;

async function explorerFor(state: EngineState, runId: string, onProgress?: (p: EvalProgress) => void) {
  if (state.explorer?.runId === runId) return state.explorer;
  await state.disposeExplorer();
  const { record, files } = await storedModelFiles(state, runId);
  const base = state.parsedModel({ weights: true });
  if (base.loaded.summary.name !== record.baseModel) throw new Error(`load the base model ${record.baseModel} first (step 1): the explorer compares it with ${record.name}`);
  if (state.data?.source !== record.dataSource) throw new Error(`load the data set ${record.dataSource} first (step 2)`);
  const config = parseRunConfig(record.config);
  const set = buildRunIrSet(config, preparedData(state, config));
  if (!set) throw new Error(`${record.dataSource} has no test split to explore`);
  const prepared = prepareIr(set);
  const runtime = (await runtimeFor(state, config)).runtime;
  const trained = loadSentenceModel(files);
  const encoders = { before: await BertEncoder.create(runtime, base.model), after: await BertEncoder.create(runtime, trained) };
  const tokenizers = { before: base.tokenizer, after: loadTokenizer(tokenizerFilesFromMap(files, record.name)) };
  // The prompts the run trained and evaluated with (recorded resolved), on the base model too, as its "before" evaluation.
  const prompts = recordedPrompts(config.prompts);
  const total = prepared.corpusTexts.length * 2;
  let done = 0;
  const corpus: { before: Float32Array; after: Float32Array } = { before: new Float32Array(), after: new Float32Array() };
  for (const which of ['before', 'after'] as const) {
    corpus[which] = await embedTexts(prepared.corpusTexts, tokenizers[which], encoders[which], {
      batchSize: 32,
      prompt: prompts.document,
      onBatch: (n) => onProgress?.({ phase: 'embed', done: (done += n), total, rate: undefined, etaS: undefined, elapsedS: 0 }),
    });
  }
  state.explorer = { runId, prepared, encoders, tokenizers, corpus, dim: trained.config.hiddenSize, prompts };
  return state.explorer;
}

/** The run's test queries, for the explorer's picker. */
export async function exploreQueries(state: EngineState, runId: string): Promise<string[]> {
  return (await explorerFor(state, runId)).prepared.queryTexts;
}

export async function explore(state: EngineState, req: ExploreRequest, onProgress?: (p: EvalProgress) => void): Promise<ExploreResult> {
  const e = await explorerFor(state, req.runId, onProgress);
  const { prepared, dim: D } = e;
  const q = prepared.queryTexts.indexOf(req.query);
  const relevant = new Set(q >= 0 ? prepared.relevant.get(prepared.queryIds[q]) ?? [] : []);
  const nc = prepared.corpusIds.length;
  const ranked = async (which: 'before' | 'after') => {
    const [emb] = [await embedTexts([req.query], e.tokenizers[which], e.encoders[which], { batchSize: 1, prompt: e.prompts.query })];
    const scores = jsScores(emb, e.corpus[which], 1, nc, D);
    // Ties by corpus order, as the evaluator breaks them (ascending corpus id rank).
    return [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b).map((j) => ({ j, score: scores[j] }));
  };
  const before = await ranked('before');
  const after = await ranked('after');
  const rankOf = (list: { j: number }[]) => {
    const k = list.findIndex((x) => relevant.has(prepared.corpusIds[x.j]));
    return k < 0 ? null : k + 1;
  };
  const hits = (list: { j: number; score: number }[], other: { j: number }[]): ExploreHit[] =>
    list.slice(0, TOP).map((x, i) => ({
      id: String(prepared.corpusIds[x.j]), text: prepared.corpusTexts[x.j], score: x.score, rank: i + 1,
      relevant: relevant.has(prepared.corpusIds[x.j]), otherRank: other.findIndex((y) => y.j === x.j) + 1,
    }));
  return {
    query: req.query, isTestQuery: q >= 0, corpusSize: nc,
    before: hits(before, after), after: hits(after, before),
    relevantRank: q >= 0 ? { before: rankOf(before), after: rankOf(after) } : null,
    prompts: e.prompts,
  };
}

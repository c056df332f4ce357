// `tabtune generate`: documents in, (question, document) pairs out as JSONL — a small instruction
// model writes questions for each document (generator.ts, through transformers.js on
// onnxruntime-node), repeats are dropped (questions.ts) and, with --filter-model, the consistency
// filter keeps a pair only when the embedding model ranks its document in the question's top k
// (filter.ts). docs/generate.md states every step.
// Resumable: each finished document is appended to FILE.partial (a header line with the run's
// settings, then one JSON line per document) before the next one starts; running the same command
// again skips the documents already there (a truncated last line, from a kill mid-write, is
// dropped) and replays their questions to dedupe, so the final FILE is the same as an
// uninterrupted run's. FILE is written (atomically) only when every document is done; then the
// partial file is removed.
// Not the page's generation (workers/) and not training: `tabtune train --data FILE` takes the result.

import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { checkDataFileSize } from '../lib/data/parse.ts';
import { HubClient } from '../lib/hub/hub-client.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { DEFAULT_PROMPT_CHOICES, resolvePrompts } from '../lib/models/prompts.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { formatRate } from '../lib/progress/progress.ts';
import { chunkDocuments, type Chunk } from '../lib/generate/chunk.ts';
import { readDocumentsFile, readHubDocuments, type DocumentSet } from '../lib/generate/documents.ts';
import { DEFAULT_FILTER_TOP_K, FILTER_EXAMPLES, checkTopK, filterPairs } from '../lib/generate/filter.ts';
import { datasetCard, jsonlBytes, sidecarCardPath, type GeneratedRow as SetRow, type GenerationRecord } from '../lib/generate/generated-set.ts';
import { publicName } from '../lib/export/public-names.ts';
import {
  DEFAULT_MAX_NEW_TOKENS,
  MAX_NEW_TOKENS_LIMIT,
  describeDecoding,
  generateQuestions,
  loadGenerator,
  resumeDeduper,
  type GeneratedRow,
  type GenerationDtype,
  type GenerateOptions,
  type ModelFileSource,
} from '../lib/generate/generator.ts';
import { folderFileSource } from '../lib/generate/generator-node.ts';
import { hubFileSource } from '../lib/generate/model-source.ts';
import { DEFAULT_PROMPT_TEMPLATE, DEFAULT_QUESTIONS_PER_DOC, MAX_QUESTIONS_PER_DOC, templateProblem, type QuestionRow } from '../lib/generate/questions.ts';
import type { CliIo } from './embed.ts';
import { UsageError, EXIT_OK } from './errors.ts';

/** As `tabtune train` exits on Ctrl-C (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;
import { ProgressBar } from './progress-bar.ts';
import { classifySource, cliCache, downloadProgress, loadModelSource, resolveHubFlag, type ModelSource } from './sources.ts';

export const GENERATE_HELP = `Usage: tabtune generate --docs FILE|HUB_ID --model DIR|HUB_ID --out FILE.jsonl [options]

Writes (question, document) pairs for fine-tuning from documents alone: a small instruction model
(any transformers.js text-generation model with ONNX weights, e.g. ${'onnx-community/Qwen2.5-0.5B-Instruct'})
writes --per-doc short search questions for each document, repeated questions are dropped and,
with --filter-model, a pair is kept only when that embedding model ranks its document in the
question's top k. Output: one JSON object per line, {"anchor", "positive", "id", "document_id"},
which "tabtune train --data FILE.jsonl" reads (anchor = question, positive = document), and
FILE.card.md beside it: the set's card (generator, prompt, filter, counts; the README.md of the
set as a Hub data set), from which "tabtune train --data FILE.jsonl" names the set in the
trained model's card.

Resumable: finished documents go to FILE.jsonl.partial as they come; Ctrl-C drops only the
document in progress and exits 130; run the same command again and it goes on where it stopped.

Options:
  --docs FILE|HUB_ID      documents: a .txt file (one per line), a CSV/TSV/JSON/JSONL/Parquet file,
                          or a Hub data set (owner/name[@revision])
  --column NAME           the text column of a table or data set (default: text, document, doc, ...)
  --id-column NAME        a column of unique document ids (default: line or row numbers)
  --split NAME            the Hub data set's split (default train)
  --model DIR|HUB_ID      the generator (config.json, tokenizer files, onnx/model*.onnx)
  --dtype D               the ONNX variant: q8 (default when present, else fp32), fp32, q4, fp16, q4f16
  --out FILE.jsonl        the pairs
  --per-doc N             questions asked for per document (default ${DEFAULT_QUESTIONS_PER_DOC}, at most ${MAX_QUESTIONS_PER_DOC})
  --max-new-tokens N      generated tokens per document at most (default ${DEFAULT_MAX_NEW_TOKENS}, at most ${MAX_NEW_TOKENS_LIMIT})
  --prompt-file FILE      the prompt template: {document} and {n} are filled in (default: see docs/generate.md)
  --seed N                sample (temperature 0.7, top-k 50) with this seed instead of greedy decoding
  --filter-model DIR|ID   embedding model for chunking (documents are cut to its length) and the filter
  --filter-top-k K        keep a pair when its document ranks in the top K (default ${DEFAULT_FILTER_TOP_K})
  --hub URL               another Hub (default TABTUNE_HUB_URL or https://huggingface.co)
  -h, --help              show this help

Progress (documents/s, generated tokens/s, ETA) goes to stderr.`;

const PARTIAL_FORMAT = 'tabtune-generate-partial/1';
/** A partial file past this is no run's (4,096 tokens of text per document would need millions of documents). */
const MAX_PARTIAL_BYTES = 1 << 30;

function intFlag(value: string | undefined, flag: string, lo: number, hi: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < lo || Number(value) > hi) throw new UsageError(`${flag} must be a whole number from ${lo} to ${hi}, got "${value}"`, 'generate');
  return Number(value);
}

const DTYPES: readonly GenerationDtype[] = ['fp32', 'fp16', 'q8', 'q4', 'q4f16'];

/** What must match for a partial file to be continued: everything that changes a document's rows. */
export interface RunSettings {
  docs: string;
  model: string;
  dtype: GenerationDtype;
  template: string;
  perDoc: number;
  maxNewTokens: number;
  decoding: string;
  chunking: string;
  /** The chunk ids in order, hashed: the same documents cut the same way. */
  chunks: string;
}

function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

export interface PartialFile {
  settings: RunSettings | null;
  rows: GeneratedRow[];
  /** Bytes of the file that are whole lines (a truncated last line is not counted). */
  goodBytes: number;
  droppedTail: boolean;
}

function isRow(x: unknown): x is GeneratedRow {
  const r = x as GeneratedRow;
  return (
    !!r &&
    typeof r === 'object' &&
    typeof r.chunkId === 'string' &&
    typeof r.documentId === 'string' &&
    Array.isArray(r.questions) &&
    r.questions.every((q) => typeof q === 'string') &&
    typeof r.output === 'string' &&
    [r.parsed, r.duplicates, r.promptTokens, r.newTokens].every((n) => Number.isInteger(n) && n >= 0)
  );
}

/** Reads a partial file: its header and rows; a last line without its newline is dropped. */
export function readPartial(text: string, file: string): PartialFile {
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n').slice(0, -1);
  const bad = (i: number, why: string) => new Error(`${file}, line ${i + 1}: ${why}; delete the file to start over`);
  let settings: RunSettings | null = null;
  const rows: GeneratedRow[] = [];
  lines.forEach((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw bad(i, 'not JSON');
    }
    if (i === 0) {
      const h = v as { format?: unknown; settings?: unknown };
      if (h?.format !== PARTIAL_FORMAT || !h.settings || typeof h.settings !== 'object') throw bad(i, `not a tabtune generate progress file (no ${PARTIAL_FORMAT} header)`);
      settings = h.settings as RunSettings;
    } else if (isRow(v)) rows.push(v);
    else throw bad(i, 'not a generated document row');
  });
  return { settings, rows, goodBytes: Buffer.byteLength(text.slice(0, end)), droppedTail: end < text.length };
}

/** The settings that differ between a partial file and this run, as "name: was → now". */
function settingsDiff(was: RunSettings, now: RunSettings): string[] {
  return (Object.keys(now) as (keyof RunSettings)[])
    .filter((k) => was[k] !== now[k])
    .map((k) => (k === 'template' || k === 'chunks' ? `${k} changed` : `${k}: ${JSON.stringify(was[k])} → ${JSON.stringify(now[k])}`));
}

async function loadDocuments(spec: string, values: { column?: string; 'id-column'?: string; split?: string }, hubUrl: string, io: CliIo): Promise<DocumentSet> {
  const src = classifySource(spec, '--docs', 'generate');
  const choice = { column: values.column, idColumn: values['id-column'] };
  if (src.kind === 'hub') {
    const progress = downloadProgress(`documents ${src.repo}`, io.stderr);
    try {
      return await readHubDocuments({ client: new HubClient({ hubUrl }), store: cliCache(), repo: src.repo, revision: src.revision, split: values.split, onProgress: progress, ...choice });
    } finally {
      progress.finish();
    }
  }
  if (src.kind === 'dir') throw new UsageError(`--docs ${spec} is a folder; give a file or a Hub data set`, 'generate');
  if (values.split !== undefined) throw new UsageError('--split is for a Hub data set', 'generate');
  checkDataFileSize(spec, statSync(spec).size);
  return readDocumentsFile(basename(spec), new Uint8Array(readFileSync(spec)), choice);
}

/** The generator's files: a folder, or a Hub repo downloaded into the CLI's cache with a progress bar. */
async function generatorSource(spec: string, hubUrl: string, io: CliIo): Promise<{ source: ModelFileSource; loaded(): void }> {
  const src = classifySource(spec, '--model', 'generate');
  if (src.kind === 'file') throw new UsageError(`--model ${spec} is a file; give the model's folder or a Hub id`, 'generate');
  if (src.kind === 'dir') return { source: folderFileSource(src.path, spec), loaded: () => undefined };
  const progress = downloadProgress(`model ${src.repo}`, io.stderr);
  try {
    const source = await hubFileSource({ client: new HubClient({ hubUrl }), store: cliCache(), repo: src.repo, revision: src.revision, onProgress: progress });
    return { source, loaded: () => progress.finish() };
  } catch (e) {
    progress.finish();
    throw new Error(`--model ${spec}: ${(e as Error).message}`, { cause: e });
  }
}

export interface GenerateRunOptions {
  /** Cancels the run (as Ctrl-C does); finished documents stay in the partial file. */
  signal?: AbortSignal;
}

export async function generateCommand(argv: string[], io: CliIo, run: GenerateRunOptions = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      docs: { type: 'string' },
      column: { type: 'string' },
      'id-column': { type: 'string' },
      split: { type: 'string' },
      model: { type: 'string' },
      dtype: { type: 'string' },
      out: { type: 'string' },
      'per-doc': { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'prompt-file': { type: 'string' },
      seed: { type: 'string' },
      'filter-model': { type: 'string' },
      'filter-top-k': { type: 'string' },
      hub: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(GENERATE_HELP + '\n');
    return EXIT_OK;
  }
  for (const f of ['docs', 'model', 'out'] as const) if (!values[f]) throw new UsageError(`missing --${f}`, 'generate');
  const out = values.out!;
  const perDoc = intFlag(values['per-doc'], '--per-doc', 1, MAX_QUESTIONS_PER_DOC, DEFAULT_QUESTIONS_PER_DOC);
  const maxNewTokens = intFlag(values['max-new-tokens'], '--max-new-tokens', 1, MAX_NEW_TOKENS_LIMIT, DEFAULT_MAX_NEW_TOKENS);
  const seed = values.seed === undefined ? undefined : intFlag(values.seed, '--seed', 0, 2 ** 32 - 1, 0);
  if (values['filter-top-k'] !== undefined && !values['filter-model']) throw new UsageError('--filter-top-k needs --filter-model', 'generate');
  const topK = intFlag(values['filter-top-k'], '--filter-top-k', 1, 1_000_000, DEFAULT_FILTER_TOP_K);
  checkTopK(topK);
  const dtype = values.dtype as GenerationDtype | undefined;
  if (dtype !== undefined && !DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got "${values.dtype}"`, 'generate');
  let template = DEFAULT_PROMPT_TEMPLATE;
  if (values['prompt-file'] !== undefined) {
    const st = statSync(values['prompt-file'], { throwIfNoEntry: false });
    if (!st?.isFile()) throw new UsageError(`--prompt-file ${values['prompt-file']}: no such file`, 'generate');
    if (st.size > 100_000) throw new UsageError(`--prompt-file ${values['prompt-file']}: ${st.size} bytes is no prompt template`, 'generate');
    template = readFileSync(values['prompt-file'], 'utf8');
    const problem = templateProblem(template);
    if (problem) throw new UsageError(`--prompt-file ${values['prompt-file']}: ${problem}`, 'generate');
  }
  const partialPath = `${out}.partial`;
  const resuming = existsSync(partialPath);
  if (!resuming && existsSync(out)) throw new Error(`${out} exists (a finished run); delete it or give another --out`);
  const hubUrl = resolveHubFlag(values.hub, process.env, 'generate');

  // Documents, then chunks: to the filter model's length when there is one, else whole.
  const docs = await loadDocuments(values.docs!, values, hubUrl, io);
  io.stderr.write(`documents: ${docs.documents.length} from ${docs.source}${docs.column ? ` (column ${docs.column})` : ''}${docs.skipped ? `, ${docs.skipped} empty skipped` : ''}\n`);
  let embedder: ModelSource | null = null;
  let chunks: Chunk[];
  let chunking: string;
  let budget = 0;
  if (values['filter-model']) {
    embedder = await loadModelSource(values['filter-model'], { hubUrl, stderr: io.stderr, command: 'generate' }, '--filter-model');
    const report = chunkDocuments(docs.documents, embedder.tokenizer);
    chunks = report.chunks;
    chunking = `${embedder.name}, ${report.budget} tokens`;
    budget = report.budget;
    io.stderr.write(`chunks: ${chunks.length} of at most ${report.budget} tokens (${embedder.name}'s length less its special tokens); ${report.split} documents were cut\n`);
  } else {
    chunks = docs.documents.map((d) => ({ chunkId: `${d.id}#0`, documentId: d.id, index: 0, text: d.text, tokens: 0 }));
    chunking = 'none';
    io.stderr.write('chunks: none (no --filter-model to chunk for): one per document\n');
  }

  const { source, loaded } = await generatorSource(values.model!, hubUrl, io);
  const gen = await loadGenerator(source, { backend: 'node', dtype }).finally(loaded);
  const options: GenerateOptions = { template, perDoc, maxNewTokens, seed };
  const settings: RunSettings = {
    docs: docs.source,
    model: source.label,
    dtype: gen.dtype,
    template,
    perDoc,
    maxNewTokens,
    decoding: describeDecoding(options),
    chunking,
    chunks: fnv(JSON.stringify(chunks.map((c) => [c.chunkId, c.text]))),
  };
  io.stderr.write(`generator: ${source.label} (${gen.dtype}, onnxruntime-node CPU), ${settings.decoding}, at most ${maxNewTokens} new tokens, ${perDoc} questions per document${gen.chat ? '' : ' (no chat template: the prompt is fed as is)'}\n`);

  // The partial file: continue it when the settings match, else start it.
  let stored: GeneratedRow[] = [];
  if (resuming) {
    const size = statSync(partialPath).size;
    if (size > MAX_PARTIAL_BYTES) throw new Error(`${partialPath} is ${size} bytes, more than a generate run writes (${MAX_PARTIAL_BYTES}); delete it to start over`);
    const p = readPartial(readFileSync(partialPath, 'utf8'), partialPath);
    if (p.settings) {
      const diff = settingsDiff(p.settings, settings);
      if (diff.length) throw new Error(`${partialPath} was made with other settings (${diff.join('; ')}); run with the same ones to resume, or delete it to start over`);
    }
    const known = new Set(chunks.map((c) => c.chunkId));
    const stray = p.rows.find((r) => !known.has(r.chunkId));
    if (stray) throw new Error(`${partialPath} holds document "${stray.chunkId}", which is not among the documents; delete it to start over`);
    stored = p.rows;
    // Cut a truncated last line so that appends start on a fresh line.
    if (p.droppedTail || !p.settings) writeFileSync(partialPath, p.settings ? readFileSync(partialPath).subarray(0, p.goodBytes) : '');
    if (!p.settings) appendFileSync(partialPath, JSON.stringify({ format: PARTIAL_FORMAT, settings }) + '\n');
    io.stderr.write(`resuming: ${stored.length} of ${chunks.length} documents already done (${partialPath})${p.droppedTail ? '; a truncated last line was dropped' : ''}\n`);
  } else {
    writeFileSync(partialPath, JSON.stringify({ format: PARTIAL_FORMAT, settings }) + '\n');
  }

  const bar = new ProgressBar({ label: 'generate', total: chunks.length, unit: 'documents', stream: io.stderr });
  bar.update(stored.length);
  const rows = [...stored];
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once('SIGINT', onSigint);
  const signal = run.signal ? AbortSignal.any([run.signal, stop.signal]) : stop.signal;
  let summary;
  try {
    summary = await generateQuestions(gen, chunks, options, {
      done: new Set(stored.map((r) => r.chunkId)),
      deduper: resumeDeduper(stored),
      signal,
      onRow: (row) => {
        appendFileSync(partialPath, JSON.stringify(row) + '\n');
        rows.push(row);
      },
      onProgress: (p) => {
        bar.setDetail(formatRate(p.tokensPerS, 'tokens'));
        bar.update(p.docsDone);
      },
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
    await gen.dispose();
  }
  if (summary.cancelled) {
    bar.setDetail('cancelled');
    io.stderr.write(`\ncancelled: ${rows.length} of ${chunks.length} documents done and kept in ${partialPath}; run the same command again to resume\n`);
    return EXIT_INTERRUPTED;
  }
  bar.finish();

  // Pairs in generation order; then the filter.
  let pairs: QuestionRow[] = rows.flatMap((r) => r.questions.map((question) => ({ question, chunkId: r.chunkId, documentId: r.documentId })));
  const parsed = rows.reduce((n, r) => n + r.parsed, 0);
  const duplicates = rows.reduce((n, r) => n + r.duplicates, 0);
  io.stderr.write(`questions: ${pairs.length} kept of ${parsed} parsed (${duplicates} repeats dropped) for ${rows.length} documents\n`);
  let filtered = 0;
  if (embedder) {
    const encoder = await BertEncoder.forInference(await createRuntime('node'), embedder.model);
    try {
      const prompts = resolvePrompts(DEFAULT_PROMPT_CHOICES, embedder.model.prompts, embedder.hub?.repo ?? embedder.name);
      const fbar = new ProgressBar({ label: 'filter', total: pairs.length + chunks.length, unit: 'texts', stream: io.stderr });
      const result = await filterPairs({ pairs, chunks, encoder, tokenizer: embedder.tokenizer, prompts, options: { topK }, onProgress: (p) => p.phase === 'embed' && fbar.update(p.done) });
      fbar.finish();
      io.stderr.write(`filter: kept ${result.counts.kept} of ${result.counts.pairs} pairs (document in the question's top ${topK} by ${embedder.name})\n`);
      for (const d of result.dropped.slice(0, FILTER_EXAMPLES)) {
        io.stderr.write(`  dropped: ${JSON.stringify(d.question)} → ${d.chunkId} ranked ${d.rank} (first: ${d.topChunkId})\n`);
      }
      pairs = result.kept;
      filtered = result.dropped.length;
    } finally {
      await encoder.dispose?.();
    }
  }
  const textOf = new Map(chunks.map((c) => [c.chunkId, c.text]));
  const outRows: SetRow[] = pairs.map((p) => ({ anchor: p.question, positive: textOf.get(p.chunkId)!, id: p.chunkId, document_id: p.documentId }));
  // The set's card beside it: what made it, which `tabtune train --data FILE` records for the model card.
  const record: GenerationRecord = {
    source: docs.source, // a file's name, or a Hub data set with its config and split
    generator: { model: publicName(source.label), decoding: settings.decoding, maxNewTokens, questionsPerDoc: perDoc, prompt: template },
    chunking: { model: embedder ? publicName(embedder.name) : 'none', budget },
    filter: embedder ? { model: publicName(embedder.name), topK } : null,
    counts: { documents: docs.documents.length, chunks: chunks.length, questions: parsed, duplicates, filtered, train: outRows.length, test: 0 },
  };
  const cardPath = sidecarCardPath(out);
  writeFileSync(`${cardPath}.tmp`, datasetCard({ train: outRows, test: [], record }, undefined, { train: basename(out) }));
  renameSync(`${cardPath}.tmp`, cardPath);
  writeFileSync(`${out}.tmp`, jsonlBytes(outRows));
  renameSync(`${out}.tmp`, out);
  rmSync(partialPath, { force: true });
  io.stderr.write(`wrote ${outRows.length} pairs to ${out} and the set's card to ${cardPath}\n`);
  return EXIT_OK;
}

// The generated pairs as a data set like any other (docs/generate.md#the-generated-data-set): rows
// `anchor` (the question), `positive` (the chunk's text), `id` (the chunk id, which the evaluator's
// IR set uses to identify documents) and `document_id`; a test split cut by the data's own seeded
// split (data/split.ts) over documents, so no test document is trained on; the tables the Data
// step takes; JSONL and Parquet bytes; a dataset card recording the generator, prompt, filter and
// counts (and reading that record back from a card, as untrusted text); the files of a Hub dataset
// repo and the push. Not the generation or the filter themselves (generator.ts, filter.ts).

import type { Table } from '../data/parse.ts';
import { splitTrainTest } from '../data/split.ts';
import { pushToHub, type PushOptions, type PushResult } from '../export/hub-push.ts';
import type { Chunk } from './chunk.ts';
import type { QuestionRow } from './questions.ts';

/** One row of the generated data set; the keys are its column names. */
export interface GeneratedRow {
  anchor: string;
  positive: string;
  /** The chunk id: one per positive text. */
  id: string;
  document_id: string;
}

export const GENERATED_COLUMNS = ['anchor', 'positive', 'id', 'document_id'] as const;

/** What made the set: written into the card, read back from it. */
export interface GenerationRecord {
  /** The documents' source (a file name or a Hub data set), in words. */
  source: string;
  generator: {
    model: string;
    /** "greedy", or "sampling, seed 42, temperature 0.7": as the generator describes its decoding. */
    decoding: string;
    maxNewTokens: number;
    questionsPerDoc: number;
    prompt: string;
  };
  /** The embedding model the documents were chunked for, and the tokens a chunk may hold. */
  chunking: { model: string; budget: number };
  /** null when no filter ran. */
  filter: { model: string; topK: number } | null;
  counts: GenerationCounts;
}

/**
 * A generated set as a model trained on it names it (the run record's `generated`, read by the
 * model card): what made it, and the Hub dataset repo it was pushed to (null while it is only
 * here). docs/generate.md#the-trained-models-card.
 */
export interface GeneratedOrigin {
  record: GenerationRecord;
  repo: string | null;
}

export interface GenerationCounts {
  documents: number;
  chunks: number;
  /** Questions parsed, before dedupe. */
  questions: number;
  duplicates: number;
  /** Pairs the filter dropped (0 without a filter). */
  filtered: number;
  train: number;
  test: number;
}

export interface GeneratedSet {
  train: GeneratedRow[];
  test: GeneratedRow[];
  record: GenerationRecord;
}

/**
 * The pairs (after dedupe and filter) as rows, split train/test by document: the distinct
 * document ids in order of first appearance go through splitTrainTest (the split a data file with
 * one split gets), and every row follows its document. Counts not known here (documents, chunks,
 * questions, duplicates, filtered) come in `record.counts`; train and test are set here.
 */
export function buildGeneratedSet(
  pairs: readonly QuestionRow[],
  chunks: readonly Pick<Chunk, 'chunkId' | 'text'>[],
  record: Omit<GenerationRecord, 'counts'> & { counts: Omit<GenerationCounts, 'train' | 'test'> },
  split: { testFraction?: number; seed?: number } = {},
): GeneratedSet {
  const textOf = new Map(chunks.map((c) => [c.chunkId, c.text]));
  const rows = pairs.map((p, i): GeneratedRow => {
    const positive = textOf.get(p.chunkId);
    if (positive === undefined) throw new Error(`pair ${i} names chunk "${p.chunkId}", which is not among the chunks`);
    return { anchor: p.question, positive, id: p.chunkId, document_id: p.documentId };
  });
  const docs = [...new Set(rows.map((r) => r.document_id))];
  const { test } = splitTrainTest(docs, split.testFraction ?? 0.1, split.seed ?? 42);
  const inTest = new Set(test);
  const out = { train: rows.filter((r) => !inTest.has(r.document_id)), test: rows.filter((r) => inTest.has(r.document_id)) };
  return { ...out, record: { ...record, counts: { ...record.counts, train: out.train.length, test: out.test.length } } };
}

/** The splits as the Data step's tables (what a loaded data file gives prepareDataset). */
export function generatedTables(set: GeneratedSet): Record<string, Table> {
  const table = (rows: GeneratedRow[]): Table => ({ columns: [...GENERATED_COLUMNS], rows: rows.map((r) => ({ ...r })) });
  return set.test.length > 0 ? { train: table(set.train), test: table(set.test) } : { train: table(set.train) };
}

const enc = new TextEncoder();

/** One JSON object per line, columns in GENERATED_COLUMNS order, a newline after each. */
export function jsonlBytes(rows: readonly GeneratedRow[]): Uint8Array {
  return enc.encode(rows.map((r) => JSON.stringify(Object.fromEntries(GENERATED_COLUMNS.map((c) => [c, r[c]]))) + '\n').join(''));
}

/**
 * A Parquet file of the rows (string columns, as `datasets` writes them). The writer is loaded
 * only when asked for, so the page pays for it only on a Parquet download or a push.
 */
export async function parquetBytes(rows: readonly GeneratedRow[]): Promise<Uint8Array> {
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const buf = parquetWriteBuffer({ columnData: GENERATED_COLUMNS.map((name) => ({ name, data: rows.map((r) => r[name]), type: 'STRING' as const })) });
  return new Uint8Array(buf);
}

const RECORD_MARK = 'tabtune-generated:';
/** The longest card read back, and the longest string kept from its record. */
export const MAX_CARD_CHARS = 1_000_000;
const MAX_RECORD_STRING = 20_000;

/** A Markdown table cell: one line, pipes escaped, bounded. */
const cell = (s: string) => s.replace(/[\r\n]+/g, ' ').replace(/\|/g, '\\|').slice(0, 300);
/** A code fence longer than any backtick run in `text`, so the text cannot end it. */
const fence = (text: string) => '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));

/**
 * The dataset card (README.md): YAML front matter naming the splits' files (the Hub's `configs`
 * form, so the Hub and `datasets` load it), then what made the set in words, then the same record
 * as JSON inside an HTML comment for tabtune to read back (parseGenerationRecord).
 */
export function datasetCard(set: GeneratedSet, title = 'Generated question–document pairs', dataFiles?: Record<string, string>): string {
  const r = set.record;
  const g = r.generator;
  const c = r.counts;
  const files = dataFiles ?? Object.fromEntries((set.test.length > 0 ? ['train', 'test'] : ['train']).map((s) => [s, `data/${s}-*`]));
  const json = JSON.stringify(r).replace(/--/g, '-\\u002d'); // "--" cannot end the comment
  const f = fence(g.prompt);
  return [
    '---',
    'tags:',
    '- tabtune',
    '- sentence-transformers',
    '- synthetic',
    'task_categories:',
    '- sentence-similarity',
    'configs:',
    '- config_name: default',
    '  data_files:',
    ...Object.entries(files).flatMap(([s, path]) => [`  - split: ${s}`, `    path: ${/^[\w./*-]+$/.test(path) ? path : JSON.stringify(path)}`]),
    '---',
    '',
    `# ${cell(title)}`,
    '',
    'Questions written for each chunk of a set of documents by a small language model, made with tabtune.',
    'Columns: `anchor` (the question), `positive` (the chunk), `id` (the chunk id), `document_id`.',
    '',
    '| | |',
    '|---|---|',
    `| documents | ${cell(r.source)} (${c.documents} documents, ${c.chunks} chunks of at most ${r.chunking.budget} tokens of ${cell(r.chunking.model)}) |`,
    `| generator | ${cell(g.model)}, ${cell(g.decoding)}, at most ${g.maxNewTokens} new tokens, ${g.questionsPerDoc} questions per chunk |`,
    `| questions | ${c.questions} parsed, ${c.duplicates} duplicates dropped |`,
    `| filter | ${r.filter ? `${cell(r.filter.model)}, kept when the chunk ranks in the top ${r.filter.topK}; ${c.filtered} dropped` : 'none'} |`,
    `| rows | ${c.train} train, ${c.test} test (split by document) |`,
    '',
    'Prompt template:',
    '',
    f,
    g.prompt,
    f,
    '',
    `<!-- ${RECORD_MARK} ${json} -->`,
    '',
  ].join('\n');
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The record a tabtune dataset card carries, or null when the card has none. The card is
 * untrusted (anyone's Hub repo): its length is bounded before it is searched, every field is
 * type-checked, and strings are cut to a bound; a record that fails a check is null, not an error.
 */
export function parseGenerationRecord(card: string): GenerationRecord | null {
  if (typeof card !== 'string' || card.length > MAX_CARD_CHARS) return null;
  const at = card.lastIndexOf(`<!-- ${RECORD_MARK}`);
  if (at < 0) return null;
  const end = card.indexOf('-->', at);
  if (end < 0) return null;
  let v: unknown;
  try {
    v = JSON.parse(card.slice(at + `<!-- ${RECORD_MARK}`.length, end));
  } catch {
    return null;
  }
  return checkGenerationRecord(v);
}

/**
 * A generation record read from anywhere untrusted (a card's JSON, a stored set.json, a run
 * record): every field type-checked, strings cut to a bound; null when a check fails.
 */
export function checkGenerationRecord(v: unknown): GenerationRecord | null {
  const o = (x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : null);
  const str = (x: unknown) => (typeof x === 'string' ? x.slice(0, MAX_RECORD_STRING) : null);
  const r = o(v);
  const g = o(r?.generator);
  const ch = o(r?.chunking);
  const c = o(r?.counts);
  const fl = r?.filter === null ? null : o(r?.filter);
  if (!r || !g || !ch || !c || fl === undefined) return null;
  const source = str(r.source);
  const model = str(g.model);
  const decoding = str(g.decoding);
  const prompt = str(g.prompt);
  const chunkModel = str(ch.model);
  if (source === null || model === null || decoding === null || prompt === null || chunkModel === null) return null;
  if (!isCount(g.maxNewTokens) || !isCount(g.questionsPerDoc) || !isCount(ch.budget)) return null;
  const keys = ['documents', 'chunks', 'questions', 'duplicates', 'filtered', 'train', 'test'] as const;
  if (!keys.every((k) => isCount(c[k]))) return null;
  let filter: GenerationRecord['filter'] = null;
  if (fl !== null) {
    const fm = str(fl.model);
    if (fm === null || !isCount(fl.topK) || fl.topK < 1) return null;
    filter = { model: fm, topK: fl.topK };
  }
  return {
    source,
    generator: { model, decoding, maxNewTokens: g.maxNewTokens, questionsPerDoc: g.questionsPerDoc, prompt },
    chunking: { model: chunkModel, budget: ch.budget },
    filter,
    counts: Object.fromEntries(keys.map((k) => [k, c[k] as number])) as unknown as GenerationCounts,
  };
}

/** A run record's `generated` (stored, so untrusted): the record checked, the repo a Hub id or null; null when either fails. */
export function checkGeneratedOrigin(v: unknown): GeneratedOrigin | null {
  if (!v || typeof v !== 'object') return null;
  const { record, repo } = v as Record<string, unknown>;
  const r = checkGenerationRecord(record);
  if (!r || !(repo === null || repo === undefined || (typeof repo === 'string' && HUB_REPO.test(repo)))) return null;
  return { record: r, repo: typeof repo === 'string' ? repo : null };
}
const HUB_REPO = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;

/**
 * The dataset card `tabtune generate` writes beside its FILE.jsonl (FILE.card.md), which
 * `tabtune train --data FILE.jsonl` reads back for the model card; as the set's Hub README.md it
 * names FILE.jsonl as the train split's file.
 */
export const sidecarCardPath = (jsonl: string) => `${jsonl.replace(/\.jsonl$/i, '')}.card.md`;

/**
 * The files of the set's Hub dataset repo, as `datasets`' push_to_hub lays them out:
 * data/{split}-00000-of-00001.parquet per split and README.md (the card). The Hub converts and
 * lists them like any uploaded data set, so the data set loader reads them back.
 */
export async function datasetRepoFiles(set: GeneratedSet, title?: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  files.set('data/train-00000-of-00001.parquet', await parquetBytes(set.train));
  if (set.test.length > 0) files.set('data/test-00000-of-00001.parquet', await parquetBytes(set.test));
  files.set('README.md', enc.encode(datasetCard(set, title)));
  return files;
}

/** Pushes the set as a Hub dataset repo (hub-push.ts: token check, create, one commit). */
export async function pushGeneratedSet(
  set: GeneratedSet,
  o: Omit<PushOptions, 'files' | 'message' | 'kind'> & { message?: string; title?: string },
): Promise<PushResult> {
  const c = set.record.counts;
  const message = o.message ?? `tabtune: ${c.train + c.test} generated question–document pairs from ${c.documents} documents (${set.record.generator.model})`;
  return pushToHub({ ...o, kind: 'dataset', files: await datasetRepoFiles(set, o.title), message });
}

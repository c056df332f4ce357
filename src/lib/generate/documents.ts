// The documents a generated data set starts from: a .txt file (one document per line), one text
// column of a CSV/TSV/JSON/JSONL/Parquet file (read by the training data's own parser), or one
// text column of a Hub data set split (read by the Hub data set loader, so it is cached and
// loadable offline like any other). Every source ends as a list of {id, text}; bad input (an
// empty file, a missing column, a column that is not text, a file or a cell over the data limits)
// is refused with a message naming the file and what to do (docs/generate.md#documents).
// Not chunking (chunk.ts) and not the page's file picking.

import { closestColumn } from '../data/columns.ts';
import { checkDataFileSize, DataError, formatOf, parseDataFile, sniff, type Table } from '../data/parse.ts';
import { MAX_CELL_CHARS } from '../data/limits.ts';
import { loadHubDataset, type LoadHubDatasetOptions } from '../hub/dataset-files.ts';
import { pythonStrip } from '../util/py-space.ts';

/** One document: its id (kept through chunking into every pair) and its text. */
export interface Document {
  id: string;
  text: string;
}

export interface DocumentSet {
  documents: Document[];
  /** Where they came from, in words (a file name, or a Hub data set with config and split). */
  source: string;
  /** The column read (null for a .txt file). */
  column: string | null;
  /** The id column (null: line numbers for .txt, row numbers for a table). */
  idColumn: string | null;
  /** Every column of the table (empty for a .txt file), for the page's column picker. */
  columns: string[];
  /** Empty lines or empty cells (null, '', whitespace) skipped. */
  skipped: number;
}

export interface ColumnChoice {
  /** The text column; default: the first of DOCUMENT_COLUMN_NAMES present, else the only text column. */
  column?: string;
  /** A column of unique ids; default: row numbers (0-based) or line numbers (1-based, .txt). */
  idColumn?: string;
}

/** Column names taken as the document text when none is named, in order of preference. */
export const DOCUMENT_COLUMN_NAMES = ['text', 'document', 'doc', 'content', 'passage', 'body', 'positive', 'context'];

/** Extensions readDocumentsFile takes. */
export const DOCUMENT_FILE_EXTENSIONS = ['.txt', '.csv', '.tsv', '.json', '.jsonl', '.parquet'];

const KIND_WORDS: Record<string, string> = { parquet: 'Parquet', zip: 'a ZIP archive', gzip: 'gzip-compressed data', binary: 'binary data', html: 'an HTML page' };

/** Reads a documents file: .txt one document per line, else one text column of a data file. */
export async function readDocumentsFile(name: string, bytes: Uint8Array, choice: ColumnChoice = {}): Promise<DocumentSet> {
  if (/\.txt$/i.test(name)) {
    if (choice.column !== undefined || choice.idColumn !== undefined) throw new DataError(name, 'a .txt file has no columns (one document per line); leave the column empty');
    return readTextLines(name, bytes);
  }
  if (!formatOf(name)) throw new DataError(name, `unknown extension; documents are read from ${DOCUMENT_FILE_EXTENSIONS.join(', ')} files`);
  return documentsFromTable(await parseDataFile(name, bytes), name, choice);
}

function readTextLines(name: string, bytes: Uint8Array): DocumentSet {
  checkDataFileSize(name, bytes.byteLength);
  const kind = sniff(bytes);
  if (kind !== 'text' && kind !== 'json') throw new DataError(name, `this is not a text file: its content looks like ${KIND_WORDS[kind] ?? kind}`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/^\uFEFF/, '');
  const documents: Document[] = [];
  let skipped = 0;
  const lines = text.split(/\r\n|\r|\n/);
  // A final newline ends the last line; it does not start an empty one.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const t = pythonStrip(line);
    if (t === '') {
      skipped++;
      return;
    }
    if (t.length > MAX_CELL_CHARS) throw new DataError(name, `the line has ${t.length} characters, over the ${MAX_CELL_CHARS} limit for one document`, i + 1);
    documents.push({ id: String(i + 1), text: t });
  });
  if (documents.length === 0) throw new DataError(name, emptyMessage(lines.length));
  return { documents, source: name, column: null, idColumn: null, columns: [], skipped };
}

const emptyMessage = (lines: number) =>
  lines === 0 ? 'the file is empty: put one document per line' : `the file has no documents: all ${lines} lines are empty or whitespace`;

/** What a cell holds, in words, for a message. */
function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v} (${String(v).slice(0, 40)})`;
}

const isEmpty = (v: unknown) => v === null || v === undefined || (typeof v === 'string' && pythonStrip(v) === '');
const NUMBER_LIKE = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** The column to read when none is named: a preferred name, else the only text column. */
function defaultColumn(table: Table, file: string): string {
  const byName = DOCUMENT_COLUMN_NAMES.map((n) => table.columns.find((c) => c.toLowerCase() === n)).find((c) => c !== undefined);
  if (byName !== undefined) return byName;
  const textual = table.columns.filter((c) => textProblem(table, c) === null);
  if (textual.length === 1) return textual[0];
  throw new DataError(
    file,
    textual.length === 0
      ? `no column holds text (columns: ${table.columns.join(', ')})`
      : `several columns hold text (${textual.join(', ')}); name the one with the documents`,
  );
}

/** Why `column` is not a text column (its first non-text cell, or all numbers), or null. */
function textProblem(table: Table, column: string): string | null {
  let texts = 0;
  let numeric = 0;
  for (let i = 0; i < table.rows.length; i++) {
    const v = table.rows[i][column];
    if (isEmpty(v)) continue;
    if (typeof v !== 'string') return `column "${column}" is not text: row ${i} holds ${kindOf(v)}`;
    texts++;
    if (NUMBER_LIKE.test(pythonStrip(v))) numeric++;
  }
  if (texts === 0) return `column "${column}" has no text: every cell is empty`;
  if (numeric === texts) return `column "${column}" is not text: every value is a number`;
  return null;
}

/**
 * The documents of one column of a parsed table (a data file or a Hub data set split), in row
 * order; empty cells are skipped. Refuses a missing column (naming the closest and all), a column
 * that is not text, a cell over MAX_CELL_CHARS and repeated or empty ids.
 */
export function documentsFromTable(table: Table, file: string, choice: ColumnChoice = {}): DocumentSet {
  if (table.rows.length === 0) throw new DataError(file, 'the file has no rows, so no documents');
  const missing = (col: string, what: string) => {
    if (table.columns.includes(col)) return;
    const near = closestColumn(col, table.columns);
    throw new DataError(file, `there is no ${what} column "${col}"${near ? `; did you mean "${near}"?` : ''} Columns: ${table.columns.join(', ')}.`);
  };
  if (choice.column !== undefined) missing(choice.column, 'text');
  if (choice.idColumn !== undefined) missing(choice.idColumn, 'id');
  const column = choice.column ?? defaultColumn(table, file);
  const problem = textProblem(table, column);
  if (problem) throw new DataError(file, problem);
  const documents: Document[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  table.rows.forEach((row, i) => {
    const v = row[column];
    if (isEmpty(v)) {
      skipped++;
      return;
    }
    const text = pythonStrip(v as string);
    if (text.length > MAX_CELL_CHARS) throw new DataError(file, `row ${i}: the "${column}" cell has ${text.length} characters, over the ${MAX_CELL_CHARS} limit for one document`);
    let id = String(i);
    if (choice.idColumn !== undefined) {
      const raw = row[choice.idColumn];
      if (typeof raw !== 'string' && typeof raw !== 'number') throw new DataError(file, `row ${i}: the id column "${choice.idColumn}" holds ${isEmpty(raw) ? 'nothing' : kindOf(raw)}; ids must be text or numbers`);
      id = String(raw);
      if (pythonStrip(id) === '') throw new DataError(file, `row ${i}: the id column "${choice.idColumn}" is empty`);
      if (seen.has(id)) throw new DataError(file, `row ${i}: id "${id}" appears twice in column "${choice.idColumn}"; document ids must be unique`);
      seen.add(id);
    }
    documents.push({ id, text });
  });
  return { documents, source: file, column, idColumn: choice.idColumn ?? null, columns: table.columns, skipped };
}

/**
 * The documents of one column of a Hub data set split, loaded (and cached) by the Hub data set
 * loader. Default split: "train" when the data set has it, else its first.
 */
export async function readHubDocuments(o: Omit<LoadHubDatasetOptions, 'splits'> & ColumnChoice & { split?: string }): Promise<DocumentSet> {
  const { column, idColumn, split, ...load } = o;
  const ds = await loadHubDataset({ ...load, splits: split === undefined ? undefined : [split] });
  const names = Object.keys(ds.splits);
  const name = split ?? (names.includes('train') ? 'train' : names[0]);
  const table = ds.splits[name];
  if (table === undefined) throw new DataError(o.repo, 'the data set has no splits');
  const where = `${o.repo} (${ds.config}/${name})`;
  return documentsFromTable(table, where, { column, idColumn });
}

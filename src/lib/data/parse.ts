// Reads a data file into a Table: CSV, TSV, JSON (array of rows or object of columns), JSONL,
// Parquet (hyparquet). The content is checked against the extension first, so a Parquet file
// named .csv or an HTML error page named .parquet gets a message that says so.
// Not column mapping or validation (columns.ts, validate.ts).

import { parquetReadObjects } from 'hyparquet';
import { dataFileSizeProblem } from './limits.ts';

export interface Table {
  /** Column names in order of first appearance. */
  columns: string[];
  rows: Record<string, unknown>[];
}

export type DataFormat = 'csv' | 'tsv' | 'json' | 'jsonl' | 'parquet';

export class DataError extends Error {
  readonly file: string;
  /** 1-based line (text formats) where it applies. */
  readonly line: number | null;
  constructor(file: string, message: string, line: number | null = null) {
    super(`${file}${line !== null ? `, line ${line}` : ''}: ${message}`);
    this.name = 'DataError';
    this.file = file;
    this.line = line;
  }
}

/** Refuses a data file of `bytes` over MAX_DATA_FILE_BYTES (limits.ts), naming its size and the limit. */
export function checkDataFileSize(name: string, bytes: number): void {
  const problem = dataFileSizeProblem(bytes);
  if (problem) throw new DataError(name, problem);
}

export function formatOf(name: string): DataFormat | null {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  switch (ext) {
    case 'csv':
      return 'csv';
    case 'tsv':
    case 'tab':
      return 'tsv';
    case 'json':
      return 'json';
    case 'jsonl':
    case 'ndjson':
      return 'jsonl';
    case 'parquet':
    case 'pq':
      return 'parquet';
    default:
      return null;
  }
}

/** What the first bytes say the content is, as far as it matters here. */
export function sniff(bytes: Uint8Array): 'parquet' | 'zip' | 'gzip' | 'binary' | 'html' | 'json' | 'text' {
  const at = (i: number, s: string) => [...s].every((c, k) => bytes[i + k] === c.charCodeAt(0));
  if (bytes.byteLength >= 8 && at(0, 'PAR1') && at(bytes.byteLength - 4, 'PAR1')) return 'parquet';
  if (at(0, 'PK\x03\x04')) return 'zip';
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  const head = bytes.subarray(0, 4096);
  if (head.includes(0)) return 'binary';
  const text = new TextDecoder().decode(head).replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html')) return 'html';
  if (text.startsWith('{') || text.startsWith('[')) return 'json';
  return 'text';
}

const KIND_WORDS: Record<ReturnType<typeof sniff>, string> = {
  parquet: 'a Parquet file',
  zip: 'a zip archive',
  gzip: 'a gzip-compressed file',
  binary: 'binary data',
  html: 'an HTML page',
  json: 'JSON',
  text: 'plain text',
};

function columnsOf(rows: Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/** RFC 4180 fields: quotes, doubled quotes, newlines inside quotes; returns records with their first line. */
function parseDelimited(text: string, delim: string, file: string): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) out.push({ fields, line: recordLine });
    fields = [];
    field = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === delim) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += c;
    i++;
  }
  if (quoted) throw new DataError(file, 'a quoted field is never closed', recordLine);
  if (field !== '' || fields.length) endRecord();
  return out;
}

function delimitedTable(text: string, delim: string, file: string): Table {
  const recs = parseDelimited(text, delim, file);
  if (recs.length === 0) throw new DataError(file, 'the file is empty');
  const header = recs[0].fields.map((h) => h.trim());
  if (header.length === 1 && delim === ',' && recs[0].fields[0].includes('\t')) {
    throw new DataError(file, 'the header has tabs but no commas: this looks like TSV; rename it to .tsv', 1);
  }
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup !== undefined) throw new DataError(file, `the header names column "${dup}" twice`, 1);
  const rows: Record<string, unknown>[] = [];
  for (const r of recs.slice(1)) {
    if (r.fields.length !== header.length) {
      throw new DataError(file, `${r.fields.length} fields where the header has ${header.length} (${header.join(', ')})`, r.line);
    }
    rows.push(Object.fromEntries(header.map((h, i) => [h, r.fields[i]])));
  }
  return { columns: header, rows };
}

function jsonTable(text: string, file: string): Table {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const hint = text.trimStart().startsWith('{') && text.trim().includes('\n{') ? ' (one object per line: that is JSONL; rename it to .jsonl)' : '';
    throw new DataError(file, `not valid JSON: ${(e as Error).message}${hint}`);
  }
  if (Array.isArray(data)) {
    const bad = data.findIndex((r) => !r || typeof r !== 'object' || Array.isArray(r));
    if (bad >= 0) throw new DataError(file, `item ${bad} of the array is not an object with named fields`);
    return { columns: columnsOf(data), rows: data as Record<string, unknown>[] };
  }
  if (data && typeof data === 'object') {
    const obj = data as Record<string, unknown>;
    for (const k of ['data', 'rows', 'train']) if (Array.isArray(obj[k])) return jsonTable(JSON.stringify(obj[k]), file);
    const cols = Object.keys(obj);
    if (cols.length && cols.every((c) => Array.isArray(obj[c]))) {
      const n = (obj[cols[0]] as unknown[]).length;
      const ragged = cols.find((c) => (obj[c] as unknown[]).length !== n);
      if (ragged) throw new DataError(file, `column "${ragged}" has ${(obj[ragged] as unknown[]).length} values, "${cols[0]}" has ${n}`);
      return { columns: cols, rows: Array.from({ length: n }, (_, i) => Object.fromEntries(cols.map((c) => [c, (obj[c] as unknown[])[i]]))) };
    }
  }
  throw new DataError(file, 'expected an array of rows, or an object whose values are equally long column arrays');
}

function jsonlTable(text: string, file: string): Table {
  const rows: Record<string, unknown>[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (!l) continue;
    let r: unknown;
    try {
      r = JSON.parse(l);
    } catch (e) {
      throw new DataError(file, `not valid JSON: ${(e as Error).message}`, i + 1);
    }
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new DataError(file, 'each line must be one JSON object', i + 1);
    rows.push(r as Record<string, unknown>);
  }
  return { columns: columnsOf(rows), rows };
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}

export async function parseParquet(bytes: Uint8Array, file: string): Promise<Table> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: ab });
  } catch (e) {
    throw new DataError(file, `could not read the Parquet file: ${(e as Error).message}`);
  }
  rows = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)])));
  return { columns: columnsOf(rows), rows };
}

/** Parses `bytes` as the format `name`'s extension says, after checking the content agrees. */
export async function parseDataFile(name: string, bytes: Uint8Array): Promise<Table> {
  const format = formatOf(name);
  if (!format) throw new DataError(name, 'unknown extension; tabtune reads .csv, .tsv, .json, .jsonl and .parquet files');
  checkDataFileSize(name, bytes.byteLength);
  const kind = sniff(bytes);
  if (format === 'parquet') {
    if (kind !== 'parquet') throw new DataError(name, `this is not a Parquet file (no PAR1 magic bytes); its content looks like ${KIND_WORDS[kind]}`);
    return parseParquet(bytes, name);
  }
  if (kind === 'parquet' || kind === 'zip' || kind === 'gzip' || kind === 'binary' || kind === 'html') {
    const fix = kind === 'parquet' ? '; rename it to .parquet' : '';
    throw new DataError(name, `this is not a ${format.toUpperCase()} file: its content looks like ${KIND_WORDS[kind]}${fix}`);
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/^\uFEFF/, '');
  if (format === 'csv') return delimitedTable(text, ',', name);
  if (format === 'tsv') return delimitedTable(text, '\t', name);
  if (format === 'jsonl') return jsonlTable(text, name);
  return jsonTable(text, name);
}

/** The first `n` rows, for the preview. */
export function preview(table: Table, n = 5): Table {
  return { columns: table.columns, rows: table.rows.slice(0, n) };
}

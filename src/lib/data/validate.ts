// Turns mapped rows into training examples and reports what is wrong, naming the file and row:
// empty, non-string or over-long texts (over limits.ts' MAX_CELL_CHARS: left out before they are
// tokenized), duplicate ids (an id shared by rows with different positives), a score outside its
// range, texts longer than the model's maximum (counted; the tokenizer truncates them later).
// Bad rows are left out and reported; the rest is usable.
// Not parsing (parse.ts) and not tokenization (a token counter is passed in).

import { mappingErrors, negativeColumns, type ColumnMapping } from './columns.ts';
import { MAX_CELL_CHARS } from './limits.ts';
import type { Table } from './parse.ts';

export interface Example {
  anchor: string;
  positive: string;
  /** Hard negatives, one per negative column (the columns' order). */
  negatives?: string[];
  score?: number;
  /** The data's id column (documents), when mapped. */
  id?: string | number;
  /** 0-based row index in its split/file. */
  row: number;
}

export interface Issue {
  level: 'error' | 'warning';
  message: string;
}

export interface ValidateOptions {
  /** Named in messages: "train.csv", "YxBxRyXJx/QAsimple_for_BGE_241019 (train)". */
  file: string;
  /** Inclusive score range (default [0, 1]: cosine-similarity labels). */
  scoreRange?: [number, number];
  /** The model's max tokens (sentence_bert_config max_seq_length) and a counter; both or neither. */
  maxTokens?: number;
  countTokens?: (text: string) => number;
  /** Messages of one kind listed before "… and N more" (default 5). */
  maxListed?: number;
}

export interface ValidationResult {
  examples: Example[];
  issues: Issue[];
  /** Rows left out because of an error. */
  skipped: number;
  /** Texts longer than maxTokens (kept, truncated by the tokenizer). */
  tooLong: number;
  /** True when a mapping error makes the whole file unusable. */
  fatal: boolean;
}

export function validateRows(table: Table, mapping: ColumnMapping, o: ValidateOptions): ValidationResult {
  const mapErrors = mappingErrors(mapping, table.columns, o.file);
  if (mapErrors.length) {
    return { examples: [], issues: mapErrors.map((message) => ({ level: 'error', message })), skipped: table.rows.length, tooLong: 0, fatal: true };
  }
  const listed = o.maxListed ?? 5;
  const kinds = new Map<string, { level: Issue['level']; lines: string[]; count: number }>();
  const report = (kind: string, level: Issue['level'], line: string) => {
    const k = kinds.get(kind) ?? { level, lines: [], count: 0 };
    k.count++;
    if (k.lines.length < listed) k.lines.push(line);
    kinds.set(kind, k);
  };
  const [lo, hi] = o.scoreRange ?? [0, 1];
  const examples: Example[] = [];
  const idFirst = new Map<string, { row: number; positive: string }>();
  let skipped = 0;
  let tooLong = 0;

  table.rows.forEach((r, row) => {
    const at = `${o.file}, row ${row + 1}`;
    let bad = false;
    const text = (role: 'anchor' | 'positive' | 'negative', col: string | undefined): string | undefined => {
      if (!col) return undefined;
      const v = r[col];
      if (typeof v !== 'string') {
        report(`type-${role}`, 'error', `${at}: ${role} ("${col}") is ${v === null || v === undefined ? 'missing' : `a ${typeof v} (${JSON.stringify(v)?.slice(0, 40)})`}, not text`);
        bad = true;
        return undefined;
      }
      if (v.length > MAX_CELL_CHARS) {
        report(`long-${role}`, 'error', `${at}: ${role} ("${col}") is ${v.length.toLocaleString('en-US')} characters, over the ${MAX_CELL_CHARS.toLocaleString('en-US')}-character limit for one text (limits.ts); the row is left out`);
        bad = true;
        return undefined;
      }
      if (v.trim() === '') {
        report(`empty-${role}`, 'error', `${at}: ${role} ("${col}") is empty`);
        bad = true;
        return undefined;
      }
      return v;
    };
    const anchor = text('anchor', mapping.anchor);
    const positive = text('positive', mapping.positive);
    const negatives = negativeColumns(mapping).map((col) => text('negative', col));
    let score: number | undefined;
    if (mapping.score) {
      const v = r[mapping.score];
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n)) {
        report('score-type', 'error', `${at}: score ("${mapping.score}") ${JSON.stringify(v)} is not a number`);
        bad = true;
      } else if (n < lo || n > hi) {
        report('score-range', 'error', `${at}: score ${n} is outside [${lo}, ${hi}]`);
        bad = true;
      } else score = n;
    }
    let id: string | number | undefined;
    if (mapping.id) {
      const v = r[mapping.id];
      if (v === null || v === undefined || v === '') {
        report('id-missing', 'error', `${at}: id ("${mapping.id}") is empty`);
        bad = true;
      } else if (typeof v === 'string' && v.length > MAX_CELL_CHARS) {
        report('id-long', 'error', `${at}: id ("${mapping.id}") is ${v.length.toLocaleString('en-US')} characters, over the ${MAX_CELL_CHARS.toLocaleString('en-US')}-character limit for one cell (limits.ts)`);
        bad = true;
      } else if (typeof v !== 'string' && typeof v !== 'number') {
        report('id-type', 'error', `${at}: id ("${mapping.id}") is a ${typeof v}, not a string or number`);
        bad = true;
      } else {
        id = v;
        if (positive !== undefined) {
          const first = idFirst.get(String(v));
          if (!first) idFirst.set(String(v), { row, positive });
          else if (first.positive !== positive) {
            report('id-dup', 'error', `${at}: id ${JSON.stringify(v)} is also used by row ${first.row + 1} with a different ${mapping.positive}`);
            bad = true;
          }
        }
      }
    }
    if (bad) {
      skipped++;
      return;
    }
    if (o.maxTokens !== undefined && o.countTokens) {
      for (const t of [anchor, positive, ...negatives]) if (t !== undefined && o.countTokens(t) > o.maxTokens) tooLong++;
    }
    examples.push({
      anchor: anchor!,
      positive: positive!,
      ...(negatives.length ? { negatives: negatives as string[] } : {}),
      ...(score !== undefined ? { score } : {}),
      ...(id !== undefined ? { id } : {}),
      row,
    });
  });

  const issues: Issue[] = [];
  for (const k of kinds.values()) {
    for (const line of k.lines) issues.push({ level: k.level, message: line });
    if (k.count > k.lines.length) issues.push({ level: k.level, message: `${o.file}: … and ${k.count - k.lines.length} more like this` });
  }
  if (skipped) issues.push({ level: 'warning', message: `${o.file}: ${skipped} of ${table.rows.length} rows left out because of the errors above` });
  if (tooLong) {
    issues.push({ level: 'warning', message: `${o.file}: ${tooLong} texts are longer than the model's ${o.maxTokens} tokens; they will be truncated` });
  }
  if (examples.length === 0 && table.rows.length > 0) issues.push({ level: 'error', message: `${o.file}: no usable rows` });
  if (table.rows.length === 0) issues.push({ level: 'error', message: `${o.file}: the file has no rows` });
  return { examples, issues, skipped, tooLong, fatal: examples.length === 0 };
}

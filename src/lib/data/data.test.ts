// Parsing each format, the column mapping, validation messages and the seeded split, on the
// qa-tiny fixture (the default data set's shape) and hand-made bad files.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { DEFAULT_DATASET_ID } from '../config.ts';
import { autoMapping, closestColumn, SEED_MAPPING } from './columns.ts';
import { prepareDataset } from './dataset.ts';
import { MAX_CELL_CHARS, MAX_DATA_FILE_BYTES } from './limits.ts';
import { checkDataFileSize, DataError, parseDataFile, preview, type Table } from './parse.ts';
import { splitTrainTest } from './split.ts';
import { validateRows } from './validate.ts';

let paths: FixturePaths;
let jsonl: Uint8Array;
let rows: Record<string, unknown>[];
const te = new TextEncoder();
beforeAll(() => {
  paths = ensureFixtures();
  jsonl = readFileSync(join(paths.qaTiny, 'train.jsonl'));
  rows = new TextDecoder().decode(jsonl).trim().split('\n').map((l) => JSON.parse(l));
});
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

describe('parseDataFile', () => {
  it('reads the same rows from JSONL, JSON, CSV, TSV and Parquet', async () => {
    const csv = ['question,doc,id', ...rows.map((r) => `${q(r.question as string)},${q(r.doc as string)},${r.id}`)].join('\r\n');
    const tsv = ['question\tdoc\tid', ...rows.map((r) => `${r.question}\t${r.doc}\t${r.id}`)].join('\n');
    const files: [string, Uint8Array][] = [
      ['train.jsonl', jsonl],
      ['train.json', te.encode(JSON.stringify(rows))],
      ['cols.json', te.encode(JSON.stringify({ question: rows.map((r) => r.question), doc: rows.map((r) => r.doc), id: rows.map((r) => r.id) }))],
      ['train.csv', te.encode(csv)],
      ['train.tsv', te.encode(tsv)],
      ['train.parquet', readFileSync(join(paths.qaTiny, 'data/train-00000-of-00001.parquet'))],
    ];
    for (const [name, bytes] of files) {
      const t = await parseDataFile(name, bytes);
      expect(t.columns, name).toEqual(['question', 'doc', 'id']);
      expect(t.rows.length, name).toBe(160);
      const textId = name.endsWith('sv');
      expect(t.rows[3], name).toEqual({ ...rows[3], id: textId ? String(rows[3].id) : rows[3].id });
    }
    // Parquet's INT64 ids come back as plain numbers, not bigint.
    const pq = await parseDataFile('t.parquet', files[5][1]);
    expect(typeof pq.rows[0].id).toBe('number');
    expect(preview(pq, 2).rows).toHaveLength(2);
  });

  it('handles quoted commas, doubled quotes and newlines in CSV', async () => {
    const t = await parseDataFile('x.csv', te.encode('anchor,positive\n"a, b","say ""hi""\nthere"\r\nc,d\n'));
    expect(t.rows).toEqual([{ anchor: 'a, b', positive: 'say "hi"\nthere' }, { anchor: 'c', positive: 'd' }]);
  });

  it.each([
    ['data.csv', 'parquet', /^data\.csv: this is not a CSV file: its content looks like a Parquet file; rename it to \.parquet$/],
    ['data.parquet', 'jsonl', /^data\.parquet: this is not a Parquet file \(no PAR1 magic bytes\); its content looks like JSON$/],
    ['data.json', 'html', /^data\.json: this is not a JSON file: its content looks like an HTML page$/],
    ['data.json', 'jsonl', /^data\.json: not valid JSON: .*\(one object per line: that is JSONL; rename it to \.jsonl\)$/],
    ['data.jsonl', 'badline', /^data\.jsonl, line 2: not valid JSON/],
    ['data.csv', 'ragged', /^data\.csv, line 3: 3 fields where the header has 2 \(anchor, positive\)$/],
    ['data.csv', 'tabs', /^data\.csv, line 1: the header has tabs but no commas: this looks like TSV; rename it to \.tsv$/],
    ['data.xlsx', 'jsonl', /^data\.xlsx: unknown extension; tabtune reads \.csv, \.tsv, \.json, \.jsonl and \.parquet files$/],
  ])('%s with %s content: a message that names the file', async (name, kind, message) => {
    const content: Record<string, Uint8Array> = {
      parquet: readFileSync(join(paths.qaTiny, 'data/test-00000-of-00001.parquet')),
      jsonl,
      html: te.encode('<!DOCTYPE html><html><body>502 Bad Gateway</body></html>'),
      badline: te.encode('{"a": 1}\n{"a": 2,,}\n'),
      ragged: te.encode('anchor,positive\na,b\nc,d,e\n'),
      tabs: te.encode('anchor\tpositive\na\tb\n'),
    };
    const err = await parseDataFile(name, content[kind]).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(message);
  });
});

describe('data file size', () => {
  it('refuses a file over 500 MiB by its size, naming size and limit; parseDataFile checks it too', async () => {
    expect(() => checkDataFileSize('t.jsonl', MAX_DATA_FILE_BYTES)).not.toThrow();
    expect(() => checkDataFileSize('t.jsonl', 2 ** 30)).toThrow(
      't.jsonl: the file is 1024 MiB (1073741824 bytes), over the 500 MiB limit for one data file; split it into several files',
    );
    // parseDataFile checks the size before it looks at a byte (this stand-in has none to look at).
    await expect(parseDataFile('t.jsonl', { byteLength: MAX_DATA_FILE_BYTES + 1 } as Uint8Array)).rejects.toThrow(/over the 500 MiB limit/);
  });
});

describe('column mapping', () => {
  it('detects common names and gives the default data set the seed mapping', () => {
    expect(autoMapping(['question', 'doc', 'id'])).toEqual({ anchor: 'question', positive: 'doc', id: 'id' });
    expect(autoMapping(['Query', 'passage', 'hard_negative', 'label'])).toEqual({ anchor: 'Query', positive: 'passage', negative: 'hard_negative', score: 'label' });
    expect(autoMapping(['question', 'context'])).toEqual({ anchor: 'question', positive: 'context' });
    const t: Table = { columns: ['question', 'doc', 'id'], rows: rows.slice(0, 20) };
    const p = prepareDataset({ train: t, test: t }, { source: DEFAULT_DATASET_ID });
    expect(p.mapping).toEqual(SEED_MAPPING);
    expect(p.mappingSource).toBe('seed');
    expect(p.train[0]).toEqual({ anchor: rows[0].question, positive: rows[0].doc, id: rows[0].id, row: 0 });
  });

  it('maps sentence-transformers n-tuples (negative_1 … negative_n) to several negatives, in number order', () => {
    const columns = ['anchor', 'positive', 'negative_2', 'negative_1', 'negative_10'];
    expect(autoMapping(columns)).toEqual({ anchor: 'anchor', positive: 'positive', negative: ['negative_1', 'negative_2', 'negative_10'] });
    const t: Table = { columns, rows: [
      { anchor: 'a', positive: 'p', negative_1: 'n1', negative_2: 'n2', negative_10: 'n10' },
      { anchor: 'b', positive: 'q', negative_1: 'm1', negative_2: '', negative_10: 'm10' },
    ] };
    const r = validateRows(t, autoMapping(columns), { file: 'mined.jsonl' });
    expect(r.examples).toEqual([{ anchor: 'a', positive: 'p', negatives: ['n1', 'n2', 'n10'], row: 0 }]);
    expect(r.issues[0].message).toBe('mined.jsonl, row 2: negative ("negative_2") is empty');
    expect(validateRows(t, { anchor: 'anchor', positive: 'positive', negative: ['negative_1', 'anchor'] }, { file: 'x' }).issues[0].message).toMatch(/column "anchor" is mapped to two roles/);
  });

  it('names a misspelled column and suggests the closest', () => {
    expect(closestColumn('questoin', ['question', 'doc', 'id'])).toBe('question');
    const t: Table = { columns: ['question', 'doc', 'id'], rows: rows.slice(0, 3) };
    const r = validateRows(t, { anchor: 'questoin', positive: 'doc' }, { file: 'train.csv' });
    expect(r.fatal).toBe(true);
    expect(r.issues.map((i) => i.message)).toEqual([
      'train.csv: column "questoin" (mapped to anchor) does not exist; did you mean "question"? Columns: question, doc, id.',
    ]);
    const none = validateRows(t, { anchor: 'question' }, { file: 'train.csv' });
    expect(none.issues[0].message).toBe('train.csv: no column is mapped to "positive" (columns: question, doc, id). Pick one in the column mapping.');
  });
});

describe('validation', () => {
  it('reports empty and non-string texts, duplicate ids, scores out of range, long texts; keeps the good rows', () => {
    const t: Table = {
      columns: ['q', 'd', 'id', 'score'],
      rows: [
        { q: 'what is a keldor', d: 'a city', id: 1, score: 0.5 },
        { q: '   ', d: 'x', id: 2, score: 0.1 },
        { q: 'where', d: 42, id: 3, score: 0.2 },
        { q: 'again', d: 'a city', id: 1, score: 0.9 },
        { q: 'clash', d: 'another doc', id: 1, score: 0.3 },
        { q: 'too high', d: 'y', id: 5, score: 1.5 },
        { q: 'long long long long long', d: 'z', id: 6, score: 1 },
      ],
    };
    const r = validateRows(t, { anchor: 'q', positive: 'd', id: 'id', score: 'score' }, {
      file: 'pairs.jsonl',
      maxTokens: 4,
      countTokens: (s) => s.split(/\s+/).length,
    });
    const messages = r.issues.map((i) => i.message);
    expect(messages).toEqual([
      'pairs.jsonl, row 2: anchor ("q") is empty',
      'pairs.jsonl, row 3: positive ("d") is a number (42), not text',
      'pairs.jsonl, row 5: id 1 is also used by row 1 with a different d',
      'pairs.jsonl, row 6: score 1.5 is outside [0, 1]',
      'pairs.jsonl: 4 of 7 rows left out because of the errors above',
      "pairs.jsonl: 1 texts are longer than the model's 4 tokens; they will be truncated",
    ]);
    expect(r.examples.map((e) => e.row)).toEqual([0, 3, 6]);
    expect(r.tooLong).toBe(1);
    expect(r.fatal).toBe(false);
  });

  it('refuses a 10 MB cell naming its row, before it is tokenized, in well under a second', async () => {
    const big = 'x'.repeat(10 * 2 ** 20);
    const lines = [{ q: 'what is a keldor', d: 'a city' }, { q: 'where', d: big }, { q: 'how', d: 'so' }].map((r) => JSON.stringify(r)).join('\n');
    const table = await parseDataFile('big.jsonl', te.encode(lines));
    const counted: number[] = [];
    const t0 = performance.now();
    const p = prepareDataset({ train: table, test: table }, { source: 'big.jsonl', mapping: { anchor: 'q', positive: 'd' }, maxTokens: 512, countTokens: (s) => (counted.push(s.length), 1) });
    expect(performance.now() - t0).toBeLessThan(250);
    expect(p.issues.map((i) => i.message)).toContain(`big.jsonl (train), row 2: positive ("d") is 10,485,760 characters, over the 1,000,000-character limit for one text (limits.ts); the row is left out`);
    expect(p.train.map((e) => e.row)).toEqual([0, 2]);
    expect(Math.max(...counted)).toBeLessThan(100); // the long text never reached the tokenizer
    // At the limit a text is kept.
    const edge = validateRows({ columns: ['a', 'p'], rows: [{ a: 'q', p: 'y'.repeat(MAX_CELL_CHARS) }] }, { anchor: 'a', positive: 'p' }, { file: 'edge.csv' });
    expect(edge.examples).toHaveLength(1);
  });

  it('lists at most a few messages of a kind', () => {
    const t: Table = { columns: ['a', 'p'], rows: Array.from({ length: 9 }, () => ({ a: '', p: 'x' })) };
    const m = validateRows(t, { anchor: 'a', positive: 'p' }, { file: 'f.csv', maxListed: 2 }).issues.map((i) => i.message);
    expect(m).toEqual(['f.csv, row 1: anchor ("a") is empty', 'f.csv, row 2: anchor ("a") is empty', 'f.csv: … and 7 more like this', 'f.csv: 9 of 9 rows left out because of the errors above', 'f.csv: no usable rows']);
  });
});

describe('split', () => {
  it('splits one split with a seed, reproducibly, with no overlap', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const a = splitTrainTest(items, 0.1, 7);
    expect(a.test).toHaveLength(10);
    expect(a.train).toHaveLength(90);
    expect([...a.train, ...a.test].sort((x, y) => x - y)).toEqual(items);
    expect(splitTrainTest(items, 0.1, 7)).toEqual(a);
    expect(splitTrainTest(items, 0.1, 8).test).not.toEqual(a.test);
  });

  it('prepareDataset splits a single file and keeps the given splits otherwise', async () => {
    const t = await parseDataFile('train.jsonl', jsonl);
    const one = prepareDataset({ file: t }, { source: 'train.jsonl', seed: 3 });
    expect(one.split).toBe('seeded');
    expect([one.train.length, one.test.length]).toEqual([144, 16]);
    expect(one.mappingSource).toBe('auto');
    expect(one.issues).toEqual([]);
  });
});

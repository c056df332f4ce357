// Reading documents (docs/generate.md#documents): .txt lines, a column of each data format, a Hub
// data set column through the local Hub, and each bad input refused with a message that says
// what is wrong.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../../tests/hub/local-hub.ts';
import { MAX_CELL_CHARS } from '../data/limits.ts';
import { HubClient } from '../hub/hub-client.ts';
import { FolderStore } from '../store/folder-store.ts';
import { readDocumentsFile, readHubDocuments } from './documents.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
let paths: FixturePaths;
let trainRows: { question: string; doc: string; id: number }[];

beforeAll(() => {
  paths = ensureFixtures();
  trainRows = readFileSync(join(paths.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
});

describe('readDocumentsFile: .txt', () => {
  it('reads one document per line, ids are line numbers, blank lines skipped (BOM, CRLF, no final newline)', async () => {
    const d = await readDocumentsFile('docs.txt', bytes('\uFEFFFirst doc.\r\n\r\n  Second doc.  \n \t\nThird doc.'));
    expect(d.documents).toEqual([
      { id: '1', text: 'First doc.' },
      { id: '3', text: 'Second doc.' },
      { id: '5', text: 'Third doc.' },
    ]);
    expect([d.skipped, d.column, d.idColumn, d.source]).toEqual([2, null, null, 'docs.txt']);
  });

  it('refuses an empty file, a blank file, binary content and a column name', async () => {
    await expect(readDocumentsFile('empty.txt', bytes(''))).rejects.toThrow('empty.txt: the file is empty: put one document per line');
    await expect(readDocumentsFile('blank.txt', bytes('\n  \n\t\n'))).rejects.toThrow('blank.txt: the file has no documents: all 3 lines are empty or whitespace');
    const parquet = new Uint8Array(readFileSync(join(paths.qaTiny, 'data/train-00000-of-00001.parquet')));
    await expect(readDocumentsFile('docs.txt', parquet)).rejects.toThrow(/docs.txt: this is not a text file: its content looks like Parquet/);
    await expect(readDocumentsFile('docs.txt', bytes('a'), { column: 'text' })).rejects.toThrow(/a \.txt file has no columns/);
    await expect(readDocumentsFile('docs.pdf', bytes('a'))).rejects.toThrow(/unknown extension; documents are read from \.txt, \.csv/);
  });

  it('refuses a line over the cell limit, naming the line', async () => {
    await expect(readDocumentsFile('big.txt', bytes(`ok\n${'x'.repeat(MAX_CELL_CHARS + 1)}`))).rejects.toThrow(`big.txt, line 2: the line has ${MAX_CELL_CHARS + 1} characters`);
  });
});

describe('readDocumentsFile: a column of a data file', () => {
  const table = [
    { title: 'A', body: 'Cats sleep a lot.', n: 1, key: 'k1' },
    { title: 'B', body: '', n: 2, key: 'k2' },
    { title: 'C', body: 'Rivers run to the sea.', n: 3, key: 'k3' },
  ];

  it('reads CSV, TSV, JSON, JSONL and Parquet alike; the column named, or found by name', async () => {
    const csv = 'title,body,n,key\nA,Cats sleep a lot.,1,k1\nB,,2,k2\nC,"Rivers run to the sea.",3,k3\n';
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'title', data: table.map((r) => r.title), type: 'STRING' },
        { name: 'body', data: table.map((r) => r.body), type: 'STRING' },
        { name: 'n', data: table.map((r) => BigInt(r.n)), type: 'INT64' },
        { name: 'key', data: table.map((r) => r.key), type: 'STRING' },
      ],
    });
    const files: [string, Uint8Array][] = [
      ['d.csv', bytes(csv)],
      ['d.tsv', bytes(csv.replace(/,/g, '\t').replace('"Rivers run to the sea."', 'Rivers run to the sea.'))],
      ['d.json', bytes(JSON.stringify(table))],
      ['d.jsonl', bytes(table.map((r) => JSON.stringify(r)).join('\n'))],
      ['d.parquet', new Uint8Array(parquet)],
    ];
    for (const [name, b] of files) {
      const d = await readDocumentsFile(name, b, { column: 'body' });
      expect(d.documents, name).toEqual([
        { id: '0', text: 'Cats sleep a lot.' },
        { id: '2', text: 'Rivers run to the sea.' },
      ]);
      expect([d.column, d.skipped, d.columns], name).toEqual(['body', 1, ['title', 'body', 'n', 'key']]);
      const withIds = await readDocumentsFile(name, b, { column: 'body', idColumn: 'key' });
      expect(withIds.documents.map((x) => x.id), name).toEqual(['k1', 'k3']);
      // Numbers are ids too (as text).
      expect((await readDocumentsFile(name, b, { column: 'body', idColumn: 'n' })).documents.map((x) => x.id)).toEqual(['1', '3']);
      // Without a column name: "body" is a document column name.
      expect((await readDocumentsFile(name, b)).column, name).toBe('body');
    }
  });

  it('takes the only text column when no name matches, and asks when there are several', async () => {
    const one = await readDocumentsFile('x.jsonl', bytes('{"n":1,"words":"Cats sleep."}\n{"n":2,"words":"Dogs run."}'));
    expect([one.column, one.documents.map((d) => d.text)]).toEqual(['words', ['Cats sleep.', 'Dogs run.']]);
    await expect(readDocumentsFile('x.jsonl', bytes('{"a":"x y","b":"z w"}'))).rejects.toThrow('x.jsonl: several columns hold text (a, b); name the one with the documents');
    await expect(readDocumentsFile('x.jsonl', bytes('{"a":1,"b":[2]}'))).rejects.toThrow('x.jsonl: no column holds text (columns: a, b)');
  });

  it('refuses a column that is not text, naming the first bad row or saying all are numbers', async () => {
    await expect(readDocumentsFile('x.jsonl', bytes('{"t":"fine"}\n{"t":42}'), { column: 't' })).rejects.toThrow('x.jsonl: column "t" is not text: row 1 holds a number (42)');
    await expect(readDocumentsFile('x.json', bytes('[{"t":["a","b"]}]'), { column: 't' })).rejects.toThrow('column "t" is not text: row 0 holds a list');
    await expect(readDocumentsFile('x.json', bytes('[{"t":{"a":1}}]'), { column: 't' })).rejects.toThrow('column "t" is not text: row 0 holds an object');
    await expect(readDocumentsFile('x.csv', bytes('t,u\n1,a\n2.5,b\n,c\n-3e2,d\n'), { column: 't' })).rejects.toThrow('x.csv: column "t" is not text: every value is a number');
    await expect(readDocumentsFile('x.csv', bytes('t,u\n,a\n ,b\n'), { column: 't' })).rejects.toThrow('x.csv: column "t" has no text: every cell is empty');
  });

  it('refuses a missing column (with the closest name), an empty file, bad or repeated ids and an over-long cell', async () => {
    await expect(readDocumentsFile('x.csv', bytes('title,body\nA,b\n'), { column: 'bdy' })).rejects.toThrow('x.csv: there is no text column "bdy"; did you mean "body"? Columns: title, body.');
    await expect(readDocumentsFile('x.csv', bytes('title,body\n'))).rejects.toThrow('x.csv: the file has no rows, so no documents');
    await expect(readDocumentsFile('x.csv', bytes(''))).rejects.toThrow('x.csv: the file is empty');
    await expect(readDocumentsFile('x.jsonl', bytes(''))).rejects.toThrow('x.jsonl: the file has no rows, so no documents');
    await expect(readDocumentsFile('x.csv', bytes('id,body\n1,a b\n1,c d\n'), { idColumn: 'id' })).rejects.toThrow('x.csv: row 1: id "1" appears twice in column "id"; document ids must be unique');
    await expect(readDocumentsFile('x.jsonl', bytes('{"id":null,"body":"a b"}'), { idColumn: 'id' })).rejects.toThrow('row 0: the id column "id" holds nothing');
    await expect(readDocumentsFile('x.jsonl', bytes(JSON.stringify({ body: 'y'.repeat(MAX_CELL_CHARS + 1) })))).rejects.toThrow(`x.jsonl: row 0: the "body" cell has ${MAX_CELL_CHARS + 1} characters, over the ${MAX_CELL_CHARS} limit`);
  });
});

describe('readHubDocuments through the local Hub', () => {
  let hub: LocalHub;
  let dir: string;
  const repo = 'tabtune-fixtures/qa-tiny';

  beforeAll(async () => {
    hub = await startLocalHub({ datasets: { [repo]: paths.qaTiny } });
    dir = mkdtempSync(join(tmpdir(), 'tabtune-docs-'));
  });
  afterAll(async () => {
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a column of the train split (default) or a named split, cached for offline use', async () => {
    const client = new HubClient({ hubUrl: hub.url });
    const store = new FolderStore(dir);
    const d = await readHubDocuments({ client, store, repo });
    expect([d.column, d.source, d.documents.length]).toEqual(['doc', `${repo} (default/train)`, trainRows.length]);
    expect(d.documents.slice(0, 3)).toEqual(trainRows.slice(0, 3).map((r, i) => ({ id: String(i), text: r.doc })));
    const test = await readHubDocuments({ client, store, repo, split: 'test', column: 'question' });
    expect(test.documents[0].text).toBe(JSON.parse(readFileSync(join(paths.qaTiny, 'test.jsonl'), 'utf8').split('\n')[0]).question);
    expect(await store.keys('dataset/')).toContain(`dataset/hub/http:127.0.0.1:${new URL(hub.url).port}/${repo}@main/default/train/0000.parquet`);
  });

  it('refuses a column that is not text and one that does not exist, naming the data set', async () => {
    const o = { client: new HubClient({ hubUrl: hub.url }), store: new FolderStore(dir), repo };
    await expect(readHubDocuments({ ...o, column: 'id' })).rejects.toThrow(`${repo} (default/train): column "id" is not text: row 0 holds a number (${trainRows[0].id})`);
    await expect(readHubDocuments({ ...o, column: 'docs' })).rejects.toThrow(`${repo} (default/train): there is no text column "docs"; did you mean "doc"?`);
    await expect(readHubDocuments({ ...o, split: 'validation' })).rejects.toThrow(/no split validation/);
  });
});

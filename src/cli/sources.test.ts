import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../tests/fixtures/fixtures.ts';
import { tokenizerFilesFromMap } from '../lib/tokenize/tokenizer.ts';
import { classifySource, findDataFiles, loadDataSource, parseColumnsFlag, resolveHubFlag } from './sources.ts';

let work: string;
const sink = { write: () => true };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tabtune-sources-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const folder = (name: string, files: string[]) => {
  const dir = join(work, name);
  for (const f of files) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), 'anchor,positive\na,b\n');
  }
  return dir;
};

describe('findDataFiles', () => {
  it('top-level split files win over data/; the Hub layout joins shards in order; one file is one split', () => {
    const qa = ensureFixtures().qaTiny;
    expect(findDataFiles(qa)).toEqual({ train: [join(qa, 'train.jsonl')], test: [join(qa, 'test.jsonl')] });
    const hub = folder('hub', ['data/train-00001-of-00002.parquet', 'data/train-00000-of-00002.parquet', 'data/test-00000-of-00001.csv', 'README.md']);
    expect(findDataFiles(hub)).toEqual({
      test: [join(hub, 'data/test-00000-of-00001.csv')],
      train: [join(hub, 'data/train-00000-of-00002.parquet'), join(hub, 'data/train-00001-of-00002.parquet')],
    });
    const one = folder('one', ['pairs.csv', 'notes.txt']);
    expect(findDataFiles(one)).toEqual({ file: [join(one, 'pairs.csv')] });
  });

  it('names what is ambiguous or missing', () => {
    expect(() => findDataFiles(folder('twice', ['train.csv', 'train.jsonl']))).toThrow('train.csv and train.jsonl are both the train split');
    expect(() => findDataFiles(folder('many', ['a.csv', 'b.csv']))).toThrow('2 data files (a.csv, b.csv) and none named after a split');
    expect(() => findDataFiles(folder('none', ['README.md']))).toThrow('no data files');
  });
});

describe('classifySource and flags', () => {
  it('an existing path is local, owner/name[@rev] otherwise a Hub id, anything else a usage error', () => {
    const qa = ensureFixtures().qaTiny;
    expect(classifySource(qa, '--data')).toEqual({ kind: 'dir', path: qa });
    expect(classifySource(join(qa, 'test.jsonl'), '--data')).toEqual({ kind: 'file', path: join(qa, 'test.jsonl') });
    expect(classifySource('BAAI/bge-small-en-v1.5', '--model')).toEqual({ kind: 'hub', repo: 'BAAI/bge-small-en-v1.5' });
    expect(classifySource('org/name@refs/pr/1', '--model')).toEqual({ kind: 'hub', repo: 'org/name', revision: 'refs/pr/1' });
    expect(() => classifySource('./missing/dir', '--model')).toThrow('--model ./missing/dir: no such file or folder, and not a Hub id');
    expect(() => classifySource('a/b/c', '--data')).toThrow(/not a Hub id/);
  });

  it('--hub beats TABTUNE_HUB_URL beats huggingface.co; bad URLs and remote plain http are usage errors', () => {
    expect(resolveHubFlag('http://127.0.0.1:9/', { TABTUNE_HUB_URL: 'https://x.test' })).toBe('http://127.0.0.1:9');
    expect(resolveHubFlag(undefined, { TABTUNE_HUB_URL: 'https://x.test/' })).toBe('https://x.test');
    expect(resolveHubFlag(undefined, {})).toBe('https://huggingface.co');
    expect(() => resolveHubFlag('ftp://x', {})).toThrow('--hub must be an https URL (http only on localhost or 127.0.0.1)');
    expect(() => resolveHubFlag(undefined, { TABTUNE_HUB_URL: 'http://x.test' })).toThrow('TABTUNE_HUB_URL must be an https URL');
  });

  it('--columns ROLE=COLUMN', () => {
    expect(parseColumnsFlag('anchor=question, positive=doc,id=id')).toEqual({ anchor: 'question', positive: 'doc', id: 'id' });
    expect(() => parseColumnsFlag('query=question')).toThrow('"query=question" is not ROLE=COLUMN');
  });

  it('tokenizer files from a Hub file map need tokenizer.json', () => {
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    const files = new Map([['tokenizer.json', enc({ model: {} })], ['config.json', enc({ hidden_size: 4 })]]);
    expect(Object.keys(tokenizerFilesFromMap(files, 'org/m@main'))).toEqual(['tokenizer.json', 'config.json']);
    expect(() => tokenizerFilesFromMap(new Map(), 'org/m@main')).toThrow('org/m@main has no tokenizer.json');
  });
});

describe('loadDataSource', () => {
  it('prepares the fixture folder with the detected mapping and its own splits', async () => {
    const d = await loadDataSource(ensureFixtures().qaTiny, { hubUrl: 'http://127.0.0.1:9', stderr: sink });
    expect([d.origin, d.prepared.split, d.prepared.train.length, d.prepared.test.length]).toEqual(['folder', 'given', 160, 40]);
    expect(d.prepared.mapping).toEqual({ anchor: 'question', positive: 'doc', id: 'id' });
  });

  it('throws the data module\'s messages when nothing is usable', async () => {
    const dir = folder('bad', []);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.csv'), 'foo,bar\n1,2\n');
    await expect(loadDataSource(join(dir, 'x.csv'), { hubUrl: 'http://127.0.0.1:9', stderr: sink })).rejects.toThrow('no column is mapped to "anchor"');
  });
});

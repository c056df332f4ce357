import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../tests/fixtures/fixtures.ts';
import { tokenizerFilesFromMap } from '../lib/tokenize/tokenizer.ts';
import { classifySource, downloadProgress, findDataFiles, loadDataSource, parseColumnsFlag, readTable, resolveHubFlag } from './sources.ts';
import { ProgressMeter } from '../lib/hub/progress.ts';
import { startLocalHub } from '../../tests/hub/local-hub.ts';

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

  it('a download note (a stored file that failed its hash check) is written once, on a line of its own', () => {
    let out = '';
    const cb = downloadProgress('model o/n', { write: (c: string) => (out += c) });
    const meter = new ProgressMeter(cb, 1, 10);
    meter.startFile('model.safetensors', 10);
    meter.note("The stored copy of model.safetensors: sha256 a does not match the Hub's b; it was deleted and is downloaded again.");
    meter.bytes(10);
    meter.fileDone(0);
    meter.finish();
    expect(out.split('\n').filter((l) => l.includes('does not match'))).toEqual([
      "model o/n: The stored copy of model.safetensors: sha256 a does not match the Hub's b; it was deleted and is downloaded again.",
    ]);
  });
});

describe('data file size', () => {
  it('refuses a 1 GiB data file by its size before reading it', async () => {
    const big = join(work, 'huge.jsonl');
    writeFileSync(big, '');
    truncateSync(big, 2 ** 30); // sparse: no gigabyte is written
    const held = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    await expect(readTable(big)).rejects.toThrow(`${big}: the file is 1024 MiB (1073741824 bytes), over the 500 MiB limit for one data file`);
    await expect(loadDataSource(big, { hubUrl: 'http://127.0.0.1:9', stderr: sink })).rejects.toThrow('over the 500 MiB limit');
    expect(performance.now() - t0).toBeLessThan(250);
    // Reading it would have held a gigabyte of buffers.
    expect(process.memoryUsage().arrayBuffers - held).toBeLessThan(16 * 2 ** 20);
  });

  it('a bare file name that is not here says a run config names local files by name', () => {
    expect(() => classifySource('train.jsonl', '--data', 'train')).toThrow(
      '--data train.jsonl: no such file or folder, and not a Hub id (owner/name[@revision]) (a run config names local files without their folder: run from the folder that holds train.jsonl, or give --data PATH)',
    );
  });

  it('the Hub cache sweeps what interrupted writes left there over an hour ago, and keeps a younger one', async () => {
    const cache = join(work, 'cache-sweep');
    mkdirSync(join(cache, 'model'), { recursive: true });
    const stale = join(cache, 'model', 'x.v.gzz-0000000a');
    const young = join(cache, 'model', 'y.v.gzz-0000000b');
    writeFileSync(stale, 'left by a write that never committed');
    writeFileSync(young, 'a write in progress elsewhere');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(stale, twoHoursAgo, twoHoursAgo);
    const hub = await startLocalHub({ datasets: { 'org/qa': ensureFixtures().qaTiny } });
    const saved = process.env.TABTUNE_CACHE;
    process.env.TABTUNE_CACHE = cache;
    try {
      await loadDataSource('org/qa', { hubUrl: hub.url, stderr: sink });
      for (let i = 0; i < 100 && existsSync(stale); i++) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(young)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.TABTUNE_CACHE;
      else process.env.TABTUNE_CACHE = saved;
      await hub.close();
    }
  });
});

import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderStore, defaultCacheDir } from './folder-store.ts';
import { StoreQuotaError, groupOf, modelKey, storeSummary } from './store.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabtune-store-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const bytes = (n: number, v = 7) => new Uint8Array(n).fill(v);
const HF = 'https://huggingface.co';

describe('FolderStore', () => {
  it('round-trips values and lists committed entries with sizes', async () => {
    const s = new FolderStore(tmp());
    await s.set(modelKey(HF, 'BAAI/bge', 'main', 'config.json'), bytes(10, 1));
    await s.set(modelKey(HF, 'BAAI/bge', 'main', '1_Pooling/config.json'), bytes(3, 2));
    await s.set('run/r1/history', bytes(5, 3));
    expect(await s.get(modelKey(HF, 'BAAI/bge', 'main', 'config.json'))).toEqual(bytes(10, 1));
    expect(await s.keys('model/')).toEqual(['model/https:huggingface.co/BAAI/bge@main/1_Pooling/config.json', 'model/https:huggingface.co/BAAI/bge@main/config.json']);
    expect((await s.entries()).map((e) => e.size)).toEqual([3, 10, 5]);
    expect(await storeSummary(s)).toEqual([
      { group: 'model/https:huggingface.co/BAAI/bge@main', size: 13, entries: 2 },
      { group: 'run/r1', size: 5, entries: 1 },
    ]);
    // The Hub is a folder of its own on disk (its ':' encoded), beside any other Hub's.
    expect(readdirSync(join(s.root, 'model'))).toEqual(['https%3Ahuggingface.co']);
    await s.set(modelKey('http://127.0.0.1:8080', 'BAAI/bge', 'main', 'config.json'), bytes(10, 4));
    expect(readdirSync(join(s.root, 'model')).sort()).toEqual(['http%3A127.0.0.1%3A8080', 'https%3Ahuggingface.co']);
    expect(await s.get(modelKey(HF, 'BAAI/bge', 'main', 'config.json'))).toEqual(bytes(10, 1));
    expect(await s.delPrefix('model/')).toBe(3);
    expect(await s.keys()).toEqual(['run/r1/history']);
    expect(await s.get(modelKey(HF, 'BAAI/bge', 'main', 'config.json'))).toBeUndefined();
  });

  it('never shows a value without its commit record, nor one whose size disagrees', async () => {
    const root = tmp();
    const s = new FolderStore(root);
    await s.set('a/b', bytes(4));
    // A crash between the value and its record: the value file exists, the record does not.
    writeFileSync(join(root, 'a', 'half.v'), bytes(100));
    expect(await s.keys()).toEqual(['a/b']);
    expect(await s.get('a/half')).toBeUndefined();
    // A value truncated behind the store's back.
    const [valueFile] = readdirSync(join(root, 'a')).filter((n) => n.startsWith('b.v.g'));
    writeFileSync(join(root, 'a', valueFile), bytes(2));
    expect(await s.get('a/b')).toBeUndefined();
    expect(readdirSync(join(root, 'a')).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('an overwrite commits the new file before it deletes the old; an interrupted one leaves the old value, and its files are counted, then swept', async () => {
    const root = tmp();
    const s = new FolderStore(root, { sweepAfterMs: 0 });
    await s.set('a/b', bytes(4, 1));
    await s.set('a/b', bytes(6, 2));
    expect(await s.get('a/b')).toEqual(bytes(6, 2));
    // One record and the one value file it names: the replaced file went after the commit.
    expect(readdirSync(join(root, 'a')).sort()).toEqual(['b.v.commit', expect.stringMatching(/^b\.v\.g[0-9a-z]+-[0-9a-f]{8}$/)]);
    // A write interrupted before its commit: its value file and temp record, no rename.
    writeFileSync(join(root, 'a', 'b.v.gzz-0000000a'), bytes(100, 3));
    writeFileSync(join(root, 'a', `b.v.commit.tmp-${process.pid}-0000000a`), '{"size":100');
    expect(await s.get('a/b')).toEqual(bytes(6, 2));
    expect(await s.keys()).toEqual(['a/b']);
    expect(await s.unreferenced()).toEqual({ entries: 2, size: 111 });
    expect((await storeSummary(s)).map((g) => [g.group, g.size])).toEqual([['unreferenced (interrupted writes)', 111], ['a', 6]]);
    // Files younger than the sweep's age are left (another process may be writing them).
    expect(await new FolderStore(root).sweep()).toEqual({ entries: 0, size: 0 });
    expect(await s.sweep()).toEqual({ entries: 2, size: 111 });
    expect(await s.unreferenced()).toEqual({ entries: 0, size: 0 });
    expect(readdirSync(join(root, 'a'))).toHaveLength(2);
    expect(await s.get('a/b')).toEqual(bytes(6, 2));
  });

  it('reads entries written before generations (value at <segment>.v) and replaces them the same way', async () => {
    const root = tmp();
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a', 'b.v'), bytes(3, 5));
    writeFileSync(join(root, 'a', 'b.v.commit'), JSON.stringify({ size: 3, time: 1 }));
    const s = new FolderStore(root, { sweepAfterMs: 0 });
    expect(await s.get('a/b')).toEqual(bytes(3, 5));
    expect(await s.unreferenced()).toEqual({ entries: 0, size: 0 });
    await s.set('a/b', bytes(2, 6));
    expect(await s.get('a/b')).toEqual(bytes(2, 6));
    expect(readdirSync(join(root, 'a'))).not.toContain('b.v');
    await s.del('a/b');
    expect(readdirSync(join(root, 'a'))).toEqual([]);
  });

  it('a full cache refuses the write with a message naming what is stored, and keeps everything', async () => {
    const s = new FolderStore(tmp(), { maxBytes: 1000 });
    await s.set(modelKey(HF, 'BAAI/bge-small-en-v1.5', 'main', 'model.safetensors'), bytes(600, 9));
    await s.set('dataset/hub/org/data@main/x.parquet', bytes(300, 8));
    const err = await s.set(modelKey(HF, 'BAAI/bge-base-en-v1.5', 'main', 'model.safetensors'), bytes(200)).catch((e) => e);
    expect(err).toBeInstanceOf(StoreQuotaError);
    expect(err.message).toMatch(/Storage is full .*could not store model\/https:huggingface.co\/BAAI\/bge-base-en-v1.5@main\/model.safetensors \(200 B\)/);
    expect(err.message).toContain('model/https:huggingface.co/BAAI/bge-small-en-v1.5@main (600 B), dataset/hub/org/data@main (300 B)');
    expect(err.message).toMatch(/Delete some of these/);
    expect(await s.get(modelKey(HF, 'BAAI/bge-small-en-v1.5', 'main', 'model.safetensors'))).toEqual(bytes(600, 9));
    expect(await s.keys()).toHaveLength(2);
    // Overwriting an entry counts only the difference.
    await s.set('dataset/hub/org/data@main/x.parquet', bytes(350, 1));
    expect((await s.estimate()).usage).toBe(950);
  });

  it('keys with odd characters and dot segments stay inside the folder', async () => {
    const root = tmp();
    const s = new FolderStore(root);
    await s.set('model/o/n@refs%2Fpr%2F1/..weird name?.json', bytes(1));
    expect(await s.keys()).toEqual(['model/o/n@refs%2Fpr%2F1/..weird name?.json']);
    expect(readdirSync(root)).toEqual(['model']);
    await expect(s.get('a//b')).rejects.toThrow(/empty segment/);
  });

  it('defaults to $TABTUNE_CACHE, else ~/.cache/tabtune', () => {
    expect(defaultCacheDir({ TABTUNE_CACHE: '/x/y' })).toBe('/x/y');
    expect(defaultCacheDir({})).toMatch(/\.cache[\\/]tabtune$/);
    expect(groupOf('partial/model/a/b@main/model.safetensors/000000000000000')).toBe('partial/model/a/b@main');
  });
});

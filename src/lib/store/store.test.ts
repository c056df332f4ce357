// The cache key scheme: a Hub id that names one Hub exactly (scheme, host, port, path), the key
// functions built on it, and the storage panel's groups for every kind of key.

import { describe, expect, it } from 'vitest';
import { groupOf, hubDatasetKey, hubId, modelGroup, modelKey, partialPrefix, storeSummary, type Store, type StoreEntry } from './store.ts';

describe('hubId', () => {
  it('names scheme, host, port and path, one id per spelling of a URL', () => {
    expect(hubId('https://huggingface.co')).toBe('https:huggingface.co');
    expect(hubId('https://HuggingFace.co:443/')).toBe('https:huggingface.co');
    expect(hubId('http://127.0.0.1:5173')).toBe('http:127.0.0.1:5173');
    expect(hubId('http://127.0.0.1:80')).toBe('http:127.0.0.1');
    expect(hubId('https://example.org/hf/mirror/')).toBe('https:example.org%2Fhf%2Fmirror');
    expect(hubId('http://[::1]:8080')).toBe('http:[::1]:8080');
  });

  it('tells apart Hubs that differ only in scheme, port or path, and never contains "/"', () => {
    const urls = ['http://h.test', 'https://h.test', 'https://h.test:8443', 'https://h.test/a', 'https://h.test/a/b', 'https://h.test/a%2Fb', 'https://h.test/a@b'];
    const ids = urls.map(hubId);
    expect(new Set(ids).size).toBe(urls.length);
    for (const id of ids) expect(id).not.toMatch(/[/@]/);
  });

  it('refuses what would make two Hubs alike: credentials, a query, a fragment, other schemes', () => {
    for (const bad of ['https://u:p@h.test', 'https://h.test/?x=1', 'https://h.test/#f', 'ftp://h.test', 'not a url']) expect(() => hubId(bad), bad).toThrow();
  });
});

describe('keys and groups', () => {
  const HF = 'https://huggingface.co';
  const EVIL = 'http://127.0.0.1:9999';
  it('Hub keys of one repo differ per Hub; their group is readable and a prefix of the keys', () => {
    expect(modelKey(HF, 'BAAI/bge-base-en-v1.5', 'main', 'config.json')).toBe('model/https:huggingface.co/BAAI/bge-base-en-v1.5@main/config.json');
    expect(modelKey(EVIL, 'BAAI/bge-base-en-v1.5', 'main', 'config.json')).toBe('model/http:127.0.0.1:9999/BAAI/bge-base-en-v1.5@main/config.json');
    expect(hubDatasetKey(HF, 'org/data', 'main', 'default/train/0000.parquet')).toBe('dataset/hub/https:huggingface.co/org/data@main/default/train/0000.parquet');
    expect(modelGroup(HF, 'BAAI/bge', 'main')).toBe('model/https:huggingface.co/BAAI/bge@main');
    const cases: [string, string][] = [
      [modelKey(HF, 'BAAI/bge', 'main', '1_Pooling/config.json'), 'model/https:huggingface.co/BAAI/bge@main'],
      [modelKey(HF, 'bert-base-uncased', 'main', 'config.json'), 'model/https:huggingface.co/bert-base-uncased@main'],
      [modelKey('https://h.test/a', 'o/n', 'v1', 'x@y.json'), 'model/https:h.test%2Fa/o/n@v1'],
      [hubDatasetKey(EVIL, 'org/data', 'main', '.tabtune-manifest.json'), 'dataset/hub/http:127.0.0.1:9999/org/data@main'],
      [partialPrefix(modelKey(HF, 'a/b', 'main', 'model.safetensors')) + '000000000000000', 'partial/model/https:huggingface.co/a/b@main'],
      ['model/local/folder/config.json', 'model/local/folder'],
      ['dataset/local/mined:1/train.jsonl', 'dataset/local/mined:1'],
      ['run/r1/checkpoints/x', 'run/r1'],
      // Keys from before the Hub was part of them (until the one-time migration moves them).
      ['model/BAAI/bge@main/config.json', 'model/BAAI/bge@main'],
      ['dataset/hub/org/data@main/x.parquet', 'dataset/hub/org/data@main'],
    ];
    for (const [key, group] of cases) {
      expect(groupOf(key), key).toBe(group);
      expect(key.startsWith(`${group}/`), key).toBe(true);
    }
  });

  it('storeSummary sums a repo per Hub', async () => {
    const entries: StoreEntry[] = [
      { key: modelKey(HF, 'BAAI/bge', 'main', 'config.json'), size: 10, time: 0 },
      { key: modelKey(HF, 'BAAI/bge', 'main', 'model.safetensors'), size: 100, time: 0 },
      { key: modelKey(EVIL, 'BAAI/bge', 'main', 'model.safetensors'), size: 50, time: 0 },
    ];
    const store = { entries: async () => entries } as unknown as Store;
    expect(await storeSummary(store)).toEqual([
      { group: 'model/https:huggingface.co/BAAI/bge@main', size: 110, entries: 2 },
      { group: 'model/http:127.0.0.1:9999/BAAI/bge@main', size: 50, entries: 1 },
    ]);
  });
});

// The one-time move of old-scheme Hub cache keys under a Hub's id: which keys move, that a model
// and a data set stored by an older tabtune load afterwards (the model offline against its
// manifest's hashes; the data set, whose old manifest recorded none, refused offline until one
// online load checked it against the listing), that running it again changes nothing, and that
// openHubCache runs it before the first read.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../../tests/hub/local-hub.ts';
import { DEFAULT_HUB_URL } from '../config.ts';
import { FolderStore } from '../store/folder-store.ts';
import { hubId, type Store } from '../store/store.ts';
import { hubKeyFor, migrateToHubKeys, openHubCache } from './cache-migration.ts';
import { loadHubDataset } from './dataset-files.ts';
import { HubClient } from './hub-client.ts';
import { loadHubModel } from './model-files.ts';

const MODEL = 'BAAI/bge-base-en-v1.5';
const DATA = 'org/qa';
let paths: FixturePaths;
let hub: LocalHub | null = null;
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabtune-migrate-'));
  dirs.push(d);
  return d;
};
beforeAll(() => {
  paths = ensureFixtures();
});
afterEach(async () => {
  await hub?.close();
  hub = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Rewrites a store as an older tabtune left it: keys without the Hub, data set manifests listing whole keys. */
async function asOldTabtune(store: Store, hubUrl: string): Promise<string[]> {
  const id = `/${hubId(hubUrl)}/`;
  for (const key of await store.keys()) {
    const old = key.replace(id, '/');
    if (old === key) continue;
    let value = (await store.get(key))!;
    if (key.startsWith('dataset/') && key.endsWith('/.tabtune-manifest.json')) {
      const m = JSON.parse(new TextDecoder().decode(value));
      const prefix = old.slice(0, -'.tabtune-manifest.json'.length);
      m.splits = Object.fromEntries(Object.entries(m.splits as Record<string, { path: string }[]>).map(([s, fs]) => [s, fs.map((f) => prefix + f.path)]));
      value = new TextEncoder().encode(JSON.stringify(m));
    }
    await store.set(old, value);
    await store.del(key);
  }
  return store.keys();
}

describe('hubKeyFor', () => {
  it('moves old Hub keys (and their partial chunks) under the Hub; leaves everything else', () => {
    const hf = hubId(DEFAULT_HUB_URL);
    expect(hubKeyFor('model/BAAI/bge@main/config.json', DEFAULT_HUB_URL)).toBe(`model/${hf}/BAAI/bge@main/config.json`);
    expect(hubKeyFor('dataset/hub/org/d@main/default/train/0000.parquet', DEFAULT_HUB_URL)).toBe(`dataset/hub/${hf}/org/d@main/default/train/0000.parquet`);
    expect(hubKeyFor('partial/model/BAAI/bge@main/model.safetensors/000000000000000', DEFAULT_HUB_URL)).toBe(`partial/model/${hf}/BAAI/bge@main/model.safetensors/000000000000000`);
    for (const k of [`model/${hf}/BAAI/bge@main/config.json`, `dataset/hub/http:127.0.0.1:9/o/d@main/x`, 'model/local/f/config.json', 'dataset/local/mined:1/train.jsonl', 'run/r/run.json', `partial/model/${hf}/a/b@main/f/0`]) {
      expect(hubKeyFor(k, DEFAULT_HUB_URL), k).toBeNull();
    }
  });
});

describe('migrateToHubKeys', () => {
  it("keeps an older tabtune's model and data set as the Hub's, once; the data set is checked online before it is used offline", async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge }, datasets: { [DATA]: paths.qaTiny } });
    const url = hub.url;
    const root = tmp();
    const fresh = new FolderStore(root);
    const model = await loadHubModel({ client: new HubClient({ hubUrl: url }), store: fresh, repo: MODEL });
    await loadHubDataset({ client: new HubClient({ hubUrl: url }), store: fresh, repo: DATA });
    const keys = await fresh.keys();
    await fresh.set('run/r1/run.json', new Uint8Array([1]));
    const oldKeys = await asOldTabtune(fresh, url);
    expect(oldKeys.some((k) => k.includes(':'))).toBe(false);
    await fresh.set('partial/model/BAAI/x@main/model.safetensors/info', new Uint8Array([2]));

    const store = new FolderStore(root);
    expect(await migrateToHubKeys(store, url)).toBe(keys.length + 1); // and the partial info; the run.json stays where it is
    expect((await store.keys()).sort()).toEqual([...keys, 'run/r1/run.json', `partial/model/${hubId(url)}/BAAI/x@main/model.safetensors/info`].sort());
    expect(await migrateToHubKeys(store, url)).toBe(0);

    // Offline: every request fails as a network error does.
    const offline = new HubClient({ hubUrl: url, fetch: () => Promise.reject(new TypeError('fetch failed')) });
    const m = await loadHubModel({ client: offline, store, repo: MODEL });
    expect(m.offline).toBe(true);
    expect(Buffer.from(m.files.get('model.safetensors')!).equals(Buffer.from(model.files.get('model.safetensors')!))).toBe(true);
    // The old data set manifest recorded no hashes: not usable offline until checked.
    await expect(loadHubDataset({ client: offline, store, repo: DATA })).rejects.toThrow(
      `org/qa: the stored train split has no recorded hash (it was stored by an older tabtune), so it cannot be checked offline. Connect to ${url} once to load it again.`,
    );

    // Online once: the stored files are checked against the listing (not fetched again), and their hashes recorded.
    const before = hub.requests.length;
    const online = await loadHubDataset({ client: new HubClient({ hubUrl: url }), store, repo: DATA });
    expect(online.offline).toBe(false);
    expect(hub.requests.slice(before).filter((r) => r.file !== null)).toEqual([]);
    const off = await loadHubDataset({ client: offline, store, repo: DATA });
    expect([off.offline, off.splits.train.rows.length, off.splits.test.rows.length]).toEqual([true, 160, 40]);
  });

  it('openHubCache moves old keys before its first read', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const url = hub.url;
    const root = tmp();
    await loadHubModel({ client: new HubClient({ hubUrl: url }), store: new FolderStore(root), repo: MODEL });
    await asOldTabtune(new FolderStore(root), url);
    await hub.close();
    hub = null;
    const m = await loadHubModel({ client: new HubClient({ hubUrl: url }), store: openHubCache(new FolderStore(root), url), repo: MODEL });
    expect(m.offline).toBe(true);
  });
});

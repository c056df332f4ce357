// Hub data sets against the local Hub: Parquet download with progress into the folder cache,
// offline reload, the dataset-viewer rows fallback, and errors that leave the cache intact.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../../tests/hub/local-hub.ts';
import { prepareDataset } from '../data/dataset.ts';
import { FolderStore } from '../store/folder-store.ts';
import { hubDatasetKey } from '../store/store.ts';
import { hubDatasetSize, loadHubDataset, MAX_ROWS_API_ROWS } from './dataset-files.ts';
import { HubClient } from './hub-client.ts';
import type { Progress } from './progress.ts';
import { DEFAULT_DATASET_ID } from '../config.ts';
import { readFileSync } from 'node:fs';

let paths: FixturePaths;
let hub: LocalHub | null = null;
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabtune-ds-'));
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
const jsonlRows = (split: string) =>
  readFileSync(join(paths.qaTiny, `${split}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('loadHubDataset', () => {
  it('downloads the listed Parquet files with progress, maps them the seed way, and reloads offline', async () => {
    hub = await startLocalHub({ datasets: { [DEFAULT_DATASET_ID]: paths.qaTiny } });
    const store = new FolderStore(tmp());
    const events: Progress[] = [];
    const ds = await loadHubDataset({ client: new HubClient({ hubUrl: hub.url }), store, repo: DEFAULT_DATASET_ID, onProgress: (p) => events.push(p) });
    expect(ds.via).toBe('parquet');
    expect(Object.keys(ds.splits)).toEqual(['train', 'test']);
    expect(ds.splits.train.rows).toEqual(jsonlRows('train'));
    expect(ds.splits.test.rows).toEqual(jsonlRows('test'));
    const sizes = ['train', 'test'].map((s) => readFileSync(join(paths.qaTiny, `data/${s}-00000-of-00001.parquet`)).byteLength);
    expect(events.at(-1)).toMatchObject({ phase: 'done', loaded: sizes[0] + sizes[1], total: sizes[0] + sizes[1], filesDone: 2, filesTotal: 2 });
    expect(events.some((e) => e.phase === 'parse')).toBe(true);
    const at = hubDatasetKey(hub.url, DEFAULT_DATASET_ID, 'main');
    expect(at).toBe(`dataset/hub/http:127.0.0.1:${new URL(hub.url).port}/${DEFAULT_DATASET_ID}@main/`);
    expect(await store.keys('dataset/')).toEqual([`${at}.tabtune-manifest.json`, `${at}default/test/0000.parquet`, `${at}default/train/0000.parquet`]);
    const p = prepareDataset(ds.splits, { source: DEFAULT_DATASET_ID });
    expect([p.mappingSource, p.split, p.train.length, p.test.length, p.issues.length]).toEqual(['seed', 'given', 160, 40, 0]);

    const url = hub.url;
    await hub.close();
    hub = null;
    const off = await loadHubDataset({ client: new HubClient({ hubUrl: url }), store: new FolderStore(store.root), repo: DEFAULT_DATASET_ID });
    expect(off.offline).toBe(true);
    expect(off.splits.train.rows).toEqual(ds.splits.train.rows);
    expect(off.splits.test.rows).toEqual(ds.splits.test.rows);
  });

  it('falls back to the dataset viewer rows API when the Parquet listing fails', async () => {
    hub = await startLocalHub({ datasets: { 'org/qa': paths.qaTiny } });
    const base = hub.url;
    const failing: typeof fetch = async (input, init) => {
      const u = String(input instanceof Request ? input.url : input);
      if (u.includes('/api/datasets/org/qa/parquet')) return new Response('{"error":"boom"}', { status: 500 });
      return fetch(input, init);
    };
    const store = new FolderStore(tmp());
    const ds = await loadHubDataset({ client: new HubClient({ hubUrl: base, fetch: failing }), store, repo: 'org/qa' });
    expect(ds.via).toBe('rows-api');
    expect(ds.splits.train.rows).toEqual(jsonlRows('train'));
    expect(ds.splits.train.columns).toEqual(['question', 'doc', 'id']);
    const rowCalls = hub.requests.filter((r) => r.url.startsWith('/datasets-server/rows'));
    expect(rowCalls).toHaveLength(3); // train: 100 + 60, test: 40
    await hub.close();
    hub = null;
    const off = await loadHubDataset({ client: new HubClient({ hubUrl: base }), store, repo: 'org/qa' });
    expect([off.offline, off.via, off.splits.test.rows.length]).toEqual([true, 'rows-api', 40]);
  });

  it('bounds the rows API: a claimed billion rows is refused at the first page; thin pages cannot stretch the loop', async () => {
    hub = await startLocalHub({ datasets: { 'org/qa': paths.qaTiny } });
    let rowRequests = 0;
    const hostile = (total: number, perPage: number): typeof fetch => async (input, init) => {
      const u = String(input instanceof Request ? input.url : input);
      if (u.includes('/api/datasets/org/qa/parquet')) return new Response('{"error":"no parquet"}', { status: 500 });
      if (u.includes('/rows?')) {
        rowRequests++;
        const rows = Array.from({ length: perPage }, () => ({ row: { question: 'q', doc: 'd' } }));
        return Response.json({ features: [{ name: 'question' }, { name: 'doc' }], rows, num_rows_total: total });
      }
      return fetch(input, init);
    };
    const t0 = performance.now();
    await expect(loadHubDataset({ client: new HubClient({ hubUrl: hub.url, fetch: hostile(1e9, 100) }), store: new FolderStore(tmp()), repo: 'org/qa' })).rejects.toThrow(
      'org/qa (train): the Hub has no Parquet export of it, and the dataset viewer\'s rows API, read 100 rows a request, serves at most 100,000 rows here; this split has 1,000,000,000.',
    );
    expect(rowRequests).toBe(1);
    expect(performance.now() - t0).toBeLessThan(1000);
    // One row a page, claiming the most it may: at most MAX_ROWS_API_ROWS / 100 requests a split.
    rowRequests = 0;
    const ds = await loadHubDataset({ client: new HubClient({ hubUrl: hub.url, fetch: hostile(MAX_ROWS_API_ROWS, 1) }), store: new FolderStore(tmp()), repo: 'org/qa' });
    expect(rowRequests).toBe(2 * (MAX_ROWS_API_ROWS / 100)); // train and test
    expect(ds.splits.train.rows).toHaveLength(MAX_ROWS_API_ROWS / 100);
  });

  it('refuses a listed Parquet file over the data-file limit by its listed size, before fetching it', async () => {
    hub = await startLocalHub({ datasets: { 'org/qa': paths.qaTiny } });
    const inflated: typeof fetch = async (input, init) => {
      const u = String(input instanceof Request ? input.url : input);
      const r = await fetch(input, init);
      if (!u.includes('/tree/')) return r;
      const tree = (await r.json()) as { path: string; size: number }[];
      return Response.json(tree.map((t) => (t.path.includes('/train/') ? { ...t, size: 2 ** 30 } : t)));
    };
    await expect(loadHubDataset({ client: new HubClient({ hubUrl: hub.url, fetch: inflated }), store: new FolderStore(tmp()), repo: 'org/qa' })).rejects.toThrow(
      /org\/qa: default\/train\/0000\.parquet: the file is 1024 MiB \(1073741824 bytes\), over the 500 MiB limit/,
    );
    expect(hub.requests.some((r) => r.url.includes('/resolve/') || r.url.includes('.parquet'))).toBe(false);
  });

  it('a missing data set is named, and what was cached stays', async () => {
    hub = await startLocalHub({ datasets: { 'org/qa': paths.qaTiny } });
    const store = new FolderStore(tmp());
    const client = new HubClient({ hubUrl: hub.url });
    await loadHubDataset({ client, store, repo: 'org/qa' });
    const before = await store.entries();
    await expect(loadHubDataset({ client, store, repo: 'org/qaa' })).rejects.toThrow(
      `Data set org/qaa was not found on ${hub.url}. Check the spelling (owner/name)`,
    );
    expect(await store.entries()).toEqual(before);
  });

  it('offline, a stored Parquet file altered behind its back is refused against its recorded hash and dropped', async () => {
    hub = await startLocalHub({ datasets: { 'org/qa': paths.qaTiny } });
    const url = hub.url;
    const root = tmp();
    await loadHubDataset({ client: new HubClient({ hubUrl: url }), store: new FolderStore(root), repo: 'org/qa' });
    await hub.close();
    hub = null;
    const store = new FolderStore(root);
    const key = hubDatasetKey(url, 'org/qa', 'main', 'default/train/0000.parquet');
    const good = (await store.get(key))!;
    const bad = good.slice();
    bad[bad.length >> 1] ^= 1;
    await store.set(key, bad);
    await expect(loadHubDataset({ client: new HubClient({ hubUrl: url }), store, repo: 'org/qa' })).rejects.toThrow(
      /^org\/qa: the stored copy of default\/train\/0000\.parquet: sha256 [0-9a-f]{64} does not match the Hub's [0-9a-f]{64} recorded when it was downloaded; it was deleted\. Connect to http:\/\/127\.0\.0\.1:\d+ to download it again\.$/,
    );
    expect(await store.get(key)).toBeUndefined();
  });

  it('maxBytes: the listed size is known before any file is fetched, and a data set over the cap is refused', async () => {
    hub = await startLocalHub({ datasets: { 'org/qa': paths.qaTiny } });
    const client = new HubClient({ hubUrl: hub.url });
    const sizes = ['train', 'test'].map((s) => readFileSync(join(paths.qaTiny, `data/${s}-00000-of-00001.parquet`)).byteLength);
    const total = sizes[0] + sizes[1];
    expect(await hubDatasetSize(client, 'org/qa')).toEqual({ config: 'default', files: 2, bytes: total });
    const store = new FolderStore(tmp());
    await expect(loadHubDataset({ client, store, repo: 'org/qa', maxBytes: total - 1 })).rejects.toThrow(
      /^org\/qa is [\d.]+ KiB of Parquet files, more than the [\d.]+ KiB loaded here\.$/,
    );
    expect(hub.requests.some((r) => r.file !== null)).toBe(false);
    expect(await store.keys()).toEqual([]);
    const ds = await loadHubDataset({ client, store, repo: 'org/qa', maxBytes: total });
    expect(ds.splits.test.rows).toHaveLength(40);
    // Without a Parquet export its size is not listed: refused under a cap.
    const noParquet: typeof fetch = async (input, init) =>
      String(input).includes('/api/datasets/org/qa/parquet') ? new Response('{"error":"no"}', { status: 500 }) : fetch(input, init);
    await expect(loadHubDataset({ client: new HubClient({ hubUrl: hub.url, fetch: noParquet }), store: new FolderStore(tmp()), repo: 'org/qa', maxBytes: 1e9 })).rejects.toThrow(
      'org/qa: the Hub does not list its size (no Parquet export with file sizes), and only data sets of at most 953.7 MiB are loaded here.',
    );
  });
});

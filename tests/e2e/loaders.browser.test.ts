// Models and data sets through the engine worker into IndexedDB, in Debian's Chromium: Hub
// downloads with progress from the local Hub (another origin, CORS), reload with the Hub
// stopped, and a full quota (an injected QuotaExceededError) that gives the storage message and
// loses nothing already stored. The cache is keyed by Hub and hash-checked: a hostile Hub's
// files for the default model's id never answer for another Hub (online, offline), and a stored
// file altered in IndexedDB (same size) is caught, dropped and fetched again.
// The test speaks comlink's wire protocol by hand (APPLY with RAW values; the progress callback
// as a proxied MessagePort) because the page has no test hook into its Engine store.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.js';
import { ensureFixtures, type FixturePaths } from '../fixtures/fixtures.ts';
import { hostileModelCopy } from '../fixtures/hostile.ts';
import { hubId, modelKey } from '../../src/lib/store/store.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { DIST_DIR, launchBrowser, serveDist, type BrowserSession } from './browser.ts';

const MODEL = 'BAAI/bge-base-en-v1.5';
const DATASET = 'YxBxRyXJx/QAsimple_for_BGE_241019';
let paths: FixturePaths;
let site: StaticServer;
let hub: LocalHub | null;
let session: BrowserSession;
let workerUrl: string;
/** The first test's Hub: stopped after it, its files stay cached under its URL. */
let firstHubUrl: string;
let work: string;

beforeAll(async () => {
  paths = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-loaders-'));
  site = await serveDist(true);
  hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge, 'org/big': paths.tinyBgeF16 }, datasets: { [DATASET]: paths.qaTiny } });
  const file = readdirSync(join(DIST_DIR, 'assets')).find((f) => /^engine\.worker.*\.js$/.test(f));
  if (!file) throw new Error('no engine worker in dist/assets');
  workerUrl = `${site.url.replace(/\/$/, '')}/assets/${file}`;
  session = await launchBrowser();
  await session.page.goto(site.url);
});
afterAll(async () => {
  await session?.close();
  await hub?.close();
  await site?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Calls one worker method in the page; returns its result and the progress events it sent. */
async function call(method: string, args: unknown[], withProgress = false, slot = '__w'): Promise<{ ok: boolean; value: any; progress: any[] }> {
  return session.page.evaluate(
    async ({ workerUrl, method, args, withProgress, slot }) => {
      const w = ((globalThis as any)[slot] ??= new Worker(workerUrl, { type: 'module' }));
      const progress: unknown[] = [];
      const wire = args.map((value) => ({ type: 'RAW', value }));
      const transfers: Transferable[] = [];
      if (withProgress) {
        const { port1, port2 } = new MessageChannel();
        port1.onmessage = (ev) => {
          if (ev.data.type === 'APPLY') progress.push(ev.data.argumentList[0].value);
          port1.postMessage({ id: ev.data.id, type: 'RAW', value: undefined });
        };
        port1.start();
        wire.push({ type: 'HANDLER', name: 'proxy', value: port2 } as any);
        transfers.push(port2);
      }
      const id = Math.random().toString(36).slice(2);
      const reply = await new Promise<any>((resolve) => {
        const on = (ev: MessageEvent) => {
          if (ev.data?.id !== id) return;
          w.removeEventListener('message', on);
          resolve(ev.data);
        };
        w.addEventListener('message', on);
        w.postMessage({ id, type: 'APPLY', path: [method], argumentList: wire }, transfers);
      });
      // Progress events travel on their own MessageChannel, so the reply can overtake the last
      // ones: wait (briefly) until the stream is quiet before handing the events over.
      for (let n = -1, quiet = 0; quiet < 3 && withProgress; quiet = progress.length === n ? quiet + 1 : 0) {
        n = progress.length;
        await new Promise((r) => setTimeout(r, 20));
      }
      if (reply.type === 'HANDLER') return { ok: !reply.value.isError, value: reply.value.value, progress };
      return { ok: true, value: reply.value, progress };
    },
    { workerUrl, method, args, withProgress, slot },
  );
}

describe('loaders in the worker', () => {
  it('downloads a model and a data set into IndexedDB with progress, then reloads them with the Hub stopped', async () => {
    const hubUrl = hub!.url;
    firstHubUrl = hubUrl;
    const m = await call('loadModel', [{ hubUrl, repo: MODEL }], true);
    expect(m.ok, JSON.stringify(m.value)).toBe(true);
    expect(m.value).toMatchObject({ repo: MODEL, modelType: 'bert', offline: false, commit: hub!.commitOf('model', MODEL) });
    expect(m.value.files.map((f: { path: string }) => f.path)).toContain('model.safetensors');
    const last = m.progress.at(-1);
    expect(last).toMatchObject({ phase: 'done', filesTotal: 10, filesDone: 10 });
    expect(last.loaded).toBe(last.total);
    expect(m.progress.some((p) => p.file === 'model.safetensors' && p.phase === 'download')).toBe(true);

    const d = await call('loadDataset', [{ hubUrl, repo: DATASET }], true);
    expect(d.ok, JSON.stringify(d.value)).toBe(true);
    expect(d.value).toMatchObject({ via: 'parquet', mappingSource: 'seed', train: 160, test: 40, split: 'given', issues: [] });
    expect(d.value.mapping).toEqual({ anchor: 'question', positive: 'doc', id: 'id' });
    expect(d.value.preview).toHaveLength(5);

    const panel = await call('storagePanel', []);
    expect(panel.value.where).toContain('IndexedDB');
    const groups = panel.value.groups.map((g: { group: string }) => g.group);
    const at = hubId(hubUrl);
    expect(at).toBe(`http:127.0.0.1:${new URL(hubUrl).port}`);
    expect(groups).toEqual(expect.arrayContaining([`model/${at}/${MODEL}@main`, `dataset/hub/${at}/${DATASET}@main`]));

    await hub!.close();
    hub = null;
    await session.page.evaluate(() => {
      (globalThis as any).__w.terminate();
      (globalThis as any).__w = undefined;
    });
    await session.page.reload();
    const m2 = await call('loadModel', [{ hubUrl, repo: MODEL }]);
    expect(m2.ok, JSON.stringify(m2.value)).toBe(true);
    expect(m2.value.offline).toBe(true);
    expect(m2.value.files).toEqual(m.value.files);
    const d2 = await call('loadDataset', [{ hubUrl, repo: DATASET }]);
    expect([d2.value.offline, d2.value.train, d2.value.test]).toEqual([true, 160, 40]);
  });

  it('a full quota gives the storage message and keeps what is stored', async () => {
    hub = await startLocalHub({ models: { 'org/big': paths.tinyBgeF16 } });
    const before = (await call('storagePanel', [])).value;
    // Chromium ignored DevTools' Storage.overrideQuotaForOrigin here (estimate() kept reporting
    // ~10 GB), so the quota error is injected: a second engine worker whose IDBObjectStore.put
    // throws the DOMException Chromium throws when the quota is full, for values over 30 kB. The
    // shim is a file of the site (the page's CSP allows workers from 'self' only, not blob:).
    const shim = `quota-shim-${process.pid}.js`;
    writeFileSync(
      join(DIST_DIR, shim),
      `const put = IDBObjectStore.prototype.put;` +
        `IDBObjectStore.prototype.put = function (v, k) {` +
        `  if (v && v.byteLength > 30000) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');` +
        `  return put.call(this, v, k); };` +
        `await import(${JSON.stringify(workerUrl)}); postMessage('ready');`,
    );
    try {
      await session.page.evaluate(async (shimUrl) => {
        const w = new Worker(shimUrl, { type: 'module' });
        await new Promise((ok, fail) => {
          w.addEventListener('message', (e) => e.data === 'ready' && ok(null));
          w.addEventListener('error', () => fail(new Error('the quota shim worker did not start')));
        });
        (globalThis as any).__wq = w;
      }, `${site.url.replace(/\/$/, '')}/${shim}`);
    } finally {
      rmSync(join(DIST_DIR, shim), { force: true });
    }
    const r = await call('loadModel', [{ hubUrl: hub.url, repo: 'org/big' }], false, '__wq');
    expect(r.ok, JSON.stringify(r.value).slice(0, 600)).toBe(false);
    expect(r.value.message).toMatch(/^Storage is full \(IndexedDB \(this browser profile\)\): could not store .*org\/big@main/);
    expect(r.value.message).toContain(`model/${hubId(firstHubUrl)}/${MODEL}@main (`);
    expect(r.value.message).toMatch(/Delete some of these in the storage panel/);
    const after = (await call('storagePanel', [], false, '__wq')).value;
    // The small files of org/big that fit are stored whole; the weights and their partial chunks are not.
    const big = after.groups.find((g: { group: string }) => g.group === `model/${hubId(hub!.url)}/org/big@main`);
    expect(big.size).toBeLessThan(30_000);
    // Only the small resume record of the weights is left (resuming works once space is freed).
    const partial = after.groups.filter((g: { group: string }) => g.group.startsWith('partial/'));
    expect(partial.map((g: { group: string; entries: number }) => [g.group, g.entries])).toEqual([[`partial/model/${hubId(hub!.url)}/org/big@main`, 1]]);
    expect(partial[0].size).toBeLessThan(200);
    for (const g of before.groups) expect(after.groups).toContainEqual(g);
    const again = await call('loadModel', [{ hubUrl: firstHubUrl, repo: MODEL }]);
    expect([again.ok, again.value.offline]).toEqual([true, true]);
    // Another Hub has no cache: the first Hub's files do not answer for it.
    const other = await call('loadModel', [{ hubUrl: 'http://127.0.0.1:9', repo: MODEL }]);
    expect(other.ok).toBe(false);
    expect(other.value.message).toMatch(/^Cannot reach http:\/\/127\.0\.0\.1:9 .*is not in the cache either/);
    await hub!.close();
    hub = null;
  });

  it("a ?hub= Hub's weights never answer for another Hub, online or offline, and an altered stored file is fetched again", async () => {
    const evil = await startLocalHub({ models: { [MODEL]: hostileModelCopy(paths.tinyBge, join(work, 'evil')) } });
    let good: LocalHub | null = await startLocalHub({ models: { [MODEL]: paths.tinyBge }, datasets: { [DATASET]: paths.qaTiny } });
    const goodUrl = good.url;
    try {
      const fresh = async () => {
        await session.page.evaluate(() => {
          (globalThis as any).__w?.terminate();
          (globalThis as any).__w = undefined;
        });
        await session.page.reload();
      };
      const evaluate = async (hubUrl: string, progress = false) => {
        const m = await call('loadModel', [{ hubUrl, repo: MODEL }], progress);
        expect(m.ok, JSON.stringify(m.value).slice(0, 400)).toBe(true);
        const d = await call('loadDataset', [{ hubUrl: goodUrl, repo: DATASET }]);
        expect(d.ok, JSON.stringify(d.value).slice(0, 400)).toBe(true);
        const e = await call('evaluate', [{ config: { backend: 'wasm', loss: { type: 'mnrl', matryoshka: { dims: [32, 16] } } } }]);
        expect(e.ok, JSON.stringify(e.value).slice(0, 400)).toBe(true);
        return { model: m, metrics: e.value.result.metrics as Record<string, number> };
      };
      const weightBodies = (h: LocalHub, from: number) => h.requests.slice(from).filter((r) => r.file === 'model.safetensors' && r.status === 200).length;

      // The clean reference: the good Hub's model, before any hostile bytes are in this profile.
      await fresh();
      const clean = await evaluate(goodUrl);
      expect(clean.metrics['dim_32_cosine_ndcg@10'], JSON.stringify(clean.metrics)).toBeGreaterThan(0);
      expect((await call('storageDelete', [`model/${hubId(goodUrl)}/${MODEL}@main`])).ok).toBe(true);

      // ?hub=evil: the same repo id with other weights of the same size.
      const bad = await evaluate(evil.url);
      expect(bad.metrics).not.toEqual(clean.metrics);

      // The good Hub afterwards (no cache for it): its own weights, fetched from it.
      let mark = good.requests.length;
      const after = await evaluate(goodUrl);
      expect(weightBodies(good, mark)).toBe(1);
      expect(after.metrics).toEqual(clean.metrics);

      // A next visit whose stored weights were swapped in IndexedDB for the hostile ones (same size).
      await fresh();
      const swapped = await session.page.evaluate(
        async ({ from, to }) => {
          const open = (name: string) =>
            new Promise<IDBDatabase>((ok, fail) => {
              const r = indexedDB.open(name);
              r.onsuccess = () => ok(r.result);
              r.onerror = () => fail(r.error);
            });
          const req = <T,>(r: IDBRequest<T>) => new Promise<T>((ok, fail) => ((r.onsuccess = () => ok(r.result)), (r.onerror = () => fail(r.error))));
          // The bytes live under the key and the write's generation its commit record names (idb-store.ts).
          const meta = await open('tabtune-meta');
          const dataKey = async (key: string) => {
            const rec = (await req(meta.transaction('entries').objectStore('entries').get(key))) as { gen?: string; chunks?: number };
            if (rec.chunks !== undefined) throw new Error(`${key} is stored in chunks; the test expects one value`);
            return rec.gen === undefined ? key : `${key}#${rec.gen}`;
          };
          const [fromKey, toKey] = [await dataKey(from), await dataKey(to)];
          meta.close();
          const db = await open('tabtune-data');
          const bytes = (await req(db.transaction('values').objectStore('values').get(fromKey))) as Uint8Array;
          const old = (await req(db.transaction('values').objectStore('values').get(toKey))) as Uint8Array;
          await req(db.transaction('values', 'readwrite').objectStore('values').put(bytes, toKey));
          db.close();
          return [bytes.byteLength, old.byteLength];
        },
        { from: modelKey(evil.url, MODEL, 'main', 'model.safetensors'), to: modelKey(goodUrl, MODEL, 'main', 'model.safetensors') },
      );
      expect(swapped[0]).toBe(swapped[1]);
      mark = good.requests.length;
      const healed = await evaluate(goodUrl, true);
      expect(healed.model.progress.at(-1).notes).toEqual([expect.stringMatching(/^The stored copy of model\.safetensors: sha256 [0-9a-f]{64} does not match the Hub's [0-9a-f]{64}; it was deleted and is downloaded again\.$/)]);
      expect(weightBodies(good, mark)).toBe(1);
      expect(healed.metrics).toEqual(clean.metrics);

      // Offline (the good Hub stopped): its cache, not the hostile Hub's.
      await good.close();
      good = null;
      await fresh();
      const offline = await evaluate(goodUrl);
      expect(offline.model.value.offline).toBe(true);
      expect(offline.metrics).toEqual(clean.metrics);
    } finally {
      await evil.close();
      await good?.close();
    }
  }, 180_000); // five loads and evaluations, each in a fresh worker: ~15 s alone, past 60 s on a busy 2-core machine
});

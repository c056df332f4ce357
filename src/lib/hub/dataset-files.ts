// A Hub data set as tables per split: the Parquet files the Hub lists for it (downloaded with
// the one download client into the Store, sha256-checked against the refs/convert/parquet tree),
// or, when the Hub has no Parquet listing, the dataset viewer's /rows API (100 rows a page, at most
// MAX_ROWS_API_ROWS a split). Listed files over the data-file limit (data/limits.ts) are refused.
// A manifest written last makes the data set loadable offline. Not column mapping (data/).

import { HubError } from './errors.ts';
import type { HubClient } from './hub-client.ts';
import { downloadToStore } from './download.ts';
import { ProgressMeter, type ProgressCallback } from './progress.ts';
import { dataFileSizeProblem } from '../data/limits.ts';
import { parseParquet, type Table } from '../data/parse.ts';
import { hubDatasetKey, type Store } from '../store/store.ts';

const PARQUET_REV = 'refs/convert/parquet';
/**
 * The rows API fallback reads at most this many rows of a split (1,000 requests of 100): it
 * serves data sets the Hub has not converted to Parquet, which are small; a split the viewer
 * says is larger is refused before the first row is kept, and no claim makes the loop longer.
 */
export const MAX_ROWS_API_ROWS = 100_000;
const ROWS_PAGE = 100;
const MANIFEST = '.tabtune-manifest.json';

export interface HubDataset {
  repo: string;
  revision: string;
  config: string;
  /** Split name → rows, in the Hub's split order (train, validation, test, …). */
  splits: Record<string, Table>;
  via: 'parquet' | 'rows-api';
  offline: boolean;
}

interface Manifest {
  config: string;
  via: HubDataset['via'];
  /** split → store keys, in order. */
  splits: Record<string, string[]>;
}

export interface LoadHubDatasetOptions {
  client: HubClient;
  store: Store;
  repo: string;
  revision?: string;
  /** Default: "default" when the data set has it, else the first config. */
  config?: string;
  onProgress?: ProgressCallback;
  chunkBytes?: number;
  retries?: number;
  retryDelayMs?: number;
}

const enc = new TextEncoder();

async function fromManifest(store: Store, repo: string, revision: string, offline: boolean): Promise<HubDataset | null> {
  const mb = await store.get(hubDatasetKey(repo, revision, MANIFEST));
  if (!mb) return null;
  const m = JSON.parse(new TextDecoder().decode(mb)) as Manifest;
  const splits: Record<string, Table> = {};
  for (const [split, keys] of Object.entries(m.splits)) {
    const parts: Table[] = [];
    for (const k of keys) {
      const b = await store.get(k);
      if (!b) return null;
      parts.push(m.via === 'parquet' ? await parseParquet(b, `${repo} (${split})`) : (JSON.parse(new TextDecoder().decode(b)) as Table));
    }
    splits[split] = concat(parts);
  }
  return { repo, revision, config: m.config, splits, via: m.via, offline };
}

function concat(parts: Table[]): Table {
  if (parts.length === 1) return parts[0];
  const columns = [...new Set(parts.flatMap((p) => p.columns))];
  return { columns, rows: parts.flatMap((p) => p.rows) };
}

export async function loadHubDataset(o: LoadHubDatasetOptions): Promise<HubDataset> {
  const revision = o.revision ?? 'main';
  const hub = o.client.hubUrl;
  const ctx = { hub, repo: o.repo, kind: 'dataset' as const, revision };
  let listing: Record<string, Record<string, string[]>> | null = null;
  try {
    listing = await o.client.getJson(`${hub}/api/datasets/${o.repo}/parquet`, ctx);
    if (!listing || Object.keys(listing).length === 0 || Object.values(listing).every((c) => Object.keys(c).length === 0)) listing = null;
  } catch (e) {
    if (e instanceof HubError && e.offline) {
      const cached = await fromManifest(o.store, o.repo, revision, true);
      if (cached) return cached;
      throw new HubError('Network', `${e.message} ${o.repo} is not in the cache either.`, null, e);
    }
    if (e instanceof HubError && e.code === 'RepositoryNotFound') throw e;
    listing = null; // no Parquet export: use the viewer's rows
  }
  if (!listing) return loadViaRows(o, revision);

  const config = o.config ?? (listing.default ? 'default' : Object.keys(listing)[0]);
  const splitsOf = listing[config];
  if (!splitsOf) throw new HubError('EntryNotFound', `${o.repo} has no config "${config}" (configs: ${Object.keys(listing).join(', ')}).`);
  // Sizes and sha256 from the tree of the Parquet export.
  const tree = await o.client
    .getJson<{ path: string; size: number; lfs?: { oid: string } }[]>(
      `${hub}/api/datasets/${o.repo}/tree/${encodeURIComponent(PARQUET_REV)}/${config}?recursive=true`,
      ctx,
    )
    .catch(() => []);
  const byPath = new Map(tree.map((t) => [t.path, t]));
  const jobs = Object.entries(splitsOf).flatMap(([split, urls]) =>
    urls.map((url, i) => {
      const n = /\/(\d+)\.parquet$/.exec(url)?.[1] ?? String(i);
      const path = `${config}/${split}/${n.padStart(4, '0')}.parquet`;
      return { split, url, path, info: byPath.get(path) };
    }),
  );
  // A listed file over the data-file limit is refused by its listed size, before it is fetched.
  for (const j of jobs) {
    const tooLarge = j.info ? dataFileSizeProblem(j.info.size) : null;
    if (tooLarge) throw new HubError('Unsupported', `${o.repo}: ${j.path}: ${tooLarge}.`);
  }
  const total = jobs.every((j) => j.info) ? jobs.reduce((s, j) => s + j.info!.size, 0) : null;
  const meter = new ProgressMeter(o.onProgress, jobs.length, total);
  const manifest: Manifest = { config, via: 'parquet', splits: {} };
  const splits: Record<string, Table> = {};
  for (const j of jobs) {
    const key = hubDatasetKey(o.repo, revision, j.path);
    const r = await downloadToStore({
      url: j.url,
      store: o.store,
      key,
      label: j.path,
      expected: j.info ? { size: j.info.size, sha256: j.info.lfs?.oid } : undefined,
      fetch: o.client.fetch,
      chunkBytes: o.chunkBytes,
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      meter,
    });
    meter.phase('parse', j.path);
    const t = await parseParquet(r.bytes, `${o.repo} (${j.split})`);
    splits[j.split] = splits[j.split] ? concat([splits[j.split], t]) : t;
    (manifest.splits[j.split] ??= []).push(key);
  }
  meter.finish();
  await o.store.set(hubDatasetKey(o.repo, revision, MANIFEST), enc.encode(JSON.stringify(manifest)));
  return { repo: o.repo, revision, config, splits, via: 'parquet', offline: false };
}

async function loadViaRows(o: LoadHubDatasetOptions, revision: string): Promise<HubDataset> {
  const ds = o.client.datasetsServerUrl;
  const ctx = { hub: ds, repo: o.repo, kind: 'dataset' as const, revision };
  const q = `dataset=${encodeURIComponent(o.repo)}`;
  const info = await o.client.getJson<{ splits: { config: string; split: string }[] }>(`${ds}/splits?${q}`, ctx);
  if (!info.splits.length) throw new HubError('EntryNotFound', `${o.repo}: the Hub lists no Parquet files and the dataset viewer no splits; it cannot be loaded from the Hub.`);
  const config = o.config ?? (info.splits.some((s) => s.config === 'default') ? 'default' : info.splits[0].config);
  const names = info.splits.filter((s) => s.config === config).map((s) => s.split);
  const meter = new ProgressMeter(o.onProgress, names.length, null);
  const manifest: Manifest = { config, via: 'rows-api', splits: {} };
  const splits: Record<string, Table> = {};
  for (const split of names) {
    meter.startFile(`${config}/${split}`, null);
    const rows: Record<string, unknown>[] = [];
    let columns: string[] = [];
    // At most MAX_ROWS_API_ROWS / ROWS_PAGE requests, whatever the pages hold or the total claims.
    let total = MAX_ROWS_API_ROWS;
    for (let offset = 0; offset < total; offset += ROWS_PAGE) {
      const page = await o.client.getJson<{ features: { name: string }[]; rows: { row: Record<string, unknown> }[]; num_rows_total: number }>(
        `${ds}/rows?${q}&config=${encodeURIComponent(config)}&split=${encodeURIComponent(split)}&offset=${offset}&length=${ROWS_PAGE}`,
        ctx,
      );
      if (offset === 0) {
        if (page.num_rows_total > MAX_ROWS_API_ROWS) {
          throw new HubError(
            'Unsupported',
            `${o.repo} (${split}): the Hub has no Parquet export of it, and the dataset viewer's rows API, read 100 rows a request, serves at most ${MAX_ROWS_API_ROWS.toLocaleString('en-US')} rows here; this split has ${page.num_rows_total.toLocaleString('en-US')}. Download its files and give them as a file or folder.`,
          );
        }
        if (Number.isInteger(page.num_rows_total) && page.num_rows_total >= 0) total = page.num_rows_total;
      }
      columns = page.features.map((f) => f.name);
      for (const r of page.rows.slice(0, ROWS_PAGE)) rows.push(r.row);
      meter.bytes(0);
      if (page.rows.length === 0 || rows.length >= total) break;
    }
    const table: Table = { columns, rows };
    const key = hubDatasetKey(o.repo, revision, `rows/${config}/${split}.json`);
    const bytes = enc.encode(JSON.stringify(table));
    await o.store.set(key, bytes);
    meter.fileDone(bytes.byteLength);
    splits[split] = table;
    manifest.splits[split] = [key];
  }
  meter.finish();
  await o.store.set(hubDatasetKey(o.repo, revision, MANIFEST), enc.encode(JSON.stringify(manifest)));
  return { repo: o.repo, revision, config, splits, via: 'rows-api', offline: false };
}

// A Hub data set as tables per split: the Parquet files the Hub lists for it (downloaded with
// the one download client into the Store, sha256-checked against the refs/convert/parquet tree),
// or, when the Hub has no Parquet listing, the dataset viewer's /rows API (100 rows a page, at most
// MAX_ROWS_API_ROWS a split). Listed files over the data-file limit (data/limits.ts) are refused.
// A manifest written last makes the data set loadable offline; it records each stored file's
// sha256 (the Hub's, or of the bytes stored where the Hub gave none), against which a file is
// checked on its first use offline. `maxBytes` refuses a data set whose listed size is larger
// (or not listed) before any of it is fetched. Multi-config repos (sentence-transformers/NanoBEIR-en:
// configs corpus, queries, qrels, one split per data set) load one config at a time, optionally
// only some of its splits; each config keeps its own manifest, and a load of some splits adds
// them to what the manifest already holds, so every split once loaded stays loadable offline.
// Not column mapping (data/).

import { HubError } from './errors.ts';
import type { HubClient } from './hub-client.ts';
import { downloadToStore, hexDigest, readChecked, type ExpectedFile } from './download.ts';
import { ProgressMeter, type ProgressCallback } from './progress.ts';
import { dataFileSizeProblem } from '../data/limits.ts';
import { parseParquet, type Table } from '../data/parse.ts';
import { formatBytes, hubDatasetKey, type Store } from '../store/store.ts';

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

/** One stored file of a data set: its path under the data set's keys and the hash recorded for it. */
export interface ManifestFile {
  path: string;
  size?: number;
  /** Absent only in a manifest an older tabtune wrote (moved by hub/cache-migration.ts). */
  sha256?: string;
}

export interface DatasetManifest {
  config: string;
  via: HubDataset['via'];
  /** split → its files, in order. */
  splits: Record<string, ManifestFile[]>;
}

export const DATASET_MANIFEST = MANIFEST;

export interface LoadHubDatasetOptions {
  client: HubClient;
  store: Store;
  repo: string;
  revision?: string;
  /** Default: "default" when the data set has it, else the first config. */
  config?: string;
  /** Only these splits of the config (each must exist); default all of them. */
  splits?: readonly string[];
  onProgress?: ProgressCallback;
  chunkBytes?: number;
  retries?: number;
  retryDelayMs?: number;
  /** Refuse, before fetching any of it, a data set whose Parquet files add up to more (or whose size the Hub does not list). */
  maxBytes?: number;
}

const enc = new TextEncoder();

/** The refusal of a data set over a size cap, naming both. */
export function tooLargeMessage(repo: string, bytes: number | null, cap: number): string {
  return bytes === null
    ? `${repo}: the Hub does not list its size (no Parquet export with file sizes), and only data sets of at most ${formatBytes(cap)} are loaded here.`
    : `${repo} is ${formatBytes(bytes)} of Parquet files, more than the ${formatBytes(cap)} loaded here.`;
}

/**
 * The manifest's file name: the one name for the default config (or when none was asked for, as
 * before multi-config support, so older caches still load), one per named config.
 */
export function manifestName(config: string | undefined): string {
  return config === undefined || config === 'default' ? MANIFEST : `.tabtune-manifest.${encodeURIComponent(config)}.json`;
}

async function readManifest(store: Store, hub: string, repo: string, revision: string, config: string | undefined): Promise<DatasetManifest | null> {
  const mb = await store.get(hubDatasetKey(hub, repo, revision, manifestName(config)));
  return mb ? (JSON.parse(new TextDecoder().decode(mb)) as DatasetManifest) : null;
}

async function fromManifest(
  store: Store,
  hub: string,
  repo: string,
  revision: string,
  offline: boolean,
  config?: string,
  wanted?: readonly string[],
): Promise<HubDataset | null> {
  const m = await readManifest(store, hub, repo, revision, config);
  if (!m || typeof m.splits !== 'object' || m.splits === null) return null;
  if (wanted && !wanted.every((w) => Object.hasOwn(m.splits, w))) return null;
  const splits: Record<string, Table> = {};
  for (const [split, files] of Object.entries(m.splits)) {
    if (wanted && !wanted.includes(split)) continue;
    const parts: Table[] = [];
    for (const f of files) {
      if (typeof f?.path !== 'string' || !f.sha256) {
        throw new HubError('Integrity', `${repo}: the stored ${split} split has no recorded hash (it was stored by an older tabtune), so it cannot be checked offline. Connect to ${hub} once to load it again.`);
      }
      const r = await readChecked(store, hubDatasetKey(hub, repo, revision, f.path), { size: f.size, sha256: f.sha256 }, f.path);
      if (r.kind === 'missing') return null;
      if (r.kind === 'mismatch') {
        throw new HubError('Integrity', `${repo}: the stored copy of ${r.message} recorded when it was downloaded; it was deleted. Connect to ${hub} to download it again.`);
      }
      parts.push(m.via === 'parquet' ? await parseParquet(r.bytes, `${repo} (${split})`) : (JSON.parse(new TextDecoder().decode(r.bytes)) as Table));
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

/** The Hub's Parquet export listing (config → split → URLs); null when it has none. Offline and unknown-repo errors are thrown. */
async function parquetListing(client: HubClient, repo: string, revision: string): Promise<Record<string, Record<string, string[]>> | null> {
  const hub = client.hubUrl;
  try {
    const listing = await client.getJson<Record<string, Record<string, string[]>>>(`${hub}/api/datasets/${repo}/parquet`, { hub, repo, kind: 'dataset', revision });
    if (!listing || Object.keys(listing).length === 0 || Object.values(listing).every((c) => Object.keys(c).length === 0)) return null;
    return listing;
  } catch (e) {
    if (e instanceof HubError && (e.offline || e.code === 'RepositoryNotFound')) throw e;
    return null; // no Parquet export: use the viewer's rows
  }
}

interface ParquetJob {
  split: string;
  url: string;
  path: string;
  /** From the export's tree: size and LFS sha256; absent when the tree did not list the file. */
  info?: { size: number; lfs?: { oid: string } };
}

/** One config's Parquet files (of the wanted splits) with their listed sizes; `bytes` is null when any size is missing. */
async function parquetJobs(
  client: HubClient,
  repo: string,
  revision: string,
  listing: Record<string, Record<string, string[]>>,
  wanted?: string,
  wantedSplits?: readonly string[],
) {
  const hub = client.hubUrl;
  const config = wanted ?? (Object.hasOwn(listing, 'default') ? 'default' : Object.keys(listing)[0]);
  const splitsOf = Object.hasOwn(listing, config) ? listing[config] : undefined;
  if (!splitsOf || typeof splitsOf !== 'object') throw new HubError('EntryNotFound', `${repo} has no config "${config}" (configs: ${Object.keys(listing).join(', ')}).`);
  const missing = (wantedSplits ?? []).filter((s) => !Object.hasOwn(splitsOf, s));
  if (missing.length) throw new HubError('EntryNotFound', `${repo} (config ${config}) has no split ${missing.join(', ')} (splits: ${Object.keys(splitsOf).join(', ')}).`);
  // Sizes and sha256 from the tree of the Parquet export.
  const tree = await client
    .getJson<{ path: string; size: number; lfs?: { oid: string } }[]>(
      `${hub}/api/datasets/${repo}/tree/${encodeURIComponent(PARQUET_REV)}/${config}?recursive=true`,
      { hub, repo, kind: 'dataset', revision },
    )
    .catch(() => []);
  const byPath = new Map(tree.map((t) => [t.path, t]));
  const jobs: ParquetJob[] = Object.entries(splitsOf)
    .filter(([split]) => !wantedSplits || wantedSplits.includes(split))
    .flatMap(([split, urls]) =>
      (Array.isArray(urls) ? urls : []).map((url, i) => {
        const n = /\/(\d+)\.parquet$/.exec(url)?.[1] ?? String(i);
        const path = `${config}/${split}/${n.padStart(4, '0')}.parquet`;
        return { split, url, path, info: byPath.get(path) };
      }),
    );
  const bytes = jobs.every((j) => j.info && Number.isFinite(j.info.size)) ? jobs.reduce((s, j) => s + j.info!.size, 0) : null;
  return { config, jobs, bytes };
}

/**
 * What loading a Hub data set would fetch, from its listing alone: the config, the number of
 * Parquet files and their total size (null when the Hub does not list sizes, or lists no Parquet
 * export: then only the viewer's rows are left, whose size nobody knows in advance).
 */
export async function hubDatasetSize(
  client: HubClient,
  repo: string,
  o: { revision?: string; config?: string; splits?: readonly string[] } = {},
): Promise<{ config: string | null; files: number; bytes: number | null }> {
  const revision = o.revision ?? 'main';
  const listing = await parquetListing(client, repo, revision);
  if (!listing) return { config: o.config ?? null, files: 0, bytes: null };
  const { config, jobs, bytes } = await parquetJobs(client, repo, revision, listing, o.config, o.splits);
  return { config, files: jobs.length, bytes };
}

export async function loadHubDataset(o: LoadHubDatasetOptions): Promise<HubDataset> {
  const revision = o.revision ?? 'main';
  const hub = o.client.hubUrl;
  let listing: Record<string, Record<string, string[]>> | null;
  try {
    listing = await parquetListing(o.client, o.repo, revision);
  } catch (e) {
    if (e instanceof HubError && e.offline) {
      const cached = await fromManifest(o.store, hub, o.repo, revision, true, o.config, o.splits);
      if (cached) return cached;
      throw new HubError('Network', `${e.message} ${o.repo} is not in the cache either.`, null, e);
    }
    throw e;
  }
  if (!listing) {
    if (o.maxBytes !== undefined) throw new HubError('Unsupported', tooLargeMessage(o.repo, null, o.maxBytes));
    return loadViaRows(o, revision);
  }

  const { config, jobs, bytes: total } = await parquetJobs(o.client, o.repo, revision, listing, o.config, o.splits);
  // A listed file over the data-file limit is refused by its listed size, before it is fetched.
  for (const j of jobs) {
    const tooLarge = j.info ? dataFileSizeProblem(j.info.size) : null;
    if (tooLarge) throw new HubError('Unsupported', `${o.repo}: ${j.path}: ${tooLarge}.`);
  }
  if (o.maxBytes !== undefined && (total === null || total > o.maxBytes)) throw new HubError('Unsupported', tooLargeMessage(o.repo, total, o.maxBytes));
  // The hashes the last load recorded: what a file the tree does not list is checked against.
  const mName = manifestName(o.config);
  const before = await readManifest(o.store, hub, o.repo, revision, o.config);
  const recorded = new Map<string, ManifestFile>();
  if (before) for (const f of Object.values(before.splits ?? {}).flat()) if (typeof f?.path === 'string' && f.sha256) recorded.set(f.path, f);
  const meter = new ProgressMeter(o.onProgress, jobs.length, total);
  // A load of some splits keeps the other splits the manifest lists (same config, same export).
  const kept = o.splits && before?.config === config && before.via === 'parquet' ? Object.entries(before.splits).filter(([s]) => !o.splits!.includes(s)) : [];
  const manifest: DatasetManifest = { config, via: 'parquet', splits: Object.fromEntries(kept) };
  const splits: Record<string, Table> = {};
  for (const j of jobs) {
    const key = hubDatasetKey(hub, o.repo, revision, j.path);
    const expected: ExpectedFile | undefined = j.info ? { size: j.info.size, sha256: j.info.lfs?.oid } : recorded.get(j.path);
    // Nothing to check a stored copy against: fetch it again rather than trust it.
    if (!expected?.sha256) await o.store.del(key);
    const r = await downloadToStore({
      url: j.url,
      store: o.store,
      key,
      label: j.path,
      expected,
      fetch: o.client.fetch,
      chunkBytes: o.chunkBytes,
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      meter,
    });
    meter.phase('parse', j.path);
    const t = await parseParquet(r.bytes, `${o.repo} (${j.split})`);
    splits[j.split] = splits[j.split] ? concat([splits[j.split], t]) : t;
    (manifest.splits[j.split] ??= []).push({ path: j.path, size: r.bytes.byteLength, sha256: expected?.sha256 ?? (await hexDigest('SHA-256', r.bytes)) });
  }
  meter.finish();
  await o.store.set(hubDatasetKey(hub, o.repo, revision, mName), enc.encode(JSON.stringify(manifest)));
  return { repo: o.repo, revision, config, splits, via: 'parquet', offline: false };
}

async function loadViaRows(o: LoadHubDatasetOptions, revision: string): Promise<HubDataset> {
  const ds = o.client.datasetsServerUrl;
  const ctx = { hub: ds, repo: o.repo, kind: 'dataset' as const, revision };
  const q = `dataset=${encodeURIComponent(o.repo)}`;
  const info = await o.client.getJson<{ splits: { config: string; split: string }[] }>(`${ds}/splits?${q}`, ctx);
  if (!info.splits.length) throw new HubError('EntryNotFound', `${o.repo}: the Hub lists no Parquet files and the dataset viewer no splits; it cannot be loaded from the Hub.`);
  const config = o.config ?? (info.splits.some((s) => s.config === 'default') ? 'default' : info.splits[0].config);
  const all = info.splits.filter((s) => s.config === config).map((s) => s.split);
  const missing = (o.splits ?? []).filter((s) => !all.includes(s));
  if (missing.length) throw new HubError('EntryNotFound', `${o.repo} (config ${config}) has no split ${missing.join(', ')} (splits: ${all.join(', ')}).`);
  const names = o.splits ? all.filter((s) => o.splits!.includes(s)) : all;
  const meter = new ProgressMeter(o.onProgress, names.length, null);
  const manifest: DatasetManifest = { config, via: 'rows-api', splits: {} };
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
    const path = `rows/${config}/${split}.json`;
    const bytes = enc.encode(JSON.stringify(table));
    await o.store.set(hubDatasetKey(o.client.hubUrl, o.repo, revision, path), bytes);
    meter.fileDone(bytes.byteLength);
    splits[split] = table;
    manifest.splits[split] = [{ path, size: bytes.byteLength, sha256: await hexDigest('SHA-256', bytes) }];
  }
  meter.finish();
  await o.store.set(hubDatasetKey(o.client.hubUrl, o.repo, revision, manifestName(o.config)), enc.encode(JSON.stringify(manifest)));
  return { repo: o.repo, revision, config, splits, via: 'rows-api', offline: false };
}

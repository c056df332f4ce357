// The storage interface every cache in tabtune goes through (models, data sets, checkpoints,
// run history), the key scheme, and the "storage is full" error. Implementations: idb-store.ts
// (IndexedDB through idb-keyval, the page's worker) and folder-store.ts (Node, the CLI).
// Not a database: values are opaque bytes; no queries beyond key prefixes.
//
// Commit rule, shared by both implementations: a `set` writes the new bytes where no committed
// value lives (new keys or files, unique per write), then makes them the entry with one atomic
// step (the commit record's swap), and only then deletes the value it replaced; nothing is ever
// deleted before its replacement is committed. `get`, `keys` and `entries` only see committed
// entries, so a crash or a full disk in the middle of a write leaves the old value whole. What an
// interrupted write leaves (bytes no record points to) is counted by `unreferenced()` and shown
// in the storage summary until `sweep()` deletes it.

export interface StoreEntry {
  key: string;
  /** Bytes of the value. */
  size: number;
  /** Unix ms when the entry was committed. */
  time: number;
}

export interface StoreEstimate {
  usage: number;
  /** null when the platform has no quota to report (a folder on disk). */
  quota: number | null;
}

/**
 * A value: one buffer, or its parts in order. Parts are written one after another and never
 * joined, so a checkpoint's tensors go to disk or IndexedDB without a second whole copy.
 */
export type StoreValue = Uint8Array | readonly Uint8Array[];

/** The most bytes one IndexedDB value holds (and one write copies); the memory account counts it. */
export const STORE_CHUNK_BYTES = 32 * 2 ** 20;

/** The parts of a value, in order. */
export const partsOf = (v: StoreValue): readonly Uint8Array[] => (v instanceof Uint8Array ? [v] : v);

/** Bytes of a value. */
export const sizeOfValue = (v: StoreValue): number => partsOf(v).reduce((n, p) => n + p.byteLength, 0);

/** Bytes of interrupted writes that no commit record points to: how many values, how many bytes. */
export interface Unreferenced {
  entries: number;
  size: number;
}

export interface Store {
  /** Where the bytes live, in words ("IndexedDB", "folder ~/.cache/tabtune"). */
  readonly description: string;
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: StoreValue): Promise<void>;
  del(key: string): Promise<void>;
  /** Deletes every committed entry whose key starts with `prefix`. */
  delPrefix(prefix: string): Promise<number>;
  keys(prefix?: string): Promise<string[]>;
  entries(prefix?: string): Promise<StoreEntry[]>;
  estimate(): Promise<StoreEstimate>;
  /** Asks the platform not to evict this storage (`navigator.storage.persist()`); true if granted. */
  persist(): Promise<boolean>;
  /** What interrupted writes left (stores that can be interrupted between bytes and record). */
  unreferenced?(): Promise<Unreferenced>;
  /** Deletes what unreferenced() counts, except writes in progress; says what it deleted. */
  sweep?(): Promise<Unreferenced>;
}

// ---- key scheme -------------------------------------------------------------------------------
// model/{hub}/{repo}@{rev}/{file}        files of a Hub model at the revision the user asked for
// model/local/{name}/{file}              a model folder picked from disk
// dataset/hub/{hub}/{repo}@{rev}/{path}  Parquet files / viewer rows of a Hub data set
// dataset/local/{name}/{file}            a data file picked from disk
// run/{runId}/…                          a run's own store (src/lib/run/record.ts: run.json,
//                                        checkpoints/, and the trained model once finished)
// partial/{key}/{offset}                 chunks of a download in progress (see hub/download.ts)
// {hub} is hubId(the Hub URL): the bytes of one Hub never answer for another (a `?hub=` link
// cannot fill the default Hub's cache). Keys made before the Hub was part of them are moved
// under huggingface.co's id once (hub/cache-migration.ts).

/**
 * One key segment that names a Hub exactly and readably: `{scheme}:{host}[:{port}]{path}`, the
 * path URI-encoded ("https:huggingface.co", "http:127.0.0.1:5173",
 * "https:example.org%2Fhf"). Injective: the scheme ends at the first ':', a host never holds '%'
 * and an encoded path starts with '%2F'; the URL parser drops default ports and lower-cases the
 * host, so spellings of one URL give one id. Throws on what a Hub URL must not carry (credentials,
 * a query, a fragment): those would make two different Hubs look alike.
 */
export function hubId(hubUrl: string): string {
  let u: URL;
  try {
    u = new URL(hubUrl);
  } catch {
    throw new Error(`not a Hub URL: "${hubUrl}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`not an http(s) Hub URL: "${hubUrl}"`);
  if (u.username || u.password || u.search || u.hash) throw new Error(`a Hub URL with credentials, a query or a fragment cannot name a cache: "${hubUrl}"`);
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.protocol}${u.host}${path ? encodeURIComponent(path) : ''}`;
}

export const modelKey = (hub: string, repo: string, revision: string, file = '') => `model/${hubId(hub)}/${repo}@${revision}/${file}`;
export const localModelKey = (name: string, file = '') => `model/local/${name}/${file}`;
export const hubDatasetKey = (hub: string, repo: string, revision: string, path = '') => `dataset/hub/${hubId(hub)}/${repo}@${revision}/${path}`;
export const localDatasetKey = (name: string, file = '') => `dataset/local/${name}/${file}`;
export const runKey = (runId: string, rest = '') => `run/${runId}/${rest}`;
export const partialPrefix = (key: string) => `partial/${key}/`;
/** The storage panel's group of a Hub model (modelKey without the trailing '/'). */
export const modelGroup = (hub: string, repo: string, revision: string) => modelKey(hub, repo, revision).slice(0, -1);

/**
 * A view of `store` under `prefix` (ending in '/'): keys are relative to it, so a run writes
 * `run.json` and `checkpoints/…` the same way into IndexedDB (`run/{runId}/…`) as into a folder.
 */
export function prefixedStore(store: Store, prefix: string): Store {
  if (!prefix.endsWith('/')) throw new Error(`prefixedStore: the prefix must end in "/", got "${prefix}"`);
  const strip = (e: StoreEntry): StoreEntry => ({ ...e, key: e.key.slice(prefix.length) });
  return {
    description: `${store.description}, ${prefix}`,
    get: (key) => store.get(prefix + key),
    set: (key, value) => store.set(prefix + key, value),
    del: (key) => store.del(prefix + key),
    delPrefix: (p = '') => store.delPrefix(prefix + p),
    keys: async (p = '') => (await store.keys(prefix + p)).map((k) => k.slice(prefix.length)),
    entries: async (p = '') => (await store.entries(prefix + p)).map(strip),
    estimate: () => store.estimate(),
    persist: () => store.persist(),
  };
}

/**
 * The group an entry belongs to in the storage panel, a prefix of its keys (deleting a group
 * deletes `{group}/…`): "model/https:huggingface.co/BAAI/bge-base-en-v1.5@main",
 * "dataset/hub/https:huggingface.co/org/data@main", "model/local/name", "run/{id}". A Hub repo's
 * group ends at its "@revision" segment, so an id without an owner groups as well as owner/name.
 */
export function groupOf(key: string): string {
  const parts = key.split('/');
  if (parts[0] === 'partial') return `partial/${groupOf(parts.slice(1).join('/'))}`;
  if ((parts[0] === 'model' || parts[0] === 'dataset') && parts[1] === 'local') return parts.slice(0, 3).join('/');
  const repoFrom = parts[0] === 'model' ? 1 : parts[0] === 'dataset' && parts[1] === 'hub' ? 2 : -1;
  if (repoFrom > 0) {
    // Hub-keyed ({hub}/{repo}@{rev}) or, before the one-time migration, {repo}@{rev}.
    const at = parts.findIndex((p, i) => i >= repoFrom && p.includes('@'));
    if (at >= 0) return parts.slice(0, at + 1).join('/');
    return parts.slice(0, Math.min(parts.length, repoFrom + 3)).join('/');
  }
  if (parts[0] === 'run') return parts.slice(0, 2).join('/');
  return parts[0];
}

export interface StoreGroup {
  group: string;
  size: number;
  entries: number;
}

/** The storage panel's line for bytes of interrupted writes (deleting it sweeps them). */
export const UNREFERENCED_GROUP = 'unreferenced (interrupted writes)';

/** Committed entries summed per group, and the bytes of interrupted writes, largest first: what the storage panel lists. */
export async function storeSummary(store: Store): Promise<StoreGroup[]> {
  const groups = new Map<string, StoreGroup>();
  const lost = await store.unreferenced?.().catch(() => null);
  if (lost?.entries) groups.set(UNREFERENCED_GROUP, { group: UNREFERENCED_GROUP, size: lost.size, entries: lost.entries });
  for (const e of await store.entries()) {
    const g = groupOf(e.key);
    const cur = groups.get(g) ?? { group: g, size: 0, entries: 0 };
    cur.size += e.size;
    cur.entries += 1;
    groups.set(g, cur);
  }
  return [...groups.values()].sort((a, b) => b.size - a.size || a.group.localeCompare(b.group));
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * Storage is full. The message names what is stored (largest first) so the user knows what to
 * delete; the entry being written was not stored, and nothing stored before was touched.
 */
export class StoreQuotaError extends Error {
  readonly key: string;
  readonly bytes: number;
  readonly stored: StoreGroup[];
  constructor(key: string, bytes: number, stored: StoreGroup[], where: string, cause?: unknown) {
    const list = stored.length
      ? stored.slice(0, 8).map((g) => `${g.group} (${formatBytes(g.size)})`).join(', ')
      : 'nothing';
    super(
      `Storage is full (${where}): could not store ${key} (${formatBytes(bytes)}). ` +
        `Stored now: ${list}. Delete some of these in the storage panel (or free disk space) and try again; ` +
        `everything already stored is intact.`,
      { cause },
    );
    this.name = 'StoreQuotaError';
    this.key = key;
    this.bytes = bytes;
    this.stored = stored;
  }
}

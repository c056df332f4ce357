// The browser store: IndexedDB through idb-keyval, used by the engine worker (it owns every
// IndexedDB write). Two databases: `tabtune-data` holds the bytes, `tabtune-meta` the commit
// records ({size, time, gen, chunks}); readers see only keys that have a record. The records let
// the storage panel list sizes without reading any value. A value over the chunk size (or given
// in parts) is stored as chunks of at most CHUNK_BYTES, so a checkpoint or a model file is never
// structured-cloned whole (a clone of a view copies its whole buffer; a 1.3 GB value costs 1.3 GB
// more in the worker while it is written).
//
// Commit rule: every write puts its bytes under new keys (`{key}#{gen}`, or `{key}#{gen}~{i}` for
// chunk i, gen unique per write), then swaps the record in one transaction, and only then deletes
// the bytes of the value it replaced. So an interrupted write (closed tab, full quota, any error)
// leaves the old value whole and readable; what it leaves behind is bytes no record points to.
// The storage summary counts those (unreferenced()), and sweep() deletes them: the engine worker
// sweeps at its start. A write holds a Web Lock named after its gen while it runs, and the sweep
// skips every gen whose lock is held, so a sweep in one tab never deletes a write in progress in
// this or another tab. Records written before generations (no `gen`) keep their old keys
// (`{key}` and `{key}#chunk{i}`) and stay readable. Not for Node (no IndexedDB there).

import { createStore, delMany, entries, get, keys, promisifyRequest, set, update, type UseStore } from 'idb-keyval';
import { STORE_CHUNK_BYTES, partsOf, sizeOfValue, StoreQuotaError, storeSummary, type Store, type StoreEntry, type StoreEstimate, type StoreValue, type Unreferenced } from './store.ts';

interface CommitRecord {
  size: number;
  time: number;
  /** The write that stored the bytes; absent in records written before generations. */
  gen?: string;
  /** Set when the value is stored in this many chunks. */
  chunks?: number;
}

/** The data keys of a committed value. */
function dataKeys(key: string, rec: CommitRecord): string[] {
  const base = rec.gen === undefined ? key : `${key}#${rec.gen}`;
  if (rec.chunks === undefined) return [base];
  return Array.from({ length: rec.chunks }, (_, i) => (rec.gen === undefined ? `${key}#chunk${i}` : `${base}~${i}`));
}

/** A data key's chunk set and index ("a#g1-x~3" → ["a#g1-x", 3]; legacy "a#chunk3" → ["a", 3]); null for an unchunked value. */
function chunkOf(dataKey: string): [string, number] | null {
  const m = /^(.*)(?:~|#chunk)(\d+)$/.exec(dataKey);
  return m ? [m[1], Number(m[2])] : null;
}

/** The gen in a data key, or null for a legacy key. */
function genOf(dataKey: string): string | null {
  return /#(g[0-9a-z]+-[0-9a-f]{8})(?:~\d+)?$/.exec(dataKey)?.[1] ?? null;
}

const newGen = () => `g${Date.now().toString(36)}-${Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('')}`;

/** The value's bytes in order, copied into chunks of `chunkBytes` (the last shorter), made one at a time as the writes go. */
function* chunksOf(parts: readonly Uint8Array[], size: number, chunkBytes: number): Generator<Uint8Array> {
  let chunk = new Uint8Array(Math.min(chunkBytes, size));
  let filled = 0;
  let left = size;
  for (const p of parts) {
    for (let at = 0; at < p.byteLength;) {
      const n = Math.min(chunk.byteLength - filled, p.byteLength - at);
      chunk.set(p.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === chunk.byteLength) {
        yield chunk;
        left -= filled;
        chunk = new Uint8Array(Math.min(chunkBytes, left));
        filled = 0;
      }
    }
  }
}
const ownsBuffer = (b: Uint8Array) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;

/** One IndexedDB write or delete that a `set` makes, in order (the test hook sees each before it happens). */
export type WriteStep = { op: 'data'; index: number } | { op: 'commit' } | { op: 'drop' };

export interface IdbStoreOptions {
  /** Database name prefix (tests use their own). */
  name?: string;
  /** Bytes per chunk (tests use small chunks); default STORE_CHUNK_BYTES. */
  chunkBytes?: number;
  /** Tests only: awaited before each step of a `set`; a throw makes that step fail (an interrupted write). */
  beforeWriteStep?: (step: WriteStep) => void | Promise<void>;
}

const isQuota = (e: unknown) =>
  !!e && typeof e === 'object' && ((e as { name?: string }).name === 'QuotaExceededError' || /quota/i.test(String((e as Error).message)));

type Locks = { request<T>(name: string, fn: () => Promise<T>): Promise<T>; query(): Promise<{ held?: { name?: string }[]; pending?: { name?: string }[] }> };
const locks = (): Locks | null => ((globalThis.navigator as { locks?: Locks } | undefined)?.locks ?? null);

export class IdbStore implements Store {
  readonly description = 'IndexedDB (this browser profile)';
  readonly #data: UseStore;
  readonly #meta: UseStore;
  readonly #lockPrefix: string;
  readonly #chunkBytes: number;
  readonly #beforeStep: (step: WriteStep) => void | Promise<void>;
  /** Gens of this store's writes in progress (the sweep skips them even without Web Locks). */
  readonly #writing = new Set<string>();

  constructor(options: IdbStoreOptions = {}) {
    const name = options.name ?? 'tabtune';
    this.#data = createStore(`${name}-data`, 'values');
    this.#meta = createStore(`${name}-meta`, 'entries');
    this.#lockPrefix = `${name}-store-write:`;
    this.#chunkBytes = options.chunkBytes ?? STORE_CHUNK_BYTES;
    this.#beforeStep = options.beforeWriteStep ?? (() => {});
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    // A write in another tab may commit and drop the bytes being read: then read its value instead.
    for (let attempt = 0; attempt < 3; attempt++) {
      const rec = await get<CommitRecord>(key, this.#meta);
      if (!rec) return undefined;
      const value = await this.#read(key, rec);
      if (value) return value;
      const now = await get<CommitRecord>(key, this.#meta);
      if (!now || now.gen === rec.gen) return undefined;
    }
    return undefined;
  }

  async #read(key: string, rec: CommitRecord): Promise<Uint8Array | undefined> {
    const dk = dataKeys(key, rec);
    if (rec.chunks !== undefined) {
      const out = new Uint8Array(rec.size);
      let at = 0;
      for (const k of dk) {
        const c = await get<Uint8Array>(k, this.#data);
        if (!c || at + c.byteLength > rec.size) return undefined;
        out.set(c, at);
        at += c.byteLength;
      }
      return at === rec.size ? out : undefined;
    }
    const value = await get<Uint8Array | ArrayBuffer>(dk[0], this.#data);
    if (!value) return undefined;
    const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
    return bytes.byteLength === rec.size ? bytes : undefined;
  }

  async set(key: string, value: StoreValue): Promise<void> {
    const gen = newGen();
    this.#writing.add(gen);
    try {
      const l = locks();
      const write = () => this.#write(key, value, gen);
      await (l ? l.request(this.#lockPrefix + gen, write) : write());
    } finally {
      this.#writing.delete(gen);
    }
  }

  /** New bytes under `gen`, then the record swapped in one transaction, then the replaced value's bytes dropped. */
  async #write(key: string, value: StoreValue, gen: string): Promise<void> {
    const parts = partsOf(value);
    const size = sizeOfValue(value);
    const single = parts.length === 1 && size <= this.#chunkBytes && ownsBuffer(parts[0]);
    const rec: CommitRecord = { size, time: 0, gen };
    let written = 0;
    let replaced: CommitRecord | undefined;
    try {
      if (single) {
        await this.#beforeStep({ op: 'data', index: 0 });
        written = 1;
        await set(`${key}#${gen}`, parts[0], this.#data);
      } else {
        for (const c of chunksOf(parts, size, this.#chunkBytes)) {
          await this.#beforeStep({ op: 'data', index: written });
          await set(`${key}#${gen}~${written++}`, c, this.#data);
        }
        rec.chunks = written;
      }
      await this.#beforeStep({ op: 'commit' });
      rec.time = Date.now();
      await update<CommitRecord>(key, (old) => {
        replaced = old;
        return rec;
      }, this.#meta);
    } catch (e) {
      // This write's bytes, which no record points to; what a failure here leaves, the sweep takes.
      await this.#drop(dataKeys(key, single ? rec : { ...rec, chunks: written })).catch(() => {});
      if (!isQuota(e)) throw e;
      throw new StoreQuotaError(key, size, await storeSummary(this), this.description, e);
    }
    // The new value is committed; bytes left by a failure from here on are the sweep's.
    if (replaced) await this.#drop(dataKeys(key, replaced)).catch(() => {});
  }

  async #drop(dataKeyList: string[]): Promise<void> {
    await this.#beforeStep({ op: 'drop' });
    await delMany(dataKeyList, this.#data);
  }

  async del(key: string): Promise<void> {
    // The record goes first, in the transaction that reads it, so no reader pairs it with missing bytes.
    const rec = await this.#meta('readwrite', (s) => {
      const r = s.get(key);
      s.delete(key);
      return promisifyRequest(s.transaction).then(() => r.result as CommitRecord | undefined);
    });
    if (rec) await delMany(dataKeys(key, rec), this.#data);
  }

  /**
   * Bytes no record points to and no write in progress owns: left by interrupted writes. Listed
   * before the locks and records are read, so a write that starts meanwhile is never among them.
   */
  async #unreferenced(): Promise<{ keys: string[]; sets: number; size: number }> {
    const stored = (await keys(this.#data)).filter((k): k is string => typeof k === 'string');
    const busy = new Set(this.#writing);
    const l = locks();
    if (l) {
      const q = await l.query();
      for (const lock of [...(q.held ?? []), ...(q.pending ?? [])]) {
        if (lock.name?.startsWith(this.#lockPrefix)) busy.add(lock.name.slice(this.#lockPrefix.length));
      }
    }
    const referenced = new Set<string>();
    for (const [k, r] of await entries<IDBValidKey, CommitRecord>(this.#meta)) if (typeof k === 'string') for (const d of dataKeys(k, r)) referenced.add(d);
    const orphans = stored.filter((k) => !referenced.has(k) && !busy.has(genOf(k) ?? ''));
    // Sizes without reading whole sets: every chunk but a set's last is full, the last is read.
    const last = new Map<string, number>();
    for (const k of orphans) {
      const c = chunkOf(k);
      if (c) last.set(c[0], Math.max(last.get(c[0]) ?? -1, c[1]));
    }
    let size = 0;
    let sets = 0;
    for (const k of orphans) {
      const c = chunkOf(k);
      if (c && c[1] !== last.get(c[0])) {
        size += this.#chunkBytes;
        continue;
      }
      sets++;
      const v = await get<Uint8Array | ArrayBuffer>(k, this.#data);
      size += v?.byteLength ?? 0;
    }
    return { keys: orphans, sets, size };
  }

  async unreferenced(): Promise<Unreferenced> {
    const u = await this.#unreferenced();
    return { entries: u.sets, size: u.size };
  }

  /**
   * Deletes the bytes of interrupted writes. Needs Web Locks to tell another tab's write in
   * progress from an interrupted one; without them it deletes nothing.
   */
  async sweep(): Promise<Unreferenced> {
    if (!locks()) return { entries: 0, size: 0 };
    const u = await this.#unreferenced();
    if (u.keys.length) await delMany(u.keys, this.#data);
    return { entries: u.sets, size: u.size };
  }

  async delPrefix(prefix: string): Promise<number> {
    const keys = await this.keys(prefix);
    for (const k of keys) await this.del(k);
    return keys.length;
  }

  async entries(prefix = ''): Promise<StoreEntry[]> {
    const all = await entries<IDBValidKey, CommitRecord>(this.#meta);
    return all
      .filter(([k]) => typeof k === 'string' && k.startsWith(prefix))
      .map(([k, r]) => ({ key: k as string, size: r.size, time: r.time }))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  async keys(prefix = ''): Promise<string[]> {
    return (await this.entries(prefix)).map((e) => e.key);
  }

  async estimate(): Promise<StoreEstimate> {
    const usage = (await this.entries()).reduce((s, e) => s + e.size, 0);
    const est = await navigator.storage?.estimate?.().catch(() => null);
    return { usage, quota: est?.quota ?? null };
  }

  async persist(): Promise<boolean> {
    // navigator.storage.persist exists only on Window; in a worker report the current state.
    const storage = navigator.storage as StorageManager & { persist?: () => Promise<boolean> };
    if (typeof storage?.persist === 'function') return storage.persist();
    return (await storage?.persisted?.()) ?? false;
  }
}

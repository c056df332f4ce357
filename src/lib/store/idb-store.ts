// The browser store: IndexedDB through idb-keyval, used by the engine worker (it owns every
// IndexedDB write). Two databases: `tabtune-data` holds the bytes, `tabtune-meta` the commit
// records ({size, time}); a set writes the bytes, then the record; a delete removes the record,
// then the bytes; readers see only keys that have a record, so an interrupted write (closed tab,
// full quota) never shows up as a half-written entry. The records let the storage panel list
// sizes without reading any value. A value over CHUNK_BYTES (or given in parts) is stored as
// chunks of at most CHUNK_BYTES under keys the records never list, so a checkpoint or a model file
// is never structured-cloned whole (a clone of a view copies its whole buffer; a 1.3 GB value
// costs 1.3 GB more in the worker while it is written). Not for Node (no IndexedDB there).

import { createStore, del, entries, get, set, type UseStore } from 'idb-keyval';
import { STORE_CHUNK_BYTES as CHUNK_BYTES, partsOf, sizeOfValue, StoreQuotaError, storeSummary, type Store, type StoreEntry, type StoreEstimate, type StoreValue } from './store.ts';

interface CommitRecord {
  size: number;
  time: number;
  /** Set when the value is stored in this many chunks (chunkKey(key, i)). */
  chunks?: number;
}

const chunkKey = (key: string, i: number) => `${key}#chunk${i}`;

/** The value's bytes in order, copied into chunks of CHUNK_BYTES (the last shorter), made one at a time as the writes go. */
function* chunksOf(parts: readonly Uint8Array[], size: number): Generator<Uint8Array> {
  let chunk = new Uint8Array(Math.min(CHUNK_BYTES, size));
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
        chunk = new Uint8Array(Math.min(CHUNK_BYTES, left));
        filled = 0;
      }
    }
  }
}
const ownsBuffer = (b: Uint8Array) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;

export interface IdbStoreOptions {
  /** Database name prefix (tests use their own). */
  name?: string;
}

const isQuota = (e: unknown) =>
  !!e && typeof e === 'object' && ((e as { name?: string }).name === 'QuotaExceededError' || /quota/i.test(String((e as Error).message)));

export class IdbStore implements Store {
  readonly description = 'IndexedDB (this browser profile)';
  readonly #data: UseStore;
  readonly #meta: UseStore;

  constructor(options: IdbStoreOptions = {}) {
    const name = options.name ?? 'tabtune';
    this.#data = createStore(`${name}-data`, 'values');
    this.#meta = createStore(`${name}-meta`, 'entries');
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const rec = await get<CommitRecord>(key, this.#meta);
    if (!rec) return undefined;
    if (rec.chunks !== undefined) {
      const out = new Uint8Array(rec.size);
      let at = 0;
      for (let i = 0; i < rec.chunks; i++) {
        const c = await get<Uint8Array>(chunkKey(key, i), this.#data);
        if (!c || at + c.byteLength > rec.size) return undefined;
        out.set(c, at);
        at += c.byteLength;
      }
      return at === rec.size ? out : undefined;
    }
    const value = await get<Uint8Array | ArrayBuffer>(key, this.#data);
    if (!value) return undefined;
    const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
    return bytes.byteLength === rec.size ? bytes : undefined;
  }

  async set(key: string, value: StoreValue): Promise<void> {
    const parts = partsOf(value);
    const size = sizeOfValue(value);
    let chunks = 0;
    try {
      await this.del(key);
      if (parts.length === 1 && size <= CHUNK_BYTES && ownsBuffer(parts[0])) {
        await set(key, parts[0], this.#data);
        await set(key, { size, time: Date.now() } satisfies CommitRecord, this.#meta);
        return;
      }
      for (const c of chunksOf(parts, size)) await set(chunkKey(key, chunks++), c, this.#data);
      await set(key, { size, time: Date.now(), chunks } satisfies CommitRecord, this.#meta);
    } catch (e) {
      if (!isQuota(e)) throw e;
      // The bytes may or may not have landed; without a record they are invisible, so drop them.
      await this.#delData(key, chunks + 1).catch(() => {});
      throw new StoreQuotaError(key, size, await storeSummary(this), this.description, e);
    }
  }

  async del(key: string): Promise<void> {
    const rec = await get<CommitRecord>(key, this.#meta);
    await del(key, this.#meta);
    await this.#delData(key, rec?.chunks ?? 0);
  }

  async #delData(key: string, chunks: number): Promise<void> {
    await del(key, this.#data);
    for (let i = 0; i < chunks; i++) await del(chunkKey(key, i), this.#data);
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

// The browser store: IndexedDB through idb-keyval, used by the engine worker (it owns every
// IndexedDB write). Two databases: `tabtune-data` holds the bytes, `tabtune-meta` the commit
// records ({size, time}); a set writes the bytes, then the record; a delete removes the record,
// then the bytes; readers see only keys that have a record, so an interrupted write (closed tab,
// full quota) never shows up as a half-written entry. The records let the storage panel list
// sizes without reading any value. Not for Node (no IndexedDB there).

import { createStore, del, entries, get, set, type UseStore } from 'idb-keyval';
import { StoreQuotaError, storeSummary, type Store, type StoreEntry, type StoreEstimate } from './store.ts';

interface CommitRecord {
  size: number;
  time: number;
}

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
    const value = await get<Uint8Array | ArrayBuffer>(key, this.#data);
    if (!value) return undefined;
    const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
    return bytes.byteLength === rec.size ? bytes : undefined;
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    try {
      await del(key, this.#meta);
      await set(key, value, this.#data);
      await set(key, { size: value.byteLength, time: Date.now() } satisfies CommitRecord, this.#meta);
    } catch (e) {
      if (!isQuota(e)) throw e;
      // The bytes may or may not have landed; without a record they are invisible, so drop them.
      await del(key, this.#data).catch(() => {});
      throw new StoreQuotaError(key, value.byteLength, await storeSummary(this), this.description, e);
    }
  }

  async del(key: string): Promise<void> {
    await del(key, this.#meta);
    await del(key, this.#data);
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

// The one-time move of Hub cache entries stored before their keys named the Hub
// (`model/{repo}@{rev}/…`, `dataset/hub/{repo}@{rev}/…` and their `partial/` chunks) under
// huggingface.co's id, the Hub every such entry was meant to come from; and `openHubCache`, the
// store every Hub cache is opened through (the engine worker's IndexedDB at start-up, the CLI's
// folder), which runs the move before its first read or write.
// Moved entries are not trusted for that: a model's manifest keeps the hashes its listing gave,
// against which its files are checked on first use; a data set's old manifest recorded none, so
// its files are checked against the Hub's listing when online and refused offline
// (dataset-files.ts). Not a general schema migrator: this one move, idempotent (a key that names a
// Hub is never moved again, and a move interrupted half-way is finished on the next open).

import { DEFAULT_HUB_URL } from '../config.ts';
import { hubId, type Store } from '../store/store.ts';
import { DATASET_MANIFEST, type DatasetManifest, type ManifestFile } from './dataset-files.ts';
import { MODEL_MANIFEST } from './model-files.ts';

/** An old key's new key under `hub`, or null when the key already names a Hub (or is not a Hub cache key). */
export function hubKeyFor(key: string, hub: string): string | null {
  if (key.startsWith('partial/')) {
    const inner = hubKeyFor(key.slice('partial/'.length), hub);
    return inner === null ? null : `partial/${inner}`;
  }
  const parts = key.split('/');
  // A Hub id always holds ':' (its scheme); an owner or repo name never does.
  if (parts[0] === 'model' && parts.length > 2 && parts[1] !== 'local' && !parts[1].includes(':')) return `model/${hubId(hub)}/${parts.slice(1).join('/')}`;
  if (parts[0] === 'dataset' && parts[1] === 'hub' && parts.length > 3 && !parts[2].includes(':')) return `dataset/hub/${hubId(hub)}/${parts.slice(2).join('/')}`;
  return null;
}

/**
 * Moves every old-scheme Hub entry of `store` under `hub` (default huggingface.co); returns how
 * many were moved. Files first, manifests last, so a crash in between leaves no manifest pointing
 * at files not yet moved. An old data set manifest listed whole keys; it is rewritten with paths.
 */
export async function migrateToHubKeys(store: Store, hub = DEFAULT_HUB_URL): Promise<number> {
  const moves = (await store.keys())
    .map((key) => ({ key, to: hubKeyFor(key, hub) }))
    .filter((m): m is { key: string; to: string } => m.to !== null);
  const isManifest = (k: string) => !k.startsWith('partial/') && (k.endsWith(`/${MODEL_MANIFEST}`) || k.endsWith(`/${DATASET_MANIFEST}`));
  moves.sort((a, b) => Number(isManifest(a.key)) - Number(isManifest(b.key)));
  for (const { key, to } of moves) {
    let value = await store.get(key);
    if (value && isManifest(key) && key.startsWith('dataset/')) value = rewriteDatasetManifest(value, key.slice(0, -DATASET_MANIFEST.length));
    if (value) await store.set(to, value);
    await store.del(key);
  }
  return moves.length;
}

/** An old data set manifest (split → whole keys under `prefix`) as the current one (split → paths, no hash); null drops it. */
function rewriteDatasetManifest(bytes: Uint8Array, prefix: string): Uint8Array | undefined {
  let m: { config: string; via: DatasetManifest['via']; splits: Record<string, unknown[]> };
  try {
    m = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  const splits: Record<string, ManifestFile[]> = {};
  for (const [split, list] of Object.entries(m.splits ?? {})) {
    if (!Array.isArray(list)) return undefined;
    splits[split] = [];
    for (const item of list) {
      if (typeof item === 'string') {
        if (!item.startsWith(prefix)) return undefined;
        splits[split].push({ path: item.slice(prefix.length) });
      } else if (item && typeof item === 'object' && typeof (item as ManifestFile).path === 'string') {
        splits[split].push(item as ManifestFile);
      } else return undefined;
    }
  }
  const out: DatasetManifest = { config: m.config, via: m.via, splits };
  return new TextEncoder().encode(JSON.stringify(out));
}

/**
 * `store` once the move has run: every call waits for it. A move that fails (storage full, say)
 * is reported through `warn` and leaves the entries it did not move where they were (they are
 * only unused); the store works on.
 */
export function openHubCache(store: Store, hub = DEFAULT_HUB_URL, warn: (m: string) => void = console.warn): Store {
  const ready = migrateToHubKeys(store, hub).then(
    () => undefined,
    (e) => warn(`tabtune: moving the cache to keys that name the Hub stopped (${(e as Error).message}); entries not moved are left unused.`),
  );
  const after = <T>(f: () => Promise<T>) => ready.then(f);
  return {
    description: store.description,
    get: (k) => after(() => store.get(k)),
    set: (k, v) => after(() => store.set(k, v)),
    del: (k) => after(() => store.del(k)),
    delPrefix: (p) => after(() => store.delPrefix(p)),
    keys: (p) => after(() => store.keys(p)),
    entries: (p) => after(() => store.entries(p)),
    estimate: () => after(() => store.estimate()),
    persist: () => after(() => store.persist()),
    // The interrupted-write sweep (idb-store.ts) passes through, after the move like the rest.
    ...(store.unreferenced && { unreferenced: () => after(() => store.unreferenced!()) }),
    ...(store.sweep && { sweep: () => after(() => store.sweep!()) }),
  };
}

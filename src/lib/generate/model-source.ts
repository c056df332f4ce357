// ModelFileSources that run anywhere (Node, page, worker): a generation model's files from the
// Hub through our own Hub code (listed once, each file downloaded into a Store — the CLI's folder
// cache or the page's IndexedDB — resumable and hash-checked, with byte progress), from what a
// Store already holds (offline), or from files in memory. A local folder is Node-only:
// generator-node.ts.
// Not the loader (generator.ts) and not a cache policy: what the store keeps is the caller's choice.

import { downloadToStore, type ExpectedFile } from '../hub/download.ts';
import { HubError } from '../hub/errors.ts';
import type { HubClient, HubFile } from '../hub/hub-client.ts';
import { ProgressMeter, type ProgressCallback } from '../hub/progress.ts';
import { modelKey, type Store } from '../store/store.ts';
import type { ModelFileSource } from './generator.ts';

export interface HubFileSourceOptions {
  client: HubClient;
  store: Store;
  repo: string;
  revision?: string;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

const expectedOf = (f: HubFile): ExpectedFile => ({ size: f.size, sha256: f.sha256, gitSha1: f.sha256 ? undefined : f.gitSha1 });

/**
 * A Hub model repo as a file source; files are fetched on first read and kept in `store`. When the
 * Hub cannot be reached, the files an earlier run stored are used as they are (commit null).
 */
export async function hubFileSource(o: HubFileSourceOptions): Promise<ModelFileSource & { commit: string | null }> {
  const revision = o.revision ?? 'main';
  const label = `${o.repo}@${revision}`;
  let listing;
  try {
    listing = await o.client.listFiles('model', o.repo, revision);
  } catch (e) {
    if (!(e instanceof HubError && e.offline)) throw e;
    const cached = storeFileSource(o.store, o.client.hubUrl, o.repo, revision);
    if (!(await cached.list()).includes('config.json')) throw new HubError('Network', `${e.message} ${label} is not in the cache either.`, null, e);
    return { ...cached, commit: null };
  }
  const byPath = new Map(listing.files.map((f) => [f.path, f]));
  const meter = new ProgressMeter(o.onProgress, 0, null);
  return {
    label,
    commit: listing.commit,
    list: async () => [...byPath.keys()],
    read: async (path) => {
      const f = byPath.get(path);
      if (!f) return null;
      meter.state.filesTotal++;
      const r = await downloadToStore({
        url: o.client.resolveUrl('model', o.repo, listing.commit, path),
        store: o.store,
        key: modelKey(o.client.hubUrl, o.repo, revision, path),
        label: path,
        expected: expectedOf(f),
        fetch: o.client.fetch,
        meter,
        signal: o.signal,
      }).catch((e: unknown) => {
        throw e instanceof HubError ? e : new HubError('Network', `${label}: ${path}: ${(e as Error).message}`, null, e);
      });
      return r.bytes;
    },
  };
}

/** The files of a Hub repo that are already in `store` (no network): what the page loads offline. */
export function storeFileSource(store: Store, hubUrl: string, repo: string, revision = 'main'): ModelFileSource {
  const prefix = modelKey(hubUrl, repo, revision);
  return {
    label: `${repo}@${revision}`,
    list: async () => (await store.keys(prefix)).map((k) => k.slice(prefix.length)),
    read: async (path) => (await store.get(prefix + path)) ?? null,
  };
}

/** Files already in memory (a test's, or what the page read from IndexedDB). */
export function mapFileSource(label: string, files: ReadonlyMap<string, Uint8Array>): ModelFileSource {
  return {
    label,
    list: async () => [...files.keys()],
    read: async (path) => files.get(path) ?? null,
  };
}

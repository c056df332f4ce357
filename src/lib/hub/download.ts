// The one download client (worker and CLI): fetch a file into a Store with HTTP Range resume,
// progress, retries, and integrity checks before the file counts as cached.
//
// Resume: bytes arrive into an in-memory chunk (default 8 MiB); each full chunk is committed to
// the store as `partial/{key}/{offset}`; on a network error the partial chunk is committed too,
// so a retry — in this call, or after a closed tab, in the next — asks for `Range: bytes=N-`
// where N is the contiguous run of committed chunks. A `partial/{key}/info` record holds the
// expected size/sha256; if the remote file changed, the partial chunks are dropped.
// Completion: the chunks are read back and assembled into one buffer, the size is checked, the
// sha256 (LFS files) or git blob sha1 (regular files) is computed with Web Crypto
// (`crypto.subtle.digest`, one shot over the assembled buffer: Web Crypto cannot hash
// incrementally, and the engine needs the whole file in memory anyway to parse the weights), and
// only then is the file stored under its key and the chunks deleted. Peak memory ≈ 2× the file
// (chunks are read one by one into the assembled buffer) — fine for bge-base (438 MB), heavy for
// bge-large (1.34 GB).
// A stored file is trusted only after a hash check: the first time a worker or process uses it
// (`readChecked`, here for downloads and by the offline loaders against the hash their manifest
// recorded), the bytes are hashed against what the Hub's listing said; a mismatch drops the entry
// and says why; keys that passed are remembered for the life of the worker/process, per store, so
// a second use does not hash again. A listing without a hash leaves only the size to check.
// Not a Hub API client (hub-client.ts lists files) and not a cache policy (callers decide).

import { HubError, networkError } from './errors.ts';
import { ProgressMeter, type ProgressCallback } from './progress.ts';
import { partialPrefix, type Store } from '../store/store.ts';

export interface ExpectedFile {
  size?: number;
  /** Hex sha256 of the content (the Hub's LFS oid / X-Linked-ETag). */
  sha256?: string;
  /** Hex git blob sha1 (the Hub's tree oid for non-LFS files). */
  gitSha1?: string;
}

export interface DownloadOptions {
  url: string;
  store: Store;
  key: string;
  /** Shown in progress and errors, e.g. "model.safetensors". */
  label?: string;
  expected?: ExpectedFile;
  fetch?: typeof fetch;
  /** Bytes per committed partial chunk (default 8 MiB). */
  chunkBytes?: number;
  /** Extra attempts after a network error (default 3). */
  retries?: number;
  retryDelayMs?: number;
  meter?: ProgressMeter;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface DownloadResult {
  bytes: Uint8Array;
  /** Body bytes received from the network by this call. */
  fetched: number;
  /** Offset the first request of this call started at (> 0 when it resumed). */
  resumedFrom: number;
  fromCache: boolean;
  /** Requests this call made. */
  requests: number;
}

const INFO = 'info';

/** True when `expected` names a hash (not only a size). */
export const hasHash = (e: ExpectedFile | undefined): boolean => !!(e?.sha256 || e?.gitSha1);

const fingerprint = (e: ExpectedFile) => `${e.size ?? ''}/${e.sha256?.toLowerCase() ?? ''}/${e.gitSha1?.toLowerCase() ?? ''}`;

/** Per store: key → the expectation its stored bytes were hashed against in this worker/process. */
const checked = new WeakMap<Store, Map<string, string>>();
const checkedIn = (store: Store) => {
  let m = checked.get(store);
  if (!m) checked.set(store, (m = new Map()));
  return m;
};

export type CheckedRead =
  | { kind: 'ok'; bytes: Uint8Array; /** false when this call hashed them, true when an earlier use had */ remembered: boolean }
  | { kind: 'missing' }
  /** The stored bytes did not match; the entry was deleted. `message` says what differed. */
  | { kind: 'mismatch'; message: string };

/**
 * The bytes stored under `key`, checked against `expected` (its hash when it names one, else its
 * size) the first time this worker/process reads the key for that expectation. A mismatch deletes
 * the entry: it must not be used, here or by a later visit.
 */
export async function readChecked(store: Store, key: string, expected: ExpectedFile | undefined, label: string): Promise<CheckedRead> {
  const bytes = await store.get(key);
  if (!bytes) return { kind: 'missing' };
  const seen = checkedIn(store);
  const fp = expected ? fingerprint(expected) : '';
  const sizeBad = expected?.size !== undefined && bytes.byteLength !== expected.size;
  if (!sizeBad && seen.get(key) === fp) return { kind: 'ok', bytes, remembered: true };
  const bad = sizeBad ? `${label}: ${bytes.byteLength} bytes stored, ${expected!.size} expected` : hasHash(expected) ? await verify(bytes, expected, label) : null;
  if (bad) {
    seen.delete(key);
    await store.del(key);
    return { kind: 'mismatch', message: bad };
  }
  seen.set(key, fp);
  return { kind: 'ok', bytes, remembered: false };
}

/** Records that the bytes just stored under `key` were checked against `expected`. */
function markChecked(store: Store, key: string, expected: ExpectedFile | undefined): void {
  checkedIn(store).set(key, expected ? fingerprint(expected) : '');
}
const pad = (n: number) => String(n).padStart(15, '0');

export async function hexDigest(algo: 'SHA-256' | 'SHA-1', bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest(algo, bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function gitBlobSha1(bytes: Uint8Array): Promise<string> {
  const head = new TextEncoder().encode(`blob ${bytes.byteLength}\0`);
  const all = new Uint8Array(head.byteLength + bytes.byteLength);
  all.set(head);
  all.set(bytes, head.byteLength);
  return hexDigest('SHA-1', all);
}

/** Checks size and hashes; returns a message naming the mismatch, or null. */
export async function verify(bytes: Uint8Array, expected: ExpectedFile | undefined, label: string): Promise<string | null> {
  if (!expected) return null;
  if (expected.size !== undefined && bytes.byteLength !== expected.size) {
    return `${label}: got ${bytes.byteLength} bytes, the Hub says ${expected.size}`;
  }
  if (expected.sha256) {
    const got = await hexDigest('SHA-256', bytes);
    if (got !== expected.sha256.toLowerCase()) return `${label}: sha256 ${got} does not match the Hub's ${expected.sha256}`;
  } else if (expected.gitSha1) {
    const got = await gitBlobSha1(bytes);
    if (got !== expected.gitSha1.toLowerCase()) return `${label}: git sha1 ${got} does not match the Hub's ${expected.gitSha1}`;
  }
  return null;
}

interface PartialState {
  offset: number;
  chunks: string[];
}

async function readPartial(store: Store, key: string, expected: ExpectedFile | undefined): Promise<PartialState> {
  const prefix = partialPrefix(key);
  const entries = await store.entries(prefix);
  if (entries.length === 0) return { offset: 0, chunks: [] };
  const infoBytes = await store.get(prefix + INFO);
  const info = infoBytes ? (JSON.parse(new TextDecoder().decode(infoBytes)) as ExpectedFile) : null;
  const same = info && info.size === expected?.size && info.sha256 === expected?.sha256 && info.gitSha1 === expected?.gitSha1;
  if (!same) {
    await store.delPrefix(prefix);
    return { offset: 0, chunks: [] };
  }
  let offset = 0;
  const chunks: string[] = [];
  for (const e of entries) {
    const name = e.key.slice(prefix.length);
    if (name === INFO) continue;
    if (Number(name) !== offset) break; // a gap: keep only the contiguous run
    chunks.push(e.key);
    offset += e.size;
  }
  return { offset, chunks };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function downloadToStore(opts: DownloadOptions): Promise<DownloadResult> {
  const { store, key, url, expected } = opts;
  const label = opts.label ?? key;
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const chunkBytes = opts.chunkBytes ?? 8 * 1024 * 1024;
  const retries = opts.retries ?? 3;
  const ownMeter = !opts.meter;
  const meter = opts.meter ?? new ProgressMeter(opts.onProgress, 1, expected?.size ?? null);
  const origin = new URL(url).origin;

  const cached = await readChecked(store, key, expected, label);
  if (cached.kind === 'ok') {
    meter.fileDone(cached.bytes.byteLength);
    if (ownMeter) meter.finish();
    return { bytes: cached.bytes, fetched: 0, resumedFrom: 0, fromCache: true, requests: 0 };
  }
  if (cached.kind === 'mismatch') {
    meter.note(`The stored copy of ${cached.message}; it was deleted and is downloaded again.`);
  }

  const prefix = partialPrefix(key);
  let { offset, chunks } = await readPartial(store, key, expected);
  if (offset === 0) await store.set(prefix + INFO, new TextEncoder().encode(JSON.stringify(expected ?? {})));
  const resumedFrom = offset;
  let total: number | null = expected?.size ?? null;
  let fetched = 0;
  let requests = 0;
  meter.startFile(label, total, offset);

  let buf: Uint8Array[] = [];
  let bufLen = 0;
  const flush = async () => {
    if (bufLen === 0) return;
    const chunk = new Uint8Array(bufLen);
    let o = 0;
    for (const b of buf) {
      chunk.set(b, o);
      o += b.byteLength;
    }
    const k = prefix + pad(offset);
    await store.set(k, chunk);
    chunks.push(k);
    offset += bufLen;
    buf = [];
    bufLen = 0;
  };

  for (let attempt = 0; ; attempt++) {
    if (total !== null && offset >= total) break;
    opts.signal?.throwIfAborted();
    let res: Response;
    try {
      requests++;
      res = await doFetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal: opts.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      if (attempt < retries) {
        await sleep((opts.retryDelayMs ?? 500) * 2 ** attempt);
        continue;
      }
      throw networkError(origin, e);
    }
    if (res.status === 416 && total !== null && offset === total) break;
    if (!res.ok) {
      if ((res.status >= 500 || res.status === 429 || res.status === 408) && attempt < retries) {
        await sleep((opts.retryDelayMs ?? 500) * 2 ** attempt);
        continue;
      }
      throw new HubError('Http', `${label}: ${origin} answered ${res.status} ${res.statusText}`, res.status);
    }
    if (res.status === 200 && offset > 0) {
      // The server ignored the Range header: start over.
      await store.delPrefix(prefix);
      await store.set(prefix + INFO, new TextEncoder().encode(JSON.stringify(expected ?? {})));
      meter.rewind(offset);
      offset = 0;
      chunks = [];
    }
    if (res.status === 206) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== offset) throw new HubError('Http', `${label}: the server answered a different range (${res.headers.get('content-range')}) than asked (bytes=${offset}-)`);
      if (total === null && m[2] !== '*') total = Number(m[2]);
    } else if (total === null) {
      const len = res.headers.get('content-length');
      if (len !== null) total = Number(len);
    }
    if (meter.state.fileTotal === null && total !== null) {
      meter.state.fileTotal = total;
      if (meter.state.total === null && meter.state.filesTotal === 1) meter.state.total = total;
    }
    if (!res.body) throw new HubError('Http', `${label}: empty response body`);
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (expected?.size !== undefined && offset + bufLen + value.byteLength > expected.size) {
          // More bytes than the listing said: stop before storing them (a size bounds what a Hub can make us keep).
          buf = [];
          bufLen = 0;
          await store.delPrefix(prefix);
          throw new HubError('Integrity', `${label}: the server sent more than the ${expected.size} bytes the Hub lists; the download was discarded.`);
        }
        buf.push(value);
        bufLen += value.byteLength;
        fetched += value.byteLength;
        meter.bytes(value.byteLength);
        if (bufLen >= chunkBytes) await flush();
      }
      await flush();
      if (total === null) total = offset;
      if (offset >= total) break;
      // The body ended early without an error: treat like a cut connection.
      if (attempt >= retries) throw new Error('connection closed early');
    } catch (e) {
      await flush(); // keep what arrived so the next try resumes from it
      if (opts.signal?.aborted) throw e;
      if (e instanceof HubError && e.code !== 'Network') throw e;
      if (attempt >= retries) {
        throw new HubError(
          'Network',
          `${label}: the download stopped at ${offset} of ${total ?? '?'} bytes (${e instanceof Error ? e.message : String(e)}). ` +
            `The ${offset} bytes are kept; trying again resumes from there.`,
          null,
          e,
        );
      }
      await sleep((opts.retryDelayMs ?? 500) * 2 ** attempt);
    }
  }

  meter.phase('verify', label);
  const bytes = new Uint8Array(offset);
  let o = 0;
  for (const k of chunks) {
    const c = await store.get(k);
    if (!c) throw new HubError('Integrity', `${label}: a downloaded chunk (${k}) vanished from storage; download again`);
    bytes.set(c, o);
    o += c.byteLength;
  }
  const bad = o !== offset ? `${label}: assembled ${o} bytes, expected ${offset}` : await verify(bytes, expected, label);
  if (bad) {
    await store.delPrefix(prefix);
    throw new HubError('Integrity', `${bad}. The partial download was discarded; try again.`);
  }
  await store.set(key, bytes);
  markChecked(store, key, expected);
  await store.delPrefix(prefix);
  meter.fileDone(0);
  if (ownMeter) meter.finish();
  return { bytes, fetched, resumedFrom, fromCache: false, requests };
}

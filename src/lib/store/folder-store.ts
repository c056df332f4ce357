// The Node (CLI) store: one file per entry under a cache folder, default `$TABTUNE_CACHE` or
// `~/.cache/tabtune`. Key segments become folders (each segment URI-encoded); an entry is its
// commit record `<last segment>.v.commit` (JSON {size, time, file}) and the value file the record
// names, `<last segment>.v.<gen>` (gen unique per write; records written before generations name
// none and mean `<last segment>.v`). Commit rule (store.ts): a write puts its bytes in a new
// value file, then renames a temp record over the old one (atomic on POSIX: the one commit
// step), and only then deletes the value file the old record named; so a reader sees the old
// value or the new one, and an interrupted write leaves the old one whole. Entries without a
// commit record, or whose value's size differs from it, are invisible; value and temp files no
// record names are counted by unreferenced() and deleted by sweep(). Not for the browser: it
// imports node:fs.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { StoreQuotaError, storeSummary, partsOf, sizeOfValue, type Store, type StoreValue, type StoreEntry, type StoreEstimate, type Unreferenced } from './store.ts';

export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env.TABTUNE_CACHE || join(homedir(), '.cache', 'tabtune');
}

export interface FolderStoreOptions {
  /** A size limit for the whole cache; a write past it fails like a full disk. */
  maxBytes?: number;
  /**
   * sweep() deletes only files older than this (default an hour): another process may be writing
   * into the same cache, and a write in progress is younger.
   */
  sweepAfterMs?: number;
}

const VALUE = '.v';
const COMMIT = '.v.commit';
/** A value file of one write (`<segment>.v.g<time>-<random>`), or a temp file (`….tmp-<pid>-<random>`). */
const GEN_FILE = /\.v\.g[0-9a-z]+-[0-9a-f]{8}$/;
const TEMP_FILE = /\.tmp-\d+-[0-9a-f]{8}$/;

interface CommitRecord {
  size: number;
  time: number;
  /** The value file's name, beside the record; absent in records written before generations (then `<segment>.v`). */
  file?: string;
}

const commitPathOf = (valuePath: string) => valuePath.slice(0, -VALUE.length) + COMMIT;

function pathOf(root: string, key: string): string {
  const segs = key.split('/');
  if (segs.some((s) => s === '')) throw new Error(`invalid store key "${key}" (empty segment)`);
  return join(root, ...segs.map((s) => encodeURIComponent(s).replace(/^\.+/, (d) => '%2E'.repeat(d.length)))) + VALUE;
}

function keyOf(root: string, valuePath: string): string {
  const rel = valuePath.slice(root.length + 1, -VALUE.length);
  return rel.split(/[\\/]/).map(decodeURIComponent).join('/');
}

/** `usage` plus what the disk under `root` still has, as a quota; null when it cannot be read. */
export async function diskEstimate(root: string, usage: number): Promise<StoreEstimate> {
  try {
    const fs = await statfs(root);
    return { usage, quota: usage + fs.bavail * fs.bsize };
  } catch {
    return { usage, quota: null };
  }
}

export const isDiskFull = (e: unknown) => {
  const code = (e as { code?: string }).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};

export class FolderStore implements Store {
  readonly root: string;
  readonly description: string;
  readonly #maxBytes: number | null;
  readonly #sweepAfterMs: number;

  constructor(root = defaultCacheDir(), options: FolderStoreOptions = {}) {
    this.root = root;
    this.#maxBytes = options.maxBytes ?? null;
    this.#sweepAfterMs = options.sweepAfterMs ?? 3_600_000;
    this.description = `folder ${root}`;
  }

  /** The committed record of the entry whose legacy value path is `path`, and the file it names; null unless that file has the recorded size. */
  async #commitOf(path: string): Promise<(CommitRecord & { valuePath: string }) | null> {
    try {
      const rec = JSON.parse(await readFile(commitPathOf(path), 'utf8')) as CommitRecord;
      const file = rec.file;
      if (file !== undefined && !(typeof file === 'string' && file.startsWith(basename(path)) && GEN_FILE.test(file))) return null;
      const valuePath = file === undefined ? path : join(dirname(path), file);
      const st = await stat(valuePath);
      return st.size === rec.size ? { ...rec, valuePath } : null;
    } catch {
      return null;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const rec = await this.#commitOf(pathOf(this.root, key));
    if (!rec) return undefined;
    const buf = await readFile(rec.valuePath).catch(() => null);
    if (!buf || buf.byteLength !== rec.size) return undefined;
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  async set(key: string, value: StoreValue): Promise<void> {
    const bytes = sizeOfValue(value);
    const path = pathOf(this.root, key);
    const old = await this.#commitOf(path);
    if (this.#maxBytes !== null) {
      const usage = (await this.estimate()).usage;
      if (usage - (old?.size ?? 0) + bytes > this.#maxBytes) {
        throw new StoreQuotaError(key, bytes, await storeSummary(this), this.description);
      }
    }
    const rand = randomBytes(4).toString('hex');
    const valuePath = `${path}.g${Date.now().toString(36)}-${rand}`;
    const commitPath = commitPathOf(path);
    const commitTemp = `${commitPath}.tmp-${process.pid}-${rand}`;
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(valuePath, partsOf(value)); // part by part
      await writeFile(commitTemp, JSON.stringify({ size: bytes, time: Date.now(), file: basename(valuePath) } satisfies CommitRecord));
      await rename(commitTemp, commitPath);
    } catch (e) {
      await rm(valuePath, { force: true });
      await rm(commitTemp, { force: true });
      if (isDiskFull(e)) throw new StoreQuotaError(key, bytes, await storeSummary(this), this.description, e);
      throw e;
    }
    // Committed: the replaced value's file is no entry's now (a failure here leaves it to sweep()).
    if (old) await rm(old.valuePath, { force: true }).catch(() => undefined);
  }

  async del(key: string): Promise<void> {
    const path = pathOf(this.root, key);
    const rec = await this.#commitOf(path);
    await rm(commitPathOf(path), { force: true });
    await rm(rec?.valuePath ?? path, { force: true });
  }

  async delPrefix(prefix: string): Promise<number> {
    const keys = await this.keys(prefix);
    for (const k of keys) await this.del(k);
    return keys.length;
  }

  async #walk(dir: string, out: string[]): Promise<void> {
    const list = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of list) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await this.#walk(p, out);
      else out.push(p);
    }
  }

  async entries(prefix = ''): Promise<StoreEntry[]> {
    const files: string[] = [];
    await this.#walk(this.root, files);
    const out: StoreEntry[] = [];
    for (const f of files) {
      if (!f.endsWith(COMMIT)) continue;
      const valuePath = f.slice(0, -COMMIT.length) + VALUE;
      const key = keyOf(this.root, valuePath);
      if (!key.startsWith(prefix)) continue;
      const rec = await this.#commitOf(valuePath);
      if (rec) out.push({ key, size: rec.size, time: rec.time });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Value and temp files that no commit record names, with their sizes and ages. */
  async #unreferenced(): Promise<{ path: string; size: number; mtimeMs: number }[]> {
    const files: string[] = [];
    await this.#walk(this.root, files);
    const named = new Set<string>();
    for (const f of files) {
      if (!f.endsWith(COMMIT)) continue;
      const rec = await this.#commitOf(f.slice(0, -COMMIT.length) + VALUE);
      if (rec) named.add(rec.valuePath);
    }
    const out = [];
    for (const f of files) {
      if (named.has(f) || !(f.endsWith(VALUE) || GEN_FILE.test(f) || TEMP_FILE.test(f))) continue;
      const st = await stat(f).catch(() => null);
      if (st) out.push({ path: f, size: st.size, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  async unreferenced(): Promise<Unreferenced> {
    const u = await this.#unreferenced();
    return { entries: u.length, size: u.reduce((n, f) => n + f.size, 0) };
  }

  async sweep(): Promise<Unreferenced> {
    const before = Date.now() - this.#sweepAfterMs;
    const old = (await this.#unreferenced()).filter((f) => f.mtimeMs <= before);
    for (const f of old) await rm(f.path, { force: true });
    return { entries: old.length, size: old.reduce((n, f) => n + f.size, 0) };
  }

  async keys(prefix = ''): Promise<string[]> {
    return (await this.entries(prefix)).map((e) => e.key);
  }

  async estimate(): Promise<StoreEstimate> {
    const usage = (await this.entries()).reduce((s, e) => s + e.size, 0);
    if (this.#maxBytes !== null) return { usage, quota: this.#maxBytes };
    await mkdir(this.root, { recursive: true }).catch(() => undefined);
    return diskEstimate(this.root, usage);
  }

  async persist(): Promise<boolean> {
    return true;
  }
}

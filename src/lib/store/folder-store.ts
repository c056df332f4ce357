// The Node (CLI) store: one file per entry under a cache folder, default `$TABTUNE_CACHE` or
// `~/.cache/tabtune`. Key segments become folders (each segment URI-encoded), the value is
// `<last segment>.v`, and its commit record `<last segment>.v.commit` (JSON {size, time}) is
// written last: the value goes to a temp file that is renamed into place (atomic on POSIX), then
// the commit record the same way. Entries without a commit record, or whose value's size differs
// from it, are invisible. Not for the browser: it imports node:fs.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { StoreQuotaError, storeSummary, partsOf, sizeOfValue, type Store, type StoreValue, type StoreEntry, type StoreEstimate } from './store.ts';

export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env.TABTUNE_CACHE || join(homedir(), '.cache', 'tabtune');
}

export interface FolderStoreOptions {
  /** A size limit for the whole cache; a write past it fails like a full disk. */
  maxBytes?: number;
}

const VALUE = '.v';
const COMMIT = '.v.commit';

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

  constructor(root = defaultCacheDir(), options: FolderStoreOptions = {}) {
    this.root = root;
    this.#maxBytes = options.maxBytes ?? null;
    this.description = `folder ${root}`;
  }

  async #commitOf(path: string): Promise<{ size: number; time: number } | null> {
    try {
      const rec = JSON.parse(await readFile(path.slice(0, -VALUE.length) + COMMIT, 'utf8'));
      const st = await stat(path);
      return st.size === rec.size ? rec : null;
    } catch {
      return null;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const path = pathOf(this.root, key);
    const rec = await this.#commitOf(path);
    if (!rec) return undefined;
    const buf = await readFile(path).catch(() => null);
    if (!buf || buf.byteLength !== rec.size) return undefined;
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  async set(key: string, value: StoreValue): Promise<void> {
    const bytes = sizeOfValue(value);
    const path = pathOf(this.root, key);
    if (this.#maxBytes !== null) {
      const old = (await this.#commitOf(path))?.size ?? 0;
      const usage = (await this.estimate()).usage;
      if (usage - old + bytes > this.#maxBytes) {
        throw new StoreQuotaError(key, bytes, await storeSummary(this), this.description);
      }
    }
    const tag = `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const commitPath = path.slice(0, -VALUE.length) + COMMIT;
    try {
      await mkdir(dirname(path), { recursive: true });
      // Uncommit first, so a reader never pairs the old record with the new bytes.
      await rm(commitPath, { force: true });
      await writeFile(path + tag, partsOf(value)); // part by part
      await rename(path + tag, path);
      await writeFile(commitPath + tag, JSON.stringify({ size: bytes, time: Date.now() }));
      await rename(commitPath + tag, commitPath);
    } catch (e) {
      await rm(path + tag, { force: true });
      await rm(commitPath + tag, { force: true });
      if (isDiskFull(e)) throw new StoreQuotaError(key, bytes, await storeSummary(this), this.description, e);
      throw e;
    }
  }

  async del(key: string): Promise<void> {
    const path = pathOf(this.root, key);
    await rm(path.slice(0, -VALUE.length) + COMMIT, { force: true });
    await rm(path, { force: true });
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
      else if (e.name.endsWith(VALUE)) out.push(p);
    }
  }

  async entries(prefix = ''): Promise<StoreEntry[]> {
    const files: string[] = [];
    await this.#walk(this.root, files);
    const out: StoreEntry[] = [];
    for (const f of files) {
      const key = keyOf(this.root, f);
      if (!key.startsWith(prefix)) continue;
      const rec = await this.#commitOf(f);
      if (rec) out.push({ key, size: rec.size, time: rec.time });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
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

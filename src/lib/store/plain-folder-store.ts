// A Store whose keys are file paths under a folder, byte for byte: `model.safetensors`,
// `1_Pooling/config.json`, `checkpoints/checkpoint-4.safetensors`. The CLI's run output goes
// through it, so the output folder is an ordinary sentence-transformers folder that any tool
// reads. Commit rule (store.ts): a value is written to a temp file and renamed into place (atomic
// on POSIX), so a reader sees the old file or the new one, never half of one.
// Not the download cache (folder-store.ts keeps commit records and encodes keys), not for the browser.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { diskEstimate, isDiskFull } from './folder-store.ts';
import { StoreQuotaError, storeSummary, partsOf, sizeOfValue, type Store, type StoreValue, type StoreEntry, type StoreEstimate } from './store.ts';

const TEMP = /\.tmp-\d+-[0-9a-f]{8}$/;

export class PlainFolderStore implements Store {
  readonly root: string;
  readonly description: string;

  constructor(root: string) {
    this.root = root;
    this.description = `folder ${root}`;
  }

  #path(key: string): string {
    const segs = key.split('/');
    if (segs.some((s) => s === '' || s === '.' || s === '..')) throw new Error(`invalid key "${key}" for a folder (empty, . or .. segment)`);
    return join(this.root, ...segs);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const buf = await readFile(this.#path(key)).catch(() => null);
    return buf ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : undefined;
  }

  async set(key: string, value: StoreValue): Promise<void> {
    const bytes = sizeOfValue(value);
    const path = this.#path(key);
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(temp, partsOf(value)); // part by part
      await rename(temp, path);
    } catch (e) {
      await rm(temp, { force: true });
      if (isDiskFull(e)) throw new StoreQuotaError(key, bytes, await storeSummary(this), this.description, e);
      throw e;
    }
  }

  async del(key: string): Promise<void> {
    const path = this.#path(key);
    await rm(path, { force: true });
    // Folders the key needed go when they are empty (a finished run leaves no `checkpoints/`).
    for (let dir = dirname(path); dir.startsWith(this.root + sep); dir = dirname(dir)) {
      if (!(await rmdir(dir).then(() => true, () => false))) break;
    }
  }

  async delPrefix(prefix: string): Promise<number> {
    const keys = await this.keys(prefix);
    for (const k of keys) await this.del(k);
    return keys.length;
  }

  async #walk(dir: string, out: string[]): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await this.#walk(p, out);
      else if (e.isFile() && !TEMP.test(e.name)) out.push(p);
    }
  }

  async entries(prefix = ''): Promise<StoreEntry[]> {
    const files: string[] = [];
    await this.#walk(this.root, files);
    const out: StoreEntry[] = [];
    for (const f of files) {
      const key = relative(this.root, f).split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const st = await stat(f).catch(() => null);
      if (st) out.push({ key, size: st.size, time: st.mtimeMs });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async keys(prefix = ''): Promise<string[]> {
    return (await this.entries(prefix)).map((e) => e.key);
  }

  async estimate(): Promise<StoreEstimate> {
    return diskEstimate(this.root, (await this.entries()).reduce((s, e) => s + e.size, 0));
  }

  async persist(): Promise<boolean> {
    return true;
  }
}

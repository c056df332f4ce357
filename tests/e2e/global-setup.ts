// Vitest global setup for the browser project: builds the page into dist/ once per run, and
// only when a source file is newer than the last build. It starts no browser and no server.

import { spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_DIR, REPO_ROOT } from './browser.ts';

const INPUTS = ['index.html', 'vite.config.ts', 'package.json', 'src', 'workers', 'public', 'scripts'];

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path)) {
    if (entry === 'node_modules' || entry.endsWith('.test.ts')) continue;
    newest = Math.max(newest, await newestMtime(join(path, entry)));
  }
  return newest;
}

export default async function setup(): Promise<void> {
  const built = (await stat(join(DIST_DIR, 'index.html')).catch(() => null))?.mtimeMs ?? 0;
  const sources = Math.max(...(await Promise.all(INPUTS.map((p) => newestMtime(join(REPO_ROOT, p))))));
  if (built > sources) return;
  const vite = join(REPO_ROOT, 'node_modules/vite/bin/vite.js');
  // NODE_ENV as `npm run build` has it: vitest sets "test", which would make a development build
  // (import.meta.env.DEV true: no service worker, Svelte's dev checks).
  const env = { ...process.env, NODE_ENV: 'production' };
  const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit', env });
  if (result.status !== 0) throw new Error(`vite build failed (exit ${result.status})`);
}

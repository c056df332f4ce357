// Vite plugin that writes dist/sw.js after a build: workers/service-worker.js with the build's file
// list (everything in the output folder, so the app shell, both workers and onnxruntime's .wasm)
// and a version (a hash of those files' contents) put in place of its markers. A changed build
// gives a changed sw.js, which is how browsers notice a new deployment.

import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

export const SERVICE_WORKER_FILE = 'sw.js';
const TEMPLATE = resolve(import.meta.dirname, '../workers/service-worker.js');

/** Every file under dir, as paths relative to it with / */
async function listFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path, root)));
    else if (entry.isFile()) out.push(relative(root, path).split(sep).join('/'));
  }
  return out.sort();
}

/** The service worker for the build in `outDir`: its text and the version and files it caches. */
export async function serviceWorkerFor(outDir: string): Promise<{ text: string; version: string; files: string[] }> {
  const files = (await listFiles(outDir)).filter((f) => f !== SERVICE_WORKER_FILE && !f.endsWith('.map'));
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update('\0').update(await readFile(join(outDir, f)));
  const version = hash.digest('hex').slice(0, 16);
  const template = await readFile(TEMPLATE, 'utf8');
  const text = template.replace("'__TABTUNE_VERSION__'", JSON.stringify(version)).replace("['__TABTUNE_PRECACHE__']", JSON.stringify(files));
  if (text.includes('__TABTUNE_')) throw new Error(`${TEMPLATE}: a marker was not replaced`);
  return { text, version, files };
}

export function serviceWorkerPlugin(): Plugin {
  let outDir = 'dist';
  return {
    name: 'tabtune-service-worker',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    // After every file (public/ included) is written, so the list is the whole build.
    async closeBundle() {
      const { text } = await serviceWorkerFor(outDir);
      await writeFile(join(outDir, SERVICE_WORKER_FILE), text);
    },
  };
}

// Vite plugin that writes dist/sw.js after a build: workers/service-worker.js with the build's file
// list (everything in the output folder, so the app shell, both workers and onnxruntime's .wasm),
// a version (a hash of those files' contents), the build's VITE_HUB_URL and the Hub rule and CSP
// builder of src/lib/hub-policy.js put in place of its markers. A changed build gives a changed
// sw.js, which is how browsers notice a new deployment.

import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

export const SERVICE_WORKER_FILE = 'sw.js';
const TEMPLATE = resolve(import.meta.dirname, '../workers/service-worker.js');
const HUB_POLICY = resolve(import.meta.dirname, '../src/lib/hub-policy.js');

/** hub-policy.js as plain declarations for a classic script: it imports nothing, so only its `export`s go. */
async function inlineHubPolicy(): Promise<string> {
  const text = await readFile(HUB_POLICY, 'utf8');
  if (/^\s*import\b/m.test(text)) throw new Error(`${HUB_POLICY} must import nothing: the service worker inlines it`);
  return text.replace(/^export /gm, '');
}

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

/**
 * The service worker for the build in `outDir`: its text and the version and files it caches.
 * `hubUrl` is the build's VITE_HUB_URL, which its CSP lets the page connect to.
 */
export async function serviceWorkerFor(outDir: string, hubUrl?: string): Promise<{ text: string; version: string; files: string[] }> {
  const files = (await listFiles(outDir)).filter((f) => f !== SERVICE_WORKER_FILE && !f.endsWith('.map'));
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update('\0').update(await readFile(join(outDir, f)));
  const version = hash.digest('hex').slice(0, 16);
  const template = await readFile(TEMPLATE, 'utf8');
  const policy = await inlineHubPolicy();
  const text = template
    .replace("'__TABTUNE_VERSION__'", JSON.stringify(version))
    .replace("['__TABTUNE_PRECACHE__']", JSON.stringify(files))
    .replace("'__TABTUNE_HUB_URL__'", JSON.stringify(hubUrl || null))
    .replace(/\/\* __TABTUNE_HUB_POLICY__ [^*]*\*\//, () => policy);
  if (text.includes('__TABTUNE_')) throw new Error(`${TEMPLATE}: a marker was not replaced`);
  return { text, version, files };
}

export function serviceWorkerPlugin(): Plugin {
  let outDir = 'dist';
  let hubUrl: string | undefined;
  return {
    name: 'tabtune-service-worker',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
      hubUrl = config.env.VITE_HUB_URL;
    },
    // After every file (public/ included) is written, so the list is the whole build.
    async closeBundle() {
      const { text } = await serviceWorkerFor(outDir, hubUrl);
      await writeFile(join(outDir, SERVICE_WORKER_FILE), text);
    },
  };
}

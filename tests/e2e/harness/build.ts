// Builds the engine test page (index.html + harness.ts, which imports the app's createRuntime)
// into a temp folder with Vite's build() API, so browser tests run engine code without touching
// the app's dist/. Returns the folder; serve it with scripts/serve.js (COOP/COEP on).

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type InlineConfig } from 'vite';

export const HARNESS_DIR = resolve(import.meta.dirname);

export async function buildHarness(extra: Partial<InlineConfig> = {}): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'tabtune-harness-'));
  await build({
    configFile: false,
    root: HARNESS_DIR,
    base: './',
    logLevel: 'warn',
    worker: { format: 'es' },
    build: { outDir, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false },
    ...extra,
  });
  return outDir;
}

// Node-only ModelFileSource: a model folder on disk (the layout of a Hub repo: config.json,
// tokenizer files, onnx/model*.onnx). Files are read on demand, so only the chosen ONNX variant
// is read. Not for the browser (node:fs); the Hub and in-memory sources are in model-source.ts.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { ModelFileSource } from './generator.ts';

function walk(dir: string, root: string, out: string[], depth: number): void {
  if (depth > 4) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, root, out, depth + 1);
    else if (e.isFile()) out.push(relative(root, p).split(sep).join('/'));
  }
}

export function folderFileSource(dir: string, label = dir): ModelFileSource {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${label}: no such folder`);
  const paths: string[] = [];
  walk(dir, dir, paths, 0);
  const have = new Set(paths);
  return {
    label,
    list: async () => [...paths],
    read: async (path) => (have.has(path) ? new Uint8Array(readFileSync(join(dir, ...path.split('/')))) : null),
  };
}

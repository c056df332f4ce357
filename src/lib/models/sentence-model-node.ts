// Node helper: reads a sentence-transformers model folder into the file map that
// loadSentenceModel takes: the files the loader reads (the weights as model.safetensors or the
// index and its shards) and the tokenizer and sentence-transformers files the Hub download also
// keeps, so a fine-tuned copy carries them over; the browser builds the same map from IndexedDB.
// Not the loader itself (sentence-model.ts).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { allModelFileNames } from './architectures.ts';
import { loadSentenceModel, type ModelFiles, type SentenceModel, WEIGHTS_FILE, WEIGHTS_INDEX } from './sentence-model.ts';

/** The fixed names (architectures.ts MODEL_FILES and every family's extras); shards and module files are added from the index and modules.json. */
const FIXED = allModelFileNames().filter((f) => f !== WEIGHTS_INDEX);

export function readModelFolder(dir: string): Map<string, Uint8Array> {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir}: no such folder`);
  const files = new Map<string, Uint8Array>();
  const add = (rel: string) => {
    const path = join(dir, rel);
    if (existsSync(path) && statSync(path).isFile()) files.set(rel, new Uint8Array(readFileSync(path)));
  };
  for (const f of FIXED) add(f);
  if (!files.has(WEIGHTS_FILE)) {
    add(WEIGHTS_INDEX);
    const index = files.get(WEIGHTS_INDEX);
    if (index) {
      try {
        const shards = new Set(Object.values((JSON.parse(new TextDecoder().decode(index)) as { weight_map?: Record<string, string> }).weight_map ?? {}));
        for (const s of shards) if (typeof s === 'string' && !s.includes('..')) add(s);
      } catch {
        // loadSentenceModel reports the bad JSON.
      }
    } else if (existsSync(join(dir, 'pytorch_model.bin'))) files.set('pytorch_model.bin', new Uint8Array(0));
  }
  const modules = files.get('modules.json');
  if (modules) {
    try {
      for (const m of JSON.parse(new TextDecoder().decode(modules)) as { path?: string }[]) if (m.path) add(`${m.path}/config.json`);
    } catch {
      // loadSentenceModel reports the bad JSON.
    }
  }
  return files;
}

export function loadSentenceModelFromDir(dir: string): SentenceModel {
  return loadSentenceModel(readModelFolder(dir) as ModelFiles);
}

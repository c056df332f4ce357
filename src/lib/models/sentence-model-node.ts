// Node helper: reads a sentence-transformers model folder into the file map that
// loadSentenceModel takes. Only the files the loader reads; the browser builds the same map from
// IndexedDB. Not the loader itself (sentence-model.ts).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadSentenceModel, type ModelFiles, type SentenceModel } from './sentence-model.ts';

const FIXED = ['config.json', 'model.safetensors', 'pytorch_model.bin', 'modules.json', 'sentence_bert_config.json'];

export function readModelFolder(dir: string): Map<string, Uint8Array> {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir}: no such folder`);
  const files = new Map<string, Uint8Array>();
  const add = (rel: string) => {
    const path = join(dir, rel);
    if (existsSync(path) && statSync(path).isFile()) files.set(rel, new Uint8Array(readFileSync(path)));
  };
  for (const f of FIXED) if (f !== 'pytorch_model.bin') add(f);
  if (!files.has('model.safetensors') && existsSync(join(dir, 'pytorch_model.bin'))) files.set('pytorch_model.bin', new Uint8Array(0));
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

// Node-only: reads a model folder's tokenizer files and hands them to loadTokenizer.
// Kept apart from tokenizer.ts so that the core stays free of the filesystem (the browser gets
// the same JSON objects from IndexedDB).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, tokenizerFilesFromMap, TOKENIZER_JSON_FILES, type TextTokenizer, type TokenizerFiles } from './tokenizer.ts';

/** The tokenizer files of a Hugging Face / sentence-transformers model folder, parsed. */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  const files = new Map<string, Uint8Array>();
  for (const name of TOKENIZER_JSON_FILES) {
    const path = join(dir, name);
    if (existsSync(path)) files.set(name, new Uint8Array(readFileSync(path)));
  }
  return tokenizerFilesFromMap(files, dir);
}

export function loadTokenizerFromDir(dir: string): TextTokenizer {
  return loadTokenizer(readTokenizerFiles(dir));
}

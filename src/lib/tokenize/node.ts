// Node-only: reads a model folder's tokenizer files and hands them to loadTokenizer.
// Kept apart from tokenizer.ts so that the core stays free of the filesystem (the browser gets
// the same JSON objects from IndexedDB).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, type TextTokenizer, type TokenizerFiles } from './tokenizer.ts';

const OPTIONAL = ['tokenizer_config.json', 'sentence_bert_config.json', 'special_tokens_map.json', 'config.json'] as const;

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The tokenizer files of a Hugging Face / sentence-transformers model folder, parsed. */
export function readTokenizerFiles(dir: string): TokenizerFiles {
  const main = join(dir, 'tokenizer.json');
  if (!existsSync(main)) throw new Error(`${main} not found: the model folder needs a tokenizer.json (fast tokenizer)`);
  const files: TokenizerFiles = { 'tokenizer.json': readJson(main) };
  for (const name of OPTIONAL) {
    const path = join(dir, name);
    if (existsSync(path)) files[name] = readJson(path);
  }
  return files;
}

export function loadTokenizerFromDir(dir: string): TextTokenizer {
  return loadTokenizer(readTokenizerFiles(dir));
}

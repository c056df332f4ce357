// The tokenizer against ids worked out by hand from the fixture's vocab.txt (id = line − 1):
// [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, "!" 5, "," 7, "." 9, hello 83, in 89, kel 97, nest 114,
// play 127, reed 133, the 159, world 182, ##dor 187, ##ing 191, ##s 195.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { readTokenizerFiles } from './node.ts';
import { loadTokenizer, pythonStrip, type TextTokenizer, type TokenizedBatch, type TokenizerFiles } from './tokenizer.ts';

const S1 = 'The KELDOR nests in reeds, playing zyzzyva!';
// [CLS] the kel ##dor nest ##s in reed ##s , play ##ing [UNK] ! [SEP]
const S1_IDS = [2, 159, 97, 187, 114, 195, 89, 133, 195, 7, 127, 191, 1, 5, 3];
const S2 = 'Hello world.';
const S2_IDS = [2, 83, 182, 9, 3];

let files: TokenizerFiles;
let tok: TextTokenizer;

beforeAll(() => {
  files = readTokenizerFiles(ensureFixtures().tinyBge);
  tok = loadTokenizer(files);
});

/** Rows of a batch without padding, using the attention mask. */
function rows(b: TokenizedBatch): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < b.batch; i++) {
    const row: number[] = [];
    for (let t = 0; t < b.tokens; t++) if (b.attentionMask[i * b.tokens + t] === 1) row.push(Number(b.inputIds[i * b.tokens + t]));
    out.push(row);
  }
  return out;
}

describe('loadTokenizer on the tiny BGE fixture', () => {
  it('reads max_seq_length, do_lower_case and the pad id', () => {
    expect(tok.maxLength).toBe(64);
    expect(tok.doLowerCase).toBe(true);
    expect(tok.padId).toBe(0);
    expect(tok.vocabSize).toBe(196);
  });

  it('gives the hand-computed ids, padded to the longest text with [PAD] and a 0 mask', () => {
    const b = tok.encodeBatch([S1, S2]);
    expect([b.batch, b.tokens, b.truncated]).toEqual([2, 15, 0]);
    const pad = Array(S1_IDS.length - S2_IDS.length).fill(0);
    expect(Array.from(b.inputIds, Number)).toEqual([...S1_IDS, ...S2_IDS, ...pad]);
    expect(Array.from(b.attentionMask)).toEqual([...S1_IDS.map(() => 1), ...S2_IDS.map(() => 1), ...pad]);
    expect(Array.from(b.tokenTypeIds!, Number)).toEqual(Array(30).fill(0));
    expect(Array.from(b.lengths)).toEqual([15, 5]);
    expect(b.inputIds).toBeInstanceOf(BigInt64Array);
    expect(b.attentionMask).toBeInstanceOf(Float32Array);
  });

  it('pads only to the longest text of the batch, not to maxLength', () => {
    const b = tok.encodeBatch([S2, 'hello']);
    expect(b.tokens).toBe(5);
    expect(Array.from(b.inputIds, Number)).toEqual([...S2_IDS, 2, 83, 3, 0, 0]);
  });

  it('encodes the empty string (and whitespace only) as [CLS] [SEP]', () => {
    const b = tok.encodeBatch(['', ' \t\n']);
    expect(Array.from(b.inputIds, Number)).toEqual([2, 3, 2, 3]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1]);
  });

  it('truncates the words and keeps [CLS] … [SEP], counting the texts it cut', () => {
    const b = tok.encodeBatch([S1, S2, S1], { maxLength: 6 });
    expect(b.tokens).toBe(6);
    expect(b.truncated).toBe(2);
    expect(rows(b)).toEqual([[2, 159, 97, 187, 114, 3], S2_IDS, [2, 159, 97, 187, 114, 3]]);
    // exactly at the limit is not truncated
    expect(tok.encodeBatch([S2], { maxLength: 5 }).truncated).toBe(0);
    expect(tok.encodeBatch([S2], { maxLength: 4 }).truncated).toBe(1);
  });

  it('truncates to max_seq_length (64) by default', () => {
    const b = tok.encodeBatch([Array(100).fill('hello').join(' '), 'hello']);
    expect(b.tokens).toBe(64);
    expect(b.truncated).toBe(1);
    expect(rows(b)).toEqual([[2, ...Array(62).fill(83), 3], [2, 83, 3]]);
  });

  it('rejects a maxLength with no room for text', () => {
    expect(() => tok.encodeBatch([S2], { maxLength: 2 })).toThrow(/no room/);
    expect(() => tok.encodeBatch([])).toThrow(/no texts/);
  });

  it('lowercases before the tokenizer as sentence-transformers does, so "[SEP]" typed in a text is not a special token', () => {
    // do_lower_case: "hello [sep] world" → "[", "sep", "]" are all unknown to the vocabulary.
    expect(rows(tok.encodeBatch(['hello [SEP] world']))).toEqual([[2, 83, 1, 1, 1, 182, 3]]);
    // Without do_lower_case the added token "[SEP]" is matched before normalization; the
    // BertNormalizer still lowercases the words.
    const cased = loadTokenizer({ ...files, 'sentence_bert_config.json': { max_seq_length: 64, do_lower_case: false } });
    expect(cased.doLowerCase).toBe(false);
    expect(rows(cased.encodeBatch(['HELLO [SEP] World']))).toEqual([[2, 83, 3, 182, 3]]);
  });

  it('strips as Python str.strip does', () => {
    expect(pythonStrip(' \u3000\x1chello world\x85\n')).toBe('hello world');
    expect(pythonStrip('\ufeffhello')).toBe('\ufeffhello');
    expect(rows(tok.encodeBatch(['\u2003 Hello world. \u00a0']))).toEqual([S2_IDS]);
  });

  it('caps max_seq_length by max_position_embeddings and falls back to model_max_length', () => {
    const capped = loadTokenizer({ ...files, 'sentence_bert_config.json': { max_seq_length: 512, do_lower_case: true }, 'config.json': { max_position_embeddings: 64 } });
    expect(capped.maxLength).toBe(64);
    const noSt = loadTokenizer({ 'tokenizer.json': files['tokenizer.json'], 'tokenizer_config.json': { ...files['tokenizer_config.json'], model_max_length: 32 } });
    expect(noSt.maxLength).toBe(32);
    expect(noSt.doLowerCase).toBe(false);
  });

  it('takes the special tokens from special_tokens_map.json when tokenizer_config.json lacks them', () => {
    const { pad_token: _p, ...rest } = files['tokenizer_config.json']!;
    expect(() => loadTokenizer({ ...files, 'tokenizer_config.json': rest, 'special_tokens_map.json': undefined })).toThrow(/no pad token/);
    expect(loadTokenizer({ ...files, 'tokenizer_config.json': rest }).padId).toBe(0);
  });

  it('loads the files from disk as the fixture wrote them', () => {
    const dir = ensureFixtures().tinyBge;
    expect(files['tokenizer.json']).toEqual(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')));
    expect(files['sentence_bert_config.json']).toEqual({ max_seq_length: 64, do_lower_case: true });
  });

  it('tokenizes 10k short texts in well under a few seconds', () => {
    const words = ['the', 'kel', 'keldor', 'nests', 'reeds', 'playing', 'hello', 'world', 'river', 'music', 'zyzzyva', ','];
    const texts = Array.from({ length: 10_000 }, (_, i) => Array.from({ length: 8 + (i % 12) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' '));
    const start = performance.now();
    let tokens = 0;
    for (let i = 0; i < texts.length; i += 64) tokens += tok.encodeBatch(texts.slice(i, i + 64)).lengths.reduce((a, n) => a + n, 0);
    const ms = performance.now() - start;
    console.log(`tokenized 10,000 texts (${tokens} tokens) in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(3000);
  });
});

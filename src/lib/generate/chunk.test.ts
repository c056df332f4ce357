// Chunking by tokens with the fixture BERT (WordPiece, lower-cased) and XLM-R (Unigram, cased)
// tokenizers: every chunk fits the usable length whole, chunks are the document's own substrings
// in order, the packing is greedy as docs/generate.md#chunking states (checked against a slow
// reference that counts whole substrings only), and over-long words are cut between code points.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { chunkBudget, chunkDocuments, specialTokens } from './chunk.ts';

let paths: FixturePaths;
let tokenizers: { name: string; tok: TextTokenizer }[];
let text: string;

beforeAll(() => {
  paths = ensureFixtures();
  tokenizers = [
    { name: 'bert', tok: loadTokenizerFromDir(paths.tinyBge) },
    { name: 'xlmr', tok: loadTokenizerFromDir(paths.tinyXlmr) },
  ];
  // A long document from the fixture data set's own texts (words both vocabularies know).
  const docs = readFileSync(join(paths.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).doc as string);
  text = docs.slice(0, 40).join('  \n ');
});

const WORDS = /\S+/g;

/** The reference: from each start word, the most words whose whole substring counts ≤ budget. */
function slowChunks(doc: string, tok: TextTokenizer, budget: number): string[] {
  const words = [...doc.matchAll(WORDS)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
  const out: string[] = [];
  for (let i = 0; i < words.length; ) {
    let j = i + 1;
    while (j < words.length && tok.tokenize(doc.slice(words[i].start, words[j].end)).length <= budget) j++;
    out.push(doc.slice(words[i].start, words[j - 1].end));
    i = j;
  }
  return out;
}

describe('chunkDocuments', () => {
  it('measures the special tokens and the budget: max_seq_length 64 less 2 for both families', () => {
    for (const { tok } of tokenizers) {
      expect(tok.maxLength).toBe(64);
      expect(specialTokens(tok)).toBe(2);
      expect(chunkBudget(tok)).toBe(62);
    }
  });

  it('cuts a long document into chunks that fit whole, in order, greedily, as the slow reference does', () => {
    for (const { name, tok } of tokenizers) {
      const r = chunkDocuments([{ id: 'doc-7', text }], tok);
      expect(r.budget, name).toBe(62);
      expect(r.maxLength).toBe(64);
      expect(r.chunks.length, name).toBeGreaterThan(3);
      expect(r.split).toBe(1);
      r.chunks.forEach((c, i) => {
        expect(c.chunkId).toBe(`doc-7#${i}`);
        expect(c.documentId).toBe('doc-7');
        expect(c.index).toBe(i);
        expect(c.tokens).toBe(tok.tokenize(c.text).length);
        expect(c.tokens, `${name} chunk ${i}`).toBeLessThanOrEqual(62);
        // The model sees it whole: nothing truncated, at most max_seq_length with the specials.
        const b = tok.encodeBatch([c.text]);
        expect(b.truncated).toBe(0);
        expect(b.lengths[0]).toBeLessThanOrEqual(64);
      });
      expect(r.longest).toBe(Math.max(...r.chunks.map((c) => c.tokens)));
      // Substrings of the document, in order, covering every word exactly once.
      let from = 0;
      for (const c of r.chunks) {
        const at = text.indexOf(c.text, from);
        expect(at, name).toBeGreaterThanOrEqual(from);
        expect(text.slice(from, at).trim()).toBe('');
        from = at + c.text.length;
      }
      expect(text.slice(from).trim()).toBe('');
      expect(r.chunks.map((c) => c.text)).toEqual(slowChunks(text, tok, 62));
    }
  });

  it('keeps a short document as one chunk, and each document its own ids', () => {
    const [{ tok }] = tokenizers;
    const r = chunkDocuments([{ id: '1', text: 'hello world' }, { id: '2', text: text.slice(0, 2000) }, { id: '3', text: 'the river' }], tok);
    expect(r.chunks[0]).toEqual({ chunkId: '1#0', documentId: '1', index: 0, text: 'hello world', tokens: 2 });
    expect(r.chunks.at(-1)).toMatchObject({ chunkId: '3#0', documentId: '3', text: 'the river' });
    expect(r.chunks.filter((c) => c.documentId === '2').map((c) => c.index)).toEqual([...Array(r.chunks.length - 2).keys()]);
    expect(r.split).toBe(1);
    expect(chunkDocuments([{ id: 'e', text: '  ' }], tok).chunks).toEqual([]);
  });

  it('cuts a word longer than the budget between code points, losing nothing', () => {
    // No spaces: Chinese text (BERT pads CJK characters into words of their own, XLM-R's fixture
    // vocabulary makes it 2 unknown tokens), letters with emoji (surrogate pairs: one [UNK] for BERT
    // past 100 characters, a token a character for XLM-R), and a long Latin run.
    const words = ['猫狗河歌世界你好'.repeat(20), 'ab😀'.repeat(60), 'riverworld'.repeat(30)];
    for (const { name, tok } of tokenizers) {
      let cut = 0;
      for (const word of words) {
        const r = chunkDocuments([{ id: 'w', text: `hello ${word} world` }], tok, { budget: 20 });
        for (const c of r.chunks) {
          expect(c.tokens, `${name}: ${c.text}`).toBeLessThanOrEqual(20);
          expect(c.text.length).toBeGreaterThan(0);
          expect(/[\uD800-\uDBFF]$/.test(c.text) || /^[\uDC00-\uDFFF]/.test(c.text), 'a surrogate pair was split').toBe(false);
        }
        expect(r.chunks.map((c) => c.text).join('').replace(/\s+/g, '')).toBe(`hello${word}world`);
        if (tok.tokenize(word).length > 20) {
          expect(r.chunks.length, name).toBeGreaterThanOrEqual(Math.ceil(tok.tokenize(word).length / 20));
          cut++;
        } else expect(r.chunks.length, name).toBe(1);
      }
      expect(cut, `${name}: some word was over the budget`).toBeGreaterThan(0);
    }
  });

  it('takes a smaller budget and refuses a bad one', () => {
    const [{ tok }] = tokenizers;
    const r = chunkDocuments([{ id: 'x', text: text.slice(0, 1500) }], tok, { budget: 10 });
    expect(r.chunks.every((c) => c.tokens <= 10)).toBe(true);
    expect(r.chunks.map((c) => c.text)).toEqual(slowChunks(text.slice(0, 1500), tok, 10));
    expect(() => chunkDocuments([], tok, { budget: 0 })).toThrow(/positive number of tokens/);
    expect(() => chunkDocuments([], tok, { budget: 2.5 })).toThrow(/positive number of tokens/);
  });
});

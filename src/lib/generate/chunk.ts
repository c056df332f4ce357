// Documents cut into chunks the embedding model reads whole: the longest runs of whole words whose
// tokens, by the model's own tokenizer, fit its usable length less the special tokens
// (docs/generate.md#chunking). A chunk is a substring of its document (no text is changed) and
// keeps the document's id. Pure TypeScript over the TextTokenizer interface, so Node, the worker
// and the tests chunk alike. Not the reading of documents (documents.ts) and no overlap between
// chunks.

import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { PY_SPACE } from '../util/py-space.ts';
import type { Document } from './documents.ts';

/** One chunk of a document: the pair's positive and the filter's corpus entry. */
export interface Chunk {
  /** `<documentId>#<index>`: unique as long as document ids are. */
  chunkId: string;
  documentId: string;
  /** Position among its document's chunks, from 0. */
  index: number;
  text: string;
  /** Tokens of `text` without the special tokens (≤ the budget unless one code point alone exceeds it). */
  tokens: number;
}

export interface ChunkReport {
  chunks: Chunk[];
  /** Tokens a chunk may hold: the usable length (max_seq_length) less the special tokens. */
  budget: number;
  /** The tokenizer's max_seq_length, specials included (what the page shows as "chunk size"). */
  maxLength: number;
  /** Documents cut into more than one chunk. */
  split: number;
  /** The most tokens any chunk holds. */
  longest: number;
}

export type ChunkTokenizer = Pick<TextTokenizer, 'tokenize' | 'encodeBatch' | 'maxLength'>;

/** Special tokens a single text gets ([CLS] … [SEP]: 2; <s> … </s>: 2), measured, not assumed. */
export function specialTokens(tokenizer: ChunkTokenizer): number {
  return tokenizer.encodeBatch(['a']).lengths[0] - tokenizer.tokenize('a').length;
}

/** Tokens one chunk may hold: max_seq_length less the special tokens (at least 1). */
export function chunkBudget(tokenizer: ChunkTokenizer): number {
  return Math.max(1, tokenizer.maxLength - specialTokens(tokenizer));
}

const WORD = new RegExp(`[^${PY_SPACE}]+`, 'gu');
/** Word token counts are cached per call; a long corpus's vocabulary is cleared past this size. */
const MAX_CACHED_WORDS = 100_000;

/** A piece of a document: [start, end) in UTF-16 units, with its token count when on its own. */
interface Piece {
  start: number;
  end: number;
  tokens: number;
}

/**
 * Chunks every document (in order) to `budget` tokens (default: the tokenizer's, chunkBudget).
 * Words are packed greedily; each chunk's count is taken on its whole text, and words come off the
 * end while it is over (a tokenizer may count a run differently from its words). A word over the
 * budget by itself is cut between code points at the longest prefix that fits.
 */
export function chunkDocuments(documents: readonly Document[], tokenizer: ChunkTokenizer, options: { budget?: number; signal?: AbortSignal } = {}): ChunkReport {
  const budget = options.budget ?? chunkBudget(tokenizer);
  if (!Number.isInteger(budget) || budget < 1) throw new Error(`chunk budget must be a positive number of tokens, got ${budget}`);
  const count = (s: string) => tokenizer.tokenize(s).length;
  const cache = new Map<string, number>();
  const wordTokens = (w: string) => {
    let n = cache.get(w);
    if (n === undefined) {
      if (cache.size >= MAX_CACHED_WORDS) cache.clear();
      n = count(w);
      cache.set(w, n);
    }
    return n;
  };
  const chunks: Chunk[] = [];
  let split = 0;
  let longest = 0;
  for (const doc of documents) {
    options.signal?.throwIfAborted();
    const pieces = piecesOf(doc.text, budget, count, wordTokens);
    let index = 0;
    for (let i = 0; i < pieces.length; ) {
      let j = i;
      let sum = 0;
      while (j < pieces.length && (j === i || sum + pieces[j].tokens <= budget)) sum += pieces[j++].tokens;
      // Count the run as a whole; drop words from its end while it is over (never below one piece,
      // which fits alone by construction).
      let text = doc.text.slice(pieces[i].start, pieces[j - 1].end);
      let tokens = count(text);
      while (tokens > budget && j - 1 > i) {
        j--;
        text = doc.text.slice(pieces[i].start, pieces[j - 1].end);
        tokens = count(text);
      }
      chunks.push({ chunkId: `${doc.id}#${index}`, documentId: doc.id, index, text, tokens });
      longest = Math.max(longest, tokens);
      index++;
      i = j;
    }
    if (index > 1) split++;
  }
  return { chunks, budget, maxLength: tokenizer.maxLength, split, longest };
}

/** The document's words as pieces, a word over the budget cut into pieces that fit. */
function piecesOf(text: string, budget: number, count: (s: string) => number, wordTokens: (w: string) => number): Piece[] {
  const out: Piece[] = [];
  for (const m of text.matchAll(WORD)) {
    const start = m.index;
    const end = start + m[0].length;
    const tokens = wordTokens(m[0]);
    if (tokens <= budget) out.push({ start, end, tokens });
    else cutWord(text, start, end, budget, count, out);
  }
  return out;
}

/**
 * Cuts text[start, end) into pieces of at most `budget` tokens each: the longest prefix (in whole
 * code points) that fits, found by doubling then bisecting so each count sees at most twice the
 * piece. At least one code point per piece, so the loop always ends.
 */
function cutWord(text: string, start: number, end: number, budget: number, count: (s: string) => number, out: Piece[]): void {
  const points = Array.from(text.slice(start, end));
  let at = start;
  let p = 0;
  const span = (a: number, b: number) => points.slice(a, b).join('');
  while (p < points.length) {
    const fits = (n: number) => count(span(p, p + n)) <= budget;
    const left = points.length - p;
    // lo: the longest prefix known to fit (0: none yet); hi: the shortest known not to (left + 1: none).
    let lo = 0;
    let hi = left + 1;
    for (let n = Math.min(left, budget); ; n = Math.min(left, n * 2)) {
      if (!fits(n)) {
        hi = n;
        break;
      }
      lo = n;
      if (n === left) break;
    }
    while (hi - lo > 1 && hi <= left) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    lo = Math.max(lo, 1); // one code point is taken even when it does not fit, so the loop ends
    const piece = span(p, p + lo);
    out.push({ start: at, end: at + piece.length, tokens: count(piece) });
    at += piece.length;
    p += lo;
  }
}

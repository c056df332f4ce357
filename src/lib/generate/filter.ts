// The consistency filter (docs/generate.md#consistency-filter): embed every generated question and
// every chunk with the base embedding model, and keep a (question, chunk) pair only when the chunk
// ranks within the top k of all chunks for its question, ranked as the evaluator ranks
// (cosine, summed in float64 and rounded once to float32; exact ties to the smaller chunk id in
// Python's order). Scores are computed block by block (queries × chunks), so memory stays at a
// block, never questions × chunks. Not the generation (generator.ts) nor the data set the kept
// pairs become (generated-set.ts); the encoder comes in through embed-texts' interfaces.

import { comparePythonIds } from '../eval/ir-set.ts';
import { JsScoreBackend, type ScoreBackend } from '../eval/ir-metrics.ts';
import { embedTexts, type BatchEncoder } from '../models/embed-texts.ts';
import type { TextPrompts } from '../models/prompts.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import type { Chunk } from './chunk.ts';
import type { QuestionRow } from './questions.ts';

/** k when none is given: a pair is kept when its chunk is among the 3 best for its question. */
export const DEFAULT_FILTER_TOP_K = 3;
/** Dropped pairs kept as examples for the page and the card. */
export const FILTER_EXAMPLES = 5;

/** Where one pair's chunk ranked for its question. */
export interface PairRank {
  /** 1-based rank of the pair's own chunk among all chunks. */
  rank: number;
  /** s(q, own chunk). */
  score: number;
  /** The chunk ranked first, and its score (the own chunk when rank is 1). */
  topChunkId: string;
  topScore: number;
}

export interface DroppedPair extends QuestionRow, PairRank {}

export interface FilterResult {
  topK: number;
  /** Pairs kept, in input order. */
  kept: QuestionRow[];
  /** Every dropped pair with where its chunk ranked, in input order. */
  dropped: DroppedPair[];
  /** Per input pair, in input order. */
  ranks: PairRank[];
  counts: { pairs: number; kept: number; dropped: number; chunks: number };
}

export interface FilterOptions {
  topK?: number;
  /** Score backend (default the evaluator's JS one); a pair must score the same wherever it sits in a block. */
  backend?: ScoreBackend;
  /** Question rows and chunk rows scored per backend call. */
  queryBlock?: number;
  chunkBlock?: number;
  signal?: AbortSignal;
}

/** Throws unless k is a whole number ≥ 1. */
export function checkTopK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`the filter's top k must be a whole number of at least 1, got ${k}`);
}

/** Rows scaled to unit length as the evaluator does (norm in float64, floored at 1e-12, stored as float32). */
function normalizeRows(x: Float32Array, n: number, D: number): Float32Array {
  const out = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let k = 0; k < D; k++) ss += x[i * D + k] * x[i * D + k];
    const norm = Math.max(Math.sqrt(ss), 1e-12);
    for (let k = 0; k < D; k++) out[i * D + k] = x[i * D + k] / norm;
  }
  return out;
}

/**
 * The filter on given embeddings: `questionEmb` [pairs, D] in `pairs` order, `chunkEmb` [chunks, D]
 * in `chunks` order (raw: normalized here, as the evaluator normalizes for cosine). Each pair's
 * chunkId must be one of `chunks`, whose ids must be unique.
 */
export async function filterWithEmbeddings(
  pairs: readonly QuestionRow[],
  chunks: readonly Pick<Chunk, 'chunkId'>[],
  questionEmb: Float32Array,
  chunkEmb: Float32Array,
  D: number,
  options: FilterOptions = {},
): Promise<FilterResult> {
  const topK = options.topK ?? DEFAULT_FILTER_TOP_K;
  checkTopK(topK);
  const nq = pairs.length;
  const nc = chunks.length;
  if (questionEmb.length !== nq * D) throw new Error(`question embeddings: ${questionEmb.length} values, expected ${nq}×${D}`);
  if (chunkEmb.length !== nc * D) throw new Error(`chunk embeddings: ${chunkEmb.length} values, expected ${nc}×${D}`);
  const indexOf = new Map<string, number>();
  chunks.forEach((c, j) => {
    if (indexOf.has(c.chunkId)) throw new Error(`chunk id "${c.chunkId}" appears twice; chunk ids must be unique`);
    indexOf.set(c.chunkId, j);
  });
  const own = pairs.map((p, i) => {
    const j = indexOf.get(p.chunkId);
    if (j === undefined) throw new Error(`pair ${i} ("${p.question.slice(0, 60)}") names chunk "${p.chunkId}", which is not among the chunks`);
    return j;
  });
  // The tie-break key: each chunk's position in Python's order of the ids (the evaluator's).
  const order = chunks.map((_, j) => j).sort((a, b) => comparePythonIds(chunks[a].chunkId, chunks[b].chunkId));
  const idRank = new Int32Array(nc);
  order.forEach((j, r) => (idRank[j] = r));

  const q = normalizeRows(questionEmb, nq, D);
  const c = normalizeRows(chunkEmb, nc, D);
  const backend = options.backend ?? new JsScoreBackend();
  const qb = Math.max(1, options.queryBlock ?? 128);
  const cb = Math.max(1, options.chunkBlock ?? 4096);
  // Per pair: its own chunk's score, how many chunks beat it, and the best chunk so far. The own
  // score comes from the backend too (the block's own chunks gathered, the diagonal read), so it is
  // the very value every other chunk's score is compared with.
  const ownScore = new Float32Array(nq);
  const better = new Int32Array(nq);
  const topIdx = new Int32Array(nq).fill(-1);
  const topScore = new Float32Array(nq).fill(-Infinity);
  const beats = (s: number, j: number, t: number, tj: number) => s > t || (s === t && idRank[j] < idRank[tj]);
  for (let q0 = 0; q0 < nq; q0 += qb) {
    const nqb = Math.min(qb, nq - q0);
    const qs = q.subarray(q0 * D, (q0 + nqb) * D);
    const ownRows = new Float32Array(nqb * D);
    for (let i = 0; i < nqb; i++) ownRows.set(c.subarray(own[q0 + i] * D, (own[q0 + i] + 1) * D), i * D);
    const diag = await scoreBlock(backend, qs, ownRows, nqb, nqb, D);
    for (let i = 0; i < nqb; i++) ownScore[q0 + i] = diag[i * nqb + i];
    for (let c0 = 0; c0 < nc; c0 += cb) {
      options.signal?.throwIfAborted();
      const ncb = Math.min(cb, nc - c0);
      const s = await scoreBlock(backend, qs, c.subarray(c0 * D, (c0 + ncb) * D), nqb, ncb, D);
      for (let i = 0; i < nqb; i++) {
        const p = q0 + i;
        const mine = ownScore[p];
        const j0 = own[p];
        for (let t = 0; t < ncb; t++) {
          const v = s[i * ncb + t];
          const j = c0 + t;
          if (j !== j0 && beats(v, j, mine, j0)) better[p]++;
          if (topIdx[p] < 0 || beats(v, j, topScore[p], topIdx[p])) {
            topIdx[p] = j;
            topScore[p] = v;
          }
        }
      }
    }
  }
  return summarize(pairs, chunks, ownScore, better, topIdx, topScore, topK);
}

async function scoreBlock(backend: ScoreBackend, q: Float32Array, c: Float32Array, nq: number, nc: number, D: number): Promise<Float32Array> {
  const s = await backend.scores(q, c, nq, nc, D);
  if (s.length !== nq * nc) throw new Error(`score backend ${backend.name} returned ${s.length} scores, expected ${nq}×${nc}`);
  return s;
}

function summarize(
  pairs: readonly QuestionRow[],
  chunks: readonly Pick<Chunk, 'chunkId'>[],
  ownScore: Float32Array,
  better: Int32Array,
  topIdx: Int32Array,
  topScore: Float32Array,
  topK: number,
): FilterResult {
  const kept: QuestionRow[] = [];
  const dropped: DroppedPair[] = [];
  const ranks = pairs.map((p, i) => {
    const r: PairRank = { rank: better[i] + 1, score: ownScore[i], topChunkId: chunks[topIdx[i]].chunkId, topScore: topScore[i] };
    if (r.rank <= topK) kept.push(p);
    else dropped.push({ ...p, ...r });
    return r;
  });
  return { topK, kept, dropped, ranks, counts: { pairs: pairs.length, kept: kept.length, dropped: dropped.length, chunks: chunks.length } };
}

export interface FilterProgress {
  phase: 'embed' | 'rank';
  done: number;
  total: number;
}

/**
 * Embeds the questions (with the model's query prompt) and the chunks (with its document prompt)
 * in evaluation mode, as the evaluator embeds queries and corpus, and filters.
 */
export async function filterPairs(o: {
  pairs: readonly QuestionRow[];
  chunks: readonly Pick<Chunk, 'chunkId' | 'text'>[];
  encoder: BatchEncoder;
  tokenizer: Pick<TextTokenizer, 'encodeBatch'>;
  prompts?: TextPrompts;
  batchSize?: number;
  options?: FilterOptions;
  onProgress?: (p: FilterProgress) => void;
  signal?: AbortSignal;
}): Promise<FilterResult> {
  checkTopK(o.options?.topK ?? DEFAULT_FILTER_TOP_K);
  const total = o.pairs.length + o.chunks.length;
  let done = 0;
  const step = { batchSize: o.batchSize ?? 32, signal: o.signal, onBatch: (n: number) => o.onProgress?.({ phase: 'embed', done: (done += n), total }) };
  const questionEmb = await embedTexts(o.pairs.map((p) => p.question), o.tokenizer, o.encoder, { ...step, prompt: o.prompts?.query });
  const chunkEmb = await embedTexts(o.chunks.map((c) => c.text), o.tokenizer, o.encoder, { ...step, prompt: o.prompts?.document });
  o.onProgress?.({ phase: 'rank', done: 0, total: o.pairs.length });
  const result = await filterWithEmbeddings(o.pairs, o.chunks, questionEmb, chunkEmb, o.encoder.dim, { ...o.options, signal: o.signal ?? o.options?.signal });
  o.onProgress?.({ phase: 'rank', done: o.pairs.length, total: o.pairs.length });
  return result;
}

// Hard-negative mining as sentence-transformers' `util.mine_hard_negatives` does it (v6.0.0,
// sentence_transformers/util/hard_negatives.py; SPEC-style notes in docs below), with the
// engine's embeddings: for each distinct anchor, rank a corpus by cosine similarity, drop the
// anchor's own positives, apply the score filters, keep ranks [rangeMin, rangeMax), and pick
// `numNegatives` of what is left, best first or at random. Output rows keep the anchor and the
// positive and add one negative per row (triplet) or `negative_1 … negative_n` (n-tuple).
//
// Semantics, in sentence-transformers' order:
//   - anchors are deduplicated by text (first occurrence order); an anchor's positives are pooled
//     over its rows and deduplicated; the corpus is the given corpus (if any) + every positive,
//     deduplicated by text, first occurrence first; anchors are not added to it.
//   - maxPositives = the most rows any anchor has; rangeMax defaults to rangeMin + numNegatives +
//     maxPositives, or rangeMin + 10·numNegatives + maxPositives when a margin or maxScore is set.
//   - the candidate pool of an anchor is its top rangeMax + maxPositives documents; its own
//     positives, then documents with score + absoluteMargin > minPos, score > minPos −
//     |minPos|·relativeMargin, score > maxScore or score < minScore are removed (minPos: the
//     lowest score among the anchor's positives); what remains is ranked, ranks are 0-based and
//     counted after the removals, and [rangeMin, rangeMax) is kept.
//   - top: the first numNegatives; random: numNegatives of the kept ranks drawn without
//     replacement (a seeded Rng here; sentence-transformers uses Python's unseeded `random`), then
//     re-sorted by score.
//   - triplet: one row per (anchor, positive, negative); an anchor that found fewer negatives has
//     fewer rows. n-tuple: one row per (anchor, positive) with all numNegatives, else no row.
// Deliberate differences: ties are broken by corpus order (torch's topk order is unspecified);
// scores are float32 dot products of the given (normalized) embeddings, as torch computes them.
// Not the encoder (mineHardNegatives takes one) and not the data file written from the rows.

import type { TextPrompts } from '../models/prompts.ts';
import { embedTexts, type BatchEncoder } from '../models/embed-texts.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { Rng } from '../util/rng.ts';

export interface MineOptions {
  rangeMin?: number;
  /** null: the default above. */
  rangeMax?: number | null;
  maxScore?: number | null;
  minScore?: number | null;
  absoluteMargin?: number | null;
  relativeMargin?: number | null;
  numNegatives?: number;
  sampling?: 'top' | 'random';
  /** Seed of `random` sampling. */
  seed?: number;
  format?: 'triplet' | 'n-tuple';
}

export interface MinePair {
  anchor: string;
  positive: string;
}

export interface MineSetup {
  /** Distinct anchors, first occurrence first. */
  queries: string[];
  /** Distinct documents: the given corpus, then the positives. */
  corpus: string[];
  /** Per query, the corpus indices of its positives (distinct, first occurrence first). */
  positives: number[][];
  /** The most rows any anchor has (sentence-transformers counts rows, repeats included). */
  maxPositives: number;
}

export interface MinedRow {
  anchor: string;
  positive: string;
  negatives: string[];
  /** The positive's score, then each negative's. */
  scores: number[];
}

export interface MineSummary {
  queries: number;
  pairs: number;
  corpus: number;
  rangeMin: number;
  rangeMax: number;
  rangeMaxDefaulted: boolean;
  /** Candidates removed by each filter (sentence-transformers' counts). */
  skipped: { name: 'absoluteMargin' | 'relativeMargin' | 'maxScore' | 'minScore'; value: number; count: number; ratio: number }[];
  /** Rows (triplet) or pairs (n-tuple) that could not be filled, of `possible`. */
  missing: number;
  possible: number;
  stats: { positive: ScoreStats; negative: ScoreStats; difference: ScoreStats };
}

export interface ScoreStats {
  count: number;
  mean: number;
  /** The lower median, as torch's `median`. */
  median: number;
  /** Sample standard deviation (n − 1). */
  std: number;
  min: number;
  p25: number;
  p50: number;
  p75: number;
  max: number;
}

export interface MineResult {
  rows: MinedRow[];
  summary: MineSummary;
  format: 'triplet' | 'n-tuple';
}

const f = Math.fround;

/** Distinct anchors, the corpus and each anchor's positives (sentence-transformers' bookkeeping). */
export function mineSetup(pairs: readonly MinePair[], corpus: readonly string[] = []): MineSetup {
  if (!pairs.length) throw new Error('mining: the data has no rows');
  const docs = [...new Set([...(corpus.length ? corpus : pairs.map((p) => p.positive)), ...pairs.map((p) => p.positive)])];
  const docIndex = new Map(docs.map((d, i) => [d, i]));
  const queries: string[] = [];
  const positives: number[][] = [];
  const qIndex = new Map<string, number>();
  const rowsPerAnchor = new Map<string, number>();
  for (const p of pairs) {
    rowsPerAnchor.set(p.anchor, (rowsPerAnchor.get(p.anchor) ?? 0) + 1);
    let q = qIndex.get(p.anchor);
    if (q === undefined) {
      q = queries.length;
      qIndex.set(p.anchor, q);
      queries.push(p.anchor);
      positives.push([]);
    }
    const d = docIndex.get(p.positive)!;
    if (!positives[q].includes(d)) positives[q].push(d);
  }
  return { queries, corpus: docs, positives, maxPositives: Math.max(...rowsPerAnchor.values()) };
}

/** The options with rangeMax filled in, checked as sentence-transformers checks them. */
export interface ResolvedMineOptions {
  rangeMin: number;
  rangeMax: number;
  rangeMaxDefaulted: boolean;
  numNegatives: number;
  maxScore: number | null;
  minScore: number | null;
  absoluteMargin: number | null;
  relativeMargin: number | null;
  sampling: 'top' | 'random';
  seed: number;
  format: 'triplet' | 'n-tuple';
}

export function resolveMineOptions(o: MineOptions, maxPositives: number): ResolvedMineOptions {
  const numNegatives = o.numNegatives ?? 3;
  const rangeMin = o.rangeMin ?? 0;
  if (!(Number.isInteger(numNegatives) && numNegatives >= 1)) throw new Error(`numNegatives must be an integer ≥ 1, got ${numNegatives}`);
  if (!(Number.isInteger(rangeMin) && rangeMin >= 0)) throw new Error(`rangeMin must be an integer ≥ 0, got ${rangeMin}`);
  const widened = o.absoluteMargin != null || o.relativeMargin != null || o.maxScore != null;
  const rangeMaxDefaulted = o.rangeMax == null;
  const rangeMax = o.rangeMax ?? rangeMin + (widened ? 10 : 1) * numNegatives + maxPositives;
  if (!Number.isInteger(rangeMax) || rangeMax <= rangeMin) throw new Error(`rangeMax (${rangeMax}) must be an integer greater than rangeMin (${rangeMin})`);
  if (numNegatives > rangeMax - rangeMin) throw new Error(`numNegatives (${numNegatives}) is more than the ${rangeMax - rangeMin} ranks between rangeMin and rangeMax`);
  return {
    rangeMin, rangeMax, rangeMaxDefaulted, numNegatives,
    maxScore: o.maxScore ?? null, minScore: o.minScore ?? null, absoluteMargin: o.absoluteMargin ?? null, relativeMargin: o.relativeMargin ?? null,
    sampling: o.sampling ?? 'top', seed: o.seed ?? 42, format: o.format ?? 'triplet',
  };
}

/** k of range(n) without replacement (partial Fisher–Yates on a seeded Rng). */
export function sampleIndices(rng: Rng, n: number, k: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}

function stats(xs: number[]): ScoreStats {
  const n = xs.length;
  if (!n) return { count: 0, mean: NaN, median: NaN, std: NaN, min: Infinity, p25: Infinity, p50: Infinity, p75: Infinity, max: -Infinity };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const x = p * (n - 1);
    const lo = Math.floor(x);
    return s[lo] + (s[Math.min(lo + 1, n - 1)] - s[lo]) * (x - lo);
  };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { count: n, mean, median: s[Math.floor((n - 1) / 2)], std, min: s[0], p25: q(0.25), p50: q(0.5), p75: q(0.75), max: s[n - 1] };
}

/**
 * Mining on given embeddings: `queryEmb` [queries, D] and `corpusEmb` [corpus, D], in `setup`'s
 * order, normalized by the caller (cosine = dot). Deterministic: the same inputs give the same rows.
 */
export function mineWithEmbeddings(setup: MineSetup, queryEmb: Float32Array, corpusEmb: Float32Array, D: number, options: MineOptions = {}): MineResult {
  const o = resolveMineOptions(options, setup.maxPositives);
  const nq = setup.queries.length;
  const nc = setup.corpus.length;
  const poolSize = o.rangeMax + setup.maxPositives;
  const rng = new Rng(o.seed);
  const score = (q: number, c: number) => {
    let s = 0;
    for (let k = 0; k < D; k++) s += queryEmb[q * D + k] * corpusEmb[c * D + k];
    return f(s);
  };
  const skipped = { absoluteMargin: 0, relativeMargin: 0, maxScore: 0, minScore: 0 };
  const rows: MinedRow[] = [];
  const posScores: number[] = [];
  const negScores: number[] = [];
  const diffs: number[] = [];
  let missing = 0;
  let possible = 0;
  for (let q = 0; q < nq; q++) {
    const all = Array.from({ length: nc }, (_, c) => ({ c, s: score(q, c) }));
    // Best first, ties by corpus order; the pool is the top poolSize, padded with empty slots.
    all.sort((a, b) => b.s - a.s || a.c - b.c);
    const pool = all.slice(0, poolSize);
    while (pool.length < poolSize) pool.push({ c: -1, s: -Infinity });
    const own = new Set(setup.positives[q]);
    const posOf = setup.positives[q].map((c) => score(q, c));
    const minPos = Math.min(...posOf);
    for (const x of pool) if (x.c < 0 || own.has(x.c)) x.s = -Infinity;
    const remove = (name: keyof typeof skipped, test: (s: number) => boolean) => {
      for (const x of pool) {
        if (test(x.s)) {
          skipped[name]++;
          x.s = -Infinity;
        }
      }
    };
    const { absoluteMargin, relativeMargin, maxScore, minScore } = o;
    if (absoluteMargin !== null) remove('absoluteMargin', (s) => f(s + f(absoluteMargin)) > minPos);
    if (relativeMargin !== null) {
      const thr = f(minPos - f(Math.abs(minPos) * f(relativeMargin)));
      remove('relativeMargin', (s) => s > thr);
    }
    if (maxScore !== null) remove('maxScore', (s) => s > f(maxScore));
    // sentence-transformers counts every slot already removed here too (−∞ < minScore).
    if (minScore !== null) remove('minScore', (s) => s < f(minScore));
    // Removed candidates sink to the end (a stable sort keeps score ties in corpus order).
    const ranked = pool.map((x, i) => ({ ...x, i })).sort((a, b) => (b.s === a.s ? a.i - b.i : b.s - a.s)).slice(0, o.rangeMax).slice(o.rangeMin);
    let chosen: { c: number; s: number }[];
    if (o.sampling === 'top') chosen = ranked.slice(0, o.numNegatives);
    else {
      const options = Math.max(ranked.filter((x) => Number.isFinite(x.s)).length, o.numNegatives);
      chosen = sampleIndices(rng, options, o.numNegatives)
        .map((k) => ({ ...ranked[k], k }))
        .sort((a, b) => (b.s === a.s ? a.k - b.k : b.s - a.s));
    }
    const found = chosen.filter((x) => Number.isFinite(x.s));
    setup.positives[q].forEach((p, pi) => {
      const positive = setup.corpus[p];
      posScores.push(posOf[pi]);
      if (o.format === 'triplet') {
        possible += o.numNegatives;
        missing += o.numNegatives - found.length;
        for (const n of found) {
          rows.push({ anchor: setup.queries[q], positive, negatives: [setup.corpus[n.c]], scores: [posOf[pi], n.s] });
          negScores.push(n.s);
          diffs.push(posOf[pi] - n.s);
        }
      } else {
        possible += 1;
        if (found.length < o.numNegatives) {
          missing++;
          return;
        }
        rows.push({ anchor: setup.queries[q], positive, negatives: found.map((n) => setup.corpus[n.c]), scores: [posOf[pi], ...found.map((n) => n.s)] });
        for (const n of found) {
          negScores.push(n.s);
          diffs.push(posOf[pi] - n.s);
        }
      }
    });
  }
  let total = nq * poolSize;
  const skippedList: MineSummary['skipped'] = [];
  for (const name of ['absoluteMargin', 'relativeMargin', 'maxScore', 'minScore'] as const) {
    const value = o[name];
    if (value === null || !skipped[name]) continue;
    skippedList.push({ name, value, count: skipped[name], ratio: skipped[name] / total });
    if (name === 'absoluteMargin' || name === 'relativeMargin') total -= skipped[name];
  }
  return {
    rows,
    format: o.format,
    summary: {
      queries: nq, pairs: setup.positives.reduce((n, p) => n + p.length, 0), corpus: nc, rangeMin: o.rangeMin, rangeMax: o.rangeMax,
      rangeMaxDefaulted: o.rangeMaxDefaulted, skipped: skippedList, missing, possible,
      stats: { positive: stats(posScores), negative: stats(negScores), difference: stats(diffs) },
    },
  };
}

export interface MineProgress {
  phase: 'embed' | 'mine';
  done: number;
  total: number;
}

/** Embeds the anchors and the corpus with `encoder` (normalized) and mines. */
export async function mineHardNegatives(o: {
  pairs: readonly MinePair[];
  corpus?: readonly string[];
  encoder: BatchEncoder;
  tokenizer: Pick<TextTokenizer, 'encodeBatch'>;
  options?: MineOptions;
  batchSize?: number;
  onProgress?: (p: MineProgress) => void;
  signal?: AbortSignal;
  /** The query prompt on the anchors, the document prompt on the corpus, as mine_hard_negatives(query_prompt=…, corpus_prompt=…) (default none). */
  prompts?: TextPrompts;
}): Promise<MineResult> {
  const setup = mineSetup(o.pairs, o.corpus);
  resolveMineOptions(o.options ?? {}, setup.maxPositives);
  const D = o.encoder.dim;
  const total = setup.queries.length + setup.corpus.length;
  let done = 0;
  const step = { batchSize: o.batchSize ?? 32, signal: o.signal, onBatch: (n: number) => o.onProgress?.({ phase: 'embed', done: (done += n), total }) };
  const normalize = (e: Float32Array) => {
    for (let r = 0; r < e.length / D; r++) {
      let s = 0;
      for (let k = 0; k < D; k++) s += e[r * D + k] ** 2;
      const n = Math.max(Math.sqrt(s), 1e-12);
      for (let k = 0; k < D; k++) e[r * D + k] = f(e[r * D + k] / n);
    }
    return e;
  };
  const queryEmb = normalize(await embedTexts(setup.queries, o.tokenizer, o.encoder, { ...step, prompt: o.prompts?.query }));
  const corpusEmb = normalize(await embedTexts(setup.corpus, o.tokenizer, o.encoder, { ...step, prompt: o.prompts?.document }));
  o.onProgress?.({ phase: 'mine', done: 0, total: setup.queries.length });
  const result = mineWithEmbeddings(setup, queryEmb, corpusEmb, D, o.options);
  o.onProgress?.({ phase: 'mine', done: setup.queries.length, total: setup.queries.length });
  return result;
}

/** Rows as a data file's records: anchor, positive, then negative (triplet) or negative_1 … (n-tuple). */
export function minedRecords(result: MineResult, withScores = false): Record<string, string | number[]>[] {
  return result.rows.map((r) => {
    const rec: Record<string, string | number[]> = { anchor: r.anchor, positive: r.positive };
    if (result.format === 'triplet') rec.negative = r.negatives[0];
    else r.negatives.forEach((n, i) => (rec[`negative_${i + 1}`] = n));
    if (withScores) rec.scores = r.scores;
    return rec;
  });
}

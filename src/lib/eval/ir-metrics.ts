// The Matryoshka information-retrieval evaluator: one sentence-transformers
// InformationRetrievalEvaluator per truncation dimension (`dim_{d}`), wrapped in a
// SequentialEvaluator, computed from query and corpus embeddings exactly as docs/evaluation.md
// defines it (sentence-transformers v6.0.0: information_retrieval.py
// `compute_all_metrics`/`compute_metrics`, sequential.py). Ranking order is the total order
// (−score, corpus id): exact score ties go to the smaller id in Python's ordering (numbers
// numerically, strings by code point), as in v6.0.0 (commit 110bb37e); v3.x–v5.x broke ties by heap
// order, which no port can reproduce. Scoring runs chunk by chunk (queries × corpus) through a
// ScoreBackend, so memory stays bounded by the chunk sizes and the top-max_k lists, never nq × nc.
// Results do not depend on the chunk sizes as long as the backend scores a pair the same wherever
// it sits in a chunk (JsScoreBackend does).
// It does not embed text (the caller encodes `prepared.queryTexts` / `corpusTexts`), and it imports
// no onnxruntime: a GPU/ONNX matmul plugs in as another ScoreBackend.

import { comparePythonIds, type DocId, type IrSet } from './ir-set.ts';

export type ScoreFunction = 'cosine' | 'dot';
export const SCORE_FUNCTIONS: readonly ScoreFunction[] = ['cosine', 'dot'];
export const DEFAULT_MATRYOSHKA_DIMS: readonly number[] = [768, 512, 256, 128, 64];

/** The evaluator's k lists (sentence-transformers constructor defaults). */
export interface IrKs {
  accuracyAtK: number[];
  precisionRecallAtK: number[];
  mrrAtK: number[];
  ndcgAtK: number[];
  mapAtK: number[];
}
export const DEFAULT_IR_KS: Readonly<IrKs> = {
  accuracyAtK: [1, 3, 5, 10],
  precisionRecallAtK: [1, 3, 5, 10],
  mrrAtK: [10],
  ndcgAtK: [10],
  mapAtK: [100],
};

/** Pairwise similarity of two row blocks; higher = more similar. */
export interface ScoreBackend {
  readonly name: string;
  /**
   * q: [nq, d] row-major, c: [nc, d] row-major → [nq, nc] row-major scores (dot products; the
   * evaluator has already truncated and, for cosine, normalised the rows). A pair must score the
   * same wherever it sits in the chunk, or exact ties become chunk-dependent.
   */
  scores(q: Float32Array, c: Float32Array, nq: number, nc: number, d: number): Promise<Float32Array>;
}

/**
 * Plain-JS scores: a float64 sum of float32 products in index order, rounded once to float32, so
 * identical rows score bit-identically. Tiled over corpus rows (a tile of ~256 KiB stays in cache
 * while every query of the chunk passes over it) with a 4×4 register block.
 */
export class JsScoreBackend implements ScoreBackend {
  readonly name = 'js';

  scores(q: Float32Array, c: Float32Array, nq: number, nc: number, d: number): Promise<Float32Array> {
    return Promise.resolve(jsScores(q, c, nq, nc, d));
  }
}

/** q: [nq, d], c: [nc, d] → [nq, nc]. */
export function jsScores(q: Float32Array, c: Float32Array, nq: number, nc: number, d: number): Float32Array {
  if (q.length < nq * d || c.length < nc * d) throw new Error('jsScores: input shorter than its shape');
  const out = new Float32Array(nq * nc);
  const tile = Math.max(4, Math.floor(65536 / Math.max(d, 1) / 4) * 4);
  const nq4 = nq - (nq % 4);
  for (let j0 = 0; j0 < nc; j0 += tile) {
    const j1 = Math.min(nc, j0 + tile);
    const j4 = j0 + (j1 - j0) - ((j1 - j0) % 4);
    for (let i = 0; i < nq4; i += 4) {
      const a0 = i * d;
      const a1 = a0 + d;
      const a2 = a1 + d;
      const a3 = a2 + d;
      for (let j = j0; j < j4; j += 4) {
        const b0 = j * d;
        const b1 = b0 + d;
        const b2 = b1 + d;
        const b3 = b2 + d;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
        let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
        let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < d; k++) {
          const x0 = q[a0 + k], x1 = q[a1 + k], x2 = q[a2 + k], x3 = q[a3 + k];
          const y0 = c[b0 + k], y1 = c[b1 + k], y2 = c[b2 + k], y3 = c[b3 + k];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
          s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
          s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
        }
        const o0 = i * nc + j;
        out[o0] = s00; out[o0 + 1] = s01; out[o0 + 2] = s02; out[o0 + 3] = s03;
        const o1 = o0 + nc;
        out[o1] = s10; out[o1 + 1] = s11; out[o1 + 2] = s12; out[o1 + 3] = s13;
        const o2 = o1 + nc;
        out[o2] = s20; out[o2 + 1] = s21; out[o2 + 2] = s22; out[o2 + 3] = s23;
        const o3 = o2 + nc;
        out[o3] = s30; out[o3 + 1] = s31; out[o3 + 2] = s32; out[o3 + 3] = s33;
      }
      for (let j = j4; j < j1; j++) for (let r = i; r < i + 4; r++) out[r * nc + j] = dot(q, r * d, c, j * d, d);
    }
    for (let i = nq4; i < nq; i++) for (let j = j0; j < j1; j++) out[i * nc + j] = dot(q, i * d, c, j * d, d);
  }
  return out;
}

function dot(x: Float32Array, xo: number, y: Float32Array, yo: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += x[xo + k] * y[yo + k];
  return s;
}

/** The evaluator's view of an IrSet: kept queries and the corpus as parallel lists. */
export interface PreparedIr {
  /** Queries that have a non-empty relevant list, in the queries' insertion order. */
  queryIds: DocId[];
  queryTexts: string[];
  corpusIds: DocId[];
  corpusTexts: string[];
  relevant: Map<DocId, DocId[]>;
}

/** Drops queries without relevant documents (as sentence-transformers' constructor does). */
export function prepareIr(set: IrSet): PreparedIr {
  const queryIds: DocId[] = [];
  const queryTexts: string[] = [];
  for (const [id, text] of set.queries) {
    const rel = set.relevant.get(id);
    if (rel !== undefined && rel.length > 0) {
      queryIds.push(id);
      queryTexts.push(text);
    }
  }
  return {
    queryIds,
    queryTexts,
    corpusIds: [...set.corpus.keys()],
    corpusTexts: [...set.corpus.values()],
    relevant: set.relevant,
  };
}

export interface IrEvalOptions {
  /** Matryoshka truncation dims, each an integer in [1, D]; one evaluator per dim, in this order. */
  dims?: readonly number[];
  /** Default ['cosine'] (what the recipe passes; v3.3+ defaults to the model's similarity, cosine for BGE). */
  scoreFunctions?: readonly ScoreFunction[];
  /** Fixes the primary metric's score function instead of taking the one with the best nDCG. */
  mainScoreFunction?: ScoreFunction;
  ks?: Partial<IrKs>;
  /** Corpus rows scored per backend call (sentence-transformers' corpus_chunk_size default 50000). */
  corpusChunkSize?: number;
  /** Query rows scored per backend call (default 128). */
  queryChunkSize?: number;
  backend?: ScoreBackend;
  /** Evaluator name per dim; default `dim_${d}`. */
  evaluatorName?: (dim: number) => string;
  /** Keep this many top hits per query (≤ max_k) for display; default 0. */
  topHits?: number;
  signal?: AbortSignal;
}

export interface IrHits {
  ids: DocId[];
  scores: number[];
}

export interface IrEvaluatorResult {
  name: string;
  dim: number;
  /** `{name}_{fn}_{metric}@{k}` in sentence-transformers' key order. */
  metrics: Record<string, number>;
  /** `{name}_{fn}_ndcg@{max ndcg k}` (sentence-transformers ≥ 3.3). */
  primaryMetric: string;
  /** Per score function, per kept query (in `queryIds` order), when `topHits` > 0. */
  hits?: Partial<Record<ScoreFunction, IrHits[]>>;
}

export interface IrResult {
  /** Union of every evaluator's metrics, then `sequential_score`. */
  metrics: Record<string, number>;
  evaluators: IrEvaluatorResult[];
  /** Primary metric of the last evaluator (SequentialEvaluator). */
  sequentialScore: number;
  primaryMetric: 'sequential_score';
  numQueries: number;
  numCorpus: number;
  backend: string;
}

/**
 * queryEmb: [nq, D] rows in `prepared.queryIds` order; corpusEmb: [nc, D] rows in
 * `prepared.corpusIds` order; full-size embeddings (truncation happens here, per dim, without
 * renormalising: cosine normalises the truncated rows, dot uses them as they are).
 */
export async function evaluateIr(
  prepared: PreparedIr,
  queryEmb: Float32Array,
  corpusEmb: Float32Array,
  D: number,
  options: IrEvalOptions = {},
): Promise<IrResult> {
  const nq = prepared.queryIds.length;
  const nc = prepared.corpusIds.length;
  if (!Number.isInteger(D) || D < 1) throw new Error(`embedding size D=${D} must be a positive integer`);
  if (nq === 0) throw new Error('no query has a relevant document: the metrics would divide by zero');
  if (queryEmb.length !== nq * D) throw new Error(`query embeddings: ${queryEmb.length} values, expected ${nq}×${D}`);
  if (corpusEmb.length !== nc * D) throw new Error(`corpus embeddings: ${corpusEmb.length} values, expected ${nc}×${D}`);
  if (prepared.queryTexts.length !== nq || prepared.corpusTexts.length !== nc) throw new Error('prepared lists differ in length');
  assertFinite(queryEmb, 'query embeddings');
  assertFinite(corpusEmb, 'corpus embeddings');

  const dims = [...(options.dims ?? DEFAULT_MATRYOSHKA_DIMS)];
  validateDims(dims, D);
  const fns = [...(options.scoreFunctions ?? ['cosine'])];
  if (fns.length === 0) throw new Error('scoreFunctions is empty');
  for (const fn of fns) if (!SCORE_FUNCTIONS.includes(fn)) throw new Error(`unknown score function ${String(fn)}`);
  if (new Set(fns).size !== fns.length) throw new Error('scoreFunctions has repeats');
  if (options.mainScoreFunction !== undefined && !fns.includes(options.mainScoreFunction)) {
    throw new Error(`mainScoreFunction ${options.mainScoreFunction} is not among scoreFunctions`);
  }
  const ks: IrKs = { ...DEFAULT_IR_KS, ...options.ks };
  for (const [key, list] of Object.entries(ks)) validateKs(key, list as number[]);
  const maxK = Math.max(...ks.accuracyAtK, ...ks.precisionRecallAtK, ...ks.mrrAtK, ...ks.ndcgAtK, ...ks.mapAtK);
  const corpusChunk = positiveInt(options.corpusChunkSize ?? 50000, 'corpusChunkSize');
  const queryChunk = positiveInt(options.queryChunkSize ?? 128, 'queryChunkSize');
  const topHits = options.topHits ?? 0;
  if (!Number.isInteger(topHits) || topHits < 0 || topHits > maxK) throw new Error(`topHits must be an integer in [0, ${maxK}]`);
  const backend = options.backend ?? new JsScoreBackend();
  const nameOf = options.evaluatorName ?? ((d: number) => `dim_${d}`);

  const idRank = corpusIdRanks(prepared.corpusIds);
  const relevantLists = prepared.queryIds.map((id) => prepared.relevant.get(id) as DocId[]);

  const evaluators: IrEvaluatorResult[] = [];
  const all: Record<string, number> = {};
  for (const d of dims) {
    const name = nameOf(d);
    const perFn = new Map<ScoreFunction, Map<string, Map<number, number>>>();
    const hits: Partial<Record<ScoreFunction, IrHits[]>> = {};
    for (const fn of fns) {
      const lists = await rankAll(queryEmb, corpusEmb, nq, nc, D, d, fn, maxK, idRank, corpusChunk, queryChunk, backend, options.signal);
      const ranked = lists.map((l) => l.idx.map((j) => prepared.corpusIds[j]));
      perFn.set(fn, computeMetrics(ranked, relevantLists, ks));
      if (topHits > 0) {
        hits[fn] = lists.map((l, i) => ({ ids: ranked[i].slice(0, topHits), scores: l.scores.slice(0, topHits) }));
      }
    }
    const metrics: Record<string, number> = {};
    for (const fn of fns) {
      for (const [metric, byK] of perFn.get(fn) as Map<string, Map<number, number>>) {
        for (const [k, v] of byK) metrics[`${name}_${fn}_${metric}@${k}`] = v;
      }
    }
    const kn = Math.max(...ks.ndcgAtK);
    let best = options.mainScoreFunction;
    if (best === undefined) {
      let bestValue = -Infinity;
      for (const fn of [...fns].sort()) {
        const v = (perFn.get(fn) as Map<string, Map<number, number>>).get('ndcg')?.get(kn) as number;
        if (best === undefined || v > bestValue) {
          best = fn;
          bestValue = v;
        }
      }
    }
    const result: IrEvaluatorResult = { name, dim: d, metrics, primaryMetric: `${name}_${best}_ndcg@${kn}` };
    if (topHits > 0) result.hits = hits;
    evaluators.push(result);
    Object.assign(all, metrics);
  }
  const sequentialScore = all[evaluators[evaluators.length - 1].primaryMetric];
  all.sequential_score = sequentialScore;
  return { metrics: all, evaluators, sequentialScore, primaryMetric: 'sequential_score', numQueries: nq, numCorpus: nc, backend: backend.name };
}

/** Position of each corpus id in ascending Python order: the tie-break key. */
export function corpusIdRanks(ids: readonly DocId[]): Int32Array {
  const order = ids.map((_, i) => i).sort((a, b) => comparePythonIds(ids[a], ids[b]));
  const rank = new Int32Array(ids.length);
  order.forEach((j, r) => (rank[j] = r));
  return rank;
}

interface RankedList {
  /** Corpus row indices, best first, at most max_k. */
  idx: number[];
  scores: number[];
}

/** rows: [n, D] → [n, d] first d columns, L2-normalised when `normalize` (torch's eps 1e-12). */
function truncateRows(x: Float32Array, start: number, n: number, D: number, d: number, normalize: boolean): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const src = (start + i) * D;
    if (normalize) {
      let ss = 0;
      for (let k = 0; k < d; k++) ss += x[src + k] * x[src + k];
      const norm = Math.max(Math.sqrt(ss), 1e-12);
      for (let k = 0; k < d; k++) out[i * d + k] = x[src + k] / norm;
    } else {
      out.set(x.subarray(src, src + d), i * d);
    }
  }
  return out;
}

async function rankAll(
  queryEmb: Float32Array,
  corpusEmb: Float32Array,
  nq: number,
  nc: number,
  D: number,
  d: number,
  fn: ScoreFunction,
  maxK: number,
  idRank: Int32Array,
  corpusChunk: number,
  queryChunk: number,
  backend: ScoreBackend,
  signal: AbortSignal | undefined,
): Promise<RankedList[]> {
  const normalize = fn === 'cosine';
  const q = truncateRows(queryEmb, 0, nq, D, d, normalize);
  const k = Math.min(maxK, nc);
  // Per query a heap of the k best so far, worst at the root; order (−score, id rank).
  const heapScore = new Float32Array(nq * k);
  const heapIdx = new Int32Array(nq * k);
  const size = new Int32Array(nq);
  for (let c0 = 0; c0 < nc; c0 += corpusChunk) {
    const ncc = Math.min(corpusChunk, nc - c0);
    const c = truncateRows(corpusEmb, c0, ncc, D, d, normalize);
    for (let q0 = 0; q0 < nq; q0 += queryChunk) {
      signal?.throwIfAborted();
      const nqc = Math.min(queryChunk, nq - q0);
      const s = await backend.scores(q.subarray(q0 * d, (q0 + nqc) * d), c, nqc, ncc, d);
      if (s.length !== nqc * ncc) throw new Error(`score backend ${backend.name} returned ${s.length} scores, expected ${nqc}×${ncc}`);
      for (let i = 0; i < nqc; i++) {
        const qi = q0 + i;
        const base = qi * k;
        let n = size[qi];
        const row = i * ncc;
        for (let j = 0; j < ncc; j++) {
          const v = s[row + j];
          const cj = c0 + j;
          if (n < k) {
            heapPush(heapScore, heapIdx, base, n, v, cj, idRank);
            n++;
          } else {
            const rs = heapScore[base];
            if (v < rs || (v === rs && idRank[cj] > idRank[heapIdx[base]])) continue;
            heapScore[base] = v;
            heapIdx[base] = cj;
            siftDown(heapScore, heapIdx, base, k, idRank);
          }
        }
        size[qi] = n;
      }
    }
  }
  const lists: RankedList[] = [];
  for (let i = 0; i < nq; i++) {
    const base = i * k;
    const entries = Array.from({ length: size[i] }, (_, t) => t).map((t) => ({ s: heapScore[base + t], j: heapIdx[base + t] }));
    entries.sort((a, b) => (b.s !== a.s ? b.s - a.s : idRank[a.j] - idRank[b.j]));
    lists.push({ idx: entries.map((e) => e.j), scores: entries.map((e) => e.s) });
  }
  return lists;
}

/** a is worse than b in the (−score, id rank) order. */
function worse(sa: number, ja: number, sb: number, jb: number, idRank: Int32Array): boolean {
  return sa < sb || (sa === sb && idRank[ja] > idRank[jb]);
}

function heapPush(hs: Float32Array, hi: Int32Array, base: number, n: number, v: number, j: number, idRank: Int32Array): void {
  let t = n;
  hs[base + t] = v;
  hi[base + t] = j;
  while (t > 0) {
    const p = (t - 1) >> 1;
    if (!worse(hs[base + t], hi[base + t], hs[base + p], hi[base + p], idRank)) break;
    swap(hs, hi, base + t, base + p);
    t = p;
  }
}

function siftDown(hs: Float32Array, hi: Int32Array, base: number, n: number, idRank: Int32Array): void {
  let t = 0;
  for (;;) {
    const l = 2 * t + 1;
    if (l >= n) return;
    let m = l;
    const r = l + 1;
    if (r < n && worse(hs[base + r], hi[base + r], hs[base + l], hi[base + l], idRank)) m = r;
    if (!worse(hs[base + m], hi[base + m], hs[base + t], hi[base + t], idRank)) return;
    swap(hs, hi, base + t, base + m);
    t = m;
  }
}

function swap(hs: Float32Array, hi: Int32Array, a: number, b: number): void {
  const s = hs[a];
  hs[a] = hs[b];
  hs[b] = s;
  const j = hi[a];
  hi[a] = hi[b];
  hi[b] = j;
}

/**
 * The metric table of docs/evaluation.md#metrics, one value per (metric, k), keys in
 * sentence-transformers' order: accuracy, precision, recall, ndcg, mrr, map. ranked: corpus ids
 * best first, cut to max_k.
 */
export function computeMetrics(
  ranked: readonly DocId[][],
  relevant: readonly DocId[][],
  ks: IrKs,
): Map<string, Map<number, number>> {
  const n = ranked.length;
  const acc = new Map(ks.accuracyAtK.map((k) => [k, 0]));
  const prec = new Map(ks.precisionRecallAtK.map((k) => [k, 0]));
  const rec = new Map(ks.precisionRecallAtK.map((k) => [k, 0]));
  const ndcg = new Map(ks.ndcgAtK.map((k) => [k, 0]));
  const mrr = new Map(ks.mrrAtK.map((k) => [k, 0]));
  const map = new Map(ks.mapAtK.map((k) => [k, 0]));
  for (let qi = 0; qi < n; qi++) {
    const rel = new Set(relevant[qi]);
    const nR = relevant[qi].length;
    const hit = ranked[qi].map((id) => (rel.has(id) ? 1 : 0));
    const hitsIn = (k: number) => {
      let c = 0;
      for (let r = 0; r < Math.min(k, hit.length); r++) c += hit[r];
      return c;
    };
    for (const k of ks.accuracyAtK) if (hitsIn(k) > 0) acc.set(k, (acc.get(k) as number) + 1);
    for (const k of ks.precisionRecallAtK) {
      const c = hitsIn(k);
      prec.set(k, (prec.get(k) as number) + c / k);
      rec.set(k, (rec.get(k) as number) + c / nR);
    }
    for (const k of ks.mrrAtK) {
      for (let r = 0; r < Math.min(k, hit.length); r++) {
        if (hit[r]) {
          mrr.set(k, (mrr.get(k) as number) + 1 / (r + 1));
          break;
        }
      }
    }
    for (const k of ks.ndcgAtK) {
      let dcg = 0;
      for (let r = 0; r < Math.min(k, hit.length); r++) dcg += hit[r] / Math.log2(r + 2);
      let idcg = 0;
      for (let r = 0; r < Math.min(k, nR); r++) idcg += 1 / Math.log2(r + 2);
      ndcg.set(k, (ndcg.get(k) as number) + dcg / idcg);
    }
    for (const k of ks.mapAtK) {
      let found = 0;
      let sum = 0;
      for (let r = 0; r < Math.min(k, hit.length); r++) {
        if (hit[r]) {
          found++;
          sum += found / (r + 1);
        }
      }
      map.set(k, (map.get(k) as number) + sum / Math.min(k, nR));
    }
  }
  const mean = (m: Map<number, number>) => new Map([...m].map(([k, v]) => [k, v / n]));
  return new Map([
    ['accuracy', mean(acc)],
    ['precision', mean(prec)],
    ['recall', mean(rec)],
    ['ndcg', mean(ndcg)],
    ['mrr', mean(mrr)],
    ['map', mean(map)],
  ]);
}

function validateDims(dims: number[], D: number): void {
  if (dims.length === 0) throw new Error('dims is empty');
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 1 || d > D) throw new Error(`Matryoshka dim ${d} is not an integer in [1, ${D}]`);
  }
  if (new Set(dims).size !== dims.length) throw new Error(`dims ${dims.join(',')} has repeats (their metric keys would collide)`);
}

function validateKs(key: string, list: number[]): void {
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${key} is empty`);
  for (const k of list) if (!Number.isInteger(k) || k < 1) throw new Error(`${key}: k=${k} is not a positive integer`);
  // sentence-transformers would count a repeated k twice in accuracy@k and mrr@k.
  if (new Set(list).size !== list.length) throw new Error(`${key} has repeats`);
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
  return v;
}

function assertFinite(x: Float32Array, what: string): void {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`${what}: value ${x[i]} at ${i} is not finite`);
}

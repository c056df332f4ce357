// The general-retrieval guard's evaluator: sentence-transformers' NanoBEIREvaluator over our IR
// evaluator, as docs/evaluation.md#the-general-retrieval-guard-nanobeir defines it —
//   - the 13 subsets it knows, by its lower-case keys (msmarco, scifact, …), each evaluated as an
//     InformationRetrievalEvaluator named `Nano{Name}` (`Nano{Name}_{dim}` when truncated);
//   - a subset's tables turned into the evaluator's dicts: corpus and queries `{_id: text}` with
//     empty texts dropped (a repeated _id keeps its first place and its last text, as a dict),
//     qrels as sets `{query-id: {corpus-id}}`;
//   - the aggregate: each metric key of every subset, with the subset's name split off, averaged
//     with np.mean (numpy's pairwise sum, then ÷ n) into `NanoBEIR_mean[_{dim}]_{fn}_{metric}@{k}`;
//     primary metric `NanoBEIR_mean[_{dim}]_{fn}_ndcg@{max k}`;
//   - one such evaluator per Matryoshka dim (truncate_dim), in the dims' order, as a
//     SequentialEvaluator would run them.
// It embeds nothing itself (evaluate-model.ts does) and reads no files (src/lib/run/guard.ts
// loads the Hub tables).

import type { Table } from '../data/parse.ts';
import type { BatchEncoder } from '../models/embed-texts.ts';
import type { TextPrompts } from '../models/prompts.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { evaluateModel, type EvalProgress } from './evaluate-model.ts';
import type { IrKs, ScoreFunction, ScoreBackend } from './ir-metrics.ts';
import { explicitIrSet, type DocId, type IrSet } from './ir-set.ts';

/** One NanoBEIR subset: the evaluator's key, its readable name, its old per-subset repo. */
export interface NanoBeirSubset {
  /** NanoBEIREvaluator's dataset name (lower case). */
  key: string;
  /** `Nano{Name}`: the split in NanoBEIR-en and the evaluator's name. */
  name: string;
  /** The older per-subset repo (configs corpus/queries/qrels, split `train`). */
  zetaRepo: string;
  /** Corpus documents and queries in the published subset, for the size and time estimate. */
  docs: number;
  queries: number;
}

const subset = (key: string, human: string, docs: number, queries: number): NanoBeirSubset => ({
  key,
  name: `Nano${human}`,
  zetaRepo: `zeta-alpha-ai/Nano${human}`,
  docs,
  queries,
});

/** The 13 subsets in NanoBEIREvaluator's order; corpus and query counts of the published subsets (for the page's size and time estimate only). */
export const NANOBEIR_SUBSETS: readonly NanoBeirSubset[] = [
  subset('climatefever', 'ClimateFEVER', 3408, 50),
  subset('dbpedia', 'DBPedia', 6045, 50),
  subset('fever', 'FEVER', 4996, 50),
  subset('fiqa2018', 'FiQA2018', 4598, 50),
  subset('hotpotqa', 'HotpotQA', 5090, 50),
  subset('msmarco', 'MSMARCO', 5043, 50),
  subset('nfcorpus', 'NFCorpus', 2953, 50),
  subset('nq', 'NQ', 5035, 50),
  subset('quoraretrieval', 'QuoraRetrieval', 5046, 50),
  subset('scidocs', 'SCIDOCS', 2210, 50),
  subset('arguana', 'ArguAna', 3635, 50),
  subset('scifact', 'SciFact', 2919, 50),
  subset('touche2020', 'Touche2020', 5745, 49),
];

/** The repo NanoBEIREvaluator reads today: configs corpus, queries, qrels; one split per subset. */
export const NANOBEIR_EN_REPO = 'sentence-transformers/NanoBEIR-en';

/** The page's default: the three cheapest to encode (fewest corpus tokens: short texts; README "what it costs"). */
export const DEFAULT_GUARD_SUBSETS: readonly string[] = ['msmarco', 'hotpotqa', 'quoraretrieval'];

/**
 * A subset by NanoBEIREvaluator's key, its readable name or `Nano{Name}`, case-insensitively
 * (`msmarco`, `MSMARCO`, `NanoMSMARCO`); unknown names throw with the list.
 */
export function resolveNanoBeirSubset(name: string): NanoBeirSubset {
  const n = name.trim().toLowerCase().replace(/^nano/, '');
  const hit = NANOBEIR_SUBSETS.find((s) => s.key === n || s.name.toLowerCase() === `nano${n}`);
  if (!hit) throw new Error(`"${name}" is not a NanoBEIR subset; the subsets are ${NANOBEIR_SUBSETS.map((s) => s.key).join(', ')}`);
  return hit;
}

/** A list of names (comma-separated or given), resolved, without repeats. */
export function resolveNanoBeirSubsets(names: string | readonly string[]): NanoBeirSubset[] {
  const list = (typeof names === 'string' ? names.split(',') : names).map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new Error('no NanoBEIR subset named');
  const out = list.map(resolveNanoBeirSubset);
  const repeated = out.find((s, i) => out.findIndex((t) => t.key === s.key) !== i);
  if (repeated) throw new Error(`NanoBEIR subset ${repeated.name} is named twice`);
  return out;
}

function idOf(v: unknown, what: string): DocId {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  throw new Error(`${what}: ${JSON.stringify(v) ?? String(v)} is not a string or number id`);
}

function requireColumns(t: Table, cols: string[], what: string): void {
  const missing = cols.filter((c) => !t.columns.includes(c));
  if (missing.length) throw new Error(`${what} has no column ${missing.join(', ')} (columns: ${t.columns.join(', ')})`);
}

/** `{_id: text}` as the evaluator's dict comprehension builds it: empty texts dropped. */
function textDict(t: Table, what: string): Map<DocId, string> {
  requireColumns(t, ['_id', 'text'], what);
  const out = new Map<DocId, string>();
  t.rows.forEach((r, i) => {
    const text = r.text;
    if (typeof text !== 'string') throw new Error(`${what} row ${i}: text is ${text === null ? 'null' : typeof text}, not a string`);
    if (text.length > 0) out.set(idOf(r._id, `${what} row ${i} _id`), text);
  });
  return out;
}

/** A subset's three tables → the IR set NanoBEIREvaluator hands its InformationRetrievalEvaluator. */
export function nanoBeirIrSet(tables: { corpus: Table; queries: Table; qrels: Table }, name = 'NanoBEIR subset'): IrSet {
  const corpus = textDict(tables.corpus, `${name} corpus`);
  const queries = textDict(tables.queries, `${name} queries`);
  requireColumns(tables.qrels, ['query-id', 'corpus-id'], `${name} qrels`);
  const sets = new Map<DocId, Set<DocId>>();
  tables.qrels.rows.forEach((r, i) => {
    const q = idOf(r['query-id'], `${name} qrels row ${i} query-id`);
    let s = sets.get(q);
    if (!s) sets.set(q, (s = new Set()));
    s.add(idOf(r['corpus-id'], `${name} qrels row ${i} corpus-id`));
  });
  return explicitIrSet(queries, corpus, [...sets].map(([q, s]) => [q, [...s]] as const));
}

/** np.mean of float64 values: numpy's pairwise sum (8 accumulators up to 128 values), then ÷ n. */
export function numpyMean(xs: readonly number[]): number {
  return pairwiseSum(xs, 0, xs.length) / xs.length;
}

function pairwiseSum(a: readonly number[], lo: number, n: number): number {
  if (n < 8) {
    let s = 0;
    for (let i = lo; i < lo + n; i++) s += a[i];
    return s;
  }
  if (n <= 128) {
    const r = a.slice(lo, lo + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[lo + i + j];
    let s = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) s += a[lo + i];
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** One subset's metrics for one dim, keyed as its evaluator returns them (`Nano{Name}_{dim}_{fn}_{metric}@{k}`). */
export interface NanoSubsetResult {
  subset: string;
  name: string;
  dim: number;
  numQueries: number;
  numCorpus: number;
  metrics: Record<string, number>;
}

export interface NanoBeirDimResult {
  dim: number;
  /** `NanoBEIR_mean_{dim}`. */
  name: string;
  /** The mean keys, `NanoBEIR_mean_{dim}_{fn}_{metric}@{k}`. */
  mean: Record<string, number>;
  primaryMetric: string;
  subsets: NanoSubsetResult[];
}

export interface NanoBeirResult {
  format: 'tabtune.nanobeir';
  version: 1;
  /** Subset keys, in the order evaluated. */
  subsets: string[];
  dims: number[];
  /** Per dim: every subset's keys, then the mean's — NanoBEIREvaluator's returned dict, dims in order. */
  metrics: Record<string, number>;
  byDim: NanoBeirDimResult[];
  /** Primary metric of the last dim (a SequentialEvaluator's score). */
  primaryMetric: string;
  timing: { embedS: number; scoreS: number; texts: number };
}

/**
 * NanoBEIREvaluator's aggregation for one dim: per subset's keys, the metric is what follows the
 * subset's name (split at as many underscores as `NanoBEIR_mean_{dim}` has), averaged in the
 * subsets' order.
 */
export function aggregateNanoBeir(dim: number, subsets: NanoSubsetResult[], maxNdcgK: number, mainScoreFunction?: ScoreFunction): NanoBeirDimResult {
  const name = `NanoBEIR_mean_${dim}`;
  const cut = name.split('_').length - 1;
  const perMetric = new Map<string, number[]>();
  for (const s of subsets) {
    for (const [key, v] of Object.entries(s.metrics)) {
      const parts = key.split('_');
      const metric = parts.slice(cut).join('_');
      let list = perMetric.get(metric);
      if (!list) perMetric.set(metric, (list = []));
      list.push(v);
    }
  }
  const mean: Record<string, number> = {};
  for (const [metric, list] of perMetric) mean[`${name}_${metric}`] = numpyMean(list);
  let fn = mainScoreFunction;
  if (fn === undefined) {
    // max over the sorted function names; the first wins a tie (Python's max).
    let best = -Infinity;
    for (const f of [...new Set([...perMetric.keys()].map((m) => m.split('_')[0]))].sort() as ScoreFunction[]) {
      const v = mean[`${name}_${f}_ndcg@${maxNdcgK}`];
      if (v !== undefined && v > best) {
        best = v;
        fn = f;
      }
    }
  }
  return { dim, name, mean, primaryMetric: `${name}_${fn}_ndcg@${maxNdcgK}`, subsets };
}

/** Per subset and dim results → the whole result (keys in NanoBEIREvaluator's order, dims in order). */
export function assembleNanoBeir(
  dims: readonly number[],
  perSubset: { key: string; results: NanoSubsetResult[] }[],
  maxNdcgK: number,
  timing: NanoBeirResult['timing'],
  mainScoreFunction?: ScoreFunction,
): NanoBeirResult {
  const byDim = dims.map((d) =>
    aggregateNanoBeir(
      d,
      perSubset.map((s) => s.results.find((r) => r.dim === d)!),
      maxNdcgK,
      mainScoreFunction,
    ),
  );
  const metrics: Record<string, number> = {};
  for (const r of byDim) {
    for (const s of r.subsets) Object.assign(metrics, s.metrics);
    Object.assign(metrics, r.mean);
  }
  return {
    format: 'tabtune.nanobeir',
    version: 1,
    subsets: perSubset.map((s) => s.key),
    dims: [...dims],
    metrics,
    byDim,
    primaryMetric: byDim[byDim.length - 1].primaryMetric,
    timing,
  };
}

export interface GuardProgress {
  /** Which subset (index into the list) and its own progress. */
  subset: number;
  subsets: number;
  name: string;
  progress: EvalProgress;
}

export interface EvaluateNanoBeirOptions {
  encoder: BatchEncoder;
  tokenizer: Pick<TextTokenizer, 'encodeBatch'>;
  /** The subsets, loaded, in the order to evaluate. */
  sets: { subset: NanoBeirSubset; set: IrSet }[];
  dims: readonly number[];
  /** The model's query / document prompts (the evaluator's query_prompts / corpus_prompts). */
  prompts?: TextPrompts;
  scoreFunctions?: readonly ScoreFunction[];
  mainScoreFunction?: ScoreFunction;
  ks?: Partial<IrKs>;
  batchSize?: number;
  backend?: ScoreBackend;
  onProgress?: (p: GuardProgress) => void;
  signal?: AbortSignal;
}

/** Embeds each subset once (every dim reuses the embeddings) and aggregates per dim. */
export async function evaluateNanoBeir(o: EvaluateNanoBeirOptions): Promise<NanoBeirResult> {
  if (o.sets.length === 0) throw new Error('no NanoBEIR subset to evaluate');
  const perSubset: { key: string; results: NanoSubsetResult[] }[] = [];
  const timing = { embedS: 0, scoreS: 0, texts: 0 };
  for (const [i, { subset: s, set }] of o.sets.entries()) {
    const r = await evaluateModel({
      encoder: o.encoder,
      tokenizer: o.tokenizer,
      set,
      dims: o.dims,
      prompts: o.prompts,
      scoreFunctions: o.scoreFunctions,
      mainScoreFunction: o.mainScoreFunction,
      ks: o.ks,
      batchSize: o.batchSize,
      backend: o.backend,
      signal: o.signal,
      evaluatorName: (d) => `${s.name}_${d}`,
      onProgress: o.onProgress && ((progress) => o.onProgress!({ subset: i, subsets: o.sets.length, name: s.name, progress })),
    });
    timing.embedS += r.timing.embedS;
    timing.scoreS += r.timing.scoreS;
    timing.texts += r.timing.texts;
    perSubset.push({
      key: s.key,
      results: r.evaluators.map((e) => ({ subset: s.key, name: s.name, dim: e.dim, numQueries: r.numQueries, numCorpus: r.numCorpus, metrics: e.metrics })),
    });
  }
  const maxNdcgK = Math.max(...(o.ks?.ndcgAtK ?? [10]));
  return assembleNanoBeir(o.dims, perSubset, maxNdcgK, timing, o.mainScoreFunction);
}

/** The guard's headline figure: the mean nDCG@10 of the first (largest) dim's primary score function. */
export function guardHeadline(r: NanoBeirResult): { key: string; value: number } {
  const key = r.byDim[0].primaryMetric;
  return { key, value: r.metrics[key] };
}

/** Own-data gain beside the general change, and whether the general figure fell by more than the threshold. */
export interface GuardVerdict {
  generalBefore: number;
  generalAfter: number;
  /** after − before, in nDCG points (0–100 scale). */
  generalChange: number;
  ownChange?: number;
  /** The threshold in nDCG points (0–100 scale) the drop was compared with. */
  threshold: number;
  dropped: boolean;
  /** Plain words for the page and the log. */
  message: string;
}

export function guardVerdict(before: NanoBeirResult, after: NanoBeirResult, thresholdPoints: number, own?: { before: number; after: number }): GuardVerdict {
  const key = before.byDim[0].primaryMetric;
  const b = before.metrics[key];
  const a = after.metrics[key];
  if (b === undefined || a === undefined) throw new Error(`the guard's before and after figures do not share ${key}`);
  const change = (a - b) * 100;
  const ownChange = own ? (own.after - own.before) * 100 : undefined;
  const dropped = -change > thresholdPoints;
  const pts = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)} points`;
  const own_ = ownChange === undefined ? '' : `On your own test data nDCG@10 changed by ${pts(ownChange)}. `;
  const message = dropped
    ? `${own_}General retrieval got worse: NanoBEIR nDCG@10 fell from ${(b * 100).toFixed(1)} to ${(a * 100).toFixed(1)} (${pts(change)}), more than the ${thresholdPoints} you allow. The model may have forgotten general retrieval while learning your data; try fewer epochs, a lower learning rate, or LoRA.`
    : `${own_}General retrieval (NanoBEIR nDCG@10) changed by ${pts(change)}, within the ${thresholdPoints} points you allow.`;
  return { generalBefore: b, generalAfter: a, generalChange: change, ownChange, threshold: thresholdPoints, dropped, message };
}

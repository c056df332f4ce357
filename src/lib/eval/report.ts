// Presents IR evaluator results: the before/after table the seed prints (one line per Matryoshka
// dimension: dim, before, after, delta of nDCG@10 by default) as text, and plain JSON-able objects
// for run history, the model card and the CLI's --json output.
// It computes no metric (that is ir-metrics.ts) and renders no HTML (the UI does).

import type { IrResult, ScoreFunction } from './ir-metrics.ts';
import type { TripletResult } from './triplet-eval.ts';

/**
 * One evaluation of a run: the Matryoshka IR evaluator, and the triplet evaluator when the test
 * split has negatives (its `dim_{d}_cosine_accuracy` keys merged into `metrics`, as
 * sentence-transformers' SequentialEvaluator merges its evaluators' metrics). The run record keeps
 * it and the model card shows it, so it lives here, below both.
 */
export type RunEvaluation = IrResult & { triplet?: TripletResult };

export interface TableOptions {
  /** Metric name with its k, as in the keys: 'ndcg@10' (default), 'map@100', 'mrr@10', … */
  metric?: string;
  scoreFunction?: ScoreFunction;
  /** Digits after the point (default 4, as the seed's reported numbers). */
  digits?: number;
}

export interface BeforeAfterRow {
  dim: number;
  /** The metric key without the evaluator prefix, e.g. `cosine_ndcg@10`. */
  key: string;
  before: number;
  after: number;
  delta: number;
}

/** One row per evaluator of `after`, matched to `before` by dim (both must have it). */
export function beforeAfterRows(before: IrResult, after: IrResult, options: TableOptions = {}): BeforeAfterRow[] {
  const key = `${options.scoreFunction ?? 'cosine'}_${options.metric ?? 'ndcg@10'}`;
  return after.evaluators.map((ev) => {
    const prev = before.evaluators.find((b) => b.dim === ev.dim);
    if (prev === undefined) throw new Error(`the "before" result has no evaluator for dim ${ev.dim}`);
    const a = ev.metrics[`${ev.name}_${key}`];
    const b = prev.metrics[`${prev.name}_${key}`];
    if (a === undefined || b === undefined) throw new Error(`no metric ${key} for dim ${ev.dim}`);
    return { dim: ev.dim, key, before: b, after: a, delta: a - b };
  });
}

/**
 * ```
 * dim   before  after   delta    (cosine_ndcg@10)
 * 768   0.8987  0.9397  +0.0410
 * ```
 */
export function formatBeforeAfterTable(before: IrResult, after: IrResult, options: TableOptions = {}): string {
  const digits = options.digits ?? 4;
  const rows = beforeAfterRows(before, after, options);
  const key = rows[0]?.key ?? `${options.scoreFunction ?? 'cosine'}_${options.metric ?? 'ndcg@10'}`;
  const cells = [
    ['dim', 'before', 'after', 'delta'],
    ...rows.map((r) => [
      String(r.dim),
      r.before.toFixed(digits),
      r.after.toFixed(digits),
      (r.delta >= 0 ? '+' : '-') + Math.abs(r.delta).toFixed(digits),
    ]),
  ];
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const lines = cells.map((row) =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '),
  );
  lines[0] += `   (${key})`;
  return lines.join('\n');
}

export interface IrReportJson {
  format: 'tabtune.ir-eval';
  version: 1;
  backend: string;
  numQueries: number;
  numCorpus: number;
  primaryMetric: 'sequential_score';
  sequentialScore: number;
  /** Every key of the SequentialEvaluator, in sentence-transformers' order. */
  metrics: Record<string, number>;
  evaluators: { name: string; dim: number; primaryMetric: string }[];
  hits?: { name: string; dim: number; hits: IrResult['evaluators'][number]['hits'] }[];
}

export function irResultToJson(result: IrResult, options: { includeHits?: boolean } = {}): IrReportJson {
  const out: IrReportJson = {
    format: 'tabtune.ir-eval',
    version: 1,
    backend: result.backend,
    numQueries: result.numQueries,
    numCorpus: result.numCorpus,
    primaryMetric: result.primaryMetric,
    sequentialScore: result.sequentialScore,
    metrics: { ...result.metrics },
    evaluators: result.evaluators.map((e) => ({ name: e.name, dim: e.dim, primaryMetric: e.primaryMetric })),
  };
  if (options.includeHits) {
    out.hits = result.evaluators.filter((e) => e.hits).map((e) => ({ name: e.name, dim: e.dim, hits: e.hits }));
  }
  return out;
}

export interface BeforeAfterJson {
  format: 'tabtune.ir-before-after';
  version: 1;
  key: string;
  rows: BeforeAfterRow[];
  before: IrReportJson;
  after: IrReportJson;
}

export function beforeAfterToJson(before: IrResult, after: IrResult, options: TableOptions = {}): BeforeAfterJson {
  const rows = beforeAfterRows(before, after, options);
  return {
    format: 'tabtune.ir-before-after',
    version: 1,
    key: `${options.scoreFunction ?? 'cosine'}_${options.metric ?? 'ndcg@10'}`,
    rows,
    before: irResultToJson(before),
    after: irResultToJson(after),
  };
}

export interface MetricRow {
  /** The metric without evaluator prefix and score function, e.g. `ndcg@10`. */
  metric: string;
  /** Per evaluator dim, in the result's order: the value, and the other result's when given. */
  values: { dim: number; value: number; before: number | null }[];
}

/**
 * Every metric of a result as rows × dims (sentence-transformers' key order: accuracy@k,
 * precision@k, recall@k, mrr@k, ndcg@k, map@k), with `before`'s value beside each when given.
 */
export function metricRows(result: IrResult, before: IrResult | null = null, scoreFunction: ScoreFunction = 'cosine'): MetricRow[] {
  const first = result.evaluators[0];
  if (!first) return [];
  const prefix = `${first.name}_${scoreFunction}_`;
  const metrics = Object.keys(first.metrics).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  return metrics.map((metric) => ({
    metric,
    values: result.evaluators.map((e) => {
      const b = before?.evaluators.find((x) => x.dim === e.dim);
      return { dim: e.dim, value: e.metrics[`${e.name}_${scoreFunction}_${metric}`], before: b ? b.metrics[`${b.name}_${scoreFunction}_${metric}`] : null };
    }),
  }));
}

/** The rows as a Markdown table: one column per dim, "before → after" cells when before is given. */
export function metricsMarkdown(rows: MetricRow[], digits = 4): string {
  if (!rows.length) return '';
  const dims = rows[0].values.map((v) => v.dim);
  const cell = (v: MetricRow['values'][number]) => (v.before === null ? v.value.toFixed(digits) : `${v.before.toFixed(digits)} → ${v.value.toFixed(digits)}`);
  return [`| metric | ${dims.map((d) => `dim ${d}`).join(' | ')} |`, `|---|${dims.map(() => '---:').join('|')}|`, ...rows.map((r) => `| ${r.metric} | ${r.values.map(cell).join(' | ')} |`)].join('\n');
}

/** The seed notebook's printout: one `key: value` line per metric, full precision. */
export function seedFormat(result: IrResult): string {
  return Object.entries(result.metrics).map(([k, v]) => `${k}: ${v}`).join('\n');
}

// The numbers behind the page's plots, as columns: the training curves from step events (with the
// loss smoothed as TensorBoard smooths it) and CSV for "download the data". No DOM.

import type { StepEvent } from '../../workers/api.ts';

/**
 * Exponential moving average with TensorBoard's debiasing: s_t = w·s_{t-1} + (1−w)·x_t, divided
 * by 1 − w^t so the first points are not pulled towards zero. weight 0 returns the values.
 */
export function smoothEma(values: readonly number[], weight = 0.6): number[] {
  let s = 0;
  return values.map((x, i) => {
    s = weight * s + (1 - weight) * x;
    return weight === 0 ? x : s / (1 - weight ** (i + 1));
  });
}

export interface TrainingCurves {
  update: number[];
  loss: number[];
  lossSmoothed: number[];
  lr: number[];
  gradNorm: number[];
  /** null before the rate is known (the first updates). */
  tokensPerS: (number | null)[];
}

export function trainingCurves(steps: readonly StepEvent[], smoothing = 0.6): TrainingCurves {
  const loss = steps.map((s) => s.loss);
  return {
    update: steps.map((s) => s.step),
    loss,
    lossSmoothed: smoothEma(loss, smoothing),
    lr: steps.map((s) => s.lr),
    gradNorm: steps.map((s) => s.gradNorm),
    tokensPerS: steps.map((s) => s.tokensPerS),
  };
}

/** RFC 4180 CSV: a header row, then one row per index of the columns; null is an empty cell. */
export function toCsv(header: readonly string[], columns: readonly (readonly (number | null)[])[]): string {
  const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const n = Math.max(0, ...columns.map((c) => c.length));
  const rows = [header.map(quote).join(',')];
  for (let i = 0; i < n; i++) rows.push(columns.map((c) => (c[i] === null || c[i] === undefined ? '' : String(c[i]))).join(','));
  return rows.join('\r\n') + '\r\n';
}

/** One evaluation during training as the plot reads it (the run record's evals, the engine's view). */
export interface EvalPoint {
  step: number;
  result: { evaluators: readonly { dim: number; name: string; metrics: Record<string, number> }[] };
}

/**
 * nDCG@10 (cosine) per Matryoshka dim against updates, from the evaluations during training in
 * update order: `update` the x column, one column per dim (dims in the first evaluation's order).
 */
export function evalCurves(evals: readonly EvalPoint[]): { update: number[]; dims: number[]; ndcg: number[][] } {
  const sorted = [...evals].sort((a, b) => a.step - b.step);
  const dims = sorted[0]?.result.evaluators.map((e) => e.dim) ?? [];
  return {
    update: sorted.map((e) => e.step),
    dims,
    ndcg: dims.map((d) => sorted.map((e) => {
      const ev = e.result.evaluators.find((x) => x.dim === d);
      return ev ? ev.metrics[`${ev.name}_cosine_ndcg@10`] : Number.NaN;
    })),
  };
}

// Evaluation during training, as numbers (docs/training.md#evaluation-during-training): the metric
// that picks the best checkpoint and its value in an evaluation, which evaluation is the best so far,
// how many evaluations have passed without improvement (early stopping), and how many updates to
// leave between evaluations so they stay under a share of the run's time.
// Pure functions over evaluation results: no store, no runtime. When to evaluate and what to keep
// is run.ts'; the record's fields are record.ts'.

import type { IrResult } from '../eval/ir-metrics.ts';
import { RunConfigError } from '../train/run-config.ts';

/** eval.best when the user names none: nDCG@10 averaged over the evaluation dims (the Matryoshka dims). */
export const DEFAULT_BEST_METRIC = 'mean';
/** The share of a run's time that evaluation during training should stay under (eval.everyUpdates 'auto'). */
export const EVAL_TIME_SHARE = 0.15;
/**
 * An encoder forward pass costs about a third of a training update's forward + backward for the
 * same texts (the backward pass is about twice the forward): how an evaluation is estimated before
 * one has been timed.
 */
export const FORWARD_SHARE_OF_UPDATE = 1 / 3;

/** The metric key eval.best names for one evaluator dim ('dim_768' → nDCG@10 at 768). */
const keyOf = (metric: string) => (/^dim_\d+$/.test(metric) ? `${metric}_cosine_ndcg@10` : metric);

/** The words for a metric: 'mean nDCG@10', 'dim_768 nDCG@10', or the key itself. */
export function metricWords(metric: string): string {
  if (metric === 'mean') return 'mean nDCG@10';
  if (/^dim_\d+$/.test(metric)) return `${metric} nDCG@10`;
  return metric;
}

/**
 * The value of `metric` in an evaluation: 'mean' is the mean over its evaluators of
 * `dim_{d}_cosine_ndcg@10`; 'dim_{d}' that dim's nDCG@10; anything else the metric key itself.
 * A RunConfigError names eval.best when the evaluation has no such metric.
 */
export function metricValue(r: Pick<IrResult, 'evaluators' | 'metrics'>, metric: string): number {
  if (metric === 'mean') {
    const v = r.evaluators.map((e) => e.metrics[`${e.name}_cosine_ndcg@10`]);
    if (!v.length || v.some((x) => x === undefined)) throw new RunConfigError('eval.best', 'the evaluation has no nDCG@10 to average');
    return v.reduce((a, b) => a + b, 0) / v.length;
  }
  const value = r.metrics[keyOf(metric)];
  if (value === undefined) {
    const dims = r.evaluators.map((e) => `dim_${e.dim}`).join(', ');
    throw new RunConfigError('eval.best', `this run's evaluation has no ${keyOf(metric)} (its dims: ${dims}; or "mean")`);
  }
  return value;
}

/** Checks eval.best against the run's evaluation dims before anything runs. */
export function checkBestMetric(metric: string, dims: readonly number[]): void {
  const m = /^dim_(\d+)/.exec(metric);
  if (m && !dims.includes(Number(m[1]))) {
    throw new RunConfigError('eval.best', `dim ${m[1]} is not evaluated in this run (its dims: ${dims.map((d) => `dim_${d}`).join(', ')}; or "mean")`);
  }
}

export interface ScoredEval {
  step: number;
  value: number;
}

/**
 * The best of evaluations in update order: the highest value, the earliest on a tie (an evaluation
 * must beat the best strictly to replace it, as the HF Trainer's `greater_is_better` comparison
 * does), and how many evaluations came after it (early stopping's count).
 */
export function bestOf(evals: readonly ScoredEval[]): { best: ScoredEval; since: number } | null {
  let best: ScoredEval | null = null;
  let since = 0;
  for (const e of evals) {
    if (best === null || e.value > best.value) {
      best = e;
      since = 0;
    } else since++;
  }
  return best && { best, since };
}

/**
 * Updates between evaluations so they take at most `share` of the run's time: with E seconds per
 * evaluation and U per update, evaluating every N updates spends E / (E + N·U) of the time on
 * evaluation, which is ≤ share when N ≥ E·(1 − share) / (share·U). At least 1, at most the run.
 */
export function evalEvery(o: { evalS: number; updateS: number; maxSteps: number; share?: number }): number {
  const share = o.share ?? EVAL_TIME_SHARE;
  if (!(o.updateS > 0) || !(o.evalS >= 0)) return o.maxSteps;
  const n = Math.ceil((o.evalS * (1 - share)) / (share * o.updateS));
  return Math.max(1, Math.min(o.maxSteps, n));
}

/**
 * An evaluation's time before one has been measured: the texts it embeds, at a forward pass's
 * share of the time an update takes for its own texts (FORWARD_SHARE_OF_UPDATE).
 */
export function estimateEvalS(o: { evalTexts: number; textsPerUpdate: number; updateS: number }): number {
  return (o.evalTexts / Math.max(1, o.textsPerUpdate)) * o.updateS * FORWARD_SHARE_OF_UPDATE;
}

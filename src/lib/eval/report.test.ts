import { describe, expect, it } from 'vitest';
import type { IrResult } from './ir-metrics.ts';
import { beforeAfterRows, beforeAfterToJson, formatBeforeAfterTable, irResultToJson, metricRows, metricsMarkdown, seedFormat } from './report.ts';

// The seed's reported nDCG@10 (docs/evaluation.md#the-seeds-ir-set).
const DIMS = [768, 512, 256, 128, 64];
const BEFORE = [0.8987, 0.8983, 0.8835, 0.8386, 0.7773];
const AFTER = [0.9397, 0.9251, 0.9234, 0.8867, 0.7658];

function result(values: number[]): IrResult {
  const evaluators = DIMS.map((dim, i) => ({
    name: `dim_${dim}`,
    dim,
    metrics: { [`dim_${dim}_cosine_ndcg@10`]: values[i], [`dim_${dim}_cosine_map@100`]: values[i] / 2 },
    primaryMetric: `dim_${dim}_cosine_ndcg@10`,
  }));
  const metrics: Record<string, number> = Object.assign({}, ...evaluators.map((e) => e.metrics));
  metrics.sequential_score = values[values.length - 1];
  return { metrics, evaluators, sequentialScore: values[4], primaryMetric: 'sequential_score', numQueries: 3, numCorpus: 9, backend: 'js' };
}

describe('report', () => {
  it('prints one aligned line per dim with signed deltas', () => {
    const text = formatBeforeAfterTable(result(BEFORE), result(AFTER));
    expect(text.split('\n')).toEqual([
      'dim  before   after    delta   (cosine_ndcg@10)',
      '768  0.8987  0.9397  +0.0410',
      '512  0.8983  0.9251  +0.0268',
      '256  0.8835  0.9234  +0.0399',
      '128  0.8386  0.8867  +0.0481',
      '64   0.7773  0.7658  -0.0115',
    ]);
  });

  it('selects another metric and refuses a dim missing from "before"', () => {
    const rows = beforeAfterRows(result(BEFORE), result(AFTER), { metric: 'map@100' });
    expect(rows[0].before).toBeCloseTo(0.8987 / 2, 12);
    const short = result(BEFORE);
    short.evaluators.pop();
    expect(() => beforeAfterRows(short, result(AFTER))).toThrow(/dim 64/);
    expect(() => beforeAfterRows(result(BEFORE), result(AFTER), { metric: 'mrr@10' })).toThrow(/no metric/);
  });

  it('JSON objects survive a JSON round trip unchanged, keys in order', () => {
    const j = beforeAfterToJson(result(BEFORE), result(AFTER));
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
    expect(Object.keys(irResultToJson(result(AFTER)).metrics).at(-1)).toBe('sequential_score');
    expect(j.rows.map((r) => r.dim)).toEqual(DIMS);
  });

  it('lists every metric per dim (before → after), as Markdown, and in the seed notebook\'s key: value form', () => {
    const rows = metricRows(result(AFTER), result(BEFORE));
    expect(rows.map((r) => r.metric)).toEqual(['ndcg@10', 'map@100']);
    expect(rows[0].values[0]).toEqual({ dim: 768, value: 0.9397, before: 0.8987 });
    expect(metricsMarkdown(rows).split('\n')).toEqual([
      '| metric | dim 768 | dim 512 | dim 256 | dim 128 | dim 64 |',
      '|---|---:|---:|---:|---:|---:|',
      '| ndcg@10 | 0.8987 → 0.9397 | 0.8983 → 0.9251 | 0.8835 → 0.9234 | 0.8386 → 0.8867 | 0.7773 → 0.7658 |',
      '| map@100 | 0.4494 → 0.4698 | 0.4491 → 0.4626 | 0.4417 → 0.4617 | 0.4193 → 0.4434 | 0.3886 → 0.3829 |',
    ]);
    expect(metricsMarkdown(metricRows(result(AFTER))).split('\n')[2]).toBe('| ndcg@10 | 0.9397 | 0.9251 | 0.9234 | 0.8867 | 0.7658 |');
    expect(seedFormat(result(AFTER)).split('\n').slice(0, 2)).toEqual(['dim_768_cosine_ndcg@10: 0.9397', 'dim_768_cosine_map@100: 0.46985']);
  });
});

// Loader for tests/reference/data/ir-golden.json (written by tests/reference/ir_reference.py, an
// independent numpy port of sentence-transformers' InformationRetrievalEvaluator): the cases and
// the inputs that evaluateIr needs for each. Shared by the metric tests and the engine-backend
// tests so both read the same data the same way. Not an evaluator.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareIr, type IrEvalOptions, type ScoreFunction } from '../../src/lib/eval/ir-metrics.ts';
import { explicitIrSet, type DocId } from '../../src/lib/eval/ir-set.ts';

export const IR_GOLDEN_PATH = join(dirname(fileURLToPath(import.meta.url)), 'data/ir-golden.json');
export const IR_GOLDEN_REGENERATE = '/usr/bin/python3 tests/reference/ir_reference.py';

export interface GoldenCase {
  name: string;
  D: number;
  dims: number[];
  score_functions: ScoreFunction[];
  main_score_function?: ScoreFunction;
  ks: Record<'accuracy_at_k' | 'precision_recall_at_k' | 'mrr_at_k' | 'ndcg_at_k' | 'map_at_k', number[]>;
  query_ids: DocId[];
  /** [n_queries, D] row-major, all queries (kept or not). */
  query_emb: number[];
  corpus_ids: DocId[];
  /** [n_corpus, D] row-major. */
  corpus_emb: number[];
  relevant: [DocId, DocId[]][];
  expected: {
    kept_query_ids: DocId[];
    metrics: [string, number][];
    primary_metrics: Record<string, string>;
    sequential_score: number;
    rankings_top10: Record<string, DocId[][]>;
  };
}

export function loadIrGolden(): { format_version: number; cases: GoldenCase[] } {
  return JSON.parse(readFileSync(IR_GOLDEN_PATH, 'utf8')) as { format_version: number; cases: GoldenCase[] };
}

/** The prepared set, the kept queries' embeddings in prepared order, the corpus, and the options. */
export function setupGoldenCase(c: GoldenCase) {
  const prepared = prepareIr(
    explicitIrSet(
      c.query_ids.map((id) => [id, `query ${id}`] as const),
      c.corpus_ids.map((id) => [id, `doc ${id}`] as const),
      c.relevant,
    ),
  );
  const allQ = Float32Array.from(c.query_emb);
  const q = new Float32Array(prepared.queryIds.length * c.D);
  prepared.queryIds.forEach((id, i) => {
    const row = c.query_ids.indexOf(id);
    q.set(allQ.subarray(row * c.D, (row + 1) * c.D), i * c.D);
  });
  const options: IrEvalOptions = {
    dims: c.dims,
    scoreFunctions: c.score_functions,
    mainScoreFunction: c.main_score_function,
    ks: {
      accuracyAtK: c.ks.accuracy_at_k,
      precisionRecallAtK: c.ks.precision_recall_at_k,
      mrrAtK: c.ks.mrr_at_k,
      ndcgAtK: c.ks.ndcg_at_k,
      mapAtK: c.ks.map_at_k,
    },
    topHits: Math.min(10, Math.max(...Object.values(c.ks).flat())),
  };
  return { prepared, q, corpus: Float32Array.from(c.corpus_emb), options };
}

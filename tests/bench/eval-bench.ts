// Timing of the Matryoshka IR evaluator on random embeddings (1,000 queries × 10,000 documents at
// D = 768, dims [768, 512, 256, 128, 64], cosine), for `npm run bench`. Only evaluateIr is timed,
// not the generation of the embeddings. It asserts nothing and is not run by the tests.

import { Rng } from '../../src/lib/util/rng.ts';
import { DEFAULT_MATRYOSHKA_DIMS, evaluateIr, type ScoreBackend } from '../../src/lib/eval/ir-metrics.ts';
import type { DocId } from '../../src/lib/eval/ir-set.ts';

export interface BenchEvalOptions {
  queries?: number;
  documents?: number;
  D?: number;
  backend?: ScoreBackend;
  seed?: number;
}

/** Milliseconds for one full evaluation (every Matryoshka dim, all metrics). */
export async function benchmarkEval(options: BenchEvalOptions = {}): Promise<number> {
  const nq = options.queries ?? 1000;
  const nc = options.documents ?? 10000;
  const D = options.D ?? 768;
  const rng = new Rng(options.seed ?? 1234);
  const corpus = Float32Array.from({ length: nc * D }, () => rng.normal());
  const queries = new Float32Array(nq * D);
  const relevant = new Map<DocId, DocId[]>();
  // Each query is a noisy copy of one document, so the relevant one ranks high but not always first.
  for (let i = 0; i < nq; i++) {
    const j = rng.int(nc);
    for (let k = 0; k < D; k++) queries[i * D + k] = corpus[j * D + k] + 1.5 * rng.normal();
    relevant.set(i, [j]);
  }
  const queryIds = Array.from({ length: nq }, (_, i) => i);
  const corpusIds = Array.from({ length: nc }, (_, i) => i);
  const prepared = {
    queryIds,
    queryTexts: queryIds.map(String),
    corpusIds,
    corpusTexts: corpusIds.map(String),
    relevant,
  };
  const dims = DEFAULT_MATRYOSHKA_DIMS.filter((d) => d <= D);
  const t0 = performance.now();
  await evaluateIr(prepared, queries, corpus, D, { dims, backend: options.backend });
  return performance.now() - t0;
}

// The guard's evaluator against tests/reference/data/nanobeir.json (nanobeir_reference.py, an
// independent reading of NanoBEIREvaluator): the tables → IR sets rules, every per-subset and mean
// key per dim in the evaluator's order, bit for bit; np.mean's rounding; subset names.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Table } from '../data/parse.ts';
import { evaluateIr, prepareIr, type ScoreFunction } from './ir-metrics.ts';
import type { DocId } from './ir-set.ts';
import { assembleNanoBeir, nanoBeirIrSet, NANOBEIR_SUBSETS, numpyMean, resolveNanoBeirSubsets, type NanoSubsetResult } from './nanobeir.ts';

interface RefSubset {
  name: string;
  corpus: Record<string, unknown>[];
  queries: Record<string, unknown>[];
  qrels: Record<string, unknown>[];
  embeddings: Record<string, number[]>;
}
const ref = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../../tests/reference/data/nanobeir.json'), 'utf8')) as {
  format_version: number;
  D: number;
  dims: number[];
  score_functions: ScoreFunction[];
  subsets: RefSubset[];
  expected: { metrics: [string, number][]; primary_metrics: Record<string, string>; sizes: Record<string, [string, number, number][]> };
  np_mean_cases: [number[], number][];
};
const table = (rows: Record<string, unknown>[]): Table => ({ columns: Object.keys(rows[0]), rows });
const rowsOf = (ids: DocId[], emb: Record<string, number[]>) => Float32Array.from(ids.flatMap((id) => emb[String(id)]));

describe('NanoBEIR guard evaluator vs the reference (nanobeir_reference.py)', () => {
  it('every key of every subset and of the mean, per dim, equals the reference bit for bit, in its order', async () => {
    expect(ref.format_version).toBe(1);
    const perSubset: { key: string; results: NanoSubsetResult[] }[] = [];
    for (const s of ref.subsets) {
      const set = nanoBeirIrSet({ corpus: table(s.corpus), queries: table(s.queries), qrels: table(s.qrels) }, s.name);
      const p = prepareIr(set);
      const r = await evaluateIr(p, rowsOf(p.queryIds, s.embeddings), rowsOf(p.corpusIds, s.embeddings), ref.D, {
        dims: ref.dims,
        scoreFunctions: ref.score_functions,
        evaluatorName: (d) => `${s.name}_${d}`,
        corpusChunkSize: 5, // chunking must not matter
      });
      perSubset.push({
        key: s.name.toLowerCase(),
        results: r.evaluators.map((e) => ({ subset: s.name, name: s.name, dim: e.dim, numQueries: r.numQueries, numCorpus: r.numCorpus, metrics: e.metrics })),
      });
    }
    const got = assembleNanoBeir(ref.dims, perSubset, 10, { embedS: 0, scoreS: 0, texts: 0 });
    expect(Object.entries(got.metrics)).toEqual(ref.expected.metrics);
    for (const r of got.byDim) {
      expect(r.primaryMetric).toBe(ref.expected.primary_metrics[String(r.dim)]);
      expect(r.subsets.map((s) => [s.name, s.numQueries, s.numCorpus])).toEqual(ref.expected.sizes[String(r.dim)]);
    }
    expect(got.primaryMetric).toBe(ref.expected.primary_metrics[String(ref.dims.at(-1))]);
  });

  it('loading rules: empty texts dropped, qrels as sets, a repeated _id keeps its place and its last text', () => {
    const s = ref.subsets[0];
    const set = nanoBeirIrSet({ corpus: table(s.corpus), queries: table(s.queries), qrels: table(s.qrels) });
    expect([...set.corpus.values()].includes('')).toBe(false);
    expect([...set.queries.values()].includes('')).toBe(false);
    expect(set.corpus.get('sci-d1')).toBe('NanoSciFact document 1, second version');
    expect([...set.corpus.keys()].indexOf('sci-d1')).toBe(1);
    for (const docs of set.relevant.values()) expect(new Set(docs).size).toBe(docs.length);
    expect(set.relevant.get('sci-q0')).toContain('sci-d-missing');
    expect(() => nanoBeirIrSet({ corpus: table([{ _id: 'a', body: 'x' }]), queries: table(s.queries), qrels: table(s.qrels) }, 'X')).toThrow(/X corpus has no column text/);
    expect(() => nanoBeirIrSet({ corpus: table([{ _id: 'a', text: 3 }]), queries: table(s.queries), qrels: table(s.qrels) }, 'X')).toThrow(/row 0: text is number/);
  });

  it("the mean rounds as np.mean (numpy's pairwise sum), not as a running sum", () => {
    let differs = false;
    for (const [xs, mean] of ref.np_mean_cases) {
      expect(numpyMean(xs)).toBe(mean);
      differs ||= xs.reduce((a, b) => a + b, 0) / xs.length !== mean;
    }
    expect(differs).toBe(true); // the cases do tell the two sums apart
  });

  it('names: the evaluator keys, readable names and Nano{Name}, case-insensitive; unknown and repeated refused', () => {
    expect(NANOBEIR_SUBSETS).toHaveLength(13);
    expect(resolveNanoBeirSubsets('msmarco, SciFact,NanoNFCorpus').map((s) => [s.key, s.name, s.zetaRepo])).toEqual([
      ['msmarco', 'NanoMSMARCO', 'zeta-alpha-ai/NanoMSMARCO'],
      ['scifact', 'NanoSciFact', 'zeta-alpha-ai/NanoSciFact'],
      ['nfcorpus', 'NanoNFCorpus', 'zeta-alpha-ai/NanoNFCorpus'],
    ]);
    expect(() => resolveNanoBeirSubsets('msmarco,bioasq')).toThrow(/"bioasq" is not a NanoBEIR subset/);
    expect(() => resolveNanoBeirSubsets('msmarco,NanoMSMARCO')).toThrow(/named twice/);
  });
});

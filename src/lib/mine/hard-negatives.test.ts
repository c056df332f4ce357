// Hard-negative mining against the independent Python reference (tests/reference/mine_reference.py,
// written from sentence-transformers' documented semantics) row for row, for option sets that use
// every option at least once; and property tests on random embeddings: no mined negative is one of
// its anchor's positives, ranks and scores respect the range, margins and score bounds, `random`
// sampling is reproducible from its seed.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../../../tests/reference/load-reference.ts';
import { Rng } from '../util/rng.ts';
import type { BatchEncoder } from '../models/embed-texts.ts';
import type { TokenizedBatch } from '../tokenize/tokenizer.ts';
import { type MineOptions, type MinePair, mineHardNegatives, mineSetup, mineWithEmbeddings, resolveMineOptions } from './hard-negatives.ts';

interface RefCase {
  options: MineOptions;
  with_corpus: boolean;
  rows: { anchor: string; positive: string; negatives: string[]; scores: number[] }[];
  skipped: Record<string, number>;
  missing: number;
  possible: number;
  rangeMax: number;
  corpus_list: string[];
  queries: string[];
}

const ref = JSON.parse(readFileSync(join(REFERENCE_DIR, 'mine.json'), 'utf8')) as {
  pairs: MinePair[];
  given_corpus: string[];
  embeddings: Record<string, number[]>;
  cases: RefCase[];
};

function embed(texts: readonly string[], table: Record<string, number[]>, D: number): Float32Array {
  const out = new Float32Array(texts.length * D);
  texts.forEach((t, i) => out.set(table[t], i * D));
  return out;
}

describe('mining equals the Python reference', () => {
  for (const c of ref.cases) {
    it(`options ${JSON.stringify(c.options)}${c.with_corpus ? ' with a given corpus' : ''}`, () => {
      const setup = mineSetup(ref.pairs, c.with_corpus ? ref.given_corpus : []);
      expect(setup.queries).toEqual(c.queries);
      expect(setup.corpus).toEqual(c.corpus_list);
      const r = mineWithEmbeddings(setup, embed(setup.queries, ref.embeddings, 8), embed(setup.corpus, ref.embeddings, 8), 8, c.options);
      expect(r.summary.rangeMax).toBe(c.rangeMax);
      expect(r.rows).toEqual(c.rows);
      expect(r.summary.missing).toBe(c.missing);
      expect(r.summary.possible).toBe(c.possible);
      expect(Object.fromEntries(r.summary.skipped.map((s) => [s.name, s.count]))).toEqual(c.skipped);
    });
  }

  it('the option sets use every option at least once', () => {
    const used = new Set(ref.cases.flatMap((c) => Object.keys(c.options)));
    for (const k of ['rangeMin', 'rangeMax', 'numNegatives', 'absoluteMargin', 'relativeMargin', 'maxScore', 'minScore', 'sampling', 'seed', 'format']) expect(used, k).toContain(k);
    expect(ref.cases.some((c) => c.with_corpus)).toBe(true);
    expect(ref.cases.some((c) => c.missing > 0)).toBe(true);
  });
});

describe('mining properties on random embeddings', () => {
  const rng = new Rng(5);
  const D = 16;
  const pairs: MinePair[] = Array.from({ length: 60 }, (_, i) => ({ anchor: `q${i % 50}`, positive: `d${(i * 7) % 45}` }));
  const setup = mineSetup(pairs, Array.from({ length: 30 }, (_, i) => `extra ${i}`));
  const unit = (n: number) => {
    const e = Float32Array.from({ length: n * D }, () => rng.normal());
    for (let r = 0; r < n; r++) {
      const norm = Math.hypot(...e.subarray(r * D, (r + 1) * D));
      for (let k = 0; k < D; k++) e[r * D + k] /= norm;
    }
    return e;
  };
  const qe = unit(setup.queries.length);
  const ce = unit(setup.corpus.length);
  const dot = (q: number, c: number) => {
    let s = 0;
    for (let k = 0; k < D; k++) s += qe[q * D + k] * ce[c * D + k];
    return Math.fround(s);
  };
  const positivesOf = new Map<string, Set<string>>();
  for (const p of pairs) positivesOf.set(p.anchor, (positivesOf.get(p.anchor) ?? new Set()).add(p.positive));

  const OPTION_SETS: MineOptions[] = [
    {},
    { rangeMin: 3, rangeMax: 12, numNegatives: 4, sampling: 'random', seed: 1 },
    { absoluteMargin: 0.05, maxScore: 0.6, minScore: -0.2, numNegatives: 2 },
    { relativeMargin: 0.2, numNegatives: 3, format: 'n-tuple' },
  ];
  for (const opts of OPTION_SETS) {
    it(`holds for ${JSON.stringify(opts)}`, () => {
      const r = mineWithEmbeddings(setup, qe, ce, D, opts);
      const o = resolveMineOptions(opts, setup.maxPositives);
      expect(r.rows.length).toBeGreaterThan(0);
      for (const row of r.rows) {
        const q = setup.queries.indexOf(row.anchor);
        const own = setup.positives[q];
        const minPos = Math.min(...own.map((c) => dot(q, c)));
        // The anchor's ranking with its positives left out: the rank every negative must respect.
        const ranking = setup.corpus.map((_, c) => c).filter((c) => !own.includes(c)).sort((a, b) => dot(q, b) - dot(q, a) || a - b);
        for (const [i, n] of row.negatives.entries()) {
          expect(positivesOf.get(row.anchor)!.has(n), `${row.anchor}: ${n} is a positive`).toBe(false);
          const c = setup.corpus.indexOf(n);
          const s = row.scores[i + 1];
          expect(s).toBe(dot(q, c));
          if (o.maxScore !== null) expect(s).toBeLessThanOrEqual(Math.fround(o.maxScore));
          if (o.minScore !== null) expect(s).toBeGreaterThanOrEqual(Math.fround(o.minScore));
          if (o.absoluteMargin !== null) expect(Math.fround(s + Math.fround(o.absoluteMargin))).toBeLessThanOrEqual(minPos);
          if (o.relativeMargin !== null) expect(s).toBeLessThanOrEqual(Math.fround(minPos - Math.fround(Math.abs(minPos) * Math.fround(o.relativeMargin))));
          // Filters only remove candidates, so a negative's rank among the kept ones is at most its rank here.
          const rank = ranking.indexOf(c);
          expect(rank, `${row.anchor}: ${n}`).toBeGreaterThanOrEqual(o.rangeMin);
          if (o.absoluteMargin === null && o.relativeMargin === null && o.maxScore === null && o.minScore === null) expect(rank).toBeLessThan(o.rangeMax);
        }
        expect([...row.scores.slice(1)]).toEqual([...row.scores.slice(1)].sort((a, b) => b - a));
        if (r.format === 'n-tuple') expect(row.negatives).toHaveLength(o.numNegatives);
      }
    });
  }

  it('random sampling is reproducible from its seed, and another seed draws others', () => {
    const a = mineWithEmbeddings(setup, qe, ce, D, { sampling: 'random', seed: 3, rangeMax: 20 });
    const b = mineWithEmbeddings(setup, qe, ce, D, { sampling: 'random', seed: 3, rangeMax: 20 });
    const c = mineWithEmbeddings(setup, qe, ce, D, { sampling: 'random', seed: 4, rangeMax: 20 });
    expect(a.rows).toEqual(b.rows);
    expect(a.rows).not.toEqual(c.rows);
  });

  it('says what is wrong with impossible options', () => {
    expect(() => resolveMineOptions({ numNegatives: 0 }, 1)).toThrow(/numNegatives must be an integer ≥ 1/);
    expect(() => resolveMineOptions({ rangeMin: 5, rangeMax: 5 }, 1)).toThrow(/rangeMax \(5\) must be an integer greater than rangeMin \(5\)/);
    expect(() => resolveMineOptions({ rangeMin: 0, rangeMax: 2, numNegatives: 3 }, 1)).toThrow(/numNegatives \(3\) is more than the 2 ranks/);
    expect(() => mineSetup([])).toThrow(/no rows/);
  });
});

describe('prompts in mining', () => {
  // mine_hard_negatives(query_prompt=…, corpus_prompt=…): the anchors are embedded as
  // `query_prompt + anchor`, the corpus as `corpus_prompt + document`. An encoder that looks each
  // text up by its exact string fails on any text without its prompt, and the rows equal mining the
  // bare texts with the same vectors.
  it('embeds anchors with the query prompt and the corpus with the document prompt', async () => {
    const tableEncoder = (table: Record<string, number[]>) => {
      let texts: readonly string[] = [];
      const tokenizer = { encodeBatch: (t: string[]) => ((texts = t), { batch: t.length } as TokenizedBatch) };
      const encoder: BatchEncoder = { dim: 8, encode: async () => embed(texts, table, 8), describe: () => 'lookup' };
      return { tokenizer, encoder };
    };
    const prefixed: Record<string, number[]> = {};
    for (const [t, v] of Object.entries(ref.embeddings)) Object.assign(prefixed, { [`query: ${t}`]: v, [`passage: ${t}`]: v });
    const options = ref.cases[0].options;
    const bare = await mineHardNegatives({ pairs: ref.pairs, ...tableEncoder(ref.embeddings), options });
    const prompted = await mineHardNegatives({ pairs: ref.pairs, ...tableEncoder(prefixed), options, prompts: { query: 'query: ', document: 'passage: ' } });
    expect(prompted.rows).toEqual(bare.rows);
    expect(prompted.rows.length).toBeGreaterThan(0);
    await expect(mineHardNegatives({ pairs: ref.pairs, ...tableEncoder(prefixed), options, prompts: { query: 'query: ', document: '' } })).rejects.toThrow();
  });
});

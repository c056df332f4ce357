import { describe, expect, it } from 'vitest';
import { IR_GOLDEN_REGENERATE, loadIrGolden, setupGoldenCase as setup, type GoldenCase } from '../../../tests/reference/ir-golden.ts';
import { computeMetrics, DEFAULT_IR_KS, evaluateIr, jsScores, prepareIr, type ScoreBackend } from './ir-metrics.ts';
import { explicitIrSet } from './ir-set.ts';

const golden = loadIrGolden();

describe(`IR golden data (${IR_GOLDEN_REGENERATE})`, () => {
  it('has the format this test reads', () => {
    expect(golden.format_version).toBe(1);
    expect(golden.cases.length).toBeGreaterThanOrEqual(3);
  });

  for (const c of golden.cases) {
    it(`${c.name}: every metric, key order, primary metrics and rankings`, async () => {
      const { prepared, q, corpus, options } = setup(c);
      expect(prepared.queryIds).toEqual(c.expected.kept_query_ids);
      const res = await evaluateIr(prepared, q, corpus, c.D, options);
      const expectedKeys = [...c.expected.metrics.map(([k]) => k), 'sequential_score'];
      expect(Object.keys(res.metrics)).toEqual(expectedKeys);
      let worst = 0;
      for (const [key, want] of c.expected.metrics) {
        const diff = Math.abs(res.metrics[key] - want);
        worst = Math.max(worst, diff);
        if (diff > 1e-6) throw new Error(`${key}: got ${res.metrics[key]}, reference ${want}`);
      }
      expect(worst).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(res.sequentialScore - c.expected.sequential_score)).toBeLessThanOrEqual(1e-6);
      expect(res.metrics.sequential_score).toBe(res.sequentialScore);
      for (const ev of res.evaluators) {
        expect(ev.primaryMetric).toBe(c.expected.primary_metrics[ev.name]);
        for (const fn of c.score_functions) {
          expect(ev.hits?.[fn]?.map((h) => h.ids), `${ev.name}_${fn}`).toEqual(c.expected.rankings_top10[`${ev.name}_${fn}`]);
        }
      }
    });

    it(`${c.name}: tiny and large chunks give identical results`, async () => {
      const { prepared, q, corpus, options } = setup(c);
      const big = await evaluateIr(prepared, q, corpus, c.D, { ...options, corpusChunkSize: 1 << 20, queryChunkSize: 1 << 20 });
      for (const [cs, qs] of [[1, 1], [3, 2], [7, 5], [64, 3]]) {
        const small = await evaluateIr(prepared, q, corpus, c.D, { ...options, corpusChunkSize: cs, queryChunkSize: qs });
        expect(small.metrics).toEqual(big.metrics);
        expect(small.evaluators.map((e) => e.hits)).toEqual(big.evaluators.map((e) => e.hits));
      }
    });
  }

  it('the golden data really contains exact ties decided by id', async () => {
    const c = golden.cases.find((x) => x.name.startsWith('str-ids')) as GoldenCase;
    const { prepared, q, corpus, options } = setup(c);
    const res = await evaluateIr(prepared, q, corpus, c.D, options);
    const hits = res.evaluators[0].hits?.cosine?.[0];
    expect(hits?.ids.slice(0, 2)).toEqual(['e10', 'e9']); // lexicographic, not numeric
    expect(hits?.scores[0]).toBe(hits?.scores[1]);
  });
});

describe('evaluateIr', () => {
  const D = 8;
  const unit = (i: number) => Float32Array.from({ length: D }, (_, k) => (k === i ? 1 : 0));

  it('follows a plugged-in ScoreBackend and reports its name', async () => {
    const set = explicitIrSet([[0, 'q']], [[0, 'a'], [1, 'b']], [[0, [1]]]);
    let calls = 0;
    const backend: ScoreBackend = {
      name: 'fake',
      scores(qq, cc, nq, nc) {
        calls++;
        return Promise.resolve(Float32Array.from({ length: nq * nc }, (_, j) => j % nc)); // later docs score higher
      },
    };
    const res = await evaluateIr(prepareIr(set), unit(0), Float32Array.from([...unit(0), ...unit(1)]), D, {
      dims: [8, 4],
      backend,
    });
    expect(calls).toBe(2);
    expect(res.backend).toBe('fake');
    expect(res.metrics['dim_8_cosine_accuracy@1']).toBe(1);
    expect(res.metrics['dim_4_cosine_mrr@10']).toBe(1);
  });

  it('truncation is not renormalised for dot and is for cosine', async () => {
    const set = explicitIrSet([[0, 'q']], [[0, 'a'], [1, 'b']], [[0, [1]]]);
    const qv = Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]);
    // doc 0 = 2·e0 (dot 2, cosine 1), doc 1 = e0 + big tail (dot 1, cosine at d=1: 1, at d=8: small).
    const c = Float32Array.from([2, 0, 0, 0, 0, 0, 0, 0, 1, 5, 5, 5, 5, 5, 5, 5]);
    const res = await evaluateIr(prepareIr(set), qv, c, D, { dims: [8, 1], scoreFunctions: ['cosine', 'dot'], topHits: 2 });
    const [e8, e1] = res.evaluators;
    expect(e8.hits?.cosine?.[0].ids).toEqual([0, 1]);
    expect(e1.hits?.cosine?.[0].ids).toEqual([0, 1]); // tie at cosine 1 → smaller id first
    expect(e1.hits?.cosine?.[0].scores).toEqual([1, 1]);
    expect(e1.hits?.dot?.[0].scores).toEqual([2, 1]);
  });

  it('rejects bad dims, ks, shapes and empty query sets', async () => {
    const set = explicitIrSet([[0, 'q']], [[0, 'a']], [[0, [0]]]);
    const p = prepareIr(set);
    await expect(evaluateIr(p, unit(0), unit(0), D)).rejects.toThrow(/768/); // default dims > D
    await expect(evaluateIr(p, unit(0), unit(0), D, { dims: [4, 4] })).rejects.toThrow(/repeats/);
    await expect(evaluateIr(p, unit(0), unit(0), D, { dims: [0] })).rejects.toThrow(/integer/);
    await expect(evaluateIr(p, unit(0), unit(0), D, { dims: [4], ks: { ndcgAtK: [] } })).rejects.toThrow(/empty/);
    await expect(evaluateIr(p, unit(0), new Float32Array(3), D, { dims: [4] })).rejects.toThrow(/corpus embeddings/);
    await expect(evaluateIr(p, unit(0), unit(0), D, { dims: [4], mainScoreFunction: 'dot' })).rejects.toThrow(/mainScoreFunction/);
    const none = prepareIr(explicitIrSet([[0, 'q']], [[0, 'a']], [[0, []]]));
    await expect(evaluateIr(none, new Float32Array(0), unit(0), D, { dims: [4] })).rejects.toThrow(/divide by zero/);
    const nan = Float32Array.from(unit(0)).fill(NaN, 2, 3);
    await expect(evaluateIr(p, nan, unit(0), D, { dims: [4] })).rejects.toThrow(/not finite/);
  });
});

describe('computeMetrics edge cases (docs/evaluation.md#metrics)', () => {
  it('nR counts repeats and missing ids; precision divides by k even past the list; map by min(k, nR)', () => {
    const m = computeMetrics([[7, 8]], [[8, 8, 99]], { ...DEFAULT_IR_KS, mapAtK: [1, 100] });
    expect(m.get('accuracy')?.get(1)).toBe(0);
    expect(m.get('accuracy')?.get(3)).toBe(1);
    expect(m.get('precision')?.get(10)).toBeCloseTo(1 / 10, 15);
    expect(m.get('recall')?.get(10)).toBeCloseTo(1 / 3, 15);
    expect(m.get('mrr')?.get(10)).toBeCloseTo(1 / 2, 15);
    expect(m.get('ndcg')?.get(10)).toBeCloseTo(1 / Math.log2(3) / (1 + 1 / Math.log2(3) + 1 / Math.log2(4)), 15);
    expect(m.get('map')?.get(1)).toBe(0);
    expect(m.get('map')?.get(100)).toBeCloseTo(1 / 2 / 3, 15);
  });
});

describe('jsScores', () => {
  it('matches a naive float64 dot product on ragged shapes', () => {
    for (const [nq, nc, d] of [[1, 1, 1], [5, 7, 3], [9, 130, 17], [4, 4, 768]]) {
      const q = Float32Array.from({ length: nq * d }, (_, i) => Math.sin(i * 1.3));
      const c = Float32Array.from({ length: nc * d }, (_, i) => Math.cos(i * 0.7));
      const s = jsScores(q, c, nq, nc, d);
      for (let i = 0; i < nq; i++) {
        for (let j = 0; j < nc; j++) {
          let want = 0;
          for (let k = 0; k < d; k++) want += q[i * d + k] * c[j * d + k];
          expect(s[i * nc + j]).toBe(Math.fround(want));
        }
      }
    }
  });
});

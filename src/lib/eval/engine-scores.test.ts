import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIrGolden, setupGoldenCase as setup } from '../../../tests/reference/ir-golden.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { Rng } from '../util/rng.ts';
import { EngineScoreBackend, scoreErrorBound } from './engine-scores.ts';
import { evaluateIr, jsScores, JsScoreBackend } from './ir-metrics.ts';

const golden = loadIrGolden();

for (const kind of ['wasm', 'node'] as const) {
  describe(`EngineScoreBackend on ${kind}`, () => {
    let runtime: Runtime;
    let backend: EngineScoreBackend;
    beforeAll(async () => {
      runtime = await createRuntime(kind);
      backend = new EngineScoreBackend(runtime);
    });
    afterAll(async () => backend.dispose());

    it('scores Q·Cᵀ within the error bound of jsScores, and each row\'s top k bit-identically', async () => {
      const rng = new Rng(7);
      const k = 5;
      const exact = new EngineScoreBackend(runtime, { exactTopK: k });
      const raw = new EngineScoreBackend(runtime, { exactTopK: 0 });
      const norm = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0));
      for (const [nq, nc, d] of [[1, 1, 1], [5, 7, 3], [37, 53, 24], [4, 130, 768]]) {
        const q = Float32Array.from({ length: 11 + nq * d }, () => rng.normal()).subarray(11);
        const c = Float32Array.from({ length: nc * d }, () => rng.normal());
        const want = jsScores(q, c, nq, nc, d);
        const s = await raw.scores(q, c, nq, nc, d);
        expect(raw.lastRecomputed).toBe(0);
        let cMax = 0;
        for (let j = 0; j < nc; j++) cMax = Math.max(cMax, norm(c.subarray(j * d, (j + 1) * d)));
        for (let i = 0; i < nq; i++) {
          const bound = scoreErrorBound(d, norm(q.subarray(i * d, (i + 1) * d)), cMax);
          for (let j = 0; j < nc; j++) expect(Math.abs(s[i * nc + j] - want[i * nc + j])).toBeLessThanOrEqual(bound);
        }
        const e = await exact.scores(q, c, nq, nc, d);
        expect(exact.lastRecomputed).toBeGreaterThanOrEqual(nq * Math.min(k, nc));
        expect(exact.lastRecomputed).toBeLessThan(nq * nc + 1);
        for (let i = 0; i < nq; i++) {
          const top = (x: Float32Array) =>
            Array.from(x.subarray(i * nc, (i + 1) * nc))
              .map((v, j) => [v, j])
              .sort((a, b) => b[0] - a[0] || a[1] - b[1])
              .slice(0, k);
          expect(top(e)).toEqual(top(want));
        }
      }
      await exact.dispose();
      await raw.dispose();
    });

    it('re-uploads when a different corpus block comes, reuses the same one', async () => {
      const q = Float32Array.from([1, 2]);
      const a = Float32Array.from([1, 0, 0, 1]);
      const b = Float32Array.from([0, 1, 1, 0]);
      expect([...(await backend.scores(q, a, 1, 2, 2))]).toEqual([1, 2]);
      expect([...(await backend.scores(q, b, 1, 2, 2))]).toEqual([2, 1]);
      expect([...(await backend.scores(q, b, 1, 2, 2))]).toEqual([2, 1]);
      // Same array, another shape: not the cached tensor.
      expect([...(await backend.scores(q.subarray(0, 1), b, 1, 4, 1))]).toEqual([0, 1, 1, 0]);
    });

    for (const c of golden.cases) {
      it(`${c.name}: every metric equals the reference and the JS backend within 1e-6, same rankings`, async () => {
        const { prepared, q, corpus, options } = setup(c);
        const engine = await evaluateIr(prepared, q, corpus, c.D, { ...options, backend });
        const js = await evaluateIr(prepared, q, corpus, c.D, { ...options, backend: new JsScoreBackend() });
        expect(engine.backend).toBe(`engine (${runtime.describe().backend})`);
        expect(Object.keys(engine.metrics)).toEqual(Object.keys(js.metrics));
        let worst = 0;
        for (const [key, want] of c.expected.metrics) {
          worst = Math.max(worst, Math.abs(engine.metrics[key] - want), Math.abs(engine.metrics[key] - js.metrics[key]));
        }
        expect(worst).toBeLessThanOrEqual(1e-6);
        // The top of every row is recomputed exactly: not just close, equal to the JS backend.
        expect(engine.metrics).toEqual(js.metrics);
        expect(engine.evaluators.map((e) => e.hits)).toEqual(js.evaluators.map((e) => e.hits));
        for (const ev of engine.evaluators) {
          for (const fn of c.score_functions) {
            expect(ev.hits?.[fn]?.map((h) => h.ids), `${ev.name}_${fn}`).toEqual(c.expected.rankings_top10[`${ev.name}_${fn}`]);
          }
        }
      });

      it(`${c.name}: chunk sizes do not change the result (ties stay bit-identical)`, async () => {
        const { prepared, q, corpus, options } = setup(c);
        const big = await evaluateIr(prepared, q, corpus, c.D, { ...options, backend, corpusChunkSize: 1 << 20, queryChunkSize: 1 << 20 });
        for (const [cs, qs] of [[1, 1], [7, 5], [64, 3]]) {
          const small = await evaluateIr(prepared, q, corpus, c.D, { ...options, backend, corpusChunkSize: cs, queryChunkSize: qs });
          expect(small.metrics).toEqual(big.metrics);
          expect(small.evaluators.map((e) => e.hits)).toEqual(big.evaluators.map((e) => e.hits));
        }
      });
    }
  });
}

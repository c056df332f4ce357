import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accumulateInto, AdamW, adamwKernel, adamwScalars, clipCoefficient, isNoDecay, parameterGroups } from './optimizer.ts';
import { lrAt, type SchedulerType } from './schedule.ts';

interface RefCase {
  name: string;
  steps: number;
  lr: number;
  weight_decay: number;
  max_grad_norm: number;
  scheduler: SchedulerType;
  warmup_steps: number;
  max_steps: number;
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  grads: Record<string, number[]>[];
  per_step: { lr: number; grad_norm: number; params: Record<string, number[]> }[];
  final_m: Record<string, number[]>;
  final_v: Record<string, number[]>;
}

const ref = JSON.parse(readFileSync(new URL('../../../tests/reference/data/optim.json', import.meta.url), 'utf8')) as {
  format_version: number;
  cases: RefCase[];
};

/** Largest |a−b| / max(|b|, floor): relative error with a floor so values crossing zero do not blow up. */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor));
  return worst;
}

describe('AdamW against torch.optim.AdamW (tests/reference/optim_reference.py)', () => {
  it('reads format version 1', () => {
    expect(ref.format_version).toBe(1);
    expect(ref.cases.length).toBeGreaterThanOrEqual(3);
  });

  for (const c of ref.cases) {
    it(`${c.name}: lr, grad norm and every parameter after each of ${c.steps} updates within rel 1e-6`, () => {
      const params = new Map(Object.entries(c.init).map(([n, v]) => [n, Float32Array.from(v)]));
      const opt = new AdamW(params, { weightDecay: c.weight_decay });
      let worst = 0;
      for (let t = 0; t < c.steps; t++) {
        const lr = lrAt(t + 1, c.lr, c.scheduler, c.warmup_steps, c.max_steps);
        expect(lr).toBeCloseTo(c.per_step[t].lr, 18);
        const grads = new Map(Object.entries(c.grads[t]).map(([n, v]) => [n, Float32Array.from(v)]));
        const before = new Map([...grads].map(([n, g]) => [n, g.slice()]));
        const r = opt.update(grads, lr, c.max_grad_norm);
        expect(r.step).toBe(t + 1);
        expect(Math.abs(r.gradNorm - c.per_step[t].grad_norm) / c.per_step[t].grad_norm).toBeLessThan(1e-6);
        for (const [n, g] of grads) expect(g).toEqual(before.get(n)); // gradients untouched
        for (const [n, p] of params) {
          const rel = maxRel(p, c.per_step[t].params[n]);
          worst = Math.max(worst, rel);
          expect(rel, `${n} after update ${t + 1}`).toBeLessThan(1e-6);
        }
      }
      const state = opt.stateTensors();
      for (const n of params.keys()) {
        expect(maxRel(state.get(`adam.m/${n}`)!, c.final_m[n], 1e-8)).toBeLessThan(1e-6);
        expect(maxRel(state.get(`adam.v/${n}`)!, c.final_v[n], 1e-12)).toBeLessThan(1e-6);
      }
      console.log(`${c.name}: worst parameter rel diff ${worst.toExponential(2)}`);
    });
  }

  it('would notice coupled (Adam + L2) decay or decay on biases', () => {
    const c = ref.cases.find((x) => x.weight_decay > 0.05)!;
    const params = new Map(Object.entries(c.init).map(([n, v]) => [n, Float32Array.from(v)]));
    const opt = new AdamW(params, { weightDecay: c.weight_decay });
    (opt.noDecay as Set<string>).clear(); // decay everything: must disagree with torch's grouping
    const grads = new Map(Object.entries(c.grads[0]).map(([n, v]) => [n, Float32Array.from(v)]));
    opt.update(grads, lrAt(1, c.lr, c.scheduler, c.warmup_steps, c.max_steps), c.max_grad_norm);
    expect(maxRel(params.get('embeddings.LayerNorm.bias')!, c.per_step[0].params['embeddings.LayerNorm.bias'])).toBeGreaterThan(1e-4);
  });
});

describe('parameter groups, clipping, accumulation, state', () => {
  it('no decay on biases and LayerNorm weights; embeddings decayed', () => {
    const names = [
      'embeddings.word_embeddings.weight', 'embeddings.LayerNorm.weight', 'embeddings.LayerNorm.bias',
      'encoder.layer.3.attention.output.LayerNorm.weight', 'encoder.layer.3.intermediate.dense.bias',
      'encoder.layer.3.intermediate.dense.weight', 'model.encoder.layer.0.output.LayerNorm.weight',
    ];
    const g = parameterGroups(names);
    expect(g.decay).toEqual(['embeddings.word_embeddings.weight', 'encoder.layer.3.intermediate.dense.weight']);
    expect(g.noDecay.length).toBe(5);
    expect(isNoDecay('pooler.dense.bias')).toBe(true);
  });

  it('clip coefficient min(1, max/(total+1e-6)); none when maxNorm ≤ 0', () => {
    const a = Float32Array.from([3, 0]);
    const b = Float32Array.from([0, 4]);
    const r = clipCoefficient([a, b], 1);
    expect(r.totalNorm).toBe(5);
    expect(r.coefficient).toBeCloseTo(1 / (5 + 1e-6), 7);
    expect(clipCoefficient([a, b], 10).coefficient).toBe(1);
    expect(clipCoefficient([a, b], 0).coefficient).toBe(1);
  });

  it('accumulating g/GA over micro-batches equals the mean gradient', () => {
    const acc = new Float32Array(3);
    const gs = [[1, 2, 3], [3, 2, 1], [2, 2, 2], [6, -2, 0]].map((x) => Float32Array.from(x));
    for (const g of gs) accumulateInto(acc, g, 1 / gs.length);
    expect([...acc]).toEqual([3, 1, 1.5]);
  });

  it('the kernel is the formula: one step from zero state moves θ by −lr·sign(g) (bias-corrected)', () => {
    const theta = Float32Array.from([1, -1, 0.5]);
    const g = Float32Array.from([0.3, -2, 1e-3]);
    const m = new Float32Array(3);
    const v = new Float32Array(3);
    adamwKernel(theta, g, m, v, adamwScalars(0.1, 1, 0.5, { beta1: 0.9, beta2: 0.999, eps: 1e-8 }));
    // θ(1 − 0.05) − 0.1·ĝ/(|ĝ| + eps)
    expect(theta[0]).toBeCloseTo(0.95 - 0.1, 6);
    expect(theta[1]).toBeCloseTo(-0.95 + 0.1, 6);
    expect(theta[2]).toBeCloseTo(0.475 - 0.1 * (1e-3 / (1e-3 + 1e-8)), 6);
    expect(m[1]).toBeCloseTo(-0.2, 7);
    expect(v[1]).toBeCloseTo(0.004, 7);
  });

  it('state round-trips through stateTensors/loadState and errors name the missing piece', () => {
    const mk = () => new Map([['w', Float32Array.from([1, 2])], ['b.bias', Float32Array.from([0.5])]]);
    const grads = new Map([['w', Float32Array.from([0.1, -0.2])], ['b.bias', Float32Array.from([0.3])]]);
    const a = new AdamW(mk(), { weightDecay: 0.01 });
    a.update(grads, 1e-2);
    const copy = new Map([...a.stateTensors()].map(([k, t]) => [k, t.slice()]));
    const bParams = new Map([...a.params].map(([k, t]) => [k, t.slice()]));
    const b = new AdamW(bParams, { weightDecay: 0.01 });
    b.loadState(a.step, copy);
    a.update(grads, 1e-2);
    b.update(grads, 1e-2);
    expect(b.params.get('w')).toEqual(a.params.get('w'));
    expect(b.step).toBe(2);
    expect(() => a.update(new Map([['w', Float32Array.from([0, 0])]]), 1e-2)).toThrow(/no gradient for parameter "b.bias"/);
    copy.delete('adam.v/w');
    expect(() => b.loadState(1, copy)).toThrow(/missing adam.v\/w/);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BGE_SMALL_CONFIG } from '../models/bert-config.ts';
import { parameterSet } from '../models/parameter-set.ts';
import { bf16BitsToF32, f32ToBf16Bits } from '../models/safetensors.ts';
import { Rng } from '../util/rng.ts';
import {
  accumulateInto, AdamW, adamwKernel, adamwKernelBf16, adamwScalars, bf16Stochastic, clipCoefficient, roundingKey,
} from './optimizer.ts';
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

/** The reference's no-decay group, from the parameter set (the reference names are BERT's own; torch's grouping is optim_reference.py's no_decay). */
const BERT = parameterSet(BGE_SMALL_CONFIG);
const noDecayOf = (names: Iterable<string>) => [...names].filter((n) => !BERT.get(n).decay);

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
      const opt = new AdamW(params, { weightDecay: c.weight_decay, noDecay: noDecayOf(params.keys()) });
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
    const opt = new AdamW(params, { weightDecay: c.weight_decay, noDecay: noDecayOf(params.keys()) });
    (opt.noDecay as Set<string>).clear(); // decay everything: must disagree with torch's grouping
    const grads = new Map(Object.entries(c.grads[0]).map(([n, v]) => [n, Float32Array.from(v)]));
    opt.update(grads, lrAt(1, c.lr, c.scheduler, c.warmup_steps, c.max_steps), c.max_grad_norm);
    expect(maxRel(params.get('embeddings.LayerNorm.bias')!, c.per_step[0].params['embeddings.LayerNorm.bias'])).toBeGreaterThan(1e-4);
  });
});

describe('parameter groups, clipping, accumulation, state', () => {
  it('refuses a no-decay name it does not update (a misspelt group would silently decay)', () => {
    expect(() => new AdamW(new Map([['w', new Float32Array(1)]]), { noDecay: ['b.bias'] })).toThrow(/no-decay parameter "b.bias" is not registered/);
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
    const a = new AdamW(mk(), { weightDecay: 0.01, noDecay: ['b.bias'] });
    a.update(grads, 1e-2);
    const copy = new Map([...a.stateTensors()].map(([k, t]) => [k, t.slice()]));
    const bParams = new Map([...a.params].map(([k, t]) => [k, t.slice()]));
    const b = new AdamW(bParams, { weightDecay: 0.01, noDecay: ['b.bias'] });
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

describe('bfloat16 moments (stochastic rounding)', () => {
  const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
  const widen = (b: number) => bf16BitsToF32(Uint16Array.of(b))[0];

  it('rounds without bias: over all 2^16 random draws the stored values average to the float32 value exactly', () => {
    for (const x of [1e-3, 0.7, -3.14159, 1.2345e-9, 65504.25]) {
      const bits = f32Bits(Math.fround(x));
      let sum = 0;
      for (let r = 0; r < 65536; r++) sum += widen(bf16Stochastic(bits, r));
      expect(sum / 65536).toBe(Math.fround(x));
    }
    // A bfloat16 value is stored as it is whatever the draw.
    for (let r = 0; r < 65536; r += 4097) expect(bf16Stochastic(f32Bits(0.75), r)).toBe(f32ToBf16Bits(Float32Array.of(0.75))[0]);
  });

  it('v keeps growing where round-to-nearest stalls (β2 = 0.999: each step moves v by 0.1 %, under half an ulp)', () => {
    const n = 4096;
    const rng = new Rng(5);
    const g = Float32Array.from({ length: n }, () => 0.01 * (1 + rng.uniform()));
    const theta = () => new Float32Array(n);
    const steps = 2000;
    const f32 = { t: theta(), m: new Float32Array(n), v: new Float32Array(n) };
    const sr = { t: theta(), m: new Uint16Array(n), v: new Uint16Array(n) };
    const rne = { t: theta(), m: new Float32Array(n), v: new Float32Array(n) };
    for (let step = 1; step <= steps; step++) {
      const s = adamwScalars(1e-5, step, 0, { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
      adamwKernel(f32.t, g, f32.m, f32.v, s);
      adamwKernelBf16(sr.t, g, sr.m, sr.v, s, roundingKey(1, step, 0));
      adamwKernel(rne.t, g, rne.m, rne.v, s);
      rne.m.set(bf16BitsToF32(f32ToBf16Bits(rne.m)));
      rne.v.set(bf16BitsToF32(f32ToBf16Bits(rne.v)));
    }
    const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
    const vTrue = mean(f32.v);
    const vSr = mean(bf16BitsToF32(sr.v));
    const vRne = mean(rne.v);
    console.log(`v after ${steps} steps: float32 ${vTrue.toExponential(4)}, bfloat16 stochastic ${vSr.toExponential(4)}, bfloat16 nearest ${vRne.toExponential(4)}`);
    expect(Math.abs(vSr - vTrue) / vTrue).toBeLessThan(0.01);
    expect(Math.abs(vRne - vTrue) / vTrue).toBeGreaterThan(0.2);
    // The weights move as float32's do.
    const move = mean(f32.t.map(Math.abs));
    expect(mean(f32.t.map((x, i) => Math.abs(x - sr.t[i]))) / move).toBeLessThan(0.01);
  });

  it('AdamW with bfloat16 moments: deterministic in its seed, close to float32, and its state round-trips bit for bit', () => {
    const rng = new Rng(9);
    const params = () => new Map([['w', Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i))], ['b.bias', new Float32Array(300)]]);
    const grads = Array.from({ length: 30 }, () => new Map([['w', Float32Array.from({ length: 5000 }, () => rng.normal())], ['b.bias', Float32Array.from({ length: 300 }, () => rng.normal())]]));
    const run = (o: Omit<ConstructorParameters<typeof AdamW>[1], 'noDecay'>, upTo = grads.length, from?: AdamW) => {
      const a = from ?? new AdamW(params(), { ...o, noDecay: ['b.bias'] });
      for (let k = a.step; k < upTo; k++) a.update(grads[k], 1e-3, 1);
      return a;
    };
    const f32 = run({ weightDecay: 0.01 });
    const bf = run({ weightDecay: 0.01, moments: 'bfloat16', seed: 3 });
    expect(bf.stateTensors().get('adam.v/w')).toBeInstanceOf(Uint16Array);
    expect(run({ weightDecay: 0.01, moments: 'bfloat16', seed: 3 }).params.get('w')).toEqual(bf.params.get('w'));
    expect(run({ weightDecay: 0.01, moments: 'bfloat16', seed: 4 }).params.get('w')).not.toEqual(bf.params.get('w'));
    const w0 = params().get('w')!;
    const moved = f32.params.get('w')!.reduce((n, x, i) => n + Math.abs(x - w0[i]), 0);
    const apart = bf.params.get('w')!.reduce((n, x, i) => n + Math.abs(x - f32.params.get('w')![i]), 0);
    console.log(`bfloat16 vs float32 moments after 30 updates: weights apart by ${(apart / moved * 100).toFixed(2)} % of how far float32 moved them`);
    expect(apart / moved).toBeLessThan(0.02);
    // Stopped at 12, state copied out (as a checkpoint does) and back into a fresh optimizer: the same 30 updates.
    const half = run({ weightDecay: 0.01, moments: 'bfloat16', seed: 3 }, 12);
    const resumed = new AdamW(new Map([...half.params].map(([k, t]) => [k, t.slice()])), { weightDecay: 0.01, moments: 'bfloat16', seed: 3, noDecay: ['b.bias'] });
    resumed.loadState(half.step, new Map([...half.stateTensors()].map(([k, t]) => [k, bf16BitsToF32(t as Uint16Array)])));
    expect(run({}, grads.length, resumed).params.get('w')).toEqual(bf.params.get('w'));
  });
});

import { describe, expect, it } from 'vitest';
import { lrAt, lrLambda, microBatchRole, resolveWarmupSteps, stepsPlan, type StepsPlan } from './schedule.ts';

const recipe = { rows: 6300, batchSize: 32, dropLast: false, accumulation: 16, epochs: 4, warmupRatio: 0.1 };

/** Runs the Trainer's loop over `epochs` epochs of `batchesInEpoch` batches; returns the divisors of each update. */
function simulate(plan: StepsPlan, batchesInEpoch = plan.batchesPerEpoch): { updates: number[][]; microUsed: number } {
  const updates: number[][] = [];
  let group: number[] = [];
  let globalMicro = 0;
  outer: for (let e = 0; e < plan.epochs; e++) {
    for (let b = 0; b < batchesInEpoch; b++) {
      globalMicro++;
      const role = microBatchRole(plan, b, globalMicro, batchesInEpoch);
      group.push(role.divisor);
      if (role.closesUpdate) {
        updates.push(group);
        group = [];
        if (updates.length >= plan.maxSteps) break outer;
      }
    }
  }
  return { updates, microUsed: globalMicro };
}

describe('stepsPlan', () => {
  it('reproduces the recipe in transformers 4.41.2: 197 batches → 12/epoch → 48 updates, warmup 5', () => {
    const p = stepsPlan({ ...recipe, variant: 'transformers-4.41' });
    expect(p).toMatchObject({ batchesPerEpoch: 197, updatesPerEpoch: 12, maxSteps: 48, warmupSteps: 5, epochs: 4 });
    const { updates, microUsed } = simulate(p);
    expect(updates.length).toBe(48);
    expect(updates.every((g) => g.length === 16 && g.every((d) => d === 16))).toBe(true);
    // 768 micro-batches used: the last 20 of epoch 4 are never seen.
    expect(microUsed).toBe(768);
    expect(4 * 197 - microUsed).toBe(20);
  });

  it('reproduces the recipe in newer transformers: 13/epoch → 52 updates, warmup 6, short groups of 5', () => {
    const p = stepsPlan({ ...recipe, variant: 'current' });
    expect(p).toMatchObject({ batchesPerEpoch: 197, updatesPerEpoch: 13, maxSteps: 52, warmupSteps: 6, epochs: 4 });
    const { updates, microUsed } = simulate(p);
    expect(updates.length).toBe(52);
    expect(microUsed).toBe(788);
    const sizes = updates.map((g) => g.length);
    expect(sizes.filter((s) => s === 5).length).toBe(4);
    expect(sizes[12]).toBe(5);
    // The short group divides by its own length, the full ones by 16.
    expect(updates[12]).toEqual([5, 5, 5, 5, 5]);
    expect(updates[11].every((d) => d === 16)).toBe(true);
  });

  it('4.41 closes an update at the end of an epoch shorter than GA', () => {
    const p = stepsPlan({ rows: 10, batchSize: 4, dropLast: false, accumulation: 8, epochs: 2, variant: 'transformers-4.41' });
    expect(p).toMatchObject({ batchesPerEpoch: 3, updatesPerEpoch: 1, maxSteps: 2 });
    expect(simulate(p).updates).toEqual([[8, 8, 8], [8, 8, 8]]);
  });

  it('maxSteps sets the epoch count; dropLast floors the batch count; bad input is refused', () => {
    const p = stepsPlan({ rows: 100, batchSize: 8, dropLast: true, accumulation: 2, maxSteps: 13, warmupSteps: 3, variant: 'current' });
    expect(p).toMatchObject({ batchesPerEpoch: 12, updatesPerEpoch: 6, maxSteps: 13, epochs: 3, warmupSteps: 3 });
    expect(() => stepsPlan({ rows: 3, batchSize: 8, dropLast: true, accumulation: 1, epochs: 1, variant: 'current' })).toThrow(/no full batch/);
    expect(() => stepsPlan({ rows: 3, batchSize: 8, dropLast: false, accumulation: 1, variant: 'current' })).toThrow(/exactly one/);
    expect(() => stepsPlan({ rows: 3, batchSize: 0, dropLast: false, accumulation: 1, epochs: 1, variant: 'current' })).toThrow(/batchSize/);
  });
});

describe('learning-rate schedules', () => {
  it('matches the worked recipe numbers of docs/optimizer.md (cosine, 2e-5, W=5, N=48)', () => {
    const lr = (n: number) => lrAt(n, 2e-5, 'cosine', 5, 48);
    expect(lr(1)).toBe(0);
    expect(lr(2)).toBeCloseTo(4e-6, 15);
    expect(lr(6)).toBeCloseTo(2e-5, 15);
    expect(lr(25) / 1.18e-5).toBeCloseTo(1, 2);
    expect(lr(48) / 2.7e-8).toBeCloseTo(1, 1);
    expect(lr(48)).toBeGreaterThan(0);
  });

  it('warmup is k/W, linear decays to 0 at N, constant stays 1', () => {
    expect([0, 1, 2, 3].map((k) => lrLambda('linear', k, 4, 10))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(lrLambda('linear', 4, 4, 10)).toBe(1);
    expect(lrLambda('linear', 7, 4, 10)).toBeCloseTo(0.5, 15);
    expect(lrLambda('linear', 10, 4, 10)).toBe(0);
    expect(lrLambda('linear', 12, 4, 10)).toBe(0);
    expect(lrLambda('constant', 2, 4, 10)).toBe(0.5);
    expect(lrLambda('constant', 9, 4, 10)).toBe(1);
    expect(lrLambda('cosine', 7, 4, 10)).toBeCloseTo(0.5, 15);
    expect(lrLambda('cosine', 0, 0, 10)).toBe(1);
    expect(lrLambda('cosine', 10, 0, 10)).toBeCloseTo(0, 15);
  });

  it('warmup steps: explicit steps win, else ceil(ratio·N)', () => {
    expect(resolveWarmupSteps({ warmupRatio: 0.1 }, 48)).toBe(5);
    expect(resolveWarmupSteps({ warmupRatio: 0.1 }, 52)).toBe(6);
    expect(resolveWarmupSteps({ warmupSteps: 7, warmupRatio: 0.1 }, 52)).toBe(7);
    expect(resolveWarmupSteps({ warmupSteps: 0, warmupRatio: 0.5 }, 3)).toBe(2);
    expect(resolveWarmupSteps({}, 100)).toBe(0);
  });
});

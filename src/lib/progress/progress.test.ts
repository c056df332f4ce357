import { describe, expect, it } from 'vitest';
import { formatCount, formatDuration, formatRate, ProgressTracker } from './progress.ts';

function clock(startMs = 1000) {
  let t = startMs;
  return { now: () => t, tick: (ms: number) => void (t += ms) };
}

describe('ProgressTracker', () => {
  it('knows nothing about the rate before time passes', () => {
    const c = clock();
    const p = new ProgressTracker({ total: 100, unit: 'texts', now: c.now });
    p.advance(10);
    const s = p.snapshot();
    expect(s).toMatchObject({ done: 10, total: 100, unit: 'texts', fraction: 0.1, elapsedS: 0, rate: undefined, etaS: undefined, finished: false });
  });

  it('takes the first interval’s rate as is and gives the ETA from it', () => {
    const c = clock();
    const p = new ProgressTracker({ total: 100, now: c.now });
    c.tick(2000);
    p.advance(20); // 10/s
    const s = p.snapshot();
    expect(s.rate).toBeCloseTo(10, 12);
    expect(s.etaS).toBeCloseTo(8, 12);
    expect(s.elapsedS).toBe(2);
    expect(s.averageRate).toBeCloseTo(10, 12);
  });

  it('moves halfway to a new steady rate after one half-life, however often it is updated', () => {
    for (const stepMs of [100, 1000, 5000]) {
      const c = clock();
      const p = new ProgressTracker({ total: 1e9, halfLifeS: 5, now: c.now });
      c.tick(1000);
      p.advance(100); // 100/s
      for (let t = 0; t < 5000; t += stepMs) {
        c.tick(stepMs);
        p.advance((300 * stepMs) / 1000); // 300/s
      }
      expect(p.snapshot().rate).toBeCloseTo(200, 9);
    }
  });

  it('folds updates at the same instant into the next timed one', () => {
    const c = clock();
    const p = new ProgressTracker({ now: c.now });
    c.tick(1000);
    p.advance(5);
    p.advance(5);
    expect(p.snapshot().rate).toBeCloseTo(5, 12); // the first update at t=1s saw 5 units
    c.tick(1000);
    p.advance(0);
    // α = 1 − 2^(−1/5); instant rate over the second second = 5/s (the folded 5 units)
    expect(p.snapshot().rate).toBeCloseTo(5, 12);
    c.tick(1000);
    p.advance(0);
    const alpha = 1 - Math.pow(2, -1 / 5);
    expect(p.snapshot().rate).toBeCloseTo(5 + alpha * (0 - 5), 12);
  });

  it('has no fraction or ETA without a total, and counts elapsed time', () => {
    const c = clock();
    const p = new ProgressTracker({ now: c.now });
    c.tick(1500);
    p.advance(3);
    const s = p.snapshot();
    expect(s.fraction).toBeUndefined();
    expect(s.etaS).toBeUndefined();
    expect(s.elapsedS).toBe(1.5);
    expect(s.averageRate).toBeCloseTo(2, 12);
  });

  it('finishes when total is reached, freezing elapsed time with ETA 0', () => {
    const c = clock();
    const p = new ProgressTracker({ total: 10, now: c.now });
    c.tick(1000);
    p.advance(10);
    c.tick(5000);
    const s = p.snapshot();
    expect(s).toMatchObject({ finished: true, etaS: 0, fraction: 1, elapsedS: 1 });
  });

  it('finish() ends early; a total of 0 is complete', () => {
    const c = clock();
    const p = new ProgressTracker({ total: 10, now: c.now });
    c.tick(2000);
    p.advance(4);
    p.finish();
    c.tick(1000);
    expect(p.snapshot()).toMatchObject({ finished: true, etaS: 0, fraction: 0.4, elapsedS: 2 });
    expect(new ProgressTracker({ total: 0, now: c.now }).snapshot().fraction).toBe(1);
  });

  it('rejects progress that goes backwards or is not a number', () => {
    const p = new ProgressTracker({ total: 10 });
    p.update(5);
    expect(() => p.update(4)).toThrow(/backwards/);
    expect(() => p.update(NaN)).toThrow(/finite/);
    expect(() => new ProgressTracker({ total: -1 })).toThrow(/total/);
    expect(() => new ProgressTracker({ halfLifeS: 0 })).toThrow(/halfLifeS/);
  });

  it('ETA follows the smoothed rate, not the average', () => {
    const c = clock();
    const p = new ProgressTracker({ total: 1000, halfLifeS: 1, now: c.now });
    c.tick(10_000);
    p.advance(100); // 10/s over 10 s
    for (let i = 0; i < 20; i++) {
      c.tick(1000);
      p.advance(20); // 20/s, 20 half-lives: the EMA is at 20 − 10·2^−20
    }
    const s = p.snapshot();
    expect(s.rate).toBeCloseTo(20 - 10 * 2 ** -20, 9);
    expect(s.averageRate).toBeCloseTo(500 / 30, 12);
    expect(s.etaS).toBeCloseTo(500 / s.rate!, 12);
  });
});

describe('formatting', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(5.4)).toBe('5s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3725)).toBe('1h02m05s');
    expect(formatDuration(undefined)).toBe('?');
    expect(formatDuration(Infinity)).toBe('?');
  });

  it('formats counts and rates', () => {
    expect(formatCount(0.5)).toBe('0.50');
    expect(formatCount(7)).toBe('7');
    expect(formatCount(7.25)).toBe('7.3');
    expect(formatCount(950)).toBe('950');
    expect(formatCount(1234)).toBe('1.23k');
    expect(formatCount(56789)).toBe('56.8k');
    expect(formatCount(999_999)).toBe('1.00M');
    expect(formatCount(2.5e9)).toBe('2.50G');
    expect(formatRate(1234, 'texts')).toBe('1.23k texts/s');
    expect(formatRate(undefined, 'steps')).toBe('? steps/s');
  });
});

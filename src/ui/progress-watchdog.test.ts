import { describe, expect, it } from 'vitest';
import { ProgressWatchdog, STALL_FLOOR_MS, STALL_MULTIPLE } from './progress-watchdog.ts';

function clock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('ProgressWatchdog', () => {
  it('names the phase and what was done once nothing came for the floor', () => {
    const c = clock();
    const w = new ProgressWatchdog({ phase: 'evaluating the base model', done: 0, total: 80, unit: 'texts' }, { now: c.now });
    c.advance(STALL_FLOOR_MS);
    expect(w.check()).toBeNull();
    c.advance(1);
    expect(w.check()).toBe('evaluating the base model: no progress for 120 s after 0 of 80 texts');
  });

  it('stays quiet while progress keeps coming, however slow the whole', () => {
    const c = clock();
    const w = new ProgressWatchdog({ phase: 'training', done: 0, total: 400, unit: 'updates' }, { now: c.now });
    for (let i = 1; i <= 100; i++) {
      c.advance(60_000);
      expect(w.check()).toBeNull();
      w.progress({ phase: 'training', done: i, total: 400, unit: 'updates' });
    }
  });

  it('scales the bound with the slowest gap of the phase, and starts again at a new phase', () => {
    const c = clock();
    const w = new ProgressWatchdog({ phase: 'training', done: 0, total: 10, unit: 'updates' }, { now: c.now });
    c.advance(10_000);
    w.progress({ phase: 'training', done: 1, total: 10, unit: 'updates' });
    c.advance(30_000); // the slowest update so far: 30 s → bound 600 s
    w.progress({ phase: 'training', done: 2, total: 10, unit: 'updates' });
    expect(w.boundMs).toBe(STALL_MULTIPLE * 30_000);
    c.advance(STALL_MULTIPLE * 30_000);
    expect(w.check()).toBeNull();
    c.advance(1000);
    expect(w.check()).toBe('training: no progress for 601 s after 2 of 10 updates');
    // A new phase: an encode batch is measured on its own; the floor again.
    w.progress({ phase: 'evaluating the trained model', done: 0, total: 80, unit: 'texts' });
    expect(w.boundMs).toBe(STALL_FLOOR_MS);
  });

  it('takes a smaller floor where the caller asks (the page test)', () => {
    const c = clock();
    const w = new ProgressWatchdog({ phase: 'mining', done: 3, total: null, unit: 'texts' }, { now: c.now, floorMs: 2000 });
    c.advance(2500);
    expect(w.check()).toBe('mining: no progress for 2 s after 3 texts');
  });
});

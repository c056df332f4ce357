import { describe, expect, it } from 'vitest';
import { ProgressWatchdog, STALL_FLOOR_MS, STALL_MULTIPLE, stallFloorFor } from './progress-watchdog.ts';

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

  it('a GradCache update longer than the floor that reports its mini-batches lives; stuck mid-update, it stalls', () => {
    // The page bench's bge-base LoRA run on one WASM thread (timed in Node): compiling its three
    // sessions ~5 s, then 12 mini-batches embedded at ~4.4 s and differentiated at ~8.9 s each: an
    // update of ~160 s, past the 120 s floor, with no update event in between (engine.svelte.ts
    // turns the trainer's 'compile' and 'mini-batch' events into these).
    const c = clock();
    const training = (done: number) => ({ phase: 'training', done, total: 2, unit: 'updates' });
    const w = new ProgressWatchdog(training(0), { now: c.now });
    for (let g = 0; g < 3; g++) {
      c.advance(2500);
      w.progress({ phase: 'compiling the training graphs', done: g, total: 3, unit: 'graphs' });
    }
    c.advance(100);
    w.progress(training(0));
    const gaps = [...Array(12).fill(4400), ...Array(12).fill(8900)];
    const run = (done: number, n = gaps.length) => {
      for (const ms of gaps.slice(0, n)) {
        c.advance(ms);
        expect(w.check()).toBeNull();
        w.progress(training(done));
      }
    };
    run(0);
    run(1);
    // Stuck after 14 mini-batches of the second: the bound is 20 × the slowest gap (8.9 s).
    run(1, 14);
    c.advance(STALL_MULTIPLE * 8900);
    expect(w.check()).toBeNull();
    c.advance(1000);
    expect(w.check()).toBe('training: no progress for 179 s after 1 of 2 updates');
    // Reporting only whole updates, the same first update (~160 s) would have been called stalled.
    const quiet = new ProgressWatchdog(training(0), { now: c.now });
    c.advance(gaps.reduce((a, b) => a + b, 0));
    expect(quiet.check()).toBe('training: no progress for 159 s after 0 of 2 updates');
  });

  it('grows the floor with the model past bge-base: a bge-large batch may take minutes on one WASM thread', () => {
    const base = { hiddenSize: 768, numLayers: 12, intermediateSize: 3072 };
    expect(stallFloorFor(null)).toBe(STALL_FLOOR_MS);
    expect(stallFloorFor(base)).toBe(STALL_FLOOR_MS);
    expect(stallFloorFor({ hiddenSize: 384, numLayers: 12, intermediateSize: 1536 })).toBe(STALL_FLOOR_MS); // bge-small: never below
    const large = stallFloorFor({ hiddenSize: 1024, numLayers: 24, intermediateSize: 4096 });
    expect(large).toBe(426_667); // 24·(4·1024² + 2·1024·4096) ÷ 12·(4·768² + 2·768·3072) = 3.56×
    // An encode batch of bge-large measured at 154 s passes under its floor, as it would not under 120 s.
    const c = clock();
    const w = new ProgressWatchdog({ phase: 'evaluating the base model', done: 0, total: 80, unit: 'texts' }, { now: c.now, floorMs: large });
    c.advance(154_000);
    expect(w.check()).toBeNull();
    c.advance(large - 154_000 + 1);
    expect(w.check()).toBe('evaluating the base model: no progress for 426 s after 0 of 80 texts');
  });

  it('takes a smaller floor where the caller asks (the page test)', () => {
    const c = clock();
    const w = new ProgressWatchdog({ phase: 'mining', done: 3, total: null, unit: 'texts' }, { now: c.now, floorMs: 2000 });
    c.advance(2500);
    expect(w.check()).toBe('mining: no progress for 2 s after 3 texts');
  });
});

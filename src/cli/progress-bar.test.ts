import { describe, expect, it } from 'vitest';
import { ProgressBar, renderProgressLine } from './progress-bar.ts';
import type { ProgressSnapshot } from '../lib/progress/progress.ts';

const snap = (over: Partial<ProgressSnapshot>): ProgressSnapshot => ({
  done: 0,
  total: undefined,
  unit: 'texts',
  fraction: undefined,
  elapsedS: 0,
  rate: undefined,
  averageRate: undefined,
  etaS: undefined,
  finished: false,
  ...over,
});

function fakeStream(isTTY: boolean, columns = 80) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (s: string) => writes.push(s) } };
}

describe('renderProgressLine', () => {
  it('draws bar, percent, count, rate and ETA within the width', () => {
    const line = renderProgressLine(snap({ done: 250, total: 1000, fraction: 0.25, rate: 12.5, etaS: 60 }), 'embed', 80);
    // 79 columns used: the bar takes what the text leaves, 28 cells, 7 of them (25%) filled
    expect(line).toBe(`embed [${'#'.repeat(7)}${'.'.repeat(21)}]  25% 250/1000 texts  13 texts/s  ETA 1m00s`);
    expect(line.length).toBe(79);
  });

  it('drops the bar on a narrow terminal, and shows elapsed time without a total', () => {
    expect(renderProgressLine(snap({ done: 5, total: 10, fraction: 0.5, rate: 1, etaS: 5 }), '', 30)).toBe(' 50% 5/10 texts  1 texts/s  ETA 5s');
    expect(renderProgressLine(snap({ done: 5, elapsedS: 65 }), 'x')).toBe('x 5 texts  ? texts/s  1m05s elapsed');
  });

  it('puts a detail (a second rate) after the time', () => {
    expect(renderProgressLine(snap({ done: 5, elapsedS: 65 }), 'x', 80, '40 tokens/s')).toBe('x 5 texts  ? texts/s  1m05s elapsed  40 tokens/s');
  });

  it('shows the average rate and total time when finished', () => {
    const line = renderProgressLine(snap({ done: 10, total: 10, fraction: 1, rate: 3, averageRate: 5, elapsedS: 2, etaS: 0, finished: true }), '', 60);
    expect(line).toMatch(/^\[#+\] 100% 10\/10 texts  5 texts\/s  in 2s$/);
  });
});

describe('ProgressBar', () => {
  it('on a terminal redraws in place, at most once per redrawMs, and ends with a newline', () => {
    let t = 0;
    const { writes, stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 100, unit: 'texts', stream, redrawMs: 100, now: () => t });
    expect(writes).toHaveLength(1);
    for (let i = 0; i < 10; i++) {
      t += 30;
      bar.advance(1);
    }
    // draws at t = 120, 240 (≥ 100 ms after the previous draw)
    expect(writes).toHaveLength(3);
    expect(writes.every((w) => w.startsWith('\r') && w.endsWith('\x1b[K'))).toBe(true);
    bar.finish();
    bar.finish();
    expect(writes.slice(-2)[1]).toBe('\n');
    expect(writes.slice(-2)[0]).toContain('10/100 texts');
    expect(writes).toHaveLength(5);
  });

  it('off a terminal prints whole lines every logEveryMs and a final one', () => {
    let t = 0;
    const { writes, stream } = fakeStream(false);
    const bar = new ProgressBar({ total: 4, unit: 'texts', stream, logEveryMs: 1000, now: () => t });
    expect(writes).toHaveLength(0);
    for (let i = 0; i < 4; i++) {
      t += 600;
      bar.advance(1);
    }
    bar.finish();
    expect(writes).toHaveLength(3); // at 600 ms (first), at 1800 ms, and the final line
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
    expect(writes[2]).toContain('4/4 texts');
    expect(writes[2]).toContain('in 2s');
  });
});

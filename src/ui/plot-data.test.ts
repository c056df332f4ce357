import { describe, expect, it } from 'vitest';
import type { StepEvent } from '../../workers/api.ts';
import { smoothEma, toCsv, trainingCurves } from './plot-data.ts';

describe('plot data', () => {
  it('smooths like TensorBoard: debiased EMA, a constant stays constant', () => {
    expect(smoothEma([2, 2, 2, 2], 0.9)).toEqual([2, 2, 2, 2].map(() => expect.closeTo(2, 12)));
    // By hand for w = 0.5: s1 = 0.5·1 → /0.5 = 1; s2 = 0.25 + 0.5·3 = 1.75 → /0.75 = 2.3333; s3 = 0.875 + 0.5·5 = 3.375 → /0.875 = 3.857142…
    const s = smoothEma([1, 3, 5], 0.5);
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[1]).toBeCloseTo(7 / 3, 12);
    expect(s[2]).toBeCloseTo(27 / 7, 12);
    expect(smoothEma([4, 1, 9], 0)).toEqual([4, 1, 9]);
  });

  it('turns step events into columns', () => {
    const step = (i: number, loss: number, tokensPerS: number | null) => ({ type: 'step', step: i, loss, lr: i * 1e-5, gradNorm: 1 / i, tokensPerS }) as unknown as StepEvent;
    const c = trainingCurves([step(1, 3, null), step(2, 2, 500)], 0);
    expect(c).toEqual({ update: [1, 2], loss: [3, 2], lossSmoothed: [3, 2], lr: [1e-5, 2e-5], gradNorm: [1, 0.5], tokensPerS: [null, 500] });
  });

  it('writes CSV with quoted headers and empty cells for missing values', () => {
    expect(toCsv(['update', 'loss, raw', 'say "hi"'], [[1, 2], [0.5, null], [3]])).toBe('update,"loss, raw","say ""hi"""\r\n1,0.5,3\r\n2,,\r\n');
  });
});

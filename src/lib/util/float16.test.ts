import { describe, expect, it } from 'vitest';
import { float16Bits, float16Value, fromFloat16, toFloat16 } from './float16.ts';

describe('float16', () => {
  it('rounds to nearest, ties to even, as binary16 defines', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
      [65520, 0x7c00], // halfway to 2^16: rounds up to Infinity
      [65519, 0x7bff], [Infinity, 0x7c00], [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // the smallest normal
      [2 ** -24, 0x0001], // the smallest subnormal
      [2 ** -25, 0x0000], // halfway to it: ties to even (0)
      [3 * 2 ** -26, 0x0001], // above halfway
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next float16: even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: even (1+2^-9)
      [1 / 3, 0x3555],
    ];
    for (const [x, bits] of cases) expect(float16Bits(x), String(x)).toBe(bits);
    expect(Number.isNaN(float16Value(float16Bits(NaN)))).toBe(true);
  });

  it('every finite value goes to its nearest float16 (checked against both neighbours)', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const xs = Float32Array.from({ length: 20000 }, (_, i) => (rand() - 0.5) * 2 ** (((i % 40) - 28)));
    const back = fromFloat16(toFloat16(xs));
    for (let i = 0; i < xs.length; i++) {
      const b = float16Bits(xs[i]);
      const err = Math.abs(xs[i] - back[i]);
      for (const n of [b - 1, b + 1]) {
        if ((n & 0x7fff) >= 0x7c00 || n < 0 || n > 0xffff || ((b ^ n) & 0x8000)) continue;
        expect(err, `${xs[i]}`).toBeLessThanOrEqual(Math.abs(xs[i] - float16Value(n)));
      }
    }
    // Every float16 survives the round trip exactly.
    const all = Uint16Array.from({ length: 0x7c00 }, (_, i) => i);
    expect(toFloat16(fromFloat16(all))).toEqual(all);
  });
});

// IEEE 754 binary16 (float16) bits from float32 values and back: how frozen weights are held when
// a run asks for `frozenDtype: "float16"` (docs/memory.md#float16-frozen-weights). Rounds to
// nearest, ties to even, as torch's `.half()` and ONNX's Cast do; overflow goes to ±Infinity,
// small values to subnormals or ±0, NaN stays NaN.
// Not the bfloat16 moments (train/optimizer.ts: the upper 16 bits, rounded stochastically).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float32 value's float16 bits. */
export function float16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Infinity, NaN (quiet)
  const e = exp - 127 + 15; // float16's biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // past 65504 after rounding: Infinity
  if (e <= 0) {
    // Subnormal or zero: the implicit 1 joins the mantissa, shifted right by 1 − e more places.
    if (e < -10) return sign; // under half the smallest subnormal: ±0
    const m = mant | 0x800000;
    const shift = 14 - e; // 13 (float32 → float16 mantissa) + 1 − e
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the right result (up to Infinity).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

/** float32 values → float16 bits. */
export function toFloat16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = float16Bits(data[i]);
  return out;
}

/** One float16 value (its bits) as a number: exact, every float16 is a float32. */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float16 bits → float32 values. */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16Value(bits[i]);
  return out;
}

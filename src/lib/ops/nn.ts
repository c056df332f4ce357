// Neural-network ops: softmax (fused ONNX Softmax), logSoftmax (written out), layerNorm (fused
// LayerNormalization, backward from primitives), gelu (exact erf form, from primitives),
// l2Normalize (torch F.normalize), and a reproducible dropout whose mask is a counter-based hash.
// Not losses (src/lib/losses/) and not attention (the BERT module builds it from these).

import { type OpDef, Value } from '../graph/graph.ts';
import { normalizeAxis } from '../graph/shape.ts';
import { attr } from '../graph/types.ts';
import {
  add, cast, clampMin, erf, exp, floor, less, log, mul, sqrt, sub, where, zerosLike, div,
} from './elementwise.ts';
import { reduceMaxDetached, reduceMean, reduceSum, sumToShape } from './reduce.ts';
import { matmul } from './matmul.ts';
import { concat, slice, squeeze, unsqueeze } from './shape.ts';

// ---- softmax / logSoftmax ----

/** Saves y: dx = y ⊙ (dy − Σ dy⊙y). https://onnx.ai/onnx/operators/onnx__Softmax.html */
const Softmax: OpDef = {
  type: 'Softmax',
  infer: (x) => [{ dtype: x[0]!.dtype, shape: x[0]!.shape }],
  backward: ({ y, dy, attrs }) => {
    const axis = attrs.axis.value as number;
    return [mul(y[0], sub(dy[0]!, reduceSum(mul(dy[0]!, y[0]), [axis], true)))];
  },
};

export function softmax(x: Value, axis = -1): Value {
  return x.graph.apply(Softmax, [x], { axis: attr.int(normalizeAxis(axis, x.rank)) })[0];
}

/**
 * x − max − log Σ exp(x − max), written out: onnxruntime's LogSoftmax runs on the CPU in WebGPU
 * sessions. The max is detached (its gradient cancels exactly).
 */
export function logSoftmax(x: Value, axis = -1): Value {
  const a = normalizeAxis(axis, x.rank);
  const shifted = sub(x, reduceMaxDetached(x, [a], true));
  return sub(shifted, log(reduceSum(exp(shifted), [a], true)));
}

// ---- layerNorm ----

/**
 * ONNX LayerNormalization over the last axis, outputs Y, Mean, InvStdDev (opset 17; the
 * statistics are float32 whatever x is, as onnxruntime computes them).
 * Saves mean and inverse std: x̂ = (x − μ)·r, dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂)) with
 * dx̂ = dy⊙γ; dγ = Σ dy⊙x̂, dβ = Σ dy. https://onnx.ai/onnx/operators/onnx__LayerNormalization.html
 */
const LayerNormalization: OpDef = {
  type: 'LayerNormalization',
  infer: (x) => {
    const a = x[0]!;
    const stats = [...a.shape.slice(0, -1), 1];
    return [
      { dtype: a.dtype, shape: a.shape },
      { dtype: 'float32', shape: stats },
      { dtype: 'float32', shape: stats },
    ];
  },
  backward: ({ x, y, dy }) => {
    const [input, gamma, beta] = x as Value[];
    if (dy[1] || dy[2]) throw new Error('LayerNormalization: Mean/InvStdDev outputs are not differentiable');
    // Mean/InvStdDev are float32 (stash_type 1) even for float64 x.
    const mean = cast(y[1], input.dtype);
    const invStd = cast(y[2], input.dtype);
    const g = dy[0]!;
    const xhat = mul(sub(input, mean), invStd);
    const dxhat = mul(g, gamma);
    const dx = mul(invStd, sub(sub(dxhat, reduceMean(dxhat, [-1], true)), mul(xhat, reduceMean(mul(dxhat, xhat), [-1], true))));
    return [dx, sumToShape(mul(g, xhat), gamma.shape), beta ? sumToShape(g, beta.shape) : null];
  },
};

/** γ ⊙ (x − μ)/√(σ² + ε) + β over the last axis (biased variance), as torch nn.LayerNorm. */
export function layerNorm(x: Value, gamma: Value, beta: Value, eps = 1e-12): Value {
  return x.graph.apply(LayerNormalization, [x, gamma, beta], { axis: attr.int(-1), epsilon: attr.float(eps) })[0];
}

// ---- gelu ----

/** Exact GELU 0.5·x·(1 + erf(x/√2)) (torch nn.functional.gelu default), from primitives. */
export function gelu(x: Value): Value {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

// ---- l2Normalize ----

/** x / max(‖x‖₂, eps) along `axis`, as torch.nn.functional.normalize. */
export function l2Normalize(x: Value, axis = -1, eps = 1e-12): Value {
  const a = normalizeAxis(axis, x.rank);
  const norm = sqrt(reduceSum(mul(x, x), [a], true));
  return div(x, clampMin(norm, eps));
}

// ---- dropout ----
//
// The mask of an element (row i = all axes but the last, column j = the last axis) is decided by
// y = α_i·k_j³ + β_i·k_j² + γ_i·k_j + δ_i mod P: a random cubic per row evaluated at a column
// key. Per row, any 4 columns get independent uniform residues; rows get independent keys. (A
// quadratic was measurably weaker: rows whose (α, β) are proportional with a small ratio, about
// 1 pair in 200k, share far more dropped columns than chance; a cubic needs 3 proportional keys.)
// The row keys come from a Feistel-style hash of (seed, stream, row coordinates) on the row
// tensor (C or T times smaller than x), the column keys from a fixed permutation of j, so the
// full-size work is one MatMul [..., M, 4]·[4, N] (exact: every partial sum is an integer or
// half-integer below 2²²) plus frac and the threshold, instead of ~100 passes over the mask.

/**
 * Hash modulus: a prime with 3 ∤ P − 1 (so x ↦ x³ permutes Z_P) and 3·P² < 2²² (the MatMul's
 * half-integers stay exact), small enough that every rounded quotient keeps its floor (see modP).
 * Also the most columns a mask can have: column keys repeat after P.
 */
export const HASH_P = 1031;
const P = HASH_P;
/** Round constants, one per Feistel round (any residues; distinct rounds differ). */
const ROUND_K = [409, 877, 163, 991, 57, 733, 281, 619, 5, 857, 443, 97, 769, 211, 541, 353];

/**
 * v mod P for integer-valued v in [0, 2²¹): (v + ½)/P lies ≥ ½/P ≈ 4.9e-4 from every integer and
 * its float32 value is off by < 2.5e-4, so q = floor((v + ½)·(1/P)) is exact on every backend
 * (even with a rounded or fused multiply), and so is v − q·P.
 */
function modP(v: Value): Value {
  return sub(v, mul(floor(mul(add(v, 0.5), 1 / P)), P));
}

function cube(t: Value /* residues */): Value {
  return modP(mul(modP(mul(t, t)), t));
}

interface Lanes { a: Value; b: Value; c: Value }

/**
 * One Feistel round: t = (a + lo + k) mod P, u = t³ mod P, (a, b, c) ← (b + hi + u, c, u).
 * Invertible for given (lo, hi), and (lo, hi) ↦ state is injective, so a coordinate's two
 * base-P digits never alias. a stays unreduced (< 3P); b and c are residues.
 */
function round(s: Lanes, k: number, lo?: Value | number, hi?: Value | number): Lanes {
  const t = modP(lo === undefined ? add(s.a, k) : add(add(s.a, lo), k));
  const u = cube(t);
  return { a: hi === undefined ? add(s.b, u) : add(add(s.b, hi), u), b: s.c, c: u };
}

/** CumSum along an axis; only ever used on constants-for-autodiff (coordinates). */
const CumSum: OpDef = { type: 'CumSum', nondiff: 'all', infer: (x) => [{ dtype: x[0]!.dtype, shape: x[0]!.shape }] };

/**
 * The element coordinate j along `axis` of x as two base-P digits (lo = j mod P, hi = ⌊j/P⌋),
 * float32 tensors of x's rank with every other axis 1. A static axis gives constants; a symbolic
 * one CumSum of ones cut from x (no Range/Shape: both run on the CPU in WebGPU sessions).
 */
function coordinate(x: Value, axis: number): { lo: Value; hi: Value } {
  const g = x.graph;
  const d = x.shape[axis];
  const dims = x.shape.map((_, i) => (i === axis ? d : 1));
  if (typeof d === 'number') {
    const j = Array.from({ length: d }, (_, i) => i);
    return {
      lo: g.constant('float32', j.map((i) => i % P), dims as number[]),
      hi: g.constant('float32', j.map((i) => Math.floor(i / P)), dims as number[]),
    };
  }
  const others = x.shape.map((_, i) => i).filter((i) => i !== axis);
  const line = slice(x, others.map(() => 0), others.map(() => 1), others);
  const ones = add(zerosLike(x.dtype === 'float32' ? line : cast(line, 'float32')), 1);
  const j = sub(g.apply(CumSum, [ones, g.constant('int64', axis)])[0], 1);
  const hi = floor(mul(add(j, 0.5), 1 / P));
  return { lo: sub(j, mul(hi, P)), hi };
}

/**
 * The row keys of x's rows (all axes but the last): [...x.shape[:-1], 4] holding (α, β, γ, δ + ½),
 * residues mod P from (seed, stream, row coordinates). x's last axis and values are ignored.
 * `seed`: a float32 scalar graph input holding an integer in [0, 2²⁴).
 */
export function hashRowKeys(x: Value, seed: Value, stream: number): Value {
  if (x.rank < 2) throw new Error(`hashRowKeys: x has rank ${x.rank}; need rows and a last axis`);
  const g = x.graph;
  if (!Number.isInteger(stream) || stream < 0 || stream >= P * P) throw new Error(`hashRowKeys: stream ${stream} outside [0, ${P * P})`);
  const s = seed.dtype === 'float32' ? seed : cast(seed, 'float32');
  // Seed digits base 256 by exact power-of-two scaling: s = d2·2¹⁶ + d1·2⁸ + d0.
  const d2 = floor(mul(s, 2 ** -16));
  const rem = sub(s, mul(d2, 2 ** 16));
  const d1 = floor(mul(rem, 2 ** -8));
  const d0 = sub(rem, mul(d1, 2 ** 8));
  const zero = g.constant('float32', 0);
  let st: Lanes = { a: zero, b: zero, c: zero };
  let r = 0;
  st = round(st, ROUND_K[r++], stream % P, Math.floor(stream / P));
  st = round(st, ROUND_K[r++], d0, d1);
  st = round(st, ROUND_K[r++], d2);
  for (let axis = 0; axis < x.rank - 1; axis++) {
    const { lo, hi } = coordinate(x, axis);
    st = round(st, ROUND_K[r++], lo, hi);
  }
  for (let i = 0; i < 3; i++) st = round(st, ROUND_K[r++]);
  const next = round(st, ROUND_K[r++]);
  const last = x.rank - 1;
  return concat([modP(st.a), st.b, st.c, add(next.c, 0.5)], last);
}

/** j³ mod P in plain integers (the graph's cube, exact in float32 too). */
function cubeInt(t: number): number {
  return (((t * t) % P) * t) % P;
}

/** Column key of column j < P: a fixed permutation of Z_P (two affine + cube rounds). */
export function columnKey(j: number): number {
  return cubeInt((cubeInt((j + 17) % P) + 389) % P);
}

/**
 * The column keys of x's last axis: [4, N] holding (k³, k², k, 1) mod P with k = columnKey(j), N ≤ P.
 * A static N gives a constant; a symbolic one computes the same numbers in the graph.
 */
export function hashColumnKeys(x: Value): Value {
  const g = x.graph;
  const last = x.rank - 1;
  const n = x.shape[last];
  if (typeof n === 'number') {
    if (n > P) throw new Error(`hashColumnKeys: ${n} columns; the hash has at most ${P} distinct column keys`);
    const k = Array.from({ length: n }, (_, j) => columnKey(j));
    return g.constant('float32', [...k.map(cubeInt), ...k.map((v) => (v * v) % P), ...k, ...k.map(() => 1)], [4, n]);
  }
  const { lo } = coordinate(x, last); // j < P assumed: more columns than P would repeat keys
  const row = x.rank === 2 ? lo : squeeze(lo, Array.from({ length: last - 1 }, (_, i) => i)); // [1,N]
  const k = cube(modP(add(cube(modP(add(row, 17))), 389)));
  const k2 = modP(mul(k, k));
  return concat([modP(mul(k2, k)), k2, k, add(zerosLike(k), 1)], 0);
}

/**
 * frac(y/P) for the row cubic y (a half-integer < 3P² + P): ≈ (y mod P + ½)/P, off by less than
 * half-ulp(2048) + 3090·2⁻²⁴ < 3.1e-4 < ½/P on every backend, so its floor is exact.
 */
function fracOfKeys(rows: Value /* [..., M, 4] */, cols: Value /* [4, N] */): Value {
  const z = mul(matmul(rows, cols), 1 / P);
  return sub(z, floor(z));
}

/**
 * Which elements inverted dropout drops, [..., M, N] bool, from row keys [..., M, 4] and column
 * keys [4, N]: where y mod P < round(p·P) (so an element is dropped with probability round(p·P)/P
 * ≈ p). The threshold sits on a multiple of 1/P, ½/P from every value frac can take, so the
 * decision is the same on every backend.
 */
export function dropped(rows: Value, cols: Value, p: number): Value {
  if (!(p > 0 && p < 1)) throw new Error(`dropout: p = ${p} outside (0, 1)`);
  return less(fracOfKeys(rows, cols), Math.round(p * P) / P);
}

/**
 * x / (1 − p) where not `drops`, else 0. Written as Where over x·(1/(1 − p)) rather than x times a
 * float mask, so what the backward keeps is the bool (1 byte an element) and not a float32 mask:
 * dx = where(drops, 0, dy)·(1/(1 − p)). The same values (zeros aside: +0 where x·0 gave −0).
 */
export function applyDropout(x: Value, drops: Value, p: number): Value {
  return where(drops, 0, mul(x, 1 / (1 - p)));
}

/** x as [1, N] when it is a vector, so it has rows. */
function withRows(x: Value): Value {
  return x.rank === 1 ? unsqueeze(x, [0]) : x;
}

/**
 * Numbers in (0, 1) on 1/P steps (≈ (r + ½)/P, r uniform in Z_P), one per element of x, a pure
 * function of (seed, stream, element coordinates); the same in every graph and on every backend.
 * x's last axis may have at most P elements. `seed`: a float32 scalar input, integer in [0, 2²⁴).
 */
export function hashUniform(x: Value, seed: Value, stream: number): Value {
  const xr = withRows(x);
  let u = fracOfKeys(hashRowKeys(xr, seed, stream), hashColumnKeys(xr));
  if (x.rank === 1) u = squeeze(u, [0]);
  return x.dtype === 'float32' ? u : cast(u, x.dtype);
}

/**
 * Inverted dropout for any graph, y = x ⊙ mask with mask = 0 where `dropped` (drop rate
 * round(p·P)/P), else 1/(1 − p); the backward keeps the float mask. Not applyDropout's bool: in an
 * arbitrary graph onnxruntime's transpose optimizer may move a Transpose onto the bool, which
 * WebGPU runs on the CPU (the engine browser test's op graph did). The encoder's sites use
 * applyDropout, their WebGPU placement checked by the same test.
 * Each dropout site in a graph needs its own `stream` number; reuse it in every graph that must
 * see the same masks (GradCache's two passes).
 */
export function dropout(x: Value, p: number, seed: Value, stream: number): Value {
  if (p === 0) return x;
  if (!(p > 0 && p < 1)) throw new Error(`dropout: p = ${p} outside [0, 1)`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new Error(`dropout: dtype ${x.dtype}`);
  return x.graph.scope('dropout', () => {
    const xr = withRows(x);
    const dtype = x.dtype as 'float32' | 'float64';
    let mask = where(dropped(hashRowKeys(xr, seed, stream), hashColumnKeys(xr), p), x.graph.constant(dtype, 0), x.graph.constant(dtype, 1 / (1 - p)));
    if (x.rank === 1) mask = squeeze(mask, [0]);
    return mul(x, mask);
  });
}

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
import { slice } from './shape.ts';

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

/** Hash modulus: a prime with m² + 151·m < 2²⁴, so every step is exact integer arithmetic in float32. */
const M = 4001;
const LANES = [
  { k: 1013, a: 97 },
  { k: 2371, a: 151 },
];

/** v mod M for integer-valued v in [0, 2²⁴); corrects the floor when v/M rounds across an integer. */
function modM(v: Value): Value {
  const r = sub(v, mul(floor(div(v, M)), M));
  const up = where(less(r, 0), add(r, M), r);
  return where(less(up, M), up, sub(up, M));
}

/** One mixing round: t = (h + c + k) mod M; h' = (t² + a·t) mod M. h and c in [0, M). */
function mix(h: Value, c: Value | number, lane: { k: number; a: number }): Value {
  const t = modM(add(add(h, c), lane.k));
  return modM(add(mul(t, t), mul(t, lane.a)));
}

/** CumSum along an axis; only ever used on constants-for-autodiff (coordinates). */
const CumSum: OpDef = { type: 'CumSum', nondiff: 'all', infer: (x) => [{ dtype: x[0]!.dtype, shape: x[0]!.shape }] };

/**
 * The element coordinate along `axis` as a tensor broadcastable to x, values mod M. A static axis
 * is a constant; a symbolic one is CumSum of ones cut from x (no Range/Shape: both run on the CPU
 * in WebGPU sessions).
 */
function coordinate(x: Value, axis: number): Value {
  const g = x.graph;
  const d = x.shape[axis];
  const dims = x.shape.map((_, i) => (i === axis ? d : 1));
  if (typeof d === 'number') {
    return g.constant(x.dtype, Array.from({ length: d }, (_, i) => i % M), dims as number[]);
  }
  const others = x.shape.map((_, i) => i).filter((i) => i !== axis);
  const line = slice(x, others.map(() => 0), others.map(() => 1), others);
  const ones = add(zerosLike(line), 1);
  const count = g.apply(CumSum, [ones, g.constant('int64', axis)])[0];
  return modM(sub(count, 1));
}

/**
 * Uniform numbers in [0, 1) on 1/M² steps, one per element of x, a pure function of (seed,
 * stream, element coordinates). Same seed and stream → the same numbers in every graph and on
 * every backend (integer-exact arithmetic). `seed`: a graph input holding an integer in [0, 2²⁴).
 */
export function hashUniform(x: Value, seed: Value, stream: number): Value {
  const s = cast(seed, x.dtype);
  let h = [modM(s), modM(floor(div(s, M)))];
  h = h.map((v, i) => mix(v, stream % M, LANES[i]));
  for (let axis = 0; axis < x.rank; axis++) {
    const c = coordinate(x, axis);
    h = h.map((v, i) => mix(v, c, LANES[i]));
  }
  const h0 = mix(h[0], h[1], LANES[0]);
  const h1 = mix(h[1], h0, LANES[1]);
  return div(add(mul(h0, M), h1), M * M);
}

/**
 * Inverted dropout, y = x ⊙ keep / (1 − p), keep = (u ≥ p) with u = hashUniform(x, seed, stream).
 * The mask is a constant for autodiff, so the backward is dy ⊙ keep / (1 − p), reusing the mask.
 * Each dropout site in a graph needs its own `stream` number; reuse it in every graph that must
 * see the same masks (GradCache's two passes).
 */
export function dropout(x: Value, p: number, seed: Value, stream: number): Value {
  if (p === 0) return x;
  if (!(p > 0 && p < 1)) throw new Error(`dropout: p = ${p} outside [0, 1)`);
  return x.graph.scope('dropout', () => {
    const u = hashUniform(x, seed, stream);
    const scaled = where(less(u, p), x.graph.constant(x.dtype, 0), 1 / (1 - p));
    return mul(x, scaled);
  });
}

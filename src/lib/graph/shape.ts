// Shape inference with symbolic dims: numpy broadcasting, ONNX Reshape's 0/-1 rule, axis
// normalisation, and the static analysis of which axes a broadcast expanded (for gradients).
// Convention: a symbolic dim ('B', 'T') is never the size-1 side of a broadcast. Two different
// symbols cannot be broadcast against each other (undecidable: throws).
// Not a general symbolic algebra: products of dims appear only as 'B*T' style strings from -1.

import type { Dim, Shape } from './types.ts';

export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

function broadcastDim(a: Dim, b: Dim, what: string): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'string' && typeof b === 'number') return b;
  if (typeof a === 'number' && typeof b === 'string') return a;
  throw new Error(`${what}: cannot broadcast ${a} against ${b}`);
}

/** numpy/ONNX multidirectional broadcasting. https://onnx.ai/onnx/repo-docs/Broadcasting.html */
export function broadcastShapes(shapes: Shape[], what = 'broadcast'): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = i - (rank - s.length);
      if (k >= 0) d = broadcastDim(d, s[k], what);
    }
    out.push(d);
  }
  return out;
}

/**
 * Which axes of `out` a value of shape `x` was broadcast along, so that its gradient is
 * reduceSum(dy, axes) reshaped to `x`. `leading`: axes `x` did not have at all (summed away);
 * `kept`: axes where `x` has size 1 (summed with keepdims, indices in `out`'s numbering).
 */
export function broadcastAxes(x: Shape, out: Shape): { leading: number[]; kept: number[] } {
  const lead = out.length - x.length;
  if (lead < 0) throw new Error(`shape [${x}] has higher rank than [${out}]`);
  const leading = Array.from({ length: lead }, (_, i) => i);
  const kept: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const a = x[i];
    const b = out[i + lead];
    if (a === b) continue;
    if (a === 1) kept.push(i + lead);
    else if (typeof a === 'string' && typeof b === 'number') continue; // a symbolic dim that equals b at run time
    else throw new Error(`cannot tell how [${x}] was broadcast to [${out}] (dim ${a} vs ${b})`);
  }
  return { leading, kept };
}

/**
 * Sums of symbolic dims as they arise from Slice and Concat ('T-1', 'T+2'): a linear form over
 * atoms (a symbol or a product such as 'B*T') plus a constant, printed in one canonical order so
 * that equal sums compare equal as strings.
 */
export function addDims(terms: { dim: Dim; sign: 1 | -1 }[]): Dim {
  const coef = new Map<string, number>();
  let k = 0;
  for (const { dim, sign } of terms) {
    if (typeof dim === 'number') {
      k += sign * dim;
      continue;
    }
    for (const m of dim.match(/[+-]?[^+-]+/g)!) {
      const s = m.startsWith('-') ? -sign : sign;
      const atom = m.replace(/^[+-]/, '');
      if (/^\d+$/.test(atom)) k += s * Number(atom);
      else coef.set(atom, (coef.get(atom) ?? 0) + s);
    }
  }
  const parts: string[] = [];
  for (const atom of [...coef.keys()].sort()) {
    const c = coef.get(atom)!;
    if (c === 0) continue;
    if (Math.abs(c) !== 1) throw new Error(`dim arithmetic: ${c}·${atom} is not supported`);
    parts.push(`${c < 0 ? '-' : parts.length ? '+' : ''}${atom}`);
  }
  if (parts.length === 0) return k;
  if (parts[0].startsWith('-')) throw new Error(`dim arithmetic: negative size ${parts.join('')}`);
  return k === 0 ? parts.join('') : `${parts.join('')}${k > 0 ? '+' : '-'}${Math.abs(k)}`;
}

/** A product of dims as a constant factor and a sorted list of symbols. */
interface Product {
  k: number;
  syms: string[];
}

function product(dims: Shape): Product {
  const p: Product = { k: 1, syms: [] };
  for (const d of dims) {
    if (typeof d === 'number') p.k *= d;
    else if (/[+-]/.test(d)) throw new Error(`reshape: cannot use the size ${d} in a product`);
    else p.syms.push(...d.split('*'));
  }
  p.syms.sort();
  return p;
}

function divide(a: Product, b: Product, what: string): Dim {
  const syms = [...a.syms];
  for (const s of b.syms) {
    const i = syms.indexOf(s);
    if (i < 0) throw new Error(`${what}: cannot infer -1 (symbol ${s} does not divide)`);
    syms.splice(i, 1);
  }
  if (a.k % b.k !== 0) throw new Error(`${what}: cannot infer -1 (${a.k} not divisible by ${b.k})`);
  const k = a.k / b.k;
  if (syms.length === 0) return k;
  return [...(k === 1 ? [] : [String(k)]), ...syms].join('*');
}

/**
 * ONNX Reshape (allowzero = 0): 0 copies the input dim at that position, -1 is inferred.
 * https://onnx.ai/onnx/operators/onnx__Reshape.html
 */
export function reshapeShape(x: Shape, target: readonly number[]): Dim[] {
  const out: (Dim | null)[] = target.map((t, i) => {
    if (t === 0) {
      if (i >= x.length) throw new Error(`reshape: 0 at position ${i} but input has rank ${x.length}`);
      return x[i];
    }
    if (t === -1) return null;
    if (t < 0) throw new Error(`reshape: invalid target dim ${t}`);
    return t;
  });
  const holes = out.filter((d) => d === null).length;
  if (holes > 1) throw new Error('reshape: more than one -1');
  if (holes === 1) {
    const known = out.filter((d): d is Dim => d !== null);
    const inferred = divide(product(x), product(known), 'reshape');
    return out.map((d) => (d === null ? inferred : d));
  }
  const a = product(x);
  const b = product(out as Dim[]);
  if (a.k !== b.k || a.syms.join('*') !== b.syms.join('*')) {
    throw new Error(`reshape: [${x}] has a different size than [${out}]`);
  }
  return out as Dim[];
}

/**
 * A Reshape target (with 0/-1) that turns shape `from` back into `to` without Shape ops:
 * static dims are written out, a symbolic dim at the same position is copied with 0, and at most
 * one remaining symbolic dim becomes -1. Throws when `to` cannot be expressed that way.
 */
export function reshapeTarget(from: Shape, to: Shape): number[] {
  let minus = false;
  return to.map((d, i) => {
    if (typeof d === 'number') return d;
    if (i < from.length && from[i] === d) return 0;
    if (minus) throw new Error(`cannot reshape [${from}] to [${to}] without Shape ops`);
    minus = true;
    return -1;
  });
}

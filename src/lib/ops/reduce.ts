// Reductions (ReduceSum / ReduceMean / ReduceMax) with their gradient rules, plus the two helpers
// every broadcasting rule uses: sumToShape (undo a broadcast) and broadcastLike (redo one).
// Opset 17: ReduceSum takes axes as an int64 input; ReduceMean/ReduceMax take an `axes` attribute.
// Not softmax or normalisation (nn.ts).

import { type OpDef, Value } from '../graph/graph.ts';
import { broadcastAxes, normalizeAxis } from '../graph/shape.ts';
import { type Attrs, type Dim, type Shape, attr } from '../graph/types.ts';
import { add, cast, div, equal, mul, zerosLike } from './elementwise.ts';
import { expand, slice, unsqueeze } from './shape.ts';

function reducedShape(shape: Shape, axes: number[], keepdims: boolean): Dim[] {
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

function axesOf(x: Value, attrs: Attrs, axesInput?: Value | null): number[] {
  const list = axesInput
    ? Array.from(axesInput.constant!.data as BigInt64Array, Number)
    : (attrs.axes?.value as number[]);
  return list.map((a) => normalizeAxis(a, x.rank)).sort((a, b) => a - b);
}

const keep = (attrs: Attrs) => attrs.keepdims.value === 1;

/** Brings a reduced gradient back to the rank of x (unsqueezing the axes removed by keepdims=0). */
function restoreAxes(dy: Value, axes: number[], keepdims: boolean): Value {
  return keepdims || axes.length === 0 ? dy : unsqueeze(dy, axes);
}

const ReduceSum: OpDef = {
  type: 'ReduceSum',
  nondiff: [1],
  infer: (x, attrs) => {
    const a = x[0]!;
    return [{ dtype: a.dtype, shape: reducedShape(a.shape, axesOf(a, attrs, x[1]), keep(attrs)) }];
  },
  backward: ({ x, dy, attrs }) => {
    const axes = axesOf(x[0]!, attrs, x[1]);
    return [broadcastLike(restoreAxes(dy[0]!, axes, keep(attrs)), x[0]!), null];
  },
};

const ReduceMean: OpDef = {
  type: 'ReduceMean',
  infer: (x, attrs) => {
    const a = x[0]!;
    return [{ dtype: a.dtype, shape: reducedShape(a.shape, axesOf(a, attrs), keep(attrs)) }];
  },
  backward: ({ x, dy, attrs }) => {
    const input = x[0]!;
    const axes = axesOf(input, attrs);
    const spread = broadcastLike(restoreAxes(dy[0]!, axes, keep(attrs)), input);
    const dims = axes.map((i) => input.shape[i]);
    if (dims.every((d) => typeof d === 'number')) return [div(spread, dims.reduce((a, b) => a * (b as number), 1))];
    // A symbolic count (e.g. the batch size): counted at run time on a slice of x that is one
    // element thick along every other axis.
    const others = input.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const line = slice(input, others.map(() => 0), others.map(() => 1), others);
    return [div(spread, reduceSum(add(zerosLike(line), 1), axes, true))];
  },
};

/** Saves y; ties share the gradient equally (as torch.amax). */
const ReduceMax: OpDef = {
  type: 'ReduceMax',
  infer: ReduceMean.infer,
  backward: ({ x, y, dy, attrs }) => {
    const axes = axesOf(x[0]!, attrs);
    const k = keep(attrs);
    const hit = cast(equal(x[0]!, restoreAxes(y[0], axes, k)), x[0]!.dtype);
    const count = reduceSum(hit, axes, true);
    return [mul(hit, div(restoreAxes(dy[0]!, axes, k), count))];
  },
};

/** The max as a constant for autodiff (the shift that keeps softmax/logSoftmax stable). */
const ReduceMaxDetached: OpDef = { type: 'ReduceMax', name: 'reducemax_detached', nondiff: 'all', infer: ReduceMean.infer };

export function reduceSum(x: Value, axes: number[], keepdims = false): Value {
  const axesValue = x.graph.constant('int64', axes);
  return x.graph.apply(ReduceSum, [x, axesValue], { keepdims: attr.int(keepdims ? 1 : 0) })[0];
}

export function reduceMean(x: Value, axes: number[], keepdims = false): Value {
  return x.graph.apply(ReduceMean, [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) })[0];
}

export function reduceMax(x: Value, axes: number[], keepdims = false): Value {
  return x.graph.apply(ReduceMax, [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) })[0];
}

/** reduceMax whose output autodiff treats as a constant. */
export function reduceMaxDetached(x: Value, axes: number[], keepdims = false): Value {
  return x.graph.apply(ReduceMaxDetached, [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) })[0];
}

/** Sums a broadcast gradient `dy` back to `shape` (static analysis; throws if undecidable). */
export function sumToShape(dy: Value, shape: Shape): Value {
  const { leading, kept } = broadcastAxes(shape, dy.shape);
  let out = dy;
  if (kept.length > 0) out = reduceSum(out, kept, true);
  if (leading.length > 0) out = reduceSum(out, leading, false);
  return out;
}

/**
 * Broadcasts `v` (same rank as `like`, size-1 where it must grow) to `like`'s shape. Uses Expand
 * with a static shape when every growing dim is static, else adds zerosLike(like): Expand to a
 * symbolic size would need a Shape op, which WebGPU sessions place on the CPU.
 */
export function broadcastLike(v: Value, like: Value): Value {
  if (v.rank !== like.rank) throw new Error(`broadcastLike: rank ${v.rank} vs ${like.rank}`);
  const same = v.shape.every((d, i) => d === like.shape[i]);
  if (same) return v;
  const target = like.shape.map((d, i) => (d === v.shape[i] ? 1 : d));
  if (target.every((d) => typeof d === 'number')) return expand(v, target as number[]);
  return add(v, zerosLike(like));
}


// Shape ops with their gradient rules: Reshape, Transpose, Unsqueeze, Squeeze, Slice, Concat,
// GatherND (embedding lookup), Expand. Every shape or index argument is a static list emitted as an
// int64 constant, so no graph needs a Shape op (WebGPU sessions run those on the CPU).
// Reshape follows ONNX: 0 copies the input dim at that position, -1 is inferred; with these two,
// [B,T,C] → [B,T,H,D] is written reshape(x, [0, 0, H, D]) and works for any B and T.
// Not broadcasting arithmetic (elementwise.ts) or reductions (reduce.ts).

import { type OpDef, Value } from '../graph/graph.ts';
import { addDims, broadcastShapes, normalizeAxis, reshapeShape, reshapeTarget } from '../graph/shape.ts';
import { type Dim, attr } from '../graph/types.ts';
import { zerosLike } from './elementwise.ts';
import { sumToShape } from './reduce.ts';

const ints = (v: Value): number[] => Array.from(v.constant!.data as BigInt64Array, Number);

/** Slice end meaning "to the end of the axis". */
export const END = 2 ** 53 - 1;
const INT64_MAX_AS_END = 2 ** 62;

// ---- Reshape ----

const Reshape: OpDef = {
  type: 'Reshape',
  nondiff: [1],
  infer: (x) => [{ dtype: x[0]!.dtype, shape: reshapeShape(x[0]!.shape, ints(x[1]!)) }],
  backward: ({ x, dy }) => [reshape(dy[0]!, reshapeTarget(dy[0]!.shape, x[0]!.shape)), null],
};

/** ONNX Reshape with 0 = copy dim, -1 = infer. https://onnx.ai/onnx/operators/onnx__Reshape.html */
export function reshape(x: Value, target: number[]): Value {
  return x.graph.apply(Reshape, [x, x.graph.constant('int64', target)])[0];
}

// ---- Transpose ----

const Transpose: OpDef = {
  type: 'Transpose',
  infer: (x, attrs) => {
    const perm = attrs.perm.value as number[];
    return [{ dtype: x[0]!.dtype, shape: perm.map((p) => x[0]!.shape[p]) }];
  },
  backward: ({ dy, attrs }) => {
    const perm = attrs.perm.value as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [transpose(dy[0]!, inverse)];
  },
};

export function transpose(x: Value, perm: number[]): Value {
  if (perm.length !== x.rank) throw new Error(`transpose: perm [${perm}] for rank ${x.rank}`);
  return x.graph.apply(Transpose, [x], { perm: attr.ints(perm) })[0];
}

// ---- Unsqueeze / Squeeze (axes as int64 input since opset 13) ----

const Unsqueeze: OpDef = {
  type: 'Unsqueeze',
  nondiff: [1],
  infer: (x) => {
    const a = x[0]!;
    const rank = a.rank + ints(x[1]!).length;
    const axes = ints(x[1]!).map((i) => normalizeAxis(i, rank));
    const rest = [...a.shape];
    const shape: Dim[] = [];
    for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : rest.shift()!);
    return [{ dtype: a.dtype, shape }];
  },
  backward: ({ x, dy }) => [squeeze(dy[0]!, ints(x[1]!)), null],
};

const Squeeze: OpDef = {
  type: 'Squeeze',
  nondiff: [1],
  infer: (x) => {
    const a = x[0]!;
    const axes = ints(x[1]!).map((i) => normalizeAxis(i, a.rank));
    for (const i of axes) if (a.shape[i] !== 1) throw new Error(`squeeze: axis ${i} of [${a.shape}] is not 1`);
    return [{ dtype: a.dtype, shape: a.shape.filter((_, i) => !axes.includes(i)) }];
  },
  backward: ({ x, dy }) => [unsqueeze(dy[0]!, ints(x[1]!).map((i) => normalizeAxis(i, x[0]!.rank))), null],
};

export function unsqueeze(x: Value, axes: number[]): Value {
  return x.graph.apply(Unsqueeze, [x, x.graph.constant('int64', axes)])[0];
}

export function squeeze(x: Value, axes: number[]): Value {
  return x.graph.apply(Squeeze, [x, x.graph.constant('int64', axes)])[0];
}

// ---- Slice (one axis per node; step 1) ----

function sliceDim(d: Dim, start: number, end: number): Dim {
  if (typeof d === 'number') {
    const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + d : i, 0), d);
    return Math.max(clamp(end) - clamp(start), 0);
  }
  if (start >= 0 && end >= END) return addDims([{ dim: d, sign: 1 }, { dim: start, sign: -1 }]);
  if (start < 0 && end >= END) return -start; // assumes the axis is at least -start long
  if (start >= 0 && end >= 0) return end - start; // assumes the axis is at least `end` long
  throw new Error(`slice: cannot infer the length of [${start}:${end}] of symbolic dim ${d}`);
}

/**
 * Gradient: dy placed between zero blocks, Concat([zeros(x[:start]), dy, zeros(x[end:])]),
 * with the zero blocks cut from x itself so that symbolic axes need no Shape op.
 */
const Slice: OpDef = {
  type: 'Slice',
  nondiff: [1, 2, 3],
  infer: (x) => {
    const a = x[0]!;
    const [start] = ints(x[1]!);
    const [end] = ints(x[2]!);
    const axis = normalizeAxis(ints(x[3]!)[0], a.rank);
    const shape = a.shape.map((d, i) => (i === axis ? sliceDim(d, start, end) : d));
    return [{ dtype: a.dtype, shape }];
  },
  backward: ({ x, dy }) => {
    const a = x[0]!;
    const [start] = ints(x[1]!);
    const [end] = ints(x[2]!);
    const axis = normalizeAxis(ints(x[3]!)[0], a.rank);
    const d = a.shape[axis];
    const numeric = typeof d === 'number';
    const hasBefore = numeric ? sliceDim(d, 0, start) !== 0 : start !== 0;
    const hasAfter = numeric ? sliceDim(d, end, END) !== 0 : end < END;
    const pieces: Value[] = [];
    if (hasBefore) pieces.push(zerosLike(sliceAxis(a, axis, 0, start)));
    pieces.push(dy[0]!);
    if (hasAfter) pieces.push(zerosLike(sliceAxis(a, axis, end, END)));
    return [pieces.length === 1 ? pieces[0] : concat(pieces, axis), null, null, null];
  },
};

function sliceAxis(x: Value, axis: number, start: number, end: number): Value {
  const g = x.graph;
  const onnxEnd = end >= END ? INT64_MAX_AS_END : end;
  const inputs = [x, g.constant('int64', [start]), g.constant('int64', [onnxEnd]), g.constant('int64', [axis])];
  return g.apply(Slice, inputs)[0];
}

/**
 * x[start:end] along each listed axis (step 1; negative indices count from the end; use END for
 * "to the end"). One Slice node per axis, so each gradient rule handles one axis.
 */
export function slice(x: Value, starts: number[], ends: number[], axes: number[]): Value {
  let y = x;
  axes.forEach((axis, i) => {
    y = sliceAxis(y, normalizeAxis(axis, x.rank), starts[i], ends[i]);
  });
  return y;
}

// ---- Concat ----

const Concat: OpDef = {
  type: 'Concat',
  infer: (x, attrs) => {
    const xs = x as Value[];
    const axis = normalizeAxis(attrs.axis.value as number, xs[0].rank);
    const dims = xs.map((v) => v.shape[axis]);
    const total = addDims(dims.map((dim) => ({ dim, sign: 1 })));
    const shape = xs[0].shape.map((d, i) => (i === axis ? total : d));
    for (const v of xs) {
      if (v.dtype !== xs[0].dtype) throw new Error(`concat: dtype ${v.dtype} vs ${xs[0].dtype}`);
      v.shape.forEach((d, i) => {
        if (i !== axis && d !== shape[i]) throw new Error(`concat: [${v.shape}] vs [${xs[0].shape}] off axis ${axis}`);
      });
    }
    return [{ dtype: xs[0].dtype, shape }];
  },
  /** Slices dy back apart; each piece's offset must be static counted from the front or the back. */
  backward: ({ x, dy, attrs }) => {
    const xs = x as Value[];
    const axis = normalizeAxis(attrs.axis.value as number, xs[0].rank);
    const dims = xs.map((v) => v.shape[axis]);
    const sum = (ds: Dim[]): number | null =>
      ds.every((d) => typeof d === 'number') ? (ds as number[]).reduce((a, b) => a + b, 0) : null;
    return xs.map((_, i) => {
      const before = sum(dims.slice(0, i));
      const after = sum(dims.slice(i + 1));
      const own = typeof dims[i] === 'number' ? (dims[i] as number) : null;
      let start: number;
      let end: number;
      if (before !== null) start = before;
      else if (after !== null && own !== null) start = -(after + own);
      else throw new Error(`concat gradient: offset of input ${i} along axis ${axis} is not static`);
      if (after === 0) end = END;
      else if (after !== null) end = -after;
      else if (before !== null && own !== null) end = before + own;
      else throw new Error(`concat gradient: end of input ${i} along axis ${axis} is not static`);
      return sliceAxis(dy[0]!, axis, start, end);
    });
  },
};

export function concat(xs: Value[], axis: number): Value {
  return xs[0].graph.apply(Concat, xs, { axis: attr.int(axis) })[0];
}

// ---- Embedding lookup: GatherND, and its gradient ScatterND with reduction 'add' ----

const ScatterNDAdd: OpDef = {
  type: 'ScatterND',
  infer: (x) => [{ dtype: x[0]!.dtype, shape: x[0]!.shape }],
};

/**
 * GatherND(table, ids) with ids [...,1]: row ids[...,0] of table. Gradient: ScatterND(zeros[V,...],
 * ids, dy, reduction='add'), so repeated ids accumulate, and it takes the very ids Value the
 * forward took. ONNX Gather (ids [...]) would need Unsqueeze(ids, -1) for the ScatterND indices,
 * an int64 node that WebGPU sessions run on the CPU (the EP registers int64 Unsqueeze only when
 * enable_int64 is set). https://onnx.ai/onnx/operators/onnx__GatherND.html,
 * https://onnx.ai/onnx/operators/onnx__ScatterND.html
 */
const GatherRows: OpDef = {
  type: 'GatherND',
  name: 'gather',
  nondiff: [1],
  infer: (x) => {
    const [table, ids] = x as Value[];
    if (ids.dtype !== 'int64') throw new Error(`gather: ids ${ids.name} must be int64, got ${ids.dtype}`);
    if (ids.rank < 1 || ids.shape[ids.rank - 1] !== 1) {
      throw new Error(`gather: ids ${ids.name} [${ids.shape}] need a trailing axis of 1 ([...,1]: one row index each)`);
    }
    return [{ dtype: table.dtype, shape: [...ids.shape.slice(0, -1), ...table.shape.slice(1)] }];
  },
  backward: ({ graph, x, dy }) => {
    const [table, ids] = x as Value[];
    if (!table.shape.every((d) => typeof d === 'number')) {
      throw new Error(`gather gradient: table ${table.name} needs a static shape, got [${table.shape}]`);
    }
    const zeros = expand(graph.constant(table.dtype, 0), table.shape as number[]);
    const dtable = graph.apply(ScatterNDAdd, [zeros, ids, dy[0]!], { reduction: attr.string('add') })[0];
    return [dtable, null];
  },
};

/**
 * Embedding lookup: table [V, ...], ids [..., 1] int64 → [..., ...table[1:]] (the trailing 1 of
 * ids is dropped). Feed token ids [B,T] as dims [B,T,1]: the same bytes.
 */
export function gather(table: Value, ids: Value): Value {
  return table.graph.apply(GatherRows, [table, ids])[0];
}

// ---- Expand ----

const Expand: OpDef = {
  type: 'Expand',
  nondiff: [1],
  infer: (x) => [{ dtype: x[0]!.dtype, shape: broadcastShapes([x[0]!.shape, ints(x[1]!)], 'Expand') }],
  backward: ({ x, dy }) => [sumToShape(dy[0]!, x[0]!.shape), null],
};

/**
 * Broadcast x to a static `shape` (ONNX Expand: a 1 in `shape` keeps x's dim, so symbolic dims
 * that x already has are written as 1).
 */
export function expand(x: Value, shape: number[]): Value {
  return x.graph.apply(Expand, [x, x.graph.constant('int64', shape)])[0];
}

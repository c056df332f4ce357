// Elementwise ops with their gradient rules: arithmetic with numpy broadcasting, unary maths,
// comparisons (bool masks, never differentiated), Where, Cast, Clip.
// Not reductions or shape ops (reduce.ts, shape.ts). Numbers given as operands become scalar
// constants of the other operand's dtype, so `mul(x, 0.5)` works.
// Every rule reduces a broadcast gradient back to its input's shape with sumToShape.

import { type BackwardContext, type OpDef, Value } from '../graph/graph.ts';
import { broadcastShapes } from '../graph/shape.ts';
import { type DType, attr, isFloat, ONNX_ELEM_TYPE } from '../graph/types.ts';
import { sumToShape } from './reduce.ts';

export type Operand = Value | number;

function lift(a: Operand, b: Operand, what: string): [Value, Value] {
  if (a instanceof Value && b instanceof Value) {
    if (a.dtype !== b.dtype) throw new Error(`${what}: dtype ${a.dtype} vs ${b.dtype} (${a.name}, ${b.name})`);
    return [a, b];
  }
  if (a instanceof Value) return [a, a.graph.constant(a.dtype, b as number)];
  if (b instanceof Value) return [b.graph.constant(b.dtype, a as number), b];
  throw new Error(`${what}: at least one operand must be a Value`);
}

function inferBinary(name: string, outDtype?: DType) {
  return (x: (Value | null)[]) => {
    const [a, b] = x as Value[];
    if (a.dtype !== b.dtype) throw new Error(`${name}: dtype ${a.dtype} vs ${b.dtype}`);
    return [{ dtype: outDtype ?? a.dtype, shape: broadcastShapes([a.shape, b.shape], name) }];
  };
}

function inferUnary(x: (Value | null)[]) {
  const [a] = x as Value[];
  return [{ dtype: a.dtype, shape: a.shape }];
}

function inputs(ctx: BackwardContext): { a: Value; b: Value; y: Value; dy: Value } {
  return { a: ctx.x[0]!, b: ctx.x[1]!, y: ctx.y[0], dy: ctx.dy[0]! };
}

// ---- arithmetic ----

const Add: OpDef = {
  type: 'Add',
  infer: inferBinary('Add'),
  backward: (ctx) => {
    const { a, b, dy } = inputs(ctx);
    return [sumToShape(dy, a.shape), sumToShape(dy, b.shape)];
  },
};

const Sub: OpDef = {
  type: 'Sub',
  infer: inferBinary('Sub'),
  backward: (ctx) => {
    const { a, b, dy } = inputs(ctx);
    return [sumToShape(dy, a.shape), sumToShape(neg(dy), b.shape)];
  },
};

const Mul: OpDef = {
  type: 'Mul',
  infer: inferBinary('Mul'),
  backward: (ctx) => {
    const { a, b, dy } = inputs(ctx);
    return [sumToShape(mul(dy, b), a.shape), sumToShape(mul(dy, a), b.shape)];
  },
};

/** y = a / b; reuses y: db = -dy * y / b. */
const Div: OpDef = {
  type: 'Div',
  infer: inferBinary('Div'),
  backward: (ctx) => {
    const { a, b, y, dy } = inputs(ctx);
    const da = div(dy, b);
    return [sumToShape(da, a.shape), sumToShape(neg(mul(da, y)), b.shape)];
  },
};

export function add(a: Operand, b: Operand): Value {
  const [x, y] = lift(a, b, 'add');
  return x.graph.apply(Add, [x, y])[0];
}
export function sub(a: Operand, b: Operand): Value {
  const [x, y] = lift(a, b, 'sub');
  return x.graph.apply(Sub, [x, y])[0];
}
export function mul(a: Operand, b: Operand): Value {
  const [x, y] = lift(a, b, 'mul');
  return x.graph.apply(Mul, [x, y])[0];
}
export function div(a: Operand, b: Operand): Value {
  const [x, y] = lift(a, b, 'div');
  return x.graph.apply(Div, [x, y])[0];
}

/** y = x ** p for a constant exponent p. Pow runs on the GPU in both WebGPU backends. */
const Pow: OpDef = {
  type: 'Pow',
  nondiff: [1],
  infer: inferBinary('Pow'),
  backward: (ctx) => {
    const { a, b, dy } = inputs(ctx);
    const p = Number(b.constant!.data[0]);
    const dx = p === 2 ? mul(dy, mul(a, 2)) : mul(dy, mul(pow(a, p - 1), p));
    return [sumToShape(dx, a.shape), null];
  },
};

export function pow(x: Value, p: number): Value {
  return x.graph.apply(Pow, [x, x.graph.constant(x.dtype, p)])[0];
}

// ---- unary ----

function unary(type: string, backward: OpDef['backward']): OpDef {
  return { type, infer: inferUnary, backward };
}

const Neg = unary('Neg', ({ dy }) => [neg(dy[0]!)]);
/** Saves y: dx = dy * y. */
const Exp = unary('Exp', ({ y, dy }) => [mul(dy[0]!, y[0])]);
const Log = unary('Log', ({ x, dy }) => [div(dy[0]!, x[0]!)]);
/** Saves y: dx = dy / (2 y). */
const Sqrt = unary('Sqrt', ({ y, dy }) => [div(dy[0]!, mul(y[0], 2))]);
/** Saves y: dx = -dy * y². */
const Reciprocal = unary('Reciprocal', ({ y, dy }) => [neg(mul(dy[0]!, mul(y[0], y[0])))]);
/** d erf(x)/dx = 2/√π · exp(−x²). https://onnx.ai/onnx/operators/onnx__Erf.html */
const Erf = unary('Erf', ({ x, dy }) => [mul(dy[0]!, mul(exp(neg(mul(x[0]!, x[0]!))), 2 / Math.sqrt(Math.PI)))]);
/** Saves y: dx = dy (1 − y²). */
const Tanh = unary('Tanh', ({ y, dy }) => [mul(dy[0]!, sub(1, mul(y[0], y[0])))]);
/** dx = dy where x > 0 (0 at x = 0, as torch). */
const Relu = unary('Relu', ({ x, dy }) => [where(greater(x[0]!, 0), dy[0]!, 0)]);

export const neg = (x: Value): Value => x.graph.apply(Neg, [x])[0];
export const exp = (x: Value): Value => x.graph.apply(Exp, [x])[0];
export const log = (x: Value): Value => x.graph.apply(Log, [x])[0];
export const sqrt = (x: Value): Value => x.graph.apply(Sqrt, [x])[0];
export const reciprocal = (x: Value): Value => x.graph.apply(Reciprocal, [x])[0];
export const erf = (x: Value): Value => x.graph.apply(Erf, [x])[0];
export const tanh = (x: Value): Value => x.graph.apply(Tanh, [x])[0];
export const relu = (x: Value): Value => x.graph.apply(Relu, [x])[0];

/** Floor has zero gradient almost everywhere; autodiff treats its output as a constant. */
const Floor: OpDef = { type: 'Floor', nondiff: 'all', infer: inferUnary };
export const floor = (x: Value): Value => x.graph.apply(Floor, [x])[0];

/** x·0 as a constant for autodiff: a zero tensor of x's (symbolic) shape without Shape ops. */
const ZerosLike: OpDef = { type: 'Mul', name: 'zeros_like', nondiff: 'all', infer: inferBinary('Mul') };
export function zerosLike(x: Value): Value {
  return x.graph.apply(ZerosLike, [x, x.graph.constant(x.dtype, 0)])[0];
}

/** max(x, lo) for a constant lo (ONNX Clip; Max runs on the CPU in JSEP). dx = dy where x ≥ lo. */
const ClipMin: OpDef = {
  type: 'Clip',
  nondiff: [1],
  infer: inferUnary,
  backward: ({ x, dy }) => [where(less(x[0]!, x[1]!), 0, dy[0]!), null],
};
export function clampMin(x: Value, lo: number): Value {
  return x.graph.apply(ClipMin, [x, x.graph.constant(x.dtype, lo)])[0];
}

// ---- comparisons (bool outputs, constants for autodiff) ----

function compare(type: string): OpDef {
  return { type, nondiff: 'all', infer: inferBinary(type, 'bool') };
}
const Equal = compare('Equal');
const Less = compare('Less');
const Greater = compare('Greater');

/** Float comparisons only: int64 Equal runs on the CPU in WebGPU sessions. */
function comparison(op: OpDef, a: Operand, b: Operand): Value {
  const [x, y] = lift(a, b, op.type);
  if (!isFloat(x.dtype)) throw new Error(`${op.type}: compare floats (got ${x.dtype}); masks are float`);
  return x.graph.apply(op, [x, y])[0];
}
export const equal = (a: Operand, b: Operand): Value => comparison(Equal, a, b);
export const less = (a: Operand, b: Operand): Value => comparison(Less, a, b);
export const greater = (a: Operand, b: Operand): Value => comparison(Greater, a, b);

// ---- where / cast ----

const Where: OpDef = {
  type: 'Where',
  nondiff: [0],
  infer: (x) => {
    const [c, a, b] = x as Value[];
    if (c.dtype !== 'bool') throw new Error(`Where: condition ${c.name} must be bool`);
    if (a.dtype !== b.dtype) throw new Error(`Where: dtype ${a.dtype} vs ${b.dtype}`);
    return [{ dtype: a.dtype, shape: broadcastShapes([c.shape, a.shape, b.shape], 'Where') }];
  },
  backward: ({ x, dy }) => {
    const [c, a, b] = x as Value[];
    return [null, sumToShape(where(c, dy[0]!, 0), a.shape), sumToShape(where(c, 0, dy[0]!), b.shape)];
  },
};

/** cond ? a : b, with broadcasting. */
export function where(cond: Value, a: Operand, b: Operand): Value {
  const [x, y] = lift(a, b, 'where');
  return cond.graph.apply(Where, [cond, x, y])[0];
}

const Cast: OpDef = {
  type: 'Cast',
  infer: (x, attrs) => {
    const to = Object.entries(ONNX_ELEM_TYPE).find(([, v]) => v === attrs.to.value)![0] as DType;
    return [{ dtype: to, shape: x[0]!.shape }];
  },
  backward: ({ x, dy }) => [isFloat(x[0]!.dtype) ? cast(dy[0]!, x[0]!.dtype) : null],
};

/** Cast to `dtype`. Avoid float→int64 (runs on the CPU in JSEP); bool→float is how masks are made. */
export function cast(x: Value, dtype: DType): Value {
  if (x.dtype === dtype) return x;
  return x.graph.apply(Cast, [x], { to: attr.int(ONNX_ELEM_TYPE[dtype]) })[0];
}


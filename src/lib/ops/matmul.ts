// Matrix products with their gradient rules: batched, broadcasting MatMul, and `linear` (the
// PyTorch nn.Linear convention, weight [Out, In]) built from it.
// Not Gemm: Gemm is 2-D only, and BERT's activations are [B,T,C] with symbolic B and T.

import { type OpDef, Value } from '../graph/graph.ts';
import { broadcastShapes } from '../graph/shape.ts';
import { add } from './elementwise.ts';
import { sumToShape } from './reduce.ts';
import { transpose } from './shape.ts';

function swapLast(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return transpose(x, perm);
}

/** dA = dy · Bᵀ, dB = Aᵀ · dy, each summed over the batch axes it was broadcast along. */
const MatMul: OpDef = {
  type: 'MatMul',
  infer: (x) => {
    const [a, b] = x as Value[];
    if (a.dtype !== b.dtype) throw new Error(`matmul: dtype ${a.dtype} vs ${b.dtype}`);
    if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: ranks ${a.rank}, ${b.rank}; use rank ≥ 2 (reshape vectors)`);
    const k1 = a.shape[a.rank - 1];
    const k2 = b.shape[b.rank - 2];
    if (k1 !== k2) throw new Error(`matmul: inner dims ${k1} vs ${k2} ([${a.shape}] · [${b.shape}])`);
    const batch = broadcastShapes([a.shape.slice(0, -2), b.shape.slice(0, -2)], 'matmul');
    return [{ dtype: a.dtype, shape: [...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]] }];
  },
  backward: ({ x, dy }) => {
    const [a, b] = x as Value[];
    return [sumToShape(matmul(dy[0]!, swapLast(b)), a.shape), sumToShape(matmul(swapLast(a), dy[0]!), b.shape)];
  },
};

/** a [..., M, K] · b [..., K, N] → [..., M, N], batch axes broadcast. */
export function matmul(a: Value, b: Value): Value {
  return a.graph.apply(MatMul, [a, b])[0];
}

/** x [..., In] · wᵀ + bias, with w [Out, In] and bias [Out] as stored by PyTorch nn.Linear. */
export function linear(x: Value, w: Value, bias?: Value): Value {
  const y = matmul(x, transpose(w, [1, 0]));
  return bias ? add(y, bias) : y;
}

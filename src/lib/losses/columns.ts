// Splits the encoder's embedding matrix into its input columns, and stacks columns back into one
// tensor, with no Shape op: the trainer embeds every column in one encoder pass over the
// concatenated rows `[anchors; positives; negatives_1; …]`, so E is [K·B, C] with K columns of B
// rows each, B symbolic.
// Not a loss (mnrl.ts, triplet.ts, cosent.ts) and not Matryoshka truncation (matryoshka.ts).
//
// Gotcha: the engine's reshape cannot infer [K, -1, C] from a symbolic row count (it would need to
// divide the symbol by K), so the split uses a Reshape whose output shape is declared here, with
// its inverse as the gradient rule.

import type { OpDef, Value } from '../graph/graph.ts';
import type { Dim, Shape } from '../graph/types.ts';
import { concat, slice, squeeze, unsqueeze } from '../ops/shape.ts';

/** ONNX Reshape to `target` (0/-1 rules) whose result is declared to have shape `shape`. */
function reshapeDeclared(x: Value, target: number[], shape: Shape, inverseTarget: number[]): Value {
  const op: OpDef = {
    type: 'Reshape',
    name: 'reshape_columns',
    nondiff: [1],
    infer: () => [{ dtype: x.dtype, shape }],
    backward: ({ dy }) => [reshapeDeclared(dy[0]!, inverseTarget, x.shape, target), null],
  };
  return x.graph.apply(op, [x, x.graph.constant('int64', target)])[0];
}

/** The symbolic size of one column's rows when E has `rows` rows in `k` columns. */
export function columnDim(rows: Dim, k: number): Dim {
  if (typeof rows === 'number') {
    if (rows % k !== 0) throw new Error(`splitColumns: ${rows} rows do not split into ${k} columns`);
    return rows / k;
  }
  return k === 1 ? rows : `${rows}/${k}`;
}

/**
 * E [K·B, C] → K values [B, C] (column k = rows k·B … (k+1)·B − 1). The column dim is named
 * `columnDim(E rows, K)` (e.g. 'B/2'); declare any per-row input that meets the columns (CoSENT's
 * scores) with that same name.
 */
export function splitColumns(e: Value /* [K·B, C] */, k: number): Value[] {
  if (e.rank !== 2) throw new Error(`splitColumns: embeddings must be [K·B, C], got [${e.shape}]`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`splitColumns: column count ${k} must be a positive integer`);
  const c = e.shape[1];
  if (typeof c !== 'number') throw new Error(`splitColumns: the embedding width must be static, got ${c}`);
  if (k === 1) return [e];
  const b = columnDim(e.shape[0], k);
  const stacked = e.graph.scope('columns', () => reshapeDeclared(e, [k, -1, c], [k, b, c], [-1, c]));
  return Array.from({ length: k }, (_, i) =>
    e.graph.scope(`column${i}`, () => squeeze(slice(stacked, [i], [i + 1], [0]), [0])),
  );
}

/** Columns [B, C] each → [K, B, C] (a static axis 0, so Concat's gradient can slice it back apart). */
export function stackColumns(columns: Value[]): Value {
  if (columns.length === 0) throw new Error('stackColumns: no columns');
  const parts = columns.map((x) => unsqueeze(x, [0]));
  return parts.length === 1 ? parts[0] : concat(parts, 0);
}

/** Checks that every column is [B, C] with the same B and C. */
export function checkColumns(what: string, columns: Value[], count: { min: number; max?: number }): void {
  const max = count.max ?? Infinity;
  if (columns.length < count.min || columns.length > max) {
    const want = count.min === max ? `${max}` : max === Infinity ? `at least ${count.min}` : `${count.min}…${max}`;
    throw new Error(`${what}: expects ${want} columns, got ${columns.length}`);
  }
  const [b, c] = columns[0].shape;
  for (const x of columns) {
    if (x.rank !== 2 || x.shape[0] !== b || x.shape[1] !== c) {
      throw new Error(`${what}: every column must be [${b},${c}] like the first, got ${x.name} [${x.shape}]`);
    }
    if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new Error(`${what}: ${x.name} is ${x.dtype}, not float`);
  }
}

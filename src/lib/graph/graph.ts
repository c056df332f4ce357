// The graph IR: a Graph owns Values (graph inputs, constants, node outputs) and Nodes in the
// order they were built, which is a topological order. Op definitions (ONNX type, shape rule,
// gradient rule) live in src/lib/ops/; this file only records what the builders produce.
// Not an executor and not a serializer: see onnx.ts, dump.ts and src/lib/runtime/.

import {
  type Attrs,
  type ConstData,
  type ConstTensor,
  type DType,
  type Shape,
  dtypeShort,
} from './types.ts';

/** What an op's backward rule receives. Names follow the house style: x inputs, y outputs, dy. */
export interface BackwardContext {
  graph: Graph;
  node: Node;
  /** The node's inputs (null where an optional input was omitted). */
  x: (Value | null)[];
  /** The node's outputs (saved forward results a rule may reuse). */
  y: Value[];
  /** Incoming gradient per output; null where nothing flows back into that output. */
  dy: (Value | null)[];
  attrs: Attrs;
}

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
}

export interface OpDef {
  /** ONNX op_type. Several OpDefs may share one (e.g. a Mul used only to build a mask). */
  type: string;
  /** Readable name for errors and value names; defaults to `type`. */
  name?: string;
  /** Output dtypes/shapes from inputs and attributes; throws on a mismatch. */
  infer(x: (Value | null)[], attrs: Attrs): OutputSpec[];
  /**
   * Input indices that are never differentiated (ids, masks, shapes, axes). `'all'` marks an op
   * whose outputs are constants for autodiff (e.g. a mask or a detached max).
   */
  nondiff?: readonly number[] | 'all';
  /** One gradient per input (null: no gradient). Absent: differentiating through it throws. */
  backward?(ctx: BackwardContext): (Value | null)[];
}

export interface Node {
  op: OpDef;
  name: string;
  inputs: (Value | null)[];
  outputs: Value[];
  attrs: Attrs;
}

export type ValueKind = 'input' | 'constant' | 'node';

export class Value {
  producer: Node | null = null;
  /** Set for constants (emitted as initializers). */
  constant: ConstTensor | null = null;
  constructor(
    readonly graph: Graph,
    public name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly kind: ValueKind,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `${this.name}: ${dtypeShort(this.dtype)}[${this.shape.join(',')}]`;
  }
}

export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly constants: Value[] = [];
  readonly nodes: Node[] = [];
  private readonly names = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly constCache = new Map<string, Value>();

  constructor(readonly name = 'graph') {}

  /** A graph input (a weight keeps its Hugging Face name, e.g. `embeddings.word_embeddings.weight`). */
  input(name: string, dtype: DType, shape: Shape): Value {
    this.claim(name);
    const v = new Value(this, name, dtype, shape, 'input');
    this.inputs.push(v);
    return v;
  }

  /** Marks `value` as a graph output named `name` (renames it; see rename). */
  output(value: Value, name?: string): Value {
    this.own(value);
    if (name !== undefined && name !== value.name) this.rename(value, name);
    if (this.outputs.includes(value)) throw new Error(`${value.name} is already an output`);
    this.outputs.push(value);
    return value;
  }

  /**
   * Gives a node output a readable name. Inputs cannot be renamed (their names are the feed
   * names), and neither can constants.
   */
  rename(value: Value, name: string): void {
    this.own(value);
    if (value.kind !== 'node') throw new Error(`cannot rename ${value.kind} ${value.name} to ${name}`);
    this.claim(name);
    // The old name stays taken: it is also the producing node's name, and ONNX node names are unique.
    value.name = name;
  }

  /**
   * A small constant (scalar, vector, shape list), emitted as an initializer. Identical small
   * constants are shared. `dims` defaults to [] for one number and [n] for a list.
   */
  constant(dtype: DType, values: number | readonly number[], dims?: number[]): Value {
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    if (shape.reduce((a, b) => a * b, 1) !== list.length) {
      throw new Error(`constant: ${list.length} values do not fill dims [${shape}]`);
    }
    const key = `${dtype}|${shape.join(',')}|${list.join(',')}`;
    const cached = list.length <= 64 ? this.constCache.get(key) : undefined;
    if (cached) return cached;
    const label = list.length <= 8 ? list.join(',') : `${list.slice(0, 4).join(',')},…`;
    const name = this.fresh(`const/${dtypeShort(dtype)}[${label}]`);
    const v = new Value(this, name, dtype, shape, 'constant');
    v.constant = { dtype, dims: [...shape], data: toConstData(dtype, list) };
    this.constants.push(v);
    if (list.length <= 64) this.constCache.set(key, v);
    return v;
  }

  /** Runs `fn` with `name` appended to the prefix of every intermediate value named inside it. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Records one node; used by the op builders in src/lib/ops/, not by model code. */
  apply(op: OpDef, inputs: (Value | null)[], attrs: Attrs = {}): Value[] {
    for (const x of inputs) if (x) this.own(x);
    const specs = op.infer(inputs, attrs);
    const base = this.fresh([...this.scopes, (op.name ?? op.type).toLowerCase()].join('/'));
    const node: Node = { op, name: base, inputs, outputs: [], attrs };
    node.outputs = specs.map((s, i) => {
      const name = i === 0 ? base : this.fresh(`${base}:${i}`);
      const v = new Value(this, name, s.dtype, s.shape, 'node');
      v.producer = node;
      return v;
    });
    this.nodes.push(node);
    return node.outputs;
  }

  /**
   * The nodes and constants the outputs depend on, in build order. A gradient rule returns one
   * gradient per input even where nobody asked for it; serialization and dumps skip those.
   */
  live(): { nodes: Node[]; constants: Value[] } {
    const needed = new Set<Value>(this.outputs);
    const nodes: Node[] = [];
    for (let k = this.nodes.length - 1; k >= 0; k--) {
      const node = this.nodes[k];
      if (!node.outputs.some((o) => needed.has(o))) continue;
      nodes.push(node);
      for (const x of node.inputs) if (x) needed.add(x);
    }
    return { nodes: nodes.reverse(), constants: this.constants.filter((c) => needed.has(c)) };
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** A name not yet used in this graph: `base`, else `base_1`, `base_2`, … */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`value name ${name} is already used in ${this.name}`);
    this.names.add(name);
  }

  private own(v: Value): void {
    if (v.graph !== this) throw new Error(`${v.name} belongs to graph ${v.graph.name}, not ${this.name}`);
  }
}

function toConstData(dtype: DType, list: readonly number[]): ConstData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(list);
    case 'float64':
      return Float64Array.from(list);
    case 'int64':
      return BigInt64Array.from(list, (x) => BigInt(x));
    case 'int32':
      return Int32Array.from(list);
    case 'int8':
      return Int8Array.from(list);
    case 'uint8':
      return Uint8Array.from(list);
    case 'bool':
      return Uint8Array.from(list, (x) => (x ? 1 : 0));
    case 'float16':
      throw new Error('graph: no float16 constants (float16 only holds frozen weights, as graph inputs)');
  }
}

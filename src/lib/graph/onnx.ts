// Serializes a Graph to ONNX protobuf bytes (ModelProto), written field by field with a small
// protobuf writer (protobuf-writer.ts): only the messages and fields this engine writes, with the
// field numbers of onnx.proto (proto2: https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
// No code is compiled at run time, so the workers run under a Content-Security-Policy without
// 'unsafe-eval'; onnx-protobufjs.ts holds the same subset as a .proto schema for the tests, which
// decode with protobufjs and check these bytes against its encoder.
// Not a parser of arbitrary ONNX files, and not an optimizer: the nodes the outputs depend on are
// written as built.
//
// Opset 17 (IR version 8): the first opset with LayerNormalization (and its Mean/InvStdDev
// outputs), ScatterND reduction 'add' exists (16), ReduceSum takes axes as an input (13) while
// ReduceMean/ReduceMax still take an `axes` attribute (until 18).

import type { Graph, Value } from './graph.ts';
import { ProtobufWriter } from './protobuf-writer.ts';
import { type Attr, type ConstData, type ConstTensor, type DType, ONNX_ELEM_TYPE, type Shape } from './types.ts';

export const OPSET = 17;
const IR_VERSION = 8;

const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

export interface ToOnnxOptions {
  opset?: number;
  /** Graph inputs to write as initializers (weights, for export); they stop being inputs. */
  initializers?: Map<string, { dims: number[]; data: ConstData }>;
  producer?: string;
  metadata?: Record<string, string>;
}

// The ModelProto as plain objects, with onnx.proto's field names (what protobufjs's fromObject
// takes, so the tests can encode the same object with it).

interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}

interface TensorObject {
  name: string;
  dims: number[];
  data_type: number;
  /** A view of the tensor's own bytes: not copied until the file is written. */
  raw_data: Uint8Array;
}

type AttributeObject = { name: string; type: number } & (
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: Uint8Array }
);

interface NodeObject {
  name: string;
  op_type: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: AttributeObject[];
}

export interface ModelObject {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  graph: { name: string; node: NodeObject[]; initializer: TensorObject[]; input: ValueInfo[]; output: ValueInfo[] };
  metadata_props: { key: string; value: string }[];
}

function valueInfo(name: string, dtype: DType, shape: Shape): ValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: ONNX_ELEM_TYPE[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function tensorProto(name: string, t: ConstTensor): TensorObject {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: t.dims, data_type: ONNX_ELEM_TYPE[t.dtype], raw_data: bytes };
}

function attributeProto(name: string, a: Attr): AttributeObject {
  const type = ATTR_TYPE[a.type];
  switch (a.type) {
    case 'int':
      return { name, type, i: a.value };
    case 'float':
      return { name, type, f: a.value };
    case 'ints':
      return { name, type, ints: a.value };
    case 'floats':
      return { name, type, floats: a.value };
    case 'string':
      return { name, type, s: new TextEncoder().encode(a.value) };
  }
}

/** The ModelProto as a plain object (what gets encoded); exported for tests. */
export function toModelObject(graph: Graph, opts: ToOnnxOptions = {}): ModelObject {
  const baked = opts.initializers ?? new Map();
  for (const name of baked.keys()) {
    if (!graph.inputs.some((v) => v.name === name)) throw new Error(`toOnnx: no input named ${name} to bake`);
  }
  const name = (v: Value | null) => (v ? v.name : '');
  const live = graph.live();
  const initializer = [
    ...live.constants.map((v) => tensorProto(v.name, v.constant!)),
    ...graph.inputs
      .filter((v) => baked.has(v.name))
      .map((v) => {
        const t = baked.get(v.name)!;
        return tensorProto(v.name, { dtype: v.dtype, dims: t.dims, data: t.data });
      }),
  ];
  return {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: opts.opset ?? OPSET }],
    producer_name: opts.producer ?? 'tabtune',
    graph: {
      name: graph.name,
      node: live.nodes.map((n) => ({
        name: n.name,
        op_type: n.op.type,
        domain: '',
        input: n.inputs.map(name),
        output: n.outputs.map(name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attributeProto(k, a)),
      })),
      initializer,
      input: graph.inputs.filter((v) => !baked.has(v.name)).map((v) => valueInfo(v.name, v.dtype, v.shape)),
      output: graph.outputs.map((v) => valueInfo(v.name, v.dtype, v.shape)),
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

// One writer per message, fields in ascending field number (protobuf's canonical order, and the
// order protobufjs writes; the byte-for-byte test against it holds both to that). Repeated
// scalars unpacked, as proto2 writes them unless a field says `packed`.

function writeValueInfo(w: ProtobufWriter, field: number, v: ValueInfo): void {
  w.begin(field).string(1, v.name);
  w.begin(2).begin(1); // TypeProto.tensor_type
  w.int(1, v.type.tensor_type.elem_type);
  w.begin(2); // TensorShapeProto
  for (const d of v.type.tensor_type.shape.dim) {
    w.begin(1);
    if ('dim_value' in d) w.int(1, d.dim_value);
    else w.string(2, d.dim_param);
    w.end();
  }
  w.end().end().end().end();
}

function writeTensor(w: ProtobufWriter, field: number, t: TensorObject): void {
  w.begin(field);
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.data_type).string(8, t.name).bytes(9, t.raw_data).end();
}

function writeAttribute(w: ProtobufWriter, field: number, a: AttributeObject): void {
  w.begin(field).string(1, a.name);
  if ('f' in a) w.float(2, a.f);
  if ('i' in a) w.int(3, a.i);
  if ('s' in a) w.bytes(4, a.s);
  if ('floats' in a) for (const x of a.floats) w.float(7, x);
  if ('ints' in a) for (const x of a.ints) w.int(8, x);
  w.int(20, a.type).end();
}

function writeNode(w: ProtobufWriter, field: number, n: NodeObject): void {
  w.begin(field);
  for (const s of n.input) w.string(1, s);
  for (const s of n.output) w.string(2, s);
  w.string(3, n.name).string(4, n.op_type);
  for (const a of n.attribute) writeAttribute(w, 5, a);
  w.string(7, n.domain).end();
}

/** Encodes a ModelProto object (toModelObject's) to its bytes; tensor bytes are copied once. */
export function encodeModel(m: ModelObject): Uint8Array {
  const w = new ProtobufWriter();
  w.int(1, m.ir_version).string(2, m.producer_name);
  const g = m.graph;
  w.begin(7);
  for (const n of g.node) writeNode(w, 1, n);
  w.string(2, g.name);
  for (const t of g.initializer) writeTensor(w, 5, t);
  for (const v of g.input) writeValueInfo(w, 11, v);
  for (const v of g.output) writeValueInfo(w, 12, v);
  w.end();
  for (const o of m.opset_import) w.begin(8).string(1, o.domain).int(2, o.version).end();
  for (const p of m.metadata_props) w.begin(14).string(1, p.key).string(2, p.value).end();
  return w.finish();
}

/** Serializes `graph` to ONNX bytes that onnxruntime (web, node) loads. */
export function toOnnx(graph: Graph, opts: ToOnnxOptions = {}): Uint8Array {
  if (graph.outputs.length === 0) throw new Error(`toOnnx: graph ${graph.name} has no outputs`);
  return encodeModel(toModelObject(graph, opts));
}

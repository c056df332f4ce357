// Serializes a Graph to ONNX protobuf bytes (ModelProto) with protobufjs and a hand-written
// subset of onnx.proto: only the messages and fields this engine writes.
// Field numbers from https://github.com/onnx/onnx/blob/main/onnx/onnx.proto (proto2).
// Not a parser of arbitrary ONNX files, and not an optimizer: the nodes the outputs depend on are
// written as built.
//
// Opset 17 (IR version 8): the first opset with LayerNormalization (and its Mean/InvStdDev
// outputs), ScatterND reduction 'add' exists (16), ReduceSum takes axes as an input (13) while
// ReduceMean/ReduceMax still take an `axes` attribute (until 18).

import protobuf from 'protobufjs';
import type { Graph, Value } from './graph.ts';
import { type Attr, type ConstData, type ConstTensor, type DType, ONNX_ELEM_TYPE, type Shape } from './types.ts';

export const OPSET = 17;
const IR_VERSION = 8;

const SCHEMA = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
                       FLOATS = 6; INTS = 7; STRINGS = 8; }
  optional string name = 1;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const ModelProto = root.lookupType('onnx.ModelProto');


const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

export interface ToOnnxOptions {
  opset?: number;
  /** Graph inputs to write as initializers (weights, for export); they stop being inputs. */
  initializers?: Map<string, { dims: number[]; data: ConstData }>;
  producer?: string;
  metadata?: Record<string, string>;
}

function valueInfo(name: string, dtype: DType, shape: Shape) {
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

function tensorProto(name: string, t: ConstTensor) {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: t.dims, data_type: ONNX_ELEM_TYPE[t.dtype], raw_data: bytes.slice() };
}

function attributeProto(name: string, a: Attr) {
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
export function toModelObject(graph: Graph, opts: ToOnnxOptions = {}) {
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

/** Serializes `graph` to ONNX bytes that onnxruntime (web, node) loads. */
export function toOnnx(graph: Graph, opts: ToOnnxOptions = {}): Uint8Array {
  if (graph.outputs.length === 0) throw new Error(`toOnnx: graph ${graph.name} has no outputs`);
  const obj = toModelObject(graph, opts);
  const err = ModelProto.verify(obj);
  if (err) throw new Error(`toOnnx: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(obj)).finish();
}

/** Decodes bytes written by toOnnx (tests, debugging). */
export function fromOnnxBytes(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}

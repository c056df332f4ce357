// The subset of onnx.proto that onnx.ts writes, as a .proto schema read by protobufjs: the tests
// decode the engine's ONNX files with it and hold onnx.ts's hand-written encoder to protobufjs's
// bytes. Tests and Node only: protobufjs compiles its encoders and decoders with `Function` at
// run time, which the workers' Content-Security-Policy (no 'unsafe-eval') refuses, so nothing the
// page or its workers load may import this file (the browser tests check the built bundles).
// Field numbers from https://github.com/onnx/onnx/blob/main/onnx/onnx.proto (proto2).

import protobuf from 'protobufjs';
import type { ModelObject } from './onnx.ts';

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

/** protobufjs's encoding of a ModelProto object: the reference for onnx.ts's encoder. */
export function encodeWithProtobufjs(model: ModelObject): Uint8Array {
  const err = ModelProto.verify(model);
  if (err) throw new Error(`protobufjs: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Decodes an ONNX file written by toOnnx (tests, debugging). */
export function fromOnnxBytes(bytes: Uint8Array): Record<string, unknown> {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}

// Element types, dimensions and shapes of the graph IR.
// Not the runtime's tensor types: those live in src/lib/runtime/ (HostTensor).

/** float16 only holds frozen weights, cast to float32 where the graph reads them (docs/memory.md#float16-frozen-weights). */
/** uint8 only carries DynamicQuantizeLinear's output in an int8 export (its one output type). */
export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** TensorProto.DataType of each element type (onnx.proto). */
export const ONNX_ELEM_TYPE: Record<DType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };

/** A number is a static size; a string is a symbolic size such as 'B' or 'T' (ONNX dim_param). */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** Host data of a constant folded into the graph (initializer). */
export type ConstData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface ConstTensor {
  dtype: DType;
  dims: number[];
  data: ConstData;
}

/** ONNX attribute values, tagged because ONNX distinguishes int from float attributes. */
export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'string'; value: string };

export type Attrs = Record<string, Attr>;

export const attr = {
  int: (value: number): Attr => ({ type: 'int', value }),
  float: (value: number): Attr => ({ type: 'float', value }),
  ints: (value: number[]): Attr => ({ type: 'ints', value }),
  floats: (value: number[]): Attr => ({ type: 'floats', value }),
  string: (value: string): Attr => ({ type: 'string', value }),
};

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function dtypeShort(dtype: DType): string {
  return { float32: 'f32', float64: 'f64', float16: 'f16', int64: 'i64', int32: 'i32', int8: 'i8', uint8: 'u8', bool: 'bool' }[dtype];
}

/** Number of elements when every dim is static, else null. */
export function staticSize(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}

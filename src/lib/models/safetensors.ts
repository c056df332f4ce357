// Reading and writing the safetensors format (https://github.com/huggingface/safetensors, "Format"):
//   [8 bytes: header length N, little-endian u64][N bytes: JSON header, padded with spaces to a
//   multiple of 8][data: tensors back to back, offsets relative to the start of this block].
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} and may carry a
// string→string "__metadata__" object. Floating dtypes F32/F16/BF16 are decoded to Float32Array
// (F64 to Float64Array); integer dtypes keep their width (I64 → BigInt64Array).
// Pure TypeScript: no Node or DOM imports. It is not a model loader (name mapping, the optional
// `bert.` prefix and config checks belong to the BERT weights module).

import { joinParts } from '../util/bytes.ts';

export type Dtype =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export type TensorData =
  | Float32Array | Float64Array
  | BigInt64Array | BigUint64Array
  | Int32Array | Int16Array | Int8Array
  | Uint32Array | Uint16Array | Uint8Array;

export interface SafeTensor {
  /** The dtype stored in the file (F16/BF16 tensors come back as Float32Array data). */
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface ParsedSafetensors {
  metadata: Record<string, string>;
  /** In header order of data offsets. */
  tensors: Map<string, SafeTensor>;
}

export type WriteDtype = 'F32' | 'F16' | 'BF16';

export interface TensorToWrite {
  shape: number[];
  data: TensorData;
  /** Defaults to the dtype implied by `data`; a Float32Array is written as `options.dtype`; F16/BF16 from a Uint16Array are its bits as they are. */
  dtype?: Dtype;
}

const BYTES: Record<Dtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

// Order of the Rust `Dtype` enum; the Rust/Python writer sorts tensors by dtype, largest first,
// then by name (`safetensors::tensor::prepare`), so a file with I64 position_ids lists them first.
const RUST_DTYPE_ORDER: Dtype[] = ['BOOL', 'U8', 'I8', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'];

// The Rust reader refuses headers over 100 MB.
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/**
 * The file's tensors, each in its own buffer — or with `view`, F32 tensors at 4-byte-aligned
 * offsets as views of `bytes` (no copy: the tensors and the file share memory, so neither may be
 * written while the other is in use).
 */
export function parseSafetensors(bytes: Uint8Array, options: { view?: boolean } = {}): ParsedSafetensors {
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`header length ${headerLen64} exceeds ${MAX_HEADER_BYTES} bytes (not a safetensors file?)`);
  }
  const headerLen = Number(headerLen64);
  if (8 + headerLen > bytes.byteLength) {
    throw new SafetensorsError(`truncated: header says ${headerLen} bytes but only ${bytes.byteLength - 8} follow`);
  }
  const headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  if (!headerText.startsWith('{')) {
    throw new SafetensorsError('header does not start with "{" (not a safetensors file?)');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('header is not a JSON object');
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];

  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        throw new SafetensorsError('__metadata__ is not an object');
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) throw new SafetensorsError(`entry "${name}" is not an object`);
    const dtype = info.dtype as Dtype;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) {
      throw new SafetensorsError(`tensor "${name}": unsupported dtype ${JSON.stringify(info.dtype)}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[1] < offs[0]) {
      throw new SafetensorsError(`tensor "${name}": bad data_offsets ${JSON.stringify(offs)}`);
    }
    const numel = shape.reduce((a: number, b: number) => a * b, 1);
    if (offs[1] - offs[0] !== numel * BYTES[dtype]) {
      throw new SafetensorsError(
        `tensor "${name}": ${dtype}${JSON.stringify(shape)} needs ${numel * BYTES[dtype]} bytes but data_offsets span ${offs[1] - offs[0]}`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin: offs[0], end: offs[1] });
  }

  // Like the Rust reader's `validate`: tensors tile the data block exactly, without gaps or overlaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) {
      throw new SafetensorsError(`tensor "${e.name}" starts at ${e.begin}, expected ${expected} (gap or overlap in data_offsets)`);
    }
    expected = e.end;
  }
  if (expected > dataLen) {
    throw new SafetensorsError(`truncated: tensors need ${expected} data bytes but the file has ${dataLen}`);
  }
  if (expected !== dataLen) {
    throw new SafetensorsError(`data block is ${dataLen} bytes but the tensors cover ${expected}`);
  }

  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    const aligned = (raw.byteOffset & 3) === 0;
    const data = options.view && e.dtype === 'F32' && aligned ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) : decode(e.dtype, raw);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { metadata, tensors };
}

/** Copies `raw` into a fresh, aligned buffer and views it with the dtype's array type. */
function decode(dtype: Dtype, raw: Uint8Array): TensorData {
  // Copy through Uint8Array.prototype.slice: on a Node Buffer, `raw.slice()` is a view
  // into the whole file, so its `.buffer` would not start at this tensor.
  const buf = Uint8Array.prototype.slice.call(raw).buffer;
  switch (dtype) {
    case 'F32': return new Float32Array(buf);
    case 'F64': return new Float64Array(buf);
    case 'F16': return f16BitsToF32(new Uint16Array(buf));
    case 'BF16': return bf16BitsToF32(new Uint16Array(buf));
    case 'I64': return new BigInt64Array(buf);
    case 'U64': return new BigUint64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'U32': return new Uint32Array(buf);
    case 'I16': return new Int16Array(buf);
    case 'U16': return new Uint16Array(buf);
    case 'I8': return new Int8Array(buf);
    case 'U8': case 'BOOL': return new Uint8Array(buf);
  }
}

function dtypeOfArray(data: TensorData, floatAs: WriteDtype): Dtype {
  if (data instanceof Float32Array) return floatAs;
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Uint16Array) return 'U16';
  if (data instanceof Int8Array) return 'I8';
  return 'U8';
}

function encode(dtype: Dtype, data: TensorData): Uint8Array {
  if ((dtype === 'F16' || dtype === 'BF16') && data instanceof Uint16Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // the bits already
  if (dtype === 'F16' || dtype === 'BF16') {
    if (!(data instanceof Float32Array)) throw new SafetensorsError(`${dtype} tensors are written from Float32Array data`);
    const bits = dtype === 'F16' ? f32ToF16Bits(data) : f32ToBf16Bits(data);
    return new Uint8Array(bits.buffer);
  }
  if (dtype === 'BOOL' && !(data instanceof Uint8Array)) throw new SafetensorsError('BOOL tensors are written from Uint8Array data');
  if (dtype !== 'BOOL' && dtypeOfArray(data, dtype as WriteDtype) !== dtype) {
    throw new SafetensorsError(`dtype ${dtype} does not match data of type ${data.constructor.name}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Serializes tensors the way the Python/Rust library does: compact JSON header with
 * `__metadata__` first, tensors ordered by (dtype largest first, name), header padded with
 * spaces to a multiple of 8 bytes. Float32Array data is converted to `options.dtype`
 * (round to nearest even for F16/BF16).
 */
export function writeSafetensors(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string> | null,
  options: { dtype?: WriteDtype } = {},
): Uint8Array {
  return joinParts(safetensorsParts(tensors, metadata, options));
}

/**
 * writeSafetensors' bytes as parts, in order: the length and header, then each tensor's bytes — a
 * view of its data where no conversion is needed (float32 as F32), so nothing is copied.
 */
export function safetensorsParts(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string> | null,
  options: { dtype?: WriteDtype } = {},
): Uint8Array[] {
  const floatAs = options.dtype ?? 'F32';
  const list = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).map(([name, t]) => {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is not a valid tensor name');
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}": shape ${JSON.stringify(t.shape)} has ${numel} elements, data has ${t.data.length}`);
    }
    const dtype = t.dtype ?? dtypeOfArray(t.data, floatAs);
    return { name, dtype, shape: t.shape, bytes: encode(dtype, t.data) };
  });
  list.sort((a, b) => {
    const byDtype = RUST_DTYPE_ORDER.indexOf(b.dtype) - RUST_DTYPE_ORDER.indexOf(a.dtype);
    if (byDtype !== 0) return byDtype;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });

  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of list) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  if (padded !== headerBytes.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(headerBytes);
    headerBytes = p;
  }

  const head = new Uint8Array(8 + headerBytes.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  head.set(headerBytes, 8);
  return [head, ...list.map((t) => t.bytes)];
}

// ---- half-precision conversions -------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits → float32 values (exact). */
export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // zero or subnormal: mant · 2^-24, exactly representable in f32
      out[i] = (sign ? -1 : 1) * mant * 5.960464477539063e-8;
    } else if (exp === 0x1f) {
      outBits[i] = sign | 0x7f800000 | (mant << 13);
    } else {
      outBits[i] = sign | ((exp + 112) << 23) | (mant << 13);
    }
  }
  return out;
}

/** bfloat16 bits → float32 values (exact: the upper half of a float32). */
export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

/** float32 → IEEE binary16 bits, round to nearest even; overflow → ±inf; NaN stays NaN (quiet). */
export function f32ToF16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32Scratch[0] = values[i];
    const x = u32Scratch[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      // subnormal half (or zero): shift the 24-bit significand right by 14 - e
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e;
      let h = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && (h & 1))) h += 1;
      out[i] = sign | h;
    } else {
      let h = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h += 1; // a carry may round up into inf: correct
      out[i] = sign | h;
    }
  }
  return out;
}

/** float32 → bfloat16 bits, round to nearest even; NaN stays NaN (quiet), like torch. */
export function f32ToBf16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32Scratch[0] = values[i];
    const x = u32Scratch[0];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    const lsb = (x >>> 16) & 1;
    out[i] = ((x + 0x7fff + lsb) >>> 16) & 0xffff;
  }
  return out;
}

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  parseSafetensors,
  writeSafetensors,
  type TensorToWrite,
} from './safetensors.ts';
import { Rng } from '../util/rng.ts';

const PY = '/usr/bin/python3';
const hasNumpy = existsSync(PY) && spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
const hasTorch = hasNumpy && spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

const f32 = (xs: number[]) => new Float32Array(xs);
const bitsOf = (x: number) => new Uint32Array(f32([x]).buffer)[0];
const fromBits = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];

describe('float16 conversion', () => {
  const cases: [string, number, number][] = [
    ['one', 1, 0x3c00],
    ['minus two', -2, 0xc000],
    ['0.1 rounds to nearest', 0.1, 0x2e66],
    ['largest finite', 65504, 0x7bff],
    ['65519 rounds down to max', 65519, 0x7bff],
    ['65520 ties to even → inf', 65520, 0x7c00],
    ['+inf', Infinity, 0x7c00],
    ['-inf', -Infinity, 0xfc00],
    ['-0', -0, 0x8000],
    ['smallest normal 2^-14', 2 ** -14, 0x0400],
    ['largest subnormal', 1023 * 2 ** -24, 0x03ff],
    ['smallest subnormal 2^-24', 2 ** -24, 0x0001],
    ['2^-25 ties to even → 0', 2 ** -25, 0x0000],
    ['1.5·2^-25 rounds up to 2^-24', 1.5 * 2 ** -25, 0x0001],
    ['3·2^-25 ties to even → 2·2^-24', 3 * 2 ** -25, 0x0002],
    ['1 + 2^-11 ties to even → 1', 1 + 2 ** -11, 0x3c00],
    ['1 + 3·2^-11 ties to even → 1 + 2^-9', 1 + 3 * 2 ** -11, 0x3c02],
    ['1 + 2^-11 + 2^-20 rounds up', 1 + 2 ** -11 + 2 ** -20, 0x3c01],
    ['below half the smallest subnormal → 0', 2 ** -26, 0x0000],
  ];
  it.each(cases)('%s', (_name, x, bits) => {
    expect(f32ToF16Bits(f32([x]))[0].toString(16)).toBe(bits.toString(16));
  });

  it('keeps NaN a NaN and decodes specials', () => {
    const h = f32ToF16Bits(f32([NaN]))[0];
    expect(h & 0x7c00).toBe(0x7c00);
    expect(h & 0x3ff).not.toBe(0);
    const back = f16BitsToF32(new Uint16Array([h, 0x7c00, 0xfc00, 0x0001, 0x03ff, 0x8000, 0x3555]));
    expect(Number.isNaN(back[0])).toBe(true);
    expect(back[1]).toBe(Infinity);
    expect(back[2]).toBe(-Infinity);
    expect(back[3]).toBe(2 ** -24);
    expect(back[4]).toBe(1023 * 2 ** -24);
    expect(Object.is(back[5], -0)).toBe(true);
    expect(back[6]).toBeCloseTo(0.333251953125, 12);
  });

  it('decoding every half value and re-encoding gives the same bits', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16Bits(f16BitsToF32(all));
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (isNaN) expect(back[i] & 0x7c00).toBe(0x7c00);
      else if (back[i] !== i) throw new Error(`0x${i.toString(16)} → 0x${back[i].toString(16)}`);
    }
  });
});

describe('bfloat16 conversion', () => {
  const cases: [string, number, number][] = [
    ['one', 1, 0x3f80],
    ['-1.5', -1.5, 0xbfc0],
    ['1 + 2^-8 ties to even → 1', 1 + 2 ** -8, 0x3f80],
    ['1 + 3·2^-8 ties to even → 1 + 2^-6', 1 + 3 * 2 ** -8, 0x3f82],
    ['1 + 2^-8 + 2^-20 rounds up', 1 + 2 ** -8 + 2 ** -20, 0x3f81],
    ['+inf', Infinity, 0x7f80],
    ['-inf', -Infinity, 0xff80],
    ['largest float32 rounds to inf', fromBits(0x7f7fffff), 0x7f80],
    ['-0', -0, 0x8000],
    ['subnormal f32 keeps its top bits', fromBits(0x00012345), 0x0001],
    ['subnormal tie rounds to even', fromBits(0x00018000), 0x0002],
  ];
  it.each(cases)('%s', (_name, x, bits) => {
    expect(f32ToBf16Bits(f32([x]))[0].toString(16)).toBe(bits.toString(16));
  });

  it('keeps NaN a NaN (even one whose payload lives in the low bits)', () => {
    const lowPayloadNaN = fromBits(0x7f800001);
    const b = f32ToBf16Bits(f32([NaN, lowPayloadNaN]));
    for (const h of b) expect(Number.isNaN(bf16BitsToF32(new Uint16Array([h]))[0])).toBe(true);
    expect(bf16BitsToF32(new Uint16Array([0x3f80, 0xc040]))).toEqual(f32([1, -3]));
  });
});

function sampleTensors(): Record<string, TensorToWrite> {
  const rng = new Rng(11);
  const w = new Float32Array(6 * 5).map(() => rng.normal(0, 0.02));
  const b = new Float32Array(5).map(() => rng.normal(0, 1));
  return {
    'encoder.layer.0.attention.self.query.weight': { shape: [6, 5], data: w },
    'embeddings.LayerNorm.bias': { shape: [5], data: b },
    'embeddings.position_ids': { shape: [1, 7], data: BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n, 6n]) },
    'scalar': { shape: [], data: f32([3.25]) },
    'empty': { shape: [0, 4], data: new Float32Array(0) },
  };
}

describe('writeSafetensors / parseSafetensors', () => {
  it('writes the real layout: LE length, compact JSON padded with spaces, dtype-then-name order', () => {
    const bytes = writeSafetensors(sampleTensors(), { format: 'pt' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeGreaterThan(n - 8);
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const header = JSON.parse(text);
    expect(Object.keys(header)).toEqual([
      '__metadata__',
      'embeddings.position_ids', // I64 sorts before F32, as in the Rust writer
      'embeddings.LayerNorm.bias',
      'empty',
      'encoder.layer.0.attention.self.query.weight',
      'scalar',
    ]);
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['embeddings.position_ids']).toEqual({ dtype: 'I64', shape: [1, 7], data_offsets: [0, 56] });
    expect(header['embeddings.LayerNorm.bias']).toEqual({ dtype: 'F32', shape: [5], data_offsets: [56, 76] });
    expect(header['empty'].data_offsets).toEqual([76, 76]);
    expect(bytes.byteLength).toBe(8 + n + 56 + 20 + 0 + 120 + 4);
  });

  it('round-trips F32 exactly, and I64 unchanged', () => {
    const src = sampleTensors();
    const parsed = parseSafetensors(writeSafetensors(src, { format: 'pt' }));
    expect(parsed.metadata).toEqual({ format: 'pt' });
    for (const [name, t] of Object.entries(src)) {
      const got = parsed.tensors.get(name)!;
      expect(got.shape).toEqual(t.shape);
      expect(got.data).toEqual(t.data);
    }
    expect(parsed.tensors.get('embeddings.position_ids')!.dtype).toBe('I64');
    expect(parsed.tensors.get('embeddings.position_ids')!.data).toBeInstanceOf(BigInt64Array);
  });

  it.each(['F16', 'BF16'] as const)('round-trips %s: values come back rounded once, within half an ulp', (dtype) => {
    const src = sampleTensors();
    const parsed = parseSafetensors(writeSafetensors(src, null, { dtype }));
    const w = src['encoder.layer.0.attention.self.query.weight'].data as Float32Array;
    const got = parsed.tensors.get('encoder.layer.0.attention.self.query.weight')!;
    expect(got.dtype).toBe(dtype);
    expect(got.data).toBeInstanceOf(Float32Array);
    const relUlp = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs((got.data as Float32Array)[i] - w[i])).toBeLessThanOrEqual(Math.abs(w[i]) * relUlp + 2 ** -25);
    }
    // rounding is idempotent: writing the rounded values again gives identical bytes
    const again = writeSafetensors(
      Object.fromEntries([...parsed.tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data }])),
      null,
      { dtype },
    );
    expect(again).toEqual(writeSafetensors(src, null, { dtype }));
    expect(parsed.tensors.get('embeddings.position_ids')!.dtype).toBe('I64');
  });

  it('reads tensors from an unaligned view of the file', () => {
    const bytes = writeSafetensors({ a: { shape: [3], data: f32([1, 2, 3]) } });
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    expect(parseSafetensors(shifted.subarray(1)).tensors.get('a')!.data).toEqual(f32([1, 2, 3]));
  });

  it('fails clearly on truncated or garbled files', () => {
    const good = writeSafetensors(sampleTensors());
    expect(() => parseSafetensors(good.subarray(0, 5))).toThrow(/shorter than the 8-byte/);
    expect(() => parseSafetensors(good.subarray(0, 40))).toThrow(/truncated: header says/);
    expect(() => parseSafetensors(good.subarray(0, good.byteLength - 3))).toThrow(/truncated: tensors need/);
    const extra = new Uint8Array(good.byteLength + 4);
    extra.set(good);
    expect(() => parseSafetensors(extra)).toThrow(/tensors cover/);

    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => parseSafetensors(huge)).toThrow(/exceeds/);

    const withHeader = (json: string) => {
      const h = new TextEncoder().encode(json);
      const out = new Uint8Array(8 + h.byteLength);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
      out.set(h, 8);
      return out;
    };
    expect(() => parseSafetensors(withHeader('[1,2]'))).toThrow(/does not start with/);
    expect(() => parseSafetensors(withHeader('{"a": '))).toThrow(/not valid JSON/);
    expect(() => parseSafetensors(withHeader('{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}'))).toThrow(/unsupported dtype/);
    expect(() => parseSafetensors(withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'))).toThrow(/needs 8 bytes/);
    expect(() => parseSafetensors(withHeader('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}'))).toThrow(/shape/);
    expect(() => parseSafetensors(withHeader('{"__metadata__":{"x":1}}'))).toThrow(/__metadata__.x is not a string/);
  });

  it('refuses data that does not match the declared shape or dtype', () => {
    expect(() => writeSafetensors({ a: { shape: [2, 2], data: f32([1, 2, 3]) } })).toThrow(/4 elements/);
    expect(() => writeSafetensors({ a: { shape: [1], data: new Int32Array([1]), dtype: 'F16' } })).toThrow(/Float32Array/);
  });
});

describe.skipIf(!hasNumpy)('agreement with Python (numpy + struct, torch for bfloat16)', () => {
  it('parses a file written with the Python conventions and matches numpy/torch rounding', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-py-'));
    try {
      const script = `
import json, struct, sys, warnings
import numpy as np
warnings.simplefilter('ignore')
rng = np.random.default_rng(0)
w = (rng.standard_normal((4, 3)) * 0.02).astype(np.float32)
special = np.array([1.0, 65520.0, 2.0**-25, 1.5 * 2.0**-25, 1e-8, -3.1, np.inf, 1e5, 0.1], dtype=np.float32)
tensors = {
  'embeddings.position_ids': ('I64', np.arange(6, dtype=np.int64).reshape(1, 6).tobytes(), [1, 6]),
  'w32': ('F32', w.tobytes(), [4, 3]),
  'w16': ('F16', special.astype(np.float16).tobytes(), [9]),
}
bf16_bits = None
try:
  import torch
  bf = torch.from_numpy(special).to(torch.bfloat16)
  bf16_bits = bf.view(torch.int16).numpy().astype(np.uint16).tolist()
  tensors['wbf'] = ('BF16', bf.view(torch.int16).numpy().tobytes(), [9])
except ImportError:
  pass
order = {'I64': 3, 'F32': 2, 'BF16': 1, 'F16': 0}
names = sorted(tensors, key=lambda k: (-order[tensors[k][0]], k))
header = {'__metadata__': {'format': 'pt'}}
off = 0
for k in names:
  dt, b, shape = tensors[k]
  header[k] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(b)]}
  off += len(b)
h = json.dumps(header, separators=(',', ':')).encode()
h += b' ' * ((8 - len(h) % 8) % 8)
with open(sys.argv[1] + '/py.safetensors', 'wb') as f:
  f.write(struct.pack('<Q', len(h)) + h + b''.join(tensors[k][1] for k in names))
json.dump({'w32': w.astype(float).tolist(), 'special_bits': special.view(np.uint32).tolist(),
           'f16_bits': special.astype(np.float16).view(np.uint16).tolist(), 'bf16_bits': bf16_bits},
          open(sys.argv[1] + '/expected.json', 'w'))
`;
      const r = spawnSync(PY, ['-c', script, dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      const fileBytes = new Uint8Array(readFileSync(join(dir, 'py.safetensors')));
      const parsed = parseSafetensors(fileBytes);
      expect(parsed.metadata).toEqual({ format: 'pt' });
      expect(parsed.tensors.get('embeddings.position_ids')!.data).toEqual(BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n]));
      expect(Array.from(parsed.tensors.get('w32')!.data as Float32Array)).toEqual(expected.w32.flat());
      const special = new Float32Array(Uint32Array.from(expected.special_bits).buffer);
      expect(Array.from(f32ToF16Bits(special))).toEqual(expected.f16_bits);
      expect(parsed.tensors.get('w16')!.data).toEqual(f16BitsToF32(Uint16Array.from(expected.f16_bits)));
      if (expected.bf16_bits) {
        expect(Array.from(f32ToBf16Bits(special))).toEqual(expected.bf16_bits);
        // Our writer, given the same tensors, produces the same bytes as the Python conventions.
        const ours = writeSafetensors(
          {
            'embeddings.position_ids': { shape: [1, 6], data: BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n]) },
            w32: { shape: [4, 3], data: f32(expected.w32.flat()) },
            w16: { shape: [9], data: special, dtype: 'F16' },
            wbf: { shape: [9], data: special, dtype: 'BF16' },
          },
          { format: 'pt' },
        );
        expect(Buffer.from(ours).equals(Buffer.from(fileBytes))).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasTorch)('float16/bfloat16 rounding agrees with numpy/torch on 20,000 random values incl. subnormals', () => {
    const rng = new Rng(5);
    const xs = new Float32Array(20000);
    for (let i = 0; i < xs.length; i++) {
      const scale = 2 ** (rng.int(60) - 40);
      xs[i] = rng.normal(0, 1) * scale;
    }
    xs[0] = fromBits(0x00000001);
    xs[1] = fromBits(0x807fffff);
    const dir = mkdtempSync(join(tmpdir(), 'st-round-'));
    try {
      writeFileSync(join(dir, 'x.bin'), xs);
      const r = spawnSync(PY, ['-c', `
import sys, numpy as np, torch
x = np.fromfile(sys.argv[1] + '/x.bin', dtype=np.float32)
x.astype(np.float16).view(np.uint16).tofile(sys.argv[1] + '/h.bin')
torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).tofile(sys.argv[1] + '/b.bin')
`, dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const h = new Uint16Array(new Uint8Array(readFileSync(join(dir, 'h.bin'))).buffer);
      const b = new Uint16Array(new Uint8Array(readFileSync(join(dir, 'b.bin'))).buffer);
      const oursH = f32ToF16Bits(xs);
      const oursB = f32ToBf16Bits(xs);
      let mismatches = 0;
      for (let i = 0; i < xs.length; i++) if (oursH[i] !== h[i] || oursB[i] !== b[i]) mismatches++;
      expect(mismatches).toBe(0);
      expect(bitsOf(f16BitsToF32(h)[2])).toBe(bitsOf(f16BitsToF32(oursH)[2]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parse from a Node Buffer', () => {
  it('decodes tensors that sit at an offset inside a larger pooled buffer', () => {
    const bytes = writeSafetensors({ a: { shape: [2], data: new Float32Array([1.5, -2]) }, b: { shape: [3], data: new Float32Array([3, 4, 5]) } });
    // Buffer.from(bytes) may share Node's allocation pool; writing to a file and reading back
    // gives the same shape of view that the CLI and weight loaders get.
    const dir = mkdtempSync(join(tmpdir(), 'st-buf-'));
    try {
      writeFileSync(join(dir, 'm.safetensors'), bytes);
      const parsed = parseSafetensors(readFileSync(join(dir, 'm.safetensors')));
      expect(Array.from(parsed.tensors.get('a')!.data as Float32Array)).toEqual([1.5, -2]);
      expect(Array.from(parsed.tensors.get('b')!.data as Float32Array)).toEqual([3, 4, 5]);
      const pooled = Buffer.concat([Buffer.alloc(13), Buffer.from(bytes)]).subarray(13);
      expect(Array.from(parseSafetensors(pooled).tensors.get('b')!.data as Float32Array)).toEqual([3, 4, 5]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

// Loads the PyTorch reference dumps written by tests/reference/bert_reference.py
// (tests/reference/data/<model>.safetensors: inputs, embeddings, last hidden state, loss and
// grad/<parameter> for one eval-mode batch, float64 math stored as float32) and compares tensors
// against them, for the BERT parity tests.
// Node only (reads files). It is not a safetensors parser (that is src/lib/models/safetensors.ts)
// and it runs no model: callers compute their own tensors and hand them to compareTensors.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, type SafeTensor } from '../../src/lib/models/safetensors.ts';

export const REFERENCE_FORMAT_VERSION = '1';
export const REFERENCE_MODELS = ['tiny-bge', 'tiny-mean', 'tiny-xlmr', 'tiny-xlmr-mean'] as const;
export type ReferenceModel = (typeof REFERENCE_MODELS)[number];
export const REFERENCE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'data');
export const REGENERATE_COMMAND = '/usr/bin/python3 tests/reference/bert_reference.py';

export interface Reference {
  model: string;
  path: string;
  /** format_version, script, torch, model_sha256, pooling ("cls" | "mean"), normalize, … (README.md). */
  metadata: Record<string, string>;
  /** Every tensor in the file, by name (inputs, outputs, `grad/<param>`). */
  tensors: Map<string, SafeTensor>;
  /** [B,T] token ids. */
  inputIds: BigInt64Array;
  /** [B,T] 1 for real tokens, 0 for padding. */
  attentionMask: Float32Array;
  /** [B,T] all zeros. */
  tokenTypeIds: BigInt64Array;
  /** [B,C] R in loss = Σ(embeddings ⊙ R); also d loss / d embeddings. */
  upstream: Float32Array;
  /** [B,C] pooled (and, for tiny-bge, L2-normalized) sentence embeddings. */
  embeddings: Float32Array;
  /** [B,T,C] encoder output, padding rows included. */
  lastHiddenState: Float32Array;
  loss: number;
  batch: number;
  tokens: number;
  hidden: number;
  /** Parameter names that have a `grad/<name>` tensor in the file. */
  gradNames: string[];
  /** Parameters that get no gradient (the pooler); absent from the file, not stored as zeros. */
  noGradNames: string[];
  /** The tensor of that name; throws naming the file when it is missing. */
  get(name: string): SafeTensor;
  /** The reference gradient of a model parameter, i.e. `grad/<param>`. */
  grad(param: string): SafeTensor;
}

export class ReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceError';
  }
}

export function referencePath(model: string, dir: string = REFERENCE_DIR): string {
  return join(dir, `${model}.safetensors`);
}

export function loadReference(model: string, dir: string = REFERENCE_DIR): Reference {
  const path = referencePath(model, dir);
  let bytes: Uint8Array;
  try {
    // A plain Uint8Array copy, not the Node Buffer: Buffer#slice() returns a view, and
    // parseSafetensors relies on slice() copying (src/lib/models/safetensors.ts `decode`).
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new ReferenceError(`cannot read ${path} (${(e as Error).message}); regenerate with: ${REGENERATE_COMMAND}`);
  }
  return parseReference(bytes, model, path);
}

/** Pure part of loadReference: parses the bytes and checks the format version and the layout. */
export function parseReference(bytes: Uint8Array, model: string, path = `${model}.safetensors`): Reference {
  const { metadata, tensors } = parseSafetensors(bytes);
  const version = metadata.format_version;
  if (version !== REFERENCE_FORMAT_VERSION) {
    throw new ReferenceError(
      `${path}: format_version ${JSON.stringify(version)}, this loader reads ${REFERENCE_FORMAT_VERSION}; regenerate with: ${REGENERATE_COMMAND}`,
    );
  }
  const get = (name: string): SafeTensor => {
    const t = tensors.get(name);
    if (!t) throw new ReferenceError(`${path}: no tensor "${name}"`);
    return t;
  };
  const typed = <T>(name: string, ctor: new (...a: never[]) => T, dtype: string): T => {
    const t = get(name);
    if (t.dtype !== dtype || !(t.data instanceof ctor)) {
      throw new ReferenceError(`${path}: tensor "${name}" is ${t.dtype}, expected ${dtype}`);
    }
    return t.data as T;
  };
  const ids = get('input_ids');
  const emb = get('embeddings');
  if (ids.shape.length !== 2 || emb.shape.length !== 2) {
    throw new ReferenceError(`${path}: input_ids ${JSON.stringify(ids.shape)} / embeddings ${JSON.stringify(emb.shape)} are not 2-D`);
  }
  const [batch, tokens] = ids.shape;
  const hidden = emb.shape[1];
  const expectShape = (name: string, shape: number[]) => {
    const got = get(name).shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ReferenceError(`${path}: tensor "${name}" has shape ${JSON.stringify(got)}, expected ${JSON.stringify(shape)}`);
    }
  };
  expectShape('attention_mask', [batch, tokens]);
  expectShape('token_type_ids', [batch, tokens]);
  expectShape('upstream', [batch, hidden]);
  expectShape('embeddings', [batch, hidden]);
  expectShape('last_hidden_state', [batch, tokens, hidden]);
  expectShape('loss', []);

  const listed = (key: string): string[] => {
    try {
      const v = JSON.parse(metadata[key] ?? '');
      if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
    } catch {
      // fall through
    }
    throw new ReferenceError(`${path}: metadata "${key}" is not a JSON list of names`);
  };
  const gradNames = listed('grad_params');
  const noGradNames = listed('no_grad_params');
  const inFile = [...tensors.keys()].filter((k) => k.startsWith('grad/')).map((k) => k.slice(5));
  const missing = gradNames.filter((n) => !tensors.has(`grad/${n}`));
  const unlisted = inFile.filter((n) => !gradNames.includes(n));
  if (missing.length || unlisted.length) {
    throw new ReferenceError(`${path}: grad_params and grad/* tensors disagree (missing ${missing}, unlisted ${unlisted})`);
  }

  return {
    model,
    path,
    metadata,
    tensors,
    inputIds: typed('input_ids', BigInt64Array, 'I64'),
    attentionMask: typed('attention_mask', Float32Array, 'F32'),
    tokenTypeIds: typed('token_type_ids', BigInt64Array, 'I64'),
    upstream: typed('upstream', Float32Array, 'F32'),
    embeddings: typed('embeddings', Float32Array, 'F32'),
    lastHiddenState: typed('last_hidden_state', Float32Array, 'F32'),
    loss: typed('loss', Float32Array, 'F32')[0],
    batch,
    tokens,
    hidden,
    gradNames,
    noGradNames,
    get,
    grad: (param: string) => get(`grad/${param}`),
  };
}

export interface CompareOptions {
  /** Passes when |ours − ref| ≤ atol + rtol·|ref| everywhere (numpy.allclose). */
  rtol: number;
  atol: number;
}

export interface TensorDiff {
  ok: boolean;
  /** Largest |ours − ref|. */
  maxAbs: number;
  /** Largest |ours − ref| / |ref| over elements with ref ≠ 0 (Infinity if ours ≠ 0 where ref = 0). */
  maxRel: number;
  /** Elements outside the tolerance. */
  failures: number;
  count: number;
  /** The element furthest outside (or closest to) the tolerance: flat index, coordinates, values. */
  worstIndex: number;
  worstCoord: number[];
  worstOurs: number;
  worstRef: number;
}

/**
 * Compares `ours` with a reference tensor element by element. When `ours` carries a shape it must
 * equal the reference's; a bare array must have the same number of elements. NaN anywhere fails.
 */
export function compareTensors(
  ours: ArrayLike<number> | { shape: readonly number[]; data: ArrayLike<number> },
  ref: { shape: readonly number[]; data: ArrayLike<number> | ArrayLike<bigint> },
  { rtol, atol }: CompareOptions,
): TensorDiff {
  const a = 'data' in ours ? ours.data : ours;
  if ('shape' in ours && ours.shape && (ours.shape.length !== ref.shape.length || ours.shape.some((d, i) => d !== ref.shape[i]))) {
    throw new ReferenceError(`shape ${JSON.stringify(ours.shape)} does not match reference ${JSON.stringify(ref.shape)}`);
  }
  const n = ref.shape.reduce((x, y) => x * y, 1);
  if (a.length !== n || ref.data.length !== n) {
    throw new ReferenceError(`${a.length} elements against a reference of shape ${JSON.stringify(ref.shape)} (${n})`);
  }
  let maxAbs = 0;
  let maxRel = 0;
  let failures = 0;
  let worstIndex = n > 0 ? 0 : -1;
  let worstRatio = -1;
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = Number(ref.data[i]);
    const d = Math.abs(x - y);
    const tol = atol + rtol * Math.abs(y);
    // NaN compares false everywhere: make it the worst element and a failure.
    const ratio = Number.isNaN(d) ? Infinity : tol > 0 ? d / tol : d > 0 ? Infinity : 0;
    if (Number.isNaN(d) || d > tol) failures++;
    if (Number.isNaN(d)) maxAbs = NaN;
    else if (d > maxAbs) maxAbs = d;
    const rel = y !== 0 ? d / Math.abs(y) : d > 0 ? Infinity : 0;
    if (Number.isNaN(rel)) maxRel = NaN;
    else if (rel > maxRel) maxRel = rel;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  return {
    ok: failures === 0,
    maxAbs,
    maxRel,
    failures,
    count: n,
    worstIndex,
    worstCoord: worstIndex >= 0 ? unravel(worstIndex, ref.shape) : [],
    worstOurs: worstIndex >= 0 ? a[worstIndex] : NaN,
    worstRef: worstIndex >= 0 ? Number(ref.data[worstIndex]) : NaN,
  };
}

/** One line for test output: `name: max abs 1.2e-7, max rel 3.4e-6, worst [0,3] ours … ref …`. */
export function formatDiff(name: string, d: TensorDiff): string {
  const e = (x: number) => x.toExponential(2);
  return (
    `${name}: ${d.ok ? 'ok' : `${d.failures}/${d.count} outside tolerance`}, max abs ${e(d.maxAbs)}, max rel ${e(d.maxRel)}, ` +
    `worst [${d.worstCoord.join(',')}] ours ${d.worstOurs} ref ${d.worstRef}`
  );
}

function unravel(index: number, shape: readonly number[]): number[] {
  const coord = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    coord[k] = index % shape[k];
    index = Math.floor(index / shape[k]);
  }
  return coord;
}

// Checks the committed PyTorch reference files (layout, names, shapes, internal consistency, and
// that they were computed from the fixture models the generator makes today) and the tensor
// comparison helper the parity tests use.

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Plain Uint8Array copies: parseSafetensors mis-decodes Node Buffers (Buffer#slice is a view).
const readBytes = (path: string) => new Uint8Array(readFileSync(path));
import { parseSafetensors, writeSafetensors } from '../../src/lib/models/safetensors.ts';
import { ensureFixtures, sha256File } from '../fixtures/fixtures.ts';
import {
  REFERENCE_MODELS,
  REGENERATE_COMMAND,
  ReferenceError,
  compareTensors,
  formatDiff,
  loadReference,
  parseReference,
  referencePath,
} from './load-reference.ts';

const fixtures = ensureFixtures();
const folderOf = { 'tiny-bge': fixtures.tinyBge, 'tiny-mean': fixtures.tinyMean, 'tiny-xlmr': fixtures.tinyXlmr, 'tiny-xlmr-mean': fixtures.tinyXlmrMean } as const;

/** id → token: vocab.txt's lines, or the Unigram pieces of tokenizer.json. */
function vocabOf(folder: string): string[] {
  if (existsSync(join(folder, 'vocab.txt'))) return readFileSync(join(folder, 'vocab.txt'), 'utf8').split('\n');
  return (JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')).model.vocab as [string, number][]).map(([p]) => p);
}

describe.each(REFERENCE_MODELS)('reference %s', (model) => {
  const ref = loadReference(model);
  const folder = folderOf[model];
  const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
  const weights = parseSafetensors(readBytes(join(folder, 'model.safetensors')));

  it('was computed from the current fixture model', () => {
    const sha = sha256File(join(folder, 'model.safetensors'));
    expect(
      ref.metadata.model_sha256,
      `${referencePath(model)} was made from another ${model}/model.safetensors; re-run: ${REGENERATE_COMMAND}`,
    ).toBe(sha);
    expect(ref.metadata.format_version).toBe('1');
    expect(ref.metadata.compute_dtype).toBe('float64');
    expect(ref.metadata.mode).toBe('eval');
  });

  it('has the inputs and outputs with the expected shapes', () => {
    const C = config.hidden_size;
    expect([ref.batch, ref.tokens, ref.hidden]).toEqual([3, 9, C]);
    expect(ref.get('upstream').shape).toEqual([3, C]);
    expect(ref.get('last_hidden_state').shape).toEqual([3, 9, C]);
    expect(ref.get('loss').shape).toEqual([]);
    expect(Number.isFinite(ref.loss)).toBe(true);
    const lengths = [0, 1, 2].map((b) => ref.attentionMask.subarray(b * 9, b * 9 + 9).reduce((s, m) => s + m, 0));
    expect(lengths).toEqual([9, 6, 3]);
    const vocab = vocabOf(folder);
    const tc = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    for (let b = 0; b < 3; b++) {
      const row = [...ref.inputIds.subarray(b * 9, b * 9 + 9)].map(Number);
      const n = lengths[b];
      expect(vocab[row[0]]).toBe(tc.cls_token);
      expect(vocab[row[n - 1]]).toBe(tc.sep_token);
      for (const id of row.slice(1, n - 1)) expect(id).toBeGreaterThanOrEqual(5);
      for (const id of row.slice(n)) expect(vocab[id]).toBe(tc.pad_token);
    }
    if (config.model_type === 'xlm-roberta') {
      // transformers' RoBERTa rule: real tokens from pad + 1 on, padding at pad.
      const pad = config.pad_token_id;
      const want = lengths.map((n) => Array.from({ length: 9 }, (_, t) => (t < n ? pad + 1 + t : pad)));
      expect(ref.metadata.model_type).toBe('xlm-roberta');
      expect(JSON.parse(ref.metadata.position_ids)).toEqual(want);
    } else expect(ref.metadata.position_ids).toBeUndefined();
    expect(ref.tokenTypeIds.every((x) => x === 0n)).toBe(true);
  });

  it('has a gradient for every model parameter except the pooler, with its shape', () => {
    // tiny-xlmr-mean names its tensors `roberta.…`, as XLMRobertaForMaskedLM saves them; the reference strips it.
    const file = new Map([...weights.tensors].map(([n, t]) => [n.replace(/^roberta\./, ''), t]));
    const params = [...file.keys()].filter((n) => n !== 'embeddings.position_ids');
    const expected = params.filter((n) => !n.startsWith('pooler.')).sort();
    expect([...ref.gradNames].sort()).toEqual(expected);
    expect([...ref.noGradNames].sort()).toEqual(['pooler.dense.bias', 'pooler.dense.weight']);
    for (const name of expected) {
      const g = ref.grad(name);
      expect(g.shape, name).toEqual(file.get(name)!.shape);
      expect(g.dtype).toBe('F32');
      expect(g.data.every((x) => Number.isFinite(x)), name).toBe(true);
    }
    // Every row of the batch reaches the encoder weights, and padding ids get no gradient.
    const dWord = ref.grad('embeddings.word_embeddings.weight');
    const C = ref.hidden;
    const rowNorm = (id: number) => Math.hypot(...(dWord.data as Float32Array).subarray(id * C, id * C + C));
    expect(rowNorm(config.pad_token_id)).toBe(0);
    expect(rowNorm(Number(ref.inputIds[1]))).toBeGreaterThan(0);
  });

  it('is consistent: loss = Σ E⊙R and E = pool(last_hidden_state)', () => {
    const C = ref.hidden;
    let loss = 0;
    for (let i = 0; i < ref.embeddings.length; i++) loss += ref.embeddings[i] * ref.upstream[i];
    expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref.loss)));

    const pooled = new Float32Array(3 * C);
    for (let b = 0; b < 3; b++) {
      const row = pooled.subarray(b * C, b * C + C);
      if (ref.metadata.pooling === 'cls') {
        row.set(ref.lastHiddenState.subarray(b * 9 * C, b * 9 * C + C));
      } else {
        let n = 0;
        for (let t = 0; t < 9; t++) {
          const m = ref.attentionMask[b * 9 + t];
          n += m;
          for (let c = 0; c < C; c++) row[c] += m * ref.lastHiddenState[(b * 9 + t) * C + c];
        }
        for (let c = 0; c < C; c++) row[c] /= Math.max(n, 1e-9);
      }
      if (ref.metadata.normalize === 'true') {
        const norm = Math.hypot(...row);
        for (let c = 0; c < C; c++) row[c] /= Math.max(norm, 1e-12);
      }
    }
    const d = compareTensors(pooled, ref.get('embeddings'), { rtol: 1e-5, atol: 1e-6 });
    expect(d.ok, formatDiff('embeddings', d)).toBe(true);
  });

  it('matches the fixture: pooling and normalize as in modules.json and 1_Pooling', () => {
    const modules = JSON.parse(readFileSync(join(folder, 'modules.json'), 'utf8')) as { type: string }[];
    const pooling = JSON.parse(readFileSync(join(folder, '1_Pooling', 'config.json'), 'utf8'));
    expect(ref.metadata.normalize).toBe(String(modules.some((m) => m.type.endsWith('.Normalize'))));
    expect(ref.metadata.pooling).toBe(pooling.pooling_mode_cls_token ? 'cls' : 'mean');
  });
});

describe('parseReference', () => {
  it('refuses another format version, naming the command that regenerates the file', () => {
    const bytes = readBytes(referencePath('tiny-bge'));
    const { metadata, tensors } = parseSafetensors(bytes);
    const rewritten = writeSafetensors(tensors, { ...metadata, format_version: '0' });
    expect(() => parseReference(rewritten, 'tiny-bge')).toThrow(ReferenceError);
    expect(() => parseReference(rewritten, 'tiny-bge')).toThrow(/format_version "0".*bert_reference\.py/);
  });

  it('refuses a file whose grad tensors and grad_params disagree', () => {
    const { metadata, tensors } = parseSafetensors(readBytes(referencePath('tiny-bge')));
    tensors.delete('grad/embeddings.LayerNorm.bias');
    expect(() => parseReference(writeSafetensors(tensors, metadata), 'tiny-bge')).toThrow(/missing embeddings\.LayerNorm\.bias/);
  });
});

describe('compareTensors', () => {
  const ref = { shape: [2, 3], data: new Float32Array([1, -2, 0, 4, 1e-3, -6]) };

  it.each([
    { name: 'identical', ours: [1, -2, 0, 4, 1e-3, -6], ok: true, maxAbs: 0, worst: null },
    { name: 'within rtol', ours: [1, -2, 0, 4.0001, 1e-3, -6], ok: true, maxAbs: 1e-4, worst: null },
    { name: 'one element off', ours: [1, -2, 0, 4, 1e-3, -6.1], ok: false, maxAbs: 0.1, worst: [1, 2] },
    { name: 'small value, large relative error', ours: [1, -2, 0, 4, 2e-3, -6], ok: false, maxAbs: 1e-3, worst: [1, 1] },
    { name: 'nonzero where ref is 0', ours: [1, -2, 1e-3, 4, 1e-3, -6], ok: false, maxAbs: 1e-3, worst: [0, 2] },
  ])('$name', ({ ours, ok, maxAbs, worst }) => {
    const d = compareTensors(ours, ref, { rtol: 1e-4, atol: 1e-6 });
    expect(d.ok).toBe(ok);
    expect(d.maxAbs).toBeCloseTo(maxAbs, 6);
    expect(d.failures).toBe(ok ? 0 : 1);
    if (worst) expect(d.worstCoord).toEqual(worst);
  });

  it('reports relative error and Infinity where the reference is 0', () => {
    expect(compareTensors([1, -2, 0, 4, 1.5e-3, -6], ref, { rtol: 0, atol: 1 }).maxRel).toBeCloseTo(0.5, 6);
    expect(compareTensors([1, -2, 1e-9, 4, 1e-3, -6], ref, { rtol: 0, atol: 1 }).maxRel).toBe(Infinity);
  });

  it('fails on NaN and points at it', () => {
    const d = compareTensors([1, NaN, 0, 4, 1e-3, -6], ref, { rtol: 1, atol: 1 });
    expect(d.ok).toBe(false);
    expect(d.worstCoord).toEqual([0, 1]);
    expect(formatDiff('x', d)).toMatch(/^x: 1\/6 outside tolerance/);
  });

  it('throws on a shape or size mismatch', () => {
    expect(() => compareTensors([1, 2, 3], ref, { rtol: 0, atol: 0 })).toThrow(/6/);
    expect(() => compareTensors({ shape: [3, 2], data: ref.data }, ref, { rtol: 0, atol: 0 })).toThrow(/shape \[3,2\]/);
  });
});

// Loading sentence-transformers model files: F32/F16/BF16 weights, the `bert.` prefix and
// position_ids, pooling/Normalize from the module files, sharded weights (index + shards), and the
// rejection messages.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { BGE_SMALL_CONFIG } from './bert-config.ts';
import { BertEncoder } from './encoder.ts';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, bf16BitsToF32, parseSafetensors, writeSafetensors } from './safetensors.ts';
import { readModelFolder } from './sentence-model-node.ts';
import { loadSentenceModel, randomBertWeights, type SentenceModel, withSingleWeightsFile } from './sentence-model.ts';

let f: FixturePaths;
let wasm: Runtime;
beforeAll(async () => {
  f = ensureFixtures();
  wasm = await createRuntime('wasm', { threads: 1 });
});

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const withFile = (files: Map<string, Uint8Array>, path: string, bytes: Uint8Array) => new Map([...files, [path, bytes]]);
const configOf = (files: Map<string, Uint8Array>) => JSON.parse(new TextDecoder().decode(files.get('config.json')!));

function stWeights(model: SentenceModel) {
  return new Map([...model.weights].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
}

// Three texts of different lengths, padded to 7 (ids ≥ 5 are words in the fixture vocab).
const batch = {
  inputIds: BigInt64Array.from([2, 11, 40, 7, 90, 8, 3, 2, 33, 3, 0, 0, 0, 0, 2, 150, 61, 19, 3, 0, 0].map(BigInt)),
  attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0]),
  batch: 3,
  tokens: 7,
};

describe('loadSentenceModel', () => {
  it('reads tiny-bge: config, CLS + Normalize, max_seq_length, every weight as f32', () => {
    const m = loadSentenceModel(readModelFolder(f.tinyBge));
    expect([m.pooling, m.normalize, m.maxSeqLength, m.weightDtype]).toEqual(['cls', true, 64, 'F32']);
    expect(m.config).toMatchObject({ hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, vocabSize: 196, hiddenDropout: 0.1 });
    expect(m.weights.get('pooler.dense.weight')?.shape).toEqual([32, 32]);
    const mean = loadSentenceModel(readModelFolder(f.tinyMean));
    expect([mean.pooling, mean.normalize]).toEqual(['mean', false]);
  });

  it.each([
    ['F16', () => f.tinyBgeF16, (x: Float32Array) => f16BitsToF32(f32ToF16Bits(x))],
    ['BF16', () => f.tinyBgeBf16, (x: Float32Array) => bf16BitsToF32(f32ToBf16Bits(x))],
  ])('%s file gives the embeddings of an f32 model holding the same rounded weights', async (dtype, dir, round) => {
    const half = loadSentenceModel(readModelFolder(dir()));
    expect(half.weightDtype).toBe(dtype);
    const f32 = loadSentenceModel(readModelFolder(f.tinyBge));
    const rounded: SentenceModel = { ...f32, weights: new Map([...f32.weights].map(([k, t]) => [k, { shape: t.shape, data: round(t.data) }])) };
    for (const [k, t] of half.weights) expect(t.data.every((v, i) => v === rounded.weights.get(k)!.data[i]), k).toBe(true);
    const a = await BertEncoder.create(wasm, half);
    const b = await BertEncoder.create(wasm, rounded);
    const c = await BertEncoder.create(wasm, f32);
    const [ea, eb, ec] = [await a.encode(batch), await b.encode(batch), await c.encode(batch)];
    expect(Array.from(ea)).toEqual(Array.from(eb));
    // …and rounding really changed something the f32 model computes.
    expect(Array.from(ea)).not.toEqual(Array.from(ec));
    await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
  });

  it('accepts a `bert.` prefix and ignores embeddings.position_ids', async () => {
    const files = readModelFolder(f.tinyBge);
    const m = loadSentenceModel(files);
    const prefixed = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>(
      [...stWeights(m)].map(([k, t]) => [`bert.${k}`, t]),
    );
    prefixed.set('bert.embeddings.position_ids', { shape: [1, 64], data: BigInt64Array.from({ length: 64 }, (_, i) => BigInt(i)) });
    const p = loadSentenceModel(withFile(files, 'model.safetensors', writeSafetensors(prefixed)));
    expect([...p.weights.keys()]).toEqual([...m.weights.keys()]);
    expect(p.weights.has('embeddings.position_ids')).toBe(false);
  });

  it('rejects an unknown model_type, naming the supported ones', () => {
    const files = readModelFolder(f.tinyBge);
    const bad = withFile(files, 'config.json', json({ ...configOf(files), model_type: 'roberta' }));
    expect(() => loadSentenceModel(bad)).toThrow('config.json: model_type "roberta" is not supported; supported: "bert" (BERT), "xlm-roberta" (XLM-RoBERTa)');
  });

  it('rejects an XLM-RoBERTa config whose position table leaves no position past pad + 1', () => {
    const files = readModelFolder(f.tinyXlmr);
    const bad = withFile(files, 'config.json', json({ ...configOf(files), max_position_embeddings: 2 }));
    expect(() => loadSentenceModel(bad)).toThrow('config.json: max_position_embeddings 2 leaves no position for a token: XLM-RoBERTa positions start at 2 (pad_token_id + 1)');
  });

  it('rejects a missing tensor and a wrong shape, naming them', () => {
    const files = readModelFolder(f.tinyBge);
    const w = stWeights(loadSentenceModel(files));
    const missing = new Map(w);
    missing.delete('encoder.layer.1.intermediate.dense.bias');
    expect(() => loadSentenceModel(withFile(files, 'model.safetensors', writeSafetensors(missing)))).toThrow(
      'model.safetensors: missing tensor encoder.layer.1.intermediate.dense.bias',
    );
    const wrong = new Map(w);
    wrong.set('encoder.layer.0.attention.self.key.weight', { shape: [32, 16], data: new Float32Array(512) });
    expect(() => loadSentenceModel(withFile(files, 'model.safetensors', writeSafetensors(wrong)))).toThrow(
      'model.safetensors: wrong shape: encoder.layer.0.attention.self.key.weight is [32,16], expected [32,32]',
    );
    const fewer = withFile(files, 'config.json', json({ ...configOf(files), num_hidden_layers: 3 }));
    expect(() => loadSentenceModel(fewer)).toThrow(/missing tensors encoder\.layer\.2\.attention\.self\.query\.weight, .*\(16 in all\)/);
  });

  it('rejects unsupported pooling modes and module types clearly', () => {
    const files = readModelFolder(f.tinyBge);
    const pool = JSON.parse(new TextDecoder().decode(files.get('1_Pooling/config.json')!));
    const max = withFile(files, '1_Pooling/config.json', json({ ...pool, pooling_mode_cls_token: false, pooling_mode_max_tokens: true }));
    expect(() => loadSentenceModel(max)).toThrow(
      '1_Pooling/config.json: pooling pooling_mode_max_tokens is not supported; supported: pooling_mode_cls_token or pooling_mode_mean_tokens alone',
    );
    const both = withFile(files, '1_Pooling/config.json', json({ ...pool, pooling_mode_mean_tokens: true }));
    expect(() => loadSentenceModel(both)).toThrow('pooling pooling_mode_cls_token + pooling_mode_mean_tokens is not supported');
    const modules = JSON.parse(new TextDecoder().decode(files.get('modules.json')!));
    const dense = withFile(files, 'modules.json', json([...modules, { idx: 3, name: '3', path: '3_Dense', type: 'sentence_transformers.models.Dense' }]));
    expect(() => loadSentenceModel(dense)).toThrow('module type "sentence_transformers.models.Dense" is not supported');
  });

  it('rejects a missing model.safetensors and unsupported activations', () => {
    const files = readModelFolder(f.tinyBge);
    const none = new Map(files);
    none.delete('model.safetensors');
    expect(() => loadSentenceModel(none)).toThrow('model.safetensors is missing');
    const relu = withFile(files, 'config.json', json({ ...configOf(files), hidden_act: 'relu' }));
    expect(() => loadSentenceModel(relu)).toThrow('hidden_act "relu" is not supported');
  });
});

describe('sharded weights (model.safetensors.index.json + shards)', () => {
  /** tiny-bge's folder with model.safetensors split in two shards (layer 1 and the pooler in the second). */
  function shardedCopy(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tabtune-sharded-'));
    cpSync(f.tinyBge, dir, { recursive: true });
    const whole = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
    rmSync(join(dir, 'model.safetensors'));
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const parts = [new Map(), new Map()];
    const weightMap: Record<string, string> = {};
    for (const [name, t] of whole.tensors) {
      const k = /layer\.1\.|pooler/.test(name) ? 1 : 0;
      parts[k].set(name, t);
      weightMap[name] = names[k];
    }
    names.forEach((n, k) => writeFileSync(join(dir, n), writeSafetensors(parts[k], { format: 'pt' })));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
    expect(parts[0].size).toBeGreaterThan(10);
    expect(parts[1].size).toBeGreaterThan(10);
    return dir;
  }

  it('loads the same weights as the single file, and withSingleWeightsFile writes them back as one file', () => {
    const dir = shardedCopy();
    try {
      const files = readModelFolder(dir);
      expect([...files.keys()].filter((k) => k.includes('safetensors')).sort()).toEqual([
        'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json',
      ]);
      const sharded = loadSentenceModel(files);
      const single = loadSentenceModel(readModelFolder(f.tinyBge));
      expect([...sharded.weights.keys()].sort()).toEqual([...single.weights.keys()].sort());
      for (const [k, t] of single.weights) {
        expect(sharded.weights.get(k)!.shape, k).toEqual(t.shape);
        expect(sharded.weights.get(k)!.data, k).toEqual(t.data);
      }
      const merged = withSingleWeightsFile(files);
      expect([...merged.keys()].filter((k) => k.includes('safetensors'))).toEqual(['model.safetensors']);
      const a = parseSafetensors(merged.get('model.safetensors')!);
      const b = parseSafetensors(new Uint8Array(readFileSync(join(f.tinyBge, 'model.safetensors'))));
      expect([...a.tensors.keys()].sort()).toEqual([...b.tensors.keys()].sort());
      for (const [k, t] of b.tensors) expect(a.tensors.get(k)!.data, k).toEqual(t.data);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a missing shard and a shard holding a tensor the index puts elsewhere', () => {
    const dir = shardedCopy();
    try {
      const files = readModelFolder(dir);
      const missing = new Map(files);
      missing.delete('model-00002-of-00002.safetensors');
      expect(() => loadSentenceModel(missing)).toThrow('model.safetensors.index.json names shard model-00002-of-00002.safetensors, not among the files');
      const index = JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json')!));
      index.weight_map['pooler.dense.bias'] = 'model-00001-of-00002.safetensors';
      expect(() => loadSentenceModel(withFile(files, 'model.safetensors.index.json', json(index)))).toThrow(
        'model-00002-of-00002.safetensors holds pooler.dense.bias, which model.safetensors.index.json puts in model-00001-of-00002.safetensors',
      );
      delete index.weight_map['pooler.dense.bias'];
      index.weight_map['encoder.layer.0.output.dense.bias'] = 'model-00002-of-00002.safetensors';
      expect(() => loadSentenceModel(withFile(files, 'model.safetensors.index.json', json(index)))).toThrow(/holds/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('randomBertWeights', () => {
  it('bge-small shape: 33.36M parameters (docs/encoder.md#parameters), std 0.02, deterministic, [PAD] row zero', () => {
    const t0 = performance.now();
    const a = randomBertWeights(BGE_SMALL_CONFIG, 7);
    console.log(`randomBertWeights(BGE_SMALL_CONFIG): ${(performance.now() - t0).toFixed(0)} ms`);
    expect([...a.values()].reduce((s, t) => s + t.data.length, 0)).toBe(33_360_000);
    expect(a.get('embeddings.word_embeddings.weight')!.data.subarray(0, 384).every((x) => x === 0)).toBe(true);
    const w = a.get('encoder.layer.11.output.dense.weight')!;
    expect(w.shape).toEqual([384, 1536]);
    let sq = 0;
    for (const x of w.data) sq += x * x;
    const std = Math.sqrt(sq / w.data.length);
    expect(std).toBeCloseTo(0.02, 3);
    expect(a.get('encoder.layer.11.output.dense.bias')!.data.every((x) => x === 0)).toBe(true);
    expect(a.get('encoder.layer.3.output.LayerNorm.weight')!.data.every((x) => x === 1)).toBe(true);
    const tiny = { ...BGE_SMALL_CONFIG, vocabSize: 50, numLayers: 1 };
    const [b, c, d] = [randomBertWeights(tiny, 7), randomBertWeights(tiny, 7), randomBertWeights(tiny, 8)];
    const name = 'encoder.layer.0.output.dense.weight';
    const same = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => v === y[i]);
    expect(same(b.get(name)!.data, c.get(name)!.data)).toBe(true);
    expect(same(b.get(name)!.data, d.get(name)!.data)).toBe(false);
  });
});

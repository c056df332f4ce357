// Frozen weights held as float16 (`frozenDtype: "float16"`): the graphs take them as float16
// inputs and cast to float32 where they are read, so a model encodes (and its trained weights get
// gradients) exactly as the float32 model whose frozen weights were rounded to float16 — on
// onnxruntime-node and onnxruntime-web's WASM EP (docs/memory.md#float16-frozen-weights).
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { fromFloat16, toFloat16 } from '../util/float16.ts';
import { BertEncoder } from './encoder.ts';
import { buildEncodeGraph } from './graphs.ts';
import { parameterSet } from './parameter-set.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';
import type { SentenceModel } from './sentence-model.ts';

let model: SentenceModel;
const runtimes: Record<string, Runtime> = {};
beforeAll(async () => {
  model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
  runtimes.node = await createRuntime('node', { threads: 1 });
  runtimes.wasm = await createRuntime('wasm', { threads: 1 });
});

// Two texts of different lengths (padding included), ids inside the tiny vocabulary.
const T = 6;
const batch = {
  inputIds: BigInt64Array.from([2, 7, 9, 11, 13, 3, 2, 8, 10, 3, 0, 0], BigInt),
  attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  batch: 2,
  tokens: T,
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('float16 frozen weights', () => {
  // The embeddings and layer 0 frozen: tables (gathered, then cast) and linear weights (cast, then matmul).
  const freeze = { mode: 'freeze', embeddings: true, layers: 1 } as const;

  it('the graph declares the frozen weights float16 and casts them; trained ones stay float32', () => {
    const set = parameterSet(model.config, freeze);
    const g = buildEncodeGraph({ config: model.config, pooling: model.pooling, normalize: model.normalize, parameters: set, frozenDtype: 'float16' });
    const dtype = (n: string) => g.inputs.find((v) => v.name === n)!.dtype;
    expect(dtype('embeddings.word_embeddings.weight')).toBe('float16');
    expect(dtype('encoder.layer.0.attention.self.query.weight')).toBe('float16');
    expect(dtype(`encoder.layer.${model.config.numLayers - 1}.attention.self.query.weight`)).toBe('float32');
    const casts = g.live().nodes.filter((n) => n.op.type === 'Cast' && n.inputs[0]?.dtype === 'float16');
    expect(casts.length).toBe(set.frozen.length);
    // The word table is gathered as float16: its Cast reads the Gather's rows, not the table.
    const word = g.inputs.find((v) => v.name === 'embeddings.word_embeddings.weight')!;
    expect(casts.some((n) => n.inputs[0] === word)).toBe(false);
  });

  it.each(['node', 'wasm'])('encodes and differentiates as float32 with float16-rounded frozen weights (%s)', async (kind) => {
    const rt = runtimes[kind];
    const set = parameterSet(model.config, freeze);
    const half = await BertEncoder.create(rt, model, set, new Map(), { frozenDtype: 'float16' });
    expect(half.frozenHeld).toBe('float16, cast to float32 in the graph');
    // The same model with its frozen tensors rounded to float16 and held as float32.
    const rounded: SentenceModel = {
      ...model,
      weights: new Map([...model.weights].map(([n, t]) => [n, set.has(n) && set.get(n).use === 'frozen' ? { ...t, data: fromFloat16(toFloat16(t.data)) } : t])),
    };
    const f32 = await BertEncoder.create(rt, rounded, set);
    const plain = await BertEncoder.create(rt, model, set);
    const a = await half.encode(batch);
    const b = await f32.encode(batch);
    const c = await plain.encode(batch);
    console.log(`${kind}: float16 frozen vs float32 of the rounded weights ${maxDiff(a, b).toExponential(2)}; vs the unrounded model ${maxDiff(a, c).toExponential(2)}`);
    expect(maxDiff(a, b)).toBeLessThanOrEqual(1e-6);
    // The rounding is real: the unrounded model's embeddings differ by more.
    expect(maxDiff(a, c)).toBeGreaterThan(10 * maxDiff(a, b));
    // Gradients of the trained weights alike; none for a frozen one.
    const up = Float32Array.from({ length: 2 * model.config.hiddenSize }, (_, i) => Math.sin(i));
    const ga = (await half.encodeGrad(batch, up)).grads;
    const gb = (await f32.encodeGrad(batch, up)).grads;
    expect([...ga.keys()].sort()).toEqual(set.trained.map((p) => `grad/${p.name}`).sort());
    for (const [n, t] of ga) expect(maxDiff((t as HostTensor).data as Float32Array, (gb.get(n) as HostTensor).data as Float32Array), n).toBeLessThanOrEqual(1e-6);
    for (const e of [half, f32, plain]) await e.dispose();
  });

  it('LoRA: the whole base model float16, the adapters float32 and trained (node)', async () => {
    const rt = runtimes.node;
    const set = parameterSet(model.config, { mode: 'lora', r: 2, alpha: 4, dropout: 0, targetModules: 'all-linear' });
    // B nonzero, so the adapters change the output and their gradients reach A too.
    const adapters = new Map(set.adapters.map((p, i) => [p.name, Float32Array.from({ length: p.size }, (_, k) => 0.05 * Math.sin(i + k))]));
    const rounded: SentenceModel = { ...model, weights: new Map([...model.weights].map(([n, t]) => [n, { ...t, data: fromFloat16(toFloat16(t.data)) }])) };
    const half = await BertEncoder.create(rt, model, set, adapters, { frozenDtype: 'float16' });
    const f32 = await BertEncoder.create(rt, rounded, set, adapters);
    expect(maxDiff(await half.encode(batch), await f32.encode(batch))).toBeLessThanOrEqual(1e-6);
    const up = Float32Array.from({ length: 2 * model.config.hiddenSize }, (_, i) => Math.cos(i));
    const ga = (await half.encodeGrad(batch, up)).grads;
    const gb = (await f32.encodeGrad(batch, up)).grads;
    expect(ga.size).toBe(set.trained.length);
    for (const [n, t] of ga) expect(maxDiff((t as HostTensor).data as Float32Array, (gb.get(n) as HostTensor).data as Float32Array), n).toBeLessThanOrEqual(1e-6);
    for (const e of [half, f32]) await e.dispose();
  });
});

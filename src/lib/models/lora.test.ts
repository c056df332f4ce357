// The graphs of a subset run (docs/lora.md): the backward graph stops at the lowest layer that has
// anything to train; a LoRA linear with B = 0 is the base model exactly and otherwise the model with
// merged weights W + (α/r)·B·A; the adapters' gradients against directional finite differences,
// with the adapters' own dropout on and off. On the node runtime with the tiny BERT fixture.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { loadReference, type Reference } from '../../../tests/reference/load-reference.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { Rng } from '../util/rng.ts';
import { BGE_SMALL_CONFIG } from './bert-config.ts';
import { type EncoderBatch, BertEncoder } from './encoder.ts';
import { buildEncodeGradGraph } from './graphs.ts';
import { parameterSet } from './parameter-set.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';
import type { SentenceModel } from './sentence-model.ts';
import { initAdapterWeights, type Trainable } from './trainable.ts';

let runtime: Runtime;
let model: SentenceModel;
let ref: Reference;
beforeAll(async () => {
  model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
  ref = loadReference('tiny-bge');
  runtime = await createRuntime('node');
});

const batch = (): EncoderBatch => ({ inputIds: ref.inputIds, attentionMask: ref.attentionMask, batch: ref.batch, tokens: ref.tokens });
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const LORA: Trainable = { mode: 'lora', r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear' };

/** Adapters from the seeded init with every B replaced by seeded normals × `bScale` (so the adapters do something). */
function adapters(set: ReturnType<typeof parameterSet>, bScale: number): Map<string, Float32Array> {
  const w = initAdapterWeights(set.adapters, 42);
  const rng = new Rng(5);
  for (const p of set.adapters) if (p.adapter!.factor === 'B') w.set(p.name, Float32Array.from(w.get(p.name)!, () => rng.normal() * bScale));
  return w;
}

describe('the backward graph asks only for what trains', () => {
  it('freezing the embeddings and the lowest 6 of 12 layers leaves no gradient node below layer 6 and about half the backward graph', () => {
    const spec = (t: Trainable) => ({ config: BGE_SMALL_CONFIG, pooling: 'cls' as const, normalize: true, parameters: parameterSet(BGE_SMALL_CONFIG, t) });
    const count = (t: Trainable) => {
      const nodes = buildEncodeGradGraph(spec(t)).live().nodes;
      const grad = nodes.filter((n) => n.name.startsWith('grad/'));
      const layers = new Set(grad.map((n) => /^grad\/encoder\.layer\.(\d+)\//.exec(n.name)?.[1] ?? /^grad\/(embeddings)\//.exec(n.name)?.[1]).filter((x) => x !== undefined));
      return { all: nodes.length, grad: grad.length, layers };
    };
    const full = count({ mode: 'full' });
    const frozen = count({ mode: 'freeze', embeddings: true, layers: 6 });
    const embeddingsOnly = count({ mode: 'freeze', embeddings: true, layers: 0 });
    console.log(`encode_grad live nodes: full ${full.all} (backward ${full.grad}), frozen embeddings ${embeddingsOnly.all} (${embeddingsOnly.grad}), frozen embeddings + layers 0-5 ${frozen.all} (${frozen.grad})`);
    expect([...full.layers].sort()).toEqual(['0', '1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9', 'embeddings']);
    expect([...frozen.layers].sort()).toEqual(['10', '11', '6', '7', '8', '9']);
    expect(embeddingsOnly.layers.has('embeddings')).toBe(false);
    expect(frozen.grad).toBeLessThan(0.55 * full.grad);
    expect(frozen.grad).toBeGreaterThan(0.4 * full.grad);
  });

  it('LoRA on query/value: gradient outputs only for the adapters, and no weight gradient of the base (no MatMul into a frozen W)', () => {
    const parameters = parameterSet(BGE_SMALL_CONFIG, { ...LORA, targetModules: ['query', 'value'] } as Trainable);
    const g = buildEncodeGradGraph({ config: BGE_SMALL_CONFIG, pooling: 'cls', normalize: true, parameters });
    expect(g.outputs.map((o) => o.name)).toEqual(parameters.trained.map((p) => `grad/${p.name}`));
    expect(g.outputs).toHaveLength(12 * 2 * 2);
    // The lowest adapter sits in layer 0, so the walk reaches layer 0 but never the embeddings.
    const names = g.live().nodes.map((n) => n.name);
    expect(names.some((n) => n.startsWith('grad/encoder.layer.0/'))).toBe(true);
    expect(names.some((n) => n.startsWith('grad/embeddings/'))).toBe(false);
  });
});

describe('the LoRA linear', () => {
  it('with B = 0 (the initialisation) computes the base model exactly; with B ≠ 0, the merged model W + (α/r)·B·A', async () => {
    const base = await BertEncoder.create(runtime, model);
    const set = parameterSet(model.config, LORA);
    const init = initAdapterWeights(set.adapters, 42);
    const atInit = await BertEncoder.create(runtime, model, set, init);
    const e0 = await base.encode(batch());
    expect(Array.from(await atInit.encode(batch()))).toEqual(Array.from(e0));

    const w = adapters(set, 0.05);
    const lora = await BertEncoder.create(runtime, model, set, w);
    const merged = new Map(model.weights);
    for (const p of set.adapters) {
      if (p.adapter!.factor !== 'A' || p.use === 'unused') continue;
      const { a, b } = set.loraOf(p.adapter!.module)!;
      const [r, inn] = a.shape;
      const out = b.shape[0];
      const W = model.weights.get(`${p.adapter!.module}.weight`)!;
      const A = w.get(a.name)!;
      const B = w.get(b.name)!;
      const data = Float32Array.from(W.data, (x, k) => {
        const o = Math.floor(k / inn);
        const i = k % inn;
        let s = 0;
        for (let j = 0; j < r; j++) s += B[o * r + j] * A[j * inn + i];
        return x + set.lora!.scale * s;
      });
      expect(data.length).toBe(out * inn);
      merged.set(`${p.adapter!.module}.weight`, { ...W, data });
    }
    const mergedEnc = await BertEncoder.create(runtime, { ...model, weights: merged });
    const eL = await lora.encode(batch());
    const eM = await mergedEnc.encode(batch());
    console.log(`LoRA vs merged weights: max |Δembedding| ${maxDiff(eL, eM).toExponential(2)}; vs base ${maxDiff(eL, e0).toExponential(2)}`);
    expect(maxDiff(eL, e0)).toBeGreaterThan(1e-3);
    expect(maxDiff(eL, eM)).toBeLessThan(1e-5);
    for (const e of [base, atInit, lora, mergedEnc]) await e.dispose();
  });
});

/**
 * Directional finite differences of L = Σ(E ⊙ R) in each adapter tensor (float32, h = 1e-2 of the
 * tensor's norm): |fd − ⟨grad, V⟩| ≤ 1e-2·max(|fd|, |analytic|) + 3e-4, as graphs.test.ts holds the
 * base weights. In train mode the adapters' dropout (p = 0.3) runs at a fixed seed in both passes.
 */
async function fdAdapters(train: boolean): Promise<number> {
  const set = parameterSet(model.config, { ...LORA, dropout: train ? 0.3 : 0 } as Trainable);
  const w = adapters(set, 0.05);
  const enc = await BertEncoder.create(runtime, model, set, w);
  const mode = train ? { train: true, seed: 77 } : {};
  const R = ref.upstream;
  const { grads } = await enc.encodeGrad(batch(), R, mode);
  const rng = new Rng(train ? 12 : 11);
  let worst = 0;
  const lines: string[] = [];
  for (const p of set.trained) {
    const x = w.get(p.name)!;
    const g = (grads.get(`grad/${p.name}`) as HostTensor).data as Float32Array;
    const v = Float32Array.from(x, () => rng.normal());
    const k = Math.sqrt(dot(x, x)) / Math.sqrt(dot(v, v));
    for (let i = 0; i < v.length; i++) v[i] *= k;
    const loss = async (step: number) => {
      const t = await runtime.upload({ dtype: 'float32', dims: [...p.shape], data: Float32Array.from(x, (y, i) => y + step * 1e-2 * v[i]) });
      const old = enc.weight(p.name);
      enc.setWeight(p.name, t);
      const e = await enc.encode(batch(), mode);
      enc.setWeight(p.name, old);
      runtime.dispose(t);
      return dot(e, R);
    };
    const fd = ((await loss(1)) - (await loss(-1))) / 2e-2;
    const analytic = dot(g, v);
    const err = Math.abs(fd - analytic) / (1e-2 * Math.max(Math.abs(fd), Math.abs(analytic)) + 3e-4);
    worst = Math.max(worst, err);
    lines.push(`${p.name}: fd ${fd.toPrecision(5)} analytic ${analytic.toPrecision(5)} err ${err.toExponential(1)}`);
  }
  console.log(`${train ? 'train (LoRA dropout 0.3, seed 77)' : 'eval'} adapter FD:\n  ${lines.join('\n  ')}`);
  // Dropout on changes what the adapters see: the same seed gives the same embeddings, another seed others.
  if (train) {
    const a = await enc.encode(batch(), { train: true, seed: 77 });
    expect(Array.from(await enc.encode(batch(), { train: true, seed: 77 }))).toEqual(Array.from(a));
    expect(maxDiff(a, await enc.encode(batch(), { train: true, seed: 78 }))).toBeGreaterThan(1e-4);
  }
  await enc.dispose();
  return worst;
}

describe('adapter gradients against finite differences', () => {
  it('eval mode: every trained adapter tensor', async () => {
    expect(await fdAdapters(false)).toBeLessThanOrEqual(1);
  });
  it('train mode with the adapters\' dropout at a fixed seed', async () => {
    expect(await fdAdapters(true)).toBeLessThanOrEqual(1);
  });
});

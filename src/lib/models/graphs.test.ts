// The trainer's graphs on onnxruntime-web WASM: one session for every batch shape, the fused
// train step against encode_grad, dropout (reproducible from the seed, off in eval mode), and
// directional finite differences of the whole tiny BERT through the encode / encode_grad
// sessions themselves, in eval and train mode. Plus a text snapshot of a 1-layer encode graph.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { compareTensors, formatDiff, loadReference, type Reference } from '../../../tests/reference/load-reference.ts';
import { dumpGraph } from '../graph/dump.ts';
import { mul } from '../ops/elementwise.ts';
import { reduceSum } from '../ops/reduce.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { Rng } from '../util/rng.ts';
import { type EncoderBatch, BertEncoder } from './encoder.ts';
import { buildEncodeGradGraph, buildEncodeGraph, buildTrainStepGraph, type EmbeddingLoss } from './graphs.ts';
import { parameterSet } from './parameter-set.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';
import type { SentenceModel } from './sentence-model.ts';

let wasm: Runtime;
let model: SentenceModel;
let ref: Reference;
/** Shared by the tests below, so each graph kind's session is created once for the file. */
let enc: BertEncoder;
beforeAll(async () => {
  model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
  ref = loadReference('tiny-bge');
  wasm = await createRuntime('wasm', { threads: 1 });
  enc = await BertEncoder.create(wasm, model);
});
afterAll(() => enc.dispose());

const refBatch = (): EncoderBatch => ({ inputIds: ref.inputIds, attentionMask: ref.attentionMask, batch: ref.batch, tokens: ref.tokens });
const host = (t: unknown) => (t as HostTensor).data as Float32Array;

/** Rows `rows` of the reference batch, cut to the first `T` tokens. */
function subBatch(rows: number[], T: number): EncoderBatch {
  const ids = new BigInt64Array(rows.length * T);
  const mask = new Float32Array(rows.length * T);
  rows.forEach((r, b) => {
    ids.set(ref.inputIds.subarray(r * ref.tokens, r * ref.tokens + T), b * T);
    mask.set(ref.attentionMask.subarray(r * ref.tokens, r * ref.tokens + T), b * T);
  });
  return { inputIds: ids, attentionMask: mask, batch: rows.length, tokens: T };
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

describe('one encode session for every batch shape', () => {
  it('(B=1,T=5) and (B=3,T=9) through the same session match the reference', async () => {
    const big = await enc.forward(refBatch(), { lastHiddenState: true });
    // Row 2 of the reference has 3 real tokens; T=5 keeps them and 2 paddings (the reference has 6).
    const small = await enc.forward(subBatch([2], 5), { lastHiddenState: true });
    expect(enc.timings.filter((t) => t.graph === 'encode_hidden')).toHaveLength(1);
    const C = ref.hidden;
    const refRow = { shape: [1, C], data: ref.embeddings.subarray(2 * C, 3 * C) };
    const d = compareTensors({ shape: [1, C], data: small.embeddings }, refRow, { rtol: 0, atol: 1e-4 });
    console.log(formatDiff('B=1,T=5 embeddings vs reference row 2', d));
    expect(d.ok).toBe(true);
    expect(compareTensors(big.embeddings, ref.get('embeddings'), { rtol: 0, atol: 1e-4 }).ok).toBe(true);
    const refHidden = { shape: [3, C], data: ref.lastHiddenState.subarray(2 * 9 * C, (2 * 9 + 3) * C) };
    const h = compareTensors(small.lastHiddenState!.subarray(0, 3 * C), refHidden, { rtol: 0, atol: 1e-4 });
    console.log(formatDiff('B=1,T=5 hidden states of the 3 real tokens', h));
    expect(h.ok).toBe(true);
  });
});

describe('fused train_step', () => {
  it('with loss Σ(E⊙R) equals encode_grad with upstream R, and the reference loss', async () => {
    const C = ref.hidden;
    const step = enc.trainStep('dot-upstream', (e, g) => reduceSum(mul(e, g.input('R', 'float32', ['B', C])), [0, 1]));
    const R = { dtype: 'float32' as const, dims: [ref.batch, C], data: ref.upstream };
    const fused = await step.run(refBatch(), { R });
    const { grads } = await enc.encodeGrad(refBatch(), ref.upstream);
    console.log(`fused loss ${fused.loss}, reference ${ref.loss}`);
    expect(Math.abs(fused.loss - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss));
    expect([...fused.grads.keys()].sort()).toEqual([...grads.keys()].sort());
    expect(fused.grads.size).toBe(enc.parameters.trained.length);
    let worst = 0;
    for (const [name, g] of grads) {
      const a = host(g);
      const b = host(fused.grads.get(name));
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    console.log(`fused vs encode_grad: max |difference| ${worst}`);
    expect(worst).toBe(0);
    // Same seed in train mode: the fused graph's dropout masks are encode_grad's.
    const fusedTrain = await enc.trainStep('dot-upstream', (e, g) => reduceSum(mul(e, g.input('R', 'float32', ['B', C])), [0, 1]), { train: true }).run(refBatch(), { R }, { seed: 99 });
    const gradTrain = await enc.encodeGrad(refBatch(), ref.upstream, { train: true, seed: 99 });
    const name = 'grad/encoder.layer.0.attention.self.query.weight';
    expect(Array.from(host(fusedTrain.grads.get(name)))).toEqual(Array.from(host(gradTrain.grads.get(name))));
  });
});

describe('dropout', () => {
  it('train mode: same seed → same embeddings, other seed → different; eval = rates 0', async () => {
    const a = await enc.encode(refBatch(), { train: true, seed: 1234 });
    const b = await enc.encode(refBatch(), { train: true, seed: 1234 });
    const c = await enc.encode(refBatch(), { train: true, seed: 1235 });
    const e = await enc.encode(refBatch());
    expect(Array.from(a)).toEqual(Array.from(b));
    const diff = (x: Float32Array, y: Float32Array) => Math.max(...x.map((v, i) => Math.abs(v - y[i])));
    console.log(`seed 1234 vs 1235: max diff ${diff(a, c)}; train vs eval: ${diff(a, e)}`);
    expect(diff(a, c)).toBeGreaterThan(1e-3);
    expect(diff(a, e)).toBeGreaterThan(1e-3);
    // A train-mode graph of the same model with both rates 0 computes exactly what eval mode does.
    const noDrop = { ...model, config: { ...model.config, hiddenDropout: 0, attentionDropout: 0 } };
    const enc0 = await BertEncoder.create(wasm, noDrop);
    expect(Array.from(await enc0.encode(refBatch(), { train: true, seed: 1234 }))).toEqual(Array.from(e));
    await enc0.dispose();
  });
});

/**
 * Directional finite differences through the encode and encode_grad sessions: for each weight W
 * and random direction V (standard normal, scaled to ‖V‖ = ‖W‖ or 1 when W = 0),
 * ⟨grad, V⟩ against the central difference (L(W + hV) − L(W − hV)) / 2h with L = Σ(E ⊙ R),
 * float32, h = 1e-2 (a 1 % relative step). Passes when |fd − analytic| ≤ 1e-2·max(|fd|, |analytic|)
 * + 3e-4; the ratio of the two sides is reported as err (≤ 1). The absolute term covers float32
 * noise and the h² term, ~5e-5 on the attention key biases (0 analytically) and ~2e-4 on a
 * direction where embeddings.LayerNorm.weight's derivative is only 5e-4; directional derivatives
 * of the other tensors are 1e-2…4, so a wrong rule still shows as err ≫ 1.
 */
async function fdAllWeights(train: boolean): Promise<number> {
  const mode = train ? { train: true, seed: 4242 } : {};
  const batch = refBatch();
  const R = ref.upstream;
  const { grads } = await enc.encodeGrad(batch, R, mode);
  const rng = new Rng(train ? 2 : 1);
  const h = 1e-2;
  let worst = 0;
  const lines: string[] = [];
  for (const p of enc.parameters.trained) {
    const w = model.weights.get(p.name)!.data;
    const g = host(grads.get(`grad/${p.name}`));
    const v = Float32Array.from(w, () => rng.normal());
    const norm = Math.sqrt(dot(w, w)) || 1;
    const vn = Math.sqrt(dot(v, v));
    for (let i = 0; i < v.length; i++) v[i] *= norm / vn;
    const loss = async (step: number) => {
      const t = await wasm.upload({ dtype: 'float32', dims: [...p.shape], data: Float32Array.from(w, (x, i) => x + step * h * v[i]) });
      const old = enc.weight(p.name);
      enc.setWeight(p.name, t);
      const e = await enc.encode(batch, mode);
      enc.setWeight(p.name, old);
      wasm.dispose(t);
      return dot(e, R);
    };
    const fd = ((await loss(1)) - (await loss(-1))) / (2 * h);
    const analytic = dot(g, v);
    const err = Math.abs(fd - analytic) / (1e-2 * Math.max(Math.abs(fd), Math.abs(analytic)) + 3e-4);
    worst = Math.max(worst, err);
    lines.push(`${p.name}: fd ${fd.toPrecision(6)} analytic ${analytic.toPrecision(6)} err ${err.toExponential(1)}`);
  }
  console.log(`${train ? 'train (seed 4242)' : 'eval'} mode directional FD:\n  ${lines.join('\n  ')}`);
  return worst;
}

describe('finite differences of the whole tiny BERT', () => {
  it('eval mode: every weight tensor (float32, rtol 1e-2 + atol 3e-4)', async () => {
    expect(await fdAllWeights(false)).toBeLessThanOrEqual(1);
  });
  it('train mode at a fixed dropout seed: encode_grad agrees with the train-mode forward', async () => {
    expect(await fdAllWeights(true)).toBeLessThanOrEqual(1);
  });
});

describe('graph text', () => {
  it('a 1-layer encode graph (snapshot)', async () => {
    const config = { ...model.config, numLayers: 1 };
    const spec = { config, pooling: 'cls' as const, normalize: true, parameters: parameterSet(config) };
    await expect(dumpGraph(buildEncodeGraph(spec))).toMatchFileSnapshot('__snapshots__/encode-1-layer.txt');
  });
  it('encode_grad emits no op that WebGPU sessions run on the CPU', () => {
    const spec = { config: model.config, pooling: 'mean' as const, normalize: true, parameters: parameterSet(model.config) };
    const banned = ['Sum', 'LogSoftmax', 'Range', 'RandomUniformLike', 'Dropout', 'Identity', 'Trilu', 'ScatterElements', 'Shape'];
    const g = buildEncodeGradGraph(spec, { train: true });
    const types = new Set(g.live().nodes.map((n) => n.op.type));
    expect([...types].filter((t) => banned.includes(t))).toEqual([]);
    const int64Cast = g.live().nodes.filter((n) => n.op.type === 'Cast' && (n.outputs[0].dtype === 'int64' || n.inputs[0]!.dtype === 'int64'));
    expect(int64Cast.map((n) => n.name)).toEqual([]);
  });
  it('no training graph computes an int64 tensor (WebGPU sessions run int64 nodes on the CPU): ids go straight from the inputs to GatherND/ScatterND', () => {
    const spec = { config: model.config, pooling: 'mean' as const, normalize: true, parameters: parameterSet(model.config) };
    const loss: EmbeddingLoss = (e, g) => reduceSum(mul(e, g.input('r', 'float32', ['B', spec.config.hiddenSize])), [0, 1]);
    for (const g of [buildEncodeGradGraph(spec, { train: true }), buildTrainStepGraph(spec, loss, { train: true })]) {
      const nodes = g.live().nodes;
      expect(nodes.filter((n) => n.outputs.some((o) => o.dtype === 'int64')).map((n) => n.name), g.name).toEqual([]);
      const idsUsers = nodes.filter((n) => n.inputs.some((x) => x?.name === 'input_ids' || x?.name === 'position_ids'));
      expect(idsUsers.map((n) => n.op.type).sort(), g.name).toEqual(['GatherND', 'GatherND', 'ScatterND', 'ScatterND']);
    }
  });
});

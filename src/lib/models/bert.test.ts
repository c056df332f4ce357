// Parity of the BERT graphs with the independent float64 PyTorch reference
// (tests/reference/bert_reference.py): embeddings, last hidden state and every weight gradient,
// on onnxruntime-web's WASM EP (the browser path) with a spot check on onnxruntime-node.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { compareTensors, formatDiff, loadReference, type Reference } from '../../../tests/reference/load-reference.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { BertEncoder } from './encoder.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';
import type { SentenceModel } from './sentence-model.ts';

let wasm: Runtime;
let node: Runtime;
const models: Record<string, SentenceModel> = {};
beforeAll(async () => {
  const f = ensureFixtures();
  models['tiny-bge'] = loadSentenceModelFromDir(f.tinyBge);
  models['tiny-mean'] = loadSentenceModelFromDir(f.tinyMean);
  wasm = await createRuntime('wasm', { threads: 1 });
  node = await createRuntime('node', { threads: 1 });
});

const batchOf = (ref: Reference) => ({ inputIds: ref.inputIds, attentionMask: ref.attentionMask, tokenTypeIds: ref.tokenTypeIds, batch: ref.batch, tokens: ref.tokens });

/**
 * Gradient tolerance: max|ours − ref| ≤ 1e-4 · max(max|ref|, 1e-3 · G), with G the largest |ref|
 * over all gradient tensors of the model. The floor covers tensors that are zero analytically
 * (attention key biases: softmax ignores a shift shared by all keys of a row), where the float64
 * reference holds ~1e-9 rounding noise and float32 leaves ~1e-8.
 */
function checkGradients(ref: Reference, grads: Map<string, HostTensor | unknown>): number {
  const G = Math.max(...ref.gradNames.map((n) => maxAbs(ref.grad(n).data as Float32Array)));
  let worst = 0;
  const lines: string[] = [];
  for (const name of ref.gradNames) {
    const ours = grads.get(`grad/${name}`) as HostTensor;
    expect(ours, `grad/${name}`).toBeDefined();
    const r = ref.grad(name);
    const scale = Math.max(maxAbs(r.data as Float32Array), 1e-3 * G);
    const d = compareTensors({ shape: ours.dims, data: ours.data as Float32Array }, r, { rtol: 0, atol: 1e-4 * scale });
    const rel = d.maxAbs / scale;
    worst = Math.max(worst, rel);
    lines.push(`${formatDiff(`grad/${name}`, d)}, rel ${rel.toExponential(2)}`);
  }
  console.log(`${ref.model} gradients (rel = max|ours−ref| / max(max|ref|, 1e-3·${G.toExponential(2)})):\n  ${lines.join('\n  ')}`);
  for (const n of ref.noGradNames) expect(grads.has(`grad/${n}`), n).toBe(false);
  expect(worst).toBeLessThanOrEqual(1e-4);
  return worst;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe.each(['tiny-bge', 'tiny-mean'])('parity with PyTorch: %s', (name) => {
  it('embeddings, last hidden state and every gradient (WASM)', async () => {
    const ref = loadReference(name);
    const enc = await BertEncoder.create(wasm, models[name]);
    const { embeddings, lastHiddenState } = await enc.forward(batchOf(ref), { lastHiddenState: true });
    const e = compareTensors({ shape: [ref.batch, ref.hidden], data: embeddings }, ref.get('embeddings'), { rtol: 0, atol: 1e-4 });
    const h = compareTensors({ shape: [ref.batch, ref.tokens, ref.hidden], data: lastHiddenState! }, ref.get('last_hidden_state'), { rtol: 0, atol: 1e-4 });
    console.log(`${name}: ${formatDiff('embeddings', e)}\n${name}: ${formatDiff('last_hidden_state', h)}`);
    expect(e.ok).toBe(true);
    expect(h.ok).toBe(true);
    const { grads } = await enc.encodeGrad(batchOf(ref), ref.upstream);
    checkGradients(ref, grads);
    await enc.dispose();
  });
});

describe('parity spot check on onnxruntime-node', () => {
  it('tiny-bge embeddings and gradients', async () => {
    const ref = loadReference('tiny-bge');
    const enc = await BertEncoder.create(node, models['tiny-bge']);
    const emb = await enc.encode(batchOf(ref));
    const e = compareTensors({ shape: [ref.batch, ref.hidden], data: emb }, ref.get('embeddings'), { rtol: 0, atol: 1e-4 });
    console.log(`node: ${formatDiff('embeddings', e)}`);
    expect(e.ok).toBe(true);
    checkGradients(ref, (await enc.encodeGrad(batchOf(ref), ref.upstream)).grads);
    expect(enc.describe()).toContain('onnxruntime-node');
    await enc.dispose();
  });
});

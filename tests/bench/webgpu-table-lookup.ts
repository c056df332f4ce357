// The host lookup of a frozen word table on onnxruntime-web's WebGPU EP (Dawn, in Node): a tiny
// model whose frozen embeddings are "too large" for an artificially low binding limit (1 KiB)
// encodes and differentiates as the same model with the table on the GPU, and the table never goes
// to the GPU (src/lib/models/table-lookup.ts, docs/memory.md#large-frozen-tables-on-webgpu). Prints
// one JSON line; webgpu-table-lookup.test.ts runs it on SwiftShader.
//
//   node --liftoff-only --import tsx tests/bench/webgpu-table-lookup.ts

import type { HostTensor } from '../../src/lib/runtime/types.ts';
import { dawnRuntime } from './dawn.ts';

const { runtime: rt } = await dawnRuntime();
const { ensureFixtures } = await import('../fixtures/fixtures.ts');
const { loadSentenceModelFromDir } = await import('../../src/lib/models/sentence-model-node.ts');
const { parameterSet } = await import('../../src/lib/models/parameter-set.ts');
const { BertEncoder } = await import('../../src/lib/models/encoder.ts');

const model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
const set = parameterSet(model.config, { mode: 'freeze', embeddings: true, layers: 1 });
const batch = {
  inputIds: BigInt64Array.from([2, 7, 9, 11, 13, 3, 2, 8, 10, 3, 0, 0], BigInt),
  attentionMask: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  batch: 2,
  tokens: 6,
};
const up = Float32Array.from({ length: 2 * model.config.hiddenSize }, (_, i) => Math.sin(i));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function run(opts: { maxBindingBytes?: number; frozenDtype?: 'float32' | 'float16' }) {
  const before = rt.uploadedBytes;
  const enc = await BertEncoder.create(rt, model, set, new Map(), opts);
  const uploaded = rt.uploadedBytes - before;
  const emb = await enc.encode(batch);
  const grads = (await enc.encodeGrad(batch, up)).grads;
  const g = new Map([...grads].map(([n, t]) => [n, (t as HostTensor).data as Float32Array]));
  const out = { lookup: enc.wordLookup, held: enc.frozenHeld, uploaded, emb, grads: g };
  await enc.dispose();
  return out;
}

const onGpu = await run({});
const onHost = await run({ maxBindingBytes: 1024 });
const onHost16 = await run({ maxBindingBytes: 1024, frozenDtype: 'float16' });
const onGpu16 = await run({ frozenDtype: 'float16' });
const gradDiff = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => Math.max(...[...a].map(([n, t]) => maxDiff(t, b.get(n)!)));
process.stdout.write(`${JSON.stringify({
  tableBytes: 4 * set.get('embeddings.word_embeddings.weight').size,
  lookups: [onGpu.lookup, onHost.lookup, onHost16.lookup, onGpu16.lookup],
  held16: onGpu16.held,
  float16: rt.describe().float16 ?? null,
  uploadedGpu: onGpu.uploaded,
  uploadedHost: onHost.uploaded,
  embDiff: maxDiff(onGpu.emb, onHost.emb),
  gradDiff: gradDiff(onGpu.grads, onHost.grads),
  gradNames: [...onHost.grads.keys()].length,
  emb16Diff: maxDiff(onGpu16.emb, onHost16.emb),
  emb16VsF32: maxDiff(onGpu16.emb, onGpu.emb),
})}\n`);
process.exit(0);

// Where the time of a page run's first update goes, in Node: the sessions a GradCache update
// compiles (train-mode encode and its gradient, with their node counts) and one mini-batch embedded
// and differentiated, on a full-size random bge-base or bge-large shape, full fine-tuning or LoRA
// r 16 on every linear layer — the same graphs and shapes the page bench trains in Chromium
// (page-memory.ts), on the same onnxruntime-web WASM build. With --eval, the evaluation encoder
// instead (weights in the session) and one batch of 32 texts. The figures behind the page's stall
// watchdog (src/ui/progress-watchdog.ts) and README's *LoRA on the page*.
// Not a test (it asserts nothing) and not a throughput bench (`npm run bench` has those).
//
//   npx tsx tests/bench/session-timing.ts [--shape base|large] [--trainable full|lora-16] [--mini 6] [--runs 1] [--eval]

import { BGE_BASE_CONFIG } from '../../src/lib/models/bert-config.ts';
import { BertEncoder } from '../../src/lib/models/encoder.ts';
import { parameterSet } from '../../src/lib/models/parameter-set.ts';
import { randomBertWeights, sentenceModel } from '../../src/lib/models/sentence-model.ts';
import { initAdapterWeights, resolveTrainable } from '../../src/lib/models/trainable.ts';
import { createRuntime } from '../../src/lib/runtime/index.ts';
import type { RuntimeKind } from '../../src/lib/runtime/types.ts';
import { suggestedLora } from '../../src/lib/train/memory.ts';
import { benchArgs } from './bench-args.ts';

const { values: args } = benchArgs('Usage: npx tsx tests/bench/session-timing.ts [options]\n\nSession creation and one GradCache mini-batch (embed, then gradient) of a full-size random shape, as a page run\'s\nfirst update makes them; --eval: the evaluation encoder and one batch of 32 texts instead. --shape base|large;\n--trainable full|lora-16; --mini: texts per mini-batch; --seq: tokens per text; --runs: mini-batches timed.', {
  shape: { type: 'string', default: 'base' },
  trainable: { type: 'string', default: 'lora-16' },
  runtime: { type: 'string', default: 'wasm' },
  threads: { type: 'string', default: '1' },
  mini: { type: 'string', default: '6' },
  seq: { type: 'string', default: '92' },
  runs: { type: 'string', default: '1' },
  eval: { type: 'boolean', default: false },
});

const SHAPES = { base: BGE_BASE_CONFIG, large: { ...BGE_BASE_CONFIG, hiddenSize: 1024, numLayers: 24, numHeads: 16, intermediateSize: 4096 } };
const config = SHAPES[args.shape as keyof typeof SHAPES];
if (!config) throw new Error(`--shape: base or large, not ${args.shape}`);
if (args.trainable !== 'full' && args.trainable !== 'lora-16') throw new Error(`--trainable: full or lora-16, not ${args.trainable}`);
const rt = await createRuntime(args.runtime as RuntimeKind, { threads: Number(args.threads) });
const model = sentenceModel(config, randomBertWeights(config, 7));
const ms = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** B texts of T tokens (ids spread over the vocabulary), nothing padded. */
function batch(B: number, T: number) {
  const inputIds = new BigInt64Array(B * T).map((_, i) => BigInt(1000 + ((i * 7919) % 20000)));
  return { inputIds, attentionMask: new Float32Array(B * T).fill(1), batch: B, tokens: T };
}

const T = Number(args.seq);
if (args.eval) {
  const t0 = performance.now();
  const enc = await BertEncoder.forInference(rt, model);
  await enc.prepare(['encode']);
  console.log(`evaluation encoder and its session: ${ms(t0)} (${JSON.stringify(enc.timings)})`);
  for (let r = 0; r < Number(args.runs); r++) {
    const t = performance.now();
    await enc.encode(batch(32, T));
    console.log(`encode 32 × ${T}: ${ms(t)}`);
  }
} else {
  const trainable = resolveTrainable(args.trainable === 'full' ? { mode: 'full' } : suggestedLora(16), config);
  const params = parameterSet(config, trainable);
  const enc = await BertEncoder.create(rt, model, params, initAdapterWeights(params.adapters, 1));
  for (const k of ['encode_train', 'encode_grad_train'] as const) {
    await enc.prepare([k]);
    const s = enc.timings.at(-1)!;
    console.log(`${s.graph}: ${s.nodes} nodes, built in ${(s.buildMs / 1000).toFixed(1)} s, session in ${(s.createMs / 1000).toFixed(1)} s`);
  }
  const B = Number(args.mini);
  for (let r = 0; r < Number(args.runs); r++) {
    let t = performance.now();
    await enc.encode(batch(B, T), { train: true, seed: 1 });
    const embed = ms(t);
    t = performance.now();
    await enc.encodeGrad(batch(B, T), new Float32Array(B * config.hiddenSize).fill(0.01), { train: true, seed: 1 });
    console.log(`mini-batch ${B} × ${T}: embedded in ${embed}, gradient in ${ms(t)}`);
  }
}

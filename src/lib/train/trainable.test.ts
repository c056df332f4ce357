// Training a subset (docs/lora.md) against the independent PyTorch reference
// (tests/reference/train_reference.py: frozen layers by requires_grad_(False), a hand-written LoRA
// linear): per-step losses and every trained tensor after 3 AdamW steps within 1e-4 relative,
// fused and GradCache, on the node and WASM backends; the frozen weights still bit-identical to the
// base after training; checkpoints that hold only the trained tensors and refuse another mode.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { REFERENCE_DIR } from '../../../tests/reference/load-reference.ts';
import type { Example } from '../data/validate.ts';
import { parseSafetensors } from '../models/safetensors.ts';
import { loadSentenceModelFromDir } from '../models/sentence-model-node.ts';
import type { SentenceModel } from '../models/sentence-model.ts';
import { createRuntime } from '../runtime/index.ts';
import type { Runtime } from '../runtime/types.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { joinParts } from '../util/bytes.ts';
import { parseRunConfig } from './run-config.ts';
import { Trainer } from './trainer.ts';

interface Row {
  question: string;
  doc: string;
  id: number;
}

const ref = parseSafetensors(new Uint8Array(readFileSync(join(REFERENCE_DIR, 'train.safetensors'))));
const TRAINABLE = JSON.parse(ref.metadata.trainable) as Record<string, unknown>;
// The reference's cases: rows and loss as its mnrl_matryoshka / mnrl_hard_neg cases.
const CASES = {
  freeze_mnrl_matryoshka: { loss: { type: 'mnrl', matryoshka: { dims: [32, 16, 8] } }, hardNeg: false },
  lora_mnrl_matryoshka: { loss: { type: 'mnrl', matryoshka: { dims: [32, 16, 8] } }, hardNeg: false },
  lora_qv_hard_neg: { loss: { type: 'mnrl' }, hardNeg: true },
} as const;
type Case = keyof typeof CASES;

let model: SentenceModel;
let tokenizer: TextTokenizer;
let rows: Row[];
const runtimes: Partial<Record<'node' | 'wasm', Runtime>> = {};

beforeAll(async () => {
  const f = ensureFixtures();
  model = loadSentenceModelFromDir(f.tinyBge);
  tokenizer = loadTokenizerFromDir(f.tinyBge);
  rows = readFileSync(join(f.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
  runtimes.node = await createRuntime('node');
  runtimes.wasm = await createRuntime('wasm', { threads: 1 });
});

/** train_reference.py's rows: (question, doc), plus the next larger id's doc as the hard negative. */
function examples(hardNeg: boolean): Example[] {
  const docOf = new Map<number, string>();
  for (const r of rows) if (!docOf.has(r.id)) docOf.set(r.id, r.doc);
  const ids = [...docOf.keys()].sort((a, b) => a - b);
  return rows.map((r, i) => ({ anchor: r.question, positive: r.doc, ...(hardNeg ? { negatives: [docOf.get(ids[(ids.indexOf(r.id) + 1) % ids.length])!] } : {}), row: i }));
}

function config(kind: Case, extra: Record<string, unknown> = {}) {
  return parseRunConfig({
    model: { id: 'tiny-bge' }, data: { source: 'qa-tiny' }, batchSize: 8, maxSteps: 3, lr: 1e-3, scheduler: 'constant', warmupRatio: 0,
    weightDecay: 0.01, maxGradNorm: 1, accumulation: 1, shuffle: false, sampler: 'no_duplicates', dropout: false, gradCache: 'off',
    loss: CASES[kind].loss, trainable: TRAINABLE[kind], ...extra,
  });
}

async function train(runtime: Runtime, kind: Case, extra: Record<string, unknown> = {}, stopAfterStep?: number, resume?: Uint8Array[]) {
  const losses: number[] = [];
  const trainer = new Trainer({
    runtime, model, tokenizer, config: config(kind, extra), train: examples(CASES[kind].hardNeg),
    onEvent: (e) => e.type === 'step' && losses.push(e.loss),
  });
  if (resume) await trainer.resume(resume);
  await trainer.run({ stopAfterStep });
  const weights = new Map([...(await trainer.weights())].map(([k, v]) => [k, v.slice()]));
  const enc = await trainer.getEncoder();
  const frozen = new Map<string, Float32Array>();
  for (const p of trainer.parameters.frozen) frozen.set(p.name, (await runtime.download(enc.weight(p.name))).data as Float32Array);
  const checkpoint = await trainer.checkpoint();
  const parameters = trainer.parameters;
  await trainer.dispose();
  return { losses, weights, frozen, checkpoint, parameters };
}

const LR = 1e-3;
/**
 * `attention.self.key.bias` has an analytically zero gradient (a key bias shifts every score of a
 * query row alike; softmax ignores it), so its float32 gradient is rounding noise (~1e-10) that Adam
 * turns into steps of up to ~lr, while float64 keeps the reference still. trainer.test.ts bounds
 * it by 0.5·lr for the full model; with one trained layer the noise took it to 1.2·lr here, so it is
 * left out of the comparison: the test checks instead that the reference did not move it (so the
 * exclusion hides no real gradient). Elsewhere at most OUTLIERS elements per tensor whose gradient
 * is near zero may differ by more than 1e-4 of the tensor's scale, each within 0.5·lr; everything
 * else is held to 1e-4 relative (max|ours − ref| / max|ref| over the tensor).
 */
const ZERO_GRAD = /attention\.self\.key\.bias$/;
const OUTLIERS = 2;

function worst(ours: Map<string, Float32Array>, refs: Map<string, Float32Array>) {
  let w = { name: '', err: -1, outliers: 0 };
  let outliers = 0;
  for (const [name, r] of refs) {
    const a = ours.get(name);
    if (!a) throw new Error(`missing ${name}`);
    const scale = Math.max(...r.map(Math.abs));
    if (ZERO_GRAD.test(name)) {
      const base = model.weights.get(name)!.data;
      expect(Math.max(...r.map((x, i) => Math.abs(x - base[i]))), `${name}: the reference's did not move`).toBeLessThan(1e-7);
      continue;
    }
    const off = [...r.keys()].filter((i) => Math.abs(a[i] - r[i]) > 1e-4 * scale);
    expect(off.length, `${name}: elements off by more than 1e-4 of the tensor's scale`).toBeLessThanOrEqual(OUTLIERS);
    for (const i of off) expect(Math.abs(a[i] - r[i]), `${name}[${i}]`).toBeLessThan(0.5 * LR);
    outliers += off.length;
    const d = Math.max(...a.map((x, i) => (off.includes(i) ? 0 : Math.abs(x - r[i]))));
    if (d / scale > w.err) w = { name, err: d / scale, outliers: 0 };
  }
  return { ...w, outliers };
}

describe('what trains, against the PyTorch reference (3 AdamW steps)', () => {
  const variants: ['node' | 'wasm', Case, 'off' | { miniBatchSize: number }][] = [
    ['node', 'freeze_mnrl_matryoshka', 'off'],
    ['node', 'lora_mnrl_matryoshka', 'off'],
    ['node', 'lora_qv_hard_neg', 'off'],
    ['node', 'lora_mnrl_matryoshka', { miniBatchSize: 3 }],
    ['node', 'freeze_mnrl_matryoshka', { miniBatchSize: 3 }],
    ['wasm', 'freeze_mnrl_matryoshka', 'off'],
    ['wasm', 'lora_mnrl_matryoshka', 'off'],
    ['wasm', 'lora_qv_hard_neg', { miniBatchSize: 3 }],
  ];
  for (const [backend, kind, gradCache] of variants) {
    it(`${kind} on ${backend}${gradCache === 'off' ? ', fused' : ', GradCache'}: losses and trained tensors within 1e-4; frozen weights bit-identical`, async () => {
      const r = await train(runtimes[backend]!, kind, { gradCache });
      const refLosses = Array.from(ref.tensors.get(`${kind}/losses`)!.data as Float64Array);
      const refWeights = new Map<string, Float32Array>();
      for (const [name, t] of ref.tensors) if (name.startsWith(`${kind}/weights/`)) refWeights.set(name.slice(`${kind}/weights/`.length), t.data as Float32Array);
      // Exactly the reference's trained tensors (requires_grad after the mode is applied; no pooler).
      expect([...r.weights.keys()].sort()).toEqual([...refWeights.keys()].sort());
      const lossErr = Math.max(...r.losses.map((l, i) => Math.abs(l - refLosses[i]) / Math.abs(refLosses[i])));
      const w = worst(r.weights, refWeights);
      let frozenDiff = 0;
      for (const [name, data] of r.frozen) {
        const base = model.weights.get(name)!.data;
        for (let i = 0; i < base.length; i++) if (!Object.is(base[i], data[i])) frozenDiff++;
      }
      console.log(`${kind} ${backend} ${gradCache === 'off' ? 'fused' : 'GradCache'}: losses ${r.losses.map((l) => l.toFixed(6)).join(' ')} (ref ${refLosses.map((l) => l.toFixed(6)).join(' ')}), max loss rel err ${lossErr.toExponential(2)}; ${r.weights.size} trained tensors, worst ${w.name} rel err ${w.err.toExponential(2)} (${w.outliers} near-zero-gradient outliers within 0.5·lr); ${r.frozen.size} frozen tensors, ${frozenDiff} elements changed`);
      expect(r.losses).toHaveLength(3);
      expect(lossErr).toBeLessThan(1e-4);
      expect(w.err).toBeLessThan(1e-4);
      expect(r.frozen.size).toBe(r.parameters.frozen.length);
      expect(r.frozen.size).toBeGreaterThan(0);
      expect(frozenDiff).toBe(0);
      // The checkpoint holds only what trains: no frozen tensor, no moments for one.
      const stored = [...parseSafetensors(joinParts(r.checkpoint)).tensors.keys()].filter((k) => !k.startsWith('sampler/'));
      const trained = new Set(r.parameters.trained.map((p) => p.name));
      const names = stored.map((k) => k.replace(/^adam\.[mv]\//, ''));
      expect(names.every((n) => trained.has(n)), 'checkpoint tensors are trained ones').toBe(true);
      expect(stored.filter((k) => k.startsWith('adam.m/'))).toHaveLength(trained.size);
    });
  }
});

describe('checkpoints of a subset', () => {
  it('LoRA: stopped after step 2 and resumed gives the uninterrupted run bit for bit; another mode refuses it', async () => {
    const node = runtimes.node!;
    const full = await train(node, 'lora_mnrl_matryoshka', { dropout: true, seed: 7, maxSteps: 4 });
    const first = await train(node, 'lora_mnrl_matryoshka', { dropout: true, seed: 7, maxSteps: 4 }, 2);
    const rest = await train(node, 'lora_mnrl_matryoshka', { dropout: true, seed: 7, maxSteps: 4 }, undefined, first.checkpoint);
    expect(rest.losses).toEqual(full.losses.slice(2));
    for (const [n, w] of full.weights) expect(rest.weights.get(n), n).toEqual(w);
    const other = new Trainer({ runtime: node, model, tokenizer, config: config('lora_mnrl_matryoshka', { dropout: true, seed: 7, maxSteps: 4, trainable: { mode: 'lora', r: 2, targetModules: 'all-linear' } }), train: examples(false) });
    await expect(other.resume(first.checkpoint)).rejects.toThrow(/trainable = .*"r":4.*this run has .*"r":2/);
    await other.dispose();
  });
});

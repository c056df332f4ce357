// The XLM-RoBERTa family (architectures.ts) against the independent float64 PyTorch reference
// (tests/reference/bert_reference.py, train_reference.py --family xlm-roberta): the tiny random
// XLM-R fixtures (positions from pad + 1, one token type, bare and `roberta.`-prefixed names, a
// SentencePiece Unigram tokenizer.json) embed, differentiate and train as the reference does, on
// onnxruntime-node and onnxruntime-web's WASM, with CLS + Normalize and with mean pooling; and the
// tokenizer gives transformers.js' own ids.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths, sha256File } from '../../../tests/fixtures/fixtures.ts';
import { compareTensors, formatDiff, loadReference, REFERENCE_DIR, type Reference } from '../../../tests/reference/load-reference.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { loadTokenizerFromDir, readTokenizerFiles } from '../tokenize/node.ts';
import { parseRunConfig } from '../train/run-config.ts';
import { Trainer } from '../train/trainer.ts';
import { parseSafetensors } from './safetensors.ts';
import { usablePositions } from './architectures.ts';
import { BertEncoder } from './encoder.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';

const MODELS = ['tiny-xlmr', 'tiny-xlmr-mean'] as const;
let f: FixturePaths;
const folder = (m: (typeof MODELS)[number]) => (m === 'tiny-xlmr' ? f.tinyXlmr : f.tinyXlmrMean);
const runtimes: Record<'node' | 'wasm', Runtime> = {} as never;

beforeAll(async () => {
  f = ensureFixtures();
  runtimes.node = await createRuntime('node', { threads: 1 });
  runtimes.wasm = await createRuntime('wasm', { threads: 1 });
});

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe('loading', () => {
  it('reads the family, strips `roberta.`, and holds 64 tokens in 66 position rows', () => {
    for (const m of MODELS) {
      const model = loadSentenceModelFromDir(folder(m));
      expect(model.config.family).toBe('xlm-roberta');
      expect([model.config.maxPositions, model.config.padTokenId, model.config.typeVocabSize]).toEqual([66, 1, 1]);
      expect(usablePositions(model.config)).toBe(64);
      expect(model.maxSeqLength).toBe(64);
      expect(model.weights.has('encoder.layer.1.output.dense.weight')).toBe(true);
      expect([...model.weights.keys()].some((n) => n.startsWith('roberta.'))).toBe(false);
    }
    const tok = loadTokenizerFromDir(f.tinyXlmr);
    expect(tok.maxLength).toBe(64);
  });
});

describe.each(MODELS)('parity with PyTorch: %s', (name) => {
  /** Only real tokens: padding rows take position ids past the text's here, transformers' pad id there (both masked, never pooled). */
  const realRows = (ref: Reference, h: Float32Array) => {
    const C = ref.hidden;
    const ours: number[] = [];
    const theirs: number[] = [];
    const full = ref.get('last_hidden_state').data as Float32Array;
    for (let i = 0; i < ref.batch * ref.tokens; i++) {
      if (ref.attentionMask[i] === 0) continue;
      ours.push(...h.subarray(i * C, i * C + C));
      theirs.push(...full.subarray(i * C, i * C + C));
    }
    return compareTensors({ shape: [theirs.length], data: Float32Array.from(ours) }, { shape: [theirs.length], data: Float32Array.from(theirs) }, { rtol: 0, atol: 1e-5 });
  };

  it.each(['node', 'wasm'] as const)('embeddings within 1e-5, real tokens\' hidden states, every gradient within 1e-4 (%s)', async (rt) => {
    const ref = loadReference(name);
    const enc = await BertEncoder.create(runtimes[rt], loadSentenceModelFromDir(folder(name)));
    const batch = { inputIds: ref.inputIds, attentionMask: ref.attentionMask, batch: ref.batch, tokens: ref.tokens };
    const { embeddings, lastHiddenState } = await enc.forward(batch, { lastHiddenState: true });
    const e = compareTensors({ shape: [ref.batch, ref.hidden], data: embeddings }, ref.get('embeddings'), { rtol: 0, atol: 1e-5 });
    const h = realRows(ref, lastHiddenState!);
    console.log(`${name} ${rt}: ${formatDiff('embeddings', e)}\n${name} ${rt}: ${formatDiff('last_hidden_state (real tokens)', h)}`);
    expect(e.ok).toBe(true);
    expect(h.ok).toBe(true);
    const { grads } = await enc.encodeGrad(batch, ref.upstream);
    const G = Math.max(...ref.gradNames.map((n) => maxAbs(ref.grad(n).data as Float32Array)));
    let worst = 0;
    for (const n of ref.gradNames) {
      const ours = grads.get(`grad/${n}`) as HostTensor;
      const r = ref.grad(n);
      // As bert.test.ts: relative to the tensor's largest value, floored for analytically zero ones (key biases).
      const scale = Math.max(maxAbs(r.data as Float32Array), 1e-3 * G);
      worst = Math.max(worst, compareTensors({ shape: ours.dims, data: ours.data as Float32Array }, r, { rtol: 0, atol: 0 }).maxAbs / scale);
    }
    console.log(`${name} ${rt}: worst gradient rel err ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
    // The first pad + 1 position rows are never a token's: no gradient reaches them.
    const dPos = grads.get('grad/embeddings.position_embeddings.weight') as HostTensor;
    expect(maxAbs((dPos.data as Float32Array).subarray(0, 2 * ref.hidden))).toBe(0);
    expect(maxAbs((dPos.data as Float32Array).subarray(2 * ref.hidden, 3 * ref.hidden))).toBeGreaterThan(0);
    await enc.dispose();
  });
});

describe('trainer parity: three AdamW steps of Matryoshka(MNRL) (train_reference.py --family xlm-roberta)', () => {
  const ref = parseSafetensors(new Uint8Array(readFileSync(join(REFERENCE_DIR, 'train-xlmr.safetensors'))));
  const cases = MODELS.flatMap((m) => (['node', 'wasm'] as const).map((rt) => [m, rt] as const));
  it.each(cases)('%s on %s: per-step losses and every final weight within 1e-4 relative', async (name, rt) => {
    const shas = JSON.parse(ref.metadata.model_sha256) as Record<string, string>;
    expect(shas[name], `train-xlmr.safetensors was made from another ${name}; re-run train_reference.py --family xlm-roberta`).toBe(sha256File(join(folder(name), 'model.safetensors')));
    const rows = readFileSync(join(f.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { question: string; doc: string });
    const model = loadSentenceModelFromDir(folder(name));
    const config = parseRunConfig({
      model: { id: name }, data: { source: 'qa-tiny' }, batchSize: 8, maxSteps: 3, lr: 1e-3, scheduler: 'constant', warmupRatio: 0,
      weightDecay: 0.01, maxGradNorm: 1, accumulation: 1, shuffle: false, sampler: 'no_duplicates', dropout: false, gradCache: 'off',
      loss: { type: 'mnrl', matryoshka: { dims: [32, 16, 8] } },
    });
    const losses: number[] = [];
    const t = new Trainer({
      runtime: runtimes[rt], model, tokenizer: loadTokenizerFromDir(folder(name)), config,
      train: rows.map((r, i) => ({ anchor: r.question, positive: r.doc, row: i })),
      onEvent: (e) => e.type === 'step' && losses.push((e as { loss: number }).loss),
    });
    await t.run({});
    const weights = await t.weights();
    await t.dispose();
    const refLosses = Array.from(ref.tensors.get(`${name}/mnrl_matryoshka/losses`)!.data as Float64Array);
    const lossErr = Math.max(...losses.map((l, i) => Math.abs(l - refLosses[i]) / Math.abs(refLosses[i])));
    const prefix = `${name}/mnrl_matryoshka/weights/`;
    let worst = { name: '', err: 0 };
    let moved = 0;
    let n = 0;
    let outliers = 0;
    for (const [key, tensor] of ref.tensors) {
      if (!key.startsWith(prefix)) continue;
      const param = key.slice(prefix.length);
      const r = tensor.data as Float32Array;
      const ours = weights.get(param)!;
      expect(ours, param).toBeDefined();
      n++;
      // Key biases: an analytically zero gradient whose float32 noise Adam amplifies (trainer.test.ts ZERO_GRAD): ≤ 0.5·lr absolutely.
      if (/attention\.self\.key\.bias$/.test(param)) {
        expect(compareTensors({ shape: [ours.length], data: ours }, { shape: [r.length], data: r }, { rtol: 0, atol: 0 }).maxAbs).toBeLessThan(5e-4);
        continue;
      }
      // As trainer.test.ts OUTLIERS: an element whose gradient is near zero may take an Adam step
      // float32 rounding turned (at most 2 per tensor, each within 0.5·lr); the rest within 1e-4.
      const scale = maxAbs(r);
      const off = [...r.keys()].filter((i) => Math.abs(ours[i] - r[i]) > 1e-4 * scale);
      expect(off.length, `${param}: elements off by more than 1e-4 of its scale`).toBeLessThanOrEqual(2);
      for (const i of off) expect(Math.abs(ours[i] - r[i]), `${param}[${i}]`).toBeLessThan(5e-4);
      outliers += off.length;
      let diff = 0;
      for (let i = 0; i < r.length; i++) if (!off.includes(i)) diff = Math.max(diff, Math.abs(ours[i] - r[i]));
      const err = diff / scale;
      if (err > worst.err) worst = { name: param, err };
      const before = model.weights.get(param)!.data;
      let d = 0;
      for (let i = 0; i < r.length; i++) d = Math.max(d, Math.abs(r[i] - before[i]));
      moved = Math.max(moved, d / maxAbs(r));
    }
    console.log(`${name} ${rt}: losses ${losses.map((l) => l.toFixed(6)).join(' ')} (ref ${refLosses.map((l) => l.toFixed(6)).join(' ')}), loss rel err ${lossErr.toExponential(2)}; worst weight ${worst.name} rel err ${worst.err.toExponential(2)} (${outliers} near-zero-gradient outliers); weights moved up to ${moved.toExponential(2)}`);
    expect(n).toBe(weights.size);
    expect(losses).toHaveLength(3);
    expect(lossErr).toBeLessThan(1e-4);
    expect(worst.err).toBeLessThanOrEqual(1e-4);
    expect(moved).toBeGreaterThan(1e-3);
  });
});

describe('the Unigram tokenizer.json', () => {
  it('gives transformers.js\' own ids for every qa-tiny text, truncation and non-ASCII text included', () => {
    const files = readTokenizerFiles(f.tinyXlmr);
    const ours = loadTokenizerFromDir(f.tinyXlmr);
    const theirs = new PreTrainedTokenizer(files['tokenizer.json'], files['tokenizer_config.json']!);
    const rows = readFileSync(join(f.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { question: string; doc: string });
    const long = rows.map((r) => r.doc).join(' ');
    const texts = [...new Set(rows.flatMap((r) => [r.question, r.doc]))].concat(['hello  café über straße naïve', long]);
    for (const text of texts) {
      const b = ours.encodeBatch([text]);
      const full: number[] = theirs(text).input_ids.tolist()[0].map(Number);
      // Cut as Python's tokenizers cuts (keeping </s>): transformers.js' own truncation drops it (tokenizer.ts).
      const want = full.length > 64 ? [...full.slice(0, 63), full.at(-1)!] : full;
      expect([...b.inputIds].map(Number), text.slice(0, 40)).toEqual(want);
    }
    expect(ours.encodeBatch([long]).truncated).toBe(1);
  });

  it('gives the ids of the reference\'s own SentencePiece Unigram (train_reference.py) for every distinct qa-tiny text', () => {
    const ref = parseSafetensors(new Uint8Array(readFileSync(join(REFERENCE_DIR, 'train-xlmr.safetensors'))));
    const texts = JSON.parse(ref.metadata.unigram_texts) as string[];
    const ids = ref.tensors.get('unigram/ids')!.data as BigInt64Array;
    const offsets = ref.tensors.get('unigram/offsets')!.data as BigInt64Array;
    expect(texts.length).toBe(200); // 160 questions and 40 documents
    const tok = loadTokenizerFromDir(f.tinyXlmr);
    for (let k = 0; k < texts.length; k++) {
      expect([...tok.encodeBatch([texts[k]]).inputIds], texts[k]).toEqual([...ids.subarray(Number(offsets[k]), Number(offsets[k + 1]))]);
    }
  });

  it('segments by highest score (Viterbi), not by longest match, and wraps texts in <s> … </s>', () => {
    const vocab = (JSON.parse(readFileSync(join(f.tinyXlmr, 'tokenizer.json'), 'utf8')).model.vocab as [string, number][]).map(([p]) => p);
    const tok = loadTokenizerFromDir(f.tinyXlmr);
    const b = tok.encodeBatch(['Which instrument is played at battles?']);
    const pieces = [...b.inputIds].map((id) => vocab[Number(id)]);
    // ▁played and ▁battles are whole pieces too, but score below stem + suffix.
    expect(vocab).toContain('\u2581played');
    expect(vocab).toContain('\u2581battles');
    expect(pieces).toEqual(['<s>', '\u2581Which', '\u2581instrument', '\u2581is', '\u2581play', 'ed', '\u2581at', '\u2581battle', 's', '?', '</s>']);
    expect(b.tokenTypeIds).toBeUndefined(); // XLM-R's tokenizer makes none; the graphs use type 0
    expect(tok.padId).toBe(1);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { prepareDataset } from '../data/dataset.ts';
import { parseDataFile } from '../data/parse.ts';
import { embedTexts, type BatchEncoder } from '../models/embed-texts.ts';
import { BertEncoder } from '../models/encoder.ts';
import { loadSentenceModelFromDir } from '../models/sentence-model-node.ts';
import { createRuntime } from '../runtime/index.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { EngineScoreBackend } from './engine-scores.ts';
import { defaultEvalDims, evaluateModel, type EvalProgress } from './evaluate-model.ts';
import { evaluateIr, prepareIr } from './ir-metrics.ts';
import { buildIrSet, type IrSet } from './ir-set.ts';

describe('defaultEvalDims', () => {
  it('keeps the seed list for 768, filters smaller models and puts their hidden size first', () => {
    expect(defaultEvalDims(768)).toEqual([768, 512, 256, 128, 64]);
    expect(defaultEvalDims(1024)).toEqual([1024, 768, 512, 256, 128, 64]);
    expect(defaultEvalDims(384)).toEqual([384, 256, 128, 64]);
    expect(defaultEvalDims(32)).toEqual([32]);
  });
});

describe('evaluateModel on tiny-bge + qa-tiny', () => {
  let encoder: BertEncoder;
  let tokenizer: TextTokenizer;
  let set: IrSet;

  beforeAll(async () => {
    const fx = ensureFixtures();
    const table = async (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(readFileSync(join(fx.qaTiny, `${split}.jsonl`))));
    const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: 'qa-tiny' });
    set = buildIrSet(data.train, data.test);
    tokenizer = loadTokenizerFromDir(fx.tinyBge);
    encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(fx.tinyBge));
  });

  it('builds the set the fixture describes: 40 test queries, 40 documents by id', () => {
    expect(set.construction).toBe('id');
    expect(set.queries.size).toBe(40);
    expect(set.corpus.size).toBe(40);
  });

  it('equals embedding with embedTexts and calling evaluateIr by hand, and reports progress', async () => {
    const events: EvalProgress[] = [];
    let clock = 0;
    const res = await evaluateModel({
      encoder,
      tokenizer,
      set,
      dims: [32, 16, 8],
      batchSize: 7,
      onProgress: (p) => events.push(p),
      now: () => (clock += 10),
    });

    const prepared = prepareIr(set);
    const q = await embedTexts(prepared.queryTexts, tokenizer, encoder, { batchSize: 7 });
    const c = await embedTexts(prepared.corpusTexts, tokenizer, encoder, { batchSize: 7 });
    const byHand = await evaluateIr(prepared, q, c, 32, { dims: [32, 16, 8] });
    expect(res.metrics).toEqual(byHand.metrics);
    expect(res.evaluators).toEqual(byHand.evaluators);
    expect(Object.keys(res.metrics).slice(0, 3)).toEqual(['dim_32_cosine_accuracy@1', 'dim_32_cosine_accuracy@3', 'dim_32_cosine_accuracy@5']);
    expect(res.metrics['dim_8_cosine_ndcg@10']).toBeGreaterThan(0);
    expect(res.timing.texts).toBe(80);

    expect(events[0]).toMatchObject({ phase: 'embed', done: 0, total: 80 });
    const embed = events.filter((e) => e.phase === 'embed');
    // one event at the start, one per batch: ceil(40/7) for the queries and for the corpus
    expect(embed.length).toBe(1 + 2 * Math.ceil(40 / 7));
    expect(embed.map((e) => e.done)).toEqual([...embed.map((e) => e.done)].sort((a, b) => a - b));
    expect(embed[embed.length - 1].done).toBe(80);
    expect(embed[3].rate).toBeGreaterThan(0);
    expect(embed[3].etaS).toBeGreaterThan(0);
    expect(events.slice(-2).map((e) => e.phase)).toEqual(['score', 'done']);
    expect(events[events.length - 1].etaS).toBe(0);
  });

  it('defaults to the dims the model allows and gives the same numbers on the engine backend', async () => {
    const backend = new EngineScoreBackend(encoder.runtime);
    try {
      const js = await evaluateModel({ encoder, tokenizer, set });
      const engine = await evaluateModel({ encoder, tokenizer, set, backend, scoreFunctions: ['cosine', 'dot'] });
      expect(js.evaluators.map((e) => e.dim)).toEqual([32]);
      expect(engine.backend).toMatch(/^engine \(onnxruntime-node/);
      for (const [k, v] of Object.entries(js.metrics)) if (k !== 'sequential_score') expect(engine.metrics[k]).toBe(v);
      expect(Object.keys(engine.metrics)).toContain('dim_32_dot_ndcg@10');
    } finally {
      await backend.dispose();
    }
  });

  it('embeds without dropout: two runs agree bit for bit', async () => {
    const a = await evaluateModel({ encoder, tokenizer, set, dims: [32] });
    const b = await evaluateModel({ encoder, tokenizer, set, dims: [32] });
    expect(a.metrics).toEqual(b.metrics);
  });

  it('refuses an empty query set and stops on abort', async () => {
    const empty = buildIrSet([{ anchor: 'a', positive: 'b' }], []);
    await expect(evaluateModel({ encoder, tokenizer, set: empty })).rejects.toThrow(/no query/);
    const ac = new AbortController();
    ac.abort();
    await expect(evaluateModel({ encoder, tokenizer, set, signal: ac.signal })).rejects.toThrow();
  });

  it('passes each batch to the encoder at most batchSize texts long', async () => {
    const sizes: number[] = [];
    const spy: BatchEncoder = {
      dim: encoder.dim,
      encode: (b) => (sizes.push(b.batch), encoder.encode(b)),
      describe: () => 'spy',
    };
    await evaluateModel({ encoder: spy, tokenizer, set, dims: [32], batchSize: 32 });
    expect(sizes).toEqual([32, 8, 32, 8]);
  });

  it('puts the query prompt before every query and the document prompt before every corpus text, as InformationRetrievalEvaluator(query_prompt=…, corpus_prompt=…)', async () => {
    const prompts = { query: 'query: ', document: 'passage: ' };
    const seen: string[] = [];
    const spyTokenizer = { encodeBatch: (texts: string[]) => (seen.push(...texts), tokenizer.encodeBatch(texts)) };
    const res = await evaluateModel({ encoder, tokenizer: spyTokenizer, set, dims: [32, 16], batchSize: 7, prompts });
    const prepared = prepareIr(set);
    // sentence-transformers' encode: `prompt + sentence` for each text, then its usual tokenization.
    const queries = prepared.queryTexts.map((q) => `query: ${q}`);
    const corpus = prepared.corpusTexts.map((d) => `passage: ${d}`);
    expect(seen.slice(0, queries.length).sort()).toEqual([...queries].sort());
    expect(seen.slice(queries.length).sort()).toEqual([...corpus].sort());
    const q = await embedTexts(queries, tokenizer, encoder, { batchSize: 7 });
    const c = await embedTexts(corpus, tokenizer, encoder, { batchSize: 7 });
    expect(res.metrics).toEqual((await evaluateIr(prepared, q, c, 32, { dims: [32, 16] })).metrics);
    // The embedding with a prompt is the prefixed text's, bit for bit, and not the bare text's.
    const withPrompt = await embedTexts(prepared.queryTexts, tokenizer, encoder, { batchSize: 7, prompt: 'query: ' });
    expect(Buffer.from(withPrompt.buffer).equals(Buffer.from(q.buffer))).toBe(true);
    const bare = await embedTexts(prepared.queryTexts, tokenizer, encoder, { batchSize: 7 });
    expect(Math.max(...bare.map((x, i) => Math.abs(x - q[i])))).toBeGreaterThan(1e-3);
  });

  afterAll(async () => {
    await encoder?.dispose?.();
  });
});

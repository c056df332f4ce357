// The consistency filter (docs/generate.md#consistency-filter): on fixture data embedded by the
// tiny BGE model, the kept set equals the pairs whose chunk is among our evaluator's top-k hits
// (src/lib/eval, computed independently from the same embeddings), for several k and with exact
// ties; on hand-made embeddings, ranks, ties by chunk id, block sizes and bad input.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { evaluateIr, prepareIr } from '../eval/ir-metrics.ts';
import { explicitIrSet } from '../eval/ir-set.ts';
import { embedTexts } from '../models/embed-texts.ts';
import { BertEncoder } from '../models/encoder.ts';
import { loadSentenceModelFromDir } from '../models/sentence-model-node.ts';
import { createRuntime } from '../runtime/index.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { filterPairs, filterWithEmbeddings, type FilterProgress } from './filter.ts';
import type { QuestionRow } from './questions.ts';

/** The evaluator's top-k hits for each pair (query = the pair's index, corpus = the chunks by id). */
async function evaluatorKept(pairs: QuestionRow[], chunks: { chunkId: string; text: string }[], qEmb: Float32Array, cEmb: Float32Array, D: number, k: number) {
  const set = explicitIrSet(
    pairs.map((p, i) => [i, p.question] as const),
    chunks.map((c) => [c.chunkId, c.text] as const),
    pairs.map((p, i) => [i, [p.chunkId]] as const),
  );
  const prepared = prepareIr(set);
  const res = await evaluateIr(prepared, qEmb, cEmb, D, { dims: [D], ks: { accuracyAtK: [k], precisionRecallAtK: [k], mrrAtK: [k], ndcgAtK: [k], mapAtK: [k] }, topHits: k });
  const hits = res.evaluators[0].hits!.cosine!;
  return { kept: pairs.filter((p, i) => hits[i].ids.includes(p.chunkId)), accuracy: res.metrics[`dim_${D}_cosine_accuracy@${k}`] };
}

describe('filter on fixture data with the tiny BGE model', () => {
  let encoder: BertEncoder;
  let tokenizer: TextTokenizer;
  let pairs: QuestionRow[];
  let chunks: { chunkId: string; documentId: string; text: string }[];

  beforeAll(async () => {
    const fx = ensureFixtures();
    const rows = readFileSync(join(fx.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { question: string; doc: string; id: number });
    const docs = new Map<number, string>();
    for (const r of rows.slice(0, 60)) docs.set(r.id, r.doc);
    chunks = [...docs].map(([id, text]) => ({ chunkId: `${id}#0`, documentId: String(id), text }));
    pairs = rows.slice(0, 60).map((r) => ({ question: r.question, chunkId: `${r.id}#0`, documentId: String(r.id) }));
    tokenizer = loadTokenizerFromDir(fx.tinyBge);
    encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(fx.tinyBge));
  });

  afterAll(async () => {
    await encoder?.dispose?.();
  });

  it('embeds with the model and keeps exactly the pairs whose chunk is in the evaluator top k', async () => {
    const events: FilterProgress[] = [];
    const r = await filterPairs({ pairs, chunks, encoder, tokenizer, batchSize: 16, onProgress: (p) => events.push(p) });
    expect(r.topK).toBe(3);
    const qEmb = await embedTexts(pairs.map((p) => p.question), tokenizer, encoder, { batchSize: 16 });
    const cEmb = await embedTexts(chunks.map((c) => c.text), tokenizer, encoder, { batchSize: 16 });
    const ref = await evaluatorKept(pairs, chunks, qEmb, cEmb, encoder.dim, 3);
    expect(r.kept).toEqual(ref.kept);
    expect(r.counts).toEqual({ pairs: pairs.length, kept: ref.kept.length, dropped: pairs.length - ref.kept.length, chunks: chunks.length });
    expect(r.kept.length).toBeGreaterThan(0);
    expect(r.kept.length).toBeLessThan(pairs.length);
    expect(events.filter((e) => e.phase === 'embed').at(-1)).toEqual({ phase: 'embed', done: pairs.length + chunks.length, total: pairs.length + chunks.length });
    expect(events.at(-1)).toEqual({ phase: 'rank', done: pairs.length, total: pairs.length });
  });

  it('agrees with the evaluator for k = 1, 3, 10 with exact ties and any block size', async () => {
    const D = encoder.dim;
    const qBase = await embedTexts(pairs.map((p) => p.question), tokenizer, encoder, { batchSize: 16 });
    const cBase = await embedTexts(chunks.map((c) => c.text), tokenizer, encoder, { batchSize: 16 });
    // Copies of the first chunk's embedding under a smaller and a larger id, and a copy of the
    // first question asking for the larger: exact score ties that only the id order breaks.
    const first = chunks[0];
    const allChunks = [...chunks, { chunkId: `${first.documentId}#1`, documentId: first.documentId, text: first.text }, { chunkId: `!${first.chunkId}`, documentId: 'copy', text: first.text }];
    const allPairs = [...pairs, { question: pairs[0].question, chunkId: `${first.documentId}#1`, documentId: first.documentId }];
    const cEmb = new Float32Array((chunks.length + 2) * D);
    cEmb.set(cBase);
    cEmb.set(cBase.subarray(0, D), chunks.length * D);
    cEmb.set(cBase.subarray(0, D), (chunks.length + 1) * D);
    const qEmb = new Float32Array((pairs.length + 1) * D);
    qEmb.set(qBase);
    qEmb.set(qBase.subarray(0, D), pairs.length * D);
    const kept = new Set<number>();
    for (const k of [1, 3, 10]) {
      const r = await filterWithEmbeddings(allPairs, allChunks, qEmb, cEmb, D, { topK: k });
      const ref = await evaluatorKept(allPairs, allChunks, qEmb, cEmb, D, k);
      expect(r.kept, `k=${k}`).toEqual(ref.kept);
      expect(r.counts.kept / r.counts.pairs).toBeCloseTo(ref.accuracy, 12);
      expect(r.dropped.every((d) => d.rank > k)).toBe(true);
      kept.add(r.kept.length);
      // The own score read from another block than the rest changes nothing.
      const small = await filterWithEmbeddings(allPairs, allChunks, qEmb, cEmb, D, { topK: k, queryBlock: 3, chunkBlock: 5 });
      expect(small.ranks).toEqual(r.ranks);
      // "!…#0" and "…#0" sort before "…#1": the copy's pair ranks one below the original's.
      const t = allPairs.length - 1;
      expect(r.ranks[t].score).toBe(r.ranks[0].score);
      expect(r.ranks[t].rank).toBe(r.ranks[0].rank + 1);
    }
    // A filter that kept all or none would prove little.
    expect(kept.size).toBeGreaterThan(1);
  });
});

describe('filterWithEmbeddings', () => {
  const chunks = ['a#0', 'b#0', 'c#0', 'd#0'].map((chunkId) => ({ chunkId }));
  const pair = (chunkId: string): QuestionRow => ({ question: `q ${chunkId}`, chunkId, documentId: chunkId[0] });
  // D = 2; chunks on the unit circle (scaled: the filter normalizes), questions aimed near them.
  const cEmb = new Float32Array([1, 0, 0, 2, -3, 0, 0, -1]);

  it('ranks by cosine, reports the top chunk, and keeps rank ≤ k', async () => {
    const pairs = [pair('a#0'), pair('b#0'), pair('c#0')];
    const qEmb = new Float32Array([0.9, 0.1, 0.8, 0.2, 0.1, 1]); // all closest to a, then b
    const r = await filterWithEmbeddings(pairs, chunks, qEmb, cEmb, 2, { topK: 2 });
    expect(r.ranks.map((x) => x.rank)).toEqual([1, 2, 3]);
    expect(r.ranks.map((x) => x.topChunkId)).toEqual(['a#0', 'a#0', 'b#0']);
    expect(r.kept).toEqual(pairs.slice(0, 2));
    expect(r.dropped).toEqual([{ ...pairs[2], rank: 3, score: r.ranks[2].score, topChunkId: 'b#0', topScore: r.ranks[2].topScore }]);
    expect(r.ranks[2].score).toBeCloseTo(-0.1 / Math.hypot(0.1, 1), 6);
  });

  it('breaks exact ties by chunk id in Python order (code points), wherever the chunks sit', async () => {
    // Same direction for three chunks; the ids sort "B#0" < "a#0" < "é#0" by code point.
    const tied = [{ chunkId: 'é#0' }, { chunkId: 'a#0' }, { chunkId: 'B#0' }];
    const emb = new Float32Array([1, 1, 2, 2, 3, 3]);
    const pairs = tied.map((c) => pair(c.chunkId));
    const q = new Float32Array([1, 1, 1, 1, 1, 1]);
    for (const block of [1, 2, 4096]) {
      const r = await filterWithEmbeddings(pairs, tied, q, emb, 2, { topK: 1, chunkBlock: block, queryBlock: block });
      expect(r.ranks.map((x) => x.rank)).toEqual([3, 2, 1]);
      expect(r.kept.map((p) => p.chunkId)).toEqual(['B#0']);
      expect(r.ranks.every((x) => x.topChunkId === 'B#0')).toBe(true);
    }
  });

  it('takes no pairs, and refuses bad input with a message', async () => {
    const empty = await filterWithEmbeddings([], chunks, new Float32Array(0), cEmb, 2);
    expect(empty.counts).toEqual({ pairs: 0, kept: 0, dropped: 0, chunks: 4 });
    const q = new Float32Array([1, 0]);
    await expect(filterWithEmbeddings([pair('z#0')], chunks, q, cEmb, 2)).rejects.toThrow(/names chunk "z#0", which is not among the chunks/);
    await expect(filterWithEmbeddings([pair('a#0')], [...chunks, { chunkId: 'a#0' }], q, new Float32Array(10), 2)).rejects.toThrow(/"a#0" appears twice/);
    await expect(filterWithEmbeddings([pair('a#0')], chunks, q, cEmb, 2, { topK: 0 })).rejects.toThrow(/whole number of at least 1/);
    await expect(filterWithEmbeddings([pair('a#0')], chunks, new Float32Array(3), cEmb, 2)).rejects.toThrow(/expected 1×2/);
  });
});

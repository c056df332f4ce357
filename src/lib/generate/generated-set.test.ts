// The generated data set (docs/generate.md#the-generated-data-set): rows and the split by
// document, the tables the Data step takes, the JSONL and Parquet round trips, the dataset card
// and its record read back (also from hostile cards), and a push to the local Hub as a dataset
// repo that the Hub data set loader reads back.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalHub, type LocalHub } from '../../../tests/hub/local-hub.ts';
import { prepareDataset } from '../data/dataset.ts';
import { parseDataFile } from '../data/parse.ts';
import { buildIrSet } from '../eval/ir-set.ts';
import { loadHubDataset } from '../hub/dataset-files.ts';
import { HubClient } from '../hub/hub-client.ts';
import { FolderStore } from '../store/folder-store.ts';
import { DEFAULT_PROMPT_TEMPLATE, type QuestionRow } from './questions.ts';
import {
  buildGeneratedSet,
  datasetCard,
  datasetRepoFiles,
  generatedTables,
  jsonlBytes,
  MAX_CARD_CHARS,
  parquetBytes,
  parseGenerationRecord,
  pushGeneratedSet,
  type GeneratedSet,
} from './generated-set.ts';

// 12 documents of 1–2 chunks, 2 questions per chunk.
const chunks = Array.from({ length: 12 }, (_, d) => Array.from({ length: 1 + (d % 2) }, (_, i) => ({ chunkId: `doc${d}#${i}`, documentId: `doc${d}`, text: `Document ${d}, part ${i}: ${'word '.repeat(d + 1).trim()}.` }))).flat();
const pairs: QuestionRow[] = chunks.flatMap((c) => [0, 1].map((k) => ({ question: `What does ${c.chunkId} say, ${k}?`, chunkId: c.chunkId, documentId: c.documentId })));
const record = {
  source: 'docs.txt',
  generator: { model: 'tabtune-fixtures/tiny-decoder', decoding: 'greedy', maxNewTokens: 64, questionsPerDoc: 2, prompt: DEFAULT_PROMPT_TEMPLATE },
  chunking: { model: 'tabtune-fixtures/tiny-bge', budget: 62 },
  filter: { model: 'tabtune-fixtures/tiny-bge', topK: 3 },
  counts: { documents: 12, chunks: chunks.length, questions: 40, duplicates: 4, filtered: 0 },
};
const build = (): GeneratedSet => buildGeneratedSet(pairs, chunks, record);

describe('buildGeneratedSet', () => {
  it('makes rows of question, chunk text, chunk id and document id, split by document with the data split', () => {
    const set = build();
    const all = [...set.train, ...set.test];
    expect(all.length).toBe(pairs.length);
    expect(set.train[0]).toEqual({ anchor: pairs[0].question, positive: chunks[0].text, id: 'doc0#0', document_id: 'doc0' });
    // round(12 · 0.1) = 1 test document, and every row of a document on one side.
    const testDocs = new Set(set.test.map((r) => r.document_id));
    expect(testDocs.size).toBe(1);
    expect(set.train.some((r) => testDocs.has(r.document_id))).toBe(false);
    expect(set.record.counts).toEqual({ ...record.counts, train: set.train.length, test: set.test.length });
    // Another seed, another test document; the same seed, the same split.
    expect(buildGeneratedSet(pairs, chunks, record).test).toEqual(set.test);
    const other = [1, 2, 3, 4, 5].map((seed) => buildGeneratedSet(pairs, chunks, record, { seed }).test[0].document_id);
    expect(new Set(other).size).toBeGreaterThan(1);
    expect(() => buildGeneratedSet([{ question: 'q', chunkId: 'nope#0', documentId: 'nope' }], chunks, record)).toThrow(/names chunk "nope#0"/);
  });

  it('gives the Data step tables it maps by itself, with the chunk ids identifying documents', () => {
    const set = build();
    const p = prepareDataset(generatedTables(set), { source: 'generated' });
    expect(p.mapping).toEqual({ anchor: 'anchor', positive: 'positive', id: 'id' });
    expect([p.split, p.train.length, p.test.length, p.issues.length, p.usable]).toEqual(['given', set.train.length, set.test.length, 0, true]);
    // No test document is trained on: the hygiene check finds no leaked test rows.
    expect(p.hygiene.leakedTest.rows).toBe(0);
    expect(buildIrSet(p.train, p.test).construction).toBe('id');
  });
});

describe('files', () => {
  it('round-trips JSONL and Parquet through the data file parser', async () => {
    const set = build();
    const asRecords = set.train.map((r) => ({ ...r }));
    const jsonl = jsonlBytes(set.train);
    expect(new TextDecoder().decode(jsonl).split('\n')[0]).toBe(JSON.stringify({ anchor: set.train[0].anchor, positive: set.train[0].positive, id: 'doc0#0', document_id: 'doc0' }));
    expect((await parseDataFile('train.jsonl', jsonl)).rows).toEqual(asRecords);
    const parquet = await parquetBytes(set.train);
    const t = await parseDataFile('train.parquet', parquet);
    expect(t.columns).toEqual(['anchor', 'positive', 'id', 'document_id']);
    expect(t.rows).toEqual(asRecords);
  });

  it('writes a card with the Hub configs, the record in words, and the record read back', () => {
    const set = build();
    const card = datasetCard(set, 'Cats | dogs');
    expect(card.startsWith('---\ntags:\n- tabtune')).toBe(true);
    expect(card).toContain('configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n  - split: test\n    path: data/test-*\n---');
    expect(card).toContain('# Cats \\| dogs');
    expect(card).toContain(`| rows | ${set.train.length} train, ${set.test.length} test (split by document) |`);
    expect(card).toContain('kept when the chunk ranks in the top 3');
    expect(card).toContain('```\n' + DEFAULT_PROMPT_TEMPLATE + '\n```');
    expect(parseGenerationRecord(card)).toEqual(set.record);
  });

  it('survives a prompt with backticks, "-->" and newlines, and reads hostile cards as null', () => {
    const set = build();
    const prompt = 'Q: ```{document}``` --> <!-- `x` --\n| a | b |';
    const hostile = { ...set, record: { ...set.record, generator: { ...set.record.generator, prompt }, filter: null } };
    const card = datasetCard(hostile);
    expect(card).toContain('````\n' + prompt + '\n````');
    expect(parseGenerationRecord(card)).toEqual(hostile.record);
    expect(card).toContain('| filter | none |');
    const mark = '<!-- tabtune-generated: ';
    expect(parseGenerationRecord('# A card\nno record')).toBeNull();
    expect(parseGenerationRecord(`${mark}{not json} -->`)).toBeNull();
    expect(parseGenerationRecord(`${mark}${JSON.stringify({ ...set.record, counts: { ...set.record.counts, train: -1 } })} -->`)).toBeNull();
    expect(parseGenerationRecord(`${mark}${JSON.stringify({ ...set.record, filter: { model: 'm', topK: 0 } })} -->`)).toBeNull();
    expect(parseGenerationRecord(`${mark}${JSON.stringify({ ...set.record, generator: { ...set.record.generator, model: 7 } })} -->`)).toBeNull();
    expect(parseGenerationRecord(`${mark}${JSON.stringify(set.record)}`)).toBeNull(); // never closed
    expect(parseGenerationRecord('x'.repeat(MAX_CARD_CHARS) + card)).toBeNull();
    // Long strings are cut to a bound, extra fields dropped.
    const long = parseGenerationRecord(`${mark}${JSON.stringify({ ...set.record, extra: 1, source: 's'.repeat(50_000) })} -->`);
    expect(long?.source.length).toBe(20_000);
    expect(long && 'extra' in long).toBe(false);
  });
});

describe('push to the Hub as a dataset repo', () => {
  let hub: LocalHub | null = null;
  const dirs: string[] = [];
  afterAll(async () => {
    await hub?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('uploads the Parquet shards and the card, and the Hub data set loader reads the same rows back', async () => {
    hub = await startLocalHub({ tokens: { hf_writer: { user: 'alice', write: ['alice'] } } });
    const set = build();
    const files = await datasetRepoFiles(set);
    expect([...files.keys()]).toEqual(['data/train-00000-of-00001.parquet', 'data/test-00000-of-00001.parquet', 'README.md']);
    const res = await pushGeneratedSet(set, { hubUrl: hub.url, repo: 'alice/cats-questions', token: 'hf_writer' });
    expect(res.created).toBe(true);
    expect(res.repoUrl).toBe(`${hub.url}/datasets/alice/cats-questions`);
    const dir = mkdtempSync(join(tmpdir(), 'tabtune-gen-'));
    dirs.push(dir);
    const ds = await loadHubDataset({ client: new HubClient({ hubUrl: hub.url }), store: new FolderStore(dir), repo: 'alice/cats-questions' });
    expect(ds.via).toBe('parquet');
    expect(Object.keys(ds.splits)).toEqual(['train', 'test']);
    expect(ds.splits.train.rows).toEqual(set.train.map((r) => ({ ...r })));
    expect(ds.splits.test.rows).toEqual(set.test.map((r) => ({ ...r })));
    const card = await (await fetch(`${hub.url}/datasets/alice/cats-questions/resolve/main/README.md`)).text();
    expect(parseGenerationRecord(card)).toEqual(set.record);
    // The name is taken now: a second push is refused unless it may update.
    await expect(pushGeneratedSet(set, { hubUrl: hub.url, repo: 'alice/cats-questions', token: 'hf_writer' })).rejects.toThrow(/exists already/);
  });
});

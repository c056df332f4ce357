// The guard end to end in Node against the local Hub: the NanoBEIR fixture read through the
// multi-config data set loader in both layouts (NanoBEIR-en splits, zeta-alpha-ai/Nano{Name}
// repos) gives the IR sets the fixture was built from; only the chosen splits are fetched and a
// second load is offline-capable; the base model's figures come from the cache the second time
// (no encode); the verdict's plain words.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { buildQaDataset } from '../../../tests/fixtures/dataset.ts';
import { buildNanoSubsets, NANOBEIR_FIXTURE_SUBSETS } from '../../../tests/fixtures/nanobeir.ts';
import { startLocalHub, type LocalHub } from '../../../tests/hub/local-hub.ts';
import type { Table } from '../data/parse.ts';
import { guardVerdict, nanoBeirIrSet, NANOBEIR_EN_REPO, resolveNanoBeirSubsets, type NanoBeirResult } from '../eval/nanobeir.ts';
import { loadHubDataset } from '../hub/dataset-files.ts';
import { HubClient } from '../hub/hub-client.ts';
import type { BatchEncoder } from '../models/embed-texts.ts';
import { BertEncoder } from '../models/encoder.ts';
import { loadSentenceModelFromDir } from '../models/sentence-model-node.ts';
import { createRuntime } from '../runtime/index.ts';
import { FolderStore } from '../store/folder-store.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import { loadGuardSets, runGuard } from './guard.ts';

let paths: FixturePaths;
let hub: LocalHub;
const dirs: string[] = [];
const zeta = (name: string) => `zeta-alpha-ai/${name}`;
const subsets = resolveNanoBeirSubsets([...NANOBEIR_FIXTURE_SUBSETS]);

beforeAll(async () => {
  paths = ensureFixtures();
  hub = await startLocalHub({
    datasets: {
      [NANOBEIR_EN_REPO]: paths.nanoBeir,
      ...Object.fromEntries(NANOBEIR_FIXTURE_SUBSETS.map((n) => [zeta(n), join(paths.nanoBeirZeta, n)])),
    },
  });
});
afterAll(async () => {
  await hub.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const newStore = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabtune-guard-'));
  dirs.push(d);
  return new FolderStore(d);
};
const table = (rows: Record<string, unknown>[]): Table => ({ columns: Object.keys(rows[0]), rows });

describe('multi-config data sets', () => {
  it('loads one config with only the chosen splits; configs keep separate manifests and reload offline', async () => {
    const store = newStore();
    const client = new HubClient({ hubUrl: hub.url });
    const before = hub.requests.length;
    const ds = await loadHubDataset({ client, store, repo: NANOBEIR_EN_REPO, config: 'queries', splits: ['NanoSciFact'] });
    expect([ds.config, Object.keys(ds.splits)]).toEqual(['queries', ['NanoSciFact']]);
    const fetched = hub.requests.slice(before).filter((r) => r.url.includes('/resolve/')).map((r) => r.file);
    expect(fetched).toEqual(['queries/NanoSciFact-00000-of-00001.parquet']);
    await loadHubDataset({ client, store, repo: NANOBEIR_EN_REPO, config: 'queries', splits: ['NanoMSMARCO'] });
    await loadHubDataset({ client, store, repo: NANOBEIR_EN_REPO, config: 'corpus', splits: ['NanoMSMARCO'] });
    const offline = new HubClient({ hubUrl: hub.url, fetch: () => Promise.reject(new TypeError('fetch failed')) });
    const q = await loadHubDataset({ client: offline, store, repo: NANOBEIR_EN_REPO, config: 'queries', splits: ['NanoSciFact', 'NanoMSMARCO'] });
    expect([q.offline, q.config, Object.keys(q.splits).sort()]).toEqual([true, 'queries', ['NanoMSMARCO', 'NanoSciFact']]);
    const c = await loadHubDataset({ client: offline, store, repo: NANOBEIR_EN_REPO, config: 'corpus', splits: ['NanoMSMARCO'] });
    expect([c.config, c.splits.NanoMSMARCO.columns]).toEqual(['corpus', ['_id', 'text']]);
    await expect(loadHubDataset({ client: offline, store, repo: NANOBEIR_EN_REPO, config: 'qrels' })).rejects.toThrow(/not in the cache/);
    await expect(loadHubDataset({ client, store, repo: NANOBEIR_EN_REPO, config: 'qrels', splits: ['NanoBioASQ'] })).rejects.toThrow(/no split NanoBioASQ/);
    await expect(loadHubDataset({ client, store, repo: NANOBEIR_EN_REPO, config: 'docs' })).rejects.toThrow(/no config "docs" \(configs: corpus, qrels, queries\)/);
  });
});

describe('the general-retrieval guard', () => {
  it('reads NanoBEIR-en and the zeta-alpha-ai repos into the IR sets the fixture was built from', async () => {
    const client = new HubClient({ hubUrl: hub.url });
    const expected = buildNanoSubsets(buildQaDataset()).map((s) => nanoBeirIrSet({ corpus: table(s.corpus), queries: table(s.queries), qrels: table(s.qrels) }));
    const en = await loadGuardSets({ client, store: newStore(), subsets });
    const old = await loadGuardSets({ client, store: newStore(), subsets, source: { kind: 'zeta' } });
    expect(en.map((s) => s.subset.name)).toEqual([...NANOBEIR_FIXTURE_SUBSETS]);
    expect(en.map((s) => s.set)).toEqual(expected);
    expect(old.map((s) => s.set)).toEqual(expected);
    // The rules bit: one empty document and query dropped, the duplicated qrel counted once.
    expect(expected[0].corpus.size).toBe(40);
    expect(expected[0].relevant.get('msm-q0')).toEqual(['msm-d10']);
  });

  let encoder: BertEncoder;
  beforeAll(async () => {
    encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(paths.tinyBge));
  });
  afterAll(async () => encoder?.dispose());

  it("computes the base model's figures once: the second time they come from the cache and nothing is encoded", async () => {
    const store = newStore();
    const client = new HubClient({ hubUrl: hub.url });
    let batches = 0;
    const counting: BatchEncoder = { dim: encoder.dim, encode: (b) => (batches++, encoder.encode(b)), describe: () => encoder.describe() };
    const tokenizer = loadTokenizerFromDir(paths.tinyBge);
    const identity = { kind: 'hub' as const, repo: 'BAAI/tiny', revision: 'main', commit: 'a'.repeat(40) };
    let loads = 0;
    const go = (dims: number[], id = identity) =>
      runGuard({ store, identity: id, subsets, dims, encoder: counting, tokenizer, load: () => (loads++, loadGuardSets({ client, store, subsets })) });
    const first = await go([32, 16]);
    expect([first.cached, loads, batches > 0]).toEqual([false, 1, true]);
    expect(Object.keys(first.result.metrics)).toContain('NanoBEIR_mean_32_cosine_ndcg@10');
    expect(Object.keys(first.result.metrics)).toContain('NanoSciFact_16_cosine_map@100');
    const seen = batches;
    const second = await go([32, 16]);
    expect([second.cached, loads, batches]).toEqual([true, 1, seen]);
    expect(second.result).toEqual(first.result);
    // Another dim list, or another model, is another entry.
    expect((await go([32])).cached).toBe(false);
    expect((await go([32, 16], { ...identity, commit: 'b'.repeat(40) })).cached).toBe(false);
    expect(batches).toBeGreaterThan(seen);
  });

  it('says in plain words when the general figure fell by more than the threshold', () => {
    const fake = (v: number) => ({ byDim: [{ primaryMetric: 'NanoBEIR_mean_32_cosine_ndcg@10' }], metrics: { 'NanoBEIR_mean_32_cosine_ndcg@10': v } }) as unknown as NanoBeirResult;
    const v = guardVerdict(fake(0.5), fake(0.44), 5, { before: 0.6, after: 0.8 });
    expect(v.dropped).toBe(true);
    expect(v.generalChange).toBeCloseTo(-6, 10);
    expect(v.message).toMatch(/^On your own test data nDCG@10 changed by \+20\.0 points\. General retrieval got worse: NanoBEIR nDCG@10 fell from 50\.0 to 44\.0 \(−6\.0 points\), more than the 5 you allow/);
    expect(guardVerdict(fake(0.5), fake(0.46), 5).dropped).toBe(false);
  });
});

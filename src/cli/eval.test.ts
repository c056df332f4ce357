// `tabtune eval` as a user runs it: `node bin/tabtune.js eval …` in a child process, on the
// fixture model and data from folders, files and a local Hub.

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../tests/hub/local-hub.ts';
import { DEFAULT_DATASET_ID } from '../lib/config.ts';
import { prepareDataset } from '../lib/data/dataset.ts';
import { parseDataFile } from '../lib/data/parse.ts';
import { evaluateModel } from '../lib/eval/evaluate-model.ts';
import { buildIrSet } from '../lib/eval/ir-set.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { loadSentenceModelFromDir } from '../lib/models/sentence-model-node.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../lib/tokenize/node.ts';
import { evaluateNanoBeir, NANOBEIR_EN_REPO, NANOBEIR_SUBSETS, resolveNanoBeirSubsets, type NanoBeirResult } from '../lib/eval/nanobeir.ts';
import { HubClient } from '../lib/hub/hub-client.ts';
import { loadGuardSets } from '../lib/run/guard.ts';
import { FolderStore } from '../lib/store/folder-store.ts';
import { formatEvalTable, formatGuardTable } from './eval.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/tabtune.js');
let work: string;
let fx: FixturePaths;
let hub: LocalHub;

function tabtune(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const env = { ...process.env, TABTUNE_CACHE: join(work, 'cache'), TABTUNE_HUB_URL: '' };
    execFile(process.execPath, [BIN, ...args], { cwd: work, timeout: 120_000, env }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

const METRICS = [
  'accuracy@1', 'accuracy@3', 'accuracy@5', 'accuracy@10',
  'precision@1', 'precision@3', 'precision@5', 'precision@10',
  'recall@1', 'recall@3', 'recall@5', 'recall@10',
  'ndcg@10', 'mrr@10', 'map@100',
];

interface EvalJson {
  format: string;
  metrics: Record<string, number>;
  numQueries: number;
  numCorpus: number;
  backend: string;
  source: { data: { split: string; mapping: Record<string, string> }; construction: string; dims: number[]; model: { origin: string } };
}
const readJson = (name: string) => JSON.parse(readFileSync(join(work, name), 'utf8')) as EvalJson;

beforeAll(async () => {
  fx = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-eval-'));
  hub = await startLocalHub({
    models: { 'org/tiny-bge': fx.tinyBge, 'intfloat/e5-tiny': fx.tinyBge },
    datasets: { 'org/qa-tiny': fx.qaTiny, [DEFAULT_DATASET_ID]: fx.qaTiny, [NANOBEIR_EN_REPO]: fx.nanoBeir },
  });
});
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('tabtune eval (child process)', () => {
  let local: EvalJson;

  it('on a model folder and a data folder: prints one line per dim and writes ST-keyed JSON equal to evaluateModel', async () => {
    const r = await tabtune('eval', '--model', fx.tinyBge, '--data', fx.qaTiny, '--dims', '32,16,8', '--out', 'local.json');
    expect(r.stderr).toContain('IR set: 40 queries, 40 documents, documents identified by the id column');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['dim', 'ndcg@10', 'mrr@10', 'map@100', 'accuracy@1', 'accuracy@10', 'recall@10']);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['32', '16', '8']);

    local = readJson('local.json');
    const keys = [...[32, 16, 8].flatMap((d) => METRICS.map((m) => `dim_${d}_cosine_${m}`)), 'sequential_score'];
    expect(Object.keys(local.metrics)).toEqual(keys);
    expect(local.metrics.sequential_score).toBe(local.metrics['dim_8_cosine_ndcg@10']);
    expect([local.numQueries, local.numCorpus, local.source.construction]).toEqual([40, 40, 'id']);
    expect(local.backend).toBe('engine (onnxruntime-node, CPU EP)');
    expect(local.source.data.mapping).toEqual({ anchor: 'question', positive: 'doc', id: 'id' });

    // The same evaluation in this process (JS scores): the very same numbers.
    const table = async (s: string) => parseDataFile(`${s}.jsonl`, new Uint8Array(readFileSync(join(fx.qaTiny, `${s}.jsonl`))));
    const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: 'qa-tiny' });
    const encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(fx.tinyBge));
    const want = await evaluateModel({ encoder, tokenizer: loadTokenizerFromDir(fx.tinyBge), set: buildIrSet(data.train, data.test), dims: [32, 16, 8] });
    expect(local.metrics).toEqual(want.metrics);
    expect(r.stdout.trimEnd()).toBe(formatEvalTable(want, ['cosine']));
  });

  it('downloads --model and --data HUB_ID from --hub into the cache, with the same numbers', async () => {
    const r = await tabtune('eval', '--model', 'org/tiny-bge', '--data', 'org/qa-tiny', '--hub', hub.url, '--dims', '32,16,8', '--out', 'hub.json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^model org\/tiny-bge .*100%/m);
    expect(r.stderr).toMatch(/^data org\/qa-tiny .*100%/m);
    const j = readJson('hub.json');
    expect(j.source.model.origin).toBe('hub');
    expect(j.metrics).toEqual(local.metrics);
    // Second run: served from the cache (the Hub sees only listings, no file bodies).
    const before = hub.requests.filter((q) => q.file !== null && q.bytesSent > 0).length;
    const again = await tabtune('eval', '--model', 'org/tiny-bge', '--data', 'org/qa-tiny', '--hub', hub.url, '--dims', '32');
    expect(again.code, again.stderr).toBe(0);
    expect(hub.requests.filter((q) => q.file !== null && q.bytesSent > 0).length).toBe(before);
  });

  it('--nanobeir: the guard per dim as NanoBEIREvaluator, in the table and under `nanobeir` in --out; the second run is from the cache', async () => {
    const r = await tabtune('eval', '--model', 'org/tiny-bge', '--hub', hub.url, '--nanobeir', 'msmarco,SciFact,NanoNFCorpus', '--dims', '32,16', '--out', 'guard.json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(readFileSync(join(work, 'guard.json'), 'utf8')) as { nanobeir: NanoBeirResult & { cached: boolean; source: string } };
    expect([j.nanobeir.cached, j.nanobeir.source, j.nanobeir.subsets]).toEqual([false, 'sentence-transformers/NanoBEIR-en@main', ['msmarco', 'scifact', 'nfcorpus']]);
    // The same guard in this process (JS scores): the same keys and numbers.
    const encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(fx.tinyBge));
    const sets = await loadGuardSets({ client: new HubClient({ hubUrl: hub.url }), store: new FolderStore(join(work, 'guard-store')), subsets: resolveNanoBeirSubsets('msmarco,scifact,nfcorpus') });
    const want = await evaluateNanoBeir({ encoder, tokenizer: loadTokenizerFromDir(fx.tinyBge), sets, dims: [32, 16] });
    expect(j.nanobeir.metrics).toEqual(want.metrics);
    expect(r.stdout.trimEnd()).toBe(`NanoBEIR nDCG@10\n${formatGuardTable(want)}`);
    const again = await tabtune('eval', '--model', 'org/tiny-bge', '--hub', hub.url, '--nanobeir', 'msmarco,scifact,nfcorpus', '--dims', '32,16', '--out', 'guard2.json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('NanoBEIR (msmarco, scifact, nfcorpus): figures of this model from the cache (sentence-transformers/NanoBEIR-en@main; nothing encoded)');
    expect(JSON.parse(readFileSync(join(work, 'guard2.json'), 'utf8')).nanobeir.metrics).toEqual(want.metrics);
  });

  it('--mode recipe on the seed data set id uses the seed mapping and construction', async () => {
    const r = await tabtune('eval', '--model', fx.tinyBge, '--data', DEFAULT_DATASET_ID, '--hub', hub.url, '--dims', '32', '--mode', 'recipe', '--score', 'cosine,dot', '--out', 'recipe.json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("(the seed's mapping)");
    expect(r.stderr).toContain("IR set: 40 queries, 160 documents, the seed's construction");
    const j = readJson('recipe.json');
    expect(j.source.construction).toBe('recipe');
    expect(j.numCorpus).toBe(160);
    expect(Object.keys(j.metrics)).toContain('dim_32_dot_ndcg@10');
    expect(r.stdout.split('\n')[0].split(/\s+/).slice(0, 3)).toEqual(['dim', 'score', 'ndcg@10']);
  });

  it('a single file has no test split: says so and evaluates a seeded split', async () => {
    const r = await tabtune('eval', '--model', fx.tinyBge, '--data', join(fx.qaTiny, 'train.jsonl'), '--dims', '16', '--out', 'file.json', '--backend', 'wasm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('has no test split: the test queries are a seeded 10% split (seed 42) of its 160 rows');
    const j = readJson('file.json');
    expect(j.source.data.split).toBe('seeded');
    expect(j.numQueries).toBe(16);
    expect(j.backend).toBe('engine (onnxruntime-web, WASM EP)');
  });

  it('an e5 repo without prompts gets "query: " / "passage: " on queries and corpus; the flags override them or fail naming the flag', async () => {
    const r = await tabtune('eval', '--model', 'intfloat/e5-tiny', '--data', fx.qaTiny, '--hub', hub.url, '--dims', '32,16', '--out', 'e5.json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('prompts: query "query: " (e5\'s query prefix; the model names no prompts), document "passage: " (e5\'s passage prefix; the model names no prompts)');
    const j = readJson('e5.json') as EvalJson & { source: { prompts: unknown } };
    expect(j.source.prompts).toEqual({ query: 'query: ', document: 'passage: ' });
    const table = async (s: string) => parseDataFile(`${s}.jsonl`, new Uint8Array(readFileSync(join(fx.qaTiny, `${s}.jsonl`))));
    const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: 'qa-tiny' });
    const encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(fx.tinyBge));
    const want = await evaluateModel({ encoder, tokenizer: loadTokenizerFromDir(fx.tinyBge), set: buildIrSet(data.train, data.test), dims: [32, 16], prompts: { query: 'query: ', document: 'passage: ' } });
    expect(j.metrics).toEqual(want.metrics);
    // …which are not the numbers without prompts.
    const bare = await evaluateModel({ encoder, tokenizer: loadTokenizerFromDir(fx.tinyBge), set: buildIrSet(data.train, data.test), dims: [32, 16] });
    expect(j.metrics['dim_32_cosine_ndcg@10']).not.toBe(bare.metrics['dim_32_cosine_ndcg@10']);
    await encoder.dispose();

    const bad = await tabtune('eval', '--model', 'intfloat/e5-tiny', '--data', fx.qaTiny, '--hub', hub.url, '--query-prompt-name', 'query');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--query-prompt-name: the model has no prompt named "query" (it names no prompts)');
  });

  it('bad inputs: clear messages and exit codes', async () => {
    const typo = await tabtune('eval', '--model', fx.tinyBge, '--data', fx.qaTiny, '--columns', 'anchor=quetsion,positive=doc');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('column "quetsion" (mapped to anchor) does not exist; did you mean "question"?');

    writeFileSync(join(work, 'pairs.csv'), 'foo,bar\nx,y\n');
    const noAnchor = await tabtune('eval', '--model', fx.tinyBge, '--data', 'pairs.csv');
    expect(noAnchor.code).toBe(1);
    expect(noAnchor.stderr).toContain('pairs.csv: no column is mapped to "anchor" (columns: foo, bar)');

    const noFolder = await tabtune('eval', '--model', './no-such-model', '--data', fx.qaTiny);
    expect(noFolder.code).toBe(2);
    expect(noFolder.stderr).toContain('--model ./no-such-model: no such file or folder, and not a Hub id');

    cpSync(fx.tinyBge, join(work, 'broken'), { recursive: true });
    rmSync(join(work, 'broken', 'config.json'));
    const broken = await tabtune('eval', '--model', 'broken', '--data', fx.qaTiny);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('tabtune: error: --model broken: config.json is missing');

    const notOnHub = await tabtune('eval', '--model', 'org/missing', '--data', fx.qaTiny, '--hub', hub.url);
    expect(notOnHub.code).toBe(1);
    expect(notOnHub.stderr).toContain('--model org/missing: no such folder here, and Model org/missing was not found on');

    const big = await tabtune('eval', '--model', fx.tinyBge, '--data', fx.qaTiny, '--dims', '64,32');
    expect(big.code).toBe(2);
    expect(big.stderr).toContain("--dims 64: larger than the model's hidden size 32");

    const missing = await tabtune('eval', '--model', fx.tinyBge);
    expect([missing.code, missing.stderr.split('\n')[0]]).toEqual([2, 'tabtune: missing --data DIR|FILE|HUB_ID (or --nanobeir NAMES)']);
    const unknown = await tabtune('eval', '--model', fx.tinyBge, '--nanobeir', 'msmarco,bioasq');
    expect([unknown.code, unknown.stderr.split('\n')[0]]).toEqual([2, 'tabtune: --nanobeir: "bioasq" is not a NanoBEIR subset; the subsets are ' + NANOBEIR_SUBSETS.map((x) => x.key).join(', ')]);
  });
});

// The Hub download path against the local Hub: progress, the folder cache, offline reload,
// resume after a cut connection (bytes counted), integrity, and the model errors.

import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { hostileModelCopy } from '../../../tests/fixtures/hostile.ts';
import { startLocalHub, type LocalHub } from '../../../tests/hub/local-hub.ts';
import { preset, usablePositions } from '../models/architectures.ts';
import { bertShapeProblem, CONFIG_LIMITS, parseBertConfig } from '../models/bert-config.ts';
import { parameterSet } from '../models/parameter-set.ts';
import { parseSafetensors } from '../models/safetensors.ts';
import { readModelFolder } from '../models/sentence-model-node.ts';
import { loadSentenceModel } from '../models/sentence-model.ts';
import { FolderStore } from '../store/folder-store.ts';
import { modelKey, partialPrefix, storeSummary } from '../store/store.ts';
import { downloadToStore } from './download.ts';
import { HubClient } from './hub-client.ts';
import { checkModelConfig, loadHubModel, loadLocalModel } from './model-files.ts';
import type { Progress } from './progress.ts';

const MODEL = 'BAAI/bge-base-en-v1.5';
let paths: FixturePaths;
let work: string;
let pytorchOnly: string;
let robertaDir: string;
let vocabOnly: string;
let hugeDir: string;
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabtune-hub-'));
  dirs.push(d);
  return d;
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(() => {
  paths = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-hubfix-'));
  pytorchOnly = join(work, 'pt-only');
  cpSync(paths.tinyBge, pytorchOnly, { recursive: true });
  writeFileSync(join(pytorchOnly, 'pytorch_model.bin'), readFileSync(join(pytorchOnly, 'model.safetensors')));
  unlinkSync(join(pytorchOnly, 'model.safetensors'));
  vocabOnly = join(work, 'vocab-only');
  cpSync(paths.tinyBge, vocabOnly, { recursive: true });
  unlinkSync(join(vocabOnly, 'tokenizer.json'));
  robertaDir = join(work, 'roberta');
  cpSync(paths.tinyBge, robertaDir, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(robertaDir, 'config.json'), 'utf8'));
  writeFileSync(join(robertaDir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'roberta', architectures: ['RobertaModel'] }));
  // tiny-bge whose config.json claims a billion layers (its weights are still the 2-layer ones).
  hugeDir = join(work, 'huge');
  cpSync(paths.tinyBge, hugeDir, { recursive: true });
  writeFileSync(join(hugeDir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 1e9 }));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));
let hub: LocalHub | null = null;
afterEach(async () => {
  await hub?.close();
  hub = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FILES = [
  'config.json', 'modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json',
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', '1_Pooling/config.json', 'model.safetensors',
];

describe('loadHubModel', () => {
  it('downloads with progress into the folder cache, then loads with the server stopped', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const store = new FolderStore(tmp());
    const client = new HubClient({ hubUrl: hub.url });
    const events: Progress[] = [];
    const m = await loadHubModel({ client, store, repo: MODEL, onProgress: (p) => events.push(p), chunkBytes: 64 * 1024 });
    expect([...m.files.keys()].sort()).toEqual([...FILES].sort());
    expect(m.weights).toEqual(['model.safetensors']);
    expect(m.offline).toBe(false);
    expect(m.source).toMatchObject({ kind: 'hub', repo: MODEL, revision: 'main', commit: hub.commitOf('model', MODEL) });
    for (const f of FILES) expect(sha256(m.files.get(f)!), f).toBe(sha256(readFileSync(join(paths.tinyBge, f))));
    expect(parseSafetensors(m.files.get('model.safetensors')!).tensors.has('embeddings.word_embeddings.weight')).toBe(true);

    const total = FILES.reduce((s, f) => s + readFileSync(join(paths.tinyBge, f)).byteLength, 0);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ phase: 'done', loaded: total, total, filesDone: FILES.length, filesTotal: FILES.length, eta: 0 });
    expect(events.some((e) => e.phase === 'download' && e.file === 'model.safetensors')).toBe(true);
    expect(events.some((e) => e.phase === 'verify' && e.file === 'model.safetensors')).toBe(true);
    for (let i = 1; i < events.length; i++) expect(events[i].loaded).toBeGreaterThanOrEqual(events[i - 1].loaded);
    expect(await store.keys('partial/')).toEqual([]);
    expect(await store.get(modelKey(hub!.url, MODEL, 'main', 'model.safetensors'))).toBeDefined();

    // Second load, server up: nothing but the listing is fetched.
    const before = hub.requests.length;
    await loadHubModel({ client, store, repo: MODEL });
    expect(hub.requests.slice(before).map((r) => new URL(r.url, hub!.url).pathname)).toEqual([`/api/models/${MODEL}/revision/main`]);

    const url = hub.url;
    await hub.close();
    hub = null;
    const offline = await loadHubModel({ client: new HubClient({ hubUrl: url }), store: new FolderStore(store.root), repo: MODEL });
    expect(offline.offline).toBe(true);
    expect(sha256(offline.files.get('model.safetensors')!)).toBe(sha256(m.files.get('model.safetensors')!));
    expect([...offline.files.keys()].sort()).toEqual([...FILES].sort());
    // A model never downloaded: the network error says so.
    await expect(loadHubModel({ client: new HubClient({ hubUrl: url }), store, repo: 'BAAI/bge-small-en-v1.5' })).rejects.toThrow(
      /Cannot reach http:\/\/127\.0\.0\.1:\d+ .*BAAI\/bge-small-en-v1.5@main is not in the cache either/,
    );
  });

  it('resumes a cut download from where it stopped, across calls, byte-identical', async () => {
    const file = readFileSync(join(paths.tinyBge, 'model.safetensors'));
    const cut = 100_000;
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge }, faults: { afterBytes: cut, match: /model\.safetensors$/ } });
    const store = new FolderStore(tmp());
    const client = new HubClient({ hubUrl: hub.url });
    // retries: 0 stands for a closed tab: the call fails, the bytes that arrived stay stored.
    const err = await loadHubModel({ client, store, repo: MODEL, retries: 0, chunkBytes: 32 * 1024 }).catch((e) => e);
    // The server wrote `cut` bytes before dropping the socket; the client may have received fewer.
    const m0 = /model\.safetensors: the download stopped at (\d+) of (\d+) bytes .*trying again resumes from there/.exec(err.message);
    expect(m0, err.message).not.toBeNull();
    const got = Number(m0![1]);
    expect(Number(m0![2])).toBe(file.byteLength);
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThanOrEqual(cut);
    const kept = await store.entries(partialPrefix(modelKey(hub!.url, MODEL, 'main', 'model.safetensors')));
    expect(kept.filter((e) => !e.key.endsWith('/info')).reduce((s, e) => s + e.size, 0)).toBe(got);
    expect(await store.get(modelKey(hub!.url, MODEL, 'main', 'model.safetensors'))).toBeUndefined();

    const before = hub.requests.length;
    const m = await loadHubModel({ client, store: new FolderStore(store.root), repo: MODEL, retries: 0 });
    const bodies = hub.requests.slice(before).filter((r) => r.file === 'model.safetensors' && r.status === 206);
    expect(bodies).toHaveLength(1);
    expect(bodies[0].range).toBe(`bytes=${got}-`);
    expect(bodies[0].bytesSent).toBe(file.byteLength - got);
    expect(Buffer.from(m.files.get('model.safetensors')!).equals(file)).toBe(true);
    expect(await store.keys('partial/')).toEqual([]);
  });

  it('retries within one call after a cut, fetching only the remaining bytes', async () => {
    const file = readFileSync(join(paths.tinyBge, 'config.json'));
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge }, faults: { afterBytes: 50, match: /^config\.json$/ } });
    const store = new FolderStore(tmp());
    const r = await downloadToStore({
      url: `${hub.url}/${MODEL}/resolve/main/config.json`,
      store,
      key: 'k/config.json',
      expected: { size: file.byteLength },
      retryDelayMs: 1,
    });
    expect(r).toMatchObject({ fetched: file.byteLength, requests: 2, fromCache: false });
    const log = hub.requests.filter((q) => q.file === 'config.json');
    expect(log.map((q) => [q.status, q.bytesSent, q.cut])[0]).toEqual([200, 50, true]);
    // The retry asks for exactly what did not arrive, and the server sends only that.
    const n = Number(/^bytes=(\d+)-$/.exec(log[1].range ?? '')?.[1]);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(50);
    expect([log[1].status, log[1].bytesSent]).toEqual([206, file.byteLength - n]);
    expect(Buffer.from(r.bytes).equals(file)).toBe(true);
  });

  it('rejects bytes whose sha256 differs from the Hub, keeping nothing of them and nothing else lost', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const store = new FolderStore(tmp());
    await store.set('model/other@main/config.json', new Uint8Array([1, 2, 3]));
    const url = `${hub.url}/${MODEL}/resolve/main/model.safetensors`;
    const size = readFileSync(join(paths.tinyBge, 'model.safetensors')).byteLength;
    const err = await downloadToStore({ url, store, key: 'k/model.safetensors', expected: { size, sha256: '0'.repeat(64) } }).catch((e) => e);
    expect(err.message).toMatch(/model\.safetensors: sha256 [0-9a-f]{64} does not match the Hub's 0{64}\. The partial download was discarded/);
    expect(await store.keys()).toEqual(['model/other@main/config.json']);
  });

  it('says what is wrong: missing repo, missing revision, pytorch_model.bin only, unsupported model_type', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge, 'old/pt-only': pytorchOnly, 'fb/roberta-ish': robertaDir } });
    const store = new FolderStore(tmp());
    const client = new HubClient({ hubUrl: hub.url });
    await loadHubModel({ client, store, repo: MODEL });
    const keys = await store.keys();
    await expect(loadHubModel({ client, store, repo: 'BAAI/bge-nope' })).rejects.toThrow(
      `Model BAAI/bge-nope was not found on ${hub.url}. Check the spelling (owner/name)`,
    );
    await expect(loadHubModel({ client, store, repo: MODEL, revision: 'v9' })).rejects.toThrow(`Model ${MODEL} has no revision "v9"`);
    await expect(loadHubModel({ client, store, repo: 'old/pt-only' })).rejects.toThrow(
      'old/pt-only@main has only pytorch_model.bin and no model.safetensors. tabtune reads safetensors only',
    );
    const before = hub.requests.length;
    await expect(loadHubModel({ client, store, repo: 'fb/roberta-ish' })).rejects.toThrow(
      'fb/roberta-ish@main: model_type "roberta" is not supported; the engine supports bert (BERT encoders such as BAAI/bge-small-en-v1.5, BAAI/bge-base-en-v1.5, intfloat/multilingual-e5-small); xlm-roberta (XLM-RoBERTa encoders such as BAAI/bge-m3, intfloat/multilingual-e5-base).',
    );
    // It stopped at config.json: no weights were fetched.
    expect(hub.requests.slice(before).some((r) => r.file === 'model.safetensors')).toBe(false);
    const after = await store.keys();
    for (const k of keys) expect(after).toContain(k);
    expect((await loadHubModel({ client, store, repo: MODEL })).files.size).toBe(FILES.length);
  });
});

describe('families (models/architectures.ts)', () => {
  it('fetches an XLM-RoBERTa repo\'s own files (a Unigram tokenizer.json, no vocab.txt) and loads it, `roberta.` names and all', async () => {
    hub = await startLocalHub({ models: { 'BAAI/tiny-m3': paths.tinyXlmr, 'intfloat/tiny-e5': paths.tinyXlmrMean } });
    const client = new HubClient({ hubUrl: hub.url });
    const store = new FolderStore(tmp());
    for (const repo of ['BAAI/tiny-m3', 'intfloat/tiny-e5']) {
      const m = await loadHubModel({ client, store, repo });
      expect([...m.files.keys()].sort(), repo).toEqual(FILES.filter((f) => f !== 'vocab.txt').sort());
      const model = loadSentenceModel(m.files);
      expect([model.config.family, model.maxSeqLength, model.pooling], repo).toEqual(['xlm-roberta', 64, repo === 'BAAI/tiny-m3' ? 'cls' : 'mean']);
    }
  });

  it('refuses a model with vocab.txt but no tokenizer.json before fetching its weights, saying how to make one', async () => {
    hub = await startLocalHub({ models: { 'old/vocab-only': vocabOnly } });
    const want = /old\/vocab-only@main has no tokenizer\.json \(only vocab\.txt, a slow tokenizer's files\): tabtune tokenizes with a fast tokenizer's tokenizer\.json\. Save one with transformers/;
    await expect(loadHubModel({ client: new HubClient({ hubUrl: hub.url }), store: new FolderStore(tmp()), repo: 'old/vocab-only' })).rejects.toThrow(want);
    expect(hub.requests.some((r) => r.file === 'model.safetensors')).toBe(false);
    const picked = readdirSync(vocabOnly, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => {
      const path = relative(vocabOnly, join(e.parentPath, e.name)).split(sep).join('/');
      return { path, bytes: new Uint8Array(readFileSync(join(vocabOnly, path))) };
    });
    expect(() => loadLocalModel('vocab-only', picked)).toThrow(/the folder vocab-only has no tokenizer\.json \(only vocab\.txt/);
  });
});

describe('the model cache: keyed by Hub, hash-checked on first use', () => {
  const goodWeights = () => readFileSync(join(paths.tinyBge, 'model.safetensors'));
  const evilWeights = () => readFileSync(join(hostileModelCopy(paths.tinyBge, join(tmp(), 'evil')), 'model.safetensors'));
  /** Bodies of `file` the Hub sent (an LFS file's 302 to the CDN is not one). */
  const bodies = (h: LocalHub, from: number, file: string) => h.requests.slice(from).filter((r) => r.file === file && (r.status === 200 || r.status === 206));

  it("a hostile Hub's files for the same repo id never answer for another Hub, online or offline", async () => {
    const evilDir = hostileModelCopy(paths.tinyBge, join(tmp(), 'evil'));
    const evil = await startLocalHub({ models: { [MODEL]: evilDir } });
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const store = new FolderStore(tmp());
    try {
      const bad = await loadHubModel({ client: new HubClient({ hubUrl: evil.url }), store, repo: MODEL });
      expect(sha256(bad.files.get('model.safetensors')!)).toBe(sha256(readFileSync(join(evilDir, 'model.safetensors'))));
    } finally {
      await evil.close();
    }
    expect(evilWeights().byteLength).toBe(goodWeights().byteLength);
    const before = hub.requests.length;
    const m = await loadHubModel({ client: new HubClient({ hubUrl: hub.url }), store, repo: MODEL });
    expect(sha256(m.files.get('model.safetensors')!)).toBe(sha256(goodWeights()));
    for (const f of FILES) expect(bodies(hub, before, f), f).toHaveLength(1);
    expect((await storeSummary(store)).map((g) => g.group).sort()).toEqual([
      `model/http:127.0.0.1:${new URL(evil.url).port}/${MODEL}@main`,
      `model/http:127.0.0.1:${new URL(hub.url).port}/${MODEL}@main`,
    ].sort());
    const url = hub.url;
    await hub.close();
    hub = null;
    const off = await loadHubModel({ client: new HubClient({ hubUrl: url }), store: new FolderStore(store.root), repo: MODEL });
    expect(off.offline).toBe(true);
    expect(sha256(off.files.get('model.safetensors')!)).toBe(sha256(goodWeights()));
  });

  it('a stored file altered behind its back (same size) is caught on first use, dropped and fetched again; a second use does not hash again', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const client = new HubClient({ hubUrl: hub.url });
    const root = tmp();
    await loadHubModel({ client, store: new FolderStore(root), repo: MODEL });
    const key = modelKey(hub.url, MODEL, 'main', 'model.safetensors');
    // The next process: a store object of its own over the same folder, whose weights were swapped.
    const store = new FolderStore(root);
    await store.set(key, evilWeights());
    const events: Progress[] = [];
    const before = hub.requests.length;
    const m = await loadHubModel({ client, store, repo: MODEL, onProgress: (p) => events.push(p) });
    expect(sha256(m.files.get('model.safetensors')!)).toBe(sha256(goodWeights()));
    expect(sha256((await store.get(key))!)).toBe(sha256(goodWeights()));
    expect(bodies(hub, before, 'model.safetensors')).toHaveLength(1);
    expect(events.at(-1)!.notes).toEqual([
      expect.stringMatching(/^The stored copy of model\.safetensors: sha256 [0-9a-f]{64} does not match the Hub's [0-9a-f]{64}; it was deleted and is downloaded again\.$/),
    ]);

    // Second use by the same process: the listing is fetched, nothing is hashed.
    const digest = vi.spyOn(crypto.subtle, 'digest');
    try {
      await loadHubModel({ client, store, repo: MODEL });
      expect(digest).not.toHaveBeenCalled();
      // A new process (store object) checks every file once more.
      await loadHubModel({ client, store: new FolderStore(root), repo: MODEL });
      expect(digest).toHaveBeenCalledTimes(FILES.length);
    } finally {
      digest.mockRestore();
    }
  });

  it('offline, an altered file fails against the hash its manifest recorded, with a clear message, and is dropped', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const url = hub.url;
    const root = tmp();
    await loadHubModel({ client: new HubClient({ hubUrl: url }), store: new FolderStore(root), repo: MODEL });
    await hub.close();
    hub = null;
    const key = modelKey(url, MODEL, 'main', 'model.safetensors');
    const store = new FolderStore(root);
    await store.set(key, evilWeights());
    const err = await loadHubModel({ client: new HubClient({ hubUrl: url }), store, repo: MODEL }).catch((e) => e);
    expect(err.message).toMatch(
      /^BAAI\/bge-base-en-v1\.5@main: the stored copy of model\.safetensors: sha256 [0-9a-f]{64} does not match the Hub's [0-9a-f]{64} recorded when it was downloaded; it was deleted\. Connect to http:\/\/127\.0\.0\.1:\d+ to download it again\.$/,
    );
    expect(await store.get(key)).toBeUndefined();
  });

  it('a server that sends more bytes than the listing says is cut off, and nothing of it is kept', async () => {
    hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge } });
    const store = new FolderStore(tmp());
    const url = `${hub.url}/${MODEL}/resolve/main/model.safetensors`;
    const err = await downloadToStore({ url, store, key: 'k/model.safetensors', expected: { size: 1000 }, chunkBytes: 256 }).catch((e) => e);
    expect(err.message).toBe('k/model.safetensors: the server sent more than the 1000 bytes the Hub lists; the download was discarded.');
    expect(await store.keys()).toEqual([]);
  });
});

describe('loadLocalModel', () => {
  const readFolder = (dir: string, prefix = '') => {
    const out: { path: string; bytes: Uint8Array }[] = [];
    const walk = (d: string, rel: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.name.startsWith('.')) continue;
        if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
        else out.push({ path: `${prefix}${rel}${e.name}`, bytes: readFileSync(join(d, e.name)) });
      }
    };
    walk(dir, '');
    return out;
  };

  it('takes a picked folder (with its own name as prefix) like a Hub repo', () => {
    const m = loadLocalModel('tiny-bge', readFolder(paths.tinyBge, 'tiny-bge/'));
    expect([...m.files.keys()].sort()).toEqual([...FILES].sort());
    expect(m.config.model_type).toBe('bert');
    expect(m.source).toEqual({ kind: 'local', name: 'tiny-bge' });
  });

  it('gives the same errors for a local folder', () => {
    expect(() => loadLocalModel('pt', readFolder(pytorchOnly))).toThrow('the folder pt has only pytorch_model.bin and no model.safetensors');
    expect(() => loadLocalModel('rb', readFolder(robertaDir))).toThrow('model_type "roberta" is not supported; the engine supports bert (BERT encoders');
    expect(() => loadLocalModel('empty', [{ path: 'notes.txt', bytes: new Uint8Array(1) }])).toThrow('has no model.safetensors');
  });
});

describe('config.json bounds', () => {
  // Real configs that must pass: bge-large-en-v1.5 (BERT large) and bge-m3 (XLM-RoBERTa large).
  const bgeLarge = {
    model_type: 'bert', hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096,
    vocab_size: 30522, max_position_embeddings: 512, type_vocab_size: 2, pad_token_id: 0,
  };
  const bgeM3 = { ...bgeLarge, model_type: 'xlm-roberta', vocab_size: 250002, max_position_embeddings: 8194, type_vocab_size: 1, pad_token_id: 1 };
  const HUGE = /num_hidden_layers is 1000000000, over the limit of 128/;

  it('takes bge-large and bge-m3\'s shapes', () => {
    expect(bertShapeProblem(bgeLarge)).toBeNull();
    expect(bertShapeProblem(bgeM3)).toBeNull();
    expect(parseBertConfig(bgeLarge)).toMatchObject({ numLayers: 24, hiddenSize: 1024, vocabSize: 30522 });
    expect(checkModelConfig(bgeLarge, 'BAAI/bge-large-en-v1.5').family).toBe('bert');
    expect(checkModelConfig(bgeM3, 'BAAI/bge-m3').family).toBe('xlm-roberta');
    // bge-m3's config.json (its published fields) parses to the shape its preset records: 8,192 usable positions.
    const m3 = parseBertConfig({ ...bgeM3, layer_norm_eps: 1e-5, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 });
    expect(m3).toEqual(preset('BAAI/bge-m3').config);
    expect(usablePositions(m3)).toBe(8192);
    expect(parameterSet(m3).trainedSize).toBe(566_705_152); // 568M with the pooler, which is never trained
  });

  it('names the field, its value and the limit for each shape field, and the inconsistent ones', () => {
    for (const [key, limit] of Object.entries(CONFIG_LIMITS)) {
      expect(bertShapeProblem({ ...bgeLarge, [key]: limit + 1 }), key).toBe(`config.json: ${key} is ${limit + 1}, over the limit of ${limit} (the largest BERT-family encoders stay far below it)`);
      expect(bertShapeProblem({ ...bgeLarge, [key]: 0 }), key).toBe(`config.json: ${key} must be a positive integer, got 0`);
      expect(bertShapeProblem({ ...bgeLarge, [key]: 2.5 }), key).toMatch(`${key} must be a positive integer, got 2.5`);
    }
    expect(bertShapeProblem({ ...bgeLarge, num_attention_heads: 10 })).toBe('config.json: hidden_size 1024 is not a multiple of num_attention_heads 10');
    expect(bertShapeProblem({ ...bgeLarge, pad_token_id: 30522 })).toMatch('pad_token_id 30522 is outside the vocabulary');
    expect(bertShapeProblem({ ...bgeLarge, hidden_size: 8192, intermediate_size: 65536, num_hidden_layers: 128 })).toMatch(/the shape claims 1\.\d+e\+11 parameters, over the limit/);
    const { hidden_size: _, ...noHidden } = bgeLarge;
    expect(bertShapeProblem(noHidden)).toBe('config.json has no hidden_size');
  });

  it('refuses a billion layers at once on every path — folder, picked files, Hub (before the weights) — building nothing', async () => {
    const t0 = performance.now();
    const files = readModelFolder(hugeDir);
    expect(() => loadSentenceModel(files)).toThrow(HUGE);
    expect(() => loadLocalModel('huge', [...files].map(([path, bytes]) => ({ path, bytes })))).toThrow(HUGE);
    hub = await startLocalHub({ models: { 'evil/huge': hugeDir } });
    await expect(loadHubModel({ client: new HubClient({ hubUrl: hub.url }), store: new FolderStore(tmp()), repo: 'evil/huge' })).rejects.toThrow(
      /evil\/huge@main: config\.json: num_hidden_layers is 1000000000, over the limit of 128/,
    );
    expect(hub.requests.some((r) => r.file === 'model.safetensors')).toBe(false);
    // A parameter list for 1e9 layers (16e9 entries) could not be built in this time, or at all.
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

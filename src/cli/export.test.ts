// The ways out of tabtune, as their users take them, after training the fixture model from the
// local Hub: `tabtune export --onnx --quantize --zip` gives a folder that transformers.js in Node
// (`pipeline('feature-extraction', folder)`) turns into the embeddings `tabtune embed` gives (fp32
// within 1e-4; int8 within the bound below, its nDCG@10 in the card equal to the int8 ONNX model's
// own), a card whose front matter parses as YAML with the Hub's fields, and a zip equal to the
// folder file for file whose model.safetensors the Python reference reads as the trained weights;
// `tabtune push` against the local Hub (create, preupload, LFS, commit) with the pushed repo
// evaluating like the folder, and its failures (401, 403, an existing repo, no network) each with
// its message and nothing lost; `tabtune script` writes a train.py that compiles and holds the
// run config's hyperparameters. What leaves the machine: a run from absolute --model/--data paths
// with `.env`, `.git/config` and stray files planted in its folder exports (folder and zip) and
// pushes only the package's files, and no exported file, train.py or commit message holds a path.
// A LoRA run of the CLI (3 updates) exports merged — model.safetensors is base + (α/r)·B·A within
// 1e-6 of this test's own product, and its ONNX gives in transformers.js what `tabtune embed`
// gives (1e-4) — and with --adapter as PEFT's folder (exported and pushed): the adapter files, no
// base weights, a card that says so, and --adapter refused with ONNX or for a run without adapters.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env, pipeline } from '@huggingface/transformers';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensureFixtures, type FixturePaths } from '../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../tests/hub/local-hub.ts';
import { prepareDataset } from '../lib/data/dataset.ts';
import { parseDataFile } from '../lib/data/parse.ts';
import { evaluateIr, prepareIr } from '../lib/eval/ir-metrics.ts';
import { buildIrSet } from '../lib/eval/ir-set.ts';
import { fromOnnxBytes } from '../lib/graph/onnx-protobufjs.ts';
import { commitMessage } from '../lib/export/hub-push.ts';
import { parseSafetensors } from '../lib/models/safetensors.ts';
import type { RunRecord } from '../lib/run/record.ts';
import { parseRunConfig } from '../lib/train/run-config.ts';
import { exportForm, readFolder } from './export.ts';
import { parameterSet } from '../lib/models/parameter-set.ts';
import { loadSentenceModel } from '../lib/models/sentence-model.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const BIN = join(ROOT, 'bin/tabtune.js');
const TOKEN = 'hf_local_write_token';
const READ_TOKEN = 'hf_local_read_token';

let f: FixturePaths;
let hub: LocalHub;
let work: string;
let trained: string;
let exported: string;

function tabtune(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [BIN, ...args], { timeout: 240_000, env: { ...process.env, TABTUNE_CACHE: join(work, 'cache'), TABTUNE_HUB_URL: hub.url, ...extraEnv } }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** Every file under `dir` by relative path → sha256. */
function folderDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const frontMatter = (md: string) => parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(md)![1]);

beforeAll(async () => {
  f = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-export-'));
  hub = await startLocalHub({
    models: { 'org/tiny-bge': f.tinyBge, 'org/tiny-e5': f.tinyXlmrMean },
    datasets: { 'org/qa-tiny': f.qaTiny },
    tokens: { [TOKEN]: { user: 'me', write: ['me', 'team'] }, [READ_TOKEN]: { user: 'reader', write: [] } },
  });
  trained = join(work, 'trained');
  const t = await tabtune(['train', '--model', 'org/tiny-bge', '--data', 'org/qa-tiny', '--output', trained, '--batchSize', '16', '--maxSteps', '20', '--lr', '2e-3', '--warmupRatio', '0', '--quiet']);
  expect(t.code, t.stderr).toBe(0);
  exported = join(work, 'exported');
  const e = await tabtune(['export', '--model', trained, '--out', exported, '--onnx', '--quantize', '--zip', join(work, 'model.zip')]);
  expect(e.code, e.stderr).toBe(0);
  expect(e.stderr).toMatch(/^int8: dim 32 nDCG@10 0\.\d{4}/m);
  // An XLM-RoBERTa (`roberta.`-named tensors, mean pooling, a Unigram tokenizer): three steps are enough to change every weight.
  const x = await tabtune(['train', '--model', 'org/tiny-e5', '--data', 'org/qa-tiny', '--output', join(work, 'trained-xlmr'), '--batchSize', '16', '--maxSteps', '3', '--lr', '2e-3', '--warmupRatio', '0', '--quiet']);
  expect(x.code, x.stderr).toBe(0);
  const xe = await tabtune(['export', '--model', join(work, 'trained-xlmr'), '--out', join(work, 'exported-xlmr'), '--onnx', '--quantize']);
  expect(xe.code, xe.stderr).toBe(0);
  // The int8 file evaluated for the card, fed as transformers.js feeds it (no token types).
  expect(xe.stderr).toMatch(/^int8: dim 32 nDCG@10 0\.\d{4}/m);
}, 600_000);
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('tabtune export', () => {
  it('gives a folder transformers.js loads: its embeddings equal tabtune embed (fp32 1e-4; int8 2e-2)', async () => {
    const texts = ['Which planet is known as the Red Planet?', 'The KELDOR nests in reeds, playing zyzzyva!', 'a', 'Keldor is a small city on the north coast.'];
    writeFileSync(join(work, 'texts.txt'), texts.join('\n') + '\n');
    const ours = await tabtune(['embed', '--model', trained, '--texts', join(work, 'texts.txt'), '--out', join(work, 'emb.json')]);
    expect(ours.code, ours.stderr).toBe(0);
    const want = (JSON.parse(readFileSync(join(work, 'emb.json'), 'utf8')) as { embeddings: number[][] }).embeddings.flat();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${work}/`;
    for (const [dtype, bound] of [['fp32', 1e-4], ['q8', 2e-2]] as const) {
      const extractor = await pipeline('feature-extraction', 'exported', { dtype });
      const got = (await extractor(texts, { pooling: 'cls', normalize: true })).data as Float32Array;
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      console.log(`transformers.js ${dtype} vs tabtune embed: max abs err ${worst.toExponential(2)} (bound ${bound})`);
      expect(worst).toBeLessThanOrEqual(bound);
      if (dtype === 'q8') expect(worst).toBeGreaterThan(0); // it is really the int8 model
    }
    const files = readdirSync(join(exported, 'onnx')).sort();
    expect(files).toEqual(['model.onnx', 'model_quantized.onnx']);
    // Every linear layer's weight is stored as int8 (12 in the 2-layer fixture), the rest as float32.
    const model = fromOnnxBytes(new Uint8Array(readFileSync(join(exported, 'onnx/model_quantized.onnx')))) as { graph: { initializer: { name: string; data_type: number }[] } };
    const int8 = model.graph.initializer.filter((t) => t.data_type === 3 && t.name.endsWith('_quantized'));
    expect(int8.map((t) => t.name)).toHaveLength(12);
    expect(statSync(join(exported, 'onnx/model_quantized.onnx')).size).toBeLessThan(statSync(join(exported, 'onnx/model.onnx')).size);
  }, 120_000);

  it('exports an XLM-RoBERTa transformers.js loads: its embeddings equal tabtune embed (fp32 1e-4; int8 2e-2), config and names as the input\'s', async () => {
    const texts = ['Which planet is known as the Red Planet?', 'hello  café über straße', 'a', 'Keldor is a small city on the north coast.'];
    writeFileSync(join(work, 'texts-xlmr.txt'), texts.join('\n') + '\n');
    const ours = await tabtune(['embed', '--model', join(work, 'trained-xlmr'), '--texts', join(work, 'texts-xlmr.txt'), '--out', join(work, 'emb-xlmr.json')]);
    expect(ours.code, ours.stderr).toBe(0);
    const want = (JSON.parse(readFileSync(join(work, 'emb-xlmr.json'), 'utf8')) as { embeddings: number[][] }).embeddings.flat();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${work}/`;
    // No Normalize module: the bound for int8 is relative to the embeddings' scale.
    const scale = Math.max(...want.map(Math.abs));
    for (const [dtype, bound] of [['fp32', 1e-4], ['q8', 2e-2 * scale]] as const) {
      const extractor = await pipeline('feature-extraction', 'exported-xlmr', { dtype });
      const got = (await extractor(texts, { pooling: 'mean', normalize: false })).data as Float32Array;
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      console.log(`XLM-R: transformers.js ${dtype} vs tabtune embed: max abs err ${worst.toExponential(2)} (bound ${bound.toExponential(2)})`);
      expect(worst).toBeLessThanOrEqual(bound);
    }
    const dir = join(work, 'exported-xlmr');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect([config.model_type, config.architectures]).toEqual(['xlm-roberta', ['XLMRobertaModel']]);
    // The input file's own names (`roberta.…`), the trained values in them.
    const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
    const base = parseSafetensors(new Uint8Array(readFileSync(join(f.tinyXlmrMean, 'model.safetensors'))));
    expect([...st.tensors.keys()]).toEqual([...base.tensors.keys()]);
    const name = 'roberta.encoder.layer.0.attention.self.query.weight';
    expect(st.tensors.get(name)!.data).not.toEqual(base.tensors.get(name)!.data);
    // No token_type_ids input: XLM-R's tokenizer makes none and transformers.js feeds only what a model declares.
    const onnx = fromOnnxBytes(new Uint8Array(readFileSync(join(dir, 'onnx/model.onnx')))) as { graph: { input: { name: string }[] } };
    expect(onnx.graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask']);
    expect(readdirSync(dir)).not.toContain('vocab.txt');
  }, 120_000);

  it('writes a card with the Hub\'s front matter, the before/after table and the int8 model\'s nDCG@10', async () => {
    const card = readFileSync(join(exported, 'README.md'), 'utf8');
    const meta = frontMatter(card);
    expect(meta).toMatchObject({ library_name: 'sentence-transformers', pipeline_tag: 'sentence-similarity', base_model: 'org/tiny-bge', datasets: ['org/qa-tiny'] });
    expect(meta.tags).toEqual(expect.arrayContaining(['sentence-transformers', 'sentence-similarity', 'matryoshka']));
    const results = meta['model-index'][0].results;
    expect(results).toHaveLength(1);
    expect(results[0].task.type).toBe('information-retrieval');
    const evalResults = JSON.parse(readFileSync(join(exported, 'eval_results.json'), 'utf8'));
    const ndcg = results[0].metrics.find((m: { type: string }) => m.type === 'cosine_ndcg@10');
    expect(ndcg.value).toBe(evalResults.after['dim_32_cosine_ndcg@10']);
    const row = card.split('\n').find((l) => l.startsWith('| dim_32_cosine_ndcg@10 |'))!;
    const [, before, after, , int8] = row.split('|').map((c) => c.trim()).filter(Boolean);
    expect(Number(before)).toBe(Number(evalResults.before['dim_32_cosine_ndcg@10'].toFixed(4)));
    expect(Number(after)).toBe(Number(evalResults.after['dim_32_cosine_ndcg@10'].toFixed(4)));
    // The int8 column is the int8 ONNX model's own score: embed the IR set with transformers.js (q8).
    const table = async (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(readFileSync(join(f.qaTiny, `${split}.jsonl`))));
    const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: 'org/qa-tiny' });
    const prepared = prepareIr(buildIrSet(data.train, data.test));
    const extractor = await pipeline('feature-extraction', 'exported', { dtype: 'q8' });
    const emb = async (texts: string[]) => (await extractor(texts, { pooling: 'cls', normalize: true })).data as Float32Array;
    const r = await evaluateIr(prepared, await emb(prepared.queryTexts), await emb(prepared.corpusTexts), 32, { dims: [32] });
    expect(r.metrics['dim_32_cosine_ndcg@10'].toFixed(4)).toBe(int8);
    expect(card).toMatch(/```python\nfrom sentence_transformers import SentenceTransformer/);
    expect(card).toMatch(/pipeline\('feature-extraction'/);
  }, 120_000);

  it('zips the same files, and the Python reference reads its model.safetensors as the trained weights', async () => {
    const entries = unzipSync(new Uint8Array(readFileSync(join(work, 'model.zip'))));
    const zipped = Object.fromEntries(Object.entries(entries).map(([p, b]) => [p, createHash('sha256').update(b).digest('hex')]));
    expect(zipped).toEqual(folderDigest(exported));
    expect(Object.keys(zipped)).not.toContain('run.json');
    expect(Object.keys(zipped)).not.toContain('train_log.jsonl');
    writeFileSync(join(work, 'unzipped.safetensors'), entries['model.safetensors']);
    const py = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile('/usr/bin/python3', ['-c', [
        'import json, sys', `sys.path.insert(0, ${JSON.stringify(join(ROOT, 'tests/reference'))})`, 'from bert_reference import read_safetensors',
        `t, _ = read_safetensors(${JSON.stringify(join(work, 'unzipped.safetensors'))})`,
        'print(json.dumps({k: [list(v.shape), v.astype("float64").ravel().tolist()] for k, v in t.items()}))',
      ].join('\n')], { maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => done({ code: err ? 1 : 0, stdout, stderr })),
    );
    expect(py.code, py.stderr).toBe(0);
    const fromPython = JSON.parse(py.stdout) as Record<string, [number[], number[]]>;
    const ours = parseSafetensors(new Uint8Array(readFileSync(join(trained, 'model.safetensors')))).tensors;
    expect(Object.keys(fromPython).sort()).toEqual([...ours.keys()].sort());
    for (const [name, t] of ours) {
      expect(fromPython[name][0], name).toEqual(t.shape);
      expect(Float32Array.from(fromPython[name][1]), name).toEqual(t.data);
    }
  }, 120_000);
});

/** Every file under `dir` by relative path → bytes. */
function readTree(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const p of Object.keys(folderDigest(dir))) out.set(p, new Uint8Array(readFileSync(join(dir, p))));
  return out;
}

describe('a LoRA run, exported merged and as a PEFT adapter', () => {
  it('merged: base + (α/r)·B·A (1e-6), ONNX in transformers.js equal to tabtune embed (1e-4); adapter: PEFT\'s files, no base weights', async () => {
    // A real LoRA run of the CLI: three updates at a high rate move B off its zero start.
    const dir = join(work, 'lora-run');
    const t = await tabtune([
      'train', '--model', 'org/tiny-bge', '--data', 'org/qa-tiny', '--output', dir, '--batchSize', '16', '--maxSteps', '3', '--lr', '2e-2', '--warmupRatio', '0', '--quiet',
      '--trainable.mode', 'lora', '--trainable.r', '4', '--trainable.alpha', '8', '--trainable.targetModules', 'query,value,output.dense',
    ]);
    expect(t.code, t.stderr).toBe(0);
    const set = parameterSet(loadSentenceModel(readTree(f.tinyBge)).config, parseRunConfig({ trainable: { mode: 'lora', r: 4, alpha: 8, targetModules: ['query', 'value', 'output.dense'] } }).trainable);
    // The adapters as the run wrote them (PEFT's keys), the values the merge must have used.
    const written = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'adapter_model.safetensors'))));
    const values = new Map([...written.tensors].map(([k, v]) => [k.replace(/^base_model\.model\./, ''), v.data as Float32Array]));
    expect([...values.keys()].sort()).toEqual(set.adapters.map((p) => p.name).sort());

    // The merged weights, against this test's own product of the adapters.
    const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
    const base = parseSafetensors(new Uint8Array(readFileSync(join(f.tinyBge, 'model.safetensors'))));
    let worst = 0;
    let moved = 0;
    const modules = [...new Set(set.adapters.map((p) => p.adapter!.module))];
    expect(modules).toHaveLength(2 * 4); // query, value, attention.output.dense, output.dense × 2 layers
    for (const module of modules) {
      const a = values.get(`${module}.lora_A.weight`)!;
      const b = values.get(`${module}.lora_B.weight`)!;
      const key = [...base.tensors.keys()].find((k) => k === `${module}.weight` || k.endsWith(`.${module}.weight`))!;
      const [rows, cols] = base.tensors.get(key)!.shape;
      const w0 = base.tensors.get(key)!.data as Float32Array;
      const w = st.tensors.get(key)!.data as Float32Array;
      for (let o = 0; o < rows; o++) {
        for (let i = 0; i < cols; i++) {
          let d = 0;
          for (let k = 0; k < 4; k++) d += b[o * 4 + k] * a[k * cols + i];
          worst = Math.max(worst, Math.abs(w[o * cols + i] - (w0[o * cols + i] + (8 / 4) * d)));
          moved = Math.max(moved, Math.abs(w[o * cols + i] - w0[o * cols + i]));
        }
      }
    }
    console.log(`LoRA merged: max |W' − (W + α/r·B·A)| ${worst.toExponential(2)}, max change ${moved.toFixed(3)}`);
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(moved).toBeGreaterThan(1e-2);
    for (const [k, t] of base.tensors) if (!modules.some((m) => k.endsWith(`${m}.weight`))) expect(st.tensors.get(k)!.data, k).toEqual(t.data);

    // Merged export: a plain model whose ONNX transformers.js runs as tabtune embed does.
    const merged = await tabtune(['export', '--model', dir, '--out', join(work, 'lora-merged'), '--onnx']);
    expect(merged.code, merged.stderr).toBe(0);
    const mergedFiles = Object.keys(folderDigest(join(work, 'lora-merged')));
    expect(mergedFiles).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'onnx/model.onnx']));
    expect(mergedFiles.filter((p) => p.startsWith('adapter_'))).toEqual([]);
    const texts = ['Which planet is known as the Red Planet?', 'Keldor is a small city on the north coast.', 'a'];
    writeFileSync(join(work, 'texts-lora.txt'), texts.join('\n') + '\n');
    const embed = async (model: string, name: string) => {
      const r = await tabtune(['embed', '--model', model, '--texts', join(work, 'texts-lora.txt'), '--out', join(work, name)]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(readFileSync(join(work, name), 'utf8')) as { embeddings: number[][] }).embeddings.flat();
    };
    const want = await embed(dir, 'emb-lora.json');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${work}/`;
    const extractor = await pipeline('feature-extraction', 'lora-merged', { dtype: 'fp32' });
    const got = (await extractor(texts, { pooling: 'cls', normalize: true })).data as Float32Array;
    expect(got.length).toBe(want.length);
    const err = Math.max(...want.map((v, i) => Math.abs(got[i] - v)));
    console.log(`LoRA merged ONNX: transformers.js vs tabtune embed max abs err ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
    expect(readFileSync(join(work, 'lora-merged/README.md'), 'utf8')).toContain('the adapters are merged into the weights');

    // Adapter export: PEFT's folder on the base, as sentence-transformers saves one.
    const adapter = await tabtune(['export', '--model', dir, '--out', join(work, 'lora-adapter'), '--adapter']);
    expect(adapter.code, adapter.stderr).toBe(0);
    const adapterFiles = Object.keys(folderDigest(join(work, 'lora-adapter'))).sort();
    expect(adapterFiles).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'modules.json', '1_Pooling/config.json', 'tokenizer.json', 'README.md']));
    expect(adapterFiles.filter((p) => p === 'model.safetensors' || p === 'config.json' || p.startsWith('onnx/'))).toEqual([]);
    const peft = parseSafetensors(new Uint8Array(readFileSync(join(work, 'lora-adapter/adapter_model.safetensors'))));
    for (const [name, v] of values) expect(peft.tensors.get(`base_model.model.${name}`)!.data, name).toEqual(v);
    expect(Math.max(...[...values].filter(([n]) => n.endsWith('lora_B.weight')).flatMap(([, v]) => [...v].map(Math.abs)))).toBeGreaterThan(0); // trained
    expect(JSON.parse(readFileSync(join(work, 'lora-adapter/adapter_config.json'), 'utf8'))).toMatchObject({
      peft_type: 'LORA', task_type: 'FEATURE_EXTRACTION', base_model_name_or_path: 'org/tiny-bge', r: 4, lora_alpha: 8, target_modules: ['query', 'value', 'output.dense'],
    });
    expect(readFileSync(join(work, 'lora-adapter/README.md'), 'utf8')).toContain('A PEFT LoRA adapter');

    // The Hub push takes the same form.
    const pushed = await tabtune(['push', '--model', dir, '--repo', 'me/tiny-lora-adapter', '--adapter'], { HF_TOKEN: TOKEN });
    expect(pushed.code, pushed.stderr).toBe(0);
    const files = hub.repoInfo('me/tiny-lora-adapter')!.files;
    expect(files).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'README.md']));
    expect(files.filter((p) => p === 'model.safetensors' || p === 'config.json')).toEqual([]);
    const pushedCard = await (await fetch(`${hub.url}/me/tiny-lora-adapter/resolve/main/README.md`)).text();
    expect(pushedCard).toContain('model.load_adapter("me/tiny-lora-adapter")');

    // Refusals (the CLI's check, called directly): no ONNX for an adapter; no adapter for a run without one.
    const runFiles = (await readFolder(dir)).files;
    expect(() => exportForm({ adapter: true, onnx: true }, runFiles, 'export')).toThrow(/--adapter has no ONNX/);
    expect(() => exportForm({ adapter: true }, new Map([...runFiles].filter(([p]) => !p.startsWith('adapter_'))), 'export')).toThrow(/only a LoRA run/);
    expect(exportForm({ adapter: true }, runFiles, 'export')).toBe('adapter');
  }, 120_000);
});

describe('tabtune push', () => {
  it('creates the repo, uploads every file in one commit, and the pushed model evaluates like the folder', async () => {
    const before = folderDigest(trained);
    const r = await tabtune(['push', '--model', trained, '--repo', 'me/tuned', '--private', '--onnx'], { HF_TOKEN: TOKEN });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/created .*\/me\/tuned as me; commit .*\/me\/tuned\/commit\/[0-9a-f]{40}/);
    expect(r.stderr).toMatch(/push me\/tuned .*100%/);
    const info = hub.repoInfo('me/tuned')!;
    expect(info.private).toBe(true);
    expect(info.files).toEqual(expect.arrayContaining(['model.safetensors', 'onnx/model.onnx', 'README.md', 'tokenizer.json', 'eval_results.json']));
    expect(hub.requests.filter((q) => q.method === 'PUT' && q.url.startsWith('/lfs-upload/')).length).toBeGreaterThanOrEqual(2);
    expect(folderDigest(trained)).toEqual(before);
    // The card names the repo in its usage snippets.
    const card = await (await fetch(`${hub.url}/me/tuned/resolve/main/README.md`)).text();
    expect(card).toContain('SentenceTransformer("me/tuned")');
    // Downloaded through our own loader and evaluated: the run's "after" numbers.
    const e = await tabtune(['eval', '--model', 'me/tuned', '--data', 'org/qa-tiny', '--out', join(work, 'pushed-eval.json')]);
    expect(e.code, e.stderr).toBe(0);
    const pushed = JSON.parse(readFileSync(join(work, 'pushed-eval.json'), 'utf8'));
    const after = JSON.parse(readFileSync(join(trained, 'eval_results.json'), 'utf8')).after;
    expect(pushed.metrics['dim_32_cosine_ndcg@10']).toBe(after['dim_32_cosine_ndcg@10']);
  }, 240_000);

  it('says what went wrong for a bad token, no write access, an existing repo and no network, and loses nothing', async () => {
    const before = folderDigest(trained);
    const bad = await tabtune(['push', '--model', trained, '--repo', 'me/other'], { HF_TOKEN: 'hf_not_a_token' });
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/The Hub refused the token \(HTTP 401\) while checking the token: check it at .*\/settings\/tokens/)]);
    const notHf = await tabtune(['push', '--model', trained, '--repo', 'me/other'], { HF_TOKEN: 'abc' });
    expect(notHf.stderr).toMatch(/tokens start with "hf_"/);
    const readOnly = await tabtune(['push', '--model', trained, '--repo', 'reader/tuned'], { HF_TOKEN: READ_TOKEN });
    expect(readOnly.stderr).toMatch(/The token may not write to reader\/tuned \(HTTP 403\)/);
    const other = await tabtune(['push', '--model', trained, '--repo', 'someone/tuned'], { HF_TOKEN: TOKEN });
    expect(other.stderr).toMatch(/may not write to someone\/tuned \(HTTP 403\)/);
    const exists = await tabtune(['push', '--model', trained, '--repo', 'org/tiny-bge'], { HF_TOKEN: TOKEN });
    expect(exists.stderr).toMatch(/may not write|exists already/);
    const again = await tabtune(['push', '--model', trained, '--repo', 'me/tuned'], { HF_TOKEN: TOKEN });
    expect(again.stderr).toMatch(/me\/tuned exists already on .* allow updating it .*Nothing was uploaded/);
    const update = await tabtune(['push', '--model', trained, '--repo', 'me/tuned', '--update'], { HF_TOKEN: TOKEN });
    expect(update.code, update.stderr).toBe(0);
    expect(update.stderr).toMatch(/updated .*\/me\/tuned/);
    hub.setUploadsOffline(true);
    try {
      const offline = await tabtune(['push', '--model', trained, '--repo', 'me/offline'], { HF_TOKEN: TOKEN });
      expect(offline.stderr).toMatch(/Could not reach .* while creating me\/offline .*Your model is unchanged here/);
    } finally {
      hub.setUploadsOffline(false);
    }
    expect(hub.repoInfo('me/other')).toBeNull();
    expect(hub.repoInfo('reader/tuned')).toBeNull();
    expect(folderDigest(trained)).toEqual(before);
  }, 240_000);
});

describe('tabtune script', () => {
  it('writes a train.py that compiles and holds the run config\'s hyperparameters', async () => {
    const config = join(trained, 'run_config.json');
    const out = join(work, 'train.py');
    const r = await tabtune(['script', '--config', config, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/accelerate launch .*torchrun --nproc_per_node N/);
    const py = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile('/usr/bin/python3', ['-c', [
        'import ast, json, py_compile, sys',
        `py_compile.compile(${JSON.stringify(out)}, doraise=True)`,
        `tree = ast.parse(open(${JSON.stringify(out)}).read())`,
        'consts = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and n.targets[0].id.isupper()}',
        'print(json.dumps(consts))',
      ].join('\n')], (err, stdout, stderr) => done({ code: err ? 1 : 0, stdout, stderr })),
    );
    expect(py.code, py.stderr).toBe(0);
    const c = JSON.parse(py.stdout);
    const cfg = parseRunConfig(JSON.parse(readFileSync(config, 'utf8')));
    expect(c).toMatchObject({
      MODEL_ID: cfg.model.id, MODEL_REVISION: cfg.model.revision, DATASET_ID: cfg.data.source, LOSS: cfg.loss.type, LOSS_SCALE: cfg.loss.scale,
      MATRYOSHKA_DIMS: cfg.loss.matryoshka!.dims, BATCH_SIZE: cfg.batchSize, EPOCHS: cfg.epochs, MAX_STEPS: cfg.maxSteps ?? -1, LEARNING_RATE: cfg.lr,
      LR_SCHEDULER: cfg.scheduler, WARMUP_RATIO: cfg.warmupRatio, WARMUP_STEPS: cfg.warmupSteps, WEIGHT_DECAY: cfg.weightDecay, MAX_GRAD_NORM: cfg.maxGradNorm,
      GRADIENT_ACCUMULATION: cfg.accumulation, SEED: cfg.seed, BATCH_SAMPLER: cfg.sampler, DROPOUT: cfg.dropout, TEST_SPLIT: cfg.data.testSplit,
    });
    expect(cfg.maxSteps).toBe(20);
    expect(c.MAX_STEPS).toBe(20);
  });
});

describe('what leaves the machine', () => {
  it('a run from absolute paths, with .env, .git/config and stray files in its folder: export and push carry only the package, and no path', async () => {
    const dataFile = join(f.qaTiny, 'train.jsonl'); // absolute: the fixtures' folder
    const run = join(work, 'local-run');
    const t = await tabtune(['train', '--model', f.tinyBge, '--data', dataFile, '--output', run, '--batchSize', '16', '--maxSteps', '2', '--quiet']);
    expect(t.code, t.stderr).toBe(0);
    const planted = ['.env', '.git/config', 'notes.txt', '1_Pooling/.secret', 'private/keys.txt'];
    for (const p of planted) {
      mkdirSync(join(run, p, '..'), { recursive: true });
      writeFileSync(join(run, p), `HF_TOKEN=hf_planted_${p}\n`);
    }
    const out = join(work, 'local-export');
    const zip = join(work, 'local.zip');
    const e = await tabtune(['export', '--model', run, '--out', out, '--zip', zip, '--onnx']);
    expect(e.code, e.stderr).toBe(0);
    const p = await tabtune(['push', '--model', run, '--repo', 'me/local-run', '--onnx'], { HF_TOKEN: TOKEN });
    expect(p.code, p.stderr).toBe(0);

    const want = [
      '1_Pooling/config.json', 'README.md', 'config.json', 'config_sentence_transformers.json', 'eval_results.json', 'model.safetensors', 'modules.json',
      'onnx/model.onnx', 'run_config.json', 'sentence_bert_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt',
    ];
    const exported = Object.keys(folderDigest(out)).sort();
    expect(exported).toEqual(want);
    const zipped = unzipSync(new Uint8Array(readFileSync(zip)));
    expect(Object.keys(zipped).sort()).toEqual(want);
    expect([...hub.repoInfo('me/local-run')!.files].filter((x) => x !== '.gitattributes').sort()).toEqual(want);

    // No file names a local folder: not the data's, the model's, the run's or the temp root.
    const local = [f.qaTiny, f.tinyBge, run, work, ROOT];
    const script = join(work, 'local-train.py');
    const sc = await tabtune(['script', '--config', join(out, 'run_config.json'), '--out', script]);
    expect(sc.code, sc.stderr).toBe(0);
    const card = await (await fetch(`${hub.url}/me/local-run/resolve/main/README.md`)).text();
    const record = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as RunRecord;
    const texts: [string, string][] = [
      ...Object.entries(zipped).map(([name, b]) => [`zip ${name}`, Buffer.from(b).toString('latin1')] as [string, string]),
      ...exported.map((name) => [`folder ${name}`, readFileSync(join(out, name), 'latin1')] as [string, string]),
      ['train.py', readFileSync(script, 'utf8')], ['pushed README.md', card], ['commit message', commitMessage(record)],
    ];
    for (const [what, text] of texts) for (const dir of local) expect(text.includes(dir), `${what} holds ${dir}`).toBe(false);
    // They name the data by its file name and the model by its folder's.
    const config = JSON.parse(readFileSync(join(out, 'run_config.json'), 'utf8'));
    expect([config.model.id, config.data.source, config.output]).toEqual(['tiny-bge', 'train.jsonl', null]);
    expect(card).toContain('`train.jsonl`');
    expect(commitMessage(record)).toMatch(/^tabtune: tiny-bge fine-tuned on train\.jsonl \(2 updates/);
    expect(readFileSync(script, 'utf8')).toMatch(/^DATASET_ID = "train\.jsonl"$/m);
    // The run itself keeps its paths (run.json stays home: export --quantize reads the data from it).
    expect(record.dataSource).toBe(dataFile);
    // Repeating the run from elsewhere says where the bare names are looked for.
    const again = await tabtune(['train', '--config', join(out, 'run_config.json'), '--output', join(work, 'again')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--model tiny-bge: no such file or folder, and not a Hub id (owner/name[@revision]) (a run config names local files without their folder: run from the folder that holds tiny-bge, or give --model PATH)');
  }, 240_000);
});

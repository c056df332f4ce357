// `tabtune train` as a user runs it (`node bin/tabtune.js train …` in a child process) on the
// fixtures: the written folder loads back, its trained tensors changed and the rest did not,
// test nDCG@10 rose well above the untrained model's, the log has a line per step, Ctrl-C after
// any micro-batch of an accumulation group stops at the update boundary and --resume ends
// bit-identical (in-process, so the signal lands exactly), a resume with other data is refused,
// the model and data come from a (local) Hub as from folders, sharded weights train like the
// single file, eval.everyEpoch logs eval_ lines (the last equal to evaluating the written model),
// and a real SIGINT leaves a checkpoint that --resume finishes from; --output refuses a non-empty
// folder that is not a tabtune run, touching nothing in it.

import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../tests/hub/local-hub.ts';
import { prepareDataset } from '../lib/data/dataset.ts';
import { hygieneLines } from '../lib/data/hygiene.ts';
import { parseDataFile } from '../lib/data/parse.ts';
import { evaluateModel } from '../lib/eval/evaluate-model.ts';
import { buildIrSet } from '../lib/eval/ir-set.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { parseSafetensors, writeSafetensors } from '../lib/models/safetensors.ts';
import { loadSentenceModelFromDir } from '../lib/models/sentence-model-node.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../lib/tokenize/node.ts';
import type { RunEvent } from '../lib/run/run.ts';
import { trainCommand } from './train.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/tabtune.js');

const childEnv = (extra: Record<string, string> = {}) => ({ ...process.env, TABTUNE_CACHE: join(work, 'cache'), TABTUNE_HUB_URL: '', ...extra });

function tabtune(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000, env: childEnv(env) }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** `tabtune train` in this process, with the run's events; stdout/stderr captured as text. */
async function inProcess(args: string[], onEvent?: (e: RunEvent) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  try {
    return { code: await trainCommand(args, io, { onEvent }), stdout, stderr };
  } catch (e) {
    return { code: 1, stdout, stderr: stderr + String(e) };
  }
}

const tensorsOf = (dir: string) => parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors')))).tensors;

function expectSameWeights(a: string, b: string): void {
  const [x, y] = [tensorsOf(a), tensorsOf(b)];
  expect([...y.keys()].sort()).toEqual([...x.keys()].sort());
  for (const [name, t] of x) expect(y.get(name)!.data, name).toEqual(t.data);
}

/** tiny-bge with its weights split into two shards + model.safetensors.index.json, as the Hub keeps large models. */
function shardedCopy(dir: string): string {
  cpSync(f.tinyBge, dir, { recursive: true });
  const whole = tensorsOf(dir);
  rmSync(join(dir, 'model.safetensors'));
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const parts = [new Map(), new Map()];
  const weightMap: Record<string, string> = {};
  for (const [name, t] of whole) {
    const k = name.startsWith('encoder.layer.1.') || name.startsWith('pooler.') ? 1 : 0;
    parts[k].set(name, t);
    weightMap[name] = names[k];
  }
  names.forEach((n, k) => writeFileSync(join(dir, n), writeSafetensors(parts[k], { format: 'pt' })));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return dir;
}

let work: string;
let f: ReturnType<typeof ensureFixtures>;
let hub: LocalHub;
beforeAll(async () => {
  f = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-train-'));
  hub = await startLocalHub({
    models: { 'org/tiny-bge': f.tinyBge, 'org/tiny-bge-sharded': shardedCopy(join(work, 'sharded')) },
    datasets: { 'org/qa-tiny': f.qaTiny },
  });
});
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('tabtune train', () => {
  it('refuses an --output folder that holds files and no tabtune run, leaving every file and mtime as it was', async () => {
    const dir = join(work, 'not-a-run');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    for (const [name, text] of [['README.md', '# my project'], ['config.json', '{"mine":true}'], ['sub/notes.txt', 'x'], ['.env', 'SECRET=1']]) writeFileSync(join(dir, name), text);
    const snapshot = () => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort().map((p) => [p, statSync(join(dir, p)).mtimeMs, statSync(join(dir, p)).isFile() ? readFileSync(join(dir, p), 'utf8') : null]);
    const before = snapshot();
    for (const extra of [[], ['--resume']]) {
      const r = await inProcess(['--model', f.tinyBge, '--data', f.qaTiny, '--output', dir, '--maxSteps', '1', '--quiet', ...extra]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `--output ${dir} is not empty (.env, README.md, config.json, sub) and is not a tabtune run's folder (no run.json): a run would overwrite files there, so nothing was written. ` +
          `Choose a new or empty folder; to continue a tabtune run, give that run's own output folder with --resume.`,
      );
    }
    expect(snapshot()).toEqual(before);
    // A file is no folder; an empty folder is fine (the model is then loaded: the refusal came first above).
    writeFileSync(join(work, 'a-file'), '');
    expect((await inProcess(['--model', f.tinyBge, '--data', f.qaTiny, '--output', join(work, 'a-file')])).stderr).toContain('is a file, not a folder');
  });

  it('trains qa-tiny, evaluates before/after and writes a loadable sentence-transformers folder', async () => {
    const out = join(work, 'run');
    // Sanity run: 8 epochs at batch 16 (80 steps, ~3 s), lr 2e-3, linear decay, no warmup.
    const r = await tabtune(['train', '--model', f.tinyBge, '--data', f.qaTiny, '--output', out, '--batchSize', '16', '--epochs', '8', '--lr', '2e-3', '--warmupRatio', '0', '--scheduler', 'linear']);
    expect(r.stderr).toMatch(/training path: fused/);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8'));
    const before = results.before['dim_32_cosine_ndcg@10'];
    const after = results.after['dim_32_cosine_ndcg@10'];
    console.log(`qa-tiny test nDCG@10 (dim 32): before ${before.toFixed(4)}, after ${after.toFixed(4)}`);
    expect(after).toBeGreaterThan(before + 0.2);
    expect(readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(80);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/dim_32_cosine_ndcg@10/);

    const trained = loadSentenceModelFromDir(out);
    const base = loadSentenceModelFromDir(f.tinyBge);
    expect(trained.pooling).toBe('cls');
    expect(trained.normalize).toBe(true);
    let changed = 0;
    for (const [name, w] of base.weights) {
      const t = trained.weights.get(name)!;
      const same = t.data.every((x, i) => x === w.data[i]);
      if (name.startsWith('pooler.')) expect(same, name).toBe(true);
      else if (!same) changed++;
    }
    expect(changed).toBeGreaterThan(30);
    const src = parseSafetensors(new Uint8Array(readFileSync(join(f.tinyBge, 'model.safetensors'))));
    const dst = parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
    expect([...dst.tensors.keys()].sort()).toEqual([...src.tensors.keys()].sort());
    for (const file of ['tokenizer.json', 'vocab.txt', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) {
      expect(readFileSync(join(out, file)).equals(readFileSync(join(f.tinyBge, file))), file).toBe(true);
    }
    expect(existsSync(join(out, '2_Normalize'))).toBe(true);
  });

  it('Ctrl-C after any micro-batch of an accumulation group stops at the update boundary; --resume ends bit-identical', async () => {
    // In-process, so SIGINT arrives exactly after micro-batch k of update 2 (process.emit runs the
    // command's own handler). Accumulation 4, GradCache, dropout on, the WASM EP.
    const common = ['--model', f.tinyBge, '--data', f.qaTiny, '--batchSize', '8', '--accumulation', '4', '--gradCache.miniBatchSize', '4', '--maxSteps', '3',
      '--lr', '1e-3', '--warmupSteps', '1', '--seed', '5', '--backend', 'wasm', '--no-eval.before', '--no-eval.after', '--quiet'];
    const full = join(work, 'accum-full');
    expect((await inProcess([...common, '--output', full])).code).toBe(0);
    for (let k = 1; k <= 4; k++) {
      const out = join(work, `accum-cancel-${k}`);
      const cut = await inProcess([...common, '--output', out], (e) => {
        if (e.type === 'micro-batch' && e.step === 2 && e.microBatch === k) process.emit('SIGINT');
      });
      expect(cut.code, cut.stderr).toBe(130);
      expect(cut.stderr).toMatch(/interrupted at step 2 of 3; checkpoint \S+checkpoint-2\.safetensors\nresume with: tabtune train .* --resume\n/);
      if (k < 4) expect(cut.stderr).toContain(`finishing update 2 (${k} of its 4 micro-batches done) before stopping`);
      // The two newest are kept (a resume falls back to the older if the newer cannot be read).
      expect(readdirSync(join(out, 'checkpoints'))).toEqual(['checkpoint-1.safetensors', 'checkpoint-2.safetensors']);
      const r = await inProcess([...common, '--output', out, '--resume']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`resumed from ${join(out, 'checkpoints', 'checkpoint-2.safetensors')} at step 2`);
      expectSameWeights(full, out);
      expect(readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    }
  });

  it('--resume with other training rows is refused, naming the difference, and loses nothing', async () => {
    const out = join(work, 'refuse');
    const common = ['--model', f.tinyBge, '--batchSize', '16', '--maxSteps', '4', '--no-eval.before', '--no-eval.after', '--quiet', '--output', out];
    const cut = await inProcess(['--data', f.qaTiny, ...common], (e) => {
      if (e.type === 'step' && e.step === 2) process.emit('SIGINT');
    });
    expect(cut.code, cut.stderr).toBe(130);
    const fewer = join(work, 'fewer.jsonl');
    writeFileSync(fewer, readFileSync(join(f.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').slice(0, 150).join('\n'));
    const r = await tabtune(['train', '--data', fewer, ...common, '--resume']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/resume refused: the training data differs: the checkpoint was trained on 160 rows of .*qa-tiny \(sha256 [0-9a-f]{12}\), this run has 135 rows of .*fewer\.jsonl/);
    expect(readdirSync(join(out, 'checkpoints'))).toEqual(['checkpoint-1.safetensors', 'checkpoint-2.safetensors']);
    expect((await tabtune(['train', '--data', f.qaTiny, ...common, '--resume'])).code).toBe(0);
  });

  it('prints the data hygiene counts as warnings before training, and applies the remedies it is given', async () => {
    // qa-tiny with its first training row twice; every test question asks about a trained document.
    const dir = join(work, 'dirty');
    mkdirSync(dir);
    const rows = readFileSync(join(f.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(join(dir, 'train.jsonl'), [...rows, rows[0]].join('\n') + '\n');
    cpSync(join(f.qaTiny, 'test.jsonl'), join(dir, 'test.jsonl'));
    const splits = { train: await parseDataFile('train.jsonl', readFileSync(join(dir, 'train.jsonl'))), test: await parseDataFile('test.jsonl', readFileSync(join(dir, 'test.jsonl'))) };
    const p = prepareDataset(splits, { source: dir });
    expect([p.hygiene.duplicates.train, p.hygiene.leakedTest.rows]).toEqual([1, p.test.length]);
    const common = ['--model', f.tinyBge, '--data', dir, '--batchSize', '16', '--maxSteps', '1', '--no-eval.before', '--no-eval.after', '--quiet'];
    const plain = await inProcess([...common, '--output', join(work, 'dirty-plain')]);
    expect(plain.code, plain.stderr).toBe(0);
    const warned = hygieneLines(p.hygiene, p.remedied, 'no_duplicates').map((l) => `warning: ${l}\n`).join('');
    expect(plain.stderr).toContain(warned);
    expect(plain.stderr.indexOf(warned)).toBeLessThan(plain.stderr.indexOf('training path'));
    const fixed = await inProcess([...common, '--data.dropDuplicates', '--data.moveLeakedTest', '--output', join(work, 'dirty-fixed')]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stderr).toMatch(/^warning: .*leaked test rows not moved: all \d+ test rows have a training positive/m);
    expect(fixed.stderr).toMatch(/^warning: 1 duplicate train rows and 0 duplicate test rows .*; dropped 1$/m);
    expect(JSON.parse(readFileSync(join(work, 'dirty-fixed', 'run.json'), 'utf8')).config.data).toMatchObject({ dropDuplicates: true, moveLeakedTest: true });
  });

  const short = ['--batchSize', '16', '--lr', '1e-3', '--maxSteps', '4', '--no-eval.before', '--no-eval.after', '--quiet'];

  it('trains from the Hub (--hub, then TABTUNE_HUB_URL) exactly as from folders, sharded weights included', async () => {
    const local = join(work, 'from-folders');
    expect((await tabtune(['train', '--model', f.tinyBge, '--data', f.qaTiny, '--output', local, ...short])).code).toBe(0);

    const fromHub = join(work, 'from-hub');
    const r = await tabtune(['train', '--model', 'org/tiny-bge', '--data', 'org/qa-tiny', '--hub', hub.url, '--output', fromHub, ...short]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^model org\/tiny-bge .*100%/m);
    expect(r.stderr).toMatch(/^data org\/qa-tiny .*100%/m);
    expect(r.stderr).toMatch(/^model org\/tiny-bge@main: /m);
    expectSameWeights(local, fromHub);
    for (const file of ['tokenizer.json', 'vocab.txt', 'modules.json', '1_Pooling/config.json']) {
      expect(readFileSync(join(fromHub, file)).equals(readFileSync(join(local, file))), file).toBe(true);
    }
    expect(existsSync(join(fromHub, '2_Normalize'))).toBe(true);

    const sharded = join(work, 'from-sharded');
    const s = await tabtune(['train', '--model', 'org/tiny-bge-sharded', '--data', 'org/qa-tiny', '--output', sharded, ...short], { TABTUNE_HUB_URL: hub.url });
    expect(s.code, s.stderr).toBe(0);
    expect(hub.requests.some((q) => q.file === 'model-00002-of-00002.safetensors' && q.bytesSent > 0)).toBe(true);
    expectSameWeights(local, sharded);
    expect(readdirSync(sharded).filter((n) => n.includes('safetensors')).sort()).toEqual(['model.safetensors']);
    expect(loadSentenceModelFromDir(sharded).weights.size).toBe(loadSentenceModelFromDir(local).weights.size);
  });

  it('eval.everyEpoch logs eval_ metrics per epoch, the last equal to evaluating the written model', async () => {
    const out = join(work, 'every-epoch');
    const r = await tabtune(['train', '--model', f.tinyBge, '--data', f.qaTiny, '--output', out, '--batchSize', '16', '--epochs', '2', '--lr', '1e-3', '--eval.everyEpoch', '--no-eval.before', '--quiet', '--checkpoint-every', '1']);
    // A finished run keeps its model, not its checkpoints.
    expect(existsSync(join(out, 'checkpoints'))).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.type === 'step');
    expect(steps).toHaveLength(20);
    const evals = lines.filter((l) => l.type === 'eval');
    // The no-duplicates sampler's first epoch may take more batches than the plan's 10 per epoch, so
    // the second evaluation is at the plan's last step, inside epoch 2 (as the HF trainer's at max_steps).
    expect(evals).toHaveLength(2);
    expect(evals[0].epoch).toBe(1);
    expect(evals[0].step).toBeGreaterThanOrEqual(10);
    expect([evals[1].step, evals[1].epoch]).toEqual([20, steps[19].epoch]);
    // Each eval line comes right after its step's line, and the epoch-1 one where epoch 2 begins.
    for (const e of evals) expect(lines[lines.indexOf(e) - 1]).toMatchObject({ type: 'step', step: e.step });
    expect(steps[evals[0].step - 1].epoch).toBe(1);
    expect(steps[evals[0].step].epoch).toBeLessThan(2);
    expect(r.stderr).toMatch(new RegExp(`^epoch 1 \\(step ${evals[0].step}\\): dim 32 nDCG@10 `, 'm'));

    // The last line against an evaluation of the written model in this process.
    const table = async (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(readFileSync(join(f.qaTiny, `${split}.jsonl`))));
    const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: f.qaTiny });
    const encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(out));
    const want = await evaluateModel({ encoder, tokenizer: loadTokenizerFromDir(f.tinyBge), set: buildIrSet(data.train, data.test), dims: [32] });
    await encoder.dispose();
    // The metrics (eval_runtime, the seconds the evaluation took, is HF's timing key, not a metric).
    expect(evals[1].eval_runtime).toBeGreaterThan(0);
    const got = Object.fromEntries(Object.entries(evals[1]).filter(([k]) => k.startsWith('eval_') && k !== 'eval_runtime').map(([k, v]) => [k.slice(5), v]));
    expect(got).toEqual(want.metrics);
    expect(evals[0]['eval_dim_32_cosine_ndcg@10']).not.toBe(evals[1]['eval_dim_32_cosine_ndcg@10']);
    // The final evaluation is the last epoch's.
    const results = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8'));
    expect(results.after['dim_32_cosine_ndcg@10']).toBe(evals[1]['eval_dim_32_cosine_ndcg@10']);
  });

  it('Ctrl-C stops at a step boundary with a checkpoint and exit 130; --resume finishes like an uninterrupted run', async () => {
    const common = ['--model', f.tinyBge, '--data', f.qaTiny, '--batchSize', '16', '--lr', '1e-3', '--maxSteps', '60', '--no-eval.before', '--no-eval.after', '--checkpoint-every', '1000'];
    const full = join(work, 'sigint-full');
    expect((await tabtune(['train', ...common, '--quiet', '--output', full])).code).toBe(0);

    const out = join(work, 'sigint');
    const child = spawn(process.execPath, [BIN, 'train', ...common, '--output', out], { env: childEnv() });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // The first progress line is drawn at step 1.
      if (!sent && /train loss/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    expect(sent).toBe(true);
    expect(code, stderr).toBe(130);
    const m = /interrupted at step (\d+) of 60; checkpoint (\S+)\nresume with: tabtune train .* --resume\n/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThanOrEqual(1);
    expect(step).toBeLessThan(60);
    expect(readdirSync(join(out, 'checkpoints'))).toEqual([`checkpoint-${step}.safetensors`]);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    expect(readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(step);

    const r = await tabtune(['train', ...common, '--quiet', '--output', out, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resumed from ${join(out, 'checkpoints', `checkpoint-${step}.safetensors`)} at step ${step}`);
    expectSameWeights(full, out);
    expect(readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(60);
  });
});

// Evaluation during training on the fixtures (onnxruntime-node, tiny-bge, qa-tiny): the plotted
// nDCG@10 series equals evaluating each update's checkpoint afterwards; "use the best" writes
// exactly the weights of the best update's checkpoint (bit for bit) and "use the last" the last's;
// a run cancelled after its best and resumed keeps that best; early stopping ends after `patience`
// evaluations without improvement and keeps the best; a LoRA run's switch writes the merged model
// and the adapter file exactly as a run that chose that update at its end. Checkpoints are captured
// as the run writes them (a store that copies every checkpoint), so each update's weights can be
// compared afterwards.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { trainCommand } from '../../cli/train.ts';
import { evalCurves } from '../../ui/plot-data.ts';
import { prepareDataset } from '../data/dataset.ts';
import { parseDataFile } from '../data/parse.ts';
import { evaluateModel } from '../eval/evaluate-model.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, isLoraName, runExportWeights } from '../export/lora-export.ts';
import { trainScript } from '../export/python-script.ts';
import { exportSentenceTransformers } from '../export/st-folder.ts';
import { architectureOfType, bareWeightName } from '../models/architectures.ts';
import { BertEncoder } from '../models/encoder.ts';
import { parseSafetensors } from '../models/safetensors.ts';
import { parameterSet } from '../models/parameter-set.ts';
import { loadSentenceModel, withSingleWeightsFile } from '../models/sentence-model.ts';
import { readModelFolder } from '../models/sentence-model-node.ts';
import { createRuntime } from '../runtime/index.ts';
import type { Runtime } from '../runtime/types.ts';
import { PlainFolderStore } from '../store/plain-folder-store.ts';
import type { StoreValue } from '../store/store.ts';
import { joinParts } from '../util/bytes.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import { readCheckpoint } from '../train/checkpoint.ts';
import { parseRunConfig, type RunConfig, RunConfigError } from '../train/run-config.ts';
import { bestOf, evalEvery, metricValue } from './best.ts';
import { modelIdentity } from './identity.ts';
import { KEPT_PREFIX, keptKey, readRunRecord } from './record.ts';
import { buildRunIrSet, type RunData, type RunEvent, type RunModel, runEvalDims, runTraining, useKeptWeights } from './run.ts';

let f: FixturePaths;
let runtime: Runtime;
let work: string;
let tinyBge: RunModel;
let data: RunData;

beforeAll(async () => {
  f = ensureFixtures();
  runtime = await createRuntime('node');
  work = mkdtempSync(join(tmpdir(), 'tabtune-during-'));
  const files = readModelFolder(f.tinyBge);
  tinyBge = { name: f.tinyBge, model: loadSentenceModel(files), tokenizer: loadTokenizerFromDir(f.tinyBge), files, identity: await modelIdentity(f.tinyBge, files) };
  const table = (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(readFileSync(join(f.qaTiny, `${split}.jsonl`))));
  const p = prepareDataset({ train: await table('train'), test: await table('test') }, { source: f.qaTiny });
  data = { source: 'qa-tiny', train: p.train, test: p.test };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

// 160 rows, batch 16 → 10 updates an epoch; a large learning rate so the metric rises and then falls.
const config = (evalExtra: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): RunConfig =>
  parseRunConfig({
    model: { id: 'tiny-bge' }, data: { source: 'qa-tiny' }, batchSize: 16, maxSteps: 8, lr: 2e-2, warmupSteps: 0, scheduler: 'constant',
    dropout: false, gradCache: 'off', loss: { type: 'mnrl', matryoshka: { dims: [32, 16] } }, seed: 5,
    eval: { before: false, after: true, everyUpdates: 1, ...evalExtra }, ...extra,
  });

/** A folder store that also keeps a copy of every checkpoint written, by step (the run prunes its own to two). */
class CapturingStore extends PlainFolderStore {
  readonly checkpoints = new Map<number, Uint8Array>();
  override async set(key: string, value: StoreValue): Promise<void> {
    const m = /^checkpoints\/checkpoint-(\d+)\.safetensors$/.exec(key);
    if (m) this.checkpoints.set(Number(m[1]), joinParts(value instanceof Uint8Array ? [value] : value).slice());
    return super.set(key, value);
  }
}

let runNo = 0;
async function run(o: { cfg: RunConfig; store?: CapturingStore; resume?: boolean; cancelAtStep?: number }) {
  const store = o.store ?? new CapturingStore(join(work, `run-${runNo++}`));
  const controller = new AbortController();
  const events: RunEvent[] = [];
  const outcome = await runTraining({
    store, runtime, model: tinyBge, data, config: o.cfg, runId: 'during', resume: o.resume, checkpointEvery: 1, signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (o.cancelAtStep !== undefined && e.type === 'step' && e.step === o.cancelAtStep) controller.abort();
    },
  });
  return { store, outcome, events };
}

const arch = architectureOfType('bert')!;
/** The trained tensors of a model folder's model.safetensors, by bare name. */
async function modelWeights(store: PlainFolderStore): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of parseSafetensors((await store.get('model.safetensors'))!).tensors) out.set(bareWeightName(arch, name), t.data as Float32Array);
  return out;
}

/** Every weight of a checkpoint equals the model's tensor of the same name, bit for bit. */
function expectWeightsOf(model: Map<string, Float32Array>, checkpoint: Uint8Array, what: string): void {
  const c = readCheckpoint(checkpoint);
  expect(c.weights.size).toBeGreaterThan(0);
  for (const [name, w] of c.weights) {
    const m = model.get(name);
    expect(m, `${what}: ${name}`).toBeDefined();
    expect(Buffer.from(m!.buffer, m!.byteOffset, m!.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)), `${what}: ${name}`).toBe(true);
  }
}

let full: Awaited<ReturnType<typeof run>>;

describe('evaluation during training', () => {
  it('the plotted series equals evaluating each update\'s checkpoint afterwards', async () => {
    full = await run({ cfg: config({ best: 'mean' }) });
    const rec = full.outcome.record;
    expect(rec.evals.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rec.evals.every((e) => e.at === 'updates' && e.seconds! > 0)).toBe(true);
    const curves = evalCurves(rec.evals);
    expect(curves.dims).toEqual([32, 16]);
    const cfg = rec.config;
    const set = buildRunIrSet(cfg, data)!;
    for (const step of curves.update) {
      const c = readCheckpoint(full.store.checkpoints.get(step)!);
      const model = loadSentenceModel(readModelFolder(f.tinyBge));
      for (const [name, w] of c.weights) model.weights.get(name)!.data.set(w);
      const encoder = await BertEncoder.create(runtime, model);
      const again = await evaluateModel({ encoder, tokenizer: tinyBge.tokenizer, set, dims: runEvalDims(cfg, 32) });
      await encoder.dispose();
      curves.dims.forEach((d, i) => expect(curves.ndcg[i][curves.update.indexOf(step)], `update ${step}, dim ${d}`).toBe(again.metrics[`dim_${d}_cosine_ndcg@10`]));
    }
    // The log and eval_results.json carry the same evaluations.
    const log = readFileSync(join(full.store.root, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'eval');
    expect(log.map((l) => l['eval_dim_32_cosine_ndcg@10'])).toEqual(curves.ndcg[0]);
    const results = JSON.parse(readFileSync(join(full.store.root, 'eval_results.json'), 'utf8'));
    expect(results.during.map((e: { step: number }) => e.step)).toEqual(curves.update);
    expect(results.kept).toEqual(rec.kept);
  }, 120_000);

  it('"use the best" holds exactly the best update\'s checkpoint weights, "use the last" the last\'s, both ways', async () => {
    const rec = full.outcome.record;
    // The fixture's run peaks before its end, so the choice is a real one.
    const want = bestOf(rec.evals.map((e) => ({ step: e.step, value: metricValue(e.result, 'mean') })))!.best;
    expect(rec.best).toMatchObject({ metric: 'mean', step: want.step, value: want.value });
    expect(want.step).toBeLessThan(8);
    expect(rec.kept).toMatchObject({ choice: 'best', step: want.step, best: want.step, last: 8 });
    expect(rec.kept!.why).toBe(`eval.best: the best mean nDCG@10 (${want.value.toFixed(4)}) was at update ${want.step}; the last update (8) had ${metricValue(rec.evals[7].result, 'mean').toFixed(4)}`);
    expect(rec.after).toEqual(rec.evals.find((e) => e.step === want.step)!.result);
    expectWeightsOf(await modelWeights(full.store), full.store.checkpoints.get(want.step)!, 'best');
    // Only the choice not taken has its own file; the model holds the other.
    expect(await full.store.keys(KEPT_PREFIX)).toEqual([keptKey(8)]);
    expect(readFileSync(join(full.store.root, 'README.md'), 'utf8')).toContain(`update ${want.step}`);

    const last = await useKeptWeights(full.store, 'last');
    expect(last.kept).toMatchObject({ choice: 'last', step: 8 });
    expect(last.after).toEqual(rec.evals.find((e) => e.step === 8)!.result);
    expectWeightsOf(await modelWeights(full.store), full.store.checkpoints.get(8)!, 'last');
    expect(await full.store.keys(KEPT_PREFIX)).toEqual([keptKey(want.step)]);
    const back = await useKeptWeights(full.store, 'best');
    expect(back.kept).toMatchObject({ choice: 'best', step: want.step });
    expectWeightsOf(await modelWeights(full.store), full.store.checkpoints.get(want.step)!, 'best again');
    expect((await readRunRecord(full.store))!.kept!.choice).toBe('best');
  }, 120_000);

  it('a run cancelled after its best and resumed keeps that best, and ends as the uninterrupted run', async () => {
    const rec = full.outcome.record;
    const cancelAt = rec.best!.step + 1;
    const part = await run({ cfg: config({ best: 'mean' }), cancelAtStep: cancelAt });
    expect(part.outcome.status).toBe('stopped');
    expect(part.outcome.record.best).toMatchObject({ step: rec.best!.step });
    expect(await part.store.keys(KEPT_PREFIX)).toEqual([keptKey(rec.best!.step)]);
    const resumed = await run({ cfg: config({ best: 'mean' }), store: part.store, resume: true });
    expect(resumed.outcome.status).toBe('done');
    // The resumed run tells its listener the whole history (the page's chart after a reload), each evaluation once.
    const told = resumed.events.flatMap((e) => (e.type === 'eval' && e.which !== 'before' && e.which !== 'after' ? [e.step] : []));
    expect(told).toEqual(rec.evals.map((e) => e.step));
    const replayed = resumed.events.flatMap((e) => (e.type === 'eval' && e.replayed ? [e.step] : []));
    expect(replayed).toEqual(part.outcome.record.evals.map((e) => e.step));
    expect(resumed.outcome.record.best).toEqual(rec.best);
    expect(resumed.outcome.record.kept).toEqual(rec.kept);
    expect(resumed.outcome.record.evals.map((e) => e.result)).toEqual(rec.evals.map((e) => e.result));
    expectWeightsOf(await modelWeights(part.store), full.store.checkpoints.get(rec.best!.step)!, 'best after resume');
  }, 120_000);

  it('early stopping ends after `patience` evaluations without improvement and keeps the best', async () => {
    const values = full.outcome.record.evals.map((e) => ({ step: e.step, value: metricValue(e.result, 'mean') }));
    // Where an independent count says a patience of 2 stops: the first update with 2 evaluations since the best.
    let stopAt = -1;
    for (let i = 1; i <= values.length && stopAt < 0; i++) if (bestOf(values.slice(0, i))!.since >= 2) stopAt = values[i - 1].step;
    expect(stopAt).toBeGreaterThan(0);
    const early = await run({ cfg: config({ patience: 2 }) });
    const rec = early.outcome.record;
    expect(early.outcome.status).toBe('done');
    expect(rec.earlyStopped).toBe(true);
    expect(rec.step).toBe(stopAt);
    expect(rec.evals.map((e) => e.step)).toEqual(values.filter((v) => v.step <= stopAt).map((v) => v.step));
    const best = bestOf(values.filter((v) => v.step <= stopAt))!.best;
    expect(rec.kept).toMatchObject({ choice: 'best', step: best.step, last: stopAt });
    expect(rec.kept!.why).toMatch(/^early stopping: mean nDCG@10 did not improve for 2 evaluations after update/);
    expectWeightsOf(await modelWeights(early.store), full.store.checkpoints.get(best.step)!, 'early-stopped best');
  }, 120_000);

  it('the CLI: --eval.everyUpdates 1 --eval.best mean writes the best update\'s weights, and --use last / --use best switch, bit for bit', async () => {
    const out = join(work, 'cli');
    let stderr = '';
    const io = { stdout: { write: () => true }, stderr: { write: (t: string) => ((stderr += t), true) } };
    const args = ['--model', f.tinyBge, '--data', f.qaTiny, '--output', out, '--batchSize', '16', '--maxSteps', '8', '--lr', '2e-2', '--warmupSteps', '0', '--scheduler', 'constant',
      '--dropout=false', '--gradCache', 'off', '--loss.matryoshka.dims', '32,16', '--seed', '5', '--no-eval.before', '--eval.everyUpdates', '1', '--eval.best', 'mean', '--quiet'];
    expect(await trainCommand(args, io)).toBe(0);
    const best = full.outcome.record.best!.step;
    expect(stderr).toContain(`model: update ${best} (best): eval.best: the best mean nDCG@10`);
    expect(stderr).toContain(`to use the last (update 8) instead: tabtune train --output ${out} --use last`);
    const store = new PlainFolderStore(out);
    expectWeightsOf(await modelWeights(store), full.store.checkpoints.get(best)!, 'CLI best');
    expect(await trainCommand(['--output', out, '--use', 'last'], io)).toBe(0);
    expectWeightsOf(await modelWeights(store), full.store.checkpoints.get(8)!, 'CLI --use last');
    expect(JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8')).kept).toMatchObject({ choice: 'last', step: 8 });
    expect(await trainCommand(['--output', out, '--use', 'best'], io)).toBe(0);
    expectWeightsOf(await modelWeights(store), full.store.checkpoints.get(best)!, 'CLI --use best');
  }, 120_000);

  it('a LoRA run: "use the best" merges that update\'s adapters into the base as a finished run would, "use the last" gives the files back, bit for bit', async () => {
    const cfg = config({}, { trainable: { mode: 'lora', r: 2, alpha: 4, targetModules: ['query', 'value', 'output.dense'] }, lr: 5e-2 });
    const lora = await run({ cfg });
    const rec = lora.outcome.record;
    // Without eval.best the model is the last update's; the best comes before it, so the switch is a real one.
    expect(rec.kept).toMatchObject({ choice: 'last', step: 8, last: 8 });
    const best = rec.kept!.best;
    expect(best).toBeLessThan(8);
    const FILES = ['model.safetensors', ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE];
    const snapshot = async () => new Map(await Promise.all(FILES.map(async (p) => [p, Buffer.from((await lora.store.get(p))!)] as const)));
    const original = await snapshot();
    const same = (a: Map<string, Buffer>, b: Map<string, Buffer | Uint8Array>, what: string) => FILES.forEach((p) => expect(a.get(p)!.equals(b.get(p)!), `${what}: ${p}`).toBe(true));

    // No base, or another base: refused before anything is written.
    await expect(useKeptWeights(lora.store, 'best')).rejects.toThrow(/LoRA run: switching to the best update merges its adapters into the base model \(tiny-bge\), which is not given here/);
    const other = { kind: 'weights', name: 'other', sha256: '0'.repeat(64) } as const;
    await expect(useKeptWeights(lora.store, 'best', { base: async () => ({ weights: tinyBge.model.weights, identity: other }) })).rejects.toThrow(/trained from .* but the base model given .* is other/);
    same(await snapshot(), original, 'after the refusals');
    expect((await readRunRecord(lora.store))!.kept!.choice).toBe('last');

    // The base as the caller loads it: the model's own files, read again.
    const base = async () => ({ weights: loadSentenceModel(readModelFolder(f.tinyBge)).weights, identity: tinyBge.identity });
    const chosen = await useKeptWeights(lora.store, 'best', { base });
    expect(chosen.kept).toMatchObject({ choice: 'best', step: best });
    // What the run would have written had it chosen that update: its checkpoint's adapters, merged into the base.
    const c = readCheckpoint(lora.store.checkpoints.get(best)!);
    expect([...c.weights.keys()].every(isLoraName)).toBe(true);
    const want = runExportWeights({
      set: parameterSet(tinyBge.model.config, cfg.trainable), trained: c.weights, base: loadSentenceModel(readModelFolder(f.tinyBge)).weights, seed: cfg.seed, baseModel: 'tiny-bge', revision: null,
    });
    const wantModel = exportSentenceTransformers({ sourceFiles: withSingleWeightsFile(tinyBge.files), weights: want.weights, readme: '' }).get('model.safetensors')!;
    same(await snapshot(), new Map<string, Uint8Array>([['model.safetensors', joinParts(wantModel instanceof Uint8Array ? [wantModel] : wantModel)], ...want.adapterFiles!]), 'use the best');
    // The last update's adapters are kept exactly: switching back gives the original files.
    expect(await lora.store.keys(KEPT_PREFIX)).toEqual([keptKey(8)]);
    const back = await useKeptWeights(lora.store, 'last', { base });
    expect(back.kept).toMatchObject({ choice: 'last', step: 8 });
    same(await snapshot(), original, 'use the last');
    expect(await lora.store.keys(KEPT_PREFIX)).toEqual([keptKey(best)]);
  }, 120_000);

  it('eval.everyUpdates auto: N from the measured costs, recorded with its rule, and the last update evaluated', async () => {
    const r = await run({ cfg: config({ everyUpdates: 'auto', before: true }) });
    const rec = r.outcome.record;
    const cost = rec.evalCost!;
    expect(cost.every).toBeGreaterThanOrEqual(1);
    expect(cost.why).toMatch(/^auto: an evaluation takes [\d.]+ s \(measured\), an update [\d.]+ s, so every \d+ updates keeps evaluation under 15 % of the run's time$/);
    // N is the rule applied to the recorded figures.
    expect(cost.every).toBe(evalEvery({ evalS: cost.evalEachS!, updateS: cost.updateEachS!, maxSteps: 8 }));
    expect(rec.evals.at(-1)!.step).toBe(8);
    expect(cost.evalS).toBeGreaterThan(0);
    expect(cost.trainS).toBeGreaterThan(0);
    expect(r.events.filter((e) => e.type === 'eval-cost')).toHaveLength(rec.evals.length);
  }, 120_000);

  it('without eval.best the model is the last update\'s, with the best kept beside it', async () => {
    const r = await run({ cfg: config({}, { maxSteps: 4 }) });
    const rec = r.outcome.record;
    expect(rec.kept!.choice).toBe('last');
    expect(rec.kept!.step).toBe(4);
    expectWeightsOf(await modelWeights(r.store), r.store.checkpoints.get(4)!, 'last');
    expect(await r.store.keys(KEPT_PREFIX)).toEqual(rec.kept!.best === 4 ? [] : [keptKey(rec.kept!.best)]);
  }, 120_000);
});

describe('the eval config and the rule for N', () => {
  it('checks eval.everyUpdates, eval.best and eval.patience', () => {
    expect(parseRunConfig({ eval: { everyUpdates: 'auto', best: 'dim_768', patience: 3 } }).eval).toMatchObject({ everyUpdates: 'auto', best: 'dim_768', patience: 3 });
    const bad: [unknown, RegExp][] = [
      [{ everyUpdates: 0 }, /eval\.everyUpdates: must be ≥ 1/],
      [{ everyUpdates: 1, best: 'ndcg' }, /eval\.best: must be "mean", "dim_<d>"/],
      [{ everyUpdates: 1, patience: 0.5 }, /eval\.patience: must be an integer/],
      [{ patience: 2 }, /eval\.patience: early stopping counts evaluations during training/],
      [{ best: 'mean' }, /eval\.best: the best checkpoint is chosen among evaluations during training/],
    ];
    for (const [e, msg] of bad) expect(() => parseRunConfig({ eval: e })).toThrow(msg);
    expect(() => parseRunConfig({ eval: { patience: 2 } })).toThrow(RunConfigError);
  });

  it('a dim the run does not evaluate is refused before training', async () => {
    await expect(run({ cfg: config({ best: 'dim_64' }) })).rejects.toThrow(/eval\.best: dim 64 is not evaluated in this run \(its dims: dim_32, dim_16/);
  });

  it('train.py repeats it with the HF Trainer: eval_steps, load_best_model_at_end by the chosen metric, EarlyStoppingCallback', () => {
    const p = join(work, 'train.py');
    writeFileSync(p, trainScript(parseRunConfig({ loss: { type: 'mnrl', matryoshka: { dims: [32, 16] } }, eval: { everyUpdates: 5, best: 'dim_32', patience: 2 } })));
    // Python reads it, and its module constants and the metric it derives are what the config says.
    const read = JSON.parse(execFileSync('/usr/bin/python3', ['-c', `
import ast, json, sys
src = open(sys.argv[1]).read()
tree = ast.parse(src)
consts = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name) and t.id.startswith("EVAL_")}
line = next(l for l in src.splitlines() if l.strip().startswith("best_metric = "))
best = consts["EVAL_BEST"]
metric = eval(line.split("=", 1)[1])
print(json.dumps({"consts": consts, "metric": metric, "early": "EarlyStoppingCallback(early_stopping_patience=EVAL_PATIENCE)" in src}))
`, p], { encoding: 'utf8' }));
    expect(read.consts).toMatchObject({ EVAL_EVERY_UPDATES: 5, EVAL_BEST: 'dim_32', EVAL_PATIENCE: 2 });
    expect(read.metric).toBe('eval_dim_32_cosine_ndcg@10');
    expect(read.early).toBe(true);
  });

  it('N keeps evaluation under the share: E / (E + N·U) ≤ 0.15', () => {
    for (const [evalS, updateS] of [[10, 1], [1, 10], [3, 0.7], [0.2, 0.2]]) {
      const n = evalEvery({ evalS, updateS, maxSteps: 1000 });
      expect(evalS / (evalS + n * updateS)).toBeLessThanOrEqual(0.15 + 1e-12);
      if (n > 1) expect(evalS / (evalS + (n - 1) * updateS)).toBeGreaterThan(0.15);
    }
    expect(evalEvery({ evalS: 100, updateS: 1, maxSteps: 20 })).toBe(20);
  });
});

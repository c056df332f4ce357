// The run orchestrator on the fixtures (onnxruntime-node): a cancel after each micro-batch of an
// accumulation group in turn stops at the update boundary and resumes bit-identical to an
// uninterrupted run (dropout on, accumulation 4, GradCache); a resume against another model or
// other training rows is refused naming the difference; a finished run writes its model folder,
// log and results and keeps no checkpoint; epoch-end checkpoints resume into the next epoch.

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import { prepareDataset } from '../data/dataset.ts';
import { parseDataFile } from '../data/parse.ts';
import { parseSafetensors } from '../models/safetensors.ts';
import { loadSentenceModel, modelFilesBytes } from '../models/sentence-model.ts';
import { readModelFolder } from '../models/sentence-model-node.ts';
import { createRuntime } from '../runtime/index.ts';
import { DeviceLostError, type HostTensor, type Runtime } from '../runtime/types.ts';
import { PlainFolderStore } from '../store/plain-folder-store.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import { MemoryBudgetError } from '../train/memory.ts';
import { parseRunConfig, type RunConfig } from '../train/run-config.ts';
import { modelIdentity } from './identity.ts';
import { checkpointSteps, readRunRecord } from './record.ts';
import { accountedFileBytes, type RunData, type RunEvent, type RunModel, runTraining } from './run.ts';

let f: FixturePaths;
let runtime: Runtime;
let work: string;
let tinyBge: RunModel;
let tinyMean: RunModel;
let tinyF16: RunModel;
let data: RunData;

async function runModel(dir: string): Promise<RunModel> {
  const files = readModelFolder(dir);
  return { name: dir, model: loadSentenceModel(files), tokenizer: loadTokenizerFromDir(dir), files, identity: await modelIdentity(dir, files) };
}

beforeAll(async () => {
  f = ensureFixtures();
  runtime = await createRuntime('node');
  work = mkdtempSync(join(tmpdir(), 'tabtune-run-'));
  tinyBge = await runModel(f.tinyBge);
  tinyMean = await runModel(f.tinyMean);
  tinyF16 = await runModel(f.tinyBgeF16);
  const table = (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(readFileSync(join(f.qaTiny, `${split}.jsonl`))));
  const p = prepareDataset({ train: await table('train'), test: await table('test') }, { source: f.qaTiny });
  data = { source: 'qa-tiny', train: p.train, test: p.test };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

// 160 rows, batch 8 → 20 micro-batches an epoch, 5 updates of 4; three updates in all.
const config = (extra: Record<string, unknown> = {}): RunConfig =>
  parseRunConfig({
    model: { id: 'tiny-bge' }, data: { source: 'qa-tiny' }, batchSize: 8, accumulation: 4, maxSteps: 3, lr: 1e-3, warmupSteps: 1, scheduler: 'linear',
    dropout: true, gradCache: { miniBatchSize: 4 }, loss: { type: 'mnrl', matryoshka: { dims: [32, 16] } }, seed: 5,
    eval: { before: false, after: false }, ...extra,
  });

let runNo = 0;
async function run(o: { store?: PlainFolderStore; cfg?: RunConfig; model?: RunModel; d?: RunData; resume?: boolean; cancelAt?: { step: number; microBatch: number }; checkpointEvery?: number }) {
  const store = o.store ?? new PlainFolderStore(join(work, `run-${runNo++}`));
  const controller = new AbortController();
  const events: RunEvent[] = [];
  const outcome = await runTraining({
    store, runtime, model: o.model ?? tinyBge, data: o.d ?? data, config: o.cfg ?? config(), runId: 'test', resume: o.resume, checkpointEvery: o.checkpointEvery ?? 100,
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (o.cancelAt && e.type === 'micro-batch' && e.step === o.cancelAt.step && e.microBatch === o.cancelAt.microBatch) controller.abort();
    },
  });
  return { store, outcome, events };
}

/** Every file under a folder with its SHA-256. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    const p = join(root, rel);
    if (statSync(p).isFile()) out[rel] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

/** train_log.jsonl's step lines without the timing fields (rates, ETA, elapsed differ per run). */
const stepLog = (store: PlainFolderStore) =>
  readFileSync(join(store.root, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { step, loss, lr, gradNorm, epoch } = JSON.parse(l);
    return { step, loss, lr, gradNorm, epoch };
  });

/**
 * A runtime whose `n`-th session run (counted over all sessions, from 1) fails as asked: throws an
 * onnxruntime-like error, loses the device, or returns a NaN loss.
 */
function faulty(inner: Runtime, n: number, how: 'throw' | 'device-lost' | 'nan'): Runtime {
  let runs = 0;
  return {
    ...inner,
    describe: () => inner.describe(),
    upload: (t) => inner.upload(t),
    download: (t) => inner.download(t),
    dispose: (t) => inner.dispose(t),
    async load(model, opts) {
      const session = await inner.load(model, opts);
      return {
        ...session,
        inputNames: session.inputNames,
        outputNames: session.outputNames,
        release: () => session.release(),
        async run(feeds, outputs, ropts) {
          if (++runs === n && how === 'throw') throw new Error('injected: Non-zero status code returned while running MatMul node');
          if (runs === n && how === 'device-lost') throw new DeviceLostError('injected: destroyed');
          const out = await session.run(feeds, outputs, ropts);
          if (runs === n && how === 'nan' && out.loss) (out.loss as HostTensor).data[0] = Number.NaN;
          return out;
        },
      };
    },
  };
}

const weightsOf = async (store: PlainFolderStore) => parseSafetensors((await store.get('model.safetensors'))!).tensors;

describe('the model files a run counts', () => {
  it('trained in place, F32 weights viewing their file count once; F16 weights are copies, so the file counts too', () => {
    for (const [dir, views] of [[f.tinyBge, true], [f.tinyBgeF16, false]] as const) {
      const files = readModelFolder(dir);
      const model = loadSentenceModel(files);
      const weightBytes = [...model.weights.values()].reduce((n, w) => n + w.data.byteLength, 0);
      expect(accountedFileBytes({ model, files, trainInPlace: false })).toBe(modelFilesBytes(files));
      expect(accountedFileBytes({ model, files, trainInPlace: true })).toBe(modelFilesBytes(files) - (views ? weightBytes : 0));
    }
  });
});

describe('runTraining', () => {
  it('a failure mid-update (onnxruntime error, NaN loss, lost device) stops after the last good update, keeps its checkpoint, and resumes bit-identical', async () => {
    // Fused, accumulation 4: every micro-batch is one session run (after the "before" evaluation, which is off).
    const cfg = config({ gradCache: 'off' });
    const full = await run({ cfg });
    const want = await weightsOf(full.store);
    // Run 7 is micro-batch 3 of update 2; run 9 is micro-batch 1 of update 3.
    for (const [n, how, failing, message] of [
      [7, 'throw', 2, /onnxruntime failed during update 2 \(injected: Non-zero status code.*\); training stopped after update 1\. The checkpoint at update 1 is kept: resume from it, on WASM or with a smaller mini-batch\./],
      [9, 'nan', 3, /The loss of update 3 \(micro-batch 1\) is NaN; training stopped after update 2\. .*The checkpoint at update 2 is kept/],
      [7, 'device-lost', 2, /The GPU device was lost during update 2 \(injected: destroyed\); training stopped after update 1\. The checkpoint at update 1 is kept: resume from it on WASM\./],
    ] as const) {
      const store = new PlainFolderStore(join(work, `fault-${how}`));
      await expect(runTraining({ store, runtime: faulty(runtime, n, how), model: tinyBge, data, config: cfg, runId: 'f', checkpointEvery: 100 })).rejects.toThrow(message);
      const rec = (await readRunRecord(store))!;
      expect(rec).toMatchObject({ status: 'failed', step: failing - 1, checkpointStep: failing - 1, fault: { kind: how === 'throw' ? 'runtime' : how === 'nan' ? 'non-finite' : 'device-lost', failedStep: failing, lastGoodStep: failing - 1 } });
      expect(await checkpointSteps(store)).toEqual([failing - 1]);
      const resumed = await run({ store, cfg, resume: true });
      expect(resumed.outcome.status).toBe('done');
      const got = await weightsOf(store);
      for (const [name, t] of want) expect(got.get(name)!.data, `${how}: ${name}`).toEqual(t.data);
    }
  });

  it('a cancel after any micro-batch of an accumulation group stops at the update boundary and resumes bit-identical', async () => {
    const full = await run({});
    expect(full.outcome.status).toBe('done');
    const want = await weightsOf(full.store);
    for (let k = 1; k <= 4; k++) {
      const part = await run({ cancelAt: { step: 2, microBatch: k } });
      expect(part.outcome.status, `cancel after micro-batch ${k}`).toBe('stopped');
      // Micro-batches 1–3 are inside update 2, which is finished; after the 4th it is done already.
      expect(part.outcome.record.step).toBe(2);
      expect(part.events.filter((e) => e.type === 'micro-batch')).toHaveLength(8);
      const stopping = part.events.find((e) => e.type === 'stopping');
      if (k < 4) expect(stopping).toEqual({ type: 'stopping', step: 2, microBatch: k, of: 4 });
      else expect(stopping).toBeUndefined();
      expect(await checkpointSteps(part.store)).toEqual([2]);
      expect((await readRunRecord(part.store))!.status).toBe('stopped');

      const resumed = await run({ store: part.store, resume: true });
      expect(resumed.events.find((e) => e.type === 'start')).toMatchObject({ resumedFrom: 2 });
      expect(resumed.outcome.status).toBe('done');
      const got = await weightsOf(part.store);
      for (const [name, t] of want) expect(got.get(name)!.data, `${name} after a cancel at micro-batch ${k}`).toEqual(t.data);
      expect(stepLog(part.store)).toEqual(stepLog(full.store));
    }
  });

  it('keeps the two newest checkpoints; a damaged newest one is skipped with a warning and the run resumes from the one before', async () => {
    const full = await run({});
    const part = await run({ cancelAt: { step: 2, microBatch: 4 }, checkpointEvery: 1 });
    expect(await checkpointSteps(part.store)).toEqual([2, 1]);
    // The newest is cut short, as by a write that never finished on a store without a commit step.
    const newest = join(part.store.root, 'checkpoints', 'checkpoint-2.safetensors');
    writeFileSync(newest, readFileSync(newest).subarray(0, 1000));
    const resumed = await run({ store: part.store, resume: true, checkpointEvery: 1 });
    expect(resumed.events.find((e) => e.type === 'warning')).toEqual({
      type: 'warning',
      message: expect.stringMatching(/^resuming from the checkpoint at update 1: the checkpoint at update 2 could not be read \(checkpoint: not a readable checkpoint file \(.*truncated/),
    });
    expect(resumed.events.find((e) => e.type === 'start')).toMatchObject({ resumedFrom: 1 });
    expect(resumed.outcome.status).toBe('done');
    const want = await weightsOf(full.store);
    const got = await weightsOf(part.store);
    for (const [name, t] of want) expect(got.get(name)!.data, name).toEqual(t.data);

    // Both damaged (one cut short, one not a checkpoint): a clear error naming each, not a TypeError.
    const again = await run({ cancelAt: { step: 2, microBatch: 4 }, checkpointEvery: 1 });
    const dir = join(again.store.root, 'checkpoints');
    writeFileSync(join(dir, 'checkpoint-2.safetensors'), new Uint8Array(3));
    writeFileSync(join(dir, 'checkpoint-1.safetensors'), readFileSync(join(f.tinyBge, 'model.safetensors')));
    await expect(run({ store: again.store, resume: true })).rejects.toThrow(
      /^resume: no readable checkpoint in .*: the checkpoint at update 2 could not be read \(.*shorter than the 8-byte header.*\); the checkpoint at update 1 could not be read \(checkpoint: the file is a safetensors file but not a tabtune checkpoint.*\); start a new run$/,
    );
  });

  it('refuses to resume with another base model or other training rows, naming what differs', async () => {
    const part = await run({ cancelAt: { step: 1, microBatch: 2 } });
    expect(part.outcome.record.checkpointStep).toBe(1);
    await expect(run({ store: part.store, resume: true, model: tinyF16 })).rejects.toThrow(
      /resume refused: the base model differs: the checkpoint was made from .*tiny-bge \(files sha256 [0-9a-f]{12}\), this run has .*tiny-bge-f16 \(files sha256 [0-9a-f]{12}\)/,
    );
    // Same weights, other pooling: another model all the same.
    await expect(run({ store: part.store, resume: true, model: tinyMean })).rejects.toThrow(/the base model differs: .*tiny-mean/);
    const fewer = { ...data, train: data.train.slice(0, 150) };
    await expect(run({ store: part.store, resume: true, d: fewer })).rejects.toThrow(
      /resume refused: the training data differs: the checkpoint was trained on 160 rows of qa-tiny \(sha256 [0-9a-f]{12}\), this run has 150 rows of qa-tiny/,
    );
    const edited = { ...data, train: data.train.map((e, i) => (i === 7 ? { ...e, positive: `${e.positive}!` } : e)) };
    await expect(run({ store: part.store, resume: true, d: edited })).rejects.toThrow(/training data differs: .*160 rows .*160 rows/);
    await expect(run({ store: part.store, resume: true, cfg: config({ lr: 2e-3 }) })).rejects.toThrow(/lr = 0.001/);
    // Nothing was lost by the refusals: the same run still resumes.
    expect((await run({ store: part.store, resume: true })).outcome.status).toBe('done');
  });

  it('a run over its memory budget is refused before it reads or writes anything, with what would fit', async () => {
    const part = await run({ cancelAt: { step: 1, microBatch: 2 } });
    const before = snapshot(part.store.root);
    expect(Object.keys(before)).toContain('checkpoints/checkpoint-1.safetensors');
    const events: RunEvent[] = [];
    const tight = runTraining({ store: part.store, runtime, model: tinyBge, data, config: config({ memoryBudgetMB: 1 }), runId: 'test', onEvent: (e) => events.push(e) });
    await expect(tight).rejects.toThrow(/^This run does not fit in memory: it needs [\d,]+ MB of memory at its peak, over the 1 MB budget\. Try: a budget of [\d,]+ MB \(memoryBudgetMB\) fits this run as it is\.$/);
    await expect(tight).rejects.toBeInstanceOf(MemoryBudgetError);
    expect(events.map((e) => e.type)).toEqual(['phase']);
    // The stopped run's files are as they were, and it still resumes.
    expect(snapshot(part.store.root)).toEqual(before);
    expect((await run({ store: part.store, resume: true })).outcome.status).toBe('done');
  });

  it('a finished run writes the model folder, log, results and config, and keeps no checkpoint', async () => {
    const r = await run({ cfg: config({ maxSteps: null, epochs: 2, accumulation: 1, batchSize: 16, gradCache: 'off', eval: { before: true, after: true, everyEpoch: true } }) });
    const rec = r.outcome.record;
    expect(rec).toMatchObject({ status: 'done', step: 20, maxSteps: 20, checkpointStep: null });
    expect(rec.before!.evaluators.map((e) => e.dim)).toEqual([32, 16]);
    expect(rec.evals.map((e) => e.step)).toEqual([expect.any(Number), 20]);
    expect(rec.after).toEqual(rec.evals[1].result);
    expect(await checkpointSteps(r.store)).toEqual([]);
    const keys = await r.store.keys();
    for (const k of ['model.safetensors', 'config.json', 'tokenizer.json', 'modules.json', '1_Pooling/config.json', 'README.md', 'train_log.jsonl', 'eval_results.json', 'run_config.json', 'run.json']) expect(keys).toContain(k);
    expect(JSON.parse(readFileSync(join(r.store.root, 'run_config.json'), 'utf8'))).toEqual(rec.config);
    const log = readFileSync(join(r.store.root, 'train_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => l.type === 'step')).toHaveLength(20);
    expect(log.filter((l) => l.type === 'eval').map((l) => l.step)).toEqual(rec.evals.map((e) => e.step));
    expect(rec.modelBytes).toBeGreaterThan(0);
    expect(r.events.filter((e) => e.type === 'checkpoint').length).toBeGreaterThanOrEqual(1);
  });

  it('an epoch-end checkpoint resumes into the next epoch without repeating its evaluation', async () => {
    const cfg = config({ maxSteps: null, epochs: 2, accumulation: 1, batchSize: 16, gradCache: 'off', sampler: 'batch', eval: { before: false, after: true, everyEpoch: true } });
    const full = await run({ cfg });
    // Stop right after epoch 1's last update (10 updates an epoch with the plain sampler).
    const part = await run({ cfg, cancelAt: { step: 11, microBatch: 1 } });
    expect(part.outcome.record.step).toBe(11);
    const resumedPart = await run({ store: part.store, resume: true, cfg });
    const evals = resumedPart.events.filter((e) => e.type === 'eval' && e.which === 'epoch');
    // Epoch 1's evaluation is told again (the page's chart), not computed again.
    expect(evals.map((e) => [(e as { step: number }).step, (e as { replayed?: true }).replayed ?? false])).toEqual([[10, true], [20, false]]);
    expect(resumedPart.outcome.record.evals.map((e) => e.step)).toEqual([10, 20]);
    const want = await weightsOf(full.store);
    const got = await weightsOf(part.store);
    for (const [name, t] of want) expect(got.get(name)!.data, name).toEqual(t.data);
    // Without the seconds each evaluation took (timing differs between runs).
    const untimed = (r: typeof full) => r.outcome.record.evals.map(({ seconds: _s, ...e }) => e);
    expect(untimed(resumedPart)).toEqual(untimed(full));
  });
});

describe('prompts in a run', () => {
  // An e5 repo id with no prompts of its own gets "query: " / "passage: " (prompts.ts). Training and
  // evaluating with them must equal training and evaluating the same model, without prompts, on
  // data whose texts already carry them: anchors and queries the query prompt, positives, negatives
  // and the corpus the document prompt, as sentence-transformers' column → prompt dict and
  // InformationRetrievalEvaluator(query_prompt=…, corpus_prompt=…) prepend them.
  it('an e5 id trains and evaluates as the prefixed texts do, and the folder, card and run_config carry the prompts', async () => {
    const base = { maxSteps: 2, accumulation: 1, gradCache: 'off', eval: { before: true, after: true } };
    const prompted = await run({ cfg: config({ ...base, model: { id: 'intfloat/e5-tiny' } }) });
    const prefix = (rows: RunData['train']) => rows.map((e) => ({ ...e, anchor: `query: ${e.anchor}`, positive: `passage: ${e.positive}` }));
    const plain = await run({ cfg: config(base), d: { source: 'qa-tiny', train: prefix(data.train), test: prefix(data.test) } });
    expect(prompted.outcome.status).toBe('done');
    const a = await weightsOf(prompted.store);
    const b = await weightsOf(plain.store);
    for (const [name, t] of b) expect(Buffer.from(a.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    // The prompts changed the training: without them the weights differ.
    const none = await run({ cfg: config({ ...base, model: { id: 'intfloat/e5-tiny' }, prompts: { query: { text: '' }, document: { text: '' } } }) });
    const c = await weightsOf(none.store);
    expect(Buffer.from(c.get('encoder.layer.0.attention.self.query.weight')!.data.buffer).equals(Buffer.from(a.get('encoder.layer.0.attention.self.query.weight')!.data.buffer))).toBe(false);
    for (const which of ['before', 'after'] as const) {
      expect(prompted.outcome.record[which]!.metrics).toEqual(plain.outcome.record[which]!.metrics);
    }

    // Recorded resolved, written where sentence-transformers reads them.
    expect(prompted.outcome.record.config.prompts).toEqual({ query: { text: 'query: ' }, document: { text: 'passage: ' } });
    const st = JSON.parse(readFileSync(join(prompted.store.root, 'config_sentence_transformers.json'), 'utf8'));
    expect(st.prompts).toMatchObject({ query: 'query: ', document: 'passage: ' });
    expect(st.similarity_fn_name).toBe('cosine'); // the rest of the file is kept
    expect(loadSentenceModel(readModelFolder(prompted.store.root)).prompts.prompts).toMatchObject({ query: 'query: ', document: 'passage: ' });
    expect(JSON.parse(readFileSync(join(prompted.store.root, 'run_config.json'), 'utf8')).prompts).toEqual({ query: { text: 'query: ' }, document: { text: 'passage: ' } });
    expect(readFileSync(join(prompted.store.root, 'README.md'), 'utf8')).toContain('model.encode(["What is the capital of France?"], prompt_name="query")');
    // A run without prompts leaves the model's file as it was.
    expect(readFileSync(join(plain.store.root, 'config_sentence_transformers.json'))).toEqual(readFileSync(join(f.tinyBge, 'config_sentence_transformers.json')));
  }, 120_000);

  it('a prompt name the model lacks is refused before anything is written, naming the field', async () => {
    const store = new PlainFolderStore(join(work, 'prompt-name'));
    await expect(run({ store, cfg: config({ prompts: { query: { name: 'query' } } }) })).rejects.toThrow('prompts.query.name: the model has no prompt named "query" (it names no prompts)');
    expect(existsSync(store.root) ? readdirSync(store.root) : []).toEqual([]);
  });
});

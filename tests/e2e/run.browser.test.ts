// One run, two adapters: the same run (fixture model, WASM, dropout on, accumulation 4, GradCache)
// through `tabtune train` in Node and through the engine worker in Debian's Chromium ends with
// bit-identical weights; in the worker, a Cancel after each micro-batch of an accumulation group in
// turn stops at the update boundary and the resumed run ends bit-identical too. The worker is the
// app's own (workers/engine.worker.ts, built into the engine test page), driven through comlink.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/lib/models/safetensors.ts';
import type { RunSummary, TrainRequest, WorkerRunEvent } from '../../workers/api.ts';
import { ensureFixtures, type FixturePaths } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { REPO_ROOT } from './browser.ts';
import { type HarnessPage, openHarness } from './harness/open.ts';
import { fromBase64 } from './harness/wire.ts';

const MODEL = 'org/tiny-bge';
const DATASET = 'org/qa-tiny';
let paths: FixturePaths;
let hub: LocalHub;
let harness: HarnessPage;
let work: string;

beforeAll(async () => {
  paths = ensureFixtures();
  work = await mkdtemp(join(tmpdir(), 'tabtune-run-browser-'));
  hub = await startLocalHub({ models: { [MODEL]: paths.tinyBge }, datasets: { [DATASET]: paths.qaTiny } });
  harness = await openHarness({ webgpu: false });
}, 180_000);

afterAll(async () => {
  await harness?.close();
  await hub?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const call: HarnessPage['call'] = (method, ...args) => harness.call(method, ...args);

// 160 rows, batch 8: 20 micro-batches an epoch, updates of 4, three updates.
const CONFIG = {
  model: { id: MODEL }, data: { source: DATASET }, batchSize: 8, accumulation: 4, gradCache: { miniBatchSize: 4 }, maxSteps: 3, lr: 1e-3,
  warmupSteps: 1, seed: 5, dropout: true, backend: 'wasm', eval: { before: false, after: false },
};

const tensorsOf = (bytes: Uint8Array) => parseSafetensors(bytes).tensors;

async function workerWeights(runId: string) {
  const file = (await call('workerCall', 'runFile', [runId, 'model.safetensors'])) as { b64: string } | null;
  expect(file, `run ${runId} has a model.safetensors`).not.toBeNull();
  return tensorsOf(fromBase64(file!.b64));
}

function expectSame(a: ReturnType<typeof tensorsOf>, b: ReturnType<typeof tensorsOf>, what: string) {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [name, t] of a) expect(b.get(name)!.data, `${what}: ${name}`).toEqual(t.data);
}

const train = (req: TrainRequest, cancelAt?: { step: number; microBatch: number }) =>
  call('workerTrain', req as never, cancelAt).then((r) => {
    if (!r.summary) throw new Error(`the run failed: ${r.error}`);
    return r as { summary: RunSummary; events: WorkerRunEvent[] };
  });

describe('one run through the CLI and through the worker', () => {
  it('ends bit-identical; a Cancel after each micro-batch of an update resumes bit-identical', async () => {
    const configFile = join(work, 'config.json');
    await writeFile(configFile, JSON.stringify(CONFIG));
    const out = join(work, 'cli');
    const cli = await new Promise<{ code: number; stderr: string }>((done) =>
      execFile(process.execPath, [join(REPO_ROOT, 'bin/tabtune.js'), 'train', '--config', configFile, '--hub', hub.url, '--output', out, '--quiet'], {
        env: { ...process.env, TABTUNE_CACHE: join(work, 'cache') }, timeout: 240_000,
      }, (err, _stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/training path: gradcache \(mini-batch 4\)/);
    const want = tensorsOf(new Uint8Array(await readFile(join(out, 'model.safetensors'))));

    expect(await call('workerCall', 'loadModel', [{ hubUrl: hub.url, repo: MODEL }])).toMatchObject({ repo: MODEL, kind: 'hub' });
    expect(await call('workerCall', 'loadDataset', [{ hubUrl: hub.url, repo: DATASET }])).toMatchObject({ train: 160, test: 40 });
    const full = await train({ config: CONFIG as never });
    expect(full.summary.record).toMatchObject({ status: 'done', step: 3, checkpointStep: null });
    expect(full.summary.runtime.kind).toBe('wasm');
    expect(full.events.find((e) => e.type === 'path')).toMatchObject({ path: 'gradcache', miniBatchSize: 4 });
    expectSame(want, await workerWeights(full.summary.record.runId), 'worker vs CLI');

    const landed: string[] = [];
    for (let k = 1; k <= 4; k++) {
      const cut = await train({ config: CONFIG as never }, { step: 2, microBatch: k });
      const rec = cut.summary.record;
      // The cancel reaches the worker between two micro-batches: it stops after the update it lands
      // in (update 2, or update 3 when it lands after update 2 closed), never inside one.
      expect(rec.status, `cancel after micro-batch ${k}`).toBe('stopped');
      expect(rec.checkpointStep).toBe(rec.step);
      expect([2, 3]).toContain(rec.step);
      const stopping = cut.events.find((e) => e.type === 'stopping') as { step: number; microBatch: number } | undefined;
      landed.push(stopping ? `update ${stopping.step} after micro-batch ${stopping.microBatch}` : `after update ${rec.step}`);
      const micro = cut.events.filter((e) => e.type === 'micro-batch').length;
      expect(micro).toBe(4 * rec.step);
      const resumed = await train({ config: CONFIG as never, resumeRunId: rec.runId });
      expect(resumed.summary.record).toMatchObject({ runId: rec.runId, status: 'done', step: 3 });
      expectSame(want, await workerWeights(rec.runId), `cancel after micro-batch ${k}, resumed`);
    }
    console.log(`worker cancels after micro-batches 1–4 of update 2 landed: ${landed.join('; ')}`);
    // At least the cancels sent mid-update were seen mid-update (the case that used to lose micro-batches).
    expect(landed.filter((l) => l.startsWith('update 2 after micro-batch')).length).toBeGreaterThanOrEqual(1);
  }, 600_000);
});

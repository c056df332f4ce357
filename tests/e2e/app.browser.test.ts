// The whole page as a first-time visitor meets it, in Debian's Chromium, with the local Hub
// serving the tiny fixtures under the default model and data set names (?hub=…): defaults shown,
// Download with progress, preview and mapping, a short WASM training run with steps, loss chart and
// the before/after table, the share link restoring the config, the trained model in "My models"
// after a reload (renamed, evaluated again to the same table, the base of a new run), Resume after
// a cancel and after a reload in the middle of a run, a run whose engine stops making progress
// stopped by the page's watchdog and resumed from its checkpoint on one thread; and the
// Compute card with WebGPU (SwiftShader) naming the backend its self-test ran on, a local CSV
// picked from disk getting its preview, name-guessed mapping and inline row errors, and a crashed
// engine worker failing the calls in flight and after with the offer to reload.
// The first visit (Hub download, train, evaluate, share, My models after a reload, cancel and
// resume, then a local file through the picker) runs in Firefox too (the `firefox` project): one
// body through `TestPage`. Hard negatives (with the "What to train" control: the bge-m3 LoRA
// preset, each choice's memory account and speed, the XLM-RoBERTa trained with LoRA, My models
// naming the mode, its zip as PEFT's adapter folder) and the WebGPU tests are Chromium's.

import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.js';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID, MULTILINGUAL_MODEL_ID } from '../../src/lib/config.ts';
import { ensureFixtures } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { NANOBEIR_EN_REPO } from '../../src/lib/eval/nanobeir.ts';
import { ARTIFACTS_DIR, ENGINES, launchBrowser, launchEngine, serveDist, type BrowserSession, type EngineSession, type TestPage } from './browser.ts';

/** A tiny XLM-RoBERTa (bge-m3's layout: CLS + Normalize, a Unigram tokenizer.json) under bge-m3's id. */
const XLMR_ID = 'BAAI/bge-m3';
let site: StaticServer;
let hub: LocalHub;
let session: BrowserSession | null = null;
let neutral: EngineSession | null = null;
const engine = ENGINES[0];
const shot = (name: string) => join(ARTIFACTS_DIR, engine === 'chromium' ? name : `${engine}-${name}`);

beforeAll(async () => {
  const paths = ensureFixtures();
  site = await serveDist(true);
  // A little latency per response so the progress bar is on screen long enough to be seen.
  hub = await startLocalHub({ models: { [DEFAULT_MODEL_ID]: paths.tinyBge, [XLMR_ID]: paths.tinyXlmr }, datasets: { [DEFAULT_DATASET_ID]: paths.qaTiny, [NANOBEIR_EN_REPO]: paths.nanoBeir }, latencyMs: 150 });
  await mkdir(ARTIFACTS_DIR, { recursive: true });
});
afterAll(async () => {
  await hub?.close();
  await site?.close();
});
afterEach(async (ctx) => {
  const failed = shot(`app-failed-${ctx.task.name.slice(0, 20).replace(/\W+/g, '-')}.png`);
  if (ctx.task.result?.state === 'fail') await (session?.page.screenshot({ path: failed, fullPage: true }) ?? neutral?.page.screenshot(failed, { fullPage: true }))?.catch(() => undefined);
  await session?.close();
  session = null;
  await neutral?.close();
  neutral = null;
});

/** Starts keeping every text the element with this test id shows (it may come and go quickly). */
async function recordTexts(page: TestPage, testid: string): Promise<void> {
  await page.evaluate((testid) => {
    const seen: string[] = ((globalThis as any)[`__seen_${testid}`] = []);
    new MutationObserver(() => {
      const t = document.querySelector(`[data-testid="${testid}"]`)?.textContent?.replace(/\s+/g, ' ').trim();
      if (t && seen.at(-1) !== t) seen.push(t);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, testid);
}
const recorded = (page: TestPage, testid: string): Promise<string[]> =>
  page.evaluate((testid) => (globalThis as any)[`__seen_${testid}`] as string[], testid);

const pageUrl = () => `${site.url}?hub=${encodeURIComponent(hub.url)}`;

describe(`the page, first visit, WASM (${engine})`, () => {
  it('downloads the defaults with progress, trains, evaluates before/after, shares, keeps the model and resumes', async () => {
    neutral = await launchEngine(engine, { webgpu: false });
    const { page } = neutral;
    /** The first model item's element with this test id. */
    const item = (t: string) => `[data-testid=model-item] [data-testid=${t}]`;
    const firstRow = (t: string) => page.texts(`[data-testid=${t}] tbody tr:first-child td`);
    await page.goto(pageUrl());

    // Defaults a first-time visitor sees.
    await page.waitFor('backend-report', { timeout: 30_000 });
    expect(await page.text('default-model')).toBe(DEFAULT_MODEL_ID);
    expect(await page.text('default-dataset')).toBe(DEFAULT_DATASET_ID);
    expect(await page.value('model-id')).toBe(DEFAULT_MODEL_ID);
    expect(await page.value('data-id')).toBe(DEFAULT_DATASET_ID);
    expect(await page.attr('hub-url', 'data-source')).toBe('query');
    await page.waitFor('selftest', { attr: ['data-status', 'done'], timeout: 60_000 });
    expect(await page.attr('selftest', 'data-kind')).toBe('wasm');
    // The reason is said once, in the backend report (the self-test repeats it only when it differs).
    expect(await page.text('gpu-unavailable-reason')).toMatch(/requestAdapter\(\) returned null|navigator\.gpu is absent/);
    expect(await page.count('selftest-fallback')).toBe(0);
    // Nothing loaded yet: training is disabled and says why.
    expect(await page.disabled('train-start')).toBe(true);
    expect(await page.attr('train-start', 'title')).toMatch(/Download a model first/);

    // Model: Download shows bytes, rate and ETA, then what was loaded.
    await recordTexts(page, 'model-progress');
    await page.click('model-download');
    await page.waitFor('model-loaded', { timeout: 60_000 });
    const seen = await recorded(page, 'model-progress');
    expect(seen.some((t) => /^[\d.]+ (B|KiB) of [\d.]+ KiB · [\d.]+ (B|KiB|MiB)\/s · ETA \S+ · \d+\/\d+ files/.test(t)), seen.join('\n')).toBe(true);
    expect(await page.text('model-loaded')).toContain(`${DEFAULT_MODEL_ID}@main`);
    expect(hub.requests.some((r) => r.file === 'model.safetensors' && r.status < 400)).toBe(true);
    // Its shape and what training it would take, before anyone presses Train.
    expect((await page.text('model-shape'))?.replace(/\s+/g, ' ')).toMatch(/^ ?32 dimensions · 2 layers · 0\.0\d M trainable parameters · training needs ≈ [\d.]+ (KiB|MiB)/);

    // Data: preview rows and the seed's mapping, auto-filled.
    await page.click('data-load');
    await page.waitFor('data-preview', { timeout: 60_000 });
    expect(await page.count('[data-testid=data-preview] tbody tr')).toBe(5);
    expect(await page.text('[data-testid=data-preview] thead')).toMatch(/question.*doc.*id/);
    expect(await page.value('map-anchor')).toBe('question');
    expect(await page.value('map-positive')).toBe('doc');
    expect(await page.value('map-id')).toBe('id');
    expect(await page.text('data-loaded')).toMatch(/160 train \/ 40 test/);
    // A wrong mapping gives the worker's message inline; putting it back clears it.
    await page.select('map-positive', '');
    await page.waitFor('data-issues', { text: /no column is mapped to "positive"/, timeout: 10_000 });
    await page.select('map-positive', 'doc');
    await expect.poll(() => page.count('data-issues'), { timeout: 10_000 }).toBe(0);

    // The general-retrieval guard on the base model: the fixture's three subsets, their size (and,
    // once something was embedded here, the time) shown before starting; a 1-point threshold.
    await page.click('guard-subset-hotpotqa');
    await page.click('guard-subset-quoraretrieval');
    await page.click('guard-subset-scifact');
    await page.click('guard-subset-nfcorpus');
    expect(await page.text('guard-estimate')).toMatch(/3 subsets: 11,065 texts to embed per model/);
    await page.fill('guard-threshold', '1');
    await page.click('guard-before');
    await page.waitFor('[data-testid=guard-table] [data-subset=mean]', { timeout: 120_000 });
    expect(await page.texts('[data-testid=guard-table] tbody tr td:first-child')).toEqual(['NanoMSMARCO', 'NanoNFCorpus', 'NanoSciFact', 'mean']);
    const generalBefore = Number(await page.text('guard-base-mean'));
    expect(await page.text('guard-estimate')).toMatch(/about .+ per model on this backend/);

    // Train: a short run on the tiny model (160 rows, batch 16 → 10 updates).
    await page.fill('cfg-epochs', '1');
    await page.fill('cfg-batch', '16');
    await page.fill('cfg-lr', '0.0005');
    await page.click('train-start');
    await page.waitFor('train-live', { attr: ['data-status', 'done'], timeout: 180_000 });
    expect(await page.text('train-step')).toBe('10');
    expect(await page.attr('loss-chart', 'data-points')).toBe('10');
    expect(await page.attr('train-backend', 'data-kind')).toBe('wasm');
    expect(await page.text('train-backend')).toMatch(/WASM EP, \d+ threads — WebGPU not used/);
    expect(await page.attr('train-path', 'data-path')).toBe('fused');
    expect(await page.attr('train-path', 'data-optimizer')).toBe('host');
    expect(await page.text('train-rate')).toMatch(/^[\d.]+k? tokens\/s$/);
    // Before/after table: the tiny model's one Matryoshka dim (hidden 32), real numbers.
    expect(await page.count('[data-testid=eval-table] tbody tr')).toBe(1);
    expect(await page.attr('[data-testid=eval-table] tbody tr', 'data-dim')).toBe('32');
    const cells = await firstRow('eval-table');
    expect(cells[0]).toBe('dim_32_cosine_ndcg@10');
    const [before, after, delta] = cells.slice(1).map((t) => Number(t.replace('−', '-')));
    for (const v of [before, after]) expect(v).toBeGreaterThan(0), expect(v).toBeLessThanOrEqual(1);
    expect(delta).toBeCloseTo(after - before, 3);
    expect(before).not.toBe(after);
    // Every metric, before → after, the nDCG@10 row agreeing with the table above.
    await page.click('[data-testid=all-metrics] summary');
    const metricNames = await page.evaluate(() => [...document.querySelectorAll('[data-testid=all-metrics] tbody tr')].map((tr) => tr.getAttribute('data-metric')));
    expect(metricNames).toEqual(expect.arrayContaining(['accuracy@1', 'precision@1', 'recall@10', 'mrr@10', 'ndcg@10', 'map@100']));
    expect((await page.text('[data-testid=all-metrics] tr[data-metric="ndcg@10"] td:nth-child(2)'))?.replace(/\s+/g, ' ').trim()).toBe(`${before.toFixed(4)} → ${after.toFixed(4)}`);
    // The guard on the trained model: the fixture's relevance (a question → another category's
    // document) is what training on qa-tiny pushes away, so the general figure drops: the warning.
    await page.click('guard-after');
    await page.waitFor('guard-warning', { timeout: 120_000 });
    const generalAfter = Number(await page.text('guard-trained-mean'));
    expect(generalAfter).toBeLessThan(generalBefore - 0.01);
    expect(await page.text('guard-warning')).toMatch(/General retrieval got worse: NanoBEIR nDCG@10 fell from [\d.]+ to [\d.]+ \(−[\d.]+ points\), more than the 1 you allow/);
    expect(await page.text('guard-gain')).toMatch(/^Own data: [+−][\d.]+ points nDCG@10 · general retrieval: −[\d.]+ points$/);
    // A finished run keeps its model, not its checkpoint.
    expect(await page.text('train-status')).not.toContain('checkpoint at');
    expect(await page.text('train-saved')).toContain('in My models');
    await page.screenshot(shot('app.png'), { fullPage: true });

    // Share: only the changed fields, and the hub; opening the link restores them.
    const link = await page.value('share-link');
    const params = new URL(link).searchParams;
    expect(Object.fromEntries(params)).toEqual({ batchSize: '16', epochs: '1', lr: '0.0005', hub: hub.url });
    const shared = await neutral.newPage();
    await shared.goto(link);
    await shared.waitFor('cfg-epochs');
    expect(await shared.value('cfg-epochs')).toBe('1');
    expect(await shared.value('cfg-batch')).toBe('16');
    expect(await shared.value('cfg-lr')).toBe('0.0005');
    expect(await shared.value('share-link')).toBe(link);
    await shared.close();

    // Models that stay: after a reload the trained model is in "My models" with its numbers.
    await page.reload();
    await page.waitFor('model-item', { timeout: 30_000 });
    expect(await page.count('model-item')).toBe(1);
    expect(await page.text(item('model-name'))).toBe(`${DEFAULT_MODEL_ID}@main · ${DEFAULT_DATASET_ID}`);
    expect(Number(await page.text(`${item('model-after')} td[data-dim="32"]`))).toBe(Number(after.toFixed(4)));
    expect(await page.text('model-item')).toContain(before.toFixed(4));
    // Renamed, it keeps the name over a reload.
    await page.click(item('model-rename'));
    await page.fill(item('model-name-input'), 'qa-tiny tuned');
    await page.press(item('model-name-input'), 'Enter');
    await page.waitFor(item('model-name'), { text: /^qa-tiny tuned$/ });
    // Evaluate again (the page loads the data set it was trained on): the same table.
    await page.click(item('model-evaluate'));
    await page.waitFor('eval-now-model', { timeout: 120_000 });
    expect(await page.text('eval-now-model')).toContain('qa-tiny tuned');
    expect(await firstRow('eval-table')).toEqual(['dim_32_cosine_ndcg@10', after.toFixed(4)]);
    await page.screenshot(shot('app-my-models.png'), { fullPage: true });

    // A new run starts from it: it becomes the base model, and the run records that.
    await page.click(item('model-train-from'));
    await page.waitFor('model-loaded', { text: 'qa-tiny tuned (trained in this browser)', timeout: 30_000 });
    expect(await page.value('model-id')).toMatch(/^stored:/);
    await page.fill('cfg-max-steps', '2');
    await page.click('train-start');
    await page.waitFor('train-live', { attr: ['data-status', 'done'], timeout: 180_000 });
    expect(await page.text('train-step')).toBe('2');
    await expect.poll(() => page.count('model-item'), { timeout: 10_000 }).toBe(2);
    expect(await page.text('model-item')).toMatch(/from qa-tiny tuned on /);
    // The first model's numbers are the base model's "before" numbers now.
    expect((await firstRow('eval-table'))[1]).toBe(after.toFixed(4));
    await page.fill('cfg-max-steps', '');

    // Cancel a longer run after its first checkpoint; after a reload the page offers Resume, and
    // resuming continues from the stored checkpoint.
    await page.click('default-model');
    await page.click('model-download');
    await page.waitFor('model-loaded', { text: `${DEFAULT_MODEL_ID}@main`, timeout: 30_000 });
    await page.fill('cfg-epochs', '40');
    await page.fill('cfg-batch', '16');
    await page.fill('cfg-lr', '0.0001');
    await page.click('train-start');
    await expect.poll(async () => Number((await page.text('train-step')) ?? 0), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
    await page.waitFor('train-status', { text: 'checkpoint at', timeout: 180_000 });
    await page.click('train-cancel');
    await page.waitFor('train-live', { attr: ['data-status', 'stopped'], timeout: 60_000 });
    const stoppedAt = Number(await page.text('train-step'));
    expect(stoppedAt).toBeLessThan(400);
    expect(await page.text('train-status')).toContain(`checkpoint at ${stoppedAt}`);
    await page.reload();
    await page.waitFor('resume-banner', { timeout: 30_000 });
    expect(await page.text('resume-banner')).toContain(`stopped at update ${stoppedAt} of 400`);
    expect(await page.count('[data-testid=storage-groups] tr[data-group^="run/"]')).toBe(3);
    await page.click('resume');
    await page.waitFor('train-status', { text: `resumed from update ${stoppedAt}`, timeout: 120_000 });
    await expect.poll(async () => Number((await page.text('train-step')) ?? 0), { timeout: 60_000 }).toBeGreaterThan(stoppedAt);
    // The steps before the resume are drawn too.
    expect(Number(await page.attr('loss-chart', 'data-points'))).toBeGreaterThan(stoppedAt);

    // A reload in the middle of the run (a closed tab): the page offers to resume from the last
    // checkpoint, and the resumed run continues from there.
    // The run view starts empty, so "checkpoint at" is the resumed run's own first checkpoint.
    await page.waitFor('train-status', { text: /checkpoint at \d+/, timeout: 180_000 });
    const lastCheckpoint = Number(/checkpoint at (\d+)/.exec((await page.text('train-status'))!)![1]);
    expect(lastCheckpoint).toBeGreaterThan(stoppedAt);
    await page.reload();
    await page.waitFor('resume-banner', { timeout: 30_000 });
    const banner = (await page.text('resume-banner'))!;
    const interruptedAt = Number(/was interrupted at update (\d+) of 400; checkpoint at (\d+)/.exec(banner)![2]);
    expect(interruptedAt).toBeGreaterThanOrEqual(lastCheckpoint);
    await page.click('resume');
    await page.waitFor('train-status', { text: `resumed from update ${interruptedAt}`, timeout: 120_000 });
    await expect.poll(async () => Number((await page.text('train-step')) ?? 0), { timeout: 60_000 }).toBeGreaterThan(interruptedAt);
    await page.click('train-cancel');
    await page.waitFor('train-live', { attr: ['data-status', 'stopped'], timeout: 60_000 });

    // A local file through the picker: columns mapped by name, bad rows reported inline.
    const csv = 'query,passage\n' + Array.from({ length: 12 }, (_, i) => `q${i},${i === 3 ? '' : `doc ${i}`}`).join('\n');
    await page.setInputFiles('data-file', { name: 'pairs.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.waitFor('data-id', { timeout: 30_000 });
    await expect.poll(() => page.value('data-id'), { timeout: 30_000 }).toBe('pairs.csv');
    await page.waitFor('data-issues', { text: /pairs\.csv, row 4: positive \("passage"\) is (empty|missing)/, timeout: 30_000 });
    expect(await page.value('map-anchor')).toBe('query');
    expect(await page.value('map-positive')).toBe('passage');
    expect(await page.attr('data-mapping', 'data-source')).toBe('auto');
    expect(neutral.errors).toEqual([]);
  }, 600_000);

  it.skipIf(engine !== 'chromium')('stops a run that makes no progress, keeps its checkpoint and resumes it on one thread', async () => {
    session = await launchBrowser({ webgpu: false });
    const { page } = session;
    const id = (t: string) => page.getByTestId(t);
    await page.goto(pageUrl());
    await page.locator('[data-testid=selftest][data-status=done]').waitFor({ timeout: 60_000 });
    await id('model-download').click();
    await id('model-loaded').waitFor({ timeout: 60_000 });
    await id('data-load').click();
    await id('data-preview').waitFor({ timeout: 60_000 });
    await id('cfg-epochs').fill('40');
    await id('cfg-batch').fill('16');
    await id('cfg-lr').fill('0.0001');
    // Work that stops making progress (the engine worker busy for good, as one stuck in a WASM
    // call or in Atomics.wait looks to the page): the page's watchdog stops it with a message that
    // names the phase, the run's checkpoint is kept, and "Retry on one thread" resumes the run
    // from it in a new worker on one WASM thread. The floor is lowered (a page-only hook) so the
    // stall shows in seconds instead of 120 s.
    await page.evaluate(() => ((globalThis as any).__tabtuneStallFloorMs = 15_000));
    await id('train-start').click();
    await page.locator('[data-testid=train-status]', { hasText: /checkpoint at \d+/ }).waitFor({ timeout: 180_000 });
    const keptAt = Number(/checkpoint at (\d+)/.exec((await id('train-status').textContent())!)![1]);
    // The engine worker itself: the first worker of its script (onnxruntime's threads, workers of
    // the same script, come after it and may be blocked, so they are not asked).
    const engineWorker = page.workers().find((w) => /engine/.test(w.url()))!;
    await engineWorker.evaluate(() => void setTimeout(() => {
      for (;;);
    }));
    // The watchdog's bound is max(floor, 20 × the slowest gap so far): on a loaded machine the
    // gaps grow and so does the wait, so this timeout is generous rather than the floor's 15 s.
    await id('engine-stalled').waitFor({ timeout: 240_000 });
    const stalledText = /^training: no progress for \d+ s after \d+ of 400 updates; the engine was stopped and started again\. What was stored is kept \(a run keeps its last checkpoint\)\./;
    expect((await id('engine-stalled').textContent())!.trim()).toMatch(stalledText);
    expect(await id('train-error').textContent()).toMatch(stalledText);
    expect(await page.locator('[data-testid=train-live]').getAttribute('data-status')).toBe('failed');
    await id('retry-one-thread').click();
    await page.locator('[data-testid=train-status]', { hasText: /resumed from update \d+/ }).waitFor({ timeout: 120_000 });
    const resumedAt = Number(/resumed from update (\d+)/.exec((await id('train-status').textContent())!)![1]);
    expect(resumedAt).toBeGreaterThanOrEqual(keptAt);
    expect(await id('train-backend').textContent()).toMatch(/WASM EP, 1 threads — backend "wasm" in the run config/);
    await expect.poll(async () => Number((await id('train-step').textContent()) ?? 0), { timeout: 60_000 }).toBeGreaterThan(resumedAt);
    expect(await id('engine-stalled').count()).toBe(0);
    await id('train-cancel').click();
    await page.locator('[data-testid=train-live][data-status=stopped]').waitFor({ timeout: 60_000 });
    expect(session.errors).toEqual([]);
  }, 480_000);
});

describe.skipIf(engine !== 'chromium')('hard negatives in the page', () => {
  it('the "Seed recipe + hard negatives" preset mines with the base model, previews, and the run trains MNRL on the triplets; an XLM-RoBERTa from the Hub trains and evaluates on them too', async () => {
    session = await launchBrowser({ webgpu: false });
    const { page } = session;
    const id = (t: string) => page.getByTestId(t);
    await page.goto(`${pageUrl()}&maxSteps=3&batchSize=16`);
    await id('model-download').click();
    await id('model-loaded').waitFor({ timeout: 60_000 });
    await id('data-load').click();
    await id('data-preview').waitFor({ timeout: 60_000 });
    await id('preset-seed-negatives').click();
    await id('mine-done').waitFor({ timeout: 120_000 });
    expect(await id('mine-done').textContent()).toMatch(/Mined with BAAI\/bge-base-en-v1\.5@main: 160 train \/ 40 test rows/);
    expect(await id('mine-preview').locator('tbody tr').count()).toBe(8);
    // The mined set is the data set now, its columns mapped by name.
    expect(await id('data-id').inputValue()).toMatch(/^mined:YxBxRyXJx~QAsimple_for_BGE_241019#[0-9a-f]+$/);
    expect(await id('map-negative').inputValue()).toBe('negative');
    // The dims field shows what the run uses on the loaded model (the tiny model: its one dim).
    expect(await id('cfg-dims').inputValue()).toBe('32');
    await id('cfg-max-steps').fill('3');
    await id('cfg-batch').fill('16');
    await id('train-start').click();
    await page.locator('[data-testid=train-live][data-status=done]').waitFor({ timeout: 180_000 });
    expect(await id('train-step').textContent()).toBe('3');
    expect(await id('triplet-table').locator('tbody tr').count()).toBe(1);
    expect(await id('triplet-table').textContent()).toMatch(/dim_32_cosine_accuracy\s*0\.\d{4}\s*0\.\d{4}/);
    // The mined set stays in IndexedDB: after a reload, evaluating the model again loads it from there.
    await page.reload();
    await id('model-item').first().waitFor({ timeout: 30_000 });
    // The storage panel fills in its own time after a reload (My models can come first).
    const mined = page.locator('[data-testid=storage-groups] tr[data-group^="dataset/local/mined:YxBxRyXJx~QAsimple_for_BGE_241019#"]');
    await mined.first().waitFor({ timeout: 30_000 });
    expect(await mined.count()).toBe(1);
    await id('model-item').first().getByTestId('model-evaluate').click();
    await id('eval-now-model').waitFor({ timeout: 120_000 });
    expect(await id('data-loaded').textContent()).toContain('mined:YxBxRyXJx~QAsimple_for_BGE_241019#');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'app-hard-negatives.png'), fullPage: true });

    // A multilingual model in the same page: the chip offers one; an XLM-RoBERTa id downloads from
    // the Hub, is named as such, trains on the mined set and is evaluated before and after.
    await id('multilingual-model').click();
    expect(await id('model-id').inputValue()).toBe(MULTILINGUAL_MODEL_ID);
    await id('model-id').fill(XLMR_ID);
    await id('model-download').click();
    await page.locator('[data-testid=model-loaded]', { hasText: `${XLMR_ID}@main` }).waitFor({ timeout: 60_000 });
    expect(await id('model-family').textContent()).toBe('XLM-RoBERTa');
    expect(await id('model-family').getAttribute('title')).toBe('config.json model_type "xlm-roberta"');
    // What to train: the "bge-m3 with LoRA" preset names the same model and picks LoRA; each
    // choice shows its memory account (the worker's plan of that config) and its estimated speed.
    await id('preset-bge-m3-lora').click();
    expect(await id('model-id').inputValue()).toBe(XLMR_ID);
    expect(await id('trainable-mode-lora').isChecked()).toBe(true);
    expect(await id('trainable-rank').inputValue()).toBe('16');
    for (const m of ['full', 'freeze', 'lora']) {
      await expect.poll(() => id(`trainable-memory-${m}`).getAttribute('data-fits'), { timeout: 60_000 }).toMatch(/^(true|false)$/);
      expect(await id(`trainable-memory-${m}`).textContent()).toMatch(/^≈ [\d.]+ [KMG]?i?B RAM.*, (fits|over the budget)$/);
    }
    expect(await id('trainable-speed-full').textContent()).toBe("≈ 1.00× full's speed");
    // The tiny model has 2 layers: freezing the lower one with the embeddings is 6 / (2 + 1 + 1) = 1.5×.
    await id('trainable-mode-freeze').check();
    await id('trainable-layers').fill('1');
    expect(await id('trainable-speed-freeze').textContent()).toBe("≈ 1.50× full's speed");
    // LoRA on every linear layer: at this width (C 32, F 64) rank 16 costs more than the layers
    // themselves, 6 / (2 + 2 + 3·16·448·2 / 8192) = 0.65×; rank 2 is 6 / 4.66 = 1.29×.
    expect(await id('trainable-speed-lora').textContent()).toBe("≈ 0.65× full's speed");
    await id('trainable-rank').fill('2');
    expect(await id('trainable-speed-lora').textContent()).toBe("≈ 1.29× full's speed");
    // The XLM-RoBERTa trains with LoRA, rank 2 on every linear layer.
    await id('trainable-mode-lora').check();
    await id('cfg-max-steps').fill('3');
    await id('cfg-batch').fill('16');
    await id('train-start').click();
    await page.locator('[data-testid=train-live][data-status=done]').waitFor({ timeout: 180_000 });
    expect(await id('train-step').textContent()).toBe('3');
    const [before, after] = (/dim_32_cosine_accuracy\s*(0\.\d{4})\s*(0\.\d{4})/.exec((await id('triplet-table').textContent())!) ?? []).slice(1).map(Number);
    expect(before).toBeGreaterThan(0);
    expect(after).toBeGreaterThan(0);
    expect(hub.requests.some((r) => r.url.includes(`${XLMR_ID}/resolve/`) && r.file === 'tokenizer.json' && r.status < 400)).toBe(true);
    // My models says what trained; the LoRA model exports merged or as PEFT's adapter folder.
    await expect.poll(() => id('model-mode').count(), { timeout: 30_000 }).toBe(2);
    expect(await id('model-mode').first().textContent()).toBe('LoRA r=2 α=4 on all linear layers');
    expect(await id('model-mode').first().getAttribute('data-mode')).toBe('lora');
    expect(await id('model-mode').nth(1).getAttribute('data-mode')).toBe('full');
    await id('model-export').first().click();
    expect(await id('export-form-merged').isChecked()).toBe(true);
    await id('export-form-adapter').check();
    expect(await id('export-onnx').isDisabled()).toBe(true);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), id('export-zip').click()]);
    const zip = unzipSync(new Uint8Array(await readFile((await download.path())!)));
    expect(Object.keys(zip)).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'modules.json', 'tokenizer.json', 'README.md']));
    expect(Object.keys(zip).filter((p) => p === 'model.safetensors' || p === 'config.json' || p.startsWith('onnx/'))).toEqual([]);
    expect(JSON.parse(new TextDecoder().decode(zip['adapter_config.json']))).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, base_model_name_or_path: XLMR_ID, target_modules: 'all-linear' });
    expect(new TextDecoder().decode(zip['README.md'])).toContain('A PEFT LoRA adapter');
    expect(session.errors).toEqual([]);
  }, 600_000);
});

describe.skipIf(engine !== 'chromium')('the page on WebGPU (SwiftShader)', () => {
  it('downloads, trains on the WebGPU EP with the optimizer on the device, evaluates, and resumes after a reload', async () => {
    session = await launchBrowser({ webgpu: true });
    const { page } = session;
    const id = (t: string) => page.getByTestId(t);
    await page.goto(`${pageUrl()}&batchSize=16&epochs=1&lr=0.0005`);
    await page.locator('[data-testid=selftest][data-status=done]').waitFor({ timeout: 120_000 });
    expect(await id('selftest').getAttribute('data-kind')).toBe('webgpu');
    await id('model-download').click();
    await id('model-loaded').waitFor({ timeout: 60_000 });
    await id('data-load').click();
    await id('data-preview').waitFor({ timeout: 60_000 });
    await id('train-start').click();
    await page.locator('[data-testid=train-live][data-status=done]').waitFor({ timeout: 300_000 });
    expect(await id('train-step').textContent()).toBe('10');
    expect(await id('train-backend').getAttribute('data-kind')).toBe('webgpu');
    expect(await id('train-backend').textContent()).toMatch(/WebGPU EP .*— WebGPU adapter found and its self-test passed/);
    expect(await id('train-path').getAttribute('data-optimizer')).toBe('device');
    const cells = (await id('eval-table').locator('tbody tr').first().locator('td').allTextContents()).map((t) => Number(t.trim().replace('−', '-')));
    expect(cells[1]).toBeGreaterThan(0);
    expect(cells[2]).not.toBe(cells[1]);
    expect(await id('model-item').count()).toBe(1);

    // A longer run, reloaded in the middle: the page offers Resume, which continues on WebGPU.
    await id('cfg-epochs').fill('40');
    await id('train-start').click();
    await page.locator('[data-testid=train-status]', { hasText: /checkpoint at \d+/ }).waitFor({ timeout: 300_000 });
    await page.reload();
    await id('resume-banner').waitFor({ timeout: 60_000 });
    const at = Number(/checkpoint at (\d+)/.exec((await id('resume-banner').textContent())!)![1]);
    await id('resume').click();
    await page.locator('[data-testid=train-status]', { hasText: `resumed from update ${at}` }).waitFor({ timeout: 180_000 });
    await expect.poll(async () => Number((await id('train-step').textContent()) ?? 0), { timeout: 180_000 }).toBeGreaterThan(at);
    expect(await id('train-backend').getAttribute('data-kind')).toBe('webgpu');
    await id('train-cancel').click();
    await page.locator('[data-testid=train-live][data-status=stopped]').waitFor({ timeout: 120_000 });
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'app-webgpu-train.png'), fullPage: true });
    expect(session.errors).toEqual([]);
  }, 900_000);
});

describe.skipIf(engine !== 'chromium')('the compute card with WebGPU', () => {
  it('names the adapter and says the self-test ran on the WebGPU EP; a local CSV gets a preview and mapping, a 1 GiB file is refused unread', async () => {
    session = await launchBrowser({ webgpu: true });
    const { page } = session;
    await page.goto(pageUrl());
    await page.locator('[data-testid=selftest][data-status=done]').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('backend-report').getAttribute('data-backend')).toBe('webgpu');
    expect(await page.getByTestId('selftest').getAttribute('data-kind')).toBe('webgpu');
    expect(await page.getByTestId('selftest').textContent()).toMatch(/self-test passed\s+ran on\s+onnxruntime-web, WebGPU EP/);
    expect(await page.getByTestId('selftest-fallback').count()).toBe(0);

    // A local file through the picker: columns mapped by name, bad rows reported inline.
    const csv = 'query,passage\n' + Array.from({ length: 12 }, (_, i) => `q${i},${i === 3 ? '' : `doc ${i}`}`).join('\n');
    await page.getByTestId('data-file').setInputFiles({ name: 'pairs.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByTestId('data-preview').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('data-id').inputValue()).toBe('pairs.csv');
    expect(await page.getByTestId('map-anchor').inputValue()).toBe('query');
    expect(await page.getByTestId('map-positive').inputValue()).toBe('passage');
    expect(await page.getByTestId('data-mapping').getAttribute('data-source')).toBe('auto');
    expect(await page.getByTestId('data-issues').textContent()).toMatch(/pairs\.csv, row 4: positive \("passage"\) is (empty|missing)/);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'app-webgpu.png'), fullPage: true });

    // A 1 GiB file (sparse: nothing written) is refused by File.size before the page reads it: at
    // once (read and handed to the worker, which refuses it with the same message, it took 13 s here).
    const dir = await mkdtemp(join(tmpdir(), 'tabtune-big-'));
    try {
      const big = join(dir, 'big.jsonl');
      await writeFile(big, '');
      await truncate(big, 2 ** 30);
      const t0 = performance.now();
      await page.getByTestId('data-file').setInputFiles(big);
      await page.locator('[data-testid=data-error]', { hasText: 'big.jsonl: the file is 1024 MiB (1073741824 bytes), over the 500 MiB limit for one data file' }).waitFor({ timeout: 30_000 });
      expect(performance.now() - t0).toBeLessThan(3000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(session.errors).toEqual([]);

    // The engine worker crashes (an uncaught error, and it is gone, as an out-of-memory end looks
    // to the page): a call in flight fails with the reload offer instead of hanging, so does the
    // next one, and the offered reload brings a working engine back.
    const engineWorker = page.workers().find((w) => /engine/.test(w.url()))!;
    await engineWorker.evaluate(() => {
      setTimeout(() => {
        throw new Error('simulated crash');
      });
      setTimeout(() => close());
    });
    await page.getByTestId('data-file').setInputFiles({ name: 'again.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    const stoppedText = /The engine worker stopped \(.*simulated crash.*\); reload the page — your stored models, data and checkpoints are kept\./;
    await page.getByTestId('data-error').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('data-error').textContent()).toMatch(stoppedText);
    expect(await page.getByTestId('worker-stopped').textContent()).toMatch(stoppedText);
    await page.getByTestId('data-load').click();
    await expect.poll(() => page.getByTestId('data-error').textContent(), { timeout: 5_000 }).toMatch(stoppedText);
    await page.getByTestId('worker-reload').click();
    await page.locator('[data-testid=selftest][data-status=done]').waitFor({ timeout: 120_000 });
    expect(await page.getByTestId('worker-stopped').count()).toBe(0);
  }, 180_000);
});

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

import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.js';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID } from '../../src/lib/config.ts';
import { ensureFixtures } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { ARTIFACTS_DIR, launchBrowser, serveDist, type BrowserSession } from './browser.ts';

let site: StaticServer;
let hub: LocalHub;
let session: BrowserSession | null = null;

beforeAll(async () => {
  const paths = ensureFixtures();
  site = await serveDist(true);
  // A little latency per response so the progress bar is on screen long enough to be seen.
  hub = await startLocalHub({ models: { [DEFAULT_MODEL_ID]: paths.tinyBge }, datasets: { [DEFAULT_DATASET_ID]: paths.qaTiny }, latencyMs: 150 });
  await mkdir(ARTIFACTS_DIR, { recursive: true });
});
afterAll(async () => {
  await hub?.close();
  await site?.close();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await session?.page.screenshot({ path: join(ARTIFACTS_DIR, `app-failed-${ctx.task.name.slice(0, 20).replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => undefined);
  await session?.close();
  session = null;
});

/** Starts keeping every text the element with this test id shows (it may come and go quickly). */
async function recordTexts(page: BrowserSession['page'], testid: string): Promise<void> {
  await page.evaluate((testid) => {
    const seen: string[] = ((globalThis as any)[`__seen_${testid}`] = []);
    new MutationObserver(() => {
      const t = document.querySelector(`[data-testid="${testid}"]`)?.textContent?.replace(/\s+/g, ' ').trim();
      if (t && seen.at(-1) !== t) seen.push(t);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, testid);
}
const recorded = (page: BrowserSession['page'], testid: string): Promise<string[]> =>
  page.evaluate((testid) => (globalThis as any)[`__seen_${testid}`] as string[], testid);

const pageUrl = () => `${site.url}?hub=${encodeURIComponent(hub.url)}`;

describe('the page, first visit, WASM', () => {
  it('downloads the defaults with progress, trains, evaluates before/after, shares, keeps the model and resumes', async () => {
    session = await launchBrowser({ webgpu: false });
    const { page } = session;
    const id = (t: string) => page.getByTestId(t);
    await page.goto(pageUrl());

    // Defaults a first-time visitor sees.
    await id('backend-report').waitFor({ timeout: 30_000 });
    expect(await id('default-model').textContent()).toBe(DEFAULT_MODEL_ID);
    expect(await id('default-dataset').textContent()).toBe(DEFAULT_DATASET_ID);
    expect(await id('model-id').inputValue()).toBe(DEFAULT_MODEL_ID);
    expect(await id('data-id').inputValue()).toBe(DEFAULT_DATASET_ID);
    expect(await id('hub-url').getAttribute('data-source')).toBe('query');
    await page.locator('[data-testid=selftest][data-status=done]').waitFor({ timeout: 60_000 });
    expect(await id('selftest').getAttribute('data-kind')).toBe('wasm');
    // The reason is said once, in the backend report (the self-test repeats it only when it differs).
    expect(await id('gpu-unavailable-reason').textContent()).toMatch(/requestAdapter\(\) returned null|navigator\.gpu is absent/);
    expect(await id('selftest-fallback').count()).toBe(0);
    // Nothing loaded yet: training is disabled and says why.
    expect(await id('train-start').isDisabled()).toBe(true);
    expect(await id('train-start').getAttribute('title')).toMatch(/Download a model first/);

    // Model: Download shows bytes, rate and ETA, then what was loaded.
    await recordTexts(page, 'model-progress');
    await id('model-download').click();
    await id('model-loaded').waitFor({ timeout: 60_000 });
    const seen = await recorded(page, 'model-progress');
    expect(seen.some((t) => /^[\d.]+ (B|KiB) of [\d.]+ KiB · [\d.]+ (B|KiB|MiB)\/s · ETA \S+ · \d+\/\d+ files/.test(t)), seen.join('\n')).toBe(true);
    expect(await id('model-loaded').textContent()).toContain(`${DEFAULT_MODEL_ID}@main`);
    expect(hub.requests.some((r) => r.file === 'model.safetensors' && r.status < 400)).toBe(true);
    // Its shape and what training it would take, before anyone presses Train.
    expect((await id('model-shape').textContent())?.replace(/\s+/g, ' ')).toMatch(/^ ?32 dimensions · 2 layers · 0\.0\d M trainable parameters · training needs ≈ [\d.]+ (KiB|MiB)/);

    // Data: preview rows and the seed's mapping, auto-filled.
    await id('data-load').click();
    await id('data-preview').waitFor({ timeout: 60_000 });
    expect(await id('data-preview').locator('tbody tr').count()).toBe(5);
    expect(await id('data-preview').locator('thead').textContent()).toMatch(/question.*doc.*id/);
    expect(await id('map-anchor').inputValue()).toBe('question');
    expect(await id('map-positive').inputValue()).toBe('doc');
    expect(await id('map-id').inputValue()).toBe('id');
    expect(await id('data-loaded').textContent()).toMatch(/160 train \/ 40 test/);
    // A wrong mapping gives the worker's message inline; putting it back clears it.
    await id('map-positive').selectOption('');
    await expect.poll(async () => (await id('data-issues').count()) && id('data-issues').textContent(), { timeout: 10_000 }).toMatch(/no column is mapped to "positive"/);
    await id('map-positive').selectOption('doc');
    await expect.poll(() => id('data-issues').count(), { timeout: 10_000 }).toBe(0);

    // Train: a short run on the tiny model (160 rows, batch 16 → 10 updates).
    await id('cfg-epochs').fill('1');
    await id('cfg-batch').fill('16');
    await id('cfg-lr').fill('0.0005');
    await id('train-start').click();
    await page.locator('[data-testid=train-live][data-status=done]').waitFor({ timeout: 180_000 });
    expect(await id('train-step').textContent()).toBe('10');
    expect(await id('loss-chart').getAttribute('data-points')).toBe('10');
    expect(await id('train-backend').getAttribute('data-kind')).toBe('wasm');
    expect(await id('train-backend').textContent()).toMatch(/WASM EP, \d+ threads — WebGPU not used/);
    expect(await id('train-path').getAttribute('data-path')).toBe('fused');
    expect(await id('train-path').getAttribute('data-optimizer')).toBe('host');
    expect(await id('train-rate').textContent()).toMatch(/^[\d.]+k? tokens\/s$/);
    // Before/after table: the tiny model's one Matryoshka dim (hidden 32), real numbers.
    const row = id('eval-table').locator('tbody tr');
    expect(await row.count()).toBe(1);
    expect(await row.first().getAttribute('data-dim')).toBe('32');
    const cells = (await row.first().locator('td').allTextContents()).map((t) => t.trim());
    expect(cells[0]).toBe('dim_32_cosine_ndcg@10');
    const [before, after, delta] = cells.slice(1).map((t) => Number(t.replace('−', '-')));
    for (const v of [before, after]) expect(v).toBeGreaterThan(0), expect(v).toBeLessThanOrEqual(1);
    expect(delta).toBeCloseTo(after - before, 3);
    expect(before).not.toBe(after);
    // Every metric, before → after, the nDCG@10 row agreeing with the table above.
    await id('all-metrics').locator('summary').click();
    const metricNames = await id('all-metrics').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-metric')));
    expect(metricNames).toEqual(expect.arrayContaining(['accuracy@1', 'precision@1', 'recall@10', 'mrr@10', 'ndcg@10', 'map@100']));
    expect((await id('all-metrics').locator('tr[data-metric="ndcg@10"] td').nth(1).textContent())?.replace(/\s+/g, ' ').trim()).toBe(`${before.toFixed(4)} → ${after.toFixed(4)}`);
    // A finished run keeps its model, not its checkpoint.
    expect(await id('train-status').textContent()).not.toContain('checkpoint at');
    expect(await id('train-saved').textContent()).toContain('in My models');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'app.png'), fullPage: true });

    // Share: only the changed fields, and the hub; opening the link restores them.
    const link = await id('share-link').inputValue();
    const params = new URL(link).searchParams;
    expect(Object.fromEntries(params)).toEqual({ batchSize: '16', epochs: '1', lr: '0.0005', hub: hub.url });
    const shared = await session.context.newPage();
    await shared.goto(link);
    await shared.getByTestId('cfg-epochs').waitFor();
    expect(await shared.getByTestId('cfg-epochs').inputValue()).toBe('1');
    expect(await shared.getByTestId('cfg-batch').inputValue()).toBe('16');
    expect(await shared.getByTestId('cfg-lr').inputValue()).toBe('0.0005');
    expect(await shared.getByTestId('share-link').inputValue()).toBe(link);
    await shared.close();

    // Models that stay: after a reload the trained model is in "My models" with its numbers.
    await page.reload();
    await id('model-item').first().waitFor({ timeout: 30_000 });
    expect(await id('model-item').count()).toBe(1);
    const item = id('model-item').first();
    expect(await item.getByTestId('model-name').textContent()).toBe(`${DEFAULT_MODEL_ID}@main · ${DEFAULT_DATASET_ID}`);
    expect(Number(await item.getByTestId('model-after').locator('td[data-dim="32"]').textContent())).toBe(Number(after.toFixed(4)));
    expect(await item.textContent()).toContain(before.toFixed(4));
    // Renamed, it keeps the name over a reload.
    await item.getByTestId('model-rename').click();
    await item.getByTestId('model-name-input').fill('qa-tiny tuned');
    await item.getByTestId('model-name-input').press('Enter');
    await expect.poll(() => item.getByTestId('model-name').textContent()).toBe('qa-tiny tuned');
    // Evaluate again (the page loads the data set it was trained on): the same table.
    await item.getByTestId('model-evaluate').click();
    await id('eval-now-model').waitFor({ timeout: 120_000 });
    expect(await id('eval-now-model').textContent()).toContain('qa-tiny tuned');
    const again = (await id('eval-table').locator('tbody tr').first().locator('td').allTextContents()).map((t) => t.trim());
    expect(again).toEqual(['dim_32_cosine_ndcg@10', after.toFixed(4)]);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'app-my-models.png'), fullPage: true });

    // A new run starts from it: it becomes the base model, and the run records that.
    await item.getByTestId('model-train-from').click();
    await expect.poll(async () => (await id('model-loaded').count()) && id('model-loaded').textContent(), { timeout: 30_000 }).toContain('qa-tiny tuned (trained in this browser)');
    expect(await id('model-id').inputValue()).toMatch(/^stored:/);
    await id('cfg-max-steps').fill('2');
    await id('train-start').click();
    await page.locator('[data-testid=train-live][data-status=done]').waitFor({ timeout: 180_000 });
    expect(await id('train-step').textContent()).toBe('2');
    await expect.poll(() => id('model-item').count(), { timeout: 10_000 }).toBe(2);
    expect(await id('model-item').first().textContent()).toMatch(/from qa-tiny tuned on /);
    // The first model's numbers are the base model's "before" numbers now.
    const second = (await id('eval-table').locator('tbody tr').first().locator('td').allTextContents()).map((t) => t.trim());
    expect(second[1]).toBe(after.toFixed(4));
    await id('cfg-max-steps').fill('');

    // Cancel a longer run after its first checkpoint; after a reload the page offers Resume, and
    // resuming continues from the stored checkpoint.
    await id('default-model').click();
    await id('model-download').click();
    await expect.poll(async () => (await id('model-loaded').count()) && id('model-loaded').textContent(), { timeout: 30_000 }).toContain(`${DEFAULT_MODEL_ID}@main`);
    await id('cfg-epochs').fill('40');
    await id('cfg-batch').fill('16');
    await id('cfg-lr').fill('0.0001');
    await id('train-start').click();
    await expect.poll(async () => Number((await id('train-step').textContent()) ?? 0), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
    await page.locator('[data-testid=train-status]', { hasText: 'checkpoint at' }).waitFor({ timeout: 180_000 });
    await id('train-cancel').click();
    await page.locator('[data-testid=train-live][data-status=stopped]').waitFor({ timeout: 60_000 });
    const stoppedAt = Number(await id('train-step').textContent());
    expect(stoppedAt).toBeLessThan(400);
    expect(await id('train-status').textContent()).toContain(`checkpoint at ${stoppedAt}`);
    await page.reload();
    await id('resume-banner').waitFor({ timeout: 30_000 });
    expect(await id('resume-banner').textContent()).toContain(`stopped at update ${stoppedAt} of 400`);
    expect(await page.locator('[data-testid=storage-groups] tr[data-group^="run/"]').count()).toBe(3);
    await id('resume').click();
    await page.locator('[data-testid=train-status]', { hasText: `resumed from update ${stoppedAt}` }).waitFor({ timeout: 120_000 });
    await expect.poll(async () => Number((await id('train-step').textContent()) ?? 0), { timeout: 60_000 }).toBeGreaterThan(stoppedAt);
    // The steps before the resume are drawn too.
    expect(Number(await id('loss-chart').getAttribute('data-points'))).toBeGreaterThan(stoppedAt);

    // A reload in the middle of the run (a closed tab): the page offers to resume from the last
    // checkpoint, and the resumed run continues from there.
    // The run view starts empty, so "checkpoint at" is the resumed run's own first checkpoint.
    await page.locator('[data-testid=train-status]', { hasText: /checkpoint at \d+/ }).waitFor({ timeout: 180_000 });
    const lastCheckpoint = Number(/checkpoint at (\d+)/.exec((await id('train-status').textContent())!)![1]);
    expect(lastCheckpoint).toBeGreaterThan(stoppedAt);
    await page.reload();
    await id('resume-banner').waitFor({ timeout: 30_000 });
    const banner = (await id('resume-banner').textContent())!;
    const interruptedAt = Number(/was interrupted at update (\d+) of 400; checkpoint at (\d+)/.exec(banner)![2]);
    expect(interruptedAt).toBeGreaterThanOrEqual(lastCheckpoint);
    await id('resume').click();
    await page.locator('[data-testid=train-status]', { hasText: `resumed from update ${interruptedAt}` }).waitFor({ timeout: 120_000 });
    await expect.poll(async () => Number((await id('train-step').textContent()) ?? 0), { timeout: 60_000 }).toBeGreaterThan(interruptedAt);
    await id('train-cancel').click();
    await page.locator('[data-testid=train-live][data-status=stopped]').waitFor({ timeout: 60_000 });
    expect(session.errors).toEqual([]);
  }, 600_000);

  it('stops a run that makes no progress, keeps its checkpoint and resumes it on one thread', async () => {
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
    await id('engine-stalled').waitFor({ timeout: 90_000 });
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
  }, 300_000);
});

describe('hard negatives in the page', () => {
  it('the "Seed recipe + hard negatives" preset mines with the base model, previews, and the run trains MNRL on the triplets', async () => {
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
    expect(await page.locator('[data-testid=storage-groups] tr[data-group^="dataset/local/mined:YxBxRyXJx~QAsimple_for_BGE_241019#"]').count()).toBe(1);
    await id('model-item').first().getByTestId('model-evaluate').click();
    await id('eval-now-model').waitFor({ timeout: 120_000 });
    expect(await id('data-loaded').textContent()).toContain('mined:YxBxRyXJx~QAsimple_for_BGE_241019#');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'app-hard-negatives.png'), fullPage: true });
    expect(session.errors).toEqual([]);
  }, 600_000);
});

describe('the page on WebGPU (SwiftShader)', () => {
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

describe('the compute card with WebGPU', () => {
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

// The page as people expect it, in Debian's Chromium: the first step works from the keyboard with
// a visible focus ring; a data set whose rows hold markup is shown as text in the preview and the
// explorer (the demo page's check is in export.browser.test.ts); axe-core finds no serious or critical violation in any
// step; each step is photographed at desktop width and at 390 px (with nothing wider than the
// screen); a training run blocks the main thread for no more than 200 ms at a time; and after one
// visit the page loads, trains and evaluates with the network off and both servers gone, then
// picks up a new deployment and says so; all of it under the page's Content-Security-Policy,
// checked in force both as the server sends the page and as the service worker does.
// One body for Chromium and Firefox (the `firefox` project) through `TestPage`; the long-task
// check needs the `longtask` entry type, which Firefox does not report, so it is Chromium's.
// Firefox's photographs are `firefox-page-<width>-<step>.png` beside Chromium's.

import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic, type StaticServer } from '../../scripts/serve.js';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID } from '../../src/lib/config.ts';
import { buildQaDataset } from '../fixtures/dataset.ts';
import { ensureFixtures, writeQaDataset } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { ARTIFACTS_DIR, axeViolationsOn, DIST_DIR, ENGINES, launchEngine, overflowingAt, probeCsp, type EngineSession, type TestPage } from './browser.ts';

/** Markup that would run script if any part of the page put a row in as HTML. */
const XSS_DOC = '<img src=x onerror=alert(1)>';
const XSS_QUESTION = '<script>alert(2)</script><b>bold</b> question';
const STEPS = ['compute', 'step-model', 'step-data', 'step-train', 'step-eval', 'step-models', 'step-share', 'storage-panel'];

let work: string;
let siteRoot: string;
let site: StaticServer;
let hub: LocalHub;
let session: EngineSession;
/** The data set the Hub serves (rows as written), for the hygiene counts. */
let qa: ReturnType<typeof buildQaDataset>;
const engine = ENGINES[0];
const shot = (name: string) => join(ARTIFACTS_DIR, engine === 'chromium' ? name : `${engine}-${name}`);

beforeAll(async () => {
  const paths = ensureFixtures();
  work = await mkdtemp(join(tmpdir(), 'tabtune-page-'));
  // qa-tiny with one document and one question replaced by markup (the first train row, so the
  // preview shows both).
  const data = buildQaDataset();
  const first = data.train[0];
  data.docs[first.id] = XSS_DOC;
  for (const r of [...data.train, ...data.test]) if (r.id === first.id) r.doc = XSS_DOC;
  first.question = XSS_QUESTION;
  // For the hygiene check: one training row twice, and one test question on a document no
  // training row has (every other test question asks about a trained document, as in the seed's).
  data.train.push({ ...first });
  data.test.push({ question: 'Which document is in the test split only?', doc: 'A document that no training row has.', id: data.docs.length });
  qa = data;
  writeQaDataset(join(work, 'qa-xss'), data);
  // A copy of the build, so the test can deploy a "new version" over it.
  siteRoot = join(work, 'site');
  await cp(DIST_DIR, siteRoot, { recursive: true });
  site = await serveStatic({ root: siteRoot });
  hub = await startLocalHub({ models: { [DEFAULT_MODEL_ID]: paths.tinyBge }, datasets: { [DEFAULT_DATASET_ID]: join(work, 'qa-xss') } });
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  session = await launchEngine(engine, { webgpu: false });
});
afterAll(async () => {
  await session?.close();
  await hub?.close();
  await site?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

type Page = TestPage;

/** Every step photographed at this width, and nothing on the page wider than the window. */
async function photographSteps(page: Page, width: number): Promise<void> {
  await page.setViewport(width, 900);
  for (const step of STEPS) await page.screenshot(shot(`page-${width}-${step}.png`), { target: step });
  const overflowing = await overflowingAt(page, width);
  expect(overflowing, `at ${width} px`).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `at ${width} px the page scrolls sideways`).toBeLessThanOrEqual(width);
}

/** How many pixels of the chart's canvas are drawn on (axes, grid, lines). */
async function paintedPixels(page: Page, testid: string): Promise<number> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
    return n;
  }, `[data-testid=${testid}] canvas`);
}

/**
 * Waits for an element from inside the page (a MutationObserver), not by Playwright's polling,
 * whose queries run on the main thread and would count in its long tasks.
 */
async function appears(page: Page, selector: string, timeoutMs = 180_000): Promise<void> {
  await page.evaluate(
    ([selector, timeoutMs]: readonly [string, number]) =>
      new Promise<void>((resolve, reject) => {
        if (document.querySelector(selector)) return resolve();
        const timer = setTimeout(() => reject(new Error(`${selector} did not appear in ${timeoutMs} ms`)), timeoutMs);
        const seen = new MutationObserver(() => {
          if (!document.querySelector(selector)) return;
          seen.disconnect();
          clearTimeout(timer);
          resolve();
        });
        seen.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
      }),
    [selector, timeoutMs] as const,
  );
}

/** Clicks the button with this test id and returns the file it downloads. */
async function download(page: Page, testid: string): Promise<Buffer> {
  return (await page.download(testid, 30_000)).bytes;
}

async function swVersion(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const c = new MessageChannel();
        c.port1.onmessage = (e) => resolve(e.data);
        navigator.serviceWorker.controller!.postMessage({ type: 'version' }, [c.port2]);
      }),
    undefined,
  );
}

describe(`the page as people expect it (${engine})`, () => {
  it('works from the keyboard, shows markup as text, passes axe, fits 390 px, keeps the main thread free, works offline and picks up a new deployment', async () => {
    const { page } = session;
    /** The first model item's element with this test id. */
    const item = (t: string) => `[data-testid=model-item] [data-testid=${t}]`;
    // Long tasks from the first byte on, where the engine reports them; the test reads those
    // inside the training run. An alert any markup managed to call is recorded, not shown.
    await page.addInitScript(() => {
      const alerts: string[] = ((globalThis as any).__alerts = []);
      globalThis.alert = (m?: unknown) => void alerts.push(String(m));
      if (!PerformanceObserver.supportedEntryTypes.includes('longtask')) return;
      const tasks: { start: number; duration: number }[] = ((globalThis as any).__longTasks = []);
      new PerformanceObserver((list) => tasks.push(...list.getEntries().map((e) => ({ start: e.startTime, duration: e.duration })))).observe({ type: 'longtask', buffered: true });
      // Long animation frames name the scripts that ran, so a failure says what held the thread.
      const frames: { start: number; scripts: string[] }[] = ((globalThis as any).__longFrames = []);
      new PerformanceObserver((list) =>
        frames.push(...list.getEntries().map((e: any) => ({ start: e.startTime, scripts: e.scripts.filter((s: any) => s.duration > 20).map((s: any) => `${s.invoker} ${s.duration.toFixed(0)} ms`) }))),
      ).observe({ type: 'long-animation-frame', buffered: true });
    });
    const url = `${site.url}?${new URLSearchParams({ hub: hub.url, maxSteps: '6', batchSize: '16' })}`;
    await page.goto(url);
    await page.waitFor('offline-ready', { timeout: 60_000 });
    // The Content-Security-Policy (serve.js's header and the meta tag) is in force: no inline
    // script, and no connection to a host that is not one of the page's Hubs.
    expect(await probeCsp(session, page), 'the page as the server sends it').toEqual({ inlineRan: false, fetched: false, violated: ['connect-src', 'script-src-elem', 'script-src-elem'] });
    // axe's findings per state of the page, asserted at the end so one run reports them all.
    const a11y: Record<string, Awaited<ReturnType<typeof axeViolationsOn>>> = { empty: await axeViolationsOn(page) };

    // From the keyboard: Tab reaches Download with a visible focus ring, and Enter presses it.
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'model-download'; i++) {
      await page.pressKey('Tab');
      focused = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.testid ?? '');
    }
    expect(focused).toBe('model-download');
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none');
    await page.pressKey('Enter');

    // Markup in rows is text in the preview.
    await page.waitFor('model-loaded', { timeout: 60_000 });
    await page.click('data-load');
    await page.waitFor('data-preview', { timeout: 60_000 });
    expect(await page.texts('[data-testid=data-preview] tbody tr:first-child td')).toEqual(expect.arrayContaining([XSS_QUESTION, XSS_DOC]));
    expect(await page.count('[data-testid=data-preview] :is(img, script, b)')).toBe(0);

    // Data hygiene: the counts equal a plain count over the rows the Hub serves, examples are
    // text, and each remedy changes the rows the run will use and is undone by a second click.
    const pairs = new Set<string>();
    const distinct = qa.train.filter((r) => !pairs.has(`${r.question}\n${r.doc}`) && !!pairs.add(`${r.question}\n${r.doc}`));
    const perDoc = new Map<string, number>();
    for (const r of distinct) perDoc.set(r.doc, (perDoc.get(r.doc) ?? 0) + 1);
    const leaked = qa.test.filter((r) => perDoc.has(r.doc)).length;
    expect(await page.attr('hygiene-duplicates', 'data-count')).toBe(String(qa.train.length - distinct.length));
    expect(await page.attr('hygiene-shared', 'data-count')).toBe(String(distinct.filter((r) => perDoc.get(r.doc)! > 1).length));
    expect(await page.attr('hygiene-leaked', 'data-count')).toBe(String(leaked));
    expect(await page.count('[data-testid=data-hygiene] :is(img, script, b)')).toBe(0);
    expect(await page.text('data-hygiene')).toContain(XSS_DOC);
    const used = (train: number, test: number) => `Training will use ${train} train / ${test} test rows.`;
    expect(await page.text('hygiene-used')).toBe(used(qa.train.length, qa.test.length));
    await page.click('hygiene-drop');
    await expect.poll(() => page.text('hygiene-used')).toBe(used(distinct.length, qa.test.length));
    await page.click('hygiene-move');
    await expect.poll(() => page.text('hygiene-used')).toBe(used(distinct.length + leaked, qa.test.length - leaked));
    await page.click('hygiene-drop');
    await page.click('hygiene-move');
    await expect.poll(() => page.text('hygiene-used')).toBe(used(qa.train.length, qa.test.length));

    // The Train step shows the prompts the run will use (the fixture names none) and takes edits.
    expect([await page.value('cfg-prompt-query'), await page.text('cfg-prompt-query-why')]).toEqual(['', 'none (the model names no prompt for it)']);
    await page.fill('cfg-prompt-query', 'query: ');
    await expect.poll(() => page.text('cfg-prompt-query-why')).toBe('set by the run');
    await page.click('cfg-prompt-query-auto');
    await expect.poll(() => page.text('cfg-prompt-query-why')).toBe('none (the model names no prompt for it)');
    expect(await page.value('cfg-prompt-query')).toBe('');

    // A budget below what the run needs: the page refuses to start, says why and what would fit,
    // and nothing stored is lost. Clearing the field gives the default budget back.
    await page.waitFor('memory-summary', { timeout: 60_000 });
    const stored = await page.text('storage-groups');
    await page.fill('cfg-memory-budget', '1');
    await page.waitFor('memory-refusal', { timeout: 30_000 });
    expect((await page.text('memory-refusal'))!.replace(/\s+/g, ' ')).toMatch(/This run does not fit in memory: it needs [\d,]+ MB of memory at its peak, over the 1 MB budget\. Start is off until it fits\./);
    expect(await page.texts('memory-suggestion')).toEqual([expect.stringMatching(/^a budget of [\d,]+ MB \(memoryBudgetMB\) fits this run as it is$/)]);
    expect(await page.disabled('train-start')).toBe(true);
    // "Use this" applies the suggestion: the budget it names, and the run fits.
    const suggested = /a budget of ([\d,]+) MB/.exec((await page.text('memory-suggestion'))!)![1].replace(/,/g, '');
    await page.click('memory-apply');
    await expect.poll(() => page.count('memory-refusal'), { timeout: 30_000 }).toBe(0);
    expect(await page.value('cfg-memory-budget')).toBe(suggested);
    expect(await page.disabled('train-start')).toBe(false);
    await page.fill('cfg-memory-budget', '');
    await expect.poll(() => page.count('memory-refusal'), { timeout: 30_000 }).toBe(0);
    expect(await page.disabled('train-start')).toBe(false);
    // Firefox has no navigator.deviceMemory: the page says what it assumed instead.
    expect((await page.text('memory-summary'))!.replace(/\s+/g, ' ')).toMatch(/budget [\d,]+ MB \(half of the \d+ GB this device (reports|is assumed to have)/);
    expect(await page.text('storage-groups')).toBe(stored);
    expect(await page.evaluate(() => document.querySelector('[data-testid=model-loaded]')?.checkVisibility() ?? false)).toBe(true);

    // The loss menu: each loss shows its own parameters (its record's) with their defaults, a bad
    // value is named, and going back to MNRL gives its default again (the run below is unchanged).
    await page.select('cfg-loss', 'triplet');
    expect([await page.value('cfg-loss-margin'), await page.value('cfg-loss-distance'), await page.count('[data-testid=cfg-loss-scale]')]).toEqual(['5', 'euclidean', 0]);
    await page.fill('cfg-loss-margin', '');
    await expect.poll(() => page.text('config-error')).toBe('loss.margin: must be a finite number, got null');
    await page.select('cfg-loss', 'mnrl');
    expect([await page.value('cfg-loss-scale'), await page.count('[data-testid=cfg-loss-margin]')]).toEqual(['20', 0]);
    await expect.poll(() => page.count('[data-testid=config-error]')).toBe(0);

    // Evaluation during training every 2 updates: the series beside the loss, then the best/last choice.
    await page.select('cfg-eval-every', 'n');
    await page.fill('cfg-eval-n', '2');
    await expect.poll(() => page.count('[data-testid=config-error]')).toBe(0);

    // Training: no main-thread task over 200 ms while it runs.
    const trainStart = await page.evaluate(() => performance.now());
    await page.click('train-start');
    await appears(page, '[data-testid=train-live][data-status=done]');
    const trainEnd = await page.evaluate(() => performance.now());
    expect(await page.text('train-step')).toBe('6');
    const tasks = (await page.evaluate(() => (globalThis as any).__longTasks ?? null)) as { start: number; duration: number }[] | null;
    if (engine === 'chromium') expect(tasks, 'Chromium reports long tasks').not.toBeNull();
    if (tasks) {
      const during = tasks.filter((t) => t.start >= trainStart && t.start <= trainEnd);
      console.log(`long tasks while training (${((trainEnd - trainStart) / 1000).toFixed(1)} s): ${during.length}, longest ${Math.max(0, ...during.map((t) => t.duration)).toFixed(0)} ms; at ${during.map((t) => `+${(t.start - trainStart).toFixed(0)} ms: ${t.duration.toFixed(0)} ms`).join(", ")}`);
      const frames = (await page.evaluate(() => (globalThis as any).__longFrames)) as { start: number; scripts: string[] }[];
      const scripts = frames.filter((f) => f.start >= trainStart && f.start <= trainEnd && f.scripts.length).map((f) => `+${(f.start - trainStart).toFixed(0)} ms: ${f.scripts.join(', ')}`);
      console.log(`scripts over 20 ms in long frames while training: ${scripts.join('; ') || 'none'}`);
      expect(during.filter((t) => t.duration > 200)).toEqual([]);
    }

    // The plots: each training curve and nDCG@10 by dimension, as PNG and as CSV.
    for (const chart of ['loss-chart', 'lr-chart', 'grad-chart', 'rate-chart', 'ndcg-chart']) {
      if (chart !== 'ndcg-chart') expect(await page.attr(chart, 'data-points'), chart).toBe('6');
      expect(await paintedPixels(page, chart), `${chart} drew nothing`).toBeGreaterThan(500);
    }
    const png = await download(page, 'loss-chart-png');
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.readUInt32BE(16)).toBeGreaterThan(200); // IHDR width
    const lossCsv = (await download(page, 'loss-chart-csv')).toString('utf8').trim().split(/\r\n/);
    expect(lossCsv[0]).toBe('update,loss,smoothed (EMA 0.6)');
    expect(lossCsv.slice(1).map((r) => Number(r.split(',')[0]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Number(lossCsv[6].split(',')[1]).toFixed(4)).toBe((await page.text('train-loss'))!.trim());
    const ndcgCsv = (await download(page, 'ndcg-chart-csv')).toString('utf8').trim().split(/\r\n/);
    const evalCells = await page.texts('[data-testid=eval-table] tbody tr:first-child td');
    expect(ndcgCsv[0]).toBe('dimension,before,after');
    const [dim, before, after] = ndcgCsv[1].split(',').map(Number);
    expect([dim, before.toFixed(4), after.toFixed(4)]).toEqual([32, evalCells[1], evalCells[2]]);

    // The series: nDCG@10 per dim at updates 2, 4, 6, drawn and downloadable; its cost is shown.
    expect(await page.attr('eval-chart', 'data-points')).toBe('3');
    expect(await paintedPixels(page, 'eval-chart'), 'eval-chart drew nothing').toBeGreaterThan(500);
    const evalCsv = (await download(page, 'eval-chart-csv')).toString('utf8').trim().split(/\r\n/);
    expect(evalCsv[0]).toBe('update,dim 32');
    expect(evalCsv.slice(1).map((r) => Number(r.split(',')[0]))).toEqual([2, 4, 6]);
    // The last evaluation is the model's "after" (the model holds the last update: no eval.best).
    expect(Number(evalCsv[3].split(',')[1]).toFixed(4)).toBe(evalCells[2]);
    expect((await page.text('eval-cost'))!).toMatch(/Evaluation during training: \d+ % of the time so far \([\d.]+ s per evaluation, [\d.]+ s per update\) — eval\.everyUpdates = 2\./);
    expect([await page.attr('kept-choice', 'data-choice'), await page.attr('kept-choice', 'data-step')]).toEqual(['last', '6']);
    const series = evalCsv.slice(1).map((r) => Number(r.split(',')[1]));
    const bestAt = [2, 4, 6][series.indexOf(Math.max(...series))];
    console.log(`evaluation during training: nDCG@10 ${series.join(', ')} at updates 2, 4, 6; best at ${bestAt}`);
    if (bestAt !== 6) {
      // Use the best: the model, its "after" and My models follow; then back to the last.
      await page.click('use-best');
      await expect.poll(() => page.attr('kept-choice', 'data-choice')).toBe('best');
      expect(await page.attr('kept-choice', 'data-step')).toBe(String(bestAt));
      await expect.poll(() => page.attr(item('model-kept'), 'data-step')).toBe(String(bestAt));
      await page.click('use-last');
      await expect.poll(() => page.attr('kept-choice', 'data-choice')).toBe('last');
      await expect.poll(() => page.attr(item('model-kept'), 'data-step')).toBe('6');
    } else {
      expect(await page.count('[data-testid=use-best]')).toBe(0);
      expect(await page.text('kept-choice')).toContain('is also the best by mean nDCG@10');
    }

    // The explorer: the markup document, found by its own text, is shown as text.
    await page.click('[data-testid=all-metrics] summary');
    await page.click(item('model-explore'));
    await expect.poll(() => page.count(`${item('explore-pick')} option`), { timeout: 120_000 }).toBeGreaterThan(1);
    await page.fill(item('explore-query'), XSS_DOC);
    await page.click(item('explore-go'));
    await page.waitFor(item('explore-summary'), { timeout: 60_000 });
    for (const side of ['before', 'after']) expect((await page.texts(`${item(`explore-${side}`)} .text`))[0]).toBe(XSS_DOC);
    expect(await page.count(`${item('explorer')} :is(img, script)`)).toBe(0);
    await page.click(item('model-export'));
    await page.waitFor(item('export-panel'));

    // Every step, filled in, with the panels open: axe, and photographs at both widths.
    a11y.filled = await axeViolationsOn(page);
    await photographSteps(page, 1000);
    await photographSteps(page, 390);
    a11y.narrow = await axeViolationsOn(page);
    expect(a11y).toEqual({ empty: [], filled: [], narrow: [] });
    await page.setViewport(1000, 800);

    // Offline: no network and no servers. The page comes from the service worker's cache, the
    // model and data from IndexedDB; it trains and evaluates.
    const version = await swVersion(page);
    await site.close();
    await hub.close();
    await page.setOffline(true);
    await page.reload();
    expect(await probeCsp(session, page), 'the page as the service worker serves it').toEqual({ inlineRan: false, fetched: false, violated: ['connect-src', 'script-src-elem', 'script-src-elem'] });
    await page.click('model-download');
    await page.waitFor('model-loaded', { timeout: 60_000 });
    expect(await page.text('model-loaded')).toContain('offline: from the cache');
    await page.click('data-load');
    await page.waitFor('data-loaded', { timeout: 60_000 });
    expect(await page.text('data-loaded')).toContain('offline: from the cache');
    await page.click('train-start');
    await page.waitFor('train-live', { attr: ['data-status', 'done'], timeout: 180_000 });
    expect(await page.text('train-step')).toBe('6');
    expect(await page.count('[data-testid=eval-table] tbody tr')).toBe(1);
    await page.screenshot(shot('page-offline.png'), { fullPage: true });

    // A new deployment on the same origin: installed in the background, announced, used after
    // "Reload now".
    await page.setOffline(false);
    const sw = join(siteRoot, 'sw.js');
    await writeFile(sw, (await readFile(sw, 'utf8')).replace(JSON.stringify(version), JSON.stringify('next-deployment')));
    site = await serveStatic({ root: siteRoot, port: Number(new URL(site.url).port) });
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await page.waitFor('update-ready', { timeout: 60_000 });
    expect(await swVersion(page)).toBe(version);
    // A mark on the old document, gone once the reload has replaced it.
    await page.evaluate(() => void ((globalThis as any).__beforeUpdate = true));
    await page.click('update-reload');
    await expect.poll(() => page.evaluate(() => !('__beforeUpdate' in globalThis) && document.querySelector('[data-testid=offline-ready]') !== null).catch(() => false), { timeout: 60_000 }).toBe(true);
    expect(await swVersion(page)).toBe('next-deployment');
    expect(await page.count('update-ready')).toBe(0);

    expect(await page.evaluate(() => (globalThis as any).__alerts)).toEqual([]);
    // Offline, the page's own Hub fetches fail by design; anything else is a defect.
    expect(session.errors.filter((e) => !/Failed to fetch|ERR_INTERNET_DISCONNECTED|net::ERR|NetworkError when attempting to fetch/.test(e))).toEqual([]);
  }, 600_000);
});

// The page as people expect it, in Debian's Chromium: the first step works from the keyboard with
// a visible focus ring; a data set whose rows hold markup is shown as text in the preview and the
// explorer (the demo page's check is in export.browser.test.ts); axe-core finds no serious or critical violation in any
// step; each step is photographed at desktop width and at 390 px (with nothing wider than the
// screen); a training run blocks the main thread for no more than 200 ms at a time; and after one
// visit the page loads, trains and evaluates with the network off and both servers gone, then
// picks up a new deployment and says so; all of it under the page's Content-Security-Policy,
// checked in force both as the server sends the page and as the service worker does.

import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic, type StaticServer } from '../../scripts/serve.js';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID } from '../../src/lib/config.ts';
import { buildQaDataset } from '../fixtures/dataset.ts';
import { ensureFixtures, writeQaDataset } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { ARTIFACTS_DIR, axeViolations, DIST_DIR, launchBrowser, probeCsp, type BrowserSession } from './browser.ts';

/** Markup that would run script if any part of the page put a row in as HTML. */
const XSS_DOC = '<img src=x onerror=alert(1)>';
const XSS_QUESTION = '<script>alert(2)</script><b>bold</b> question';
const STEPS = ['compute', 'step-model', 'step-data', 'step-train', 'step-eval', 'step-models', 'step-share', 'storage-panel'];

let work: string;
let siteRoot: string;
let site: StaticServer;
let hub: LocalHub;
let session: BrowserSession;

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
  writeQaDataset(join(work, 'qa-xss'), data);
  // A copy of the build, so the test can deploy a "new version" over it.
  siteRoot = join(work, 'site');
  await cp(DIST_DIR, siteRoot, { recursive: true });
  site = await serveStatic({ root: siteRoot });
  hub = await startLocalHub({ models: { [DEFAULT_MODEL_ID]: paths.tinyBge }, datasets: { [DEFAULT_DATASET_ID]: join(work, 'qa-xss') } });
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  session = await launchBrowser({ webgpu: false });
});
afterAll(async () => {
  await session?.close();
  await hub?.close();
  await site?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

type Page = BrowserSession['page'];

/** Every step photographed at this width, and nothing on the page wider than the window. */
async function photographSteps(page: Page, width: number): Promise<void> {
  await page.setViewportSize({ width, height: 900 });
  for (const step of STEPS) await page.getByTestId(step).screenshot({ path: join(ARTIFACTS_DIR, `page-${width}-${step}.png`) });
  // The outermost elements that stick out past the window's right edge (a box that scrolls
  // sideways holds what is inside it).
  const overflowing = await page.evaluate((width) => {
    const clipped = (el: Element) => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX);
    const out: string[] = [];
    const visit = (el: Element) => {
      if (el.getBoundingClientRect().right > width + 1) {
        out.push(`${el.tagName.toLowerCase()}${(el as HTMLElement).dataset.testid ? `[${(el as HTMLElement).dataset.testid}]` : ''}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`);
        return;
      }
      if (!clipped(el)) for (const c of el.children) visit(c);
    };
    for (const c of document.body.children) visit(c);
    return out;
  }, width);
  expect(overflowing, `at ${width} px`).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `at ${width} px the page scrolls sideways`).toBeLessThanOrEqual(width);
}

/** How many pixels of the chart's canvas are drawn on (axes, grid, lines). */
async function paintedPixels(page: Page, testid: string): Promise<number> {
  return page.getByTestId(testid).locator('canvas').evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
    return n;
  });
}

/**
 * Waits for an element from inside the page (a MutationObserver), not by Playwright's polling,
 * whose queries run on the main thread and would count in its long tasks.
 */
async function appears(page: Page, selector: string, timeoutMs = 180_000): Promise<void> {
  await page.evaluate(
    ([selector, timeoutMs]) =>
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
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testid).click()]);
  return readFile((await file.path())!);
}

async function swVersion(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const c = new MessageChannel();
        c.port1.onmessage = (e) => resolve(e.data);
        navigator.serviceWorker.controller!.postMessage({ type: 'version' }, [c.port2]);
      }),
  );
}

describe('the page as people expect it', () => {
  it('works from the keyboard, shows markup as text, passes axe, fits 390 px, keeps the main thread free, works offline and picks up a new deployment', async () => {
    const { page, context } = session;
    const id = (t: string) => page.getByTestId(t);
    const dialogs: string[] = [];
    page.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss()));
    // Long tasks from the first byte on; the test reads those inside the training run.
    await context.addInitScript(() => {
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
    await id('offline-ready').waitFor({ timeout: 60_000 });
    // The Content-Security-Policy (serve.js's header and the meta tag) is in force: no inline
    // script, and no connection to a host that is not one of the page's Hubs.
    expect(await probeCsp(session, page), 'the page as the server sends it').toEqual({ inlineRan: false, fetched: false, violated: ['connect-src', 'script-src-elem', 'script-src-elem'] });
    // axe's findings per state of the page, asserted at the end so one run reports them all.
    const a11y: Record<string, Awaited<ReturnType<typeof axeViolations>>> = { empty: await axeViolations(page) };

    // From the keyboard: Tab reaches Download with a visible focus ring, and Enter presses it.
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'model-download'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.testid ?? '');
    }
    expect(focused).toBe('model-download');
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe('none');
    await page.keyboard.press('Enter');

    // Markup in rows is text in the preview.
    await id('model-loaded').waitFor({ timeout: 60_000 });
    await id('data-load').click();
    await id('data-preview').waitFor({ timeout: 60_000 });
    const firstRow = (await id('data-preview').locator('tbody tr').first().locator('td').allTextContents()).map((t) => t.trim());
    expect(firstRow).toEqual(expect.arrayContaining([XSS_QUESTION, XSS_DOC]));
    expect(await id('data-preview').locator('img, script, b').count()).toBe(0);

    // A budget below what the run needs: the page refuses to start, says why and what would fit,
    // and nothing stored is lost. Clearing the field gives the default budget back.
    await id('memory-summary').waitFor({ timeout: 60_000 });
    const stored = await id('storage-groups').textContent();
    await id('cfg-memory-budget').fill('1');
    await id('memory-refusal').waitFor({ timeout: 30_000 });
    expect((await id('memory-refusal').textContent())!.replace(/\s+/g, ' ')).toMatch(/This run does not fit in memory: it needs [\d,]+ MB of memory at its peak, over the 1 MB budget\. Start is off until it fits\./);
    expect(await id('memory-suggestion').allTextContents()).toEqual([expect.stringMatching(/^a budget of [\d,]+ MB \(memoryBudgetMB\) fits this run as it is$/)]);
    expect(await id('train-start').isDisabled()).toBe(true);
    // "Use this" applies the suggestion: the budget it names, and the run fits.
    const suggested = /a budget of ([\d,]+) MB/.exec((await id('memory-suggestion').textContent())!)![1].replace(/,/g, '');
    await id('memory-apply').click();
    await expect.poll(() => id('memory-refusal').count(), { timeout: 30_000 }).toBe(0);
    expect(await id('cfg-memory-budget').inputValue()).toBe(suggested);
    expect(await id('train-start').isEnabled()).toBe(true);
    await id('cfg-memory-budget').fill('');
    await expect.poll(() => id('memory-refusal').count(), { timeout: 30_000 }).toBe(0);
    expect(await id('train-start').isEnabled()).toBe(true);
    expect((await id('memory-summary').textContent())!.replace(/\s+/g, ' ')).toMatch(/budget [\d,]+ MB \(half of the \d+ GB this device reports/);
    expect(await id('storage-groups').textContent()).toBe(stored);
    expect(await id('model-loaded').isVisible()).toBe(true);

    // Training: no main-thread task over 200 ms while it runs.
    const trainStart = await page.evaluate(() => performance.now());
    await id('train-start').click();
    await appears(page, '[data-testid=train-live][data-status=done]');
    const trainEnd = await page.evaluate(() => performance.now());
    expect(await id('train-step').textContent()).toBe('6');
    const tasks = (await page.evaluate(() => (globalThis as any).__longTasks)) as { start: number; duration: number }[];
    const during = tasks.filter((t) => t.start >= trainStart && t.start <= trainEnd);
    console.log(`long tasks while training (${((trainEnd - trainStart) / 1000).toFixed(1)} s): ${during.length}, longest ${Math.max(0, ...during.map((t) => t.duration)).toFixed(0)} ms; at ${during.map((t) => `+${(t.start - trainStart).toFixed(0)} ms: ${t.duration.toFixed(0)} ms`).join(", ")}`);
    const frames = (await page.evaluate(() => (globalThis as any).__longFrames)) as { start: number; scripts: string[] }[];
    const scripts = frames.filter((f) => f.start >= trainStart && f.start <= trainEnd && f.scripts.length).map((f) => `+${(f.start - trainStart).toFixed(0)} ms: ${f.scripts.join(', ')}`);
    console.log(`scripts over 20 ms in long frames while training: ${scripts.join('; ') || 'none'}`);
    expect(during.filter((t) => t.duration > 200)).toEqual([]);

    // The plots: each training curve and nDCG@10 by dimension, as PNG and as CSV.
    for (const chart of ['loss-chart', 'lr-chart', 'grad-chart', 'rate-chart', 'ndcg-chart']) {
      if (chart !== 'ndcg-chart') expect(await id(chart).getAttribute('data-points'), chart).toBe('6');
      expect(await paintedPixels(page, chart), `${chart} drew nothing`).toBeGreaterThan(500);
    }
    const png = await download(page, 'loss-chart-png');
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.readUInt32BE(16)).toBeGreaterThan(200); // IHDR width
    const lossCsv = (await download(page, 'loss-chart-csv')).toString('utf8').trim().split(/\r\n/);
    expect(lossCsv[0]).toBe('update,loss,smoothed (EMA 0.6)');
    expect(lossCsv.slice(1).map((r) => Number(r.split(',')[0]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Number(lossCsv[6].split(',')[1]).toFixed(4)).toBe((await id('train-loss').textContent())!.trim());
    const ndcgCsv = (await download(page, 'ndcg-chart-csv')).toString('utf8').trim().split(/\r\n/);
    const evalCells = (await id('eval-table').locator('tbody tr').first().locator('td').allTextContents()).map((t) => t.trim());
    expect(ndcgCsv[0]).toBe('dimension,before,after');
    const [dim, before, after] = ndcgCsv[1].split(',').map(Number);
    expect([dim, before.toFixed(4), after.toFixed(4)]).toEqual([32, evalCells[1], evalCells[2]]);

    // The explorer: the markup document, found by its own text, is shown as text.
    await id('all-metrics').locator('summary').click();
    const item = id('model-item').first();
    await item.getByTestId('model-explore').click();
    await expect.poll(() => item.getByTestId('explore-pick').locator('option').count(), { timeout: 120_000 }).toBeGreaterThan(1);
    await item.getByTestId('explore-query').fill(XSS_DOC);
    await item.getByTestId('explore-go').click();
    await item.getByTestId('explore-summary').waitFor({ timeout: 60_000 });
    for (const side of ['before', 'after']) expect((await item.getByTestId(`explore-${side}`).locator('.text').first().textContent())?.trim()).toBe(XSS_DOC);
    expect(await item.getByTestId('explorer').locator('img, script').count()).toBe(0);
    await item.getByTestId('model-export').click();
    await item.getByTestId('export-panel').waitFor();

    // Every step, filled in, with the panels open: axe, and photographs at both widths.
    a11y.filled = await axeViolations(page);
    await photographSteps(page, 1000);
    await photographSteps(page, 390);
    a11y.narrow = await axeViolations(page);
    expect(a11y).toEqual({ empty: [], filled: [], narrow: [] });
    await page.setViewportSize({ width: 1000, height: 800 });

    // Offline: no network and no servers. The page comes from the service worker's cache, the
    // model and data from IndexedDB; it trains and evaluates.
    const version = await swVersion(page);
    await site.close();
    await hub.close();
    await context.setOffline(true);
    await page.reload();
    expect(await probeCsp(session, page), 'the page as the service worker serves it').toEqual({ inlineRan: false, fetched: false, violated: ['connect-src', 'script-src-elem', 'script-src-elem'] });
    await id('model-download').click();
    await id('model-loaded').waitFor({ timeout: 60_000 });
    expect(await id('model-loaded').textContent()).toContain('offline: from the cache');
    await id('data-load').click();
    await id('data-loaded').waitFor({ timeout: 60_000 });
    expect(await id('data-loaded').textContent()).toContain('offline: from the cache');
    await id('train-start').click();
    await page.locator('[data-testid=train-live][data-status=done]').waitFor({ timeout: 180_000 });
    expect(await id('train-step').textContent()).toBe('6');
    expect(await id('eval-table').locator('tbody tr').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'page-offline.png'), fullPage: true });

    // A new deployment on the same origin: installed in the background, announced, used after
    // "Reload now".
    await context.setOffline(false);
    const sw = join(siteRoot, 'sw.js');
    await writeFile(sw, (await readFile(sw, 'utf8')).replace(JSON.stringify(version), JSON.stringify('next-deployment')));
    site = await serveStatic({ root: siteRoot, port: Number(new URL(site.url).port) });
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await id('update-ready').waitFor({ timeout: 60_000 });
    expect(await swVersion(page)).toBe(version);
    await Promise.all([page.waitForEvent('load'), id('update-reload').click()]);
    await id('offline-ready').waitFor({ timeout: 60_000 });
    expect(await swVersion(page)).toBe('next-deployment');
    expect(await id('update-ready').count()).toBe(0);

    expect(dialogs).toEqual([]);
    // Offline, the page's own Hub fetches fail by design; anything else is a defect.
    expect(session.errors.filter((e) => !/Failed to fetch|ERR_INTERNET_DISCONNECTED|net::ERR/.test(e))).toEqual([]);
  }, 600_000);
});

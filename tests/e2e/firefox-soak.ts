// A soak of the page in Firefox: the same first-visit path as app.browser.test.ts (download the
// default model and data set from the local Hub, train one epoch with evaluation before and
// after, find the model in "My models" after a reload), run N times, each in a fresh Firefox
// profile, with a time limit per phase. A phase that runs out of time is recorded with the page's
// visible status and the console lines seen so far (page and, where the engine forwards them,
// workers), so a hang says where it hung. It is a measuring tool, not a test: it is not in the
// vitest projects (too slow for CI) and it exits non-zero when a run failed.
//
//   npx tsx tests/e2e/firefox-soak.ts --runs 20
//
// Uses Debian's firefox-esr through puppeteer-core over WebDriver BiDi (no browser download).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { serveStatic } from '../../scripts/serve.js';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID } from '../../src/lib/config.ts';
import { ensureFixtures } from '../fixtures/fixtures.ts';
import { startLocalHub } from '../hub/local-hub.ts';
import { ARTIFACTS_DIR, DIST_DIR, REPO_ROOT } from './browser.ts';

const HELP = `Usage: npx tsx tests/e2e/firefox-soak.ts [options]

Runs the page's first-visit path in Firefox N times (fresh profile each), a time limit per phase.

  --runs N            how many runs (default 20)
  --phase-timeout S   seconds a phase may take before the run counts as hung (default 90)
  --firefox PATH      the Firefox binary (default /usr/bin/firefox-esr, or $FIREFOX_PATH)
  --build             rebuild dist/ first (default: build only when dist/ is missing)
  --log FILE          write every run's console lines to FILE (default tests/.artifacts/firefox-soak.log)
  --help              this text`;

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    'phase-timeout': { type: 'string', default: '90' },
    firefox: { type: 'string', default: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr' },
    build: { type: 'boolean', default: false },
    log: { type: 'string', default: join(ARTIFACTS_DIR, 'firefox-soak.log') },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const runs = Number(args.runs);
const phaseMs = Number(args['phase-timeout']) * 1000;
if (!Number.isInteger(runs) || runs < 1 || !(phaseMs > 0)) {
  console.error(HELP);
  process.exit(2);
}

if (args.build || !existsSync(join(DIST_DIR, 'index.html'))) {
  const env = { ...process.env, NODE_ENV: 'production' };
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`vite build failed (exit ${r.status})`);
}

interface RunResult {
  run: number;
  result: 'passed' | 'hung' | 'failed';
  phase: string;
  seconds: number;
  status: string;
  console: string[];
  detail?: string;
}

class PhaseTimeout extends Error {}

/** The page's visible text in the step the phase is about (what a person would be looking at). */
async function visibleStatus(page: Page, phase: string): Promise<string> {
  const step = phase === 'page' ? 'compute' : phase.startsWith('model') ? 'step-model' : phase.startsWith('data') ? 'step-data' : 'step-train';
  // A string, not a function: tsx (esbuild keepNames) would wrap inner functions in a __name()
  // helper that exists in Node, not in the page.
  const read = `(() => {
    const text = (e) => (e?.innerText ?? '').replace(/\\s+/g, ' ').trim();
    const step = text(document.querySelector('[data-testid="${step}"]')).slice(-400);
    const stopped = text(document.querySelector('[data-testid="engine-stalled"], [data-testid="worker-stopped"]'));
    return step + (stopped ? ' | ' + stopped : '');
  })()`;
  return page.evaluate(read).then(String, (e: unknown) => `(could not read the page: ${String(e)})`);
}

async function soakOnce(n: number, site: string, hubUrl: string): Promise<RunResult> {
  const t0 = performance.now();
  const lines: string[] = [];
  const stamp = () => `${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
  let browser: Browser | null = null;
  let phase = 'launch';
  let page: Page | null = null;
  const within = async <T>(name: string, work: (p: Page) => Promise<T>): Promise<T> => {
    phase = name;
    lines.push(`${stamp()} [soak] phase ${name}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([work(page!), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new PhaseTimeout(name)), phaseMs)))]);
    } finally {
      clearTimeout(timer);
    }
  };
  const wait = (p: Page, selector: string) => p.waitForSelector(selector, { timeout: 0 });
  try {
    browser = await puppeteer.launch({ browser: 'firefox', executablePath: args.firefox, headless: true, protocol: 'webDriverBiDi' });
    page = await browser.newPage();
    page.on('console', (m) => lines.push(`${stamp()} [${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`${stamp()} [pageerror] ${String(e)}`));
    await within('page', async (p) => {
      await p.goto(`${site}?hub=${encodeURIComponent(hubUrl)}`);
      await wait(p, '[data-testid=selftest][data-status=done]');
    });
    await within('model', async (p) => {
      await (await wait(p, '[data-testid=model-download]'))!.click();
      await wait(p, '[data-testid=model-loaded]');
    });
    await within('data', async (p) => {
      await (await wait(p, '[data-testid=data-load]'))!.click();
      await wait(p, '[data-testid=data-preview]');
    });
    await within('train', async (p) => {
      for (const [id, v] of [['cfg-epochs', '1'], ['cfg-batch', '16'], ['cfg-lr', '0.0005']]) {
        const input = (await wait(p, `[data-testid=${id}]`))!;
        await input.click({ count: 3 });
        await input.type(v);
      }
      await (await wait(p, '[data-testid=train-start]'))!.click();
      await p.waitForFunction(() => {
        const s = document.querySelector('[data-testid=train-live]')?.getAttribute('data-status');
        if (s === 'failed' || s === 'stopped') throw new Error(`the run ${s}: ${document.querySelector('[data-testid=train-error]')?.textContent ?? ''}`);
        return s === 'done';
      }, { timeout: 0, polling: 500 });
    });
    const table = await page.$eval('[data-testid=eval-table] tbody tr', (tr) => (tr as HTMLElement).innerText.replace(/\s+/g, ' ').trim()).catch(() => '');
    await within('reload', async (p) => {
      await p.reload();
      await wait(p, '[data-testid=model-item]');
    });
    return { run: n, result: 'passed', phase: '', seconds: (performance.now() - t0) / 1000, status: table, console: lines };
  } catch (error) {
    const hung = error instanceof PhaseTimeout;
    const status = page ? await visibleStatus(page, phase) : '';
    return { run: n, result: hung ? 'hung' : 'failed', phase, seconds: (performance.now() - t0) / 1000, status, console: lines, ...(hung ? {} : { detail: String(error) }) };
  } finally {
    await browser?.close().catch(() => undefined);
  }
}

const paths = ensureFixtures();
const hub = await startLocalHub({ models: { [DEFAULT_MODEL_ID]: paths.tinyBge }, datasets: { [DEFAULT_DATASET_ID]: paths.qaTiny } });
const site = await serveStatic({ root: DIST_DIR, isolate: true });
const results: RunResult[] = [];
await mkdir(ARTIFACTS_DIR, { recursive: true });
try {
  for (let n = 1; n <= runs; n++) {
    const r = await soakOnce(n, site.url, hub.url);
    results.push(r);
    console.log(`run ${n}: ${r.result}${r.phase ? ` in ${r.phase}` : ''} (${r.seconds.toFixed(1)} s) ${r.status}${r.detail ? ` — ${r.detail}` : ''}`);
    await writeFile(
      args.log,
      results.map((x) => `=== run ${x.run}: ${x.result} ${x.phase} ${x.seconds.toFixed(1)} s\nstatus: ${x.status}\n${x.detail ?? ''}\n${x.console.join('\n')}\n`).join('\n'),
    );
  }
} finally {
  await site.close();
  await hub.close();
}

console.log('\nrun | result | phase | seconds');
for (const r of results) console.log(`${String(r.run).padStart(3)} | ${r.result.padEnd(6)} | ${(r.phase || '—').padEnd(6)} | ${r.seconds.toFixed(1)}`);
const passed = results.filter((r) => r.result === 'passed').length;
console.log(`\n${passed} of ${results.length} passed; console lines in ${args.log}`);
process.exit(passed === results.length ? 0 : 1);

// Helpers for the browser tests: launch Debian's Chromium (never a downloaded browser) through
// playwright-core with a fresh temporary profile, forward the page's console errors to the test
// output, and serve the built page. Not a test runner: the *.browser.test.ts files use these.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { serveStatic, type StaticServer } from '../../scripts/serve.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const DIST_DIR = join(REPO_ROOT, 'dist');
export const ARTIFACTS_DIR = join(REPO_ROOT, 'tests/.artifacts');

const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface LaunchOptions {
  /** Adds --enable-unsafe-webgpu; on a machine without a GPU that gives SwiftShader's adapter. */
  webgpu?: boolean;
  extraArgs?: string[];
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions seen so far, in order. */
  errors: string[];
  /** The temporary profile folder (Chromium's --user-data-dir): how a benchmark finds its processes. */
  profile: string;
  close(): Promise<void>;
}

export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserSession> {
  await stat(CHROMIUM_PATH).catch(() => {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: install Debian's (apt-get install chromium) or set CHROMIUM_PATH`);
  });
  const profile = await mkdtemp(join(tmpdir(), 'tabtune-chromium-'));
  const args = [...BASE_ARGS, ...(options.webgpu ? ['--enable-unsafe-webgpu'] : []), ...(options.extraArgs ?? [])];
  // A persistent context is the only way to hand Chromium our own (fresh, temporary) profile.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: false, // the headless mode comes from --headless=new in args
    args,
    viewport: { width: 1000, height: 800 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  const watch = (p: Page) => {
    p.on('console', (message) => {
      if (message.type() !== 'error') return;
      const line = `[browser console] ${message.text()}`;
      errors.push(line);
      console.error(line);
    });
    p.on('pageerror', (error) => {
      const line = `[browser pageerror] ${error.message}`;
      errors.push(line);
      console.error(line);
    });
  };
  watch(page);
  context.on('page', watch);
  return {
    context,
    page,
    errors,
    profile,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Serves dist/ on a free port; `isolate: false` omits COOP/COEP. Build first (global-setup.ts). */
export function serveDist(isolate = true): Promise<StaticServer> {
  return serveStatic({ root: DIST_DIR, port: 0, isolate });
}

let axeSource: string | null = null;

/** axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: string[] }[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const axe = (globalThis as any).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n: any) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  });
}

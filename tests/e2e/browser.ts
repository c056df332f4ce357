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

/** Serves dist/ on a free port; `isolate: false` omits COOP/COEP and the CSP header. Build first (global-setup.ts). */
export function serveDist(isolate = true): Promise<StaticServer> {
  return serveStatic({ root: DIST_DIR, port: 0, isolate });
}

let axeSource: string | null = null;

/** axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: string[] }[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated, not added as a <script>: the page's CSP blocks inline scripts, and the tests keep
  // it in force.
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (globalThis as any).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n: any) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  });
}

/**
 * Whether the page's Content-Security-Policy is in force: an inline script put in through the
 * DOM must not run, and a fetch to `foreignUrl` (an https host the meta tag allows but a header
 * narrowed to the page's Hubs does not) must be refused by the policy (a `connect-src`
 * violation: with no network the fetch fails either way). The page carries two policies, the
 * meta tag's and the header's, so the inline script breaks both (two `script-src-elem`
 * violations) while only the header refuses the host. Returns what happened; the console
 * errors the two refusals print are taken out of `session.errors`, where they are expected.
 */
export async function probeCsp(session: BrowserSession, page: Page, foreignUrl = 'https://not-a-hub.invalid/'): Promise<{ inlineRan: boolean; fetched: boolean; violated: string[] }> {
  const before = session.errors.length;
  const result = await page.evaluate(async (foreignUrl) => {
    const violated: string[] = [];
    const onViolation = (e: SecurityPolicyViolationEvent) => violated.push(e.effectiveDirective);
    document.addEventListener('securitypolicyviolation', onViolation);
    const script = document.createElement('script');
    script.textContent = 'globalThis.__tabtuneInlineRan = true;';
    document.body.append(script);
    script.remove();
    const fetched = await fetch(foreignUrl).then(() => true, () => false);
    // Violation events are queued as tasks; let them arrive.
    await new Promise((r) => setTimeout(r, 100));
    document.removeEventListener('securitypolicyviolation', onViolation);
    return { inlineRan: (globalThis as { __tabtuneInlineRan?: boolean }).__tabtuneInlineRan === true, fetched, violated: violated.sort() };
  }, foreignUrl);
  const mine = /Content Security Policy|Refused to connect|Failed to fetch/;
  for (let i = session.errors.length - 1; i >= before; i--) if (mine.test(session.errors[i])) session.errors.splice(i, 1);
  return result;
}

// Helpers for the browser tests: launch Debian's Chromium through playwright-core or Debian's
// firefox-esr through puppeteer-core over WebDriver BiDi (never a downloaded browser), each with a
// fresh temporary profile; forward the page's console errors to the test output; give the flows
// one engine-neutral page (`TestPage`) so one test body runs on both engines; serve the built
// page. Not a test runner: the *.browser.test.ts files use these. Tests that need more of
// Playwright than `TestPage` offers use `launchBrowser` (Chromium only).

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import puppeteer, { type Browser as PBrowser, type BrowserContext as PContext, type Page as PPage } from 'puppeteer-core';
import { serveStatic, type StaticServer } from '../../scripts/serve.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
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

/** Records a browser's console errors and uncaught exceptions in `errors` and echoes them to the test output. */
function errorRecorder(errors: string[]) {
  const record = (line: string) => {
    errors.push(line);
    console.error(line);
  };
  return {
    console: (type: string, text: string) => type === 'error' && record(`[browser console] ${text}`),
    pageerror: (error: unknown) => record(`[browser pageerror] ${error instanceof Error ? error.message : String(error)}`),
  };
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
  const recorder = errorRecorder(errors);
  const watch = (p: Page) => {
    p.on('console', (message) => recorder.console(message.type(), message.text()));
    p.on('pageerror', recorder.pageerror);
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

/**
 * Whether the page's Content-Security-Policy is in force: an inline script put in through the
 * DOM must not run, and a fetch to `foreignUrl` (an https host the meta tag allows but a header
 * narrowed to the page's Hubs does not) must be refused by the policy (a `connect-src`
 * violation: with no network the fetch fails either way). The page carries two policies, the
 * meta tag's and the header's, so the inline script breaks both (two `script-src-elem`
 * violations) while only the header refuses the host. Returns what happened; the console
 * errors the two refusals print are taken out of `session.errors`, where they are expected.
 */
export async function probeCsp(session: { errors: string[] }, page: Page | TestPage, foreignUrl = 'https://not-a-hub.invalid/'): Promise<{ inlineRan: boolean; fetched: boolean; violated: string[] }> {
  const before = session.errors.length;
  const result = await (page as TestPage).evaluate(async (foreignUrl: string) => {
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
  // Chromium's and Firefox's words for the two refusals.
  const mine = /Content[ -]Security[ -]Policy|Refused to connect|Failed to fetch|NetworkError when attempting to fetch/;
  for (let i = session.errors.length - 1; i >= before; i--) if (mine.test(session.errors[i])) session.errors.splice(i, 1);
  return result;
}

// ---- one page interface, two engines ---------------------------------------------------------

export type Engine = 'chromium' | 'firefox';

/**
 * The engines this run covers: the vitest project sets TABTUNE_ENGINE (the `browser` project
 * Chromium, the `firefox` project Firefox); `describe.each(ENGINES)` runs one body per engine.
 */
export const ENGINES: Engine[] = (process.env.TABTUNE_ENGINE ?? 'chromium').split(',').map((e) => {
  if (e !== 'chromium' && e !== 'firefox') throw new Error(`TABTUNE_ENGINE: unknown engine "${e}" (chromium or firefox)`);
  return e;
});

/**
 * A target: a bare test id (`model-download`) or a CSS selector (`[data-testid=model-item]
 * [data-testid=model-name]`); an action or a read uses the first element that matches.
 */
export type Target = string;
const css = (t: Target) => (/^[\w-]+$/.test(t) ? `[data-testid="${t}"]` : t);

export interface FileInput {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

/** Only what the flows need, the same on both engines. */
export interface TestPage {
  readonly engine: Engine;
  goto(url: string): Promise<void>;
  reload(): Promise<void>;
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>;
  /** Runs a script's source in the page (axe-core): evaluated, not injected, under the page's CSP. */
  evaluateSource(source: string): Promise<void>;
  click(target: Target): Promise<void>;
  fill(target: Target, value: string): Promise<void>;
  select(target: Target, value: string): Promise<void>;
  press(target: Target, key: string): Promise<void>;
  /** A key pressed on whatever has the focus (Tab to move it). */
  pressKey(key: string): Promise<void>;
  /** Runs in every document this page opens, before the page's own scripts. */
  addInitScript(fn: () => void): Promise<void>;
  check(target: Target, on: boolean): Promise<void>;
  /** Waits until the target exists and, if given, its text matches and the attribute has the value. */
  waitFor(target: Target, options?: { text?: string | RegExp; attr?: [name: string, value: string]; timeout?: number }): Promise<void>;
  /** The first match's text (whitespace as in the DOM), or null when nothing matches. */
  text(target: Target): Promise<string | null>;
  /** Every match's text, trimmed. */
  texts(target: Target): Promise<string[]>;
  attr(target: Target, name: string): Promise<string | null>;
  value(target: Target): Promise<string>;
  count(target: Target): Promise<number>;
  disabled(target: Target): Promise<boolean>;
  setInputFiles(target: Target, file: FileInput | string): Promise<void>;
  /** Clicks the target and returns the file the browser downloads, as the browser saved it. */
  download(target: Target, timeout?: number): Promise<{ name: string; bytes: Buffer }>;
  setOffline(offline: boolean): Promise<void>;
  screenshot(path: string, options?: { fullPage?: boolean; target?: Target }): Promise<void>;
  setViewport(width: number, height: number): Promise<void>;
  close(): Promise<void>;
}

export interface EngineSession {
  engine: Engine;
  page: TestPage;
  /** Console errors and uncaught exceptions seen so far, in order. */
  errors: string[];
  newPage(): Promise<TestPage>;
  /** Chromium's Playwright session, for the Chromium-only tests that share this browser. */
  chromium?: BrowserSession;
  close(): Promise<void>;
}

/** Reads the page done the same way on both engines: in the page, on the first match. */
const reads = {
  text: (sel: string) => document.querySelector(sel)?.textContent ?? null,
  texts: (sel: string) => [...document.querySelectorAll(sel)].map((e) => (e.textContent ?? '').trim()),
  attr: ([sel, name]: [string, string]) => document.querySelector(sel)?.getAttribute(name) ?? null,
  value: (sel: string) => {
    const el = document.querySelector(sel) as HTMLInputElement | null;
    if (!el) throw new Error(`no element ${sel}`);
    return el.value;
  },
  count: (sel: string) => document.querySelectorAll(sel).length,
  disabled: (sel: string) => {
    const el = document.querySelector(sel) as HTMLButtonElement | null;
    if (!el) throw new Error(`no element ${sel}`);
    return el.disabled;
  },
  /** Whether the target is there as asked: the text as a regular expression's source and flags. */
  matches: ([sel, text, flags, attr]: [string, string | null, string, [string, string] | null]) => {
    const el = document.querySelector(sel);
    if (!el) return false;
    if (text !== null && !new RegExp(text, flags).test(el.textContent ?? '')) return false;
    return attr === null || el.getAttribute(attr[0]) === attr[1];
  },
};
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The page-side half shared by both engines; the engine-specific half comes in `input`. */
function neutralPage(engine: Engine, ev: <R, A>(fn: (arg: A) => R | Promise<R>, arg: A) => Promise<R>, input: Omit<TestPage, 'engine' | 'evaluate' | 'text' | 'texts' | 'attr' | 'value' | 'count' | 'disabled' | 'waitFor'> & { waitForFunction(fn: (arg: any) => boolean, arg: unknown, timeout: number): Promise<void> }): TestPage {
  return {
    ...input,
    engine,
    evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg?: A) => ev(fn, arg as A),
    text: (t) => ev(reads.text, css(t)),
    texts: (t) => ev(reads.texts, css(t)),
    attr: (t, name) => ev(reads.attr, [css(t), name] as [string, string]),
    value: (t) => ev(reads.value, css(t)),
    count: (t) => ev(reads.count, css(t)),
    disabled: (t) => ev(reads.disabled, css(t)),
    async waitFor(t, options = {}) {
      const text = options.text === undefined ? null : typeof options.text === 'string' ? escapeRe(options.text) : options.text.source;
      const flags = options.text instanceof RegExp ? options.text.flags : '';
      const arg = [css(t), text, flags, options.attr ?? null];
      await input.waitForFunction(reads.matches, arg, options.timeout ?? 30_000).catch((error: unknown) => {
        throw new Error(`waiting for ${t}${options.text ? ` with text ${options.text}` : ''}${options.attr ? ` with ${options.attr[0]}=${options.attr[1]}` : ''}: ${error instanceof Error ? error.message : error}`);
      });
    },
  };
}

function playwrightPage(page: Page, context: BrowserContext, work: string): TestPage {
  const first = (t: Target) => page.locator(css(t)).first();
  return neutralPage('chromium', (fn, arg) => page.evaluate(fn as any, arg), {
    goto: async (url) => void (await page.goto(url)),
    reload: async () => void (await page.reload()),
    evaluateSource: async (source) => void (await page.evaluate(source)),
    click: (t) => first(t).click(),
    fill: (t, v) => first(t).fill(v),
    select: async (t, v) => void (await first(t).selectOption(v)),
    press: (t, key) => first(t).press(key),
    pressKey: (key) => page.keyboard.press(key),
    addInitScript: async (fn) => void (await page.addInitScript(fn)),
    check: (t, on) => first(t).setChecked(on),
    setInputFiles: (t, file) => first(t).setInputFiles(file),
    async download(t, timeout = 180_000) {
      const [d] = await Promise.all([page.waitForEvent('download', { timeout }), first(t).click()]);
      const path = join(work, `download-${Date.now()}`);
      await d.saveAs(path);
      return { name: d.suggestedFilename(), bytes: await readFile(path) };
    },
    setOffline: (offline) => context.setOffline(offline),
    screenshot: async (path, o = {}) => void (o.target ? await first(o.target).screenshot({ path }) : await page.screenshot({ path, fullPage: o.fullPage })),
    setViewport: (width, height) => page.setViewportSize({ width, height }),
    close: () => page.close(),
    waitForFunction: async (fn, arg, timeout) => void (await page.waitForFunction(fn, arg, { timeout })),
  });
}

function puppeteerPage(page: PPage, downloads: string): TestPage {
  const handle = async (t: Target) => {
    const h = await page.waitForSelector(css(t), { timeout: 30_000 });
    if (!h) throw new Error(`no element ${t}`);
    return h;
  };
  // Puppeteer clicks where the element was a moment ago; the page moves things as answers from
  // the worker arrive (the memory summary above Start, the self-test's line above Download), so a
  // click could land on nothing. As Playwright does: wait until the element is enabled, holds
  // still and is what the point hits, then press the mouse there; and where the click event did
  // not reach the element after all, press again.
  const click = async (t: Target) => {
    const until = Date.now() + 30_000;
    for (;;) {
      await (await handle(t)).scrollIntoView();
      const at = await page.evaluate(async (sel: string) => {
        const el = document.querySelector(sel);
        if (!el || (el as HTMLButtonElement).disabled) return null;
        const a = el.getBoundingClientRect();
        await new Promise((r) => setTimeout(r, 50));
        const b = el.getBoundingClientRect();
        if (!b.width || a.x !== b.x || a.y !== b.y || a.width !== b.width || a.height !== b.height) return null;
        const x = b.x + b.width / 2;
        const y = b.y + b.height / 2;
        const hit = document.elementFromPoint(x, y);
        if (!hit || (hit !== el && !el.contains(hit))) return null;
        const landed = { hit: false };
        (globalThis as any).__tabtuneClick = landed;
        el.addEventListener('click', () => void (landed.hit = true), { once: true, capture: true });
        return { x, y };
      }, css(t));
      if (at) {
        await page.mouse.click(at.x, at.y);
        // A click that navigated leaves no record behind: it landed.
        const missed = await page.evaluate(() => (globalThis as any).__tabtuneClick?.hit === false).catch(() => false);
        if (!missed) return;
      }
      if (Date.now() > until) throw new Error(`${t}: not clickable (disabled, moving or covered) for 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return neutralPage('firefox', (fn, arg) => page.evaluate(fn as any, arg) as any, {
    goto: async (url) => void (await page.goto(url)),
    reload: async () => void (await page.reload()),
    evaluateSource: async (source) => void (await page.evaluate(source)),
    click,
    // Set in the page with the events a person's typing ends with (Svelte's bindings listen to
    // `input`); typing key by key is slow over BiDi and adds nothing the flows check.
    fill: async (t, v) => {
      await handle(t);
      await page.evaluate(
        ([sel, v]) => {
          const el = document.querySelector(sel) as HTMLInputElement;
          el.focus();
          el.value = v;
          el.dispatchEvent(new Event('input', { bubbles: true }));
          el.dispatchEvent(new Event('change', { bubbles: true }));
        },
        [css(t), v] as [string, string],
      );
    },
    select: async (t, v) => void (await handle(t), await page.select(css(t), v)),
    press: async (t, key) => (await handle(t)).press(key as any),
    pressKey: (key) => page.keyboard.press(key as any),
    addInitScript: async (fn) => void (await page.evaluateOnNewDocument(fn)),
    check: async (t, on) => {
      const h = await handle(t);
      if ((await h.evaluate((e) => (e as HTMLInputElement).checked)) !== on) await click(t);
    },
    async setInputFiles(t, file) {
      let path = typeof file === 'string' ? file : null;
      if (path === null) {
        const dir = await mkdtemp(join(downloads, '..', 'upload-'));
        path = join(dir, (file as FileInput).name);
        await writeFile(path, (file as FileInput).buffer);
      }
      await ((await handle(t)) as any).uploadFile(path);
    },
    async download(t, timeout = 180_000) {
      const before = new Set(await readdir(downloads));
      await click(t);
      const until = Date.now() + timeout;
      // Firefox writes `name.part` and renames it to `name` when done.
      for (let last = -1; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
        const fresh = (await readdir(downloads)).filter((f) => !before.has(f) && !f.endsWith('.part'));
        if (fresh.length === 0 || (await readdir(downloads)).some((f) => f.endsWith('.part'))) continue;
        const size = (await stat(join(downloads, fresh[0]))).size;
        if (size !== last) {
          last = size;
          continue;
        }
        return { name: fresh[0], bytes: await readFile(join(downloads, fresh[0])) };
      }
      throw new Error(`no download from ${t} in ${timeout} ms`);
    },
    setOffline: (offline) => page.setOfflineMode(offline),
    screenshot: async (path, o = {}) => void (o.target ? await (await handle(o.target)).screenshot({ path: path as `${string}.png` }) : await page.screenshot({ path: path as `${string}.png`, fullPage: o.fullPage })),
    setViewport: (width, height) => page.setViewport({ width, height }),
    close: () => page.close(),
    waitForFunction: async (fn, arg, timeout) => void (await page.waitForFunction(fn, { timeout, polling: 100 }, arg)),
  });
}

/** Launches one engine with a fresh temporary profile; console errors and page errors go to `errors`. */
export async function launchEngine(engine: Engine, options: LaunchOptions = {}): Promise<EngineSession> {
  if (engine === 'chromium') {
    const s = await launchBrowser(options);
    const work = await mkdtemp(join(tmpdir(), 'tabtune-downloads-'));
    return {
      engine,
      page: playwrightPage(s.page, s.context, work),
      errors: s.errors,
      chromium: s,
      newPage: async () => playwrightPage(await s.context.newPage(), s.context, work),
      async close() {
        await s.close();
        await rm(work, { recursive: true, force: true });
      },
    };
  }
  await stat(FIREFOX_PATH).catch(() => {
    throw new Error(`No Firefox at ${FIREFOX_PATH}: install Debian's (apt-get install firefox-esr) or set FIREFOX_PATH`);
  });
  const work = await mkdtemp(join(tmpdir(), 'tabtune-firefox-'));
  const profile = join(work, 'profile');
  const downloads = join(work, 'downloads');
  await mkdir(profile);
  await mkdir(downloads);
  const browser: PBrowser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    protocol: 'webDriverBiDi',
    userDataDir: profile,
    defaultViewport: { width: 1000, height: 800 },
  });
  // One context for every page of the session (a shared origin's storage, as in Chromium's
  // persistent context), saving downloads to a folder the test reads.
  const context: PContext = await browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: downloads } });
  const errors: string[] = [];
  const recorder = errorRecorder(errors);
  const watch = (p: PPage) => {
    p.on('console', (message) => recorder.console(message.type(), message.text()));
    p.on('pageerror', recorder.pageerror);
  };
  const open = async () => {
    const p = await context.newPage();
    watch(p);
    return puppeteerPage(p, downloads);
  };
  return {
    engine,
    page: await open(),
    errors,
    newPage: open,
    async close() {
      await browser.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** axe-core's serious and critical WCAG 2.1 A/AA violations on a `TestPage` as it is now. */
export async function axeViolationsOn(page: TestPage): Promise<{ id: string; help: string; nodes: string[] }[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated, not added as a <script>: the page's CSP blocks inline scripts, and the tests keep
  // it in force.
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluateSource(axeSource);
  return page.evaluate(async () => {
    const axe = (globalThis as any).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map((n: any) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  });
}

/**
 * The outermost elements that stick out past the window's right edge at width `width` (a box that
 * scrolls sideways holds what is inside it), as `tag[testid].class (right px)`: the layout checks
 * at 390 px expect none.
 */
export function overflowingAt(page: TestPage, width: number): Promise<string[]> {
  return page.evaluate((width) => {
    const clipped = (el: Element) => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX);
    const out: string[] = [];
    const visit = (el: Element) => {
      // What nobody sees cannot stick out: a closed <details>'s content still has a layout box
      // in Firefox (content-visibility: hidden), with a width of its own.
      if (!el.checkVisibility()) return;
      if (el.getBoundingClientRect().right > width + 1) {
        out.push(`${el.tagName.toLowerCase()}${(el as HTMLElement).dataset.testid ? `[${(el as HTMLElement).dataset.testid}]` : ''}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`);
        return;
      }
      if (!clipped(el)) for (const c of el.children) visit(c);
    };
    for (const c of document.body.children) visit(c);
    return out;
  }, width);
}

// Opens the engine test page for a browser test: builds it (build.ts), serves it cross-origin
// isolated, launches Chromium on it and waits for `window.harness`; `call` runs one harness method
// in the page. One place for the set-up the engine and run browser tests share.

import { rm } from 'node:fs/promises';
import { serveStatic, type StaticServer } from '../../../scripts/serve.js';
import { launchBrowser, type BrowserSession, type LaunchOptions } from '../browser.ts';
import { buildHarness } from './build.ts';
import type { Harness } from './wire.ts';

export interface HarnessPage {
  /** The built page's folder. */
  dir: string;
  server: StaticServer;
  session: BrowserSession;
  /** Calls window.harness.<method>(...args) in the page. */
  call<K extends keyof Harness>(method: K, ...args: Parameters<Harness[K]>): Promise<Awaited<ReturnType<Harness[K]>>>;
  close(): Promise<void>;
}

export async function waitForHarness(session: BrowserSession, url: string): Promise<void> {
  await session.page.goto(url);
  await session.page.waitForFunction(() => document.title === 'harness ready', undefined, { timeout: 30_000 });
}

/** Calls window.harness.<method>(...args) in the session's page. */
export function callHarness<K extends keyof Harness>(session: BrowserSession, method: K, ...args: Parameters<Harness[K]>): Promise<Awaited<ReturnType<Harness[K]>>> {
  return session.page.evaluate(
    ([m, a]) => (globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).harness[m](...a),
    [method, args] as const,
  ) as never;
}

export async function openHarness(options: LaunchOptions): Promise<HarnessPage> {
  const dir = await buildHarness();
  const server = await serveStatic({ root: dir, port: 0, isolate: true });
  const session = await launchBrowser(options);
  await waitForHarness(session, server.url);
  return {
    dir,
    server,
    session,
    call: (method, ...args) => callHarness(session, method, ...args),
    async close() {
      await session.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

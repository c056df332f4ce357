// The page in real (Debian) Chromium: the backend report for WebGPU and for the WASM fallback,
// and cross-origin isolation both from server headers and from the service worker. The WASM
// fallback and the service worker's isolation run in Firefox too (the `firefox` project), one
// body per engine through `TestPage`; the WebGPU and insecure-origin reports are Chromium's.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.js';
import { ARTIFACTS_DIR, ENGINES, launchBrowser, launchEngine, serveDist, type BrowserSession, type EngineSession, type TestPage } from './browser.ts';

let isolated: StaticServer;
let session: BrowserSession | null = null;
let neutral: EngineSession | null = null;

beforeAll(async () => {
  isolated = await serveDist(true);
  await mkdir(ARTIFACTS_DIR, { recursive: true });
});
afterAll(async () => {
  await isolated?.close();
});
afterEach(async () => {
  await session?.close();
  session = null;
  await neutral?.close();
  neutral = null;
});
const chromiumOnly = !ENGINES.includes('chromium');

async function openReport(url: string, launch: Parameters<typeof launchBrowser>[0]) {
  session = await launchBrowser(launch);
  const { page } = session;
  await page.goto(url);
  const report = page.getByTestId('backend-report');
  await report.waitFor({ timeout: 30_000 });
  return { page, report };
}

describe.skipIf(chromiumOnly)('backend report (Chromium)', () => {
  it('shows the WebGPU adapter, its limits and isolation with --enable-unsafe-webgpu', async () => {
    const { page, report } = await openReport(isolated.url, { webgpu: true });
    expect(await report.getAttribute('data-backend')).toBe('webgpu');
    expect(await page.getByTestId('backend-name').textContent()).toContain('WebGPU');
    // No GPU on the test machines: Chromium's software adapter.
    expect((await page.getByTestId('gpu-adapter').textContent())?.toLowerCase()).toContain('swiftshader');
    for (const limit of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize']) {
      const text = (await page.getByTestId(`limit-${limit}`).textContent()) ?? '';
      expect(text, limit).toMatch(/^[1-9][\d.]* (B|KiB|MiB|GiB)$/);
    }
    expect(await page.getByTestId('gpu-key-features').textContent()).toMatch(/subgroups: (yes|no)/);
    expect(await page.getByTestId('cross-origin-isolated').getAttribute('data-isolated')).toBe('true');
    expect(await page.getByTestId('default-model').textContent()).toBe('BAAI/bge-base-en-v1.5');
    expect(await page.getByTestId('default-dataset').textContent()).toBe('YxBxRyXJx/QAsimple_for_BGE_241019');
    expect((await page.getByTestId('hub-url').textContent())?.trim()).toBe('https://huggingface.co');
    expect(await page.getByTestId('storage').textContent()).toMatch(/used of/);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'backend-webgpu.png'), fullPage: true });
    expect(session!.errors).toEqual([]);
  });

  it('on an insecure origin: no navigator.gpu, no isolation, one WASM thread, each with its reason', async () => {
    // A host name that is not localhost makes plain http an insecure context, where WebGPU,
    // service workers and SharedArrayBuffer are all withheld.
    const { page, report } = await openReport(isolated.url.replace('127.0.0.1', 'insecure.test'), {
      webgpu: true,
      extraArgs: ['--host-resolver-rules=MAP insecure.test 127.0.0.1'],
    });
    expect(await page.evaluate(() => isSecureContext)).toBe(false);
    expect(await report.getAttribute('data-backend')).toBe('wasm');
    expect(await page.getByTestId('gpu-unavailable-reason').textContent()).toMatch(/navigator\.gpu is absent/);
    expect(await page.getByTestId('backend-name').textContent()).toContain('WebAssembly, 1 thread');
    expect(await page.getByTestId('wasm-threads').textContent()).toMatch(/not cross-origin isolated/);
    expect(await page.getByTestId('cross-origin-isolated').getAttribute('data-isolated')).toBe('false');
    expect(await page.getByTestId('coi-note').textContent()).toMatch(/service workers are unavailable/);
  });
});

describe.each(ENGINES)('in %s', (engine) => {
  // Firefox takes one WASM thread on purpose (backend-probe.ts: onnxruntime's threads are workers
  // of the engine worker, which Firefox does not start while the engine waits for them).
  const expectThreads = async (page: TestPage) => {
    const threads = Number(await page.attr('wasm-threads', 'data-threads'));
    if (engine === 'firefox') {
      expect(threads).toBe(1);
      expect(await page.text('wasm-threads')).toContain('Firefox:');
    } else expect(threads).toBeGreaterThan(1);
    return threads;
  };

  it('falls back to WASM (multi-threaded where the engine allows) and says why when there is no adapter', async () => {
    // Without the flag, this Chromium exposes navigator.gpu but requestAdapter() returns null;
    // Firefox ESR has no navigator.gpu on Linux.
    neutral = await launchEngine(engine, { webgpu: false });
    const { page } = neutral;
    await page.goto(`${isolated.url}?hub=http://127.0.0.1:9/`);
    await page.waitFor('backend-report', { timeout: 30_000 });
    expect(await page.attr('backend-report', 'data-backend')).toBe('wasm');
    expect(await page.text('gpu-unavailable-reason')).toMatch(/requestAdapter\(\) returned null|navigator\.gpu is absent/);
    const threads = await expectThreads(page);
    expect(await page.text('backend-name')).toContain(`WebAssembly, ${threads} ${threads === 1 ? 'thread' : 'threads'}`);
    expect(await page.attr('hub-url', 'data-source')).toBe('query');
    expect(await page.text('hub-url')).toContain('http://127.0.0.1:9');
    expect(await page.text('storage')).toMatch(/used of/);
    await page.screenshot(join(ARTIFACTS_DIR, engine === 'chromium' ? 'backend-wasm.png' : `${engine}-backend-wasm.png`), { fullPage: true });
    expect(neutral.errors).toEqual([]);
  });

  it('becomes isolated through the service worker after one reload, without server headers', async () => {
    const plain = await serveDist(false);
    try {
      neutral = await launchEngine(engine, { webgpu: false });
      const { page } = neutral;
      await page.goto(plain.url);
      await page.waitFor('[data-testid=cross-origin-isolated][data-isolated=true]', { timeout: 30_000 });
      expect(await page.evaluate(() => navigator.serviceWorker.controller !== null && crossOriginIsolated)).toBe(true);
      await expectThreads(page);
      expect(await page.count('coi-note')).toBe(0);
      expect(neutral.errors).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});

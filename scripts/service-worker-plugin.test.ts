import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { WORKER_POLICY } from '../src/lib/hub-policy.js';
import { serviceWorkerFor } from './service-worker-plugin.ts';

let dir: string | null = null;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = null;
});

describe('the build\'s service worker', () => {
  it('caches every file of the build but itself and source maps, and changes version with any file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tabtune-sw-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html>');
    await writeFile(join(dir, 'assets/app-abc.js'), 'console.log(1)');
    await writeFile(join(dir, 'assets/app-abc.js.map'), '{}');
    await writeFile(join(dir, 'assets/ort.wasm'), new Uint8Array([0, 97, 115, 109]));
    await writeFile(join(dir, 'sw.js'), 'old');
    const a = await serviceWorkerFor(dir);
    expect(a.files).toEqual(['assets/app-abc.js', 'assets/ort.wasm', 'index.html']);
    expect(a.text).toContain(`const PRECACHE = ${JSON.stringify(a.files)};`);
    expect(a.text).toContain(`const VERSION = "${a.version}";`);
    expect(() => new Function(a.text)).not.toThrow(); // parses as a script
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>next</title>');
    const b = await serviceWorkerFor(dir);
    expect(b.files).toEqual(a.files);
    expect(b.version).not.toBe(a.version);
    expect((await serviceWorkerFor(dir)).version).toBe(b.version);
  });

  it('re-serves the page with a CSP narrowed to its own ?hub= and the build\'s Hub, other files with the workers\' policy', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tabtune-sw-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html>');
    const { text } = await serviceWorkerFor(dir, 'https://mirror.example/hf');
    // The worker's script, run as a browser would: its fetch handler answering from a cache.
    const listeners: Record<string, (event: unknown) => void> = {};
    const cache = { match: async () => new Response('<!doctype html>', { headers: { 'Content-Type': 'text/html' } }) };
    runInNewContext(text, {
      self: { location: { href: 'https://app.example/sw.js', origin: 'https://app.example' }, addEventListener: (type: string, f: (event: unknown) => void) => (listeners[type] = f) },
      caches: { open: async () => cache },
      URL, URLSearchParams, Headers, Response,
    });
    const answer = async (url: string, mode: string) => {
      let response: Promise<Response> | null = null;
      listeners.fetch({ request: { method: 'GET', mode, url, cache: 'default' }, respondWith: (r: Promise<Response>) => (response = r) });
      return (await response!).headers;
    };
    const page = await answer('https://app.example/?hub=http%3A%2F%2F127.0.0.1%3A9000&maxSteps=6', 'navigate');
    expect(page.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(page.get('content-security-policy')).toContain(
      "connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co https://mirror.example http://127.0.0.1:9000;",
    );
    expect(page.get('content-security-policy')).toContain("script-src 'self' 'wasm-unsafe-eval'");
    const evil = await answer('https://app.example/?hub=http://evil.example', 'navigate');
    expect(evil.get('content-security-policy')).not.toContain('evil');
    const worker = (await answer('https://app.example/assets/engine.worker.js', 'same-origin')).get('content-security-policy');
    expect(worker).toBe(WORKER_POLICY);
    expect(worker).toContain("script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'");
  });
});

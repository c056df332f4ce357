import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_POLICY } from '../src/lib/hub-policy.js';
import { serveStatic, type StaticServer } from './serve.js';

let root: string;
let isolated: StaticServer;
let plain: StaticServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tabtune-serve-'));
  await mkdir(join(root, 'assets'));
  await writeFile(join(root, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(join(root, 'assets/ort.wasm'), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  await writeFile(join(root, 'assets/ort.mjs'), 'export {};');
  await writeFile(join(root, '..', 'tabtune-serve-secret.txt'), 'secret').catch(() => {});
  isolated = await serveStatic({ root, hubUrl: 'https://mirror.example/hf' });
  plain = await serveStatic({ root, isolate: false });
});

afterAll(async () => {
  await isolated?.close();
  await plain?.close();
  await rm(root, { recursive: true, force: true });
  await rm(join(root, '..', 'tabtune-serve-secret.txt'), { force: true });
});

/** Raw request, so that paths like /../x reach the server unnormalized. */
function get(base: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(base), { path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveStatic', () => {
  it('serves index.html at / with COOP/COEP on a free port', async () => {
    expect(isolated.port).toBeGreaterThan(0);
    const res = await get(isolated.url, '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(res.headers['cross-origin-embedder-policy']).toBe('require-corp');
  });

  it('sends the MIME types that WASM streaming compilation and module workers require', async () => {
    const wasm = await get(isolated.url, '/assets/ort.wasm');
    expect(wasm.headers['content-type']).toBe('application/wasm');
    expect([...wasm.body.subarray(0, 4)]).toEqual([0, 97, 115, 109]);
    expect((await get(isolated.url, '/assets/ort.mjs')).headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('leaves out the isolation headers and the CSP when asked to', async () => {
    const res = await get(plain.url, '/');
    expect(res.status).toBe(200);
    expect(res.headers['cross-origin-opener-policy']).toBeUndefined();
    expect(res.headers['cross-origin-embedder-policy']).toBeUndefined();
    expect(res.headers['content-security-policy']).toBeUndefined();
  });

  it('sends the page a CSP whose connect-src holds the default Hub, the build\'s and a valid ?hub= only', async () => {
    const connectSrc = async (path: string) => {
      const csp = String((await get(isolated.url, path)).headers['content-security-policy']);
      expect(csp, path).toContain("script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'");
      expect(csp, path).toContain("object-src 'none'; base-uri 'self'");
      return /connect-src ([^;]*)/.exec(csp)![1];
    };
    const own = "'self' https://huggingface.co https://*.huggingface.co https://*.hf.co https://mirror.example";
    expect(await connectSrc('/')).toBe(own);
    expect(await connectSrc('/index.html?demo=me/x&hub=http%3A%2F%2F127.0.0.1%3A9000')).toBe(`${own} http://127.0.0.1:9000`);
    // A Hub the page would refuse gets nothing, nor can a ?hub= bend the header.
    expect(await connectSrc('/?hub=http://evil.example')).toBe(own);
    expect(await connectSrc('/?hub=https://a%3Bscript-src%20*%3B.example')).toBe(own);
    // Other files, the workers' scripts among them, run under the workers' policy: no eval there either.
    const worker = String((await get(isolated.url, '/assets/ort.mjs?hub=http://127.0.0.1:9000')).headers['content-security-policy']);
    expect(worker).toBe(WORKER_POLICY);
    expect(worker).toContain("script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'");
  });

  it('answers 404 for missing files and never serves outside its root', async () => {
    expect((await get(isolated.url, '/nope.js')).status).toBe(404);
    for (const path of ['/../tabtune-serve-secret.txt', '/..%2ftabtune-serve-secret.txt', '/%2e%2e/tabtune-serve-secret.txt']) {
      const res = await get(isolated.url, path);
      expect(res.status, path).not.toBe(200);
      expect(res.body.toString(), path).not.toContain('secret');
    }
  });
});

#!/usr/bin/env node
// Zero-dependency static file server for the built page (dist/), with the headers that make it
// cross-origin isolated (COOP same-origin + COEP require-corp), so onnxruntime-web can use WASM
// threads, and a Content-Security-Policy: the page's own is narrowed per request to the Hubs it
// may use (hub-policy.js), other files the one the workers run under (WORKER_POLICY). `npm start`
// runs it after `vite build`; the browser tests import `serveStatic`.
// It is not a development server (no rebuilds; use `npm run dev` for that) and binds to
// 127.0.0.1 only.

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ANY_HUB_POLICY, contentSecurityPolicy, hubConnectSources, WORKER_POLICY } from '../src/lib/hub-policy.js';

export const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.parquet': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * The Content-Security-Policy for one response. An HTML page gets connect-src narrowed to the
 * default Hub, the build's (`hubUrl`, VITE_HUB_URL) and its own `?hub=`; the meta tag in
 * index.html allows any Hub, and the browser enforces both, so the narrower wins. Anything else
 * (the workers' scripts above all, which run under their own response's policy and fetch from
 * whichever Hub the page hands them) gets WORKER_POLICY.
 * @param {string} requestUrl the request's path and query
 * @param {boolean} html
 * @param {string | undefined} hubUrl
 */
export function policyFor(requestUrl, html, hubUrl) {
  if (!html) return WORKER_POLICY;
  return contentSecurityPolicy(hubConnectSources(new URL(requestUrl, 'http://localhost').search, hubUrl));
}

/**
 * Serves `root` over HTTP. `isolate: false` leaves out COOP/COEP and the CSP, like a static host
 * that sends no headers (the browser tests use it to check the service-worker fallback). `hubUrl`
 * is the build's VITE_HUB_URL, default the environment's (`npm start` builds and serves in one).
 * Port 0 picks a free port; the returned `url` has it.
 * @param {{ root: string, port?: number, host?: string, isolate?: boolean, hubUrl?: string }} options
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function serveStatic({ root, port = 0, host = '127.0.0.1', isolate = true, hubUrl = process.env.VITE_HUB_URL }) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const headers = {
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      ...(isolate ? { ...ISOLATION_HEADERS, 'Content-Security-Policy': ANY_HUB_POLICY } : {}),
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400, headers).end('bad request');
      return;
    }
    let file = normalize(join(base, pathname));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403, headers).end('forbidden');
      return;
    }
    let info = await stat(file).catch(() => null);
    if (info?.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file).catch(() => null);
    }
    if (!info?.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found');
      return;
    }
    const type = MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    if (isolate) headers['Content-Security-Policy'] = policyFor(req.url ?? '/', type.startsWith('text/html'), hubUrl);
    res.writeHead(200, {
      ...headers,
      'Content-Type': type,
      'Content-Length': info.size,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(undefined));
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host}:${actualPort}/`,
    port: actualPort,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok(undefined));
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = fileURLToPath(new URL('../dist/', import.meta.url));
  const port = Number(process.env.PORT ?? 5173);
  const { url } = await serveStatic({ root, port });
  console.log(`tabtune is served at ${url} (dist/, cross-origin isolated, with its Content-Security-Policy). Ctrl+C stops it.`);
}

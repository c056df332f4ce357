// The page's one service worker, emitted as dist/sw.js by scripts/service-worker-plugin.js, which
// puts the build's file list and version in place of the two markers below. It does two jobs:
//   - offline: every file of the build is cached at install, and the page is served from that
//     cache (navigation → the cached index.html, whatever the query string), so with a model and
//     data already in IndexedDB the page loads, trains and evaluates with no network. A new
//     deployment installs beside the old one and waits; the page (src/ui/service-worker.ts) says
//     it is ready and it takes over on the next visit or on "Reload now" (the `skip-waiting`
//     message). Its activation deletes the older caches.
//   - cross-origin isolation on static hosts that cannot send headers: every same-origin response
//     is re-served with COOP/COEP, so the page gets SharedArrayBuffer and WASM threads; and with
//     the Content-Security-Policy scripts/serve.js would send: a page load's connect-src narrowed
//     to the Hubs it may use (its own ?hub= included), the any-Hub policy for other files.
// Cross-origin requests (the Hub) are left alone: models and data live in IndexedDB, not here.

const VERSION = '__TABTUNE_VERSION__';
/** @type {string[]} paths relative to this file */
const PRECACHE = ['__TABTUNE_PRECACHE__'];
const CACHE = `tabtune-${VERSION}`;
const INDEX = new URL('index.html', self.location.href).href;
/** The build's VITE_HUB_URL, or null. */
const BUILD_HUB_URL = '__TABTUNE_HUB_URL__';

/* __TABTUNE_HUB_POLICY__ (src/lib/hub-policy.js, inlined by the build) */

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE.map((p) => new Request(new URL(p, self.location.href), { cache: 'reload' })))),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith('tabtune-') && key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
  if (event.data?.type === 'version') event.ports[0]?.postMessage(VERSION);
});

/**
 * @param {Response} response
 * @param {Request} request
 */
function withIsolationHeaders(response, request) {
  // Opaque and error responses cannot be rebuilt; pass them through.
  if (response.status === 0 || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  if (!headers.has('Cross-Origin-Resource-Policy')) headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  headers.set(
    'Content-Security-Policy',
    request.mode === 'navigate' ? contentSecurityPolicy(hubConnectSources(new URL(request.url).search, BUILD_HUB_URL)) : WORKER_POLICY,
  );
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** @param {Request} request */
async function respond(request) {
  const cache = await caches.open(CACHE);
  const cached = request.mode === 'navigate' ? await cache.match(INDEX) : await cache.match(request, { ignoreSearch: false });
  return withIsolationHeaders(cached ?? (await fetch(request)), request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  // A Chrome quirk: devtools issues these and fetch() rejects them outside same-origin mode.
  if (request.cache === 'only-if-cached' && request.mode !== 'same-origin') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // The worker script itself is the browser's to update; never answer it from the cache.
  if (url.href === self.location.href) return;
  event.respondWith(respond(request));
});

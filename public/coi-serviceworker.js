// Service worker that makes a page cross-origin isolated on static hosts that cannot set
// response headers: it re-serves every same-origin response with COOP/COEP added, so the page
// gets SharedArrayBuffer and onnxruntime-web can run WASM threads. Registered by src/ui/coi.ts
// only when the page is not isolated already. It caches nothing and leaves cross-origin
// requests alone (CORS fetches, such as the Hub's, are allowed under COEP require-corp as-is).

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

/** @param {Response} response */
function withIsolationHeaders(response) {
  // Opaque and error responses cannot be rebuilt; pass them through.
  if (response.status === 0 || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  if (!headers.has('Cross-Origin-Resource-Policy')) headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  // A Chrome quirk: devtools issues these and fetch() rejects them outside same-origin mode.
  if (request.cache === 'only-if-cached' && request.mode !== 'same-origin') return;
  if (new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(fetch(request).then(withIsolationHeaders));
});

// Which Hubs and which links the app trusts, and the Content-Security-Policy that follows. One
// rule shared by the page (through config.ts), the CLI, scripts/serve.js and the service worker:
// plain JavaScript with no imports on purpose, because serve.js runs in Node without a TypeScript
// loader and the build inlines this file, `export`s stripped, into the classic-script sw.js.
// Not the Hub client and not the token store (src/ui/hub-token.ts).
//
// A Hub is an https origin, or plain http on this machine only (localhost, 127.0.0.1): a token
// must never cross the network in clear. Those are also the only hosts the static CSP in
// index.html can name: a CSP source has no wildcard for IP addresses and cannot name an IPv6
// literal at all (Chromium: "contains an invalid source: 'http://[::1]:*'"), so other loopback
// addresses would pass this rule and then be refused by the policy; they are refused here,
// where the message is clear.

export const DEFAULT_HUB_URL = 'https://huggingface.co';

/**
 * The default Hub's hosts as CSP sources: the site, its subdomains (datasets-server) and the
 * CDN hosts its `resolve/` URLs redirect to (cdn-lfs*.hf.co, cas-bridge.xethub.hf.co).
 */
export const DEFAULT_HUB_SOURCES = ['https://huggingface.co', 'https://*.huggingface.co', 'https://*.hf.co'];

/** What connect-src allows where the Hub is not known ahead: any https Hub, or a local one. */
export const ANY_HUB_SOURCES = ['https:', 'http://127.0.0.1:*', 'http://localhost:*'];

/** The loopback hosts a plain-http Hub or link may use (URL.hostname, lower case). */
export function isLocalHttpHost(hostname) {
  return hostname === 'localhost' || hostname === '127.0.0.1';
}

// A DNS name or a dotted IPv4 address, as URL.hostname gives them. Keeps anything that would
// mean something inside a CSP header (`;`, `,`, `'`, `*`) out of the origins put in one.
const PLAIN_HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * The Hub URL without trailing slashes, or null when it is not acceptable: not absolute, not
 * https (http only on localhost / 127.0.0.1), with a query, fragment or credentials, or with a
 * host that is neither a DNS name nor an IPv4 address.
 * @param {string | null | undefined} raw
 * @returns {string | null}
 */
export function normalizeHubUrl(raw) {
  if (!raw || typeof raw !== 'string') return null;
  let url;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLocalHttpHost(url.hostname))) return null;
  if (url.search || url.hash || url.username || url.password) return null;
  if (!PLAIN_HOST.test(url.hostname)) return null;
  return url.href.replace(/\/+$/, '');
}

/**
 * The href to render for a URL that came from a Hub answer or a model card, or null when it
 * must be shown as text: only absolute https URLs (or http on localhost / 127.0.0.1, as a local
 * Hub answers) become links, so `javascript:`, `data:` and the like never do.
 * @param {unknown} raw
 * @returns {string | null}
 */
export function safeLinkUrl(raw) {
  if (typeof raw !== 'string') return null;
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLocalHttpHost(url.hostname))) return url.href;
  return null;
}

/**
 * connect-src for one page load: the app itself, the default Hub, the build's Hub
 * (VITE_HUB_URL) and the Hub the page URL's `?hub=` names, each only if it passes
 * normalizeHubUrl (so the page and the policy agree on which Hub that is).
 * @param {string} search the page URL's query, e.g. "?hub=…"
 * @param {string | null | undefined} buildHubUrl
 * @returns {string[]}
 */
export function hubConnectSources(search, buildHubUrl) {
  const out = ["'self'", ...DEFAULT_HUB_SOURCES];
  for (const raw of [buildHubUrl, new URLSearchParams(search).get('hub')]) {
    const url = normalizeHubUrl(raw);
    const origin = url && new URL(url).origin;
    if (origin && !out.includes(origin)) out.push(origin);
  }
  return out;
}

/**
 * The policy: the app's own scripts and workers only (WebAssembly compiles, no inline script,
 * no string evaluated as code: no eval, no `Function`), no plugins, no <base> elsewhere, and
 * `connect` as connect-src. Styles may be inline: Svelte and uPlot set style attributes.
 * @param {string[]} connect connect-src sources, e.g. hubConnectSources(…) or ["'self'", ...ANY_HUB_SOURCES]
 * @returns {string}
 */
export function contentSecurityPolicy(connect) {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    `connect-src ${connect.join(' ')}`,
    "object-src 'none'",
    "base-uri 'self'",
  ].join('; ');
}

/** The page's policy where the Hub is not known ahead (index.html's meta tag). */
export const ANY_HUB_POLICY = contentSecurityPolicy(["'self'", ...ANY_HUB_SOURCES]);

/**
 * What the workers run under (a dedicated worker takes the policy of its own script's response):
 * the page's, with connect-src open to any Hub because the page hands them whichever Hub it
 * uses. No 'unsafe-eval' here either: the engine writes its ONNX graphs with a hand-written
 * encoder (src/lib/graph/protobuf-writer.ts), not with code compiled at run time.
 */
export const WORKER_POLICY = ANY_HUB_POLICY;

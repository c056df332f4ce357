// Types for src/lib/hub-policy.js, which stays plain JavaScript so that scripts/serve.js (Node,
// no TypeScript loader) and the service worker (the build inlines it) share it with the page.

export const DEFAULT_HUB_URL: string;
export const DEFAULT_HUB_SOURCES: string[];
export const ANY_HUB_SOURCES: string[];
export const ANY_HUB_POLICY: string;
export const WORKER_POLICY: string;
export function isLocalHttpHost(hostname: string): boolean;
export function normalizeHubUrl(raw: string | null | undefined): string | null;
export function safeLinkUrl(raw: unknown): string | null;
export function hubConnectSources(search: string, buildHubUrl: string | null | undefined): string[];
export function contentSecurityPolicy(connect: string[]): string;

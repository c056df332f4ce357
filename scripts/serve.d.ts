// Types for scripts/serve.js, which stays plain JavaScript so `npm start` needs no TS loader.

export const MIME_TYPES: Record<string, string>;
export const ISOLATION_HEADERS: Record<string, string>;

export interface StaticServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export function policyFor(requestUrl: string, html: boolean, hubUrl: string | undefined): string;
export function serveStatic(options: { root: string; port?: number; host?: string; isolate?: boolean; hubUrl?: string }): Promise<StaticServer>;

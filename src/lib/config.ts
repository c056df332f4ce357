// App-wide defaults and where the Hugging Face Hub lives.
// Pure TypeScript, usable from the page, the worker and Node; it reads `location` only when
// one exists and never touches the DOM. Run-specific settings (the share link) are not here.

export const DEFAULT_MODEL_ID = 'BAAI/bge-base-en-v1.5';
/** The small model offered as the quick option. */
export const QUICK_MODEL_ID = 'BAAI/bge-small-en-v1.5';
export const DEFAULT_DATASET_ID = 'YxBxRyXJx/QAsimple_for_BGE_241019';
export const DEFAULT_HUB_URL = 'https://huggingface.co';

export type HubUrlSource = 'query' | 'env' | 'default';

export interface HubSetting {
  /** Absolute http(s) URL without a trailing slash. */
  url: string;
  source: HubUrlSource;
}

export interface AppConfig {
  hub: HubSetting;
  modelId: string;
  datasetId: string;
}

/** Returns the URL without trailing slashes, or null when it is not an absolute http(s) URL. */
export function normalizeHubUrl(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.search || url.hash) return null;
  return url.href.replace(/\/+$/, '');
}

/**
 * Precedence: `?hub=` in the page URL, then the build-time `VITE_HUB_URL`, then the public Hub.
 * An invalid value is skipped rather than used, so a typo falls back instead of breaking fetches.
 */
export function resolveHubUrl(search: string | undefined, envValue: string | undefined): HubSetting {
  const fromQuery = normalizeHubUrl(new URLSearchParams(search ?? '').get('hub'));
  if (fromQuery) return { url: fromQuery, source: 'query' };
  const fromEnv = normalizeHubUrl(envValue);
  if (fromEnv) return { url: fromEnv, source: 'env' };
  return { url: DEFAULT_HUB_URL, source: 'default' };
}

/** The configuration of this page (or process): reads `location.search` and `VITE_HUB_URL`. */
export function appConfig(): AppConfig {
  const search = typeof location === 'undefined' ? undefined : location.search;
  return {
    // import.meta.env exists only under Vite; in plain Node it is undefined.
    hub: resolveHubUrl(search, import.meta.env?.VITE_HUB_URL),
    modelId: DEFAULT_MODEL_ID,
    datasetId: DEFAULT_DATASET_ID,
  };
}

// App-wide defaults and where the Hugging Face Hub lives.
// Pure TypeScript, usable from the page, the worker and Node; it reads `location` only when
// one exists and never touches the DOM. Run-specific settings (the share link) are not here.

import { DEFAULT_HUB_URL, normalizeHubUrl } from './hub-policy.js';
import type { Trainable } from './models/trainable.ts';

export const DEFAULT_MODEL_ID = 'BAAI/bge-base-en-v1.5';
/** The small model offered as the quick option. */
export const QUICK_MODEL_ID = 'BAAI/bge-small-en-v1.5';
/** The multilingual option: the smallest published multilingual model (models/architectures.ts' presets) that trains in a tab. */
export const MULTILINGUAL_MODEL_ID = 'intfloat/multilingual-e5-small';
/**
 * Larger models that fit a tab only with LoRA (docs/what-to-train.md): the quick picks set the
 * model and the run's `trainable` section together. r 16, α 32 on every linear layer (the bench's
 * LoRA row); the base weights stay frozen, so memory is the frozen model plus small adapters.
 */
export const LORA_MODEL_PRESETS: readonly { id: string; label: string; modelId: string; trainable: Trainable }[] = [
  { id: 'bge-large-lora', label: 'bge-large with LoRA', modelId: 'BAAI/bge-large-en-v1.5', trainable: { mode: 'lora', r: 16, alpha: 32, dropout: 0, targetModules: 'all-linear' } },
  { id: 'bge-m3-lora', label: 'bge-m3 with LoRA (multilingual)', modelId: 'BAAI/bge-m3', trainable: { mode: 'lora', r: 16, alpha: 32, dropout: 0, targetModules: 'all-linear' } },
];
export const DEFAULT_DATASET_ID = 'YxBxRyXJx/QAsimple_for_BGE_241019';
/** The default question generator (docs/generate.md): small, instruction-tuned, with q4f16 and q8 ONNX variants; any other by id. */
export const DEFAULT_GENERATOR_ID = 'onnx-community/Qwen2.5-0.5B-Instruct';
// The Hub URL rule lives in hub-policy.js, shared with serve.js and the service worker.
export { DEFAULT_HUB_URL, normalizeHubUrl };

export type HubUrlSource = 'query' | 'env' | 'default';

export interface HubSetting {
  /** Absolute https URL (http only on localhost / 127.0.0.1) without a trailing slash. */
  url: string;
  source: HubUrlSource;
  /**
   * True when `?hub=` names a Hub other than this build's own (VITE_HUB_URL, else huggingface.co):
   * the page says so on arrival, and links it makes carry `hub=` forward only then.
   */
  foreign: boolean;
}

export interface AppConfig {
  hub: HubSetting;
  modelId: string;
  datasetId: string;
}

/**
 * Precedence: `?hub=` in the page URL, then the build-time `VITE_HUB_URL`, then the public Hub.
 * An invalid value is skipped rather than used, so a typo falls back instead of breaking fetches.
 */
export function resolveHubUrl(search: string | undefined, envValue: string | undefined): HubSetting {
  const fromEnv = normalizeHubUrl(envValue);
  const own: HubSetting = fromEnv ? { url: fromEnv, source: 'env', foreign: false } : { url: DEFAULT_HUB_URL, source: 'default', foreign: false };
  const fromQuery = normalizeHubUrl(new URLSearchParams(search ?? '').get('hub'));
  if (fromQuery) return { url: fromQuery, source: 'query', foreign: fromQuery !== own.url };
  return own;
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

// Sentence-transformers pooling on the encoder output, as graph ops: CLS (the first token's hidden
// state, not BERT's tanh pooler) and masked mean (SPEC §6.2), plus the reader of
// `1_Pooling/config.json` that picks the mode.
// Shape letters as in bert.ts: B batch, T tokens, C hidden.
// Not Normalize (nn.ts l2Normalize; bert.ts decides from modules.json) and not the encoder.

import type { Value } from '../graph/graph.ts';
import { clampMin, div, mul } from '../ops/elementwise.ts';
import { reduceSum } from '../ops/reduce.ts';
import { slice, squeeze, unsqueeze } from '../ops/shape.ts';
import { ModelLoadError } from './bert-config.ts';

export type PoolingMode = 'cls' | 'mean';
export const SUPPORTED_POOLING: readonly PoolingMode[] = ['cls', 'mean'];

/**
 * The pooling of a model whose files name none (no modules.json, so no `1_Pooling/config.json`):
 * sentence-transformers then loads it as a Transformer plus mean Pooling, without Normalize
 * (SentenceTransformer._load_auto_model, which logs "Creating a new one with mean pooling"). The
 * loader, the packaged card and the demo page all read this one value.
 */
export const DEFAULT_POOLING: PoolingMode = 'mean';

const MODE_KEYS = ['cls_token', 'mean_tokens', 'max_tokens', 'mean_sqrt_len_tokens', 'weightedmean_tokens', 'lasttoken'] as const;

/** Reads `1_Pooling/config.json`: exactly one of the supported modes must be on. */
export function parsePoolingConfig(json: unknown, file = '1_Pooling/config.json'): PoolingMode {
  if (typeof json !== 'object' || json === null) throw new ModelLoadError(`${file}: not a JSON object`);
  const c = json as Record<string, unknown>;
  if (typeof c.pooling_mode === 'string') {
    // Newer configs may name the mode directly.
    const m = c.pooling_mode === 'cls_token' ? 'cls' : c.pooling_mode === 'mean_tokens' ? 'mean' : c.pooling_mode;
    if (m === 'cls' || m === 'mean') return m;
    throw new ModelLoadError(`${file}: pooling mode "${c.pooling_mode}" is not supported; supported: cls, mean`);
  }
  const on = MODE_KEYS.filter((k) => c[`pooling_mode_${k}`] === true);
  if (on.length === 1 && on[0] === 'cls_token') return 'cls';
  if (on.length === 1 && on[0] === 'mean_tokens') return 'mean';
  const named = on.length ? on.map((k) => `pooling_mode_${k}`).join(' + ') : 'no pooling_mode_* set';
  throw new ModelLoadError(`${file}: pooling ${named} is not supported; supported: pooling_mode_cls_token or pooling_mode_mean_tokens alone`);
}

/**
 * h [B,T,C], mask [B,T] (1 real, 0 padding) → [B,C].
 * mean: Σ_t h·m / max(Σ_t m, 1e-9), as sentence-transformers' Pooling.
 */
export function pool(h: Value, mask: Value, mode: PoolingMode): Value {
  if (mode === 'cls') return squeeze(slice(h, [0], [1], [1]), [1]);
  const m = unsqueeze(mask, [2]); // [B,T,1]
  const sum = reduceSum(mul(h, m), [1]); // [B,C]
  const count = clampMin(reduceSum(m, [1]), 1e-9); // [B,1]
  return div(sum, count);
}

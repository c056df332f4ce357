// How much memory a training run needs, before it starts: the activations of a fused step or a
// GradCache mini-batch (a per-layer count of what autodiff keeps), the fused/GradCache choice
// against a budget, and a rough account of the whole run (weights, gradients, AdamW moments,
// activations). Pure arithmetic on the model's shape, so the page can show it without loading the
// engine. Not measured figures: the bench measures; these are upper estimates to choose and warn.

import type { RunConfig } from './run-config.ts';

export type TrainPath = 'fused' | 'gradcache';

/**
 * Activation memory of a fused train step, in bytes, for `rows` sequences of `tokens` tokens —
 * what autodiff keeps for the backward pass, float32, per layer and token: ~12·C (q, k, v, context,
 * the two dense outputs, residual sums, LayerNorm inputs and outputs), 3·F (FFN pre-activation, GELU
 * output, its dropout) and 3·H·T (scores, probabilities, dropped probabilities), plus the dropout
 * draws ([B,T,1+2L,C] and [B,L,H,T,T]) and the embeddings (3·C):
 *   bytes ≈ 4 · rows · T · (L·(12·C + 3·F + 3·H·T) + (1 + 2L)·C + 3·C + L·H·T)
 * A rough upper estimate (onnxruntime frees some intermediates early); measured peak RSS is what
 * would calibrate it.
 */
export function estimateActivationBytes(c: { hiddenSize: number; numLayers: number; numHeads: number; intermediateSize: number }, rows: number, tokens: number): number {
  const { hiddenSize: C, numLayers: L, numHeads: H, intermediateSize: F } = c;
  const T = tokens;
  return 4 * rows * T * (L * (12 * C + 3 * F + 3 * H * T) + (1 + 2 * L) * C + 3 * C + L * H * T);
}

/**
 * A rough account of what a run holds, in bytes: the trainable weights, their gradients and
 * AdamW's two moments (4 × 4 bytes per parameter, float32), and the activations of one fused step
 * or GradCache mini-batch as `choosePath` would pick for `tokens`-token texts. An upper estimate to
 * warn before a run that will not fit; the measured figures are the bench's.
 */
export function trainingMemoryEstimate(
  config: Pick<RunConfig, 'gradCache' | 'memoryBudgetMB' | 'batchSize'>,
  model: { hiddenSize: number; numLayers: number; numHeads: number; intermediateSize: number },
  parameters: number,
  o: { columns?: number; tokens?: number; runtimeKind: string },
): { state: number; activations: number; total: number; path: ReturnType<typeof choosePath> } {
  const columns = o.columns ?? 2;
  const tokens = o.tokens ?? 128;
  const path = choosePath(config, model, columns, tokens, o.runtimeKind);
  const rows = path.path === 'fused' ? columns * config.batchSize : path.miniBatchSize!;
  const state = 16 * parameters;
  const activations = estimateActivationBytes(model, rows, tokens);
  return { state, activations, total: state + activations, path };
}

/** Memory budget when the config gives none (MB): what each backend can hold comfortably. */
export function defaultBudgetMB(kind: string): number {
  return kind === 'webgpu' ? 1024 : kind === 'wasm' ? 2048 : 4096;
}

/** Fused or GradCache, and why (the text the user sees). */
export function choosePath(
  config: Pick<RunConfig, 'gradCache' | 'memoryBudgetMB' | 'batchSize'>,
  model: { hiddenSize: number; numLayers: number; numHeads: number; intermediateSize: number },
  columns: number,
  tokens: number,
  runtimeKind: string,
): { path: TrainPath; miniBatchSize: number | null; why: string } {
  const gc = config.gradCache;
  if (gc === 'off') return { path: 'fused', miniBatchSize: null, why: 'gradCache is "off" in the run config' };
  if (typeof gc === 'object') return { path: 'gradcache', miniBatchSize: gc.miniBatchSize, why: `gradCache.miniBatchSize ${gc.miniBatchSize} set in the run config` };
  const budgetMB = config.memoryBudgetMB ?? defaultBudgetMB(runtimeKind);
  const rows = columns * config.batchSize;
  const need = estimateActivationBytes(model, rows, tokens) / 2 ** 20;
  const src = config.memoryBudgetMB === null ? `the ${runtimeKind} default budget` : 'memoryBudgetMB';
  if (need <= budgetMB) {
    return { path: 'fused', miniBatchSize: null, why: `estimated activations ${need.toFixed(0)} MB for ${rows} sequences × ${tokens} tokens fit ${src} (${budgetMB} MB)` };
  }
  const perRow = estimateActivationBytes(model, 1, tokens) / 2 ** 20;
  const m = Math.max(1, Math.min(config.batchSize, Math.floor(budgetMB / perRow)));
  return {
    path: 'gradcache',
    miniBatchSize: m,
    why: `estimated activations ${need.toFixed(0)} MB for ${rows} sequences × ${tokens} tokens exceed ${src} (${budgetMB} MB); mini-batches of ${m} (${(perRow * m).toFixed(0)} MB)`,
  };
}

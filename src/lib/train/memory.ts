// The memory account of a training run, before it starts: what the run holds, where (host RAM,
// WebAssembly's heap, GPU memory) and for how long, from the model's shape and the run config;
// the fused/GradCache choice and the GradCache mini-batch from the whole account and a budget; and
// a refusal, with what would fit instead, when nothing does. Pure arithmetic on the model's shape,
// so the page can show it without loading the engine. `npm run bench` prints it next to measured
// peaks.

import type { RunConfig } from './run-config.ts';

export type TrainPath = 'fused' | 'gradcache';

/** The encoder's shape, as config.json gives it. */
export interface ModelShape {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
}

/** bge-small-en-v1.5's shape and trainable parameters: what a refusal suggests for a larger model. */
export const BGE_SMALL_SHAPE: ModelShape & { parameters: number; id: string } = {
  id: 'BAAI/bge-small-en-v1.5', hiddenSize: 384, numLayers: 12, numHeads: 12, intermediateSize: 1536, parameters: 33_212_160,
};

/**
 * Activation memory of a fused train step, in bytes, for `rows` sequences of `tokens` tokens —
 * what autodiff keeps for the backward pass, float32, per layer and token: ~12·C (q, k, v, context,
 * the two dense outputs, residual sums, LayerNorm inputs and outputs), 3·F (FFN pre-activation, GELU
 * output, its dropout) and 3·H·T (scores, probabilities, dropped probabilities), plus the dropout
 * draws ([B,T,1+2L,C] and [B,L,H,T,T]) and the embeddings (3·C):
 *   bytes ≈ 4 · rows · T · (L·(12·C + 3·F + 3·H·T) + (1 + 2L)·C + 3·C + L·H·T)
 * What a runtime's allocator then holds is this times RUNTIME_COSTS[kind].activationFactor.
 */
export function estimateActivationBytes(c: ModelShape, rows: number, tokens: number): number {
  const { hiddenSize: C, numLayers: L, numHeads: H, intermediateSize: F } = c;
  const T = tokens;
  return 4 * rows * T * (L * (12 * C + 3 * F + 3 * H * T) + (1 + 2 * L) * C + 3 * C + L * H * T);
}

/** Where memory is held: host RAM, WebAssembly's linear memory (host RAM, at most 4 GiB), GPU memory. */
export type MemoryPlace = 'host' | 'wasm' | 'gpu';
/** For how long: the whole run, or only while a checkpoint is written. */
export type MemoryHeld = 'run' | 'checkpoint';

export interface MemoryItem {
  what: string;
  bytes: number;
  place: MemoryPlace;
  held: MemoryHeld;
}

export interface MemoryAccount {
  items: MemoryItem[];
  /** Host RAM at the peak (WASM's heap included): the items that coexist at a checkpoint. */
  hostPeak: number;
  /** GPU memory at the peak (WebGPU only, else 0). */
  gpuPeak: number;
  /** WebAssembly heap at the peak (WASM only, else 0); it cannot pass WASM_HEAP_LIMIT. */
  wasmPeak: number;
  /** The largest single activation tensor (attention probabilities [rows, H, T, T] or the FFN's [rows, T, F]), bytes. */
  largestTensor: number;
}

/** What the run asks the account about. */
export interface MemoryInputs {
  config: Pick<RunConfig, 'gradCache' | 'memoryBudgetMB' | 'batchSize'>;
  model: ModelShape;
  /** Trainable parameters. */
  parameters: number;
  /** Text columns per row (anchor + positive = 2; each negative adds one). */
  columns: number;
  /** Longest tokenized text: batches pad to it. */
  tokens: number;
  runtimeKind: string;
  /** Bytes of the model's files the engine keeps while it trains (0 when they are released). */
  fileBytes?: number;
  /** The device's memory in bytes (navigator.deviceMemory, os.totalmem()); the default budget is half. */
  deviceMemoryBytes?: number;
  /** Where AdamW runs: on the device (WebGPU's default) or on the host. */
  updater?: 'host' | 'device';
  /** WebGPU: the adapter's largest buffer binding (min of maxBufferSize and maxStorageBufferBindingSize). */
  gpuMaxBindingBytes?: number;
}

/** WebAssembly (wasm32) addresses at most 4 GiB; onnxruntime-web's heap must also fit its code and stacks. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30 - 256 * 2 ** 20;

/**
 * What each runtime holds beyond the arithmetic above, fitted to `npm run bench`'s peak RSS of one
 * train-step process (bge-small shape, 128 tokens, 2 threads, one checkpoint; README has the
 * table): the process and runtime itself, the share of the activation estimate its allocator ends
 * up holding, and what the GradCache path adds (its no-grad forward session). WebGPU's figures are
 * WASM's until a GPU is measured.
 */
export const RUNTIME_COSTS: Record<string, RuntimeCosts> = {
  node: { baseBytes: 350 * 2 ** 20, activationFactor: 1.92, weightsInRuntime: false, gradCacheBytes: 335 * 2 ** 20, gradCacheFactor: 0.2 },
  wasm: { baseBytes: 450 * 2 ** 20, activationFactor: 0.91, weightsInRuntime: true, gradCacheBytes: 300 * 2 ** 20, gradCacheFactor: 0 },
  webgpu: { baseBytes: 450 * 2 ** 20, activationFactor: 0.91, weightsInRuntime: true, gradCacheBytes: 300 * 2 ** 20, gradCacheFactor: 0 },
};

export interface RuntimeCosts {
  baseBytes: number;
  activationFactor: number;
  /** The runtime reads the weights from its own copy (WASM's heap, GPU buffers), not in place. */
  weightsInRuntime: boolean;
  /** GradCache's extra: a fixed part and a share of one mini-batch's activation estimate. */
  gradCacheBytes: number;
  gradCacheFactor: number;
}
const costsOf = (kind: string) => RUNTIME_COSTS[kind] ?? RUNTIME_COSTS.wasm;

/** The account of a run that trains with `rows` sequences per fused step or GradCache mini-batch. */
export function memoryAccount(inp: Omit<MemoryInputs, 'config'>, rows: number, path: TrainPath = 'gradcache'): MemoryAccount {
  const P = inp.parameters;
  const kind = inp.runtimeKind;
  const costs = costsOf(kind);
  const onGpu = kind === 'webgpu';
  const runtimePlace: MemoryPlace = onGpu ? 'gpu' : kind === 'wasm' ? 'wasm' : 'host';
  const optimizerPlace: MemoryPlace = (inp.updater ?? (onGpu ? 'device' : 'host')) === 'device' && onGpu ? 'gpu' : 'host';
  const items: MemoryItem[] = [
    { what: 'runtime and process', bytes: costs.baseBytes, place: 'host', held: 'run' },
    { what: 'weights (host copy)', bytes: 4 * P, place: 'host', held: 'run' },
  ];
  if (inp.fileBytes) items.push({ what: 'model files', bytes: inp.fileBytes, place: 'host', held: 'run' });
  if (costs.weightsInRuntime) items.push({ what: 'weights (runtime copy)', bytes: 4 * P, place: runtimePlace, held: 'run' });
  items.push(
    { what: 'gradients', bytes: 4 * P, place: optimizerPlace, held: 'run' },
    { what: 'AdamW moments', bytes: 8 * P, place: optimizerPlace, held: 'run' },
    { what: `activations (${rows} texts × ${inp.tokens} tokens)`, bytes: Math.round(costs.activationFactor * estimateActivationBytes(inp.model, rows, inp.tokens)), place: runtimePlace, held: 'run' },
  );
  if (path === 'gradcache' && (costs.gradCacheBytes || costs.gradCacheFactor)) {
    const bytes = costs.gradCacheBytes + Math.round(costs.gradCacheFactor * estimateActivationBytes(inp.model, rows, inp.tokens));
    items.push({ what: "GradCache's no-grad forward", bytes, place: runtimePlace, held: 'run' });
  }
  items.push(
    // writeCheckpoint assembles weights and both moments in one buffer.
    { what: 'checkpoint buffer', bytes: 12 * P, place: 'host', held: 'checkpoint' },
  );
  const sum = (f: (i: MemoryItem) => boolean) => items.filter(f).reduce((n, i) => n + i.bytes, 0);
  return {
    items,
    hostPeak: sum((i) => i.place === 'host' || i.place === 'wasm'),
    gpuPeak: sum((i) => i.place === 'gpu'),
    wasmPeak: sum((i) => i.place === 'wasm'),
    largestTensor: 4 * rows * inp.tokens * Math.max(inp.model.numHeads * inp.tokens, inp.model.intermediateSize),
  };
}

/** Half the device's memory (8 GiB assumed when it does not say): the rest is the OS, the browser and other tabs. */
export function defaultBudgetBytes(deviceMemoryBytes?: number): number {
  return Math.floor((deviceMemoryBytes && deviceMemoryBytes > 0 ? deviceMemoryBytes : 8 * 2 ** 30) / 2);
}

export interface MemoryPlan {
  path: TrainPath;
  miniBatchSize: number | null;
  /** The text the user sees: what was chosen and why. */
  why: string;
  account: MemoryAccount;
  budgetBytes: number;
  /** Set when the run cannot fit: the message, and what would. */
  refusal: { message: string; suggestions: string[] } | null;
}

const mb = (bytes: number) => `${Math.ceil(bytes / 2 ** 20).toLocaleString('en-US')} MB`;

/** Whether an account fits the budget (and WASM's heap limit, and the GPU's largest binding); null when it does, else why not. */
function overBudget(a: MemoryAccount, budget: number, gpuMaxBinding?: number): string | null {
  if (gpuMaxBinding && a.gpuPeak > 0 && a.largestTensor > gpuMaxBinding) return `one activation tensor would need ${mb(a.largestTensor)}, over the GPU's ${mb(gpuMaxBinding)} largest buffer`;
  if (a.wasmPeak > WASM_HEAP_LIMIT) return `WebAssembly's heap would need ${mb(a.wasmPeak)}, over its ${mb(WASM_HEAP_LIMIT)} limit`;
  if (a.hostPeak > budget) return `it needs ${mb(a.hostPeak)} of memory at its peak, over the ${mb(budget)} budget`;
  if (a.gpuPeak > budget) return `it needs ${mb(a.gpuPeak)} of GPU memory, over the ${mb(budget)} budget`;
  return null;
}

/** The largest mini-batch (1…max) whose account fits, or 0. */
function largestFittingRows(inp: MemoryInputs, budget: number, max: number): number {
  let lo = 0;
  let hi = max;
  while (lo < hi) {
    const m = Math.ceil((lo + hi) / 2);
    if (overBudget(memoryAccount(inp, m), budget, inp.gpuMaxBindingBytes) === null) lo = m;
    else hi = m - 1;
  }
  return lo;
}

/**
 * Fused or GradCache, the mini-batch, and whether the run fits at all, from the whole account and
 * the budget (memoryBudgetMB, else half the device's memory). 'auto' takes the fused step when it
 * fits, else the largest GradCache mini-batch that does; a run nothing fits is refused with what
 * would fit instead (a smaller mini-batch, bge-small, a shorter max sequence length, a larger budget).
 */
export function planMemory(inp: MemoryInputs): MemoryPlan {
  const { config } = inp;
  const budget = config.memoryBudgetMB !== null ? config.memoryBudgetMB * 2 ** 20 : defaultBudgetBytes(inp.deviceMemoryBytes);
  const budgetSrc = config.memoryBudgetMB !== null ? `memoryBudgetMB (${mb(budget)})` : `the default budget (${mb(budget)}, half this device's memory)`;
  const fusedRows = inp.columns * config.batchSize;
  const gc = config.gradCache;
  const plan = (path: TrainPath, rows: number, why: string, refusal: MemoryPlan['refusal'] = null): MemoryPlan => ({
    path, miniBatchSize: path === 'gradcache' ? rows : null, why, account: memoryAccount(inp, rows, path), budgetBytes: budget, refusal,
  });
  const largest = largestFittingRows(inp, budget, config.batchSize);

  if (gc === 'off' || typeof gc === 'object') {
    const path: TrainPath = gc === 'off' ? 'fused' : 'gradcache';
    const rows = gc === 'off' ? fusedRows : gc.miniBatchSize;
    const set = gc === 'off' ? 'gradCache is "off" in the run config' : `gradCache.miniBatchSize ${gc.miniBatchSize} set in the run config`;
    const account = memoryAccount(inp, rows, path);
    const why = overBudget(account, budget, inp.gpuMaxBindingBytes);
    if (why === null) return plan(path, rows, `${set}; the run needs ${mb(account.hostPeak)} at its peak, within ${budgetSrc}`);
    return plan(path, rows, set, refuse(inp, budget, why, largest, rows, path));
  }
  const fused = memoryAccount(inp, fusedRows, 'fused');
  if (overBudget(fused, budget, inp.gpuMaxBindingBytes) === null) {
    return plan('fused', fusedRows, `the fused step (${fusedRows} texts × ${inp.tokens} tokens) needs ${mb(fused.hostPeak)} at its peak, within ${budgetSrc}`);
  }
  if (largest >= 1) {
    return plan('gradcache', largest, `the fused step would need ${mb(fused.hostPeak)}, over ${budgetSrc}; GradCache mini-batches of ${largest} need ${mb(memoryAccount(inp, largest).hostPeak)}`);
  }
  // Nothing fits: name the smaller of the fused step and a one-text mini-batch (GradCache's own
  // overhead can outweigh a small model's fused activations).
  const [path, rows] = memoryAccount(inp, 1).hostPeak <= fused.hostPeak ? (['gradcache', 1] as const) : (['fused', fusedRows] as const);
  return plan(path, rows, `nothing fits; ${path === 'fused' ? 'the fused step' : 'GradCache mini-batches of 1'} would need the least`, refuse(inp, budget, overBudget(memoryAccount(inp, rows, path), budget, inp.gpuMaxBindingBytes)!, 0, rows, path));
}

/** The refusal's message and what would fit instead, each checked against the same budget. */
function refuse(inp: MemoryInputs, budget: number, why: string, largest: number, rows: number, path: TrainPath): NonNullable<MemoryPlan['refusal']> {
  const suggestions: string[] = [];
  if (largest >= 1) suggestions.push(`a GradCache mini-batch of ${largest} (gradCache.miniBatchSize) fits`);
  const smallest = (o: Partial<MemoryInputs>) => overBudget(memoryAccount({ ...inp, ...o }, 1), budget, inp.gpuMaxBindingBytes) === null;
  if (inp.parameters > BGE_SMALL_SHAPE.parameters && smallest({ model: BGE_SMALL_SHAPE, parameters: BGE_SMALL_SHAPE.parameters, fileBytes: inp.fileBytes ? 4 * BGE_SMALL_SHAPE.parameters : 0 })) {
    suggestions.push(`${BGE_SMALL_SHAPE.id} fits`);
  }
  if (largest < 1) {
    const shorter = [256, 128, 64, 32].find((t) => t < inp.tokens && smallest({ tokens: t }));
    if (shorter) suggestions.push(`a max sequence length of ${shorter} tokens (maxSeqLength) fits`);
  }
  const need = memoryAccount(inp, rows, path);
  const bindingTooSmall = !!inp.gpuMaxBindingBytes && need.gpuPeak > 0 && need.largestTensor > inp.gpuMaxBindingBytes;
  if (need.wasmPeak <= WASM_HEAP_LIMIT && !bindingTooSmall) suggestions.push(`a budget of ${mb(Math.max(need.hostPeak, need.gpuPeak))} (memoryBudgetMB) fits this run as it is`);
  return { message: `This run does not fit in memory: ${why}.`, suggestions };
}

/** The plan's refusal as one error message (what `tabtune train` prints and the page shows). */
export class MemoryBudgetError extends Error {
  constructor(readonly refusal: NonNullable<MemoryPlan['refusal']>) {
    super(`${refusal.message}${refusal.suggestions.length ? ` Try: ${refusal.suggestions.join('; ')}.` : ''}`);
    this.name = 'MemoryBudgetError';
  }
}

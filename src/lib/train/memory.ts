// The memory account of a training run, before it starts: what the run holds, where (host RAM,
// WebAssembly's heap, GPU memory) and for how long, from the model's shape and the run config;
// the fused/GradCache choice and the GradCache mini-batch from the whole account and a budget; and
// a refusal, with what would fit instead, when nothing does. Pure arithmetic on the model's shape,
// so the page can show it without loading the engine. `npm run bench` prints it next to measured
// peaks. Every trainable mode (full, freeze, LoRA) is one footprint (TrainedFootprint, read off
// the run's ParameterSet by footprintOf): what trains gets gradients, moments and checkpoint
// bytes, what is frozen is held once (optionally as float16), and the backward keeps activations
// only from the lowest layer that trains (docs/memory.md#trainable-modes).

import { isMultilingualVocabulary, preset, PRESETS, type ShapePreset } from '../models/architectures.ts';
import { BGE_SMALL_CONFIG } from '../models/bert-config.ts';
import type { Trainable } from '../models/trainable.ts';
import type { FrozenDtype } from '../models/bert.ts';
import { frozenBytesPerElement, type TableLookup, wordTableLookup as lookupOf } from '../models/table-lookup.ts';
import { elements, type ParameterSet, parameterSet } from '../models/parameter-set.ts';
import { STORE_CHUNK_BYTES } from '../store/store.ts';
import type { MomentPrecision } from './optimizer.ts';
import type { RunConfig } from './run-config.ts';

export type TrainPath = 'fused' | 'gradcache';

/** The encoder's shape, as config.json gives it. */
export interface ModelShape {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  /** Rows of the three embedding tables (words, positions, token types). */
  vocabSize: number;
  maxPositions: number;
  typeVocabSize: number;
}

/** A published model's shape (architectures.ts' presets) with its trainable parameter count. */
export function presetShape(id: string): ModelShape & { parameters: number; id: string } {
  const { config: c }: ShapePreset = preset(id);
  return {
    id, hiddenSize: c.hiddenSize, numLayers: c.numLayers, numHeads: c.numHeads, intermediateSize: c.intermediateSize, vocabSize: c.vocabSize, maxPositions: c.maxPositions, typeVocabSize: c.typeVocabSize,
    parameters: parameterSet(c).trainedSize,
  };
}

/** bge-small-en-v1.5's shape and trainable parameters (33.2M): what a refusal suggests for a larger English model. */
export const BGE_SMALL_SHAPE = presetShape('BAAI/bge-small-en-v1.5');

/**
 * Activation memory of a fused train step, in bytes, for `rows` sequences of `tokens` tokens —
 * what autodiff keeps for the backward pass, float32, per layer and token: ~12·C (q, k, v, context,
 * the two dense outputs, residual sums, LayerNorm inputs and outputs), 3·F (FFN pre-activation, GELU
 * output, its dropout) and 3·H·T (scores, probabilities, dropped probabilities), plus the
 * embeddings (3·C), and which elements dropout dropped, one byte each ([B,T,1+2L,C] and [B,L,H,T,T]):
 *   bytes ≈ 4 · rows · T · (L·(12·C + 3·F + 3·H·T) + 3·C) + rows · T · ((1 + 2L)·C + L·H·T)
 * The backward stops at the lowest layer that trains (`fromLayer`; -1: the embeddings train), so
 * only the L − fromLayer layers above it keep theirs, and the embeddings' terms go when they are
 * frozen: what a frozen layer computes is freed as soon as the next layer has read it.
 * What a runtime's allocator then holds is this times RUNTIME_COSTS[kind].activationFactor.
 */
export function estimateActivationBytes(c: ModelShape, rows: number, tokens: number, fromLayer = -1): number {
  const { hiddenSize: C, numHeads: H, intermediateSize: F } = c;
  const T = tokens;
  const L = c.numLayers - Math.max(0, fromLayer);
  const E = fromLayer < 0 ? 1 : 0;
  return rows * T * (4 * (L * (12 * C + 3 * F + 3 * H * T) + 3 * C * E) + (E + 2 * L) * C + L * H * T);
}

export type { FrozenDtype };

/**
 * What a run trains and what it only reads, as the account needs it (footprintOf reads it off the
 * run's ParameterSet); MemoryInputs.parameters counts the trained elements (adapters included).
 */
export interface TrainedFootprint {
  /** The run config's trainable mode, for the account's lines. */
  mode: 'full' | 'freeze' | 'lora';
  /** Elements the graphs read and never train: held once, no gradient, no moments, no checkpoint bytes. */
  frozen: number;
  frozenDtype: FrozenDtype;
  /** The lowest encoder layer with something to train; -1 when an embedding tensor trains (estimateActivationBytes' fromLayer). */
  lowestTrainedLayer: number;
  /** Elements of the embedding tables that train (their WebGPU gradients start from zeros of their shape). */
  trainedTableElements: number;
  /** Elements of the word embedding table, and whether it trains: a frozen one may be looked up on the host. */
  wordTable: { elements: number; trained: boolean };
  /**
   * Bytes per token the adapters' backward keeps, over the layers it reaches: x·Aᵀ ([T,r], float32)
   * for B's gradient, and with LoRA dropout the dropped input and its mask ([T,in], 4 + 1 bytes).
   */
  adapterActivationBytesPerToken: number;
}

/** Full fine-tuning's footprint: nothing frozen, the backward reaches the embeddings. */
export function fullFootprint(m: ModelShape): TrainedFootprint {
  return {
    mode: 'full', frozen: 0, frozenDtype: 'float32', lowestTrainedLayer: -1,
    trainedTableElements: m.hiddenSize * (m.vocabSize + m.maxPositions + m.typeVocabSize),
    wordTable: { elements: m.vocabSize * m.hiddenSize, trained: true }, adapterActivationBytesPerToken: 0,
  };
}

/**
 * The footprint of a run's parameter set (models/parameter-set.ts): frozen = its `frozen` tensors;
 * the lowest trained layer from the trained tensors' layers (an embedding tensor counts as -1);
 * the adapters' kept activations from their A matrices [r, in] in the layers the backward reaches.
 */
export function footprintOf(set: ParameterSet, frozenDtype: FrozenDtype = 'float32'): TrainedFootprint {
  const numLayers = set.base.reduce((n, p) => Math.max(n, (p.layer ?? -1) + 1), 0);
  const lowest = set.trained.reduce((lo, p) => Math.min(lo, p.layer ?? -1), numLayers);
  const dropout = (set.lora?.dropout ?? 0) > 0;
  const word = set.get('embeddings.word_embeddings.weight');
  return {
    mode: set.trainable.mode,
    frozen: set.frozenSize,
    frozenDtype: set.frozen.length ? frozenDtype : 'float32',
    lowestTrainedLayer: lowest,
    trainedTableElements: elements(set.trained.filter((p) => p.role === 'embedding')),
    wordTable: { elements: word.size, trained: word.use === 'trained' },
    adapterActivationBytesPerToken: set.trained
      .filter((p) => p.adapter?.factor === 'A')
      .reduce((n, p) => n + 4 * p.shape[0] + (dropout ? 5 * p.shape[1] : 0), 0),
  };
}

/** Where memory is held: host RAM, WebAssembly's linear memory (host RAM, at most 4 GiB), GPU memory. */
export type MemoryPlace = 'host' | 'wasm' | 'gpu';
/** For how long: the whole run, or only while a checkpoint, or the trained model at the end, is written (never both at once). */
export type MemoryHeld = 'run' | 'checkpoint' | 'save';

export interface MemoryItem {
  what: string;
  bytes: number;
  place: MemoryPlace;
  held: MemoryHeld;
}

export interface MemoryAccount {
  items: MemoryItem[];
  /** Host RAM at the peak (WASM's heap included): the run's items and the larger of a checkpoint's and the final save's. */
  hostPeak: number;
  /** GPU memory at the peak (WebGPU only, else 0). */
  gpuPeak: number;
  /** WebAssembly heap at the peak (WASM only, else 0); it cannot pass WASM_HEAP_LIMIT. */
  wasmPeak: number;
  /** The largest single activation tensor (attention probabilities [rows, H, T, T] or the FFN's [rows, T, F]), bytes. */
  largestTensor: number;
  /** The word embedding table's bytes when it sits in one GPU buffer (WebGPU, looked up in the graph), else 0. */
  gpuTableBytes: number;
}

/** What the run asks the account about. */
export interface MemoryInputs {
  config: Pick<RunConfig, 'gradCache' | 'memoryBudgetMB' | 'batchSize'>;
  model: ModelShape;
  /** Elements of the trained parameters (the run's ParameterSet.trainedSize, models/parameter-set.ts). */
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
  /** The run is the page's: its default budget stops at TAB_BUDGET_BYTES. */
  inTab?: boolean;
  /** Micro-batches per update (config.accumulation; default 1). */
  accumulation?: number;
  /** AdamW's moments: float32 (8 bytes per parameter for both) or bfloat16 (4). */
  adamMoments?: MomentPrecision;
  /** Where AdamW runs: on the device (WebGPU's default) or on the host. */
  updater?: 'host' | 'device';
  /** WebGPU: the adapter's largest buffer binding (min of maxBufferSize and maxStorageBufferBindingSize). */
  gpuMaxBindingBytes?: number;
  /** WebGPU: the adapter has `shader-f16`, so float16 frozen weights stay float16 on the GPU. */
  gpuFloat16?: boolean;
  /** What the run trains and only reads (footprintOf); absent: full fine-tuning. */
  footprint?: TrainedFootprint;
}

/** wordTableLookup (models/table-lookup.ts) for the account's inputs. */
export function wordTableLookup(inp: Pick<MemoryInputs, 'runtimeKind' | 'gpuMaxBindingBytes' | 'gpuFloat16'>, table: TrainedFootprint['wordTable'], frozenDtype: FrozenDtype): TableLookup {
  return lookupOf(tableDevice(inp), table, frozenDtype);
}

const tableDevice = (inp: Pick<MemoryInputs, 'runtimeKind' | 'gpuMaxBindingBytes' | 'gpuFloat16'>) => ({ runtimeKind: inp.runtimeKind, maxBindingBytes: inp.gpuMaxBindingBytes, float16: inp.gpuFloat16 });

/** Bytes a frozen element takes on the GPU: float16 only where the adapter has shader-f16, else cast to float32 on upload. */
function frozenGpuBytesPerElement(inp: Pick<MemoryInputs, 'gpuFloat16'>, frozenDtype: FrozenDtype): number {
  return frozenBytesPerElement({ runtimeKind: 'webgpu', float16: inp.gpuFloat16 }, frozenDtype);
}

/** WebAssembly (wasm32) addresses at most 4 GiB; onnxruntime-web's heap must also fit its code and stacks. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30 - 256 * 2 ** 20;

/**
 * What each runtime holds beyond the arithmetic above, fitted by `npm run bench:memory-fit` to the
 * peak RSS of train-step processes (bge-small shape at 64 and 128 tokens, 2 threads, one
 * checkpoint written; a bge-base shape held out, within 4 % on WASM and 7 % above on node; README
 * has the table): the process and runtime itself, the share of the activation estimate its
 * allocator ends up holding, and what the GradCache path adds (its no-grad forward session).
 * Node's base and GradCache extra fitted below zero once its memory pattern went (runtime/index.ts)
 * and are held at the earlier fit's values. WebGPU's figures are WASM's until a GPU is measured.
 */
export const RUNTIME_COSTS: Record<string, RuntimeCosts> = {
  node: { baseBytes: 86 * 2 ** 20, activationFactor: 1.11, weightsInRuntime: false, gradCacheBytes: 44 * 2 ** 20 },
  wasm: { baseBytes: 83 * 2 ** 20, activationFactor: 0.95, weightsInRuntime: true, gradCacheBytes: 42 * 2 ** 20 },
  webgpu: { baseBytes: 83 * 2 ** 20, activationFactor: 0.95, weightsInRuntime: true, gradCacheBytes: 42 * 2 ** 20 },
};

export interface RuntimeCosts {
  baseBytes: number;
  activationFactor: number;
  /** The runtime reads the weights from its own copy (WASM's heap, GPU buffers), not in place. */
  weightsInRuntime: boolean;
  /** GradCache's extra: its no-grad session's arena (a fixed part; a share of the activations fitted to 0). */
  gradCacheBytes: number;
}
const costsOf = (kind: string) => RUNTIME_COSTS[kind] ?? RUNTIME_COSTS.wasm;

/** Whether AdamW (its gradient sum and moments) lives on the GPU: WebGPU's device updater. */
const optimizerOnGpu = (inp: Pick<MemoryInputs, 'runtimeKind' | 'updater'>) => inp.runtimeKind === 'webgpu' && (inp.updater ?? 'device') === 'device';

/** The account of a run that trains with `rows` sequences per fused step or GradCache mini-batch; `costs`: the runtime's constants (a fit passes its own). */
export function memoryAccount(inp: Omit<MemoryInputs, 'config'>, rows: number, path: TrainPath = 'gradcache', costs: RuntimeCosts = costsOf(inp.runtimeKind)): MemoryAccount {
  const P = inp.parameters;
  const kind = inp.runtimeKind;
  const fp = inp.footprint ?? fullFootprint(inp.model);
  const runtimePlace: MemoryPlace = kind === 'webgpu' ? 'gpu' : kind === 'wasm' ? 'wasm' : 'host';
  const optimizerPlace: MemoryPlace = optimizerOnGpu(inp) ? 'gpu' : 'host';
  const trainedWhat = fp.mode === 'lora' ? 'adapters' : fp.mode === 'freeze' ? 'trained weights' : 'weights';
  const items: MemoryItem[] = [
    ...(inp.inTab ? [{ what: 'the browser and this page', bytes: TAB_BROWSER_BYTES, place: 'host', held: 'run' } as const] : []),
    { what: 'runtime and process', bytes: costs.baseBytes, place: 'host', held: 'run' },
    { what: `${trainedWhat} (host copy)`, bytes: 4 * P, place: 'host', held: 'run' },
  ];
  if (inp.fileBytes) items.push({ what: 'model files', bytes: inp.fileBytes, place: 'host', held: 'run' });
  if (costs.weightsInRuntime) items.push({ what: `${trainedWhat} (runtime copy)`, bytes: 4 * P, place: runtimePlace, held: 'run' });
  if (fp.frozen > 0) {
    // Frozen weights: no gradient, no moments, no checkpoint bytes. The host keeps the model file's
    // float32 values (the export reads them); the runtime reads one copy of its own — on node the
    // host array itself, on WASM its heap, on WebGPU a GPU buffer — float32, or float16 cast to
    // float32 in the graph (docs/memory.md#float16-frozen-weights).
    items.push({ what: 'frozen weights (float32, the model file\'s)', bytes: 4 * fp.frozen, place: 'host', held: 'run' });
    const gpu = kind === 'webgpu';
    const f16 = fp.frozenDtype === 'float16';
    const hostTable = gpu && wordTableLookup(inp, fp.wordTable, fp.frozenDtype) === 'host';
    const per = gpu ? frozenGpuBytesPerElement(inp, fp.frozenDtype) : f16 ? 2 : 4;
    const onDevice = fp.frozen - (hostTable ? fp.wordTable.elements : 0);
    const how = !f16 ? 'float32' : gpu && !inp.gpuFloat16 ? 'float16 on the host, float32 on the GPU: this adapter has no shader-f16' : 'float16, cast to float32 in the graph';
    // The float16 copy a CPU runtime is fed (WASM copies it into its heap for each run).
    if (f16 && !gpu) items.push({ what: `frozen weights (${how})`, bytes: 2 * fp.frozen, place: 'host', held: 'run' });
    if (costs.weightsInRuntime) items.push({ what: `frozen weights (runtime copy, ${how})`, bytes: per * onDevice, place: runtimePlace, held: 'run' });
    if (hostTable) {
      // The rows a batch needs, gathered on the host and uploaded as float32 activations [rows,T,C].
      items.push({ what: `word embedding rows looked up on the host (the ${mb(per * fp.wordTable.elements)} table is over the GPU's ${mb(inp.gpuMaxBindingBytes!)} largest buffer)`, bytes: 4 * rows * inp.tokens * inp.model.hiddenSize, place: 'gpu', held: 'run' });
    }
  }
  // On the GPU the first micro-batch's gradient outputs become the sum and later ones are added in
  // place (gpu-updater.ts), so a second gradient exists only from a second micro-batch or GradCache
  // mini-batch on; AdamW then works in place and allocates nothing.
  const secondGradient = path === 'gradcache' || (inp.accumulation ?? 1) > 1;
  const momentBytes = (inp.adamMoments === 'bfloat16' ? 4 : 8) * P;
  items.push(
    // The graph's gradient outputs stay where the runtime made them (WASM's heap, GPU buffers,
    // onnxruntime-node's arena) while the updater adds them to its sum; a GradCache mini-batch or
    // an accumulated micro-batch after the first brings another whole gradient to that sum.
    { what: 'gradients (graph outputs)', bytes: 4 * P, place: runtimePlace, held: 'run' },
    ...(optimizerPlace === 'host' || secondGradient ? [{ what: 'gradients (accumulated)', bytes: 4 * P, place: optimizerPlace, held: 'run' } as const] : []),
    { what: inp.adamMoments === 'bfloat16' ? 'AdamW moments (bfloat16)' : 'AdamW moments', bytes: momentBytes, place: optimizerPlace, held: 'run' },
    {
      what: `activations (${rows} texts × ${inp.tokens} tokens${fp.lowestTrainedLayer > 0 ? `, layers ${fp.lowestTrainedLayer} up` : ''})`,
      bytes: Math.round(costs.activationFactor * (estimateActivationBytes(inp.model, rows, inp.tokens, fp.lowestTrainedLayer) + rows * inp.tokens * fp.adapterActivationBytesPerToken)),
      place: runtimePlace, held: 'run',
    },
  );
  if (optimizerPlace === 'host' && secondGradient) {
    items.push({ what: 'gradients (the next one, being added)', bytes: 4 * P, place: 'host', held: 'run' });
  }
  if (kind === 'webgpu' && fp.trainedTableElements > 0) {
    // An embedding table's gradient is ScatterND-add onto zeros of the table's shape (ops/shape.ts
    // gather); onnxruntime folds those zeros into a constant of the training session, which the
    // WebGPU EP keeps in a GPU buffer for the session's life (tests/bench/webgpu-buffer-facts.ts:
    // a bge-base word table's gradient session holds 93,763,584 bytes before its first run). On
    // the CPU runtimes the fitted constants hold it.
    items.push({ what: 'zeros the embedding gradients start from (a session constant)', bytes: 4 * fp.trainedTableElements, place: 'gpu', held: 'run' });
  }
  if (path === 'gradcache') {
    // Its own session's arena. (The weight-sized block fits used to find here was the gradients
    // of earlier mini-batches awaiting V8's collector; the updater frees them now, release-buffer.ts.)
    if (costs.gradCacheBytes) items.push({ what: "GradCache's no-grad forward", bytes: costs.gradCacheBytes, place: runtimePlace, held: 'run' });
  }
  // A checkpoint goes to the store in parts (checkpointParts): on the CPU runtimes views of the
  // updater's own buffers, copied one IndexedDB chunk at a time; from the GPU its weights and
  // moments are read to the host first.
  items.push(optimizerPlace === 'gpu'
    ? { what: 'checkpoint (weights and moments read from the GPU)', bytes: 4 * P + momentBytes, place: 'host', held: 'checkpoint' }
    : { what: 'checkpoint (written a chunk at a time)', bytes: STORE_CHUNK_BYTES, place: 'host', held: 'checkpoint' });
  // The trained model.safetensors is written the same way (views of the weights), read from the GPU first there.
  items.push(optimizerPlace === 'gpu'
    ? { what: 'trained model (weights read from the GPU)', bytes: 4 * P, place: 'host', held: 'save' }
    : { what: 'trained model (written a chunk at a time)', bytes: STORE_CHUNK_BYTES, place: 'host', held: 'save' });
  const sum = (f: (i: MemoryItem) => boolean) => items.filter(f).reduce((n, i) => n + i.bytes, 0);
  const peak = (place: (p: MemoryPlace) => boolean) =>
    sum((i) => place(i.place) && i.held === 'run') + Math.max(sum((i) => place(i.place) && i.held === 'checkpoint'), sum((i) => place(i.place) && i.held === 'save'));
  return {
    items,
    hostPeak: peak((p) => p === 'host' || p === 'wasm'),
    gpuPeak: peak((p) => p === 'gpu'),
    wasmPeak: peak((p) => p === 'wasm'),
    largestTensor: 4 * rows * inp.tokens * Math.max(inp.model.numHeads * inp.tokens, inp.model.intermediateSize),
    gpuTableBytes: kind === 'webgpu' && wordTableLookup(inp, fp.wordTable, fp.frozenDtype) === 'graph' ? (fp.wordTable.trained ? 4 : frozenGpuBytesPerElement(inp, fp.frozenDtype)) * fp.wordTable.elements : 0,
  };
}

/**
 * A tab's default budget stops here whatever the device has: browsers kill or throttle tabs that
 * grow past a few GB, and WebAssembly's heap ends at 4 GiB anyway.
 */
export const TAB_BUDGET_BYTES = 4 * 2 ** 30;

/**
 * What a tab's run holds beyond the worker's runtime: Chromium's browser, GPU and renderer
 * processes and the page itself. Fitted to `npm run bench:page` (PSS summed over Chromium's
 * processes, bge-small and bge-base shapes): the peaks were 479 and ~510 MiB above the account
 * without it.
 */
export const TAB_BROWSER_BYTES = 500 * 2 ** 20;

/**
 * Half the device's memory (8 GiB assumed when it does not say): the rest is the OS, the browser
 * and other tabs; in a tab, at most TAB_BUDGET_BYTES.
 */
export function defaultBudgetBytes(deviceMemoryBytes?: number, inTab = false): number {
  const half = Math.floor((deviceMemoryBytes && deviceMemoryBytes > 0 ? deviceMemoryBytes : 8 * 2 ** 30) / 2);
  return inTab ? Math.min(half, TAB_BUDGET_BYTES) : half;
}

/**
 * Tokens per GradCache mini-batch past which a larger one trains no faster, so 'auto' takes no
 * more. CPU: bge-small shape on WASM ×2 at 86 tokens, 32 + 32 texts, ran 110, 127 and 115 tokens/s
 * with mini-batches of 4, 6 and 12 texts (344–1,032 tokens; README), and a 12-text mini-batch holds
 * ~290 MiB more than a 6-text one; WebGPU: not measured on a GPU yet, set where a GPU's matrix
 * units are commonly busy.
 */
export const AUTO_MINI_BATCH_TOKENS: Record<string, number> = { node: 512, wasm: 512, webgpu: 8192 };

/** The mini-batch 'auto' aims for: enough texts for AUTO_MINI_BATCH_TOKENS, at least 4. */
export function efficientMiniBatch(runtimeKind: string, tokens: number): number {
  return Math.max(4, Math.ceil((AUTO_MINI_BATCH_TOKENS[runtimeKind] ?? AUTO_MINI_BATCH_TOKENS.wasm) / Math.max(1, tokens)));
}

export interface MemoryPlan {
  path: TrainPath;
  miniBatchSize: number | null;
  /** The text the user sees: what was chosen and why. */
  why: string;
  account: MemoryAccount;
  budgetBytes: number;
  /** Set when the run cannot fit: the message, and what would. */
  refusal: { message: string; suggestions: MemorySuggestion[] } | null;
}

/** Something that would fit: its text, and the run-config change that makes it so (null: it takes another model). */
export interface MemorySuggestion {
  text: string;
  change: Partial<Pick<RunConfig, 'gradCache' | 'adamMoments' | 'maxSeqLength' | 'memoryBudgetMB' | 'trainable' | 'frozenDtype'>> | null;
}

const mb = (bytes: number) => `${Math.ceil(bytes / 2 ** 20).toLocaleString('en-US')} MB`;

/** Whether an account fits the budget (and WASM's heap limit, and the GPU's largest binding); null when it does, else why not. */
function overBudget(a: MemoryAccount, budget: number, gpuMaxBinding?: number): string | null {
  if (gpuMaxBinding && a.gpuPeak > 0 && a.largestTensor > gpuMaxBinding) return `one activation tensor would need ${mb(a.largestTensor)}, over the GPU's ${mb(gpuMaxBinding)} largest buffer`;
  if (gpuMaxBinding && a.gpuTableBytes > gpuMaxBinding) return `the word embedding table would need ${mb(a.gpuTableBytes)} in one GPU buffer, over the GPU's ${mb(gpuMaxBinding)} largest buffer (a frozen table is looked up on the host instead)`;
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
 * the budget (memoryBudgetMB, else defaultBudgetBytes). 'auto' takes the fused step when it fits,
 * else GradCache with the largest mini-batch that fits, up to efficientMiniBatch (more memory
 * would not train faster); a run nothing fits is refused with what would fit instead (a smaller
 * mini-batch, a smaller published model, a shorter max sequence length, a larger budget).
 */
export function planMemory(inp: MemoryInputs): MemoryPlan {
  const { config } = inp;
  const budget = config.memoryBudgetMB !== null ? config.memoryBudgetMB * 2 ** 20 : defaultBudgetBytes(inp.deviceMemoryBytes, inp.inTab);
  const capped = inp.inTab && budget === TAB_BUDGET_BYTES && defaultBudgetBytes(inp.deviceMemoryBytes) > budget;
  const budgetSrc = config.memoryBudgetMB !== null ? `memoryBudgetMB (${mb(budget)})` : `the default budget (${mb(budget)}, ${capped ? 'the most a tab takes' : "half this device's memory"})`;
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
    const efficient = efficientMiniBatch(inp.runtimeKind, inp.tokens);
    const rows = Math.min(largest, efficient);
    const more = rows < largest ? ` (larger ones fit but train no faster: ${efficient} texts × ${inp.tokens} tokens already keep the ${inp.runtimeKind} kernels busy)` : '';
    return plan('gradcache', rows, `the fused step would need ${mb(fused.hostPeak)}, over ${budgetSrc}; GradCache mini-batches of ${rows} need ${mb(memoryAccount(inp, rows).hostPeak)}${more}`);
  }
  // Nothing fits: name the smaller of the fused step and a one-text mini-batch (GradCache's own
  // overhead can outweigh a small model's fused activations).
  const [path, rows] = memoryAccount(inp, 1).hostPeak <= fused.hostPeak ? (['gradcache', 1] as const) : (['fused', fusedRows] as const);
  return plan(path, rows, `nothing fits; ${path === 'fused' ? 'the fused step' : 'GradCache mini-batches of 1'} would need the least`, refuse(inp, budget, overBudget(memoryAccount(inp, rows, path), budget, inp.gpuMaxBindingBytes)!, 0, rows, path));
}

/** The refusal's message and what would fit instead, each checked against the same budget. */
function refuse(inp: MemoryInputs, budget: number, why: string, largest: number, rows: number, path: TrainPath): NonNullable<MemoryPlan['refusal']> {
  const suggestions: MemorySuggestion[] = [];
  if (largest >= 1) suggestions.push({ text: `a GradCache mini-batch of ${largest} (gradCache.miniBatchSize) fits`, change: { gradCache: { miniBatchSize: largest } } });
  const smallest = (o: Partial<MemoryInputs>) => overBudget(memoryAccount({ ...inp, ...o }, 1), budget, inp.gpuMaxBindingBytes) === null;
  // The smallest published model that fits and speaks the same languages (a multilingual
  // vocabulary gets a multilingual model, not an English one).
  const multilingual = isMultilingualVocabulary(inp.model.vocabSize);
  const modelSize = inp.parameters + (inp.footprint?.frozen ?? 0);
  const other = PRESETS.filter((p) => p.multilingual === multilingual)
    .map((p) => presetShape(p.id))
    .filter((p) => p.parameters < modelSize)
    .sort((a, b) => a.parameters - b.parameters)
    .find((p) => smallest({ model: p, parameters: p.parameters, fileBytes: inp.fileBytes ? 4 * p.parameters : 0, footprint: undefined }));
  if (other) suggestions.push({ text: `${other.id} fits`, change: null });
  const lora = inp.footprint?.mode === 'lora' ? null : loraThatFits(inp, budget);
  if (lora) suggestions.push(lora);
  // Half the optimizer's memory (on the host or the GPU alike).
  if (inp.adamMoments !== 'bfloat16') {
    const bf16 = largestFittingRows({ ...inp, adamMoments: 'bfloat16' }, budget, inp.config.batchSize);
    if (bf16 > largest) {
      const rows = Math.min(bf16, efficientMiniBatch(inp.runtimeKind, inp.tokens));
      // 'auto' picks that mini-batch itself; a mini-batch set in the config is set to it.
      const change = { adamMoments: 'bfloat16' as const, ...(inp.config.gradCache === 'auto' ? {} : { gradCache: { miniBatchSize: rows } }) };
      suggestions.push({ text: `bfloat16 AdamW moments (adamMoments) fit, with GradCache mini-batches of ${rows}`, change });
    }
  }
  if (largest < 1) {
    const shorter = [256, 128, 64, 32].find((t) => t < inp.tokens && smallest({ tokens: t }));
    if (shorter) suggestions.push({ text: `a max sequence length of ${shorter} tokens (maxSeqLength) fits`, change: { maxSeqLength: shorter } });
  }
  const need = memoryAccount(inp, rows, path);
  const bindingTooSmall = !!inp.gpuMaxBindingBytes && need.gpuPeak > 0 && Math.max(need.largestTensor, need.gpuTableBytes) > inp.gpuMaxBindingBytes;
  if (need.wasmPeak <= WASM_HEAP_LIMIT && !bindingTooSmall) {
    const peak = Math.max(need.hostPeak, need.gpuPeak);
    suggestions.push({ text: `a budget of ${mb(peak)} (memoryBudgetMB) fits this run as it is`, change: { memoryBudgetMB: Math.ceil(peak / 2 ** 20) } });
  }
  return { message: `This run does not fit in memory: ${why}.`, suggestions };
}

/** The rank a LoRA suggestion prefers (LoRA papers' and PEFT examples' common choice), and the smaller ones it falls back to. */
export const SUGGESTED_LORA_RANKS = [16, 8, 4, 2, 1] as const;

/** The LoRA config a refusal suggests at rank r: every linear layer, α = 2r, no dropout (docs/memory.md#the-lora-suggestion). */
export function suggestedLora(r: number): Extract<Trainable, { mode: 'lora' }> {
  return { mode: 'lora', r, alpha: 2 * r, dropout: 0, targetModules: 'all-linear' };
}

/** The account's inputs for the same run with `trainable` (its parameter set built from the model's shape) and frozen weights as `frozenDtype`. */
export function withTrainable(inp: MemoryInputs, trainable: Trainable, frozenDtype: FrozenDtype): MemoryInputs {
  const m = inp.model;
  // The names and shapes do not depend on the family (bertParameters), so BERT's stands in.
  const config = { ...BGE_SMALL_CONFIG, ...m, family: 'bert' as const };
  const set = parameterSet(config, trainable);
  return { ...inp, parameters: set.trainedSize, footprint: footprintOf(set, frozenDtype) };
}

/**
 * What a refusal of full fine-tuning (or freezing) offers when LoRA fits: LoRA with the largest
 * rank up to 16 whose account fits the same budget (any mini-batch), frozen weights as float32,
 * else as float16; null when none does.
 */
function loraThatFits(inp: MemoryInputs, budget: number): MemorySuggestion | null {
  for (const frozenDtype of ['float32', 'float16'] as const) {
    if (frozenDtype === 'float32' && inp.footprint?.frozenDtype === 'float16') continue;
    for (const r of SUGGESTED_LORA_RANKS) {
      const trainable = suggestedLora(r);
      const lora = withTrainable(inp, trainable, frozenDtype);
      const rows = largestFittingRows(lora, budget, inp.config.batchSize);
      if (rows < 1) continue;
      const half = frozenDtype === 'float16' ? ', the frozen base model held as float16 (frozenDtype)' : '';
      const batch = inp.config.gradCache === 'auto' ? '' : `, with GradCache mini-batches of ${rows}`;
      return {
        text: `LoRA with rank ${r} on every linear layer (trainable)${half} fits${batch}`,
        change: { trainable, ...(frozenDtype === 'float16' ? { frozenDtype } : {}), ...(inp.config.gradCache === 'auto' ? {} : { gradCache: { miniBatchSize: rows } }) },
      };
    }
  }
  return null;
}

/** The plan's refusal as one error message (what `tabtune train` prints and the page shows). */
export class MemoryBudgetError extends Error {
  constructor(readonly refusal: NonNullable<MemoryPlan['refusal']>) {
    super(`${refusal.message}${refusal.suggestions.length ? ` Try: ${refusal.suggestions.map((x) => x.text).join('; ')}.` : ''}`);
    this.name = 'MemoryBudgetError';
  }
}

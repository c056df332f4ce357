// The WebGPU bench's shared parts, whichever host ran the rows (Chromium: webgpu-bench.ts; Node on
// Dawn: dawn-bench.ts): the model shapes, what counts as a software adapter, PyTorch's same step
// on CUDA (torch_gpu_bench.py) and the printed tables. Node-only (child_process), no browser.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BGE_BASE_CONFIG, BGE_SMALL_CONFIG, type BertConfig } from '../../src/lib/models/bert-config.ts';
import { parameterSet } from '../../src/lib/models/parameter-set.ts';
import { DEFAULT_GPU_BUFFER_CACHE, type GpuBufferCacheMode } from '../../src/lib/runtime/webgpu-runtime.ts';
import type { MomentPrecision } from '../../src/lib/train/optimizer.ts';
import type { TrainPath } from '../../src/lib/train/trainer.ts';
import { median } from './profile-trace.ts';
import type { TrainStepRow } from './webgpu-steps.ts';

/** The options both WebGPU benches take (parseArgs form). */
export const BENCH_OPTIONS = {
  'allow-software': { type: 'boolean', default: false },
  models: { type: 'string' },
  paths: { type: 'string', default: 'fused,gradcache' },
  batch: { type: 'string' },
  seq: { type: 'string' },
  mini: { type: 'string', default: '8' },
  iters: { type: 'string' },
  warmup: { type: 'string', default: '2' },
  'gpu-buffer-cache': { type: 'string' },
  moments: { type: 'string', default: 'float32' },
  layers: { type: 'string' },
} as const;

type BenchValues = { [K in keyof typeof BENCH_OPTIONS]?: (typeof BENCH_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The rows' setup from those options; the models and sizes default by whether the adapter is a GPU (software adapters get the tiny model, 8 + 8 × 64 tokens). */
export function benchSetup(values: BenchValues, onGpu: boolean, defaultIters = 3): TableSetup & { paths: TrainPath[] } {
  const gpuBufferCache = values['gpu-buffer-cache'] as GpuBufferCacheMode | undefined;
  if (gpuBufferCache && !['bucket', 'simple', 'lazyRelease'].includes(gpuBufferCache)) throw new Error(`--gpu-buffer-cache: bucket, simple or lazyRelease, got ${gpuBufferCache}`);
  const adamMoments = (values.moments ?? 'float32') as MomentPrecision;
  if (!['float32', 'bfloat16'].includes(adamMoments)) throw new Error(`--moments: float32 or bfloat16, got ${adamMoments}`);
  const models = (values.models ?? (onGpu ? 'small,base' : 'tiny')).split(',');
  const layers = values.layers === undefined ? undefined : Number(values.layers);
  for (const m of models) modelConfig(m, layers);
  return {
    models, layers, gpuBufferCache, adamMoments,
    paths: (values.paths ?? 'fused,gradcache').split(',') as TrainPath[],
    // On a software adapter a 32 + 32 × 128 step of even the tiny model takes minutes.
    batch: Number(values.batch ?? (onGpu ? 32 : 8)),
    seq: Number(values.seq ?? (onGpu ? 128 : 64)),
    mini: Number(values.mini ?? 8),
    iters: Number(values.iters ?? defaultIters),
    warmup: Math.max(1, Number(values.warmup ?? 2)),
  };
}

/** What an adapter says of itself (GPUAdapterInfo, and whether it is a fallback adapter). */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/** Why an adapter is not a GPU (SwiftShader, a fallback adapter), or null when it is one. */
export function softwareAdapterReason(gpu: AdapterInfo): string | null {
  const text = [gpu.vendor, gpu.architecture, gpu.device, gpu.description].join(' ');
  if (/swiftshader|llvmpipe|lavapipe|software/i.test(text)) return `a software adapter (${describeAdapter(gpu)})`;
  if (gpu.isFallbackAdapter) return `a fallback adapter (${describeAdapter(gpu)})`;
  return null;
}

export function describeAdapter(gpu: Pick<AdapterInfo, 'vendor' | 'architecture' | 'device' | 'description'>): string {
  return [gpu.vendor, gpu.architecture, gpu.description || gpu.device].filter(Boolean).join(' · ') || 'no name given';
}

/** Shapes --models names; tiny: a 2-layer model for software adapters, where a full shape takes hours. */
export const MODELS: Record<string, BertConfig> = {
  tiny: { ...BGE_SMALL_CONFIG, numLayers: 2, hiddenSize: 64, numHeads: 4, intermediateSize: 256, vocabSize: 1000 },
  small: BGE_SMALL_CONFIG,
  base: BGE_BASE_CONFIG,
};

/** The shape --models names, with --layers encoder layers when given (a short stand-in of a full shape). */
export function modelConfig(name: string, layers?: number): BertConfig {
  const c = MODELS[name];
  if (!c) throw new Error(`--models: unknown ${name} (known: ${Object.keys(MODELS).join(', ')})`);
  return layers === undefined ? c : { ...c, numLayers: layers };
}

export const MiB = 2 ** 20;
export const fmt = (x: number | null | undefined, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

export type TorchResult = { available: boolean; reason?: string; tokens_per_s?: number; peak_mib?: number; [k: string]: unknown };

/** PyTorch's MNRL step on CUDA for each full-size model (not tiny), or why it did not run. */
export function runTorchGpu(models: string[], o: { python: string; script: string; batch: number; seq: number; iters: number; warmup: number; layers?: number; log: (s: string) => void }): Record<string, TorchResult> {
  const torch: Record<string, TorchResult> = {};
  for (const m of models.filter((x) => x !== 'tiny')) {
    o.log(`PyTorch ${m} MNRL step on CUDA`);
    const r = spawnSync(o.python, [o.script, '--model', m, '--batch', String(o.batch), '--seq', String(o.seq), '--iters', String(o.iters), '--warmup', String(o.warmup), ...(o.layers === undefined ? [] : ['--layers', String(o.layers)])], { encoding: 'utf8' });
    const line = r.stdout?.trim().split('\n').at(-1);
    try {
      torch[m] = JSON.parse(line ?? '');
    } catch {
      torch[m] = { available: false, reason: r.error?.message ?? `exit ${r.status}: ${(r.stderr ?? '').trim().split('\n').at(-1)}` };
    }
  }
  return torch;
}

export type StepRow = (TrainStepRow & { model: string }) | { model: string; path: string; error: string };
export type EncodeRow = { model: string; warmupMs: number[]; runMs: number[] } | { model: string; error: string };

export interface TableSetup {
  models: string[];
  batch: number;
  seq: number;
  mini: number;
  iters: number;
  warmup: number;
  gpuBufferCache?: GpuBufferCacheMode;
  adamMoments: MomentPrecision;
  /** --layers, when it replaced the shapes' own. */
  layers?: number;
}

/** The train-step table (beside PyTorch's step) and the encode table, as markdown. */
export function printTables(say: (s: string) => void, s: TableSetup, rows: StepRow[], encodes: EncodeRow[], torch: Record<string, TorchResult>): void {
  const { batch, seq, mini } = s;
  const layers = s.layers === undefined ? '' : ` (${s.layers} layers)`;
  say(`\ntrain step${layers}: MNRL, ${batch} anchors + ${batch} positives × ${seq} tokens, dropout on, clipping, AdamW on the device (${s.adamMoments} moments), onnxruntime's buffer cache ${s.gpuBufferCache ?? DEFAULT_GPU_BUFFER_CACHE}; median of ${s.iters} after ${s.warmup} warm-up`);
  say('| model | path | ms/step | tokens/s | peak GPU MiB | account GPU MiB | Δ | to device / to host per step | per update | PyTorch CUDA tokens/s | ours ÷ PyTorch | PyTorch peak MiB |');
  say('|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|');
  for (const r of rows) {
    const t = torch[r.model];
    const label = r.path === 'gradcache' ? `GradCache mini ${mini}` : 'fused';
    if ('error' in r) {
      say(`| ${r.model} | ${label} | FAILED: ${r.error} | | | | | | | | | |`);
      continue;
    }
    const ms = 1000 * median(r.stepS);
    const tps = (2 * batch * seq) / (ms / 1000);
    const peak = r.gpuPeakBytes;
    const bytes = (x: { toDevice: number; toHost: number } | null) => (x ? `${fmt(x.toDevice)} B / ${fmt(x.toHost)} B` : '—');
    say([
      '', r.model, label, fmt(ms), fmt(tps), fmt(peak === null ? null : peak / MiB), fmt(r.accountGpuPeak / MiB),
      peak ? `${(((r.accountGpuPeak - peak) / peak) * 100).toFixed(1)} %`.replace('-', '−') : '—', bytes(r.stepTraffic), bytes(r.updateTraffic),
      t?.available ? fmt(t.tokens_per_s) : '—', t?.available ? fmt(tps / t.tokens_per_s!, 2) : '—', t?.available ? fmt(t.peak_mib) : '—', '',
    ].join(' | ').trim());
  }
  for (const [m, t] of Object.entries(torch)) if (!t.available) say(`  PyTorch on CUDA (${m}): not run — ${t.reason}`);
  say(`  peak GPU MiB: the most bytes held in GPU buffers at once (onnxruntime's and ours, ${fmt(parameterSet(modelConfig(s.models[0], s.layers)).trainedSize / 1e6, 1)} M trainable parameters for ${s.models[0]}); account: src/lib/train/memory.ts for the same run.`);

  if (!encodes.length) return;
  say(`\nencode${layers}: eval mode, ${batch} × ${seq} tokens, median of ${s.iters} after ${s.warmup} warm-up`);
  say('| model | ms/batch | tokens/s |');
  say('|---|---:|---:|');
  for (const e of encodes) {
    if ('error' in e) {
      say(`| ${e.model} | FAILED: ${e.error} | |`);
      continue;
    }
    const ms = median(e.runMs);
    say(`| ${e.model} | ${fmt(ms)} | ${fmt((batch * seq) / (ms / 1000))} |`);
  }
}

export function writeJson(path: string, v: unknown, log: (s: string) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(v, null, 2) + '\n');
  log(`wrote ${path}`);
}

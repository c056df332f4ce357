// Tensors as they cross Playwright's page.evaluate (JSON): dtype, dims and base64 bytes. Shared by
// the engine test page and the Node side of tests/e2e/engine.browser.test.ts.

import type { DType } from '../../../src/lib/graph/types.ts';
import type { MomentPrecision } from '../../../src/lib/train/optimizer.ts';
import type { BenchStepOptions, TrainStepRow, TrainStepRowOptions } from '../../bench/webgpu-steps.ts';
import type { BackendReport, EngineWorkerApi, RunSummary, SelfTestReport, TrainRequest, WorkerRunEvent } from '../../../workers/api.ts';
import type { NodePlacement } from '../../../src/lib/runtime/webgpu-placement.ts';
import type { HostData, HostTensor, RuntimeDescription, RuntimeKind } from '../../../src/lib/runtime/types.ts';

export interface WireTensor {
  dtype: DType;
  dims: number[];
  b64: string;
}

export interface WireRun {
  ms: number;
  host: Record<string, WireTensor>;
  /** Output name → device tensor id in the page. */
  device: Record<string, string>;
}

/** window.harness in the test page. Device tensors are named by ids the page hands out. */
export interface Harness {
  describe(kind: RuntimeKind, threads?: number): Promise<RuntimeDescription>;
  load(kind: RuntimeKind, modelB64: string, threads?: number): Promise<string>;
  upload(kind: RuntimeKind, t: WireTensor, threads?: number): Promise<string>;
  /** Feeds are wire tensors or device tensor ids. */
  run(session: string, feeds: Record<string, WireTensor | string>, outputs?: string[], keepOnDevice?: string[]): Promise<WireRun>;
  download(kind: RuntimeKind, id: string, threads?: number): Promise<WireTensor>;
  dispose(kind: RuntimeKind, id: string, threads?: number): Promise<void>;
  /** WebGPU runtime's count of bytes written by upload(); -1 for other kinds. */
  uploadedBytes(kind: RuntimeKind): Promise<number>;
  release(session: string): Promise<void>;
  placement(modelB64: string): Promise<NodePlacement>;
  /**
   * IdbStore in the page: stores a value of `partSizes` parts (byte i of the value is i·31 mod 251)
   * under `key`, reads it back, and reports what the store and its raw databases hold.
   */
  storeRoundTrip(key: string, partSizes: number[]): Promise<{ equal: boolean; size: number; listed: number[]; rawValues: number; afterDelete: number }>;
  /**
   * IdbStore in the page, chunks of `chunkBytes`: stores `oldParts` under a key, then overwrites it
   * with `newParts` while every IndexedDB step from step `failFrom` on fails (a closed tab), then
   * opens the database again as the next start-up would and reports what it reads, what the
   * storage summary counts as unreferenced, what the sweep deletes, and what is left.
   */
  storeInterrupt(o: { chunkBytes: number; oldParts: number[]; newParts: number[]; failFrom: number }): Promise<StoreInterruptReport>;
  /**
   * Two IdbStores over one database (two tabs): one overwrites a value and waits before its
   * commit while the other counts and sweeps; then the write goes on. What each saw.
   */
  storeSweepBesideWrite(): Promise<{ countedDuringWrite: number; sweptDuringWrite: number; value: number[]; unreferencedAfter: number; rawKeysAfter: number }>;
  /** Starts workers/engine.worker.ts and calls its selfTest(). */
  workerSelfTest(): Promise<SelfTestReport>;
  /**
   * Trains in the page with the library's Trainer on `kind` (model files as base64, examples as the
   * data module gives them); returns the weights as base64 float32, the AdamW moments as the
   * checkpoint holds them (base64 float32 or bfloat16 bits) and the step events' figures.
   */
  train(
    files: Record<string, string>, examples: unknown[], config: unknown, kind: RuntimeKind, updater: 'host' | 'device',
  ): Promise<{ weights: Record<string, string>; moments: Record<string, string>; steps: { loss: number; gradNorm: number; updateTraffic: { toDevice: number; toHost: number } | null }[]; updater: string }>;
  /**
   * The GPU updater (gpu-updater.ts) against the host updater on WebGPU, fed the same synthetic
   * gradients (one tensor per size; accumulation 2 at scale ½, clipping at 0.5, weight decay on the
   * first): per update both gradient norms; per tensor the worst |Δweight| / max|weight| and the
   * share of moments bit-identical to the host's.
   */
  updaterParity(o: { sizes: number[]; moments: MomentPrecision; updates: number }): Promise<{
    norms: { host: number; gpu: number }[]; tensors: { n: number; weightErr: number; momentsIdentical: number; momentErr: number }[];
  }>;
  /** Calls one method of the engine worker (plain arguments); bytes come back as { b64 }. */
  workerCall(method: keyof EngineWorkerApi, args: unknown[]): Promise<unknown>;
  /**
   * The worker's train(), cancelled (as the page's Cancel does) when micro-batch `cancelAt` is
   * reported, or with its GPU device destroyed after the first checkpoint at or past
   * `loseDeviceAfter`; a failed run gives its message as `error`.
   */
  workerTrain(req: TrainRequest, cancelAt?: { step: number; microBatch: number }, loseDeviceAfter?: number): Promise<{ summary: RunSummary | null; error: string | null; events: WorkerRunEvent[] }>;
  /** The engine worker's backend probe, run in the page: which adapter WebGPU gives here. */
  probe(): Promise<BackendReport>;
  /**
   * The WebGPU bench's train step (tests/bench/train-step-bench.ts) on `kind` in the page, with
   * the page's GPU buffer bytes (src/lib/runtime/gpu-memory.ts; null without WebGPU) and the
   * host↔device bytes per timed step (null where the runtime counts none).
   */
  benchTrainStep(o: TrainStepRowOptions): Promise<TrainStepRow>;
  /** Eval-mode encode of `batch` random-token texts of `seq` tokens, timed per run. */
  benchEncode(o: BenchStepOptions): Promise<{ warmupMs: number[]; runMs: number[] }>;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function toWire(t: HostTensor): WireTensor {
  return { dtype: t.dtype, dims: [...t.dims], b64: toBase64(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)) };
}

export function fromWire(t: WireTensor): HostTensor {
  const bytes = fromBase64(t.b64);
  const buf = bytes.buffer;
  const data: HostData =
    t.dtype === 'float32' ? new Float32Array(buf)
    : t.dtype === 'float64' ? new Float64Array(buf)
    : t.dtype === 'int64' ? new BigInt64Array(buf)
    : t.dtype === 'int32' ? new Int32Array(buf)
    : new Uint8Array(buf);
  return { dtype: t.dtype, dims: [...t.dims], data };
}

export interface StoreInterruptReport {
  /** The steps the overwrite took, in order, up to the failure ("data0", "commit", "drop"). */
  steps: string[];
  /** The overwrite's error, or null when it finished. */
  error: string | null;
  /** What a new store reads back: the old value, the new one, or neither (a defect). */
  reads: 'old' | 'new' | 'neither';
  /** The storage summary's unreferenced line before the sweep ([entries, size]), or null. */
  counted: [number, number] | null;
  swept: [number, number];
  /** The summary's unreferenced line after the sweep (null: none). */
  countedAfter: [number, number] | null;
  /** Raw values left in the data database after the sweep. */
  rawKeysAfter: number;
}

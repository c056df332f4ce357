// The runtime interface every caller (trainer, evaluator, tests) uses: host tensors in plain typed
// arrays, opaque device tensors, sessions that run serialized graphs.
// Not onnxruntime-specific: implementations live beside this file and are the only importers
// of onnxruntime.

import type { DType } from '../graph/types.ts';

export type HostData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;

export interface HostTensor {
  dtype: DType;
  dims: number[];
  /** bool tensors hold 0/1 bytes; float16 tensors their IEEE binary16 bits (Uint16Array). */
  data: HostData;
}

/**
 * A tensor that lives where the backend computes (a GPU buffer on WebGPU; a host-side ort.Tensor
 * on the CPU kinds). Opaque: read it with runtime.download, free it with runtime.dispose.
 */
export interface DeviceTensor {
  readonly kind: 'device';
  readonly dtype: DType;
  readonly dims: readonly number[];
}

export type Feed = HostTensor | DeviceTensor;

export interface RunOptions {
  /** Outputs to return as DeviceTensors (kept on the device) instead of HostTensors. */
  keepOnDevice?: string[];
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the graph; `outputs` defaults to all. Device-kept outputs come back as DeviceTensor. */
  run(feeds: Record<string, Feed>, outputs?: string[], opts?: RunOptions): Promise<Record<string, HostTensor | DeviceTensor>>;
  release(): Promise<void>;
}

export interface LoadOptions {
  /** onnxruntime graph optimization level; 'all' by default. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * onnxruntime graph optimizers to leave out, by name (its `optimization.disable_specified_optimizers`
   * session entry), on the CPU runtimes (node, WASM); WebGPU runs every one.
   */
  disabledOptimizers?: readonly string[];
}

export type RuntimeKind = 'wasm' | 'node' | 'webgpu';

export interface RuntimeDescription {
  kind: RuntimeKind;
  /** Which package and execution provider ran, in words. */
  backend: string;
  threads: number;
  version: string;
  /** WebGPU only: the adapter onnxruntime's device came from (vendor · architecture · description). */
  adapter?: string;
  /** WebGPU: the device's largest buffer binding in bytes (min of maxBufferSize and maxStorageBufferBindingSize). */
  maxBindingBytes?: number;
  /** Whether float16 tensors can live on its device (WebGPU: the device has `shader-f16`); absent: yes (the CPU kinds). */
  float16?: boolean;
}

/** Bytes moved between host and device so far (a runtime whose "device" is host memory has none). */
export interface Traffic {
  /** By upload(). */
  uploaded: number;
  /** Host tensors fed to session runs. */
  fed: number;
  /** Outputs read back and download()s. */
  downloaded: number;
}

export interface Runtime {
  load(model: Uint8Array, opts?: LoadOptions): Promise<Session>;
  upload(t: HostTensor): Promise<DeviceTensor>;
  download(t: DeviceTensor): Promise<HostTensor>;
  dispose(t: DeviceTensor): void;
  describe(): RuntimeDescription;
  /** Present where host and device memory differ (WebGPU). */
  traffic?(): Traffic;
  /** WebGPU: what the trainer's own compute shaders need to work on this runtime's tensors. */
  gpuKernels?(): GpuKernelHost;
}

/**
 * WebGPU's device under onnxruntime's sessions, for the few kernels we write ourselves (the
 * in-place AdamW, train/gpu-updater.ts). Typed loosely (no @webgpu/types): the caller casts
 * `device` to the members it uses. Everything submitted through `queued` runs in order with the
 * runtime's session runs and fails with DeviceLostError once the device is gone; `write` and
 * `read` count their bytes in the runtime's Traffic.
 */
export interface GpuKernelHost {
  readonly device: unknown;
  /** The GPUBuffer under a device tensor (uploaded ones are writable storage; outputs are onnxruntime's). */
  bufferOf(t: DeviceTensor): unknown;
  /** A zero-filled storage buffer of at least `bytes` (padded to 16); its owner destroys it. */
  storage(bytes: number): unknown;
  write(buffer: unknown, data: ArrayBufferView): void;
  /** The first `bytes` of a buffer, copied to the host in queue order. */
  read(buffer: unknown, bytes: number): Promise<ArrayBuffer>;
  queued<T>(fn: () => T | Promise<T>): Promise<T>;
}

export function isDeviceTensor(t: Feed | HostTensor | DeviceTensor): t is DeviceTensor {
  return (t as DeviceTensor).kind === 'device';
}

/**
 * The device under a runtime is gone (WebGPU: `GPUDevice.lost` — a driver reset, the GPU process
 * crashed, the tab backgrounded too long, or `destroy()`): its tensors went with it.
 */
export class DeviceLostError extends Error {
  constructor(readonly reason: string) {
    super(`the GPU device was lost (${reason})`);
    this.name = 'DeviceLostError';
  }
}

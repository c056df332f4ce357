// The contract between the page and the engine worker: every type that crosses the comlink
// boundary, imported by both sides. Only plain, structured-clonable data belongs here; no
// classes, no onnxruntime types, no implementation.

/** The WebGPU limits the engine cares about when it sizes buffers and workgroups. */
export interface GpuLimitsReport {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxStorageBuffersPerShaderStage: number;
}

export interface GpuAdapterReport {
  /** From `GPUAdapter.info`; empty strings where the browser hides them. */
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software or otherwise degraded adapter (`GPUAdapterInfo.isFallbackAdapter`). */
  isFallbackAdapter: boolean;
  /** Sorted feature names, e.g. `shader-f16`, `subgroups`. */
  features: string[];
  limits: GpuLimitsReport;
}

export interface WasmReport {
  /** Threads onnxruntime-web's WASM backend will be given (`env.wasm.numThreads`). */
  threads: number;
  /** Why that number, in words. */
  reason: string;
}

export type StorageReport =
  | { available: true; usage: number; quota: number; persisted: boolean | null }
  | { available: false; reason: string };

export interface BackendReport {
  /** The backend the engine will use: WebGPU when an adapter was obtained, else WASM. */
  backend: 'webgpu' | 'wasm';
  /** Present when `backend` is `'webgpu'`. */
  gpu: GpuAdapterReport | null;
  /** Why WebGPU is not used; null when it is. */
  gpuUnavailableReason: string | null;
  /** Always filled: WASM is also the fallback when a WebGPU run fails. */
  wasm: WasmReport;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  storage: StorageReport;
  userAgent: string;
}

/** What `workers/engine.worker.ts` exposes. Train and eval methods will join `probe`. */
export interface EngineWorkerApi {
  probe(): Promise<BackendReport>;
}

// Finds out which compute backend the engine will get in this browser context, and why.
// Runs in the engine worker (the context that will own the onnxruntime sessions, so its answer
// is the one that matters). It only asks the browser; it does not load onnxruntime or run a
// kernel, so "WebGPU" here means an adapter exists, not that every op will run on it.

import type { BackendReport, GpuAdapterReport, StorageReport, WasmReport } from './api.ts';

/** Upper bound on WASM threads: onnxruntime-web's matmuls stop scaling well past this. */
export const MAX_WASM_THREADS = 8;

// TypeScript's DOM lib has no WebGPU types; these are the few members the probe reads
// (https://www.w3.org/TR/webgpu/#gpuadapter), kept local rather than adding @webgpu/types.
export interface ProbedAdapter {
  readonly info?: {
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    isFallbackAdapter?: boolean;
  };
  readonly isFallbackAdapter?: boolean;
  readonly features: Iterable<string>;
  readonly limits: Record<keyof GpuAdapterReport['limits'], number>;
}

export interface ProbedGpu {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<ProbedAdapter | null>;
}

/** The parts of `navigator` / the global scope the probe reads; a fake in tests. */
export interface ProbeEnv {
  gpu?: ProbedGpu;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  storage?: Pick<StorageManager, 'estimate' | 'persisted'>;
  userAgent: string;
}

export function probeEnvFromGlobals(): ProbeEnv {
  return {
    gpu: (navigator as { gpu?: ProbedGpu }).gpu,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency || 1,
    storage: 'storage' in navigator ? navigator.storage : undefined,
    userAgent: navigator.userAgent,
  };
}

/**
 * Threads for the WASM backend: every logical core up to MAX_WASM_THREADS when the page is
 * cross-origin isolated (the worker's own thread is one of them and is otherwise idle during a
 * run); exactly 1 otherwise, because onnxruntime-web's threads need SharedArrayBuffer.
 */
export function chooseWasmThreads(crossOriginIsolated: boolean, hardwareConcurrency: number, userAgent = ''): WasmReport {
  if (!crossOriginIsolated) {
    return {
      threads: 1,
      reason: 'the page is not cross-origin isolated, so SharedArrayBuffer and WASM threads are unavailable',
    };
  }
  // onnxruntime-web starts its threads as workers of the engine worker when a session first needs
  // them, then blocks the engine worker until they run; Firefox starts a worker's own workers only
  // while that worker is free, so the two wait on each other (the Firefox soak, tests/e2e/
  // firefox-soak.ts: the page stopped at its self-test with 0 to 6 of 7 threads started in 4 of 10
  // runs, and after a reload in the Firefox browser tests on 2 cores).
  if (/\bFirefox\//.test(userAgent)) {
    return {
      threads: 1,
      reason: "Firefox: onnxruntime's WASM threads start as workers of the engine worker, which Firefox does not start while the engine waits for them (the page would hang), so one thread",
    };
  }
  const cores = Math.max(1, Math.floor(hardwareConcurrency));
  const threads = Math.min(cores, MAX_WASM_THREADS);
  return {
    threads,
    reason:
      threads < cores
        ? `${cores} logical cores, capped at ${MAX_WASM_THREADS}`
        : `one per logical core (${cores}), the page is cross-origin isolated`,
  };
}

async function probeGpu(
  gpu: ProbeEnv['gpu'],
): Promise<{ gpu: GpuAdapterReport; reason: null } | { gpu: null; reason: string }> {
  if (!gpu) return { gpu: null, reason: 'navigator.gpu is absent: this browser or context does not expose WebGPU' };
  let adapter: ProbedAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { gpu: null, reason: `requestAdapter() threw: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!adapter) {
    return { gpu: null, reason: 'requestAdapter() returned null: WebGPU is exposed but no adapter is available' };
  }
  const info = adapter.info;
  const limits = adapter.limits;
  return {
    reason: null,
    gpu: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      // Older browsers put isFallbackAdapter on the adapter instead of its info.
      isFallbackAdapter: Boolean(info?.isFallbackAdapter ?? adapter.isFallbackAdapter),
      features: [...adapter.features].sort(),
      limits: {
        maxBufferSize: limits.maxBufferSize,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      },
    },
  };
}

async function probeStorage(storage: ProbeEnv['storage']): Promise<StorageReport> {
  if (!storage) return { available: false, reason: 'navigator.storage is absent (not a secure context?)' };
  try {
    const estimate = await storage.estimate();
    let persisted: boolean | null = null;
    try {
      persisted = await storage.persisted();
    } catch {
      persisted = null;
    }
    return { available: true, usage: estimate.usage ?? 0, quota: estimate.quota ?? 0, persisted };
  } catch (error) {
    return { available: false, reason: `storage.estimate() failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export async function probeBackend(env: ProbeEnv): Promise<BackendReport> {
  const [gpu, storage] = await Promise.all([probeGpu(env.gpu), probeStorage(env.storage)]);
  return {
    backend: gpu.gpu ? 'webgpu' : 'wasm',
    gpu: gpu.gpu,
    gpuUnavailableReason: gpu.reason,
    wasm: chooseWasmThreads(env.crossOriginIsolated, env.hardwareConcurrency, env.userAgent),
    crossOriginIsolated: env.crossOriginIsolated,
    hardwareConcurrency: env.hardwareConcurrency,
    storage,
    userAgent: env.userAgent,
  };
}

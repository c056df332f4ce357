// WebGPU in Node: Dawn's dawn.node (the npm package `webgpu`) put where onnxruntime-web's WebGPU EP
// and our code look for it (navigator.gpu, the GPU* classes on globalThis). For measuring on a
// machine with a GPU and no browser (dawn-bench.ts, ../shared/GPU.md); the product never loads it.
// Which Vulkan driver Dawn gets is the process environment's (VK_DRIVER_FILES / VK_ICD_FILENAMES,
// and libvulkan.so.1 on LD_LIBRARY_PATH), read when the process starts: dawn-bench.ts sets them
// for the processes it starts.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { GpuMemoryCounter } from '../../src/lib/runtime/gpu-memory.ts';
import type { GpuBufferCacheMode, WebGpuRuntime } from '../../src/lib/runtime/webgpu-runtime.ts';

/** The adapter as Dawn gives it (the members read here). */
export interface DawnAdapter {
  readonly info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  readonly limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  readonly isFallbackAdapter?: boolean;
}
export interface DawnGpu {
  requestAdapter(o?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<DawnAdapter | null>;
}
interface DawnModule {
  create(options: string[]): DawnGpu;
  globals: Record<string, { prototype: Record<string, unknown> }>;
}

/** Where dawn.node is: $TABTUNE_DAWN_NODE (the GPU pack), else the `webgpu` package's build for this platform. */
export function dawnNodePath(): string {
  if (process.env.TABTUNE_DAWN_NODE) return process.env.TABTUNE_DAWN_NODE;
  const pkg = dirname(createRequire(import.meta.url).resolve('webgpu/package.json'));
  return join(pkg, 'dist', `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`, 'dawn.node');
}

/**
 * Loads dawn.node and installs it as the page's WebGPU would be; returns navigator.gpu. Call it
 * before onnxruntime-web is imported and before any GPU buffer is made.
 */
export function installDawn(): DawnGpu {
  const dawn = createRequire(import.meta.url)(dawnNodePath()) as DawnModule;
  Object.assign(globalThis, dawn.globals);
  // dawn.node crashes on a view of a SharedArrayBuffer (onnxruntime's threaded WASM heap is one):
  // hand it a copy. Offsets and sizes count elements for typed arrays, so the copy's are scaled.
  const queue = dawn.globals.GPUQueue.prototype;
  const writeBuffer = queue.writeBuffer as (...a: unknown[]) => void;
  queue.writeBuffer = function (this: unknown, buffer: unknown, offset: number, data: ArrayBufferView, dataOffset?: number, size?: number) {
    if (!ArrayBuffer.isView(data) || !(data.buffer instanceof SharedArrayBuffer)) return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
    const copy = new Uint8Array(data.byteLength);
    copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const element = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    return writeBuffer.call(this, buffer, offset, copy, dataOffset === undefined ? undefined : dataOffset * element, size === undefined ? undefined : size * element);
  };
  const gpu = dawn.create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis as { navigator?: object }).navigator, gpu }, configurable: true, writable: true });
  return gpu;
}

/**
 * What a Dawn process measures with: Dawn installed, the GPU memory counter counting from its
 * first buffer on, and onnxruntime-web's WebGPU build on it (`bufferCache` as WebGpuRuntime takes).
 */
export async function dawnRuntime(bufferCache?: GpuBufferCacheMode): Promise<{ runtime: WebGpuRuntime; gpuMemory: GpuMemoryCounter }> {
  installDawn();
  const { installGpuMemoryCounter } = await import('../../src/lib/runtime/gpu-memory.ts');
  const gpuMemory = installGpuMemoryCounter();
  const ort = await import('onnxruntime-web/webgpu');
  // One thread for the few nodes onnxruntime places on the CPU: its worker threads would start
  // the running script (or the pack's bundle) again as theirs.
  ort.env.wasm.numThreads = 1;
  const { WebGpuRuntime } = await import('../../src/lib/runtime/webgpu-runtime.ts');
  const runtime = await WebGpuRuntime.create(ort as unknown as Parameters<typeof WebGpuRuntime.create>[0], 'native C++ EP', bufferCache);
  return { runtime, gpuMemory };
}

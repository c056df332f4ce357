// Counts the GPU memory a page holds in buffers: every GPUDevice.createBuffer, by onnxruntime's
// WebGPU EP (its sessions, arena and cache) or by us (uploads, staging), adds its size until the
// buffer is destroyed or collected. The peak is what the memory account's gpuPeak predicts.
// onnxruntime sizes its buffers from the graph's shapes, not from the hardware, so SwiftShader's
// figure stands for a GPU's (give or take kernels chosen by adapter features). Used by the WebGPU benchmark and its test; the
// product does not install it. Not the host↔device traffic (WebGpuRuntime.traffic()).

export interface GpuMemoryCounter {
  /** Bytes in buffers created and not yet destroyed (or collected). */
  readonly liveBytes: number;
  /** The most liveBytes has been since install or the last resetPeak(). */
  readonly peakBytes: number;
  /** Buffers created since install. */
  readonly buffers: number;
  /** Starts a new peak from what is live now. */
  resetPeak(): void;
}

interface BufferClasses {
  device: { prototype: { createBuffer(d: { size: number }): object } };
  buffer: { prototype: { destroy(): void } };
}

let installed: GpuMemoryCounter | null = null;

/**
 * Wraps createBuffer and destroy on the prototypes (once per page: later calls return the same
 * counter). Install it before the first GPUDevice makes a buffer, i.e. before any runtime starts.
 */
export function installGpuMemoryCounter(classes?: BufferClasses): GpuMemoryCounter {
  if (installed && !classes) return installed;
  const g = globalThis as unknown as { GPUDevice?: BufferClasses['device']; GPUBuffer?: BufferClasses['buffer'] };
  const c = classes ?? (g.GPUDevice && g.GPUBuffer ? { device: g.GPUDevice, buffer: g.GPUBuffer } : null);
  if (!c) throw new Error('this browser has no WebGPU (no GPUDevice/GPUBuffer)');
  let live = 0;
  let peak = 0;
  let buffers = 0;
  const sizes = new WeakMap<object, number>();
  const release = (size: number) => {
    live -= size;
  };
  // A buffer dropped without destroy() frees its memory when collected; so does the count.
  const collected = new FinalizationRegistry<number>(release);
  const createBuffer = c.device.prototype.createBuffer;
  const destroy = c.buffer.prototype.destroy;
  c.device.prototype.createBuffer = function (this: unknown, d: { size: number }) {
    const b = createBuffer.call(this, d);
    sizes.set(b, d.size);
    collected.register(b, d.size, b);
    live += d.size;
    buffers++;
    if (live > peak) peak = live;
    return b;
  };
  c.buffer.prototype.destroy = function (this: object) {
    const size = sizes.get(this);
    if (size !== undefined) {
      sizes.delete(this);
      collected.unregister(this);
      release(size);
    }
    return destroy.call(this);
  };
  const counter: GpuMemoryCounter = {
    get liveBytes() {
      return live;
    },
    get peakBytes() {
      return peak;
    },
    get buffers() {
      return buffers;
    },
    resetPeak() {
      peak = live;
    },
  };
  if (!classes) installed = counter;
  return counter;
}

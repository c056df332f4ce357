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
  /** The buffers live at the peak, largest first: what the peak is made of (usage: GPUBufferUsage bits). */
  readonly peakBuffers: LiveBuffer[];
  /** Starts a new peak from what is live now. */
  resetPeak(): void;
}

export interface LiveBuffer {
  bytes: number;
  usage: number;
}

interface BufferClasses {
  device: { prototype: { createBuffer(d: { size: number; usage?: number }): object } };
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
  // Per live buffer (by a number, so the count holds no buffer alive): its size and usage.
  const liveBuffers = new Map<number, LiveBuffer>();
  let atPeak: LiveBuffer[] = [];
  const ids = new WeakMap<object, number>();
  const release = (id: number) => {
    live -= liveBuffers.get(id)?.bytes ?? 0;
    liveBuffers.delete(id);
  };
  // A buffer dropped without destroy() frees its memory when collected; so does the count.
  const collected = new FinalizationRegistry<number>(release);
  const createBuffer = c.device.prototype.createBuffer;
  const destroy = c.buffer.prototype.destroy;
  c.device.prototype.createBuffer = function (this: unknown, d: { size: number; usage?: number }) {
    const b = createBuffer.call(this, d);
    const id = ++buffers;
    ids.set(b, id);
    liveBuffers.set(id, { bytes: d.size, usage: d.usage ?? 0 });
    collected.register(b, id, b);
    live += d.size;
    if (live > peak) {
      peak = live;
      atPeak = [...liveBuffers.values()];
    }
    return b;
  };
  c.buffer.prototype.destroy = function (this: object) {
    const id = ids.get(this);
    if (id !== undefined) {
      ids.delete(this);
      collected.unregister(this);
      release(id);
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
    get peakBuffers() {
      return [...atPeak].sort((a, b) => b.bytes - a.bytes);
    },
    resetPeak() {
      peak = live;
      atPeak = [...liveBuffers.values()];
    },
  };
  if (!classes) installed = counter;
  return counter;
}

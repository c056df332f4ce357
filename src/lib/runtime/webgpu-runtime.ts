// The WebGPU Runtime: onnxruntime-web's WebGPU execution provider, with weights and gradients kept
// in GPU buffers on onnxruntime's own GPUDevice between runs. A DeviceTensor here is an ort.Tensor
// whose data lives in a GPUBuffer; uploads write it with queue.writeBuffer, downloads copy it to a
// mappable staging buffer — never `Tensor.getData()`, which turns the tensor into a CPU tensor and
// so would silently end its GPU residency.
// Not the place that picks the onnxruntime-web build (index.ts does) and not an optimizer: the
// in-place weight updates (own WGSL shaders, through `gpuKernels()`) belong to the trainer.
//
// Gotchas, measured with onnxruntime-web 1.30:
// - Every output is created with preferredOutputLocation 'gpu-buffer'; outputs not asked for on
//   the device are read back here and their GPU buffers released at once. So a run moves exactly
//   the host feeds in and the host outputs out.
// - Never bind one buffer as both input and output of a run (JSEP returns wrong numbers, the native
//   EP fails validation). Outputs are always fresh buffers from onnxruntime here (no pre-allocated
//   outputs), so the only way to alias is to feed a tensor twice in a run, which is harmless.

import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-web';
import { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import type { DType } from '../graph/types.ts';
import { add } from '../ops/elementwise.ts';
import { parsePlacement, type NodePlacement } from './webgpu-placement.ts';
import type {
  DeviceTensor, Feed, GpuKernelHost, HostData, HostTensor, LoadOptions, RunOptions, Runtime, RuntimeDescription, Session, Traffic,
} from './types.ts';
import { DeviceLostError, isDeviceTensor } from './types.ts';

// WebGPU has no types in TypeScript's DOM lib; these are the few members used here
// (https://www.w3.org/TR/webgpu/), kept local rather than adding @webgpu/types.
export interface GpuBufferLike {
  readonly size: number;
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}
export interface GpuDeviceLike {
  readonly adapterInfo?: { vendor?: string; architecture?: string; device?: string; description?: string };
  readonly features?: { has(feature: string): boolean };
  readonly limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  readonly lost?: Promise<{ reason?: string; message?: string }>;
  destroy?(): void;
  readonly queue: { writeBuffer(b: GpuBufferLike, offset: number, data: ArrayBufferView): void; submit(cmds: unknown[]): void };
  createBuffer(d: { size: number; usage: number }): GpuBufferLike;
  createCommandEncoder(): {
    copyBufferToBuffer(src: GpuBufferLike, so: number, dst: GpuBufferLike, d: number, size: number): void;
    finish(): unknown;
  };
}
// GPUBufferUsage / GPUMapMode bits (https://www.w3.org/TR/webgpu/#buffer-usage).
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const STORAGE = 0x80;

type GpuDataType = 'float32' | 'float16' | 'int32' | 'int64' | 'uint8' | 'bool';

/** The subset of onnxruntime-web (either WebGPU build) this file uses. */
export interface OrtWebGpuModule {
  InferenceSession: { create(model: Uint8Array, opts?: OrtSession.SessionOptions): Promise<OrtSession> };
  Tensor: (new (type: DType, data: HostData, dims: readonly number[]) => OrtTensor) & {
    fromGpuBuffer(
      buffer: unknown,
      opts: { dataType: GpuDataType; dims: readonly number[]; download?: () => Promise<HostData>; dispose?: () => void },
    ): OrtTensor;
  };
  env: { webgpu: { device: Promise<unknown> }; versions: Record<string, string | undefined> };
}

const BYTES: Record<DType, number> = { float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1 };

function typedFromBytes(dtype: DType, bytes: ArrayBuffer, count: number): HostData {
  switch (dtype) {
    case 'float32': return new Float32Array(bytes, 0, count);
    case 'float64': return new Float64Array(bytes, 0, count);
    case 'int64': return new BigInt64Array(bytes, 0, count);
    case 'int32': return new Int32Array(bytes, 0, count);
    case 'int8': return new Int8Array(bytes, 0, count);
    case 'uint8':
    case 'bool': return new Uint8Array(bytes, 0, count);
    case 'float16': return new Uint16Array(bytes, 0, count);
  }
}

class GpuDeviceTensor implements DeviceTensor {
  readonly kind = 'device';
  disposed = false;
  /** `ortOwned`: a session's output, whose buffer onnxruntime frees (not one we uploaded). */
  constructor(readonly tensor: OrtTensor, readonly dtype: DType, readonly dims: readonly number[], readonly ortOwned = false) {}
}

/**
 * onnxruntime's wasm module binds console.log/console.error once, when it is instantiated (at the
 * first session), so a wrapper installed later never sees its logs. This one is installed before
 * that and forwards everything; while `sink` is set (placement()) it also keeps the lines.
 */
const consoleTap: { sink: string[] | null; installed: boolean } = { sink: null, installed: false };

function installConsoleTap(): void {
  if (consoleTap.installed) return;
  consoleTap.installed = true;
  for (const m of ['log', 'info', 'warn', 'error'] as const) {
    const original = console[m].bind(console);
    console[m] = (...args: unknown[]) => {
      if (consoleTap.sink) consoleTap.sink.push(args.map(String).join(' '));
      else original(...args);
    };
  }
}

function initModel(): Uint8Array {
  const g = new Graph('webgpu-init');
  const x = g.input('x', 'float32', [1]);
  g.output(add(x, x), 'y');
  return toOnnx(g);
}

const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * How onnxruntime's WebGPU EP keeps the storage buffers a run releases: 'bucket' (its default:
 * sizes rounded up to buckets, kept for reuse), 'simple' (exact sizes kept for reuse),
 * 'lazyRelease' (destroyed when the run ends), 'disabled' (destroyed at once; onnxruntime 1.30
 * then submits a destroyed buffer and the run fails validation).
 * We take lazyRelease: a training step's runs each need their full set anyway, and buffers kept
 * between runs only add to the peak. Peak GPU buffer bytes of a fused MNRL step (bge-small shape
 * with 2 layers, 4 + 4 × 64 tokens, SwiftShader; `src/lib/runtime/gpu-memory.ts`): bucket 836 MiB,
 * simple 806, lazyRelease 595. What re-creating buffers every run costs on a real GPU is not
 * measured yet (`npm run bench -- --webgpu --gpu-buffer-cache bucket` compares).
 */
export type GpuBufferCacheMode = 'bucket' | 'simple' | 'lazyRelease' | 'disabled';
export const DEFAULT_GPU_BUFFER_CACHE: GpuBufferCacheMode = 'lazyRelease';

/**
 * Under lazyRelease onnxruntime destroys a buffer released between runs (an output we disposed)
 * only when its next run ends, so that run holds it beside its own: a fused step's whole gradient
 * sum, once AdamW is done with it, and a checkpoint's reads hold it too. Past this many bytes
 * waiting, a one-element run of the keep-alive session ends them first
 * (tests/bench/webgpu-buffer-facts.ts measures both).
 */
const PENDING_RELEASE_FLUSH_BYTES = 2 ** 20;

const webGpuEp = (storageBufferCacheMode: GpuBufferCacheMode) => ({ name: 'webgpu', storageBufferCacheMode }) as const;

export class WebGpuRuntime implements Runtime {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly moved: Traffic = { uploaded: 0, fed: 0, downloaded: 0 };
  /** Why the device was lost; null while it is alive. */
  private lostReason: string | null = null;
  /** Bytes of onnxruntime's buffers released since its last run ended (PENDING_RELEASE_FLUSH_BYTES). */
  private releasedSinceRun = 0;

  /** Bytes moved host → GPU by upload() (not session feeds): lets tests prove residency. */
  get uploadedBytes(): number {
    return this.moved.uploaded;
  }

  traffic(): Traffic {
    return { ...this.moved };
  }

  private constructor(
    private readonly ort: OrtWebGpuModule,
    private readonly gpu: GpuDeviceLike,
    readonly keepAlive: OrtSession,
    private readonly bufferCache: GpuBufferCacheMode,
    private readonly description: RuntimeDescription,
  ) {
    void gpu.lost?.then((info) => {
      this.lostReason = [info.reason, info.message].filter(Boolean).join(': ') || 'unknown reason';
    });
  }

  /** Why the device is gone, or null. */
  get lost(): string | null {
    return this.lostReason;
  }

  /** Destroys the device, as a driver reset would (the page's fault handling is tested with it). */
  loseDevice(): void {
    this.gpu.destroy?.();
  }

  static async create(ort: OrtWebGpuModule, build: string, bufferCache: GpuBufferCacheMode = DEFAULT_GPU_BUFFER_CACHE): Promise<WebGpuRuntime> {
    installConsoleTap();
    // The native EP creates its device with its first session and destroys it when the last one
    // is released (our uploads would then hold buffers of a lost device): a one-node session
    // held for the runtime's lifetime pins it. Its options make the device's context, whose
    // buffer cache every later session shares.
    const keepAlive = await ort.InferenceSession.create(initModel(), { executionProviders: [webGpuEp(bufferCache)] });
    const gpu = (await ort.env.webgpu.device) as GpuDeviceLike | undefined;
    if (!gpu) throw new Error('onnxruntime-web created a WebGPU session but exposes no GPUDevice');
    const info = gpu.adapterInfo ?? {};
    const adapter = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' · ');
    return new WebGpuRuntime(ort, gpu, keepAlive, bufferCache, {
      kind: 'webgpu',
      backend: `onnxruntime-web, WebGPU EP (${build})`,
      threads: 1,
      version: ort.env.versions.web ?? '',
      adapter: adapter || 'unknown adapter',
      // onnxruntime asks for shader-f16 where the adapter offers it; without it no kernel takes float16.
      float16: gpu.features?.has('shader-f16') ?? false,
      ...(gpu.limits ? { maxBindingBytes: Math.min(gpu.limits.maxBufferSize, gpu.limits.maxStorageBufferBindingSize) } : {}),
    });
  }

  /** Runs `fn` after everything queued before it; on a lost device every call fails with DeviceLostError. */
  private exclusive<T>(fn: () => Promise<T>, opts: { evenIfLost?: boolean } = {}): Promise<T> {
    const guarded = async () => {
      if (this.lostReason && !opts.evenIfLost) throw new DeviceLostError(this.lostReason);
      try {
        return await fn();
      } catch (e) {
        // An error while the device goes away is the loss, not the op that happened to run.
        await new Promise((r) => setTimeout(r, 0));
        if (this.lostReason) throw new DeviceLostError(this.lostReason);
        throw e;
      }
    };
    const next = this.queue.then(guarded, guarded);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private toOrt(t: Feed): OrtTensor {
    if (isDeviceTensor(t)) {
      if (!(t instanceof GpuDeviceTensor)) throw new Error('device tensor from another runtime');
      if (t.disposed) throw new Error('device tensor used after dispose');
      return t.tensor;
    }
    this.moved.fed += t.data.byteLength;
    return new this.ort.Tensor(t.dtype, t.data, t.dims);
  }

  async load(model: Uint8Array, opts: LoadOptions = {}): Promise<Session> {
    const session = await this.exclusive(() =>
      this.ort.InferenceSession.create(model, {
        executionProviders: [webGpuEp(this.bufferCache)],
        graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
        preferredOutputLocation: 'gpu-buffer',
      }),
    );
    const run = async (feeds: Record<string, Feed>, outputs?: string[], ropts: RunOptions = {}) => {
      const ortFeeds: Record<string, OrtTensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = this.toOrt(v);
      const names = outputs ?? [...session.outputNames];
      return this.exclusive(async () => {
        await this.endPendingReleases();
        const result = await session.run(ortFeeds, names);
        this.releasedSinceRun = 0;
        const out: Record<string, HostTensor | DeviceTensor> = {};
        for (const name of names) {
          const t = result[name];
          const dims = [...t.dims];
          const dtype = t.type as DType;
          if (ropts.keepOnDevice?.includes(name)) {
            out[name] = new GpuDeviceTensor(t, dtype, dims, true);
          } else {
            out[name] = { dtype, dims, data: await this.read(t, dtype, dims) };
            this.release(t, count(dims) * BYTES[dtype]);
          }
        }
        return out;
      });
    };
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run,
      // Releasing what a lost device held cannot fail the caller: there is nothing left to free.
      release: () => this.exclusive(() => session.release().catch((e) => {
        if (!this.lostReason) throw e;
      }), { evenIfLost: true }),
    };
  }

  /**
   * Where onnxruntime puts each node of `model` in a WebGPU session: creates a throwaway session
   * with verbose logging and reads the "Node placements" report that onnxruntime writes to the
   * console (inference_session.cc, VerifyEachNodeIsAssignedToAnEp). Nodes are listed after graph
   * optimization, so fused nodes appear under their fused names.
   */
  async placement(model: Uint8Array, opts: LoadOptions = {}): Promise<NodePlacement> {
    return this.exclusive(async () => {
      const log: string[] = [];
      consoleTap.sink = log;
      try {
        const session = await this.ort.InferenceSession.create(model, {
          executionProviders: [webGpuEp(this.bufferCache)],
          graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
          logSeverityLevel: 0,
          logVerbosityLevel: 0,
        });
        await session.release();
      } finally {
        consoleTap.sink = null;
      }
      return parsePlacement(log);
    });
  }

  /** Copies a GPU tensor's buffer into a fresh host array; the tensor stays on the GPU. */
  private async read(t: OrtTensor, dtype: DType, dims: readonly number[]): Promise<HostData> {
    const n = count(dims);
    const size = n * BYTES[dtype];
    if (t.location !== 'gpu-buffer') {
      this.moved.downloaded += size;
      return (await t.getData()) as HostData;
    }
    return typedFromBytes(dtype, await this.readBuffer(t.gpuBuffer as unknown as GpuBufferLike, size), n);
  }

  /** The first `size` bytes of a GPU buffer, through a mappable staging copy (call inside exclusive). */
  private async readBuffer(buffer: GpuBufferLike, size: number): Promise<ArrayBuffer> {
    this.moved.downloaded += size;
    if (size === 0) return new ArrayBuffer(0);
    const padded = Math.ceil(size / 4) * 4;
    const staging = this.gpu.createBuffer({ size: padded, usage: MAP_READ | COPY_DST });
    try {
      const encoder = this.gpu.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, 0, staging, 0, padded);
      this.gpu.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_READ);
      const copy = staging.getMappedRange().slice(0, size);
      staging.unmap();
      return copy;
    } finally {
      staging.destroy();
    }
  }

  /** A zero-filled storage buffer (WebGPU zero-initializes), 16-byte padded as onnxruntime's kernels read. */
  private storageBuffer(bytes: number): GpuBufferLike {
    return this.gpu.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: STORAGE | COPY_SRC | COPY_DST });
  }

  /** Writes host bytes at the start of a buffer (writeBuffer needs a 4-byte multiple: padded copy). */
  private writeBuffer(buffer: GpuBufferLike, view: ArrayBufferView): void {
    const bytes = view.byteLength;
    const data = new Uint8Array(Math.ceil(bytes / 4) * 4);
    data.set(new Uint8Array(view.buffer, view.byteOffset, bytes));
    this.gpu.queue.writeBuffer(buffer, 0, data);
    this.moved.uploaded += bytes;
  }

  gpuKernels(): GpuKernelHost {
    const tensorOf = (t: DeviceTensor) => {
      if (!(t instanceof GpuDeviceTensor)) throw new Error('device tensor from another runtime');
      if (t.disposed) throw new Error('device tensor used after dispose');
      return t.tensor;
    };
    return {
      device: this.gpu,
      bufferOf: (t) => tensorOf(t).gpuBuffer,
      storage: (bytes) => this.storageBuffer(bytes),
      write: (b, data) => {
        if (this.lostReason) throw new DeviceLostError(this.lostReason);
        this.writeBuffer(b as GpuBufferLike, data);
      },
      read: (b, bytes) => this.exclusive(async () => {
        await this.endPendingReleases();
        return this.readBuffer(b as GpuBufferLike, bytes);
      }),
      queued: (fn) => this.exclusive(async () => fn()),
    };
  }

  async upload(t: HostTensor): Promise<DeviceTensor> {
    if (this.lostReason) throw new DeviceLostError(this.lostReason);
    if (t.dtype === 'float64') throw new Error('WebGPU has no float64 tensors');
    const buffer = this.storageBuffer(t.data.byteLength);
    // Copies (which also detaches us from SharedArrayBuffer views).
    this.writeBuffer(buffer, t.data);
    const dims = [...t.dims];
    const tensor = this.ort.Tensor.fromGpuBuffer(buffer, {
      dataType: t.dtype as GpuDataType,
      dims,
      dispose: () => buffer.destroy(),
    });
    return new GpuDeviceTensor(tensor, t.dtype, dims);
  }

  async download(t: DeviceTensor): Promise<HostTensor> {
    if (!(t instanceof GpuDeviceTensor)) throw new Error('device tensor from another runtime');
    if (t.disposed) throw new Error('device tensor used after dispose');
    const data = await this.exclusive(async () => {
      await this.endPendingReleases(); // before its staging buffer adds to what waits
      return this.read(t.tensor, t.dtype, t.dims);
    });
    return { dtype: t.dtype, dims: [...t.dims], data };
  }

  dispose(t: DeviceTensor): void {
    if (!(t instanceof GpuDeviceTensor) || t.disposed) return;
    t.disposed = true;
    if (t.ortOwned) this.release(t.tensor, count(t.dims) * BYTES[t.dtype]);
    else t.tensor.dispose();
  }

  /** Hands an output's buffer back to onnxruntime, counting what its next run would otherwise hold. */
  private release(t: OrtTensor, bytes: number): void {
    const onGpu = t.location === 'gpu-buffer'; // dispose() makes it 'none'
    t.dispose();
    if (onGpu && this.bufferCache === 'lazyRelease') this.releasedSinceRun += bytes;
  }

  /** Ends onnxruntime's pending releases with a one-element run of the keep-alive session (call inside exclusive). */
  private async endPendingReleases(): Promise<void> {
    if (this.releasedSinceRun < PENDING_RELEASE_FLUSH_BYTES) return;
    await this.keepAlive.run({ x: new this.ort.Tensor('float32', new Float32Array(1), [1]) });
    this.releasedSinceRun = 0;
  }

  describe(): RuntimeDescription {
    return { ...this.description };
  }
}

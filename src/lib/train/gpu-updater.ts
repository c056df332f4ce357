// The updater WebGPU trains with: gradient accumulation, Σg² and AdamW as our own WGSL compute
// shaders on onnxruntime's GPUDevice, writing the weights, moments and gradient sum in place.
// Graphs cannot do that (onnxruntime never binds an input buffer as an output), so the graph
// updater (updater.ts, DeviceUpdater) holds a second copy of every weight and moment of a chunk
// while AdamW runs over it; here nothing is allocated after the first update, and the moments may
// be bfloat16 (half their memory) with the host's stochastic rounding, bit for bit the same hash.
// Per update: a 48-byte uniform (the [10] AdamW scalars, seed, step) goes to the GPU and one Σg²
// (4 bytes) comes back; weights and moments come down only for checkpoints and export.
// The per-element arithmetic is optimizer.ts' adamwKernel in its op order; WGSL may fuse a
// multiply-add, so it agrees with the host to float32 rounding, not bitwise (as the graph updater).
// Not the schedule or clipping policy (optimizer.ts computes the scalars and the coefficient).
//
// Shape letters: none; every buffer is one parameter's values, flattened (n elements).

import type { DeviceTensor, GpuKernelHost, HostTensor } from '../runtime/types.ts';
import { bf16BitsToF32, f32ToBf16Bits } from '../models/safetensors.ts';
import { clipForNorm, type MomentData, type MomentPrecision, NonFiniteGradientError, type StepResult } from './optimizer.ts';
import { adamwScalarBlock, downloadWeights, onDevice, replaceWeight, resumeTensors, type Updater, type UpdaterOptions } from './updater.ts';

// The members of the WebGPU API used here (https://www.w3.org/TR/webgpu/); no @webgpu/types.
interface Buffer {
  destroy(): void;
}
interface Pipeline {
  getBindGroupLayout(i: number): unknown;
}
interface Pass {
  setPipeline(p: Pipeline): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number): void;
  end(): void;
}
interface Device {
  createShaderModule(d: { code: string }): unknown;
  createComputePipeline(d: { layout: 'auto'; compute: { module: unknown; entryPoint: string } }): Pipeline;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: { buffer: unknown } }[] }): unknown;
  createBuffer(d: { size: number; usage: number }): Buffer;
  createCommandEncoder(): { beginComputePass(): Pass; finish(): unknown };
  readonly queue: { submit(c: unknown[]): void };
}
const UNIFORM = 0x40;
const COPY_DST = 0x8;

const WORKGROUP = 256;
/** WebGPU's guaranteed maxComputeWorkgroupsPerDimension: larger grids go 2-D. */
const MAX_GROUPS_PER_DIM = 65535;
/** Σg² partial sums per tensor (one per workgroup), summed again by one workgroup. */
const MAX_PARTIALS_PER_TENSOR = 256;

/** Per tensor, written once: its length, its index (bfloat16 rounding key), its weight-decay group, where its Σg² partials go. */
const TENSOR_STRUCT = 'struct Tensor { n: u32, index: u32, noDecay: u32, partialOffset: u32 }';
const GLOBAL_INDEX = `
fn globalIndex(wg: vec3<u32>, groups: vec3<u32>, local: u32) -> u32 { return (wg.y * groups.x + wg.x) * ${WORKGROUP}u + local; }`;
const ENTRY = `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) local: u32)`;

/** acc += g · scale (optimizer.ts accumulateInto). */
const ACCUMULATE = `${TENSOR_STRUCT}
@group(0) @binding(0) var<uniform> t: Tensor;
@group(0) @binding(1) var<uniform> scale: vec4<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
${GLOBAL_INDEX}
${ENTRY} {
  let i = globalIndex(wg, groups, local);
  if (i < t.n) { acc[i] = acc[i] + grad[i] * scale.x; }
}`;

/** x ·= scale: the first micro-batch's gradient becomes the sum (accumulateInto onto zeros). */
const SCALE = `${TENSOR_STRUCT}
@group(0) @binding(0) var<uniform> t: Tensor;
@group(0) @binding(1) var<uniform> scale: vec4<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
${GLOBAL_INDEX}
${ENTRY} {
  let i = globalIndex(wg, groups, local);
  if (i < t.n) { x[i] = x[i] * scale.x; }
}`;

/**
 * Σx² (or Σx: summing the partials) of one tensor into out[t.partialOffset + workgroup]: a
 * grid-stride loop, then a tree in workgroup memory.
 */
const sumShader = (squares: boolean) => `${TENSOR_STRUCT}
@group(0) @binding(0) var<uniform> t: Tensor;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> part: array<f32, ${WORKGROUP}>;
${ENTRY} {
  var s = 0.0;
  for (var i = wg.x * ${WORKGROUP}u + local; i < t.n; i += groups.x * ${WORKGROUP}u) { let g = x[i]; s += ${squares ? 'g * g' : 'g'}; }
  part[local] = s;
  workgroupBarrier();
  for (var w = ${WORKGROUP / 2}u; w > 0u; w >>= 1u) {
    if (local < w) { part[local] += part[local + w]; }
    workgroupBarrier();
  }
  if (local == 0u) { out[t.partialOffset + wg.x] = part[0]; }
}`;

/** The per-update block (48 bytes): updater.ts' adamwScalarBlock, in its order, then the rounding seed and step. */
const UPDATE_STRUCT = `struct Update {
  decay: f32, noDecay: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  bc2Sqrt: f32, eps: f32, negStepSize: f32, gradScale: f32, seed: u32, step: u32,
}`;

/**
 * AdamW over one tensor, two elements per invocation (a bfloat16 pair shares a u32 word, so its
 * two halves must be written by one invocation). `moments`: how m and v are stored.
 */
function adamwShader(moments: MomentPrecision): string {
  const bf16 = moments === 'bfloat16';
  const momentType = bf16 ? 'u32' : 'f32';
  const body = bf16
    ? `
  // optimizer.ts roundingKey and adamwKernelBf16: the same hash, so the same stochastic rounding.
  let key = fmix32(u.seed ^ (u.step * 0x9e3779b1u) ^ ((t.index + 1u) * 0x27d4eb2fu));
  let mw = m[pair];
  let vw = v[pair];
  var mo = 0u;
  var vo = 0u;
  for (var k = 0u; k < 2u; k++) {
    let i = 2u * pair + k;
    let shift = 16u * k;
    if (i >= t.n) { break; }
    let r = adamw(i, bitcast<f32>(((mw >> shift) & 0xffffu) << 16u), bitcast<f32>(((vw >> shift) & 0xffffu) << 16u));
    let rnd = fmix32(key ^ (i * 0x9e3779b1u));
    mo |= ((bitcast<u32>(r.x) + (rnd & 0xffffu)) >> 16u) << shift;
    vo |= ((bitcast<u32>(r.y) + (rnd >> 16u)) >> 16u) << shift;
  }
  m[pair] = mo;
  v[pair] = vo;`
    : `
  for (var k = 0u; k < 2u; k++) {
    let i = 2u * pair + k;
    if (i >= t.n) { break; }
    let r = adamw(i, m[i], v[i]);
    m[i] = r.x;
    v[i] = r.y;
  }`;
  return `${TENSOR_STRUCT}
${UPDATE_STRUCT}
@group(0) @binding(0) var<uniform> u: Update;
@group(0) @binding(1) var<uniform> t: Tensor;
@group(0) @binding(2) var<storage, read_write> theta: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<${momentType}>;
@group(0) @binding(5) var<storage, read_write> v: array<${momentType}>;
${GLOBAL_INDEX}

// murmur3's finalizer (optimizer.ts fmix32); u32 arithmetic wraps as Math.imul does.
fn fmix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16u);
}

// optimizer.ts adamwKernel for element i, given its moments; writes θ, returns the new (m, v).
fn adamw(i: u32, m0: f32, v0: f32) -> vec2<f32> {
  let g = grad[i] * u.gradScale;
  let p = theta[i] * select(u.decay, u.noDecay, t.noDecay == 1u);
  let mi = m0 * u.beta1 + u.oneMinusBeta1 * g;
  let vi = v0 * u.beta2 + (u.oneMinusBeta2 * g) * g;
  let denom = sqrt(vi) / u.bc2Sqrt + u.eps;
  theta[i] = p + (u.negStepSize * mi) / denom;
  return vec2<f32>(mi, vi);
}

${ENTRY} {
  let pair = globalIndex(wg, groups, local);
  if (2u * pair >= t.n) { return; }${body}
}`;
}

/** Workgroups for `items` invocations, 2-D past the per-dimension limit. */
function grid(items: number): [number, number] {
  const groups = Math.max(1, Math.ceil(items / WORKGROUP));
  const x = Math.min(groups, MAX_GROUPS_PER_DIM);
  return [x, Math.ceil(groups / x)];
}

interface Param {
  name: string;
  shape: number[];
  n: number;
  /** Its Tensor uniform. */
  info: Buffer;
  partials: number;
  m: Buffer;
  v: Buffer;
}

export class GpuUpdater implements Updater {
  readonly kind = 'device';
  private acc: Map<string, DeviceTensor> | null = null;
  private steps = 0;
  private readonly params: Param[];
  private readonly pipelines: Record<'accumulate' | 'scale' | 'sumsq' | 'sum' | 'adamw', Pipeline>;
  private readonly updateBlock: Buffer;
  private readonly scaleBlock: Buffer;
  private readonly partials: Buffer;
  private readonly total: Buffer;
  /** The Tensor uniform of the final Σ over all partials. */
  private readonly totalInfo: Buffer;
  private readonly device: Device;
  private readonly moments: MomentPrecision;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private readonly seed: number;

  private constructor(private readonly o: UpdaterOptions, private readonly gpu: GpuKernelHost) {
    this.device = gpu.device as Device;
    this.moments = o.moments ?? 'float32';
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.seed = o.seed ?? 0;
    const pipeline = (code: string) => this.device.createComputePipeline({ layout: 'auto', compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main' } });
    this.pipelines = { accumulate: pipeline(ACCUMULATE), scale: pipeline(SCALE), sumsq: pipeline(sumShader(true)), sum: pipeline(sumShader(false)), adamw: pipeline(adamwShader(this.moments)) };
    const uniform = (bytes: number) => this.device.createBuffer({ size: bytes, usage: UNIFORM | COPY_DST });
    const momentBytes = (n: number) => (this.moments === 'bfloat16' ? 2 * n : 4 * n);
    let offset = 0;
    this.params = o.params.map((p, index) => {
      const n = p.data.length;
      const partials = Math.max(1, Math.min(MAX_PARTIALS_PER_TENSOR, Math.ceil(n / WORKGROUP)));
      const info = uniform(16);
      gpu.write(info, Uint32Array.of(n, index, p.decay ? 0 : 1, offset));
      offset += partials;
      return { name: p.name, shape: p.shape, n, info, partials, m: gpu.storage(momentBytes(n)) as Buffer, v: gpu.storage(momentBytes(n)) as Buffer };
    });
    this.partials = gpu.storage(4 * offset) as Buffer;
    this.total = gpu.storage(4) as Buffer;
    this.totalInfo = uniform(16);
    gpu.write(this.totalInfo, Uint32Array.of(offset, 0, 0, 0));
    this.updateBlock = uniform(48);
    this.scaleBlock = uniform(16);
  }

  /** On a runtime with GPU kernels (WebGPU); the moments start at zero. */
  static async create(o: UpdaterOptions): Promise<GpuUpdater> {
    const gpu = o.runtime.gpuKernels?.();
    if (!gpu) throw new Error(`the GPU updater needs a WebGPU runtime, not ${o.runtime.describe().kind}`);
    return gpu.queued(() => new GpuUpdater(o, gpu));
  }

  get step(): number {
    return this.steps;
  }

  /** One compute pass: `dispatches` of (pipeline, buffers in binding order, invocations). */
  private submit(dispatches: [keyof GpuUpdater['pipelines'], unknown[], number][]): void {
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const [kind, buffers, items] of dispatches) {
      const pipeline = this.pipelines[kind];
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) }));
      pass.dispatchWorkgroups(...grid(items));
    }
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  async accumulate(grads: Map<string, HostTensor | DeviceTensor>, scale: number): Promise<void> {
    const rt = this.o.runtime;
    const gs = new Map<string, DeviceTensor>();
    for (const p of this.params) {
      const t = grads.get(p.name);
      if (!t) throw new Error(`updater: no gradient for ${p.name}`);
      gs.set(p.name, await onDevice(rt, t));
    }
    const first = this.acc === null;
    await this.gpu.queued(() => {
      if (scale !== 1 || !first) this.gpu.write(this.scaleBlock, Float32Array.of(scale));
      if (first && scale === 1) return;
      this.submit(this.params.map((p) => {
        const g = this.gpu.bufferOf(gs.get(p.name)!);
        // The first micro-batch's gradient, scaled, becomes the sum; later ones are added to it.
        return first ? ['scale', [p.info, this.scaleBlock, g], p.n] : ['accumulate', [p.info, this.scaleBlock, this.gpu.bufferOf(this.acc!.get(p.name)!), g], p.n];
      }));
    });
    if (first) this.acc = gs;
    else for (const t of gs.values()) rt.dispose(t); // queued work keeps its buffers until it ran
  }

  async update(lr: number, maxGradNorm: number): Promise<StepResult> {
    const acc = this.acc;
    if (!acc) throw new Error('updater: no gradient accumulated');
    const buffers = new Map(this.params.map((p) => [p.name, this.gpu.bufferOf(acc.get(p.name)!)]));
    await this.gpu.queued(() => this.submit([
      ...this.params.map((p): [keyof GpuUpdater['pipelines'], unknown[], number] => ['sumsq', [p.info, buffers.get(p.name), this.partials], p.partials * WORKGROUP]),
      ['sum', [this.totalInfo, this.partials, this.total], WORKGROUP],
    ]));
    const sq = new Float32Array(await this.gpu.read(this.total, 4))[0];
    const { totalNorm, coefficient } = clipForNorm(Math.fround(Math.sqrt(sq)), maxGradNorm);
    if (!Number.isFinite(totalNorm)) {
      this.discard();
      throw new NonFiniteGradientError(totalNorm);
    }
    const step = this.steps + 1;
    const block = new ArrayBuffer(48);
    new Float32Array(block, 0, 10).set(adamwScalarBlock(lr, step, this.weightDecay, { beta1: this.beta1, beta2: this.beta2, eps: this.eps }, coefficient));
    new Uint32Array(block, 40, 2).set([this.seed >>> 0, step >>> 0]);
    await this.gpu.queued(() => {
      this.gpu.write(this.updateBlock, new Uint8Array(block));
      this.submit(this.params.map((p) => ['adamw', [this.updateBlock, p.info, this.gpu.bufferOf(this.o.encoder.weight(p.name)), buffers.get(p.name), p.m, p.v], Math.ceil(p.n / 2)]));
    });
    this.discard();
    this.steps = step;
    return { step, lr, gradNorm: totalNorm, clipCoefficient: coefficient };
  }

  async weights(): Promise<Map<string, Float32Array>> {
    return downloadWeights(this.o.runtime, this.o.encoder, this.params.map((p) => p.name));
  }

  async state(): Promise<{ step: number; tensors: Map<string, MomentData> }> {
    const tensors = new Map<string, MomentData>();
    const read = async (b: Buffer, n: number): Promise<MomentData> =>
      this.moments === 'bfloat16' ? new Uint16Array(await this.gpu.read(b, 2 * n), 0, n) : new Float32Array(await this.gpu.read(b, 4 * n), 0, n);
    for (const p of this.params) {
      tensors.set(`adam.m/${p.name}`, await read(p.m, p.n));
      tensors.set(`adam.v/${p.name}`, await read(p.v, p.n));
    }
    return { step: this.steps, tensors };
  }

  async load(weights: Map<string, Float32Array>, step: number, tensors: Map<string, MomentData>): Promise<void> {
    const rt = this.o.runtime;
    // Into this updater's precision (a float32 checkpoint may resume with bfloat16 moments, and back).
    const own = (t: MomentData) => (this.moments === 'bfloat16' ? (t instanceof Uint16Array ? t : f32ToBf16Bits(t)) : t instanceof Float32Array ? t : bf16BitsToF32(t));
    for (const p of this.params) {
      const { w, m, v } = resumeTensors(p.name, p.n, weights, tensors);
      await replaceWeight(rt, this.o.encoder, p.name, p.shape, w);
      await this.gpu.queued(() => {
        this.gpu.write(p.m, own(m));
        this.gpu.write(p.v, own(v));
      });
    }
    this.discard();
    this.steps = step;
  }

  discard(): void {
    for (const t of this.acc?.values() ?? []) this.o.runtime.dispose(t);
    this.acc = null;
  }

  async dispose(): Promise<void> {
    this.discard();
    for (const p of this.params) for (const b of [p.info, p.m, p.v]) b.destroy();
    for (const b of [this.partials, this.total, this.totalInfo, this.updateBlock, this.scaleBlock]) b.destroy();
  }
}

// Where the optimizer runs. An Updater takes each micro-batch's gradients (acc += g·scale), then at
// an update boundary clips by the global norm and applies AdamW, handing the encoder its new
// weights. Three of them, the same arithmetic (optimizer.ts, docs/optimizer.md#adamw): the two
// below, and WebGPU's GpuUpdater (gpu-updater.ts: DeviceUpdater's job as our own shaders, in
// place).
//   HostUpdater    gradients come to the host; clipping and AdamW run as Float32Array loops
//                  (bit-identical to torch on the CPU); the new weights are uploaded. On the CPU
//                  runtimes upload and download are free (the tensors already live in host memory).
//   DeviceUpdater  gradients, accumulators, moments and weights stay on the runtime's device:
//                  accumulation, Σg² and AdamW are small ONNX graphs run on device tensors, in
//                  chunks of parameters so the transient outputs stay bounded; the learning rate,
//                  bias corrections and clip coefficient enter as one [10] scalar vector. Per
//                  update only that vector goes to the device and one Σg² per chunk comes back
//                  (so the norm is known on the host). Weights come down only for checkpoints,
//                  evaluation and export. Equal to the host update to float32 rounding (an FMA
//                  there is a multiply-add here: ~1 ulp per op). Graphs cannot write in place, so
//                  AdamW holds a second copy of a chunk's weights and moments while it runs: on
//                  WebGPU the trainer takes GpuUpdater instead; here it serves the CPU runtimes
//                  (TrainerOptions.updater 'device'), where the host update measures faster.
// Every updater holds the run's trained parameters (models/parameter-set.ts `trained`: names and
// decay groups from the set; weights, gradient sums and moments keyed by those names).
// Not the schedule (schedule.ts) nor when updates happen (trainer.ts).
//
// Shape letters: none; every tensor here is one parameter's, flattened or as the model has it.

import { Graph, type OpDef, type Value } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { add, div, mul } from '../ops/elementwise.ts';
import { reduceSum } from '../ops/reduce.ts';
import { slice } from '../ops/shape.ts';
import { type DeviceTensor, type HostTensor, isDeviceTensor, type Runtime, type Session } from '../runtime/types.ts';
import { AdamW, type AdamWOptions, adamwScalars, accumulateInto, clipForNorm, type MomentData, NonFiniteGradientError, type StepResult } from './optimizer.ts';
import type { Parameter } from '../models/parameter-set.ts';
import { bf16BitsToF32 } from '../models/safetensors.ts';
import { releaseArray } from '../util/release-buffer.ts';

export { NonFiniteGradientError };

export type UpdaterKind = 'host' | 'device';

/** The encoder side an updater needs: its current weight tensors, replaced after each update. */
export interface WeightSlots {
  weight(name: string): DeviceTensor;
  setWeight(name: string, t: DeviceTensor): void;
}

export interface Updater {
  readonly kind: UpdaterKind;
  /** AdamW's update count. */
  readonly step: number;
  /** acc += g·scale for every parameter (the gradients are consumed: device ones are disposed). */
  accumulate(grads: Map<string, HostTensor | DeviceTensor>, scale: number): Promise<void>;
  /**
   * Clip (maxGradNorm > 0) and AdamW with `lr` on the accumulated gradients; clears them. A
   * non-finite gradient norm throws NonFiniteGradientError before anything is changed.
   */
  update(lr: number, maxGradNorm: number): Promise<StepResult>;
  /** Drops a half-accumulated gradient (after a failed micro-batch), keeping weights and moments. */
  discard(): void;
  /** Host copies of the weights (checkpoints, export). */
  weights(): Promise<Map<string, Float32Array>>;
  /** `adam.m/<name>`, `adam.v/<name>` host copies and the step count. */
  state(): Promise<{ step: number; tensors: Map<string, MomentData> }>;
  /** Weights, moments and step from a checkpoint; the encoder gets the weights. */
  load(weights: Map<string, Float32Array>, step: number, tensors: Map<string, MomentData>): Promise<void>;
  dispose(): Promise<void>;
}

/** A trained parameter (the parameter set's entry: its name and decay group) with its shape and initial values. */
export type TrainedValues = Pick<Parameter, 'name' | 'decay'> & { shape: number[]; data: Float32Array };

export interface UpdaterOptions extends AdamWOptions {
  runtime: Runtime;
  encoder: WeightSlots;
  /** The parameter set's `trained`, in order, with their values. */
  params: TrainedValues[];
  /** The host updater trains `params`' arrays themselves rather than copies (TrainerOptions.trainInPlace). */
  inPlace?: boolean;
}

async function toHost(runtime: Runtime, t: HostTensor | DeviceTensor): Promise<Float32Array> {
  if (!isDeviceTensor(t)) return t.data as Float32Array;
  const h = await runtime.download(t);
  runtime.dispose(t);
  return h.data as Float32Array;
}

/** A gradient on the runtime's device: device tensors as they are, host ones uploaded (the device updaters' input). */
export async function onDevice(runtime: Runtime, t: HostTensor | DeviceTensor): Promise<DeviceTensor> {
  return isDeviceTensor(t) ? t : runtime.upload(t);
}

// ---- what both device updaters (DeviceUpdater here, GpuUpdater in gpu-updater.ts) share ----------

/** Indices into the scalar vector fed with every AdamW run. */
const S = { decay: 0, noDecay: 1, beta1: 2, oneMinusBeta1: 3, beta2: 4, oneMinusBeta2: 5, bc2Sqrt: 6, eps: 7, negStepSize: 8, gradScale: 9 } as const;

/** The [10] scalars of update `step` (indices S): adamwScalars of the decay and no-decay groups, the clip coefficient as gradScale. */
export function adamwScalarBlock(lr: number, step: number, weightDecay: number, o: { beta1: number; beta2: number; eps: number }, coefficient: number): Float32Array {
  const decay = adamwScalars(lr, step, weightDecay, o, coefficient);
  const plain = adamwScalars(lr, step, 0, o, coefficient);
  const scalars = new Float32Array(10);
  scalars[S.decay] = decay.decayFactor;
  scalars[S.noDecay] = plain.decayFactor;
  scalars[S.beta1] = decay.beta1;
  scalars[S.oneMinusBeta1] = decay.oneMinusBeta1;
  scalars[S.beta2] = decay.beta2;
  scalars[S.oneMinusBeta2] = decay.oneMinusBeta2;
  scalars[S.bc2Sqrt] = decay.bc2Sqrt;
  scalars[S.eps] = decay.eps;
  scalars[S.negStepSize] = decay.negStepSize;
  scalars[S.gradScale] = decay.gradScale;
  return scalars;
}

/** One parameter's weight and moments from a checkpoint, each checked to hold `n` values. */
export function resumeTensors(name: string, n: number, weights: Map<string, Float32Array>, tensors: Map<string, MomentData>): { w: Float32Array; m: MomentData; v: MomentData } {
  const w = weights.get(name);
  const m = tensors.get(`adam.m/${name}`);
  const v = tensors.get(`adam.v/${name}`);
  for (const [what, t] of [['weight', w], ['adam.m', m], ['adam.v', v]] as const) {
    if (!t || t.length !== n) throw new Error(`resume: the checkpoint has no ${what} ${name} of ${n} values`);
  }
  return { w: w!, m: m!, v: v! };
}

/** The encoder's current weights, downloaded (checkpoints, export). */
export async function downloadWeights(runtime: Runtime, encoder: WeightSlots, names: Iterable<string>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const name of names) out.set(name, (await runtime.download(encoder.weight(name))).data as Float32Array);
  return out;
}

/** Uploads `data` as the encoder's weight `name`, freeing the one it replaces. */
export async function replaceWeight(runtime: Runtime, encoder: WeightSlots, name: string, shape: number[], data: Float32Array): Promise<void> {
  const old = encoder.weight(name);
  encoder.setWeight(name, await runtime.upload({ dtype: 'float32', dims: shape, data }));
  runtime.dispose(old);
}

export class HostUpdater implements Updater {
  readonly kind = 'host';
  private readonly optimizer: AdamW;
  private acc: Map<string, Float32Array> | null = null;

  constructor(private readonly o: UpdaterOptions) {
    const params = new Map(o.params.map((p) => [p.name, o.inPlace ? p.data : p.data.slice()]));
    this.optimizer = new AdamW(params, { ...o, noDecay: o.params.filter((p) => !p.decay).map((p) => p.name) });
  }

  get step(): number {
    return this.optimizer.step;
  }

  async accumulate(grads: Map<string, HostTensor | DeviceTensor>, scale: number): Promise<void> {
    const first = this.acc === null;
    this.acc ??= new Map();
    for (const { name } of this.o.params) {
      const t = grads.get(name);
      if (!t) throw new Error(`updater: no gradient for ${name}`);
      const g = await toHost(this.o.runtime, t);
      // The first micro-batch's gradient becomes the accumulator when it needs no scaling.
      if (first && scale === 1) this.acc.set(name, g);
      else {
        if (first) this.acc.set(name, new Float32Array(g.length));
        accumulateInto(this.acc.get(name)!, g, scale);
        releaseArray(g); // the runtime's output, read once: free it before the next mini-batch's arrive
      }
    }
  }

  async update(lr: number, maxGradNorm: number): Promise<StepResult> {
    if (!this.acc) throw new Error('updater: no gradient accumulated');
    const acc = this.acc;
    this.acc = null;
    const r = this.optimizer.update(acc, lr, maxGradNorm);
    for (const g of acc.values()) releaseArray(g); // before the next update's gradients arrive
    await this.push();
    return r;
  }

  private async push(): Promise<void> {
    for (const { name, shape } of this.o.params) {
      const old = this.o.encoder.weight(name);
      this.o.encoder.setWeight(name, await this.o.runtime.upload({ dtype: 'float32', dims: shape, data: this.optimizer.params.get(name)! }));
      this.o.runtime.dispose(old);
    }
  }

  async weights(): Promise<Map<string, Float32Array>> {
    return this.optimizer.params;
  }

  async state() {
    return { step: this.optimizer.step, tensors: this.optimizer.stateTensors() };
  }

  async load(weights: Map<string, Float32Array>, step: number, tensors: Map<string, MomentData>): Promise<void> {
    for (const [name, p] of this.optimizer.params) {
      const w = weights.get(name);
      if (!w || w.length !== p.length) throw new Error(`resume: the checkpoint has no ${name} of ${p.length} values`);
      p.set(w);
    }
    this.optimizer.loadState(step, tensors);
    this.acc = null;
    await this.push();
  }

  discard(): void {
    this.acc = null;
  }

  async dispose(): Promise<void> {
    this.acc = null;
  }
}

// ---- the device updater's graphs ---------------------------------------------------------------

/** Elements per chunk graph: bounds the transient outputs of one AdamW run (3 × 64 MB here). */
export const UPDATE_CHUNK_ELEMENTS = 16 * 2 ** 20;

const Sqrt: OpDef = { type: 'Sqrt', infer: (x) => [{ dtype: x[0]!.dtype, shape: x[0]!.shape }] };

const SCALARS = 'scalars';

interface Chunk {
  params: { name: string; shape: number[]; decay: boolean }[];
  accumulate: Promise<Session> | null;
  sumsq: Promise<Session> | null;
  adamw: Promise<Session> | null;
}

function accumulateGraph(params: Chunk['params']): Graph {
  const g = new Graph('accumulate');
  const s = g.input('scale', 'float32', [1]);
  for (const p of params) g.output(add(g.input(`acc/${p.name}`, 'float32', p.shape), mul(g.input(`grad/${p.name}`, 'float32', p.shape), s)), `acc_out/${p.name}`);
  return g;
}

function sumsqGraph(params: Chunk['params']): Graph {
  const g = new Graph('sumsq');
  let total: Value | null = null;
  for (const p of params) {
    const x = g.input(`grad/${p.name}`, 'float32', p.shape);
    const sq = reduceSum(mul(x, x), p.shape.map((_, i) => i), false);
    total = total ? add(total, sq) : sq;
  }
  g.output(total!, 'sumsq');
  return g;
}

/** torch's AdamW per element, op for op (optimizer.ts adamwKernel), for every parameter of a chunk. */
function adamwGraph(params: Chunk['params']): Graph {
  const g = new Graph('adamw');
  const s = g.input(SCALARS, 'float32', [10]);
  const at = (i: number) => slice(s, [i], [i + 1], [0]); // [1]
  const k = Object.fromEntries(Object.entries(S).map(([name, i]) => [name, at(i)])) as Record<keyof typeof S, Value>;
  for (const p of params) {
    const theta = g.input(`theta/${p.name}`, 'float32', p.shape);
    const grad = g.input(`grad/${p.name}`, 'float32', p.shape);
    const m = g.input(`adam.m/${p.name}`, 'float32', p.shape);
    const v = g.input(`adam.v/${p.name}`, 'float32', p.shape);
    const gs = mul(grad, k.gradScale);
    const decayed = mul(theta, p.decay ? k.decay : k.noDecay);
    const m2 = add(mul(m, k.beta1), mul(k.oneMinusBeta1, gs));
    const v2 = add(mul(v, k.beta2), mul(mul(k.oneMinusBeta2, gs), gs));
    const denom = add(div(g.apply(Sqrt, [v2])[0], k.bc2Sqrt), k.eps);
    g.output(add(decayed, div(mul(k.negStepSize, m2), denom)), `theta_out/${p.name}`);
    g.output(m2, `m_out/${p.name}`);
    g.output(v2, `v_out/${p.name}`);
  }
  return g;
}

export class DeviceUpdater implements Updater {
  readonly kind = 'device';
  private readonly chunks: Chunk[] = [];
  private readonly m = new Map<string, DeviceTensor>();
  private readonly v = new Map<string, DeviceTensor>();
  private acc: Map<string, DeviceTensor> | null = null;
  private steps = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  private constructor(private readonly o: UpdaterOptions) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    let chunk: Chunk | null = null;
    let size = 0;
    for (const p of o.params) {
      if (!chunk || size + p.data.length > UPDATE_CHUNK_ELEMENTS) {
        chunk = { params: [], accumulate: null, sumsq: null, adamw: null };
        this.chunks.push(chunk);
        size = 0;
      }
      chunk.params.push({ name: p.name, shape: p.shape, decay: p.decay });
      size += p.data.length;
    }
  }

  static async create(o: UpdaterOptions): Promise<DeviceUpdater> {
    if ((o.moments ?? 'float32') !== 'float32') {
      throw new Error(`adamMoments "${o.moments}": the graph updater keeps float32 moments; bfloat16 ones train on the host updater or on WebGPU`);
    }
    const u = new DeviceUpdater(o);
    for (const p of o.params) {
      u.m.set(p.name, await o.runtime.upload({ dtype: 'float32', dims: p.shape, data: new Float32Array(p.data.length) }));
      u.v.set(p.name, await o.runtime.upload({ dtype: 'float32', dims: p.shape, data: new Float32Array(p.data.length) }));
    }
    return u;
  }

  get step(): number {
    return this.steps;
  }

  private session(chunk: Chunk, kind: 'accumulate' | 'sumsq' | 'adamw'): Promise<Session> {
    const build = kind === 'accumulate' ? accumulateGraph : kind === 'sumsq' ? sumsqGraph : adamwGraph;
    return (chunk[kind] ??= this.o.runtime.load(toOnnx(build(chunk.params))));
  }

  async accumulate(grads: Map<string, HostTensor | DeviceTensor>, scale: number): Promise<void> {
    const rt = this.o.runtime;
    const next = new Map<string, DeviceTensor>();
    for (const chunk of this.chunks) {
      const gs = new Map<string, DeviceTensor>();
      for (const { name } of chunk.params) {
        const t = grads.get(name);
        if (!t) throw new Error(`updater: no gradient for ${name}`);
        gs.set(name, await onDevice(rt, t));
      }
      if (!this.acc && scale === 1) {
        for (const [n, t] of gs) next.set(n, t);
        continue;
      }
      const feeds: Record<string, HostTensor | DeviceTensor> = { scale: { dtype: 'float32', dims: [1], data: Float32Array.of(scale) } };
      for (const { name, shape } of chunk.params) {
        // The first micro-batch adds to zeros (a scaled copy), so every later one is the same graph.
        feeds[`acc/${name}`] = this.acc?.get(name) ?? (await rt.upload({ dtype: 'float32', dims: shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }));
        feeds[`grad/${name}`] = gs.get(name)!;
      }
      const names = chunk.params.map((p) => `acc_out/${p.name}`);
      const out = await (await this.session(chunk, 'accumulate')).run(feeds, names, { keepOnDevice: names });
      for (const { name } of chunk.params) {
        rt.dispose(feeds[`acc/${name}`] as DeviceTensor);
        rt.dispose(gs.get(name)!);
        next.set(name, out[`acc_out/${name}`] as DeviceTensor);
      }
    }
    this.acc = next;
  }

  async update(lr: number, maxGradNorm: number): Promise<StepResult> {
    const acc = this.acc;
    if (!acc) throw new Error('updater: no gradient accumulated');
    const rt = this.o.runtime;
    // Σg² per chunk on the device; the norm and the clip coefficient on the host (a few scalars).
    let sq = 0;
    for (const chunk of this.chunks) {
      const feeds: Record<string, DeviceTensor> = {};
      for (const { name } of chunk.params) feeds[`grad/${name}`] = acc.get(name)!;
      const out = await (await this.session(chunk, 'sumsq')).run(feeds, ['sumsq']);
      sq += (out.sumsq as HostTensor).data[0] as number;
    }
    const { totalNorm, coefficient } = clipForNorm(Math.fround(Math.sqrt(sq)), maxGradNorm);
    if (!Number.isFinite(totalNorm)) {
      this.discard();
      throw new NonFiniteGradientError(totalNorm);
    }
    const step = this.steps + 1;
    const scalars = adamwScalarBlock(lr, step, this.weightDecay, { beta1: this.beta1, beta2: this.beta2, eps: this.eps }, coefficient);
    for (const chunk of this.chunks) {
      const feeds: Record<string, HostTensor | DeviceTensor> = { [SCALARS]: { dtype: 'float32', dims: [10], data: scalars } };
      const names: string[] = [];
      for (const { name } of chunk.params) {
        feeds[`theta/${name}`] = this.o.encoder.weight(name);
        feeds[`grad/${name}`] = acc.get(name)!;
        feeds[`adam.m/${name}`] = this.m.get(name)!;
        feeds[`adam.v/${name}`] = this.v.get(name)!;
        names.push(`theta_out/${name}`, `m_out/${name}`, `v_out/${name}`);
      }
      const out = await (await this.session(chunk, 'adamw')).run(feeds, names, { keepOnDevice: names });
      for (const { name } of chunk.params) {
        rt.dispose(this.o.encoder.weight(name));
        rt.dispose(this.m.get(name)!);
        rt.dispose(this.v.get(name)!);
        rt.dispose(acc.get(name)!);
        this.o.encoder.setWeight(name, out[`theta_out/${name}`] as DeviceTensor);
        this.m.set(name, out[`m_out/${name}`] as DeviceTensor);
        this.v.set(name, out[`v_out/${name}`] as DeviceTensor);
      }
    }
    this.acc = null;
    this.steps = step;
    return { step, lr, gradNorm: totalNorm, clipCoefficient: coefficient };
  }

  async weights(): Promise<Map<string, Float32Array>> {
    return downloadWeights(this.o.runtime, this.o.encoder, this.o.params.map((p) => p.name));
  }

  async state() {
    const tensors = new Map<string, Float32Array>();
    for (const { name } of this.o.params) {
      tensors.set(`adam.m/${name}`, (await this.o.runtime.download(this.m.get(name)!)).data as Float32Array);
      tensors.set(`adam.v/${name}`, (await this.o.runtime.download(this.v.get(name)!)).data as Float32Array);
    }
    return { step: this.steps, tensors };
  }

  async load(weights: Map<string, Float32Array>, step: number, tensors: Map<string, MomentData>): Promise<void> {
    const rt = this.o.runtime;
    for (const { name, shape, data } of this.o.params) {
      const { w, m, v } = resumeTensors(name, data.length, weights, tensors);
      await replaceWeight(rt, this.o.encoder, name, shape, w);
      rt.dispose(this.m.get(name)!);
      rt.dispose(this.v.get(name)!);
      const f32 = (t: MomentData) => (t instanceof Float32Array ? t : bf16BitsToF32(t));
      this.m.set(name, await rt.upload({ dtype: 'float32', dims: shape, data: f32(m) }));
      this.v.set(name, await rt.upload({ dtype: 'float32', dims: shape, data: f32(v) }));
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
    for (const t of [...this.m.values(), ...this.v.values()]) this.o.runtime.dispose(t);
    this.m.clear();
    this.v.clear();
    for (const c of this.chunks) for (const s of [c.accumulate, c.sumsq, c.adamw]) if (s) await (await s).release();
  }
}

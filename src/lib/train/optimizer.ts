// AdamW as torch.optim.AdamW computes it (docs/optimizer.md#adamw) over the HF Trainer's two
// parameter groups (which parameters decay is the parameter set's `decay`,
// models/parameter-set.ts), global L2 gradient clipping (torch.nn.utils.clip_grad_norm_) and
// gradient accumulation, on the CPU with Float32Array loops. The optimizer state is named
// `adam.m/<param>`, `adam.v/<param>` plus one step count, so a checkpoint reads against the
// model's own tensor names.
// It does not compute gradients, decide when an update happens (schedule.ts: stepsPlan,
// microBatchRole) or pick the learning rate (schedule.ts: lrAt); the trainer passes lr per update.
//
// Float32 semantics. torch's single-tensor and foreach AdamW (torch 1.13 .. 2.x) run, per tensor:
//   θ.mul_(1 − lr·wd); m.mul_(β1).add_(g, alpha=1−β1); v.mul_(β2).addcmul_(g, g, value=1−β2)
//   denom = v.sqrt() / sqrt(1 − β2ᵗ) + eps;  θ.addcdiv_(m, denom, value=−lr/(1 − β1ᵗ))
// Python-float scalars are computed in double and cast to float32 when they meet a float32 tensor,
// and every tensor op rounds to float32. `adamwScalars` does the first, `adamwKernel` the second
// (Math.fround after every op, in torch's order). Measured on torch 1.13's AVX2 CPU kernels:
// add_(g, alpha) is fma(g, α, m) and addcmul_ is fma(α·g, g, v) (one rounding), addcdiv_ is
// ((α·m)/denom) + θ with three roundings. A double-precision a + b·c of float32 inputs rounded once
// is that FMA (the product is exact in double; double rounding can differ in rare ties), so the
// kernel reproduces torch bit for bit on the reference data (optimizer.test.ts). Deliberate choice
// between variants: torch ≥ 2.0's single-tensor path writes the first moment as m.lerp_(g, 1−β1)
// and the fused CUDA kernel (the recipe's
// `adamw_torch_fused`) computes θ −= lr·wd·θ then the same formula in registers; all are the same
// math and differ only in float rounding (≈1e-7 relative per step), below any parity tolerance.
// A WGSL port cannot promise the FMAs (WGSL's fma() is allowed to be unfused), so GPU vs CPU agree
// to a few ulps, not bitwise.
//
// GPU boundary: `adamwKernel` is the whole per-element update — inputs θ, g, m, v (same length),
// the uniform block `AdamWScalars` (all float32), outputs θ, m, v in place. A WGSL compute shader
// with one invocation per element and the same op order is its GPU twin; `adamwScalars` stays on
// the CPU and fills the uniform buffer. Clipping needs a reduction (Σg² per tensor, then over
// tensors) before the scale, so on the GPU it is one reduce pass + the scale folded into the
// kernel's g read (`gradScale`).

import { bf16BitsToF32, f32ToBf16Bits } from '../models/safetensors.ts';

/** torch / TrainingArguments defaults. */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

/**
 * How AdamW keeps its moments: float32 (torch's, the default), or bfloat16 — the upper 16 bits of
 * each float32, rounded stochastically when stored, which halves the moments' memory (2 × 2 bytes
 * per parameter instead of 2 × 4). Round-to-nearest would not do: with β2 = 0.999 an update changes
 * v by 0.1 %, under half a bfloat16 ulp (0.2–0.4 %), so v would never move; stochastic rounding
 * stores the next value up with the probability that makes the expected stored value exact (as in
 * Zamirai et al. 2020, "Revisiting BFloat16 Training"). The random bits are a hash of (seed,
 * update, tensor, element): a run and its resume round alike.
 */
export type MomentPrecision = 'float32' | 'bfloat16';
/** A moment tensor: float32 values, or bfloat16 bits (Uint16Array). */
export type MomentData = Float32Array | Uint16Array;

export interface AdamWOptions {
  /** Default 'float32'. */
  moments?: MomentPrecision;
  /** Seeds the stochastic rounding of bfloat16 moments. */
  seed?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decay of the decay group; the no-decay group always gets 0. TrainingArguments default 0.0. */
  weightDecay?: number;
}

/** The per-update scalars, each rounded to float32 as torch does when a Python float meets a float32 tensor. */
export interface AdamWScalars {
  /** 1 − lr·wd */
  decayFactor: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** sqrt(1 − β2ᵗ) */
  bc2Sqrt: number;
  eps: number;
  /** −lr / (1 − β1ᵗ) */
  negStepSize: number;
  /** Multiplier applied to g as it is read (the clipping coefficient; 1 when not clipping). */
  gradScale: number;
}

const f = Math.fround;

/** `step` is the 1-based update number t after incrementing (torch's `step_t += 1` comes first). */
export function adamwScalars(
  lr: number,
  step: number,
  weightDecay: number,
  o: { beta1: number; beta2: number; eps: number },
  gradScale = 1,
): AdamWScalars {
  if (!(step >= 1) || !Number.isInteger(step)) throw new Error(`AdamW step must be an integer ≥ 1, got ${step}`);
  const bc1 = 1 - o.beta1 ** step;
  const bc2 = 1 - o.beta2 ** step;
  return {
    decayFactor: f(1 - lr * weightDecay),
    beta1: f(o.beta1),
    oneMinusBeta1: f(1 - o.beta1),
    beta2: f(o.beta2),
    oneMinusBeta2: f(1 - o.beta2),
    bc2Sqrt: f(Math.sqrt(bc2)),
    eps: f(o.eps),
    negStepSize: f(-(lr / bc1)),
    gradScale: f(gradScale),
  };
}

/**
 * One fused pass of AdamW over a tensor, in place, float32 after every op in torch's order.
 * @param theta [n] parameter
 * @param grad  [n] gradient (read only; scaled by s.gradScale as read, like clip_grad_norm_'s mul_)
 * @param m     [n] first moment `adam.m/<name>`
 * @param v     [n] second moment `adam.v/<name>`
 */
export function adamwKernel(theta: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, s: AdamWScalars): void {
  const n = theta.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`adamwKernel: lengths differ (θ ${n}, g ${grad.length}, m ${m.length}, v ${v.length})`);
  }
  const { decayFactor, beta1, oneMinusBeta1, beta2, oneMinusBeta2, bc2Sqrt, eps, negStepSize, gradScale } = s;
  const scaleGrad = gradScale !== 1;
  for (let i = 0; i < n; i++) {
    const g = scaleGrad ? f(grad[i] * gradScale) : grad[i];
    const p = f(theta[i] * decayFactor);
    const mi = f(f(m[i] * beta1) + oneMinusBeta1 * g);
    const vi = f(f(v[i] * beta2) + f(oneMinusBeta2 * g) * g);
    const denom = f(f(f(Math.sqrt(vi)) / bc2Sqrt) + eps);
    theta[i] = f(p + f(f(negStepSize * mi) / denom));
    m[i] = mi;
    v[i] = vi;
  }
}

const BF16_BLOCK = 4096;
const scratchM = new Float32Array(BF16_BLOCK);
const scratchV = new Float32Array(BF16_BLOCK);
const scratchMBits = new Uint32Array(scratchM.buffer);
const scratchVBits = new Uint32Array(scratchV.buffer);

/** murmur3's 32-bit finalizer: a well-mixed hash of an integer. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The key of one tensor's rounding at one update, for adamwKernelBf16. */
export const roundingKey = (seed: number, step: number, tensor: number) => fmix32((seed ^ Math.imul(step, 0x9e3779b1) ^ Math.imul(tensor + 1, 0x27d4eb2f)) >>> 0);

/**
 * float32 bits → bfloat16 bits, rounded stochastically: the 16 bits dropped plus 16 random bits
 * carry into the kept ones with probability (dropped / 2^16), so the expected stored magnitude —
 * and value — is exact. Finite inputs only (AdamW checks the gradients first).
 */
export const bf16Stochastic = (bits: number, random16: number) => ((bits >>> 0) + (random16 & 0xffff)) >>> 16;

/**
 * adamwKernel with bfloat16 moments (bits in m and v): each block of 4096 is widened to float32,
 * updated by the same float32 arithmetic, and stored back with stochastic rounding; `key` is
 * roundingKey(seed, step, tensor).
 */
export function adamwKernelBf16(theta: Float32Array, grad: Float32Array, m: Uint16Array, v: Uint16Array, s: AdamWScalars, key: number): void {
  const n = theta.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`adamwKernelBf16: lengths differ (θ ${n}, g ${grad.length}, m ${m.length}, v ${v.length})`);
  }
  for (let start = 0; start < n; start += BF16_BLOCK) {
    const len = Math.min(BF16_BLOCK, n - start);
    for (let i = 0; i < len; i++) {
      scratchMBits[i] = m[start + i] << 16;
      scratchVBits[i] = v[start + i] << 16;
    }
    adamwKernel(theta.subarray(start, start + len), grad.subarray(start, start + len), scratchM.subarray(0, len), scratchV.subarray(0, len), s);
    for (let i = 0; i < len; i++) {
      const r = fmix32((key ^ Math.imul(start + i, 0x9e3779b1)) >>> 0);
      m[start + i] = bf16Stochastic(scratchMBits[i], r);
      v[start + i] = bf16Stochastic(scratchVBits[i], r >>> 16);
    }
  }
}

/** Σ g² over one tensor, accumulated in double. */
export function sumOfSquares(grad: Float32Array): number {
  let s = 0;
  for (let i = 0; i < grad.length; i++) s += grad[i] * grad[i];
  return s;
}

/**
 * torch.nn.utils.clip_grad_norm_ (norm 2): total = ‖[‖g₁‖, ‖g₂‖, …]‖ over all gradients, coefficient
 * min(1, maxNorm / (total + 1e-6)). Returns both; does not touch the gradients (pass `coefficient`
 * as AdamW's gradScale, or call scaleInPlace). maxNorm ≤ 0 or non-finite means no clipping (coef 1).
 * Norms are summed in double and rounded to float32 once (torch sums in float32 with pairwise
 * reductions; the difference is far below the 1e-6 in the formula).
 */
export function clipCoefficient(grads: Iterable<Float32Array>, maxNorm: number): { totalNorm: number; coefficient: number } {
  let sq = 0;
  for (const g of grads) sq += sumOfSquares(g);
  return clipForNorm(f(Math.sqrt(sq)), maxNorm);
}

/** The clipping coefficient for a global norm computed elsewhere (on the device, updater.ts). */
export function clipForNorm(totalNorm: number, maxNorm: number): { totalNorm: number; coefficient: number } {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) return { totalNorm, coefficient: 1 };
  const coef = f(f(maxNorm) / f(totalNorm + f(1e-6)));
  return { totalNorm, coefficient: Math.min(1, coef) };
}

export function scaleInPlace(x: Float32Array, scale: number): void {
  const s = f(scale);
  for (let i = 0; i < x.length; i++) x[i] = f(x[i] * s);
}

/**
 * Gradient accumulation: acc += g · scale, where scale is 1/divisor (schedule.ts microBatchRole:
 * transformers divides each micro-batch loss by the accumulation count before backward). When the
 * graph already divides the loss, pass scale 1.
 * @param acc [n] running sum `grad/<name>`
 * @param g   [n] this micro-batch's gradient
 */
export function accumulateInto(acc: Float32Array, g: Float32Array, scale = 1): void {
  if (acc.length !== g.length) throw new Error(`accumulateInto: lengths differ (${acc.length} vs ${g.length})`);
  if (scale === 1) {
    for (let i = 0; i < acc.length; i++) acc[i] = f(acc[i] + g[i]);
  } else {
    const s = f(scale);
    for (let i = 0; i < acc.length; i++) acc[i] = f(acc[i] + f(g[i] * s));
  }
}

/** The gradients hold NaN or ±Infinity: the update was not applied. */
export class NonFiniteGradientError extends Error {
  constructor(readonly norm: number) {
    super(`the gradient norm is ${norm}`);
    this.name = 'NonFiniteGradientError';
  }
}

export interface AdamWState {
  /** Number of updates done (torch's per-parameter `step`; all parameters step together here). */
  step: number;
  m: Map<string, MomentData>;
  v: Map<string, MomentData>;
}

export interface StepResult {
  step: number;
  lr: number;
  /** Gradient norm before clipping (what HF logs as grad_norm). */
  gradNorm: number;
  clipCoefficient: number;
}

/**
 * AdamW over named float32 parameters, updated in place. Every registered parameter must get a
 * gradient at every update (register the parameter set's `trained`, which leaves out BERT's
 * pooler): torch skips a parameter whose grad is None and keeps its own step count, which a shared
 * step count cannot express, so a missing gradient is an error rather than a silent skip.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly params: Map<string, Float32Array>;
  readonly noDecay: Set<string>;
  readonly moments: MomentPrecision;
  readonly seed: number;
  private state: AdamWState;

  /** `noDecay`: the parameters of the no-decay group (those whose parameter-set entry has decay false). */
  constructor(params: Map<string, Float32Array>, options: AdamWOptions & { noDecay: Iterable<string> }) {
    this.beta1 = options.beta1 ?? ADAMW_DEFAULTS.beta1;
    this.beta2 = options.beta2 ?? ADAMW_DEFAULTS.beta2;
    this.eps = options.eps ?? ADAMW_DEFAULTS.eps;
    this.weightDecay = options.weightDecay ?? 0;
    this.moments = options.moments ?? 'float32';
    this.seed = options.seed ?? 0;
    for (const [k, val] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(val >= 0 && val < 1)) throw new Error(`AdamW ${k} must be in [0, 1), got ${val}`);
    }
    if (!(this.eps >= 0)) throw new Error(`AdamW eps must be ≥ 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`AdamW weightDecay must be ≥ 0, got ${this.weightDecay}`);
    this.params = params;
    this.noDecay = new Set(options.noDecay);
    for (const n of this.noDecay) if (!params.has(n)) throw new Error(`AdamW: no-decay parameter "${n}" is not registered`);
    const m = new Map<string, MomentData>();
    const v = new Map<string, MomentData>();
    const Moment = this.moments === 'bfloat16' ? Uint16Array : Float32Array;
    for (const [name, p] of params) {
      m.set(name, new Moment(p.length));
      v.set(name, new Moment(p.length));
    }
    this.state = { step: 0, m, v };
  }

  get step(): number {
    return this.state.step;
  }

  /**
   * One update with learning rate `lr` (already scheduled): clip over all gradients when maxGradNorm
   * > 0, then AdamW per tensor. A NaN or infinite gradient norm throws NonFiniteGradientError
   * before any parameter or moment changes. The gradients are not modified (the clip coefficient is applied as
   * they are read), so the caller may zero or reuse them.
   */
  update(grads: Map<string, Float32Array>, lr: number, maxGradNorm = 0): StepResult {
    for (const name of this.params.keys()) {
      if (!grads.has(name)) throw new Error(`AdamW: no gradient for parameter "${name}"`);
    }
    for (const name of grads.keys()) {
      if (!this.params.has(name)) throw new Error(`AdamW: gradient "${name}" has no registered parameter`);
    }
    const ordered = [...this.params.keys()].map((n) => grads.get(n)!);
    const { totalNorm, coefficient } = clipCoefficient(ordered, maxGradNorm);
    if (!Number.isFinite(totalNorm)) throw new NonFiniteGradientError(totalNorm);
    const step = this.state.step + 1;
    const decayed = adamwScalars(lr, step, this.weightDecay, this, coefficient);
    const plain = this.weightDecay === 0 ? decayed : adamwScalars(lr, step, 0, this, coefficient);
    let tensor = 0;
    for (const [name, p] of this.params) {
      const m = this.state.m.get(name)!;
      const v = this.state.v.get(name)!;
      const scalars = this.noDecay.has(name) ? plain : decayed;
      if (m instanceof Float32Array && v instanceof Float32Array) adamwKernel(p, grads.get(name)!, m, v, scalars);
      else adamwKernelBf16(p, grads.get(name)!, m as Uint16Array, v as Uint16Array, scalars, roundingKey(this.seed, step, tensor));
      tensor++;
    }
    this.state.step = step;
    return { step, lr, gradNorm: totalNorm, clipCoefficient: coefficient };
  }

  /** `adam.m/<name>`, `adam.v/<name>` views of the live state (not copies); Uint16Array: bfloat16 bits. */
  stateTensors(): Map<string, MomentData> {
    const out = new Map<string, MomentData>();
    for (const name of this.params.keys()) {
      out.set(`adam.m/${name}`, this.state.m.get(name)!);
      out.set(`adam.v/${name}`, this.state.v.get(name)!);
    }
    return out;
  }

  /** Restores moments (copied in, converted to this optimizer's precision) and the step count, checking names and lengths. */
  loadState(step: number, tensors: Map<string, MomentData>): void {
    if (!(Number.isInteger(step) && step >= 0)) throw new Error(`AdamW state: step must be an integer ≥ 0, got ${step}`);
    for (const [name, p] of this.params) {
      for (const kind of ['m', 'v'] as const) {
        const t = tensors.get(`adam.${kind}/${name}`);
        if (!t) throw new Error(`AdamW state: missing adam.${kind}/${name}`);
        if (t.length !== p.length) throw new Error(`AdamW state: adam.${kind}/${name} has ${t.length} values, parameter has ${p.length}`);
        const own = this.state[kind].get(name)!;
        if (own instanceof Float32Array) own.set(t instanceof Float32Array ? t : bf16BitsToF32(t));
        else own.set(t instanceof Uint16Array ? t : f32ToBf16Bits(t));
      }
    }
    this.state.step = step;
  }
}

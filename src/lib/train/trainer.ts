// The training loop (docs/training.md): batches from the sampler, one encoder pass per micro-batch
// over the concatenated text columns (K·B rows, column-major), the loss, gradient accumulation,
// global-norm clipping, AdamW with the HF schedule, the new weights pushed back into the encoder,
// progress events and checkpoints (bytes) that resume bit-identically on the same runtime.
// A micro-batch's gradient comes one of two ways, fused or GradCache (micro-batch.ts); the memory
// account picks one (memory.ts). A failure rewinds to the last update boundary and stops the run
// with a TrainingFault (faults.ts); checkpoints are assembled and checked in checkpoint-assembly.ts.
// Pure TypeScript over a Runtime: no fs, no DOM, so the worker and the CLI run the same code.
// Not data loading, evaluation or export (the callers do those around run()).
//
// Weights: an Updater (updater.ts) accumulates each micro-batch's gradients and applies clipping
// and AdamW: on the host for the CPU runtimes (bit-identical to torch), on the device for WebGPU
// (gradients, moments and weights never leave the GPU; only a few scalars cross per update).
// What trains is the run's parameter set (models/parameter-set.ts) for the config's `trainable`
// mode (docs/lora.md), shared with the encoder: its `trained` entries are the gradients read, the
// updater's tensors and the checkpoint's weights; frozen ones stay graph inputs with the base
// model's values, and LoRA adapters start from initAdapterWeights with the run's seed.
//
// Shape letters: K text columns, B micro-batch rows, N = K·B, C hidden, T tokens, M mini-batch rows.

import type { Example } from '../data/validate.ts';
import { needsScores } from '../losses/index.ts';
import { BertEncoder } from '../models/encoder.ts';
import { type ParameterSet, parameterSet } from '../models/parameter-set.ts';
import { initAdapterWeights, resolveTrainable } from '../models/trainable.ts';
import { DEFAULT_PROMPT_CHOICES, resolvePrompts, type TextPrompts } from '../models/prompts.ts';
import type { SentenceModel } from '../models/sentence-model.ts';
import { ProgressTracker } from '../progress/progress.ts';
import type { Runtime } from '../runtime/types.ts';
import { type BatchTokenizer, columnFields, longestTokens, samplerKeys, type TextField } from './batches.ts';
import { type Checkpoint, checkpointParts, readCheckpoint } from './checkpoint.ts';
import { assembleCheckpoint, checkResumable } from './checkpoint-assembly.ts';
import { NonFiniteLossError, TrainingFault, trainingFault } from './faults.ts';
import { type GradCachePass, type GraphName, MicroBatchGradients, type MicroResult } from './micro-batch.ts';
import type { RunConfig } from './run-config.ts';
import { BatchSampler, type SamplerState } from './sampler.ts';
import { lrAt, microBatchRole, type StepsPlan, stepsPlan } from './schedule.ts';
import { footprintOf, MemoryBudgetError, type MemoryPlan, planMemory, type TrainPath } from './memory.ts';
import { GpuUpdater } from './gpu-updater.ts';
import { DeviceUpdater, HostUpdater, type Updater, type UpdaterKind } from './updater.ts';

export type { TrainPath };
export { estimateActivationBytes, MemoryBudgetError, planMemory } from './memory.ts';
export { dropoutSeed } from './micro-batch.ts';
export { type FaultKind, NonFiniteLossError, TrainingFault } from './faults.ts';
import type { StepResult } from './optimizer.ts';


export type TrainEvent =
  | {
      type: 'path';
      path: TrainPath;
      miniBatchSize: number | null;
      why: string;
      /** Where clipping and AdamW run: on the host, or on the device next to the weights. */
      optimizer: UpdaterKind;
    }
  | {
      type: 'step';
      /** Optimizer updates done (1-based after the first). */
      step: number;
      maxSteps: number;
      /** HF style: completed epochs + fraction of the current one. */
      epoch: number;
      /** Mean micro-batch loss of this update (Σ loss/divisor). */
      loss: number;
      /** The learning rate this update used. */
      lr: number;
      /** Global gradient norm before clipping. */
      gradNorm: number;
      /** Bytes the update itself (clipping, AdamW, new weights) moved to and from the device; null where host and device memory are one. */
      updateTraffic: { toDevice: number; toHost: number } | null;
      /** Real (unpadded) tokens and examples per second, smoothed. */
      tokensPerS: number | null;
      examplesPerS: number | null;
      etaS: number | null;
      elapsedS: number;
    }
  | { type: 'epoch'; epoch: number; step: number }
  /**
   * Before the first update: `compiled` of the `of` sessions the path runs are made, `next` is
   * being compiled (null: all are). A large model's gradient graph takes tens of seconds on the
   * CPU; the page's watchdog and display see that the run is alive.
   */
  | { type: 'compile'; compiled: number; of: number; next: GraphName | null }
  /**
   * GradCache: mini-batch `miniBatch` of the `of` in micro-batch `microBatch` of update `step` has
   * been embedded (pass 'embed') or has added its gradient ('gradient'). On the CPU one update of a
   * large model takes minutes; these say, in between, that it is moving.
   */
  | { type: 'mini-batch'; step: number; microBatch: number; pass: GradCachePass; miniBatch: number; of: number }
  /** Micro-batch `microBatch` of the `of` that make update `step` is done (long groups show progress). */
  | { type: 'micro-batch'; step: number; microBatch: number; of: number }
  /**
   * A stop was asked for in the middle of an accumulation group: the trainer finishes update
   * `step` (micro-batches `microBatch + 1 … of` still to run) so no partial gradient is lost.
   */
  | { type: 'stopping'; step: number; microBatch: number; of: number }
  | { type: 'checkpoint'; step: number }
  | { type: 'done'; step: number; stopped: boolean };

export interface TrainerOptions {
  runtime: Runtime;
  model: SentenceModel;
  tokenizer: BatchTokenizer;
  config: RunConfig;
  /** Training rows (data module's Example: anchor, positive, negative?, score?). */
  train: readonly Example[];
  onEvent?: (e: TrainEvent) => void;
  /** Reuse an encoder made for this model (e.g. the one that ran "before" evaluation). */
  encoder?: BertEncoder;
  /** JSON written into every checkpoint (the run's model identity and data fingerprint). */
  provenance?: unknown;
  /** Where the optimizer runs; default: on the device for WebGPU, on the host otherwise. */
  updater?: UpdaterKind;
  /**
   * The model's weight arrays become the trainer's: the host updater trains them in place instead
   * of copying them (one copy of the weights fewer). The caller must not use them — nor the file
   * bytes they may view (sentence-model.ts) — as the base model afterwards.
   */
  trainInPlace?: boolean;
  /** What the memory account needs from the caller: the device's memory (the default budget is
   *  half of it) and the bytes of model files the caller keeps while training. */
  memory?: { deviceMemoryBytes?: number; fileBytes?: number; gpuMaxBindingBytes?: number; inTab?: boolean };
}

export interface RunOptions {
  /** Stops the run at the next update boundary (a group in progress is finished first). */
  signal?: AbortSignal;
  /** Call onCheckpoint after every this many updates. */
  checkpointEvery?: number;
  /** Also call onCheckpoint when a new epoch starts at an update boundary (not after the last). */
  checkpointAtEpochEnd?: boolean;
  /** `parts`: the checkpoint file in parts (checkpointParts), views of live buffers: store them before returning. */
  onCheckpoint?: (parts: Uint8Array[], step: number) => void | Promise<void>;
  /** Stop after this many updates in all (a pause: checkpoint() then resumes from here). */
  stopAfterStep?: number;
  /** Called when an epoch's batches are used up (e.g. evaluation every epoch); 'end' as for afterUpdate. */
  onEpochEnd?: (epoch: number, step: number) => void | 'end' | Promise<void | 'end'>;
  /**
   * Called after each update, before its checkpoint (evaluation during training); returning 'end'
   * ends training there as if the plan were done (early stopping). The hook between updates, so
   * the loop itself knows nothing of evaluation.
   */
  afterUpdate?: (step: number) => void | 'end' | Promise<void | 'end'>;
}

export interface RunResult {
  step: number;
  /** True when stopped before the plan's end (signal or stopAfterStep). */
  stopped: boolean;
  /** True when afterUpdate ended training before the plan's end (early stopping): a finished run, not a paused one. */
  ended?: boolean;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class Trainer {
  readonly config: RunConfig;
  readonly plan: StepsPlan;
  private readonly o: TrainerOptions;
  private readonly fields: TextField[];
  /** The query and document prompts the columns get (prompts.ts). */
  private readonly prompts: TextPrompts;
  private readonly withScores: boolean;
  private readonly sampler: BatchSampler;
  /** What this run trains (the encoder's set when one was given): updater, gradients, checkpoints and the memory account read it. */
  readonly parameters: ParameterSet;
  /**
   * The LoRA adapters' initial values (A Kaiming-uniform from the run's seed, B zeros; empty
   * unless LoRA): what the encoder uploads and the updater starts from, and the values of the
   * adapters no graph reads (the pooler's), which the updater never holds.
   */
  readonly initialAdapters: ReadonlyMap<string, Float32Array>;
  /** One micro-batch's loss and weight gradients, fused or GradCache (micro-batch.ts). */
  private readonly gradients: MicroBatchGradients;
  private updater: Updater | null = null;
  private encoder: BertEncoder | null;
  private chosen: MemoryPlan | null = null;
  private pathAnnounced = false;
  private globalStep = 0;
  private globalMicro = 0;
  /** Micro-batches of the accumulation group in progress; 0 at an update boundary. */
  private groupMicro = 0;
  /** Data position after the last update (null: the start), where a failed group rewinds to. */
  private boundary: { sampler: SamplerState; globalMicro: number } | null = null;
  private pendingLoss = 0;
  private readonly log: TrainEvent[] = [];

  constructor(o: TrainerOptions) {
    this.o = o;
    this.config = o.config;
    const c = o.config;
    if (o.train.length === 0) throw new Error('no training rows');
    this.fields = columnFields(c.loss.type, o.train);
    this.prompts = this.promptsOf(c);
    this.withScores = needsScores(c.loss.type);
    this.sampler = new BatchSampler(c.sampler === 'no_duplicates' ? samplerKeys(o.train, this.fields) : o.train.length, {
      kind: c.sampler, batchSize: c.batchSize, dropLast: c.dropLast, shuffle: c.shuffle, seed: c.seed,
    });
    this.plan = stepsPlan({
      rows: o.train.length, batchSize: c.batchSize, dropLast: c.dropLast, accumulation: c.accumulation,
      ...(c.maxSteps !== null ? { maxSteps: c.maxSteps } : { epochs: c.epochs }),
      warmupSteps: c.warmupSteps, warmupRatio: c.warmupRatio, variant: c.trainerVariant,
    });
    const trainable = resolveTrainable(c.trainable, o.model.config);
    this.parameters = o.encoder?.parameters ?? parameterSet(o.model.config, trainable);
    if (JSON.stringify(this.parameters.trainable) !== JSON.stringify(trainable)) {
      throw new Error(`trainer: the encoder was made for ${JSON.stringify(this.parameters.trainable)}, the run config says ${JSON.stringify(trainable)}`);
    }
    for (const p of this.parameters.base) {
      if (p.use !== 'unused' && !o.model.weights.has(p.name)) throw new Error(`trainer: the model has no ${p.name}`);
    }
    this.initialAdapters = initAdapterWeights(this.parameters.adapters, c.seed);
    this.encoder = o.encoder ?? null;
    this.gradients = new MicroBatchGradients({ o, config: c, fields: this.fields, withScores: this.withScores, parameters: this.parameters, prompts: this.prompts });
  }

  private promptsOf(c: Pick<RunConfig, 'prompts' | 'model'>): TextPrompts {
    const { query, document } = resolvePrompts(c.prompts ?? DEFAULT_PROMPT_CHOICES, this.o.model.prompts, c.model.id);
    return { query, document };
  }

  /** Updates done so far. */
  get step(): number {
    return this.globalStep;
  }

  /** The path in use (after the first run(), prepare() or planMemory()). */
  get path(): { path: TrainPath; miniBatchSize: number | null; why: string } | null {
    return this.chosen && { path: this.chosen.path, miniBatchSize: this.chosen.miniBatchSize, why: this.chosen.why };
  }

  /** Step events so far (what train_log.jsonl holds), including those before a resume. */
  get events(): readonly TrainEvent[] {
    return this.log;
  }

  /** The current trainable weights by HF name, on the host (copy before changing). */
  async weights(): Promise<Map<string, Float32Array>> {
    return (await this.getUpdater()).weights();
  }

  /** Where the optimizer runs (after prepare()). */
  get updaterKind(): UpdaterKind | null {
    return this.updater?.kind ?? null;
  }

  async getEncoder(): Promise<BertEncoder> {
    if (!this.encoder) this.encoder = await BertEncoder.create(this.o.runtime, this.o.model, this.parameters, this.initialAdapters, { frozenDtype: this.config.frozenDtype });
    return this.encoder;
  }

  /** TrainerOptions.updater, else on the device for WebGPU and on the host otherwise. */
  private get updaterKindToUse(): UpdaterKind {
    return this.o.updater ?? (this.o.runtime.describe().kind === 'webgpu' ? 'device' : 'host');
  }

  private async getUpdater(): Promise<Updater> {
    if (this.updater) return this.updater;
    const encoder = await this.getEncoder();
    const kind = this.updaterKindToUse;
    const params = this.parameters.trained.map((p) => ({ name: p.name, shape: [...p.shape], decay: p.decay, data: p.adapter ? this.initialAdapters.get(p.name)! : this.o.model.weights.get(p.name)!.data }));
    const opts = { runtime: this.o.runtime, encoder, params, weightDecay: this.config.weightDecay, moments: this.config.adamMoments, seed: this.config.seed, inPlace: this.o.trainInPlace };
    // On the device: our WGSL kernels where the runtime has them (WebGPU), else graphs.
    if (kind === 'host') this.updater = new HostUpdater(opts);
    else this.updater = this.o.runtime.gpuKernels ? await GpuUpdater.create(opts) : await DeviceUpdater.create(opts);
    return this.updater;
  }

  /**
   * The run's memory account, the fused/GradCache choice and its mini-batch, or the refusal when
   * the run cannot fit its budget (memory.ts). Tokenizes a sample of the rows; allocates nothing.
   */
  memoryPlan(): MemoryPlan {
    if (!this.chosen) {
      const kind = this.o.runtime.describe().kind;
      this.chosen = planMemory({
        config: this.config, model: this.o.model.config, parameters: this.parameters.trainedSize,
        columns: this.fields.length, tokens: longestTokens(this.o.tokenizer, this.o.train, this.fields, this.config.maxSeqLength ?? undefined, this.prompts), runtimeKind: kind, adamMoments: this.config.adamMoments, accumulation: this.config.accumulation,
        updater: this.updaterKindToUse, footprint: footprintOf(this.parameters, this.config.frozenDtype), gpuFloat16: this.o.runtime.describe().float16 ?? false, ...this.o.memory,
      });
    }
    return this.chosen;
  }

  /** memoryPlan(), or MemoryBudgetError when the run cannot fit. */
  planMemory(): MemoryPlan {
    const plan = this.memoryPlan();
    if (plan.refusal) throw new MemoryBudgetError(plan.refusal);
    return plan;
  }

  /** Plans memory, picks fused or GradCache (and tells onEvent); run() calls it. */
  async prepare(): Promise<void> {
    if (this.pathAnnounced) return;
    const plan = this.planMemory();
    const updater = await this.getUpdater();
    this.pathAnnounced = true;
    this.emit({ type: 'path', path: plan.path, miniBatchSize: plan.miniBatchSize, why: plan.why, optimizer: updater.kind });
    // Made now rather than at the first micro-batch, so that the wait is announced.
    try {
      await this.gradients.prepare(await this.getEncoder(), plan.path, (compiled, of, next) => this.emit({ type: 'compile', compiled, of, next }));
    } catch (e) {
      throw this.fault(e, this.globalStep + 1, `while compiling the training graphs for update ${this.globalStep + 1}`);
    }
  }

  private emit(e: TrainEvent): void {
    if (e.type === 'step') this.log.push(e);
    this.o.onEvent?.(e);
  }

  /** Trains until the plan's last update (or a stop), from wherever the trainer stands. */
  async run(opts: RunOptions = {}): Promise<RunResult> {
    await this.prepare();
    const { plan, config } = this;
    const steps = new ProgressTracker({ total: plan.maxSteps, unit: 'steps' });
    steps.update(this.globalStep);
    const tokens = new ProgressTracker({ unit: 'tokens' });
    const examples = new ProgressTracker({ unit: 'examples' });
    const t0 = performance.now();
    let stopped = false;
    let ended = false;
    let announced = false;
    while (this.globalStep < plan.maxSteps) {
      // onnxruntime's runs may never yield to the event loop, so without this a worker would see
      // the page's Cancel (a message) only when an update's checkpoint or upload awaits something real.
      await yieldToEventLoop();
      // Stops only between updates: a checkpoint holds no half-accumulated gradient, so a resumed
      // run makes exactly the updates an uninterrupted one makes.
      const stopAsked = opts.signal?.aborted || (opts.stopAfterStep !== undefined && this.globalStep >= opts.stopAfterStep);
      if (stopAsked && this.groupMicro === 0) {
        stopped = true;
        break;
      }
      if (stopAsked && !announced) {
        announced = true;
        this.emit({ type: 'stopping', step: this.globalStep + 1, microBatch: this.groupMicro, of: plan.accumulation });
      }
      const rows = this.sampler.next();
      if (!rows) {
        this.emit({ type: 'epoch', epoch: this.sampler.epoch, step: this.globalStep });
        ended = (await opts.onEpochEnd?.(this.sampler.epoch, this.globalStep)) === 'end';
        if (ended || this.sampler.epoch + 1 >= plan.epochs) break;
        this.sampler.startEpoch(this.sampler.epoch + 1);
        // Saved after startEpoch, so a resume begins the new epoch instead of ending the old one again.
        if (opts.checkpointAtEpochEnd && this.groupMicro === 0) await this.saveCheckpoint(opts);
        continue;
      }
      const inEpoch = this.sampler.epochBatches.length;
      const batchInEpoch = this.sampler.state().position - 1;
      this.globalMicro++;
      const role = microBatchRole(plan, batchInEpoch, this.globalMicro, inEpoch);
      const failing = this.globalStep + 1;
      let r: MicroResult;
      try {
        const micro = { step: failing, microBatch: this.groupMicro + 1 };
        r = await this.gradients.run(await this.getEncoder(), this.updater!, this.chosen!, rows, this.globalMicro, 1 / role.divisor, (pass, miniBatch, of) => this.emit({ type: 'mini-batch', ...micro, pass, miniBatch, of }));
      } catch (e) {
        throw this.fault(e, failing);
      }
      if (!Number.isFinite(r.loss)) throw this.fault(new NonFiniteLossError(r.loss, this.groupMicro + 1), failing);
      this.groupMicro++;
      this.pendingLoss += r.loss / role.divisor;
      this.emit({ type: 'micro-batch', step: this.globalStep + 1, microBatch: this.groupMicro, of: role.divisor });
      tokens.advance(r.tokens);
      examples.advance(rows.length);
      if (!role.closesUpdate) continue;

      const step = this.globalStep + 1;
      const lr = lrAt(step, config.lr, config.scheduler, plan.warmupSteps, plan.maxSteps);
      const before = this.o.runtime.traffic?.() ?? null;
      let u: StepResult;
      try {
        u = await this.updater!.update(lr, config.maxGradNorm);
      } catch (e) {
        throw this.fault(e, step);
      }
      const after = this.o.runtime.traffic?.() ?? null;
      const updateTraffic = before && after ? { toDevice: after.uploaded + after.fed - before.uploaded - before.fed, toHost: after.downloaded - before.downloaded } : null;
      this.globalStep = step;
      const loss = this.pendingLoss;
      this.pendingLoss = 0;
      this.groupMicro = 0;
      steps.update(step);
      const s = steps.snapshot();
      this.emit({
        type: 'step', step, maxSteps: plan.maxSteps, epoch: this.sampler.epoch + (batchInEpoch + 1) / inEpoch, loss, lr, gradNorm: u.gradNorm, updateTraffic,
        tokensPerS: tokens.snapshot().rate ?? null, examplesPerS: examples.snapshot().rate ?? null, etaS: s.etaS ?? null,
        elapsedS: (performance.now() - t0) / 1000,
      });
      this.boundary = { sampler: this.sampler.state(), globalMicro: this.globalMicro };
      ended = (await opts.afterUpdate?.(step)) === 'end';
      if (ended) break;
      if (opts.checkpointEvery && step % opts.checkpointEvery === 0) await this.saveCheckpoint(opts);
    }
    this.emit({ type: 'done', step: this.globalStep, stopped });
    return { step: this.globalStep, stopped, ...(ended ? { ended } : {}) };
  }

  /**
   * Turns a failure during update `failing` into a TrainingFault, after rewinding to the last
   * update boundary: the half-accumulated gradient is dropped and the data position restored, so a
   * checkpoint taken now resumes exactly after the last good update.
   */
  private fault(e: unknown, failing: number, during = `during update ${failing}`): TrainingFault {
    if (e instanceof TrainingFault) return e;
    this.updater?.discard();
    this.groupMicro = 0;
    this.pendingLoss = 0;
    if (this.boundary) {
      this.sampler.restore(this.boundary.sampler);
      this.globalMicro = this.boundary.globalMicro;
    } else {
      this.sampler.startEpoch(0);
      this.globalMicro = 0;
    }
    return trainingFault(e, this.globalStep, failing, during);
  }

  private async saveCheckpoint(opts: RunOptions): Promise<void> {
    if (!opts.onCheckpoint) return;
    let bytes: Uint8Array[];
    try {
      bytes = await this.checkpoint();
    } catch (e) {
      throw this.fault(e, this.globalStep + 1, `while reading the weights of update ${this.globalStep} for its checkpoint`);
    }
    await opts.onCheckpoint(bytes, this.globalStep);
    this.emit({ type: 'checkpoint', step: this.globalStep });
  }

  /** True between updates: no micro-batch of an accumulation group is pending. */
  get atUpdateBoundary(): boolean {
    return this.groupMicro === 0;
  }

  /**
   * The state at the last update boundary as checkpoint file parts (checkpoint.ts format; join
   * them for one buffer). Views of the updater's buffers on the CPU runtimes: valid until the next update.
   */
  async checkpoint(): Promise<Uint8Array[]> {
    if (this.groupMicro !== 0) throw new Error(`trainer: no checkpoint in the middle of an accumulation group (${this.groupMicro} micro-batches pending)`);
    const c = await assembleCheckpoint({
      updater: await this.getUpdater(), parameters: this.parameters, config: this.config, plan: this.plan,
      globalStep: this.globalStep, globalMicro: this.globalMicro, sampler: this.sampler, metrics: this.log, provenance: this.o.provenance ?? null,
    });
    return checkpointParts(c);
  }

  /**
   * Continues from a checkpoint (bytes, or one already read): weights, AdamW moments, schedule
   * position, data order. Checks the run config; the provenance is the caller's to compare.
   */
  async resume(from: Uint8Array | readonly Uint8Array[] | Checkpoint): Promise<void> {
    const c = from instanceof Uint8Array || Array.isArray(from) ? readCheckpoint(from as Uint8Array | readonly Uint8Array[]) : (from as Checkpoint);
    checkResumable(c, this.config, this.plan, this.parameters);
    // Prompts compared as the texts they give (a checkpoint from before prompts existed used the model's defaults).
    const saved = this.promptsOf(c.config);
    if (saved.query !== this.prompts.query || saved.document !== this.prompts.document) {
      throw new Error(`resume: the checkpoint was trained with prompts ${JSON.stringify(saved)}, this run has ${JSON.stringify(this.prompts)}`);
    }
    await (await this.getUpdater()).load(c.weights, c.optimizer.step, c.optimizer.tensors);
    this.sampler.restore(c.sampler);
    this.globalStep = c.globalStep;
    this.globalMicro = c.globalMicroBatch;
    this.groupMicro = 0;
    this.boundary = { sampler: this.sampler.state(), globalMicro: this.globalMicro };
    this.pendingLoss = 0;
    this.log.length = 0;
    for (const e of c.metrics as TrainEvent[]) if (e && e.type === 'step') this.log.push(e);
  }

  async dispose(): Promise<void> {
    await this.gradients.dispose();
    await this.updater?.dispose();
    this.updater = null;
    if (this.encoder && !this.o.encoder) await this.encoder.dispose();
    this.encoder = null;
  }
}

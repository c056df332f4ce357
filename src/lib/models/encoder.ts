// A sentence model on a Runtime: the weights uploaded once (runtime.upload, so a WebGPU runtime
// keeps them resident), one session per graph kind created on first use and reused for every
// batch size and length, and the calls the trainer and evaluator make: encode, encodeGrad and
// fused train steps. Reports which backend ran.
// An encoder whose weights never change (evaluation, mining, the explorer, `tabtune embed`:
// `fixedWeights`) carries them in its sessions instead, where onnxruntime can fold and pre-pack
// them (docs/encoder.md#inference-sessions).
// The device tensors are the parameter set's `inputs` (parameter-set.ts), keyed by name.
// Not the graphs (graphs.ts) and not the optimizer: the trainer swaps updated weights in with
// setWeight. Shape letters as in bert.ts.

import { toOnnx } from '../graph/onnx.ts';
import type { DeviceTensor, Feed, HostTensor, LoadOptions, Runtime, Session } from '../runtime/types.ts';
import { float16Value, fromFloat16, toFloat16 } from '../util/float16.ts';
import { type TableLookup, WORD_ROWS_INPUT, wordTableLookup } from './table-lookup.ts';
import { type FrozenDtype, type SentenceSpec } from './bert.ts';
import { architecture, positionIds, usablePositions } from './architectures.ts';
import { buildEncodeGradGraph, buildEncodeGraph, buildTrainStepGraph, type EmbeddingLoss, SEED_INPUT } from './graphs.ts';
import { type ParameterSet, parameterSet } from './parameter-set.ts';
import type { SentenceModel } from './sentence-model.ts';

const WORD_TABLE = 'embeddings.word_embeddings.weight';

/**
 * How frozen weights go to the runtime for `frozenDtype`: float16 bits fed to a Cast in the graph
 * where the device holds float16 (the CPU runtimes; WebGPU with shader-f16), else — WebGPU without
 * it — float32 values of the float16-rounded weights, so both give the same numbers
 * (docs/memory.md#float16-frozen-weights).
 */
function frozenHolding(runtime: Runtime, frozenDtype: FrozenDtype): { graph: FrozenDtype; what: string; tensor(data: Float32Array, dims: number[]): HostTensor } {
  if (frozenDtype === 'float32') return { graph: 'float32', what: 'float32', tensor: (data, dims) => ({ dtype: 'float32', dims, data }) };
  if (runtime.describe().float16 !== false) {
    return { graph: 'float16', what: 'float16, cast to float32 in the graph', tensor: (data, dims) => ({ dtype: 'float16', dims, data: toFloat16(data) }) };
  }
  return { graph: 'float32', what: 'float16-rounded, held as float32 on the GPU: this adapter has no shader-f16', tensor: (data, dims) => ({ dtype: 'float32', dims, data: fromFloat16(toFloat16(data)) }) };
}

/** Rows `ids` of a [V,C] table (float32, or float16 bits widened) as one [ids.length·C] float32 array; an id outside the table throws. */
function gatherRows(table: HostTensor, ids: BigInt64Array, C: number): Float32Array {
  const V = table.dims[0];
  const out = new Float32Array(ids.length * C);
  for (let i = 0; i < ids.length; i++) {
    const id = Number(ids[i]);
    if (!(id >= 0 && id < V)) throw new Error(`encoder: token id ${id} outside the ${V}-row word table`);
    if (table.dtype === 'float16') {
      const bits = table.data as Uint16Array;
      for (let c = 0; c < C; c++) out[i * C + c] = float16Value(bits[id * C + c]);
    } else out.set((table.data as Float32Array).subarray(id * C, (id + 1) * C), i * C);
  }
  return out;
}

/** The part of a tokenized batch the encoder reads (src/lib/tokenize's TokenizedBatch fits). */
export interface EncoderBatch {
  inputIds: BigInt64Array /* [B,T] */;
  attentionMask: Float32Array /* [B,T] */;
  /** Must be all zero when given: the graphs use token type 0 (single texts). */
  tokenTypeIds?: BigInt64Array /* [B,T] */;
  batch: number;
  tokens: number;
}

export interface RunMode {
  /** Dropout on; needs a seed. Default false (eval). */
  train?: boolean;
  /** Integer in [0, 2²⁴): same seed → same dropout masks in every graph. */
  seed?: number;
}

export interface GradResult {
  /** Per trainable weight, `grad/<name>` → host tensor, or device tensor with keepOnDevice. */
  grads: Map<string, HostTensor | DeviceTensor>;
}

export interface TrainStep {
  /** Creates the step's session now (else on the first run). */
  prepare(): Promise<void>;
  run(batch: EncoderBatch, extra: Record<string, Feed>, mode?: RunMode & { keepOnDevice?: boolean }): Promise<{ loss: number } & GradResult>;
}

export interface EncoderOptions {
  /** How frozen weights are held (frozenHolding); default float32. */
  frozenDtype?: FrozenDtype;
  /** The device's largest binding, for the word table's lookup (default: the runtime's). */
  maxBindingBytes?: number;
  /**
   * The weights stay as loaded for the encoder's whole life (it only encodes): on the CPU runtimes
   * (node, WASM) its sessions hold them as initializers, which onnxruntime transposes once and
   * pre-packs for its matrix products, instead of graph inputs fed on every run. No gradients,
   * train steps or setWeight then. WebGPU, and models past BAKED_WEIGHTS_MAX_BYTES, keep inputs
   * (describe() says which ran).
   */
  fixedWeights?: boolean;
}

/**
 * Past this, weights stay graph inputs even with fixedWeights: an ONNX file (a protobuf) cannot
 * exceed 2 GiB, and the serialized model is a second copy of the weights while the session is made.
 */
export const BAKED_WEIGHTS_MAX_BYTES = 1.5 * 2 ** 30;

/**
 * onnxruntime's CPU kernels for the fusions these optimizers make are slower than the ops they
 * replace on the encode graph: SkipLayerNormalization (residual Add + LayerNormalization) cost
 * ~4 % of a bge-small batch's CPU time (32 × 86 tokens, 1 thread, onnxruntime-node 1.30;
 * docs/encoder.md#inference-sessions). Training graphs keep every optimizer.
 */
export const ENCODE_DISABLED_OPTIMIZERS = ['SkipLayerNormFusion'] as const;

export interface SessionTiming {
  graph: string;
  nodes: number;
  buildMs: number;
  createMs: number;
}

export class BertEncoder {
  readonly dim: number;
  readonly spec: SentenceSpec;
  /** Session creation cost per graph, in the order they were made. */
  readonly timings: SessionTiming[] = [];
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly positions = new Map<number, HostTensor>();

  private constructor(
    readonly runtime: Runtime,
    readonly model: SentenceModel,
    private readonly weights: Map<string, DeviceTensor>,
    /** The run's parameters (the model's own set unless the caller gave one). */
    readonly parameters: ParameterSet,
    /** How the frozen weights are held on the runtime's device, in words (the account and the run log say it). */
    readonly frozenHeld: string,
    frozenDtype: FrozenDtype,
    /** The frozen word table when its rows are looked up on the host (table-lookup.ts), else null. */
    private readonly hostTable: HostTensor | null,
    /** fixedWeights on a runtime that can take them: the graphs' weight inputs written as initializers. */
    private readonly baked: Map<string, { dims: number[]; data: Float32Array }> | null = null,
  ) {
    this.dim = model.config.hiddenSize;
    this.wordLookup = hostTable ? 'host' : 'graph';
    this.spec = { config: model.config, pooling: model.pooling, normalize: model.normalize, parameters, frozenDtype, wordLookup: this.wordLookup };
  }

  /** Where word embedding rows are looked up: in the graph, or on the host (a frozen table past the device's largest binding). */
  readonly wordLookup: TableLookup;

  /**
   * Uploads the weights the graphs read (`parameters.inputs`, frozen ones included: uploaded once,
   * never replaced, as `frozenDtype` asks — frozenHolding); sessions come on first use (or with
   * prepare). `adapters`: the values of the inputs the model file does not hold (LoRA's,
   * trainable.ts initAdapterWeights).
   */
  static async create(
    runtime: Runtime, model: SentenceModel, parameters: ParameterSet = parameterSet(model.config), adapters: ReadonlyMap<string, Float32Array> = new Map(),
    opts: EncoderOptions = {},
  ): Promise<BertEncoder> {
    const frozenDtype = opts.frozenDtype ?? 'float32';
    const held = frozenHolding(runtime, frozenDtype);
    const d = runtime.describe();
    if (opts.fixedWeights && d.kind !== 'webgpu' && frozenDtype === 'float32') {
      const host = parameters.inputs.map((p) => {
        const data = p.adapter ? adapters.get(p.name) : model.weights.get(p.name)?.data;
        if (!data) throw new Error(p.adapter ? `encoder: no initial values for the adapter ${p.name}` : `encoder: the model has no ${p.name}`);
        return [p.name, { dims: [...p.shape], data }] as [string, { dims: number[]; data: Float32Array }];
      });
      if (host.reduce((n, [, t]) => n + t.data.byteLength, 0) <= BAKED_WEIGHTS_MAX_BYTES) {
        return new BertEncoder(runtime, model, new Map(), parameters, held.what, held.graph, null, new Map(host));
      }
    }
    const word = parameters.get(WORD_TABLE);
    const lookup = wordTableLookup({ runtimeKind: d.kind, maxBindingBytes: opts.maxBindingBytes ?? d.maxBindingBytes, float16: d.float16 }, { elements: word.size, trained: word.use === 'trained' }, frozenDtype);
    let hostTable: HostTensor | null = null;
    const weights = new Map<string, DeviceTensor>();
    for (const p of parameters.inputs) {
      const data = p.adapter ? adapters.get(p.name) : model.weights.get(p.name)?.data;
      if (!data) throw new Error(p.adapter ? `encoder: no initial values for the adapter ${p.name}` : `encoder: the model has no ${p.name}`);
      const t = p.use === 'frozen' ? held.tensor(data, [...p.shape]) : { dtype: 'float32' as const, dims: [...p.shape], data };
      // A frozen table past the device's binding stays on the host; feeds() gathers its rows.
      // (float16 bits when asked, whatever the device holds: the host keeps the half-size table.)
      if (p.name === WORD_TABLE && lookup === 'host') hostTable = frozenDtype === 'float16' ? { dtype: 'float16', dims: [...p.shape], data: toFloat16(data) } : t;
      else weights.set(p.name, await runtime.upload(t));
    }
    return new BertEncoder(runtime, model, weights, parameters, held.what, held.graph, hostTable);
  }

  /** An encoder of the model as loaded that only encodes (EncoderOptions.fixedWeights). */
  static forInference(runtime: Runtime, model: SentenceModel): Promise<BertEncoder> {
    return BertEncoder.create(runtime, model, parameterSet(model.config), new Map(), { fixedWeights: true });
  }

  /** Which runtime ran, in words. */
  describe(): string {
    const d = this.runtime.describe();
    const c = this.model.config;
    return `${architecture(c.family).label} ${c.numLayers}×${c.hiddenSize} (${this.model.pooling}${this.model.normalize ? ' + normalize' : ''}) on ${d.backend}, ${d.threads || 'default'} thread(s), onnxruntime ${d.version}${this.baked ? ', weights in the session' : ''}`;
  }

  /** The current weight tensor of a parameter the graphs read. */
  weight(name: string): DeviceTensor {
    this.trainable('weight');
    const w = this.weights.get(name);
    if (!w) throw new Error(`encoder: no weight ${name} among the graphs' inputs`);
    return w;
  }

  /** Replaces a trained weight (the optimizer's output); the old tensor is the caller's to dispose. */
  setWeight(name: string, t: DeviceTensor): void {
    this.weight(name);
    if (this.parameters.get(name).use !== 'trained') throw new Error(`encoder: ${name} is frozen; only trained weights are replaced`);
    this.weights.set(name, t);
  }

  /** Creates the named sessions now (timings land in `timings`). */
  async prepare(kinds: ('encode' | 'encode_train' | 'encode_grad' | 'encode_grad_train')[]): Promise<void> {
    for (const k of kinds) {
      const train = k.endsWith('_train');
      if (k.startsWith('encode_grad')) {
        this.trainable(`prepare(${k})`);
        await this.session(k, () => buildEncodeGradGraph(this.spec, { train }));
      } else await this.session(k, () => buildEncodeGraph(this.spec, { train }), { disabledOptimizers: ENCODE_DISABLED_OPTIMIZERS });
    }
  }

  /** Sentence embeddings [B,C] (pooled, normalized if the model says so). */
  async encode(batch: EncoderBatch, mode: RunMode = {}): Promise<Float32Array> {
    return (await this.forward(batch, mode)).embeddings;
  }

  /** Embeddings [B,C] and, with lastHiddenState, the encoder output [B,T,C]. */
  async forward(batch: EncoderBatch, mode: RunMode & { lastHiddenState?: boolean } = {}): Promise<{ embeddings: Float32Array; lastHiddenState?: Float32Array }> {
    const train = !!mode.train;
    const key = `encode${train ? '_train' : ''}${mode.lastHiddenState ? '_hidden' : ''}`;
    const session = await this.session(key, () => buildEncodeGraph(this.spec, { train, lastHiddenState: mode.lastHiddenState }), { disabledOptimizers: ENCODE_DISABLED_OPTIMIZERS });
    const out = await session.run(this.feeds(batch, mode));
    return {
      embeddings: (out.embeddings as HostTensor).data as Float32Array,
      lastHiddenState: mode.lastHiddenState ? ((out.last_hidden_state as HostTensor).data as Float32Array) : undefined,
    };
  }

  /** Weight gradients of Σ(embeddings ⊙ upstream); upstream [B,C]. */
  async encodeGrad(batch: EncoderBatch, upstream: Float32Array, mode: RunMode & { keepOnDevice?: boolean } = {}): Promise<GradResult> {
    this.trainable('encodeGrad');
    if (upstream.length !== batch.batch * this.dim) throw new Error(`encodeGrad: upstream has ${upstream.length} values for ${batch.batch}×${this.dim}`);
    const train = !!mode.train;
    const key = `encode_grad${train ? '_train' : ''}`;
    const session = await this.session(key, () => buildEncodeGradGraph(this.spec, { train }));
    const feeds = this.feeds(batch, mode);
    feeds.upstream = { dtype: 'float32', dims: [batch.batch, this.dim], data: upstream };
    return { grads: await this.runGrads(session, feeds, [], mode.keepOnDevice) };
  }

  /**
   * A fused forward + loss + backward step for `loss`, one session per `name` (the loss's
   * identity: same name, same loss). `extra` feeds the inputs the loss declared.
   */
  trainStep(name: string, loss: EmbeddingLoss, opts: { train?: boolean } = {}): TrainStep {
    const train = !!opts.train;
    this.trainable('trainStep');
    const key = `train_step:${name}${train ? '_train' : ''}`;
    const session = () => this.session(key, () => buildTrainStepGraph(this.spec, loss, { train }));
    return {
      prepare: async () => void (await session()),
      run: async (batch, extra, mode = {}) => {
        const s = await session();
        const feeds = { ...this.feeds(batch, { ...mode, train }), ...extra };
        const grads = await this.runGrads(s, feeds, ['loss'], mode.keepOnDevice);
        const l = grads.get('loss') as HostTensor;
        grads.delete('loss');
        return { loss: Number(l.data[0]), grads };
      },
    };
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
    for (const w of this.weights.values()) this.runtime.dispose(w);
    this.weights.clear();
  }

  private async runGrads(session: Session, feeds: Record<string, Feed>, host: string[], keepOnDevice = false): Promise<Map<string, HostTensor | DeviceTensor>> {
    const names = session.outputNames;
    const out = await session.run(feeds, [...names], keepOnDevice ? { keepOnDevice: names.filter((n) => !host.includes(n)) } : {});
    return new Map(names.map((n) => [n, out[n]]));
  }

  /** fixedWeights encoders only encode: their weights are in the sessions, not inputs to replace or differentiate. */
  private trainable(what: string): void {
    if (this.baked) throw new Error(`encoder: ${what} on an encoder made with fixedWeights (its weights are baked into its sessions)`);
  }

  private session(key: string, build: () => ReturnType<typeof buildEncodeGraph>, opts: LoadOptions = {}): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const t0 = performance.now();
        const graph = build();
        const bytes = toOnnx(graph, this.baked ? { initializers: this.baked } : {});
        const t1 = performance.now();
        const session = await this.runtime.load(bytes, opts);
        this.timings.push({ graph: key, nodes: graph.live().nodes.length, buildMs: t1 - t0, createMs: performance.now() - t1 });
        return session;
      })();
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  private feeds(batch: EncoderBatch, mode: RunMode): Record<string, Feed> {
    const { batch: B, tokens: T } = batch;
    if (batch.inputIds.length !== B * T || batch.attentionMask.length !== B * T) {
      throw new Error(`encoder: input_ids/attention_mask hold ${batch.inputIds.length}/${batch.attentionMask.length} values for ${B}×${T}`);
    }
    const usable = usablePositions(this.model.config);
    if (T > usable) throw new Error(`encoder: ${T} tokens exceed the ${usable} positions the model has (max_position_embeddings ${this.model.config.maxPositions})`);
    if (batch.tokenTypeIds?.some((t) => t !== 0n)) throw new Error('encoder: token_type_ids other than 0 are not supported (single-text encoder)');
    let positions = this.positions.get(T);
    if (!positions) {
      // From the family's offset (XLM-R: pad + 1). Padding tokens get the next ids rather than
      // transformers' pad id: they are masked as keys and never pooled, so no output changes.
      positions = { dtype: 'int64', dims: [1, T, 1], data: positionIds(this.model.config, T) };
      this.positions.set(T, positions);
    }
    const feeds: Record<string, Feed> = {
      input_ids: { dtype: 'int64', dims: [B, T, 1], data: batch.inputIds }, // the graphs take ids [B,T,1] (bert.ts BertInputs)
      attention_mask: { dtype: 'float32', dims: [B, T], data: batch.attentionMask },
      position_ids: positions,
    };
    for (const [name, w] of this.weights) feeds[name] = w;
    if (this.hostTable) feeds[WORD_ROWS_INPUT] = { dtype: 'float32', dims: [B, T, this.dim], data: gatherRows(this.hostTable, batch.inputIds, this.dim) };
    if (mode.train) {
      const seed = mode.seed ?? 0;
      if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 24) throw new Error(`encoder: dropout seed ${seed} is not an integer in [0, 2^24)`);
      feeds[SEED_INPUT] = { dtype: 'float32', dims: [], data: Float32Array.of(seed) };
    }
    return feeds;
  }
}

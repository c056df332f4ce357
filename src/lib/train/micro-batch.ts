// One micro-batch's loss and weight gradients, accumulated into the updater. Two ways, same result
// within float rounding:
//   fused      one train_step graph: forward + loss + backward (activations for K·B rows at once);
//   gradcache  GradCache (Gao et al. 2021, https://arxiv.org/abs/2101.06983; docs/losses.md#gradcache):
//              embed each mini-batch in train mode without a backward graph, run the loss-only graph
//              on the concatenated E for loss and dL/dE, then encode_grad each mini-batch with its
//              slice of dL/dE under the same dropout seed, summing the weight gradients.
// Not the loop around it (trainer.ts: sampling, accumulation groups, updates, faults), not the
// choice of path (memory.ts).
//
// Shape letters: K text columns, B micro-batch rows, N = K·B, C hidden, T tokens, M mini-batch rows.

import type { Example } from '../data/validate.ts';
import { toOnnx } from '../graph/onnx.ts';
import { buildLossGraph, EMBEDDINGS_GRAD_OUTPUT, embeddingLoss, LOSS_OUTPUT, type LossSpec, SCORES_INPUT } from '../losses/index.ts';
import type { BertEncoder } from '../models/encoder.ts';
import type { ParameterSet } from '../models/parameter-set.ts';
import type { DeviceTensor, Feed, HostTensor, Runtime, Session } from '../runtime/types.ts';
import type { TextPrompts } from '../models/prompts.ts';
import { batchColumns, type BatchTokenizer, miniBatches, type TextField, tokenizeColumns } from './batches.ts';
import type { MemoryPlan } from './memory.ts';
import type { RunConfig } from './run-config.ts';
import type { Updater } from './updater.ts';

/** Integer in [0, 2²⁴) from (seed, global micro-batch, mini-batch index): the encoder's dropout seed. */
export function dropoutSeed(seed: number, microBatch: number, miniBatch: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  for (const x of [microBatch, miniBatch]) {
    h = Math.imul(h ^ (x >>> 0), 0xcc9e2d51);
    h = (h << 15) | (h >>> 17);
    h = Math.imul(h, 0x1b873593);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) & 0xffffff;
}

/** GradCache's pass over a micro-batch's mini-batches: embedding them (no backward graph), or their gradients. */
export type GradCachePass = 'embed' | 'gradient';

/** The sessions a micro-batch runs, by name, in the order prepare() compiles them. */
export type GraphName = 'encode' | 'encode_grad' | 'loss' | 'train_step';

export interface MicroResult {
  loss: number;
  tokens: number;
}

/** What a micro-batch reads of the run; fixed for the trainer's life. */
export interface MicroBatchRun {
  o: { runtime: Runtime; tokenizer: BatchTokenizer; train: readonly Example[] };
  config: RunConfig;
  /** The loss's text columns (batches.ts columnFields). */
  fields: TextField[];
  /** Whether the loss takes the rows' gold scores (CoSENT). */
  withScores: boolean;
  /** The run's parameters: the `grad/<name>` outputs collected are its `trained`. */
  parameters: ParameterSet;
  /** The query prompt on the anchor column, the document prompt on the others (prompts.ts). */
  prompts: TextPrompts;
}

/** A run's micro-batch step; holds the loss-only graph's session (GradCache) until dispose(). */
export class MicroBatchGradients {
  private readonly o: MicroBatchRun['o'];
  private readonly config: RunConfig;
  private readonly fields: TextField[];
  private readonly withScores: boolean;
  private readonly parameters: ParameterSet;
  private readonly prompts: TextPrompts;
  private lossSession: Promise<Session> | null = null;

  constructor(r: MicroBatchRun) {
    this.o = r.o;
    this.config = r.config;
    this.fields = r.fields;
    this.withScores = r.withScores;
    this.parameters = r.parameters;
    this.prompts = r.prompts;
  }

  /**
   * One micro-batch (`rows` of the training set; `micro` its global index, for the dropout seeds): its
   * loss, and its weight gradients accumulated (× `scale`) into the updater, on the path `chosen`.
   */
  async run(
    enc: BertEncoder, updater: Updater, chosen: Pick<MemoryPlan, 'path' | 'miniBatchSize'>, rows: readonly number[], micro: number, scale: number,
    onMiniBatch?: (pass: GradCachePass, miniBatch: number, of: number) => void,
  ): Promise<MicroResult> {
    const keepOnDevice = updater.kind === 'device';
    const { columns, scores } = batchColumns(this.o.train, rows, this.fields, this.withScores, this.prompts);
    const train = this.config.dropout;
    const extra: Record<string, Feed> = scores ? { [SCORES_INPUT]: { dtype: 'float32', dims: [scores.length], data: scores } } : {};
    if (chosen.path === 'fused') {
      const batch = tokenizeColumns(this.o.tokenizer, columns, this.config.maxSeqLength ?? undefined);
      const step = this.trainStep(enc);
      const r = await step.run(batch, extra, { seed: dropoutSeed(this.config.seed, micro, 0), keepOnDevice });
      await updater.accumulate(this.gradsByName(r.grads), scale);
      return { loss: r.loss, tokens: batch.realTokens };
    }
    // GradCache: 1. embed each mini-batch (no backward graph), remembering its dropout seed.
    const mbs = miniBatches(this.o.tokenizer, columns, chosen.miniBatchSize!, this.config.maxSeqLength ?? undefined);
    const C = enc.dim;
    const N = columns.length * columns[0].length;
    const E = new Float32Array(N * C); // [N,C]
    for (let i = 0; i < mbs.length; i++) {
      E.set(await enc.encode(mbs[i], { train, seed: dropoutSeed(this.config.seed, micro, i) }), mbs[i].offset * C);
      onMiniBatch?.('embed', i + 1, mbs.length);
    }
    // 2. loss and dL/dE on the whole batch.
    const session = await this.lossGraph(columns.length, C);
    const out = await session.run({ embeddings: { dtype: 'float32', dims: [N, C], data: E }, ...extra });
    const loss = Number((out[LOSS_OUTPUT] as HostTensor).data[0]);
    const dE = (out[EMBEDDINGS_GRAD_OUTPUT] as HostTensor).data as Float32Array; // [N,C]
    // 3. re-run each mini-batch forward + backward with its slice of dL/dE, same seed; each adds
    //    its gradient (× scale, as torch scales the loss before backward) to the accumulator.
    let realTokens = 0;
    for (let i = 0; i < mbs.length; i++) {
      const mb = mbs[i];
      realTokens += mb.realTokens;
      const upstream = dE.slice(mb.offset * C, (mb.offset + mb.batch) * C);
      const r = await enc.encodeGrad(mb, upstream, { train, seed: dropoutSeed(this.config.seed, micro, i), keepOnDevice });
      await updater.accumulate(this.gradsByName(r.grads), scale);
      onMiniBatch?.('gradient', i + 1, mbs.length);
    }
    return { loss, tokens: realTokens };
  }

  /**
   * Compiles the sessions `path` runs before its first micro-batch (they would be made on first
   * use anyway), calling `onCompiled` before the first and after each: on the CPU a large model's
   * gradient graph takes seconds to tens of seconds, and the page's watchdog and display see that
   * the run is alive.
   */
  async prepare(enc: BertEncoder, path: MemoryPlan['path'], onCompiled: (compiled: number, of: number, next: GraphName | null) => void): Promise<void> {
    const train = this.config.dropout;
    const graphs: [GraphName, () => Promise<unknown>][] = path === 'fused'
      ? [['train_step', () => this.trainStep(enc).prepare()]]
      : [
          ['encode', () => enc.prepare([train ? 'encode_train' : 'encode'])],
          ['encode_grad', () => enc.prepare([train ? 'encode_grad_train' : 'encode_grad'])],
          ['loss', () => this.lossGraph(this.fields.length, enc.dim)],
        ];
    for (let i = 0; i < graphs.length; i++) {
      onCompiled(i, graphs.length, graphs[i][0]);
      await graphs[i][1]();
    }
    onCompiled(graphs.length, graphs.length, null);
  }

  /** The fused step of this run's loss on `enc` (its session is the encoder's, made once). */
  private trainStep(enc: BertEncoder) {
    const columns = this.fields.length;
    return enc.trainStep(`${JSON.stringify(this.config.loss)}/${columns}`, embeddingLoss(this.config.loss, columns), { train: this.config.dropout });
  }

  private lossGraph(columns: number, hidden: number): Promise<Session> {
    if (!this.lossSession) {
      const bytes = toOnnx(buildLossGraph(this.config.loss as LossSpec, { columns, hidden }));
      this.lossSession = this.o.runtime.load(bytes);
    }
    return this.lossSession;
  }

  /** `grad/<name>` outputs by parameter name. */
  private gradsByName(raw: Map<string, HostTensor | DeviceTensor>): Map<string, HostTensor | DeviceTensor> {
    const out = new Map<string, HostTensor | DeviceTensor>();
    for (const { name: n } of this.parameters.trained) {
      const t = raw.get(`grad/${n}`);
      if (!t) throw new Error(`trainer: the graph returned no grad/${n}`);
      out.set(n, t);
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.lossSession) await (await this.lossSession).release();
    this.lossSession = null;
  }
}

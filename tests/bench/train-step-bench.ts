// Times full training steps for `npm run bench`: the Trainer on a bge-small-shaped random model
// (or any BertConfig), MNRL on (anchor, positive) pairs of `batch` rows × `seq` tokens each
// (2·batch sequences per step), dropout on, fused or GradCache — forward, loss, backward,
// clipping, AdamW and the weight upload, as a real run does. Texts are stand-ins: a synthetic
// tokenizer gives every row exactly `seq` tokens, so no tokenizer files are needed.
// Runs in Node (train-child.ts) and in the browser (the WebGPU bench, through the engine harness
// page), so it imports nothing of Node's.
// Not the bench harness (run.ts, the child scripts) and not a correctness test.

import type { Example } from '../../src/lib/data/validate.ts';
import { BGE_SMALL_CONFIG, type BertConfig } from '../../src/lib/models/bert-config.ts';
import { randomBertWeights, sentenceModel } from '../../src/lib/models/sentence-model.ts';
import type { Runtime } from '../../src/lib/runtime/types.ts';
import type { BatchTokenizer } from '../../src/lib/train/batches.ts';
import type { MomentPrecision } from '../../src/lib/train/optimizer.ts';
import { parseRunConfig } from '../../src/lib/train/run-config.ts';
import { Trainer, type TrainPath } from '../../src/lib/train/trainer.ts';

/**
 * The trainable modes the bench and the tiny experiment compare (run config `trainable`, src/lib/models/trainable.ts):
 * full fine-tuning, the embeddings and the lowest half of the layers frozen, LoRA r 16 on every linear
 * layer (α 32; dropout 0, PEFT's default: with dropout on, bge-small's FFN output layer (1,536 inputs)
 * fails in the dropout hash, which has at most 1,031 column keys).
 */
export const BENCH_TRAINABLE = {
  full: { mode: 'full' },
  'freeze-half': { mode: 'freeze', embeddings: true, layers: 'half' },
  'lora-16': { mode: 'lora', r: 16, alpha: 32, dropout: 0, targetModules: 'all-linear' },
} as const;
export type BenchTrainable = keyof typeof BENCH_TRAINABLE;

/** The run config's `trainable` JSON for a mode on a model with `layers` layers (freeze-half: the lowest ⌊layers/2⌋). */
export function benchTrainable(name: BenchTrainable, layers: number): unknown {
  const t = BENCH_TRAINABLE[name];
  if (!t) throw new Error(`trainable: ${name} is not one of ${Object.keys(BENCH_TRAINABLE).join(', ')}`);
  return t.mode === 'freeze' ? { ...t, layers: Math.floor(layers / 2) } : t;
}

export interface TrainStepBenchOptions {
  runtime: Runtime;
  /** What trains (default full). */
  trainable?: BenchTrainable;
  path: TrainPath;
  /** GradCache mini-batch (default 8). */
  miniBatchSize?: number;
  /** AdamW's moments (run config adamMoments; default float32). */
  adamMoments?: MomentPrecision;
  batch?: number;
  seq?: number;
  config?: BertConfig;
  /** Untimed steps first (session creation, onnxruntime's first runs of a shape). Default 2. */
  warmup?: number;
  /** Timed steps. Default 3. */
  repeats?: number;
  /**
   * Stores the checkpoint taken after the last step (untimed), as a run stores its checkpoints,
   * so the peak includes what that holds (the account counts it). Default: none taken.
   */
  saveCheckpoint?: (parts: Uint8Array[]) => Promise<void>;
  /** Called as each step ends (1-based), before the next starts: where a caller reads its counters. */
  onStep?: (step: number) => void;
}

export interface TrainStepBenchResult {
  path: TrainPath;
  batch: number;
  seq: number;
  /** Seconds per timed step. */
  stepS: number[];
  stepsPerS: number;
  /** Padded tokens (2·batch·seq) per second: every token is real here. */
  tokensPerS: number;
  /** Wall time of the warm-up steps (includes session creation). */
  warmupS: number;
  /** Bytes the last step's update moved to and from the device (the Trainer's step event); null where host and device are one. */
  updateTraffic: { toDevice: number; toHost: number } | null;
  /** The memory account's predicted peak (src/lib/train/memory.ts), host and GPU bytes. */
  accountHostPeak: number;
  accountGpuPeak: number;
}

/** `seq` tokens for every text: [CLS]-like 2, ids from the text's index, [SEP]-like 3. */
function syntheticTokenizer(seq: number, vocab: number): BatchTokenizer {
  return {
    encodeBatch(texts) {
      const B = texts.length;
      const ids = new BigInt64Array(B * seq);
      texts.forEach((t, b) => {
        const h = Number(t.slice(1));
        for (let i = 0; i < seq; i++) ids[b * seq + i] = BigInt(i === 0 ? 2 : i === seq - 1 ? 3 : 5 + ((h * 131 + i * 7919) % (vocab - 5)));
      });
      return { inputIds: ids, attentionMask: new Float32Array(B * seq).fill(1), batch: B, tokens: seq };
    },
  };
}

export async function benchmarkTrainStep(o: TrainStepBenchOptions): Promise<TrainStepBenchResult> {
  const batch = o.batch ?? 32;
  const seq = o.seq ?? 128;
  const warmup = o.warmup ?? 2;
  const repeats = o.repeats ?? 3;
  const c = o.config ?? BGE_SMALL_CONFIG;
  const model = sentenceModel(c, randomBertWeights(c, 1));
  const steps = warmup + repeats;
  const train: Example[] = Array.from({ length: batch * steps }, (_, i) => ({ anchor: `a${2 * i}`, positive: `p${2 * i + 1}`, row: i }));
  const config = parseRunConfig({
    model: { id: 'bench' }, data: { source: 'bench' }, loss: { type: 'mnrl' }, batchSize: batch, maxSteps: steps, lr: 2e-5, scheduler: 'constant',
    warmupRatio: 0, sampler: 'batch', shuffle: false, dropout: true,
    gradCache: o.path === 'fused' ? 'off' : { miniBatchSize: o.miniBatchSize ?? 8 }, adamMoments: o.adamMoments ?? 'float32',
    trainable: benchTrainable(o.trainable ?? 'full', c.numLayers),
    // The bench measures what a configuration takes, so no budget refuses it; the account's
    // prediction is reported next to the measured peak.
    memoryBudgetMB: 2 ** 30,
  });
  const ends: number[] = [];
  let updateTraffic: TrainStepBenchResult['updateTraffic'] = null;
  // The model keeps its own weights beside the updater's copy, as a run keeps its model files.
  const modelBytes = [...model.weights.values()].reduce((n, w) => n + w.data.byteLength, 0);
  const trainer = new Trainer({
    runtime: o.runtime, model, tokenizer: syntheticTokenizer(seq, c.vocabSize), config, train, memory: { fileBytes: modelBytes },
    onEvent: (e) => {
      if (e.type !== 'step') return;
      ends.push(performance.now());
      updateTraffic = e.updateTraffic;
      o.onStep?.(ends.length);
    },
  });
  const account = trainer.planMemory().account;
  const t0 = performance.now();
  await trainer.run();
  if (o.saveCheckpoint) await o.saveCheckpoint(await trainer.checkpoint());
  await trainer.dispose();
  const stepS = ends.slice(warmup).map((t, i) => (t - ends[warmup + i - 1]) / 1000);
  const mean = stepS.reduce((a, b) => a + b, 0) / stepS.length;
  return { path: o.path, batch, seq, updateTraffic, accountHostPeak: account.hostPeak, accountGpuPeak: account.gpuPeak, stepS, stepsPerS: 1 / mean, tokensPerS: (2 * batch * seq) / mean, warmupS: (ends[warmup - 1] - t0) / 1000 };
}

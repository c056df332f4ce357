// What one row of the WebGPU bench measures, on a runtime already made: the train step
// (train-step-bench.ts) with the GPU buffer bytes and the host↔device bytes around it, and the
// eval-mode encode. Both hosts of the bench call it — the engine harness page in Chromium
// (tests/e2e/harness, for `npm run bench -- --webgpu`) and Node on Dawn (dawn-bench.ts) — so
// it imports nothing of Node's or of the browser's.
// Not the tables (webgpu-tables.ts) and not the choice of adapter.

import type { BertConfig } from '../../src/lib/models/bert-config.ts';
import { BertEncoder } from '../../src/lib/models/encoder.ts';
import { randomBertWeights, sentenceModel } from '../../src/lib/models/sentence-model.ts';
import type { GpuMemoryCounter, LiveBuffer } from '../../src/lib/runtime/gpu-memory.ts';
import type { Runtime, RuntimeKind } from '../../src/lib/runtime/types.ts';
import type { GpuBufferCacheMode } from '../../src/lib/runtime/webgpu-runtime.ts';
import type { MomentPrecision } from '../../src/lib/train/optimizer.ts';
import type { TrainPath } from '../../src/lib/train/trainer.ts';
import { benchmarkTrainStep, type TrainStepBenchResult } from './train-step-bench.ts';

export interface BenchStepOptions {
  kind: RuntimeKind;
  config: BertConfig;
  batch: number;
  seq: number;
  warmup: number;
  repeats: number;
}

export type TrainStepRowOptions = BenchStepOptions & { path: TrainPath; mini: number; gpuBufferCache?: GpuBufferCacheMode; adamMoments?: MomentPrecision };

export interface TrainStepRow extends TrainStepBenchResult {
  /** Host↔device bytes per timed step (feeds, GradCache's embeddings, the update); null where the runtime counts none. */
  stepTraffic: { toDevice: number; toHost: number } | null;
  gpuBeforeBytes: number;
  /** The most bytes held in GPU buffers during the steps; null without a GPU memory counter. */
  gpuPeakBytes: number | null;
  /** The largest buffers live at that peak (largest first, at most 12): what it is made of. */
  gpuPeakBuffers: LiveBuffer[] | null;
  gpuAfterBytes: number | null;
}

export async function measureTrainStep(rt: Runtime, gpuMemory: GpuMemoryCounter | null, o: TrainStepRowOptions): Promise<TrainStepRow> {
  const gpuBefore = gpuMemory?.liveBytes ?? 0;
  gpuMemory?.resetPeak();
  let traffic0 = rt.traffic?.() ?? null;
  let stepTraffic: TrainStepRow['stepTraffic'] = null;
  const r = await benchmarkTrainStep({
    runtime: rt, path: o.path, miniBatchSize: o.mini, adamMoments: o.adamMoments, batch: o.batch, seq: o.seq, warmup: o.warmup, repeats: o.repeats, config: o.config,
    onStep: (step) => {
      if (step === o.warmup) traffic0 = rt.traffic?.() ?? null;
      if (step !== o.warmup + o.repeats || !traffic0) return;
      const t = rt.traffic!();
      stepTraffic = { toDevice: (t.uploaded + t.fed - traffic0.uploaded - traffic0.fed) / o.repeats, toHost: (t.downloaded - traffic0.downloaded) / o.repeats };
    },
    // Read back as a run reads its checkpoints (the bytes go nowhere).
    saveCheckpoint: async () => undefined,
  });
  return { ...r, stepTraffic, gpuBeforeBytes: gpuBefore, gpuPeakBytes: gpuMemory?.peakBytes ?? null, gpuPeakBuffers: gpuMemory?.peakBuffers.slice(0, 12) ?? null, gpuAfterBytes: gpuMemory?.liveBytes ?? null };
}

/** Eval-mode encode of `batch` texts of `seq` tokens (ids spread over the vocabulary), timed per run. */
export async function measureEncode(rt: Runtime, o: BenchStepOptions): Promise<{ warmupMs: number[]; runMs: number[] }> {
  const c = o.config;
  const encoder = await BertEncoder.create(rt, sentenceModel(c, randomBertWeights(c, 1)));
  const ids = new BigInt64Array(o.batch * o.seq).map((_, i) => BigInt(5 + ((i * 7919) % (c.vocabSize - 5))));
  const batch = { inputIds: ids, attentionMask: new Float32Array(o.batch * o.seq).fill(1), batch: o.batch, tokens: o.seq };
  const ms: number[] = [];
  for (let i = 0; i < o.warmup + o.repeats; i++) {
    const t0 = performance.now();
    await encoder.encode(batch);
    ms.push(performance.now() - t0);
  }
  await encoder.dispose();
  return { warmupMs: ms.slice(0, o.warmup), runMs: ms.slice(o.warmup) };
}

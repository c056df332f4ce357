// One "train step" configuration of `npm run bench` in its own process, started by run.ts: full
// MNRL training steps (tests/bench/train-step-bench.ts: 32 anchor + 32 positive sequences × 128 tokens,
// dropout on, loss, backward, clipping, AdamW and the weight upload) on a bge-small-shaped random
// model, fused or GradCache, on one runtime; prints `BENCH_TRAIN {json}` to stdout. Its own process
// for the same reasons as child.ts (WASM thread count fixed at module start; peak RSS per
// configuration), and because a fused step that outgrows WASM's 4 GB must only kill this process.
// Not the table (run.ts) and not a correctness test of the Trainer (src/lib/train/*.test.ts).
//
// Usage: tsx tests/bench/train-child.ts --runtime wasm|node --threads N --path fused|gradcache
//        [--mini M] [--warmup W] [--repeats R] [--batch B] [--seq T] [--model small|base]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BGE_BASE_CONFIG, BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { createRuntime, type RuntimeKind } from '../../src/lib/runtime/index.ts';
import { PlainFolderStore } from '../../src/lib/store/plain-folder-store.ts';
import { enableBufferRelease } from '../../src/lib/util/release-buffer-node.ts';
import { benchmarkTrainStep, type BenchTrainable, type TrainStepBenchResult } from './train-step-bench.ts';
import type { TrainPath } from '../../src/lib/train/trainer.ts';
import { benchArgs } from './bench-args.ts';

export interface TrainChildResult extends TrainStepBenchResult {
  runtime: RuntimeKind;
  backend: string;
  threads: number;
  /** GradCache mini-batch; null for fused. */
  miniBatchSize: number | null;
  /** Median of stepS, ms. */
  medianMs: number;
  /** Process CPU time ÷ wall time over the whole run (warm-up included). */
  cpuPerWall: number;
  /** process.resourceUsage().maxRSS, MiB. */
  maxRssMiB: number;
  model: string;
  trainable: BenchTrainable;
}

async function main(): Promise<void> {
  enableBufferRelease(); // as the CLI does
  const { values } = benchArgs('Usage: tsx tests/bench/train-child.ts [options]\n\nOne train-step configuration of `npm run bench` (started by run.ts): MNRL steps (--batch anchors + positives ×\n--seq tokens) on a random --model small|base shape, --runtime wasm|node, --path fused|gradcache (--mini),\n--trainable full|freeze-half|lora-16 (train-step-bench.ts BENCH_TRAINABLE);\nprints one BENCH_TRAIN {json} line.', {
      runtime: { type: 'string', default: 'wasm' },
      threads: { type: 'string', default: '2' },
      path: { type: 'string', default: 'fused' },
      mini: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      repeats: { type: 'string', default: '3' },
      batch: { type: 'string', default: '32' },
      seq: { type: 'string', default: '128' },
      model: { type: 'string', default: 'small' },
      trainable: { type: 'string', default: 'full' },
  });
  const kind = values.runtime as RuntimeKind;
  const path = values.path as TrainPath;
  if (path !== 'fused' && path !== 'gradcache') throw new Error(`--path must be fused or gradcache, got ${path}`);
  const threads = Number(values.threads);
  const miniBatchSize = path === 'gradcache' ? Number(values.mini) : null;
  // benchmarkTrainStep times step k as the gap between the ends of steps k-1 and k: it needs one untimed step.
  const warmup = Math.max(1, Number(values.warmup));
  const repeats = Math.max(1, Number(values.repeats));
  const runtime = await createRuntime(kind, { threads });
  const desc = runtime.describe();
  process.stderr.write(`[train ${kind}×${threads} ${path}${miniBatchSize ? ` mini ${miniBatchSize}` : ''}] ${warmup} warm-up + ${repeats} timed steps\n`);
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const r = await benchmarkTrainStep({
    runtime, path, trainable: values.trainable as BenchTrainable, miniBatchSize: miniBatchSize ?? undefined, batch: Number(values.batch), seq: Number(values.seq), warmup, repeats, config: values.model === 'base' ? BGE_BASE_CONFIG : BGE_SMALL_CONFIG,
    // One checkpoint written to disk as the CLI writes it.
    saveCheckpoint: async (parts) => {
      const dir = mkdtempSync(join(tmpdir(), 'tabtune-bench-'));
      try {
        await new PlainFolderStore(dir).set('checkpoint.safetensors', parts);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  });
  const cpu = process.cpuUsage(cpu0);
  if (r.stepS.length !== repeats || !r.stepS.every((s) => Number.isFinite(s) && s > 0)) throw new Error(`train bench: step times ${JSON.stringify(r.stepS)}`);
  const sorted = [...r.stepS].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const medianS = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const out: TrainChildResult = {
    ...r, model: values.model!, trainable: values.trainable as BenchTrainable, runtime: kind, backend: desc.backend, threads: desc.threads || threads, miniBatchSize, medianMs: medianS * 1000,
    cpuPerWall: (cpu.user + cpu.system) / 1000 / (performance.now() - w0), maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stderr.write(`[train ${kind}×${threads} ${path}] steps ${r.stepS.map((s) => s.toFixed(1)).join(', ')} s; warm-up ${r.warmupS.toFixed(1)} s\n`);
  process.stdout.write(`BENCH_TRAIN ${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

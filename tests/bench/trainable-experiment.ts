// The trainable-modes experiment README reports (`npm run experiment:trainable`): what training
// less of the model does to retrieval quality on qa-tiny. The tiny fixture model (2 layers × 32,
// random weights) is trained three ways per seed — full fine-tuning, the embeddings and the lowest
// half of the layers frozen (layer 0 of 2), and LoRA r 16 α 32 on every linear layer (dropout 0)
// (the bench's modes, train-step-bench.ts BENCH_TRAINABLE) — with the same updates (MNRL in
// Matryoshka [32, 16, 8], batch 16, lr 2e-3 linear, no warmup, dropout on, 60 updates, the same
// lr for every mode), three seeds; prints nDCG@10 (dim 32) on the test split before and after, and
// each mode's trained-tensor count. It asserts nothing: the result is whatever it is.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunEvent, runTraining } from '../../src/lib/run/run.ts';
import { PlainFolderStore } from '../../src/lib/store/plain-folder-store.ts';
import { parseRunConfig } from '../../src/lib/train/run-config.ts';
import { benchArgs } from './bench-args.ts';
import { qaTinySetup } from './qa-tiny-run.ts';
import { BENCH_TRAINABLE, type BenchTrainable, benchTrainable } from './train-step-bench.ts';

const { values } = benchArgs('Usage: npm run experiment:trainable -- [options]\n\nqa-tiny, the tiny model, the same updates: full fine-tuning vs the lowest half frozen vs LoRA r 16 on every\nlinear layer; nDCG@10 (dim 32) per seed.', {
  updates: { type: 'string', default: '60' },
  seeds: { type: 'string', default: '1,2,3' },
});
const UPDATES = Number(values.updates);
const SEEDS = values.seeds!.split(',').map(Number);
const MODES = Object.keys(BENCH_TRAINABLE) as BenchTrainable[];

const { runtime, model, runModel, data } = await qaTinySetup();

const work = mkdtempSync(join(tmpdir(), 'tabtune-trainable-'));
const results: { mode: BenchTrainable; seed: number; before: number; after: number; ms: number }[] = [];
for (const seed of SEEDS) {
  for (const mode of MODES) {
    const config = parseRunConfig({
      model: { id: 'tiny-bge' }, data: { source: 'qa-tiny' }, batchSize: 16, maxSteps: UPDATES, lr: 2e-3, warmupRatio: 0, scheduler: 'linear', seed,
      loss: { type: 'mnrl', matryoshka: { dims: [32, 16, 8] } }, eval: { before: true, after: true }, trainable: benchTrainable(mode, model.config.numLayers),
    });
    const store = new PlainFolderStore(join(work, `${mode}-${seed}`));
    const t0 = performance.now();
    // The evaluations as the run reports them: they come before the run writes its model folder,
    // which a LoRA run cannot yet (the merged export is its own part of the issue).
    const ndcg = new Map<string, number>();
    const onEvent = (e: RunEvent) => {
      if (e.type === 'eval') ndcg.set(e.which, e.result.metrics['dim_32_cosine_ndcg@10']);
    };
    try {
      await runTraining({ store, runtime, model: runModel, data: { source: 'qa-tiny', train: data.train, test: data.test }, config, runId: `${seed}`, onEvent });
    } catch (e) {
      if (!ndcg.has('after')) throw e;
      process.stderr.write(`${mode}, seed ${seed}: trained and evaluated, but the model folder was not written: ${(e as Error).message}\n`);
    }
    const ms = performance.now() - t0;
    results.push({ mode, seed, before: ndcg.get('before')!, after: ndcg.get('after')!, ms });
    process.stderr.write(`${mode}, seed ${seed}: nDCG@10 ${ndcg.get('before')!.toFixed(4)} → ${ndcg.get('after')!.toFixed(4)}\n`);
  }
}
rmSync(work, { recursive: true, force: true });

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`qa-tiny, tiny-bge (random 2×32), ${UPDATES} updates of batch 16, MNRL in Matryoshka [32, 16, 8], lr 2e-3 for every mode, seeds ${SEEDS.join(', ')}`);
console.log('| what trains | nDCG@10 dim 32 after (per seed) | mean after | run s (mean) |');
console.log('|---|---|---:|---:|');
console.log(`| before training | ${results[0].before.toFixed(4)} | ${results[0].before.toFixed(4)} | |`);
for (const mode of MODES) {
  const rs = results.filter((r) => r.mode === mode);
  console.log(`| ${mode} | ${rs.map((r) => r.after.toFixed(4)).join(', ')} | ${mean(rs.map((r) => r.after)).toFixed(4)} | ${(mean(rs.map((r) => r.ms)) / 1000).toFixed(1)} |`);
}

// The AdamW-moments experiment README reports (`npm run experiment:moments`): what bfloat16
// moments with stochastic rounding (optimizer.ts; half the optimizer's memory) do to retrieval
// quality. The tiny fixture model (2 layers × 32, random weights) is trained on qa-tiny twice per
// seed — float32 moments and bfloat16 moments, everything else equal (MNRL in Matryoshka [32, 16,
// 8], batch 16, lr 2e-3 linear, dropout on, 60 updates) — and nDCG@10 on the test split is printed
// per dimension, before and after. It asserts nothing: the result is whatever it is.

import { mkdtempSync, rmSync } from 'node:fs';
import { qaTinySetup } from './qa-tiny-run.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTraining } from '../../src/lib/run/run.ts';
import { PlainFolderStore } from '../../src/lib/store/plain-folder-store.ts';
import type { MomentPrecision } from '../../src/lib/train/optimizer.ts';
import { parseRunConfig } from '../../src/lib/train/run-config.ts';
import { benchArgs } from './bench-args.ts';

benchArgs('Usage: npm run experiment:moments\n\nThe AdamW-moments experiment on qa-tiny (tiny model, 3 seeds, float32 vs bfloat16 moments); prints nDCG@10\nper dimension. Takes no options.', {});

const UPDATES = 60;
const SEEDS = [1, 2, 3];
const DIMS = [32, 16, 8];
const MOMENTS: MomentPrecision[] = ['float32', 'bfloat16'];

const { runtime, runModel, data } = await qaTinySetup();

const work = mkdtempSync(join(tmpdir(), 'tabtune-moments-'));
const results: { moments: MomentPrecision; seed: number; before: number[]; after: number[] }[] = [];
for (const seed of SEEDS) {
  for (const moments of MOMENTS) {
    const config = parseRunConfig({
      model: { id: 'tiny-bge' }, data: { source: 'qa-tiny' }, batchSize: 16, maxSteps: UPDATES, lr: 2e-3, warmupRatio: 0, scheduler: 'linear', seed,
      loss: { type: 'mnrl', matryoshka: { dims: DIMS } }, eval: { before: true, after: true }, adamMoments: moments,
    });
    const store = new PlainFolderStore(join(work, `${moments}-${seed}`));
    const { record } = await runTraining({ store, runtime, model: runModel, data: { source: 'qa-tiny', train: data.train, test: data.test }, config, runId: `${seed}` });
    const ndcg = (r: typeof record.before) => DIMS.map((d) => r!.metrics[`dim_${d}_cosine_ndcg@10`]);
    results.push({ moments, seed, before: ndcg(record.before), after: ndcg(record.after) });
    process.stderr.write(`${moments}, seed ${seed}: nDCG@10 dim 32 ${ndcg(record.before)[0].toFixed(4)} → ${ndcg(record.after)[0].toFixed(4)}\n`);
  }
}
rmSync(work, { recursive: true, force: true });

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`qa-tiny, tiny-bge (random 2×32), ${UPDATES} updates of batch 16, MNRL in Matryoshka [${DIMS.join(', ')}], seeds ${SEEDS.join(', ')}`);
console.log(`| AdamW moments | ${DIMS.map((d) => `nDCG@10 dim ${d} (per seed)`).join(' | ')} | mean dim 32 |`);
console.log(`|---|${DIMS.map(() => '---').join('|')}|---:|`);
console.log(`| before training | ${DIMS.map((_, k) => results[0].before[k].toFixed(4)).join(' | ')} | ${results[0].before[0].toFixed(4)} |`);
for (const moments of MOMENTS) {
  const rs = results.filter((r) => r.moments === moments);
  console.log(`| ${moments} | ${DIMS.map((_, k) => rs.map((r) => r.after[k].toFixed(4)).join(', ')).join(' | ')} | ${mean(rs.map((r) => r.after[0])).toFixed(4)} |`);
}

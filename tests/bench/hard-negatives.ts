// The hard-negatives experiment README reports (`npm run experiment:negatives`): on qa-tiny — a
// synthetic retrieval set whose 40 documents come in near-duplicate families (birds that differ
// only in colour, habitat or food; instruments in material, strings or occasion; …) — train the
// tiny fixture model (2 layers × 32, random weights) for the same number of updates twice: on the
// (question, doc) pairs alone, and on (question, doc, mined negative) triplets where the negative
// was mined with the base model (sentence-transformers' semantics, top-1 after the positive).
// Both runs use MNRL in Matryoshka [32, 16, 8], batch 16, lr 2e-3 linear, no warmup, dropout on;
// three seeds each. Prints nDCG@10 (dim 32) on the test split before and after, and the triplet
// accuracy on the mined test triplets. It asserts nothing: the result is whatever it is.

import { mkdtempSync, rmSync } from 'node:fs';
import { qaTinySetup } from './qa-tiny-run.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Example } from '../../src/lib/data/validate.ts';
import { tripletAccuracy } from '../../src/lib/eval/triplet-eval.ts';
import { mineHardNegatives } from '../../src/lib/mine/hard-negatives.ts';
import { embedTexts } from '../../src/lib/models/embed-texts.ts';
import { BertEncoder } from '../../src/lib/models/encoder.ts';
import { loadSentenceModel } from '../../src/lib/models/sentence-model.ts';
import { readModelFolder } from '../../src/lib/models/sentence-model-node.ts';
import { runTraining } from '../../src/lib/run/run.ts';
import { PlainFolderStore } from '../../src/lib/store/plain-folder-store.ts';
import { parseRunConfig } from '../../src/lib/train/run-config.ts';
import { benchArgs } from './bench-args.ts';

benchArgs('Usage: npm run experiment:negatives\n\nThe hard-negatives experiment on qa-tiny (tiny model, 3 seeds, positives only vs + a mined negative); prints\nnDCG@10 and triplet accuracy. Takes no options.', {});

const UPDATES = 60;
const SEEDS = [1, 2, 3];

const { runtime, model, tokenizer, runModel, data } = await qaTinySetup();

// Mine one negative per question with the base model, for train (training) and test (triplet accuracy).
const base = await BertEncoder.create(runtime, model);
const mined = async (rows: readonly Example[]) =>
  (await mineHardNegatives({ pairs: rows, encoder: base, tokenizer, options: { numNegatives: 1 } })).rows.map((r, i): Example => ({ anchor: r.anchor, positive: r.positive, negatives: r.negatives, row: i }));
const trainNeg = await mined(data.train);
const testNeg = await mined(data.test);
await base.dispose();

async function tripletAcc(weights: Map<string, Float32Array>): Promise<number> {
  const w = new Map(model.weights);
  for (const [n, d] of weights) w.set(n, { shape: model.weights.get(n)!.shape, data: d });
  const enc = await BertEncoder.create(runtime, { ...model, weights: w });
  const e = (k: 'anchor' | 'positive' | 'negative') => embedTexts(testNeg.map((t) => (k === 'negative' ? t.negatives![0] : t[k])), tokenizer, enc, { batchSize: 32 });
  const r = tripletAccuracy(await e('anchor'), await e('positive'), await e('negative'), 32, { dims: [32] });
  await enc.dispose();
  return r.metrics['dim_32_cosine_accuracy'];
}

const work = mkdtempSync(join(tmpdir(), 'tabtune-negatives-'));
const results: { kind: string; seed: number; before: number; after: number; triplet: number }[] = [];
for (const seed of SEEDS) {
  for (const [kind, train] of [['positives only', data.train], ['+ mined negative', trainNeg]] as const) {
    const config = parseRunConfig({
      model: { id: 'tiny-bge' }, data: { source: 'qa-tiny' }, batchSize: 16, maxSteps: UPDATES, lr: 2e-3, warmupRatio: 0, scheduler: 'linear', seed,
      loss: { type: 'mnrl', matryoshka: { dims: [32, 16, 8] } }, eval: { before: true, after: true },
    });
    const store = new PlainFolderStore(join(work, `${kind}-${seed}`.replace(/\W+/g, '-')));
    const { record } = await runTraining({ store, runtime, model: runModel, data: { source: 'qa-tiny', train, test: data.test }, config, runId: `${seed}` });
    const ndcg = (r: typeof record.before) => r!.metrics['dim_32_cosine_ndcg@10'];
    const weights = new Map<string, Float32Array>();
    const trained = loadSentenceModel(new Map([...readModelFolder(store.root)]));
    for (const [n, t] of trained.weights) weights.set(n, t.data);
    results.push({ kind, seed, before: ndcg(record.before), after: ndcg(record.after), triplet: await tripletAcc(weights) });
    process.stderr.write(`${kind}, seed ${seed}: nDCG@10 ${ndcg(record.before).toFixed(4)} → ${ndcg(record.after).toFixed(4)}\n`);
  }
}
rmSync(work, { recursive: true, force: true });

const baseTriplet = await tripletAcc(new Map([...model.weights].map(([n, t]) => [n, t.data])));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`qa-tiny, tiny-bge (random 2×32), ${UPDATES} updates of batch 16, MNRL in Matryoshka [32, 16, 8], seeds ${SEEDS.join(', ')}`);
console.log(`train rows: ${data.train.length} pairs / ${trainNeg.length} triplets; test: ${data.test.length} queries, ${testNeg.length} mined triplets`);
console.log('training           nDCG@10 dim 32 (before → after, per seed)        mean after   triplet acc (mean)');
for (const kind of ['positives only', '+ mined negative']) {
  const rs = results.filter((r) => r.kind === kind);
  console.log(`${kind.padEnd(18)} ${rs.map((r) => `${r.before.toFixed(4)} → ${r.after.toFixed(4)}`).join(', ').padEnd(48)} ${mean(rs.map((r) => r.after)).toFixed(4).padStart(10)}   ${mean(rs.map((r) => r.triplet)).toFixed(4)}`);
}
console.log(`base model triplet accuracy on the mined test triplets: ${baseTriplet.toFixed(4)}`);

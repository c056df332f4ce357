import { describe, expect, it } from 'vitest';
import { parseSafetensors, writeSafetensors } from '../models/safetensors.ts';
import { Rng } from '../util/rng.ts';
import { type Parameter, ParameterSet } from '../models/parameter-set.ts';
import { CheckpointError, checkParameters, readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.ts';
import { accumulateInto, AdamW } from './optimizer.ts';
import { parseRunConfig } from './run-config.ts';
import { BatchSampler } from './sampler.ts';
import { lrAt, microBatchRole, stepsPlan } from './schedule.ts';

// A toy regression trained with every piece of this folder: y ≈ W x + b over 18 rows, batch 4,
// accumulation 2 (transformers 4.41 counting, so a group straddles the epoch boundary), cosine
// with warmup, weight decay on W only, clipping, shuffled batches.
const ROWS = 18;
const rng = new Rng(3);
const X = Array.from({ length: ROWS }, () => [rng.normal(), rng.normal(), rng.normal()]);
const Y = X.map(([a, b, c]) => [a - 2 * b + 0.5, 0.3 * c + a - 1]);
const config = parseRunConfig({
  batchSize: 4, accumulation: 2, sampler: 'batch', epochs: 3, lr: 0.05, weightDecay: 0.01, maxGradNorm: 0.5,
  warmupSteps: 1, trainerVariant: 'transformers-4.41', seed: 9, loss: { type: 'mnrl' },
});
const plan = stepsPlan({
  rows: ROWS, batchSize: config.batchSize, dropLast: config.dropLast, accumulation: config.accumulation,
  epochs: config.epochs, warmupSteps: config.warmupSteps, variant: config.trainerVariant,
});

/** d/dθ of mean_r ½‖W x_r + b − y_r‖² over the batch. */
function gradients(w: Float32Array, b: Float32Array, batch: number[]): Map<string, Float32Array> {
  const gw = new Float32Array(6);
  const gb = new Float32Array(2);
  for (const r of batch) {
    for (let i = 0; i < 2; i++) {
      const e = w[i * 3] * X[r][0] + w[i * 3 + 1] * X[r][1] + w[i * 3 + 2] * X[r][2] + b[i] - Y[r][i];
      for (let j = 0; j < 3; j++) gw[i * 3 + j] += (e * X[r][j]) / batch.length;
      gb[i] += e / batch.length;
    }
  }
  return new Map([['dense.weight', gw], ['dense.bias', gb]]);
}

function train(opts: { stopAfter?: number; resume?: Uint8Array }): { weights: Map<string, Float32Array>; checkpoint?: Uint8Array; losses: number[] } {
  const weights = new Map([['dense.weight', new Float32Array([0.1, 0.2, 0.3, -0.1, 0.0, 0.4])], ['dense.bias', new Float32Array([0, 0])]]);
  const opt = new AdamW(weights, { weightDecay: config.weightDecay, noDecay: ['dense.bias'] });
  const sampler = new BatchSampler(ROWS, { kind: config.sampler, batchSize: config.batchSize, dropLast: config.dropLast, shuffle: config.shuffle, seed: config.seed });
  let globalStep = 0;
  let globalMicro = 0;
  let epoch = 0;
  let metrics: unknown[] = [];
  if (opts.resume) {
    const c = readCheckpoint(opts.resume);
    for (const [n, w] of c.weights) weights.get(n)!.set(w);
    opt.loadState(c.optimizer.step, c.optimizer.tensors);
    sampler.restore(c.sampler);
    ({ globalStep, globalMicroBatch: globalMicro, epoch, metrics } = c);
  }
  const acc = new Map([...weights].map(([n, w]) => [n, new Float32Array(w.length)]));
  for (; epoch < plan.epochs; epoch++) {
    if (sampler.epoch !== epoch) sampler.startEpoch(epoch);
    for (let batch = sampler.next(); batch; batch = sampler.next()) {
      const batchInEpoch = sampler.state().position - 1;
      globalMicro++;
      const role = microBatchRole(plan, batchInEpoch, globalMicro, plan.batchesPerEpoch);
      for (const [n, g] of gradients(weights.get('dense.weight')!, weights.get('dense.bias')!, batch)) accumulateInto(acc.get(n)!, g, 1 / role.divisor);
      if (!role.closesUpdate) continue;
      const r = opt.update(acc, lrAt(globalStep + 1, config.lr, config.scheduler, plan.warmupSteps, plan.maxSteps), config.maxGradNorm);
      for (const a of acc.values()) a.fill(0);
      globalStep++;
      metrics = [...metrics, { step: globalStep, gradNorm: r.gradNorm }];
      if (globalStep >= plan.maxSteps) return { weights, losses: metrics.map((m) => (m as { gradNorm: number }).gradNorm) };
      if (globalStep === opts.stopAfter) {
        const checkpoint: Checkpoint = {
          weights, shapes: new Map([['dense.weight', [2, 3]], ['dense.bias', [2]]]),
          optimizer: { step: opt.step, tensors: opt.stateTensors() },
          scheduler: { type: config.scheduler, baseLr: config.lr, warmupSteps: plan.warmupSteps, maxSteps: plan.maxSteps, stepsTaken: globalStep },
          globalStep, globalMicroBatch: globalMicro, epoch, sampler: sampler.state(), rng: null, config, metrics,
          provenance: { model: { kind: 'weights', name: 'toy', sha256: 'ab'.repeat(32) }, data: { source: 'toy', rows: ROWS, sha256: 'cd'.repeat(32) } },
        };
        return { weights, checkpoint: writeCheckpoint(checkpoint), losses: [] };
      }
    }
  }
  return { weights, losses: metrics.map((m) => (m as { gradNorm: number }).gradNorm) };
}

describe('checkpoint', () => {
  it('the toy run has the planned shape (5 batches/epoch, 2 updates/epoch, 6 updates; update 3 straddles epochs)', () => {
    expect(plan).toMatchObject({ batchesPerEpoch: 5, updatesPerEpoch: 2, maxSteps: 6, epochs: 3, warmupSteps: 1 });
  });

  for (const stopAfter of [2, 4]) {
    it(`a run stopped after update ${stopAfter} and resumed from its bytes ends bit-identical to an uninterrupted run`, () => {
      const full = train({});
      const first = train({ stopAfter });
      expect(first.checkpoint).toBeDefined();
      const resumed = train({ resume: first.checkpoint });
      for (const [n, w] of full.weights) expect(resumed.weights.get(n), n).toEqual(w);
      expect(resumed.losses).toEqual(full.losses);
      // and the training did move the weights
      expect(full.weights.get('dense.bias')![0]).not.toBe(0);
    });
  }

  it('round-trips every field', () => {
    const bytes = train({ stopAfter: 2 }).checkpoint!;
    const c = readCheckpoint(bytes);
    expect(c.shapes!.get('dense.weight')).toEqual([2, 3]);
    expect(c.optimizer.step).toBe(2);
    expect([...c.optimizer.tensors.keys()].sort()).toEqual(['adam.m/dense.bias', 'adam.m/dense.weight', 'adam.v/dense.bias', 'adam.v/dense.weight']);
    expect(c.config).toEqual(config);
    expect(c.scheduler).toEqual({ type: 'cosine', baseLr: 0.05, warmupSteps: 1, maxSteps: 6, stepsTaken: 2 });
    expect(c.sampler.order.length).toBe(ROWS);
    expect(c.metrics.length).toBe(2);
    expect(c.provenance).toMatchObject({ model: { kind: 'weights', name: 'toy' }, data: { rows: ROWS } });
    expect(readCheckpoint(writeCheckpoint(c))).toEqual(c);
  });

  it('says clearly what is wrong with a file that is not a checkpoint of this version', () => {
    const bytes = train({ stopAfter: 2 }).checkpoint!;
    const parsed = parseSafetensors(bytes);
    const rewrite = (meta: Record<string, string>) =>
      writeSafetensors(new Map([...parsed.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }])), { ...parsed.metadata, ...meta });
    expect(() => readCheckpoint(rewrite({ format_version: '3' }))).toThrow(/format version 3 is newer than the version this tabtune reads \(2\)/);
    expect(() => readCheckpoint(rewrite({ format_version: '1' }))).toThrow(/format version 1 differs from the version this tabtune reads \(2\)/);
    expect(() => readCheckpoint(rewrite({ format: 'other' }))).toThrow(/not a tabtune checkpoint/);
    expect(() => readCheckpoint(new Uint8Array([1, 2, 3]))).toThrow(CheckpointError);
    const badConfig = JSON.parse(parsed.metadata.state);
    badConfig.config.lr = -1;
    expect(() => readCheckpoint(rewrite({ state: JSON.stringify(badConfig) }))).toThrow(/run config is not valid here: lr: must be > 0/);
    // Damaged state: a CheckpointError that says what, never a TypeError from reading into it.
    expect(() => readCheckpoint(rewrite({ state: 'null' }))).toThrow(/checkpoint: state metadata is not a JSON object/);
    const { sampler: _s, ...noSampler } = JSON.parse(parsed.metadata.state);
    expect(() => readCheckpoint(rewrite({ state: JSON.stringify(noSampler) }))).toThrow(/checkpoint: state\.sampler must be an object, got undefined/);
    // Cut short anywhere (a write that never finished): a CheckpointError.
    for (const n of [0, 7, 9, 100, bytes.byteLength - 1]) expect(() => readCheckpoint(bytes.subarray(0, n)), `${n} bytes`).toThrow(CheckpointError);
  });

  it('resumes only into a run that trains exactly its tensors, each with its shape (checkParameters)', () => {
    const c = readCheckpoint(train({ stopAfter: 2 }).checkpoint!);
    const param = (name: string, shape: number[], o: Partial<Parameter> = {}): Parameter => ({
      name, shape, size: shape.reduce((a, b) => a * b, 1), layer: null, role: 'ffn', use: 'trained', decay: !name.endsWith('bias'), ...o,
    });
    const weight = param('dense.weight', [2, 3]);
    const bias = param('dense.bias', [2]);
    expect(() => checkParameters(c, new ParameterSet([weight, bias]))).not.toThrow();
    expect(() => checkParameters(c, new ParameterSet([weight, bias, param('head.weight', [1, 2])]))).toThrow(/has no weight head\.weight, which this run trains/);
    expect(() => checkParameters(c, new ParameterSet([weight, { ...bias, use: 'unused' }]))).toThrow(/holds 1 tensor\(s\) this run does not train \(dense\.bias\)/);
    expect(() => checkParameters(c, new ParameterSet([param('dense.weight', [3, 2]), bias]))).toThrow(/dense\.weight is \[2,3\] there, \[3,2\] in this run's model/);
  });
});

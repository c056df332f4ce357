import { describe, expect, it } from 'vitest';
import { defaultRunConfig, parseRunConfig, resolveForModel } from './run-config.ts';
import { stepsPlan } from './schedule.ts';
import { errorOf } from './run-config-testing.ts';

describe('parseRunConfig', () => {
  it('fills the recipe defaults from {}', () => {
    const c = parseRunConfig({});
    expect(c).toEqual(defaultRunConfig());
    expect(c).toMatchObject({
      lr: 2e-5, scheduler: 'cosine', warmupRatio: 0.1, batchSize: 32, epochs: 4, sampler: 'no_duplicates',
      weightDecay: 0, maxGradNorm: 1, seed: 42, shuffle: true, accumulation: 1,
      loss: { type: 'mnrl', scale: 20, matryoshka: { dims: [768, 512, 256, 128, 64] } },
    });
  });

  it('fills loss defaults per type and keeps what is given', () => {
    const c = parseRunConfig({ loss: { type: 'triplet' }, data: { testSplit: null, columns: { anchor: 'q', positive: 'p', negative: 'n' } } });
    expect(c.loss).toEqual({ type: 'triplet', margin: 5, distance: 'euclidean' });
    expect(c.data).toMatchObject({ testSplit: null, testFraction: 0.1, splitSeed: 42, columns: { anchor: 'q', positive: 'p', negative: 'n' } });
    expect(parseRunConfig({ loss: { type: 'cosent', scale: 30 } }).loss).toEqual({ type: 'cosent', scale: 30 });
  });

  it('rejects unknown fields and bad values with the field path', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ lerning_rate: 1 }, 'lerning_rate', /unknown field/],
      [{ eval: { beforee: true } }, 'eval.beforee', /unknown field/],
      [{ lr: -1 }, 'lr', /> 0/],
      [{ lr: '2e-5' }, 'lr', /must be a number/],
      [{ batchSize: 3.5 }, 'batchSize', /integer/],
      [{ scheduler: 'cosine_with_restarts' }, 'scheduler', /one of "constant", "linear", "cosine"/],
      [{ gradCache: { miniBatchSize: 64 } }, 'gradCache.miniBatchSize', /≤ batchSize \(32\)/],
      [{ gradCache: 'yes' }, 'gradCache', /"auto", "off"/],
      [{ loss: { type: 'mnrl', margin: 1 } }, 'loss.margin', /does not apply/],
      [{ loss: { type: 'softmax' } }, 'loss.type', /must be one of/],
      [{ loss: { type: 'mnrl', matryoshka: { dims: [64, 0] } } }, 'loss.matryoshka.dims[1]', /> 0/],
      [{ data: { columns: { anchor: 'q', positive: 'q' } } }, 'data.columns.positive', /already mapped to anchor/],
      [{ data: { columns: { anchor: 'q' } } }, 'data.columns', /anchor and positive/],
      [{ data: { testSplit: 'train' } }, 'data.testSplit', /must differ/],
      [{ shuffle: 'yes' }, 'shuffle', /true or false/],
      [{ version: 2 }, 'version', /version 1/],
      [{ backend: 'cuda' }, 'backend', /"auto", "webgpu", "wasm", "node"/],
    ];
    for (const [json, field, msg] of cases) {
      const e = errorOf(() => parseRunConfig(json));
      expect(e.field, JSON.stringify(json)).toBe(field);
      expect(e.message).toMatch(msg);
      expect(e.message.startsWith(`${field}: `)).toBe(true);
    }
  });

  it('feeds the step plan: the recipe with accumulation 16 is 48 updates in 4.41', () => {
    const c = parseRunConfig({ accumulation: 16, trainerVariant: 'transformers-4.41' });
    const p = stepsPlan({
      rows: 6300, batchSize: c.batchSize, dropLast: c.dropLast, accumulation: c.accumulation,
      ...(c.maxSteps ? { maxSteps: c.maxSteps } : { epochs: c.epochs }),
      warmupRatio: c.warmupRatio, warmupSteps: c.warmupSteps, variant: c.trainerVariant,
    });
    expect([p.maxSteps, p.warmupSteps]).toEqual([48, 5]);
  });
});

describe('Matryoshka dims against the model', () => {
  it('filters the default recipe dims for bge-small (384) and keeps them for bge-base', () => {
    expect(parseRunConfig({}, { hidden: 384 }).loss.matryoshka).toEqual({ dims: [384, 256, 128, 64] });
    expect(parseRunConfig({}, { hidden: 768 }).loss.matryoshka).toEqual({ dims: [768, 512, 256, 128, 64] });
    const w = parseRunConfig({ loss: { type: 'mnrl', matryoshka: { dims: [768, 512, 256, 128, 64], weights: [1, 2, 3, 4, 5] } } }, { hidden: 512 });
    expect(w.loss.matryoshka).toEqual({ dims: [512, 256, 128, 64], weights: [2, 3, 4, 5] });
  });

  it('refuses a user-written dim over the hidden size, naming it', () => {
    const e = errorOf(() => parseRunConfig({ loss: { type: 'mnrl', matryoshka: { dims: [384, 256, 512] } } }, { hidden: 384 }));
    expect(e.message).toBe("loss.matryoshka.dims[2]: must be ≤ 384 (the model's hidden size), got 512");
    const c = parseRunConfig({ loss: { type: 'mnrl', matryoshka: { dims: [256, 64] } } });
    expect(resolveForModel(c, { hidden: 384 })).toBe(c);
  });
});

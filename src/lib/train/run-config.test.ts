import { describe, expect, it } from 'vitest';
import {
  defaultRunConfig, fromSearchParams, overrideFromFlags, parseRunConfig, resolveForModel, RunConfigError, toSearchParams,
  type RunConfig,
} from './run-config.ts';
import { stepsPlan } from './schedule.ts';

function errorOf(f: () => unknown): RunConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RunConfigError);
    return e as RunConfigError;
  }
  throw new Error('expected a RunConfigError');
}

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

describe('flags', () => {
  it('overrides nested fields with typed values', () => {
    const c = overrideFromFlags(defaultRunConfig(), [
      '--lr', '1e-5', '--loss.scale', '30', '--no-shuffle', '--dropout=false', '--gradCache.miniBatchSize', '8',
      '--model.revision', '1234567', '--loss.matryoshka.dims', '768,256', '--maxSteps', '100', '--eval.everyEpoch',
    ]);
    expect(c).toMatchObject({
      lr: 1e-5, shuffle: false, dropout: false, gradCache: { miniBatchSize: 8 }, maxSteps: 100,
      model: { revision: '1234567' }, loss: { type: 'mnrl', scale: 30, matryoshka: { dims: [768, 256] } },
      eval: { everyEpoch: true },
    });
  });

  it('changing the loss type starts from that type’s defaults, in any flag order', () => {
    const c = overrideFromFlags(defaultRunConfig(), ['--loss.margin', '1', '--loss.type', 'triplet']);
    expect(c.loss).toEqual({ type: 'triplet', margin: 1, distance: 'euclidean', matryoshka: { dims: [768, 512, 256, 128, 64] } });
  });

  it('rejects unknown flags and bad values with the field path', () => {
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--lrr', '1'])).field).toBe('lrr');
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--batchSize', 'big'])).message).toMatch(/^batchSize: must be a number/);
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--loss.matryoshka.dims', '768,x'])).field).toBe('loss.matryoshka.dims');
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--__proto__.x', '1'])).message).toMatch(/not a field name/);
  });
});

describe('share links', () => {
  it('the default config makes an empty query', () => {
    expect(toSearchParams(defaultRunConfig()).toString()).toBe('');
  });

  it('round-trips a changed config with only the changed fields in the URL', () => {
    const c: RunConfig = parseRunConfig({
      model: { id: 'BAAI/bge-small-en-v1.5' },
      data: { source: './my data', columns: { anchor: 'q', positive: 'd', id: 'doc_id' }, testSplit: null, testFraction: 0.2 },
      loss: { type: 'mnrl_symmetric', scale: 25, matryoshka: { dims: [384, 128], weights: [1, 0.5] } },
      lr: 3e-5, gradCache: { miniBatchSize: 4 }, maxSteps: 50, sampler: 'batch', output: 'out/run 1', memoryBudgetMB: 2048,
    });
    const params = toSearchParams(c);
    expect([...params.keys()].sort()).toEqual(
      ['data.columns', 'data.source', 'data.testFraction', 'data.testSplit', 'gradCache', 'loss', 'lr', 'maxSteps', 'memoryBudgetMB', 'model.id', 'output', 'sampler'],
    );
    const back = fromSearchParams(new URLSearchParams(params.toString()));
    expect(back).toEqual(c);
  });

  it('ignores the page’s own parameters when asked, and rejects unknown ones otherwise', () => {
    const p = new URLSearchParams('hub=http://localhost:1&lr=0.0001');
    expect(fromSearchParams(p, { ignore: ['hub'] }).lr).toBe(1e-4);
    expect(errorOf(() => fromSearchParams(p)).field).toBe('hub');
  });
});

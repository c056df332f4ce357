import { describe, expect, it } from 'vitest';
import { fromSearchParams, toSearchParams } from './run-config-link.ts';
import { defaultRunConfig, parseRunConfig, type RunConfig } from './run-config.ts';
import { errorOf } from './run-config-testing.ts';

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
      trainable: { mode: 'lora', r: 16, targetModules: 'all-linear' },
    });
    const params = toSearchParams(c);
    expect([...params.keys()].sort()).toEqual(
      ['data.columns', 'data.source', 'data.testFraction', 'data.testSplit', 'gradCache', 'loss', 'lr', 'maxSteps', 'memoryBudgetMB', 'model.id', 'output', 'sampler', 'trainable'],
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

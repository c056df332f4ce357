import { describe, expect, it } from 'vitest';
import { overrideFromFlags } from './run-config-flags.ts';
import { defaultRunConfig } from './run-config.ts';
import { errorOf } from './run-config-testing.ts';

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

  it('reads the trainable section: a new mode starts from its defaults; target modules as a list or all-linear', () => {
    const c = overrideFromFlags(defaultRunConfig(), ['--trainable.r', '16', '--trainable.mode', 'lora', '--trainable.targetModules', 'query,output.dense']);
    expect(c.trainable).toEqual({ mode: 'lora', r: 16, alpha: 8, dropout: 0, targetModules: ['query', 'output.dense'] });
    expect(overrideFromFlags(c, ['--trainable.targetModules', 'all-linear']).trainable).toMatchObject({ targetModules: 'all-linear' });
    expect(overrideFromFlags(c, ['--trainable.mode', 'freeze', '--trainable.layers', '6']).trainable).toEqual({ mode: 'freeze', embeddings: true, layers: 6 });
    expect(errorOf(() => overrideFromFlags(c, ['--trainable.dropout', '2'])).field).toBe('trainable.dropout');
  });

  it('rejects unknown flags and bad values with the field path', () => {
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--lrr', '1'])).field).toBe('lrr');
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--batchSize', 'big'])).message).toMatch(/^batchSize: must be a number/);
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--loss.matryoshka.dims', '768,x'])).field).toBe('loss.matryoshka.dims');
    expect(errorOf(() => overrideFromFlags(defaultRunConfig(), ['--__proto__.x', '1'])).message).toMatch(/not a field name/);
  });
});

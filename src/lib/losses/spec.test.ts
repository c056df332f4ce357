import { describe, expect, it } from 'vitest';
import { LossSpecError, validateLossSpec } from './spec.ts';

describe('validateLossSpec', () => {
  it('accepts the recipe and every loss type, keeping only the given fields', () => {
    const recipe = { type: 'mnrl', matryoshka: { dims: [768, 512, 256, 128, 64] } };
    expect(validateLossSpec(recipe, { hidden: 768 })).toEqual(recipe);
    expect(validateLossSpec({ type: 'mnrl_symmetric', scale: 50 })).toEqual({ type: 'mnrl_symmetric', scale: 50 });
    expect(validateLossSpec({ type: 'triplet', margin: 0.5, distance: 'cosine' })).toEqual({ type: 'triplet', margin: 0.5, distance: 'cosine' });
    expect(validateLossSpec({ type: 'cosent', matryoshka: { dims: [8, 4], weights: [1, 2] } }, { hidden: 8 })).toEqual({
      type: 'cosent',
      matryoshka: { dims: [8, 4], weights: [1, 2] },
    });
  });

  const bad: [unknown, string, string][] = [
    ['mnrl', 'loss', 'loss: must be an object like { "type": "mnrl" }, got "mnrl"'],
    [{}, 'loss.type', 'loss.type: must be one of mnrl, mnrl_symmetric, triplet, cosent, got undefined'],
    [{ type: 'infonce' }, 'loss.type', 'got "infonce"'],
    [{ type: 'mnrl', scale: 0 }, 'loss.scale', 'loss.scale: must be a number > 0, got 0'],
    [{ type: 'cosent', scale: '20' }, 'loss.scale', 'got "20"'],
    [{ type: 'mnrl', margin: 5 }, 'loss.margin', 'loss.margin: does not apply to loss type mnrl'],
    [{ type: 'triplet', scale: 20 }, 'loss.scale', 'does not apply to loss type triplet'],
    [{ type: 'triplet', distance: 'l2' }, 'loss.distance', 'loss.distance: must be one of euclidean, cosine, manhattan, got "l2"'],
    [{ type: 'triplet', margin: null }, 'loss.margin', 'must be a finite number, got null'],
    [{ type: 'mnrl', temperature: 0.05 }, 'loss.temperature', 'loss.temperature: unknown field'],
    [{ type: 'mnrl', matryoshka: [768] }, 'loss.matryoshka', 'loss.matryoshka: must be an object'],
    [{ type: 'mnrl', matryoshka: { dim: [768] } }, 'loss.matryoshka.dim', 'unknown field'],
    [{ type: 'mnrl', matryoshka: { dims: [768, 1024] } }, 'loss.matryoshka.dims[1]', 'loss.matryoshka.dims[1]: 1024 exceeds the embedding size 768'],
    [{ type: 'mnrl', matryoshka: { dims: [768, -64] } }, 'loss.matryoshka.dims[1]', 'must be an integer > 0, got -64'],
    [{ type: 'mnrl', matryoshka: { dims: [768, 64], weights: [1] } }, 'loss.matryoshka.weights', 'must list one number per dim (2)'],
  ];
  for (const [raw, field, message] of bad) {
    it(`rejects ${JSON.stringify(raw)} naming ${field}`, () => {
      let err: unknown;
      try {
        validateLossSpec(raw, { hidden: 768 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LossSpecError);
      expect((err as LossSpecError).field).toBe(field);
      expect((err as Error).message).toContain(message);
    });
  }

  it('uses the caller\'s field path', () => {
    expect(() => validateLossSpec({ type: 'x' }, { field: 'config.loss' })).toThrow(/^config\.loss\.type: /);
  });
});

// The expected-speed estimate against hand counts (docs/what-to-train.md#expected-speed): full is
// 1×, freezing the lowest half with the embeddings 1.5×, frozen embeddings alone change nothing
// in the count, freezing layers while the embeddings train saves only weight gradients, and LoRA
// on every linear layer of bge-base at r = 16 is 3L / (2L + adapters).

import { describe, expect, it } from 'vitest';
import { stepCost } from './step-cost.ts';

const BASE = { hiddenSize: 768, numLayers: 12, intermediateSize: 3072 };
const f = 4 * 768 * 768 + 2 * 768 * 3072;

describe('stepCost', () => {
  it('full and freeze by hand', () => {
    expect(stepCost({ mode: 'full' }, BASE)).toEqual({ units: 36, speedup: 1 });
    expect(stepCost({ mode: 'freeze', embeddings: true, layers: 6 }, BASE).speedup).toBeCloseTo(36 / 24, 12);
    expect(stepCost({ mode: 'freeze', embeddings: true, layers: 0 }, BASE).speedup).toBe(1);
    expect(stepCost({ mode: 'freeze', embeddings: false, layers: 6 }, BASE).units).toBe(12 + 12 + 6);
  });

  it('LoRA: the input gradient from the lowest adapted layer up, plus the adapters', () => {
    // all-linear, r 16: per layer 4 modules 768→768, one 768→3072, one 3072→768.
    const perLayer = 3 * 16 * (4 * (768 + 768) + 2 * (768 + 3072));
    const all = stepCost({ mode: 'lora', r: 16, alpha: 32, dropout: 0, targetModules: 'all-linear' }, BASE);
    expect(all.units).toBeCloseTo(24 + (12 * perLayer) / f, 10);
    expect(all.speedup).toBeGreaterThan(1.4);
    expect(all.speedup).toBeLessThan(1.5);
    // query, value only: cheaper adapters, same input-gradient path.
    const qv = stepCost({ mode: 'lora', r: 8, alpha: 8, dropout: 0, targetModules: ['query', 'value'] }, BASE);
    expect(qv.units).toBeCloseTo(24 + (12 * 3 * 8 * 2 * 1536) / f, 10);
  });
});

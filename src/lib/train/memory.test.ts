import { describe, expect, it } from 'vitest';
import { bertParameters, parseBertConfig, trainableParameters } from '../models/bert-config.ts';
import { estimateActivationBytes, trainingMemoryEstimate } from './memory.ts';

// bge-small-en-v1.5's config.json, the fields that shape it.
const BGE_SMALL = parseBertConfig({
  model_type: 'bert', vocab_size: 30522, hidden_size: 384, num_hidden_layers: 12, num_attention_heads: 12,
  intermediate_size: 1536, max_position_embeddings: 512, type_vocab_size: 2,
});
const count = (ps: { shape: number[] }[]) => ps.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

describe('training memory estimate', () => {
  it("counts bge-small's parameters as the Hub does (33.36 M with the pooler; the pooler does not train)", () => {
    expect(count(bertParameters(BGE_SMALL))).toBe(33_360_000);
    expect(count(trainableParameters(BGE_SMALL))).toBe(33_360_000 - (384 * 384 + 384));
  });

  it('holds 16 bytes per parameter and the activations of the chosen step', () => {
    const params = count(trainableParameters(BGE_SMALL));
    const fused = trainingMemoryEstimate({ gradCache: 'off', memoryBudgetMB: null, batchSize: 32 }, BGE_SMALL, params, { runtimeKind: 'wasm' });
    expect(fused.state).toBe(16 * params);
    expect(fused.activations).toBe(estimateActivationBytes(BGE_SMALL, 64, 128));
    expect(fused.total).toBe(fused.state + fused.activations);
    const gc = trainingMemoryEstimate({ gradCache: { miniBatchSize: 8 }, memoryBudgetMB: null, batchSize: 32 }, BGE_SMALL, params, { tokens: 64, runtimeKind: 'webgpu' });
    expect(gc.path).toMatchObject({ path: 'gradcache', miniBatchSize: 8 });
    expect(gc.activations).toBe(estimateActivationBytes(BGE_SMALL, 8, 64));
    // Activations grow linearly in rows, faster than linearly in tokens (attention is T²).
    expect(estimateActivationBytes(BGE_SMALL, 16, 128)).toBe(2 * estimateActivationBytes(BGE_SMALL, 8, 128));
    expect(estimateActivationBytes(BGE_SMALL, 8, 256)).toBeGreaterThan(2 * estimateActivationBytes(BGE_SMALL, 8, 128));
  });
});

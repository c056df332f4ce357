import { expect, it } from 'vitest';
import { BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { createRuntime } from '../../src/lib/runtime/index.ts';
import { benchmarkTrainStep } from './train-step-bench.ts';

it('benchmarkTrainStep times full fused and GradCache steps (a 2-layer model here; bge-small in npm run bench)', async () => {
  const runtime = await createRuntime('node');
  const config = { ...BGE_SMALL_CONFIG, numLayers: 2, hiddenSize: 64, numHeads: 4, intermediateSize: 128, vocabSize: 500 };
  for (const path of ['fused', 'gradcache'] as const) {
    const r = await benchmarkTrainStep({ runtime, path, config, batch: 8, seq: 16, miniBatchSize: 4 });
    expect(r.stepS).toHaveLength(3);
    expect(r.stepsPerS).toBeGreaterThan(0);
    expect(r.tokensPerS).toBeCloseTo(r.stepsPerS * 2 * 8 * 16, 3);
  }
});

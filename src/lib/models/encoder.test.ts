// BertEncoder's fixedWeights mode (docs/encoder.md#inference-sessions): the weights written into
// the session give the embeddings the input-fed weights give, on node and WASM, and such an
// encoder refuses what would need its weights as inputs. The graphs themselves are tested in
// bert.test.ts and graphs.test.ts.

import { describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { createRuntime, type RuntimeKind } from '../runtime/index.ts';
import { loadTokenizerFromDir } from '../tokenize/node.ts';
import { BertEncoder } from './encoder.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';

describe('BertEncoder fixedWeights', () => {
  const dir = ensureFixtures().tinyBge;
  const model = loadSentenceModelFromDir(dir);
  const batch = loadTokenizerFromDir(dir).encodeBatch(['the red bird eats seeds', 'a quiet city', 'hello world hello world .']);

  for (const kind of ['node', 'wasm'] as RuntimeKind[]) {
    it(`${kind}: embeds as the input-fed encoder does, and says so`, async () => {
      const runtime = await createRuntime(kind, { threads: 1 });
      const fed = await BertEncoder.create(runtime, model);
      const baked = await BertEncoder.forInference(runtime, model);
      const [a, b] = [await fed.encode(batch), await baked.encode(batch)];
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      expect(a.length).toBe(3 * model.config.hiddenSize);
      expect(diff).toBeLessThan(1e-5);
      expect(baked.describe()).toContain('weights in the session');
      expect(fed.describe()).not.toContain('weights in the session');
      await expect(baked.encodeGrad(batch, new Float32Array(a.length))).rejects.toThrow('fixedWeights');
      expect(() => baked.setWeight('pooler.dense.weight', baked.weight('pooler.dense.weight'))).toThrow('fixedWeights');
      await Promise.all([fed.dispose(), baked.dispose()]);
    });
  }
});

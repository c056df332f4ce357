// The parameter set against what it must agree with: bge-small's shape (counts per role and
// layer, the Hub's parameter count), the HF Trainer's decay groups as the PyTorch reference script
// states them, and torch's named_parameters() order as the reference dump records it.
import { describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { loadReference } from '../../../tests/reference/load-reference.ts';
import { BGE_SMALL_CONFIG } from './bert-config.ts';
import { elements, type ParameterRole, parameterSet, ParameterSet } from './parameter-set.ts';
import { loadSentenceModelFromDir } from './sentence-model-node.ts';

const set = parameterSet(BGE_SMALL_CONFIG);
const C = 384;
const F = 1536;

describe('parameterSet (bge-small shape)', () => {
  it('has 199 tensors: 3 embedding tables, 8 attention and 4 FFN tensors per layer, 25 LayerNorms, the pooler', () => {
    const byRole = (r: ParameterRole) => set.all.filter((p) => p.role === r);
    expect(set.all).toHaveLength(199);
    expect(byRole('embedding').map((p) => p.name)).toEqual([
      'embeddings.word_embeddings.weight', 'embeddings.position_embeddings.weight', 'embeddings.token_type_embeddings.weight',
    ]);
    expect(byRole('attention')).toHaveLength(12 * 8);
    expect(byRole('ffn')).toHaveLength(12 * 4);
    expect(byRole('norm')).toHaveLength(2 * (1 + 2 * 12));
    expect(byRole('pooler').map((p) => p.name)).toEqual(['pooler.dense.weight', 'pooler.dense.bias']);
    expect(elements(byRole('embedding'))).toBe((30522 + 512 + 2) * C);
    expect(elements(byRole('attention'))).toBe(12 * 4 * (C * C + C));
    expect(elements(byRole('ffn'))).toBe(12 * (2 * F * C + F + C));
    expect(elements(byRole('norm'))).toBe(2 * C * 25);
  });

  it('trains everything but the pooler, which no graph reads; 33.36 M in all as the Hub counts', () => {
    expect(set.trained).toHaveLength(197);
    expect(set.inputs).toEqual(set.trained);
    expect(set.all.filter((p) => p.use === 'unused').map((p) => p.role)).toEqual(['pooler', 'pooler']);
    expect(set.totalSize).toBe(33_360_000);
    expect(set.trainedSize).toBe(33_360_000 - (C * C + C));
    for (const p of set.all) expect(p.size, p.name).toBe(p.shape.reduce((a, b) => a * b, 1));
  });

  it('layer indices: 16 tensors in each of layers 0..11, null for the embeddings and the pooler', () => {
    for (let l = 0; l < 12; l++) {
      const layer = set.all.filter((p) => p.layer === l);
      expect(layer, `layer ${l}`).toHaveLength(16);
      expect(layer.every((p) => p.name.startsWith(`encoder.layer.${l}.`))).toBe(true);
    }
    expect(set.all.filter((p) => p.layer === null).map((p) => p.name.split('.')[0])).toEqual([...Array(5).fill('embeddings'), 'pooler', 'pooler']);
    expect(set.get('encoder.layer.11.output.dense.weight')).toMatchObject({ layer: 11, role: 'ffn', shape: [C, F], decay: true, use: 'trained' });
  });

  it("decay groups are the HF Trainer's: no decay where the name says bias or LayerNorm (optim_reference.py's no_decay)", () => {
    // The rule as tests/reference/optim_reference.py, which torch's reference updates ran with, states it.
    const noDecay = (name: string) => name.includes('bias') || name.includes('LayerNorm');
    for (const p of set.all) expect(p.decay, p.name).toBe(!noDecay(p.name));
    // Embedding tables and the 6 linear weights of each layer decay; biases and LayerNorms do not.
    expect(set.trained.filter((p) => p.decay)).toHaveLength(3 + 12 * 6);
    expect(set.trained.filter((p) => !p.decay)).toHaveLength(197 - 75);
  });

  it("lists the tensors in torch's named_parameters() order (the PyTorch reference's own list), the pooler last, in both families", () => {
    const fx = ensureFixtures();
    for (const [dir, name] of [[fx.tinyBge, 'tiny-bge'], [fx.tinyXlmr, 'tiny-xlmr']] as const) {
      const model = loadSentenceModelFromDir(dir);
      const ref = loadReference(name);
      const tiny = parameterSet(model.config);
      expect(tiny.trained.map((p) => p.name), name).toEqual(ref.gradNames);
      expect(tiny.all.map((p) => p.name), name).toEqual([...ref.gradNames, ...ref.noGradNames]);
      for (const p of tiny.all) expect([...p.shape], p.name).toEqual(model.weights.get(p.name)!.shape);
    }
  });

  it('get names the parameter it lacks; a name listed twice is refused', () => {
    expect(set.has('pooler.dense.bias')).toBe(true);
    expect(() => set.get('bert.pooler.dense.bias')).toThrow(/no parameter bert\.pooler\.dense\.bias/);
    expect(() => new ParameterSet([set.all[0], set.all[0]])).toThrow(/embeddings\.word_embeddings\.weight is listed twice/);
    expect(set.trainedShapes().get('embeddings.position_embeddings.weight')).toEqual([512, C]);
  });
});

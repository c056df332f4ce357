// The trainable section: parsing and defaults, PEFT's target matching on BERT's module paths, what
// each mode freezes in the parameter set, and the adapters' initialisation.
import { describe, expect, it } from 'vitest';
import { BGE_SMALL_CONFIG } from './bert-config.ts';
import { parameterSet } from './parameter-set.ts';
import { describeTrainable, initAdapterWeights, linearModules, loraTargets, parseTrainable, resolveTrainable, type Trainable } from './trainable.ts';

const lora = (targetModules: string[] | 'all-linear'): Extract<Trainable, { mode: 'lora' }> => ({ mode: 'lora', r: 8, alpha: 16, dropout: 0, targetModules });
const modules = (t: string[] | 'all-linear') => loraTargets(BGE_SMALL_CONFIG, lora(t)).map((m) => m.module.replace(/^encoder\.layer\.\d+\./, 'L.'));
const count = (xs: string[]) => Object.fromEntries([...new Set(xs)].map((x) => [x, xs.filter((y) => y === x).length]));

describe('parseTrainable', () => {
  it('fills the defaults: full; freeze the embeddings; PEFT LoraConfig r 8, alpha 8, dropout 0 on query and value', () => {
    expect(parseTrainable({})).toEqual({ mode: 'full' });
    expect(parseTrainable({ mode: 'freeze', layers: 6 })).toEqual({ mode: 'freeze', embeddings: true, layers: 6 });
    expect(parseTrainable({ mode: 'lora' })).toEqual({ mode: 'lora', r: 8, alpha: 8, dropout: 0, targetModules: ['query', 'value'] });
    expect(parseTrainable({ mode: 'lora', r: 16, targetModules: 'all-linear' })).toMatchObject({ r: 16, targetModules: 'all-linear' });
  });

  it.each([
    [{ mode: 'adapters' }, 'trainable.mode'],
    [{ mode: 'full', r: 8 }, 'trainable.r'],
    [{ mode: 'freeze', embeddings: false, layers: 0 }, 'trainable'],
    [{ mode: 'freeze', layers: 1.5 }, 'trainable.layers'],
    [{ mode: 'lora', r: 0 }, 'trainable.r'],
    [{ mode: 'lora', alpha: -1 }, 'trainable.alpha'],
    [{ mode: 'lora', dropout: 1 }, 'trainable.dropout'],
    [{ mode: 'lora', targetModules: [] }, 'trainable.targetModules'],
    [{ mode: 'lora', targetModules: ['query', '.value'] }, 'trainable.targetModules[1]'],
    [{ mode: 'lora', targetModules: 'query' }, 'trainable.targetModules'],
    ['lora', 'trainable'],
  ])('refuses %j naming %s', (json, field) => {
    expect(() => parseTrainable(json)).toThrow(expect.objectContaining({ field }));
  });
});

describe('PEFT target matching on BertModel', () => {
  it('lists the 6 linear layers of each encoder layer and the pooler, in named_modules() order', () => {
    const l = linearModules(BGE_SMALL_CONFIG);
    expect(l).toHaveLength(12 * 6 + 1);
    expect(l.slice(0, 6).map((m) => m.module)).toEqual([
      'encoder.layer.0.attention.self.query', 'encoder.layer.0.attention.self.key', 'encoder.layer.0.attention.self.value',
      'encoder.layer.0.attention.output.dense', 'encoder.layer.0.intermediate.dense', 'encoder.layer.0.output.dense',
    ]);
    expect(l.at(-1)).toEqual({ module: 'pooler.dense', out: 384, in: 384, layer: null });
    expect(l[4]).toMatchObject({ out: 1536, in: 384 });
  });

  it('a target adapts the modules whose path equals it or ends with "." + it', () => {
    expect(count(modules(['query', 'value']))).toEqual({ 'L.attention.self.query': 12, 'L.attention.self.value': 12 });
    // output.dense: the attention output and the FFN output, not the intermediate dense.
    expect(count(modules(['output.dense']))).toEqual({ 'L.attention.output.dense': 12, 'L.output.dense': 12 });
    expect(count(modules(['dense']))).toEqual({ 'L.attention.output.dense': 12, 'L.intermediate.dense': 12, 'L.output.dense': 12, 'pooler.dense': 1 });
    expect(modules(['encoder.layer.3.attention.self.key'])).toEqual(['L.attention.self.key']);
    // No partial names: "uery" is not a module name.
    expect(() => modules(['uery'])).toThrow(/matches no linear layer/);
    expect(modules('all-linear')).toHaveLength(73);
  });

  it('refuses a target that names a module that is not a linear layer', () => {
    expect(() => modules(['LayerNorm'])).toThrow(/LayerNorm, which is not a linear layer/);
    expect(() => modules(['word_embeddings'])).toThrow(/not a linear layer/);
    expect(() => modules(['attention'])).toThrow(/not a linear layer/);
  });

  it('resolveTrainable checks the layer count, the rank and that something trains', () => {
    expect(() => resolveTrainable({ mode: 'freeze', embeddings: false, layers: 13 }, BGE_SMALL_CONFIG)).toThrow(/≤ 12/);
    expect(() => resolveTrainable({ mode: 'freeze', embeddings: true, layers: 12 }, BGE_SMALL_CONFIG)).toThrow(/nothing would train/);
    expect(() => resolveTrainable(lora(['pooler.dense']), BGE_SMALL_CONFIG)).toThrow(/only the pooler/);
    expect(() => resolveTrainable({ ...lora(['query']), r: 385 }, BGE_SMALL_CONFIG)).toThrow(/≤ 384/);
    expect(resolveTrainable(lora('all-linear'), BGE_SMALL_CONFIG)).toEqual(lora('all-linear'));
  });

  it('refuses LoRA dropout on an input wider than the dropout hash has column keys (bge-small FFN output: 1,536)', () => {
    expect(() => resolveTrainable({ ...lora('all-linear'), dropout: 0.1 }, BGE_SMALL_CONFIG)).toThrow(/trainable\.dropout: must be 0 when adapting encoder\.layer\.0\.output\.dense \(its input is 1536 wide/);
    expect(() => resolveTrainable({ ...lora(['output.dense']), dropout: 0.1 }, BGE_SMALL_CONFIG)).toThrow(/input is 1536 wide/);
    // Attention projections (384 wide) and dropout 0 on every layer are fine.
    expect(resolveTrainable({ ...lora(['query', 'value']), dropout: 0.1 }, BGE_SMALL_CONFIG).mode).toBe('lora');
    expect(resolveTrainable(lora('all-linear'), BGE_SMALL_CONFIG).mode).toBe('lora');
  });

  it('describes each mode', () => {
    expect(describeTrainable({ mode: 'freeze', embeddings: true, layers: 6 })).toBe('frozen embeddings + layers 0–5');
    expect(describeTrainable(lora(['query', 'value']))).toBe('LoRA r=8 α=16 on query, value');
  });
});

describe('parameterSet with a trainable mode', () => {
  it('freeze: the embeddings (tables and LayerNorm) and layers below k are frozen inputs; the pooler stays unused', () => {
    const set = parameterSet(BGE_SMALL_CONFIG, { mode: 'freeze', embeddings: true, layers: 6 });
    expect(set.frozen.every((p) => p.layer === null ? p.name.startsWith('embeddings.') : p.layer < 6)).toBe(true);
    expect(set.frozen).toHaveLength(5 + 6 * 16);
    expect(set.trained).toHaveLength(6 * 16);
    expect(set.trained.every((p) => p.layer !== null && p.layer >= 6)).toBe(true);
    expect(set.inputs).toHaveLength(197);
    expect(set.adapters).toEqual([]);
    expect(set.frozenSize + set.trainedSize).toBe(parameterSet(BGE_SMALL_CONFIG).trainedSize);
  });

  it('lora: the whole model frozen; A [r, in] and B [out, r] per target after it, named <module>.lora_A/B.weight', () => {
    const set = parameterSet(BGE_SMALL_CONFIG, lora('all-linear'));
    expect(set.base.filter((p) => p.use === 'trained')).toEqual([]);
    expect(set.frozen).toHaveLength(197);
    expect(set.all.slice(0, set.base.length)).toEqual(set.base);
    expect(set.adapters).toHaveLength(2 * 73);
    expect(set.get('encoder.layer.0.intermediate.dense.lora_A.weight')).toMatchObject({ shape: [8, 384], role: 'adapter', use: 'trained', decay: true, layer: 0, adapter: { module: 'encoder.layer.0.intermediate.dense', factor: 'A' } });
    expect(set.get('encoder.layer.0.intermediate.dense.lora_B.weight')).toMatchObject({ shape: [1536, 8], adapter: { factor: 'B' } });
    // The pooler's adapters exist (PEFT writes them) but no graph reads them.
    expect(set.get('pooler.dense.lora_A.weight').use).toBe('unused');
    expect(set.loraOf('pooler.dense')).toBeNull();
    expect(set.loraOf('encoder.layer.11.output.dense')!.b.shape).toEqual([384, 8]);
    expect(set.trained).toHaveLength(2 * 72);
    expect(set.lora).toEqual({ r: 8, alpha: 16, scale: 2, dropout: 0 });
    expect(set.totalSize).toBe(33_360_000);
    expect(set.trainedSize).toBe(12 * 8 * (4 * (384 + 384) + (384 + 1536) + (1536 + 384)));
  });

  it('initialises A as kaiming_uniform(a=√5) — uniform in ±1/√in — from the seeded stream, B as zeros', () => {
    const set = parameterSet(BGE_SMALL_CONFIG, lora(['query']));
    const w = initAdapterWeights(set.adapters, 42);
    const a = w.get('encoder.layer.0.attention.self.query.lora_A.weight')!;
    const bound = 1 / Math.sqrt(384);
    expect(a).toHaveLength(8 * 384);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(a.reduce((s, x) => s + x, 0) / a.length)).toBeLessThan(0.05 * bound);
    expect(w.get('encoder.layer.0.attention.self.query.lora_B.weight')!.every((x) => x === 0)).toBe(true);
    expect(initAdapterWeights(set.adapters, 42).get('encoder.layer.5.attention.self.query.lora_A.weight')).toEqual(w.get('encoder.layer.5.attention.self.query.lora_A.weight'));
    expect(initAdapterWeights(set.adapters, 43).get('encoder.layer.0.attention.self.query.lora_A.weight')).not.toEqual(a);
  });
});

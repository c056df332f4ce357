// The two export forms of a LoRA run: the merged weights equal base + (α/r)·B·A within 1e-6
// (computed here independently: the delta column by column in float64 from the A and B arrays),
// and the PEFT adapter folder's keys, shapes and adapter_config.json fields equal the committed
// reference made from PEFT's documented naming (tests/reference/peft_reference.py →
// data/peft-adapter.json), for PEFT's default targets, `output.dense`, `dense`, `all-linear` and
// an XLM-RoBERTa fixture, with the targets chosen by the run's own matching (trainable.ts).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { parseBertConfig } from '../models/bert-config.ts';
import { parseSafetensors } from '../models/safetensors.ts';
import { loraNames, loraTargets, parseTrainable } from '../models/trainable.ts';
import { Rng } from '../util/rng.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterFolderFiles, adaptersFromPeft, mergeLora } from './lora-export.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const REF = JSON.parse(readFileSync(join(ROOT, 'tests/reference/data/peft-adapter.json'), 'utf8')) as {
  config: Record<string, unknown>;
  run_fields: string[];
  files: string[];
  cases: { model: string; target_modules: string[] | 'all-linear'; r: number; keys: Record<string, number[]> }[];
};

const random = (n: number, rng: Rng) => Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);

describe('merged export', () => {
  it('W + (α/r)·B·A for each adapted module, every other tensor untouched, no adapter tensor left', () => {
    const rng = new Rng(7);
    const [out, inDim, r, alpha] = [6, 5, 3, 8];
    const base = new Map([
      ['encoder.layer.0.attention.self.query.weight', random(out * inDim, rng)],
      ['encoder.layer.0.attention.self.query.bias', random(out, rng)],
      ['encoder.layer.0.attention.self.key.weight', random(out * inDim, rng)],
    ]);
    const a = random(r * inDim, rng); // [r, in]
    const b = random(out * r, rng); // [out, r]
    const adapters = new Map([['encoder.layer.0.attention.self.query.lora_A.weight', a], ['encoder.layer.0.attention.self.query.lora_B.weight', b]]);
    const merged = mergeLora(base, adapters, { r, alpha });
    expect([...merged.keys()].sort()).toEqual([...base.keys()].sort());
    // Independent: the delta built column by column (Σ_k B[:,k] ⊗ A[k,:]) in float64.
    const w = base.get('encoder.layer.0.attention.self.query.weight')!;
    const delta = new Float64Array(out * inDim);
    for (let k = 0; k < r; k++) for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) delta[o * inDim + i] += b[o * r + k] * a[k * inDim + i];
    const m = merged.get('encoder.layer.0.attention.self.query.weight')!;
    let worst = 0;
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(m[j] - (w[j] + (alpha / r) * delta[j])));
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(Math.max(...m.map((x, j) => Math.abs(x - w[j])))).toBeGreaterThan(1e-3); // it did change
    expect(merged.get('encoder.layer.0.attention.self.key.weight')).toBe(base.get('encoder.layer.0.attention.self.key.weight'));
    expect(merged.get('encoder.layer.0.attention.self.query.bias')).toBe(base.get('encoder.layer.0.attention.self.query.bias'));
    // In place: the same values, written into the base's own array (no second copy of it).
    const own = new Map([...base].map(([k, v]) => [k, v.slice()]));
    const inPlace = mergeLora(own, adapters, { r, alpha }, { inPlace: true });
    expect(inPlace.get('encoder.layer.0.attention.self.query.weight')).toBe(own.get('encoder.layer.0.attention.self.query.weight'));
    expect(inPlace.get('encoder.layer.0.attention.self.query.weight')).toEqual(m);
  });

  it('refuses adapters that do not fit the weight, or an A without its B', () => {
    const base = new Map([['x.weight', new Float32Array(12)]]);
    expect(() => mergeLora(base, new Map([['x.lora_A.weight', new Float32Array(10)], ['x.lora_B.weight', new Float32Array(6)]]), { r: 2, alpha: 2 })).toThrow(/do not make/);
    expect(() => mergeLora(base, new Map([['x.lora_A.weight', new Float32Array(8)]]), { r: 2, alpha: 2 })).toThrow(/has no x.lora_B.weight/);
    expect(() => mergeLora(base, new Map([['y.lora_A.weight', new Float32Array(8)], ['y.lora_B.weight', new Float32Array(6)]]), { r: 2, alpha: 2 })).toThrow(/no y.weight/);
  });
});

describe('PEFT adapter folder', () => {
  const f = ensureFixtures();
  const dirs: Record<string, string> = { 'tiny-bge': f.tinyBge, 'tiny-xlmr': f.tinyXlmr };

  for (const c of REF.cases) {
    it(`${c.model}, target_modules ${JSON.stringify(c.target_modules)}: PEFT's keys and shapes, config fields`, () => {
      const config = parseBertConfig(JSON.parse(readFileSync(join(dirs[c.model], 'config.json'), 'utf8')));
      const spec = parseTrainable({ mode: 'lora', r: c.r, alpha: 2 * c.r, dropout: 0.1, targetModules: c.target_modules });
      if (spec.mode !== 'lora') throw new Error('not lora');
      const rng = new Rng(c.r);
      const adapters = new Map<string, Float32Array>();
      for (const m of loraTargets(config, spec)) {
        adapters.set(loraNames(m.module).a, random(c.r * m.in, rng));
        adapters.set(loraNames(m.module).b, random(m.out * c.r, rng));
      }
      const files = adapterFolderFiles({ spec, adapters, baseModel: 'org/base-model', revision: null });
      expect([...files.keys()].sort()).toEqual([...REF.files].sort());
      const st = parseSafetensors(files.get(ADAPTER_WEIGHTS_FILE)!);
      expect(Object.fromEntries([...st.tensors].map(([k, t]) => [k, t.shape]))).toEqual(c.keys);
      for (const t of st.tensors.values()) expect(t.dtype).toBe('F32');
      expect(st.metadata.format).toBe('pt');
      // The values round-trip to the run's names.
      const back = adaptersFromPeft(st.tensors as ReadonlyMap<string, { data: Float32Array }>);
      expect([...back.keys()].sort()).toEqual([...adapters.keys()].sort());
      for (const [k, v] of adapters) expect(back.get(k)).toEqual(v);

      const json = JSON.parse(new TextDecoder().decode(files.get(ADAPTER_CONFIG_FILE)!)) as Record<string, unknown>;
      expect(Object.keys(json).sort()).toEqual(Object.keys(REF.config).sort());
      for (const [k, v] of Object.entries(REF.config)) if (!REF.run_fields.includes(k)) expect(json[k], k).toEqual(v);
      expect(json).toMatchObject({ base_model_name_or_path: 'org/base-model', r: c.r, lora_alpha: 2 * c.r, lora_dropout: 0.1, target_modules: c.target_modules });
    });
  }

  it('refuses a file whose keys are not PEFT LoRA keys', () => {
    expect(() => adaptersFromPeft(new Map([['encoder.layer.0.attention.self.query.lora_A.weight', { data: new Float32Array(4) }]]))).toThrow(/PEFT's form/);
    expect(() => adaptersFromPeft(new Map([['base_model.model.x.lora_A.weight', { data: new Float32Array(4) }]]))).toThrow(/has no/);
  });
});

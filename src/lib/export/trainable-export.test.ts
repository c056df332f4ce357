// Each training mode through train.py and the model card. Python's `ast` reads the script back:
// a LoRA run's main() calls `model.add_adapter(LoraConfig(...))` with the run's r, alpha,
// dropout and target modules (resolved through the module constants) and task FEATURE_EXTRACTION;
// a freeze run calls `requires_grad_(False)` on the embeddings and on `encoder.layer[:k]`; a full
// run does neither. The card says the mode and the form (merged: a plain model; adapter: PEFT's
// folder on its base), and its snippets load what the package holds.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRunConfig } from '../train/run-config.ts';
import { modelCard } from './model-card.ts';
import { trainScript } from './python-script.ts';
import { type PyCall, readTrainScripts, type TrainScriptRead } from '../../../tests/reference/read-train-py.ts';

type Call = PyCall;
type ReadBack = TrainScriptRead;

const work = mkdtempSync(join(tmpdir(), 'tabtune-trainable-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const configs = {
  full: parseRunConfig({}),
  freeze: parseRunConfig({ trainable: { mode: 'freeze', embeddings: true, layers: 3 } }),
  lora: parseRunConfig({ trainable: { mode: 'lora', r: 16, alpha: 32, dropout: 0.05, targetModules: ['query', 'value', 'output.dense'] } }),
  allLinear: parseRunConfig({ trainable: { mode: 'lora', r: 4, alpha: 8, targetModules: 'all-linear' } }),
};

describe('train.py reproduces the mode (ast)', () => {
  const read = (() => {
    const paths = Object.entries(configs).map(([k, c]) => {
      const p = join(work, `train_${k}.py`);
      writeFileSync(p, trainScript(c));
      return p;
    });
    return readTrainScripts(paths);
  })();
  const [full, freeze, lora, allLinear] = read;
  const adapterCalls = (r: ReadBack) => r.calls.filter((c) => c.func === 'model.add_adapter');
  const frozen = (r: ReadBack) => r.calls.filter((c) => c.func.endsWith('.requires_grad_')).map((c) => ({ on: c.func.slice(0, -'.requires_grad_'.length), args: c.args }));

  it('full: no adapter, nothing frozen', () => {
    expect(full.consts.TRAINABLE).toBe('full');
    expect(adapterCalls(full)).toEqual([]);
    expect(frozen(full)).toEqual([]);
  });

  it('freeze: requires_grad_(False) on the embeddings and on encoder.layer[:FREEZE_LAYERS]', () => {
    expect(freeze.consts).toMatchObject({ TRAINABLE: 'freeze', FREEZE_EMBEDDINGS: true, FREEZE_LAYERS: 3 });
    expect(frozen(freeze)).toEqual([{ on: 'encoder.embeddings', args: [false] }, { on: 'layer', args: [false] }]);
    expect(freeze.loops).toContain('encoder.encoder.layer[:FREEZE_LAYERS]');
    expect(adapterCalls(freeze)).toEqual([]);
  });

  it('lora: model.add_adapter(LoraConfig(...)) with the run\'s settings', () => {
    expect(lora.consts.TRAINABLE).toBe('lora');
    expect(adapterCalls(lora)).toEqual([{
      func: 'model.add_adapter', kwargs: {},
      args: [{ call: 'LoraConfig', kwargs: { task_type: 'TaskType.FEATURE_EXTRACTION', r: 16, lora_alpha: 32, lora_dropout: 0.05, target_modules: ['query', 'value', 'output.dense'], bias: 'none' } }],
    }]);
    expect(frozen(lora)).toEqual([]);
    const [call] = adapterCalls(allLinear);
    expect((call.args[0] as Call).kwargs).toMatchObject({ r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: 'all-linear' });
  });
});

describe('the card says the mode and the form', () => {
  const card = (k: keyof typeof configs, form?: 'merged' | 'adapter') =>
    modelCard({ name: 'run', config: configs[k], before: null, after: null, step: 3, baseModel: 'org/base', dataSource: 'org/data' }, { form, repoId: 'me/model' });

  it('full and freeze: the mode, a plain model', () => {
    expect(card('full')).toContain('\n- What trained: full fine-tuning\n');
    expect(card('freeze')).toContain('\n- What trained: frozen embeddings + layers 0–2\n');
    expect(card('freeze')).toContain("pipeline('feature-extraction', \"me/model\")");
  });

  it('lora merged: a plain model with the ONNX snippet; lora adapter: PEFT\'s folder on its base, no transformers.js snippet', () => {
    const merged = card('lora');
    expect(merged).toContain('- What trained: LoRA r=16 α=32 dropout 0.05 on query, value, output.dense; the adapters are merged into the weights');
    expect(merged).toContain('A sentence-transformers model fine-tuned from');
    expect(merged).toContain("pipeline('feature-extraction'");
    expect(merged).toContain('- "lora"');
    expect(merged).not.toContain('- "peft"');
    const adapter = card('lora', 'adapter');
    expect(adapter).toContain('A PEFT LoRA adapter for a sentence-transformers model');
    expect(adapter).toContain('this is the adapter alone (`adapter_config.json`, `adapter_model.safetensors`');
    expect(adapter).toContain('model = SentenceTransformer("me/model")');
    expect(adapter).toContain('model.load_adapter("me/model")');
    expect(adapter).toContain('- "peft"');
    expect(adapter).not.toContain("pipeline('feature-extraction'");
  });
});

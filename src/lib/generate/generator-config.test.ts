// The generation model's checks on bad inputs beyond generator.ts' own: each refusal names the
// file and what to do; a good SmolLM2-shaped config passes with the shape it states; and
// loadGenerator applies them to the fixture decoder (an oversized config refused before any
// weights load, no chat template → plain prompt with a notice).

import { describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { folderFileSource } from './generator-node.ts';
import { complete, loadGenerator, type ModelFileSource } from './generator.ts';
import {
  checkConfigFileSize, checkExternalData, checkGenerationLength, decoderShape, GENERATOR_CONFIG_LIMITS, kvCacheBytes, MAX_CHAT_TEMPLATE_CHARS, MAX_CONFIG_BYTES, promptFormat,
} from './generator-config.ts';

/** HuggingFaceTB/SmolLM2-135M-Instruct's config.json shape fields. */
const SMOLLM2 = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, intermediate_size: 1536, vocab_size: 49152, max_position_embeddings: 8192, tie_word_embeddings: true,
};
const W = 'test/model';
const err = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('did not throw');
};

describe('decoderShape', () => {
  it("reads SmolLM2-135M's shape and counts its ~135M parameters", () => {
    const s = decoderShape(SMOLLM2, W);
    expect(s).toMatchObject({ modelType: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocab: 49152, tiedEmbeddings: true });
    expect(s.parameters).toBeGreaterThan(134e6);
    expect(s.parameters).toBeLessThan(135e6);
  });

  it('bounds each shape field before anything is sized from it', () => {
    expect(err(() => decoderShape({ ...SMOLLM2, num_hidden_layers: 1e9 }, W))).toBe(`${W}: config.json num_hidden_layers is 1000000000, over the limit of ${GENERATOR_CONFIG_LIMITS.num_hidden_layers} (the largest published decoders stay below it)`);
    expect(err(() => decoderShape({ ...SMOLLM2, vocab_size: -3 }, W))).toMatch(/vocab_size must be a positive integer, got -3/);
    expect(err(() => decoderShape({ ...SMOLLM2, hidden_size: '576' }, W))).toMatch(/hidden_size must be a positive integer, got "576"/);
    expect(err(() => decoderShape({ ...SMOLLM2, vocab_size: undefined }, W))).toMatch(/config.json has no vocab_size/);
    expect(err(() => decoderShape({ ...SMOLLM2, num_key_value_heads: 4 }, W))).toMatch(/num_attention_heads 9 is not a multiple of num_key_value_heads 4/);
    expect(err(() => decoderShape({ ...SMOLLM2, num_attention_heads: 7, num_key_value_heads: 7 }, W))).toMatch(/hidden_size 576 is not a multiple of num_attention_heads 7/);
    // Every field within its limit, together past the parameter bound.
    expect(err(() => decoderShape({ ...SMOLLM2, hidden_size: 16384, num_attention_heads: 128, num_key_value_heads: 8, num_hidden_layers: 126, intermediate_size: 53248 }, W))).toMatch(/claims a 40[0-9]\.\dB-parameter model, over the limit of 17\.2B/);
  });

  it('bounds a JSON file before it is parsed', () => {
    expect(() => checkConfigFileSize('config.json', MAX_CONFIG_BYTES, W)).not.toThrow();
    expect(err(() => checkConfigFileSize('config.json', MAX_CONFIG_BYTES + 1, W))).toMatch(/config.json is 4194305 bytes, over the 4 MiB limit/);
  });
});

describe('checkGenerationLength', () => {
  const s = decoderShape(SMOLLM2, W);
  it("sizes the past keys and values as transformers.js keeps them (2 × layers × KV heads × head dim × tokens × 4 B)", () => {
    expect(kvCacheBytes(s, 1000)).toBe(2 * 30 * 3 * 64 * 1000 * 4);
    expect(() => checkGenerationLength(s, 500, 256, W)).not.toThrow();
  });
  it('refuses a prompt + new tokens past the positions or the cache limit', () => {
    expect(err(() => checkGenerationLength(s, 8000, 256, W))).toMatch(/reads at most 8192 tokens; the prompt \(8000\) plus max new tokens \(256\) is 8256/);
    const big = decoderShape({ ...SMOLLM2, num_key_value_heads: 9, max_position_embeddings: 1_000_000 }, W);
    expect(err(() => checkGenerationLength(big, 100_000, 256, W))).toMatch(/need \d+ MiB of past keys and values, over the 2 GiB limit/);
  });
});

describe('checkExternalData', () => {
  const q4 = 'onnx/model_q4f16.onnx';
  it('passes a variant whose data chunks are declared and present, or that has none', () => {
    expect(() => checkExternalData([q4, `${q4}_data`], { 'transformers.js_config': { use_external_data_format: { 'model_q4f16.onnx': 1 } } }, q4, W)).not.toThrow();
    expect(() => checkExternalData([q4, `${q4}_data`, `${q4}_data_1`], { 'transformers.js_config': { use_external_data_format: 2 } }, q4, W)).not.toThrow();
    expect(() => checkExternalData(['onnx/model.onnx'], {}, 'onnx/model.onnx', W)).not.toThrow();
  });
  it('refuses undeclared data (transformers.js would not fetch it) and declared data that is missing', () => {
    expect(err(() => checkExternalData([q4, `${q4}_data`], {}, q4, W))).toMatch(/onnx\/model_q4f16.onnx_data is in the repo but config.json's transformers.js_config.use_external_data_format does not declare it/);
    expect(err(() => checkExternalData([q4, `${q4}_data`], { 'transformers.js_config': { use_external_data_format: 2 } }, q4, W))).toMatch(/declares 2 external data file\(s\) for onnx\/model_q4f16.onnx, but onnx\/model_q4f16.onnx_data_1 is not in the repo/);
    expect(err(() => checkExternalData([q4], { 'transformers.js_config': { use_external_data_format: 1e6 } }, q4, W))).toMatch(/must be true, false or a chunk count from 0 to 100/);
  });
});

describe('promptFormat', () => {
  it('uses a chat template when there is one, plain text with a notice when not', () => {
    expect(promptFormat({ chat_template: '{{ messages[0].content }}' }, W)).toEqual({ kind: 'chat' });
    expect(promptFormat({ chat_template: [{ name: 'default', template: 'x' }, { name: 'tool_use', template: 'y' }] }, W)).toEqual({ kind: 'chat' });
    const p = promptFormat({ bos_token: '<s>' }, W);
    expect(p.kind).toBe('plain');
    expect(p.kind === 'plain' && p.notice).toMatch(/^test\/model has no chat template .* the prompt goes in as plain text/);
  });
  it('refuses a chat_template of the wrong type or size', () => {
    expect(err(() => promptFormat({ chat_template: 42 }, W))).toMatch(/chat_template must be a string, got number/);
    expect(err(() => promptFormat({ chat_template: [{ name: 'default' }] }, W))).toMatch(/chat_template "default" must be a string, got undefined/);
    expect(err(() => promptFormat({ chat_template: 'x'.repeat(MAX_CHAT_TEMPLATE_CHARS + 1) }, W))).toMatch(/over the 256 KiB limit for a chat template/);
    expect(err(() => promptFormat('nope', W))).toMatch(/tokenizer_config.json is not a JSON object/);
  });
});

describe('loadGenerator applies them', () => {
  const fx = ensureFixtures();
  /** The fixture decoder with some files replaced. */
  const patched = (label: string, replace: Record<string, unknown>): ModelFileSource => {
    const base = folderFileSource(fx.tinyDecoder, label);
    return {
      label,
      list: base.list,
      read: async (path) => (path in replace ? new TextEncoder().encode(JSON.stringify(replace[path])) : base.read(path)),
    };
  };
  const json = async (path: string) => JSON.parse(new TextDecoder().decode((await folderFileSource(fx.tinyDecoder).read(path))!)) as Record<string, unknown>;

  it('refuses an oversized config before any weights load', async () => {
    const config = { ...(await json('config.json')), num_hidden_layers: 1e9 };
    let onnxRead = false;
    const src = patched('org/huge', { 'config.json': config });
    const watched: ModelFileSource = { ...src, read: async (p) => ((onnxRead ||= p.endsWith('.onnx')), src.read(p)) };
    await expect(loadGenerator(watched, { backend: 'node' })).rejects.toThrow(/^org\/huge: config.json num_hidden_layers is 1000000000, over the limit of 256/);
    expect(onnxRead).toBe(false);
  });

  it('without a chat template, prompts with plain text and says so; the length bound holds per document', async () => {
    const { chat_template: _, ...tokenizerConfig } = await json('tokenizer_config.json');
    const gen = await loadGenerator(patched('org/base-model', { 'tokenizer_config.json': tokenizerConfig }), { backend: 'node', dtype: 'fp32' });
    try {
      expect(gen.chat).toBe(false);
      expect(gen.promptNotice).toMatch(/^org\/base-model has no chat template/);
      const c = await complete(gen, 'Paris is the capital of France.', { maxNewTokens: 4 });
      expect(c.newIds.length).toBeGreaterThan(0);
      // The prompt is fed as is: no ChatML markers (<|im_start|> is token 1) around it.
      expect(c.promptIds).not.toContain(1);
      await expect(complete(gen, 'x', { maxNewTokens: gen.shape!.maxPositions })).rejects.toThrow(/org\/base-model reads at most 2048 tokens; the prompt \(\d+\) plus max new tokens \(2048\)/);
    } finally {
      await gen.dispose();
    }
  }, 60_000);
});

// The generation model's checks on bad inputs: each refusal names the file and what to do, and a
// good SmolLM2-shaped config passes with the shape it states.

import { describe, expect, it } from 'vitest';
import { bertConfigJson } from '../../../tests/fixtures/tiny-bert.ts';
import {
  checkConfigFileSize, checkGenerationLength, GENERATOR_CONFIG_LIMITS, kvCacheBytes, MAX_CHAT_TEMPLATE_CHARS, MAX_CONFIG_BYTES, MAX_ONNX_VARIANT_BYTES,
  onnxVariants, parseGeneratorConfig, pickOnnxVariant, promptFormat,
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

describe('parseGeneratorConfig', () => {
  it("reads SmolLM2-135M's shape and counts its ~135M parameters", () => {
    const s = parseGeneratorConfig(SMOLLM2, W);
    expect(s).toMatchObject({ modelType: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocab: 49152, tiedEmbeddings: true });
    expect(s.parameters).toBeGreaterThan(134e6);
    expect(s.parameters).toBeLessThan(135e6);
  });

  it('refuses our BERT fixture as an encoder, naming it and suggesting a decoder', () => {
    const m = err(() => parseGeneratorConfig(bertConfigJson(1000, 'float32'), W));
    expect(m).toMatch(/^test\/model is an encoder or embedding model \(model_type "bert", BertModel\), not a decoder, not a text-generation model/);
    expect(m).toContain('SmolLM2');
  });

  it('refuses a sequence-to-sequence model and an unknown model_type', () => {
    expect(err(() => parseGeneratorConfig({ model_type: 't5', architectures: ['T5ForConditionalGeneration'], is_encoder_decoder: true }, W))).toMatch(/sequence-to-sequence model \(model_type "t5", T5ForConditionalGeneration\), not a text-generation model/);
    expect(err(() => parseGeneratorConfig({ model_type: 'my_llm', architectures: ['MyForCausalLM'] }, W))).toMatch(/a model_type "my_llm", MyForCausalLM model, not a text-generation model/);
    expect(err(() => parseGeneratorConfig({ architectures: ['LlamaForCausalLM'] }, W))).toMatch(/a config without model_type|LlamaForCausalLM model/);
    expect(err(() => parseGeneratorConfig([1, 2], W))).toMatch(/config.json is not a JSON object/);
  });

  it('bounds each shape field before anything is sized from it', () => {
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, num_hidden_layers: 1e9 }, W))).toBe(`${W}: config.json num_hidden_layers is 1000000000, over the limit of ${GENERATOR_CONFIG_LIMITS.num_hidden_layers} (the largest published decoders stay below it)`);
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, vocab_size: -3 }, W))).toMatch(/vocab_size must be a positive integer, got -3/);
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, hidden_size: '576' }, W))).toMatch(/hidden_size must be a positive integer, got "576"/);
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, vocab_size: undefined }, W))).toMatch(/config.json has no vocab_size/);
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, num_key_value_heads: 4 }, W))).toMatch(/num_attention_heads 9 is not a multiple of num_key_value_heads 4/);
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, num_attention_heads: 7, num_key_value_heads: 7 }, W))).toMatch(/hidden_size 576 is not a multiple of num_attention_heads 7/);
    // Every field within its limit, together past the parameter bound.
    expect(err(() => parseGeneratorConfig({ ...SMOLLM2, hidden_size: 16384, num_attention_heads: 128, num_key_value_heads: 8, num_hidden_layers: 126, intermediate_size: 53248 }, W))).toMatch(/claims a 40[0-9]\.\dB-parameter model, over the limit of 17\.2B/);
  });

  it('bounds a JSON file before it is parsed', () => {
    expect(() => checkConfigFileSize('config.json', MAX_CONFIG_BYTES, W)).not.toThrow();
    expect(err(() => checkConfigFileSize('config.json', MAX_CONFIG_BYTES + 1, W))).toMatch(/config.json is 4194305 bytes, over the 4 MiB limit/);
  });
});

describe('checkGenerationLength', () => {
  const s = parseGeneratorConfig(SMOLLM2, W);
  it("sizes the past keys and values as transformers.js keeps them (2 × layers × KV heads × head dim × tokens × 4 B)", () => {
    expect(kvCacheBytes(s, 1000)).toBe(2 * 30 * 3 * 64 * 1000 * 4);
    expect(() => checkGenerationLength(s, 500, 256, W)).not.toThrow();
  });
  it('refuses a prompt + new tokens past the positions or the cache limit', () => {
    expect(err(() => checkGenerationLength(s, 8000, 256, W))).toMatch(/reads at most 8192 tokens; the prompt \(8000\) plus max new tokens \(256\) is 8256/);
    const big = parseGeneratorConfig({ ...SMOLLM2, num_key_value_heads: 9, max_position_embeddings: 1_000_000 }, W);
    expect(err(() => checkGenerationLength(big, 100_000, 256, W))).toMatch(/need \d+ MiB of past keys and values, over the 2 GiB limit/);
  });
});

describe('pickOnnxVariant', () => {
  const listing = (...paths: [string, number][]) => paths.map(([path, size]) => ({ path, size }));
  it('takes the backend\'s first preference the repo has, with its external data when declared', () => {
    const files = listing(['config.json', 1], ['onnx/model.onnx', 500], ['onnx/model_quantized.onnx', 130], ['onnx/model_q4f16.onnx', 1], ['onnx/model_q4f16.onnx_data', 90]);
    const cfg = { 'transformers.js_config': { use_external_data_format: { 'model_q4f16.onnx': 1 } } };
    expect(pickOnnxVariant(files, cfg, ['q8', 'fp32'], W)).toEqual({ dtype: 'q8', files: ['onnx/model_quantized.onnx'], bytes: 130 });
    expect(pickOnnxVariant(files, cfg, ['q4f16', 'fp16'], W)).toEqual({ dtype: 'q4f16', files: ['onnx/model_q4f16.onnx', 'onnx/model_q4f16.onnx_data'], bytes: 91 });
    // Undeclared external data: transformers.js would not fetch it, so the variant is not offered.
    expect(onnxVariants(files, {}).map((v) => v.dtype)).toEqual(['fp32', 'q8']);
    // Nothing preferred present: what there is.
    expect(pickOnnxVariant(listing(['onnx/model_fp16.onnx', 3]), {}, ['q8', 'fp32'], W).dtype).toBe('fp16');
  });

  it('refuses a repo without the ONNX layout transformers.js loads, saying what it has', () => {
    expect(err(() => pickOnnxVariant(listing(['config.json', 1], ['model.safetensors', 9]), {}, ['q8'], W))).toMatch(/^test\/model has only PyTorch weights, not the onnx\/model.onnx .* optimum-cli export onnx --task text-generation-with-past$/);
    expect(err(() => pickOnnxVariant(listing(['model.onnx', 9], ['decoder_model_merged.onnx', 9]), {}, ['q8'], W))).toMatch(/has ONNX files elsewhere \(model.onnx, decoder_model_merged.onnx\)/);
    expect(err(() => pickOnnxVariant(listing(['onnx/model.onnx', 9], ['onnx/model.onnx_data', 9]), {}, ['fp32'], W))).toMatch(/do not match what config.json's transformers.js_config.use_external_data_format declares/);
    expect(err(() => pickOnnxVariant(listing(['onnx/model.onnx', MAX_ONNX_VARIANT_BYTES + 1]), {}, ['fp32'], W))).toMatch(/every ONNX variant is over the 4.0 GiB a tab can load \(fp32 4.0 GiB\)/);
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

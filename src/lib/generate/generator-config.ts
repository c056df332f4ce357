// The checks a question-generation model passes beyond generator.ts' own (a causal LM's
// model_type, an ONNX variant for the backend), before anything heavy is allocated: its
// config.json is bounded in bytes and its shape fields are bounded numbers (the past-key-value
// inputs and the cache are sized from them); one document's prompt plus its new tokens fit the
// model's positions and a KV-cache bound; an ONNX variant's external data is declared the way
// transformers.js needs to fetch it; and tokenizer_config.json's chat template is usable or
// absent. Each function takes parsed JSON or a file list and throws a GenerationModelError whose
// message names the file, the value and what to do. Not the loader (generator.ts) and not the
// prompt (questions.ts).
//
// A missing chat template is not refused: the prompt goes in as plain text, as to a base model
// (InPars prompts base models this way), and `promptFormat` returns the notice the page and the
// CLI show (docs/generate.md#bad-models).

import { GenerationModelError } from './generator.ts';

/** What the generator and the memory check read from config.json. */
export interface DecoderShape {
  modelType: string;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  tiedEmbeddings: boolean;
  /** Estimated from the shape (Llama-style blocks); the files' sizes are checked separately. */
  parameters: number;
}

/**
 * The most config.json may claim for each shape field, checked before anything is built from it
 * (a config is untrusted; `num_hidden_layers: 1e9` would otherwise size a billion past-key-value
 * inputs). Generous: Llama 3.1 405B (126 layers, hidden 16,384, 128 heads, FFN 53,248, vocab
 * 128,256, 131,072 positions) sits inside, and no tab runs anything near it.
 */
export const GENERATOR_CONFIG_LIMITS = {
  num_hidden_layers: 256,
  hidden_size: 32_768,
  num_attention_heads: 256,
  num_key_value_heads: 256,
  head_dim: 1024,
  intermediate_size: 262_144,
  vocab_size: 1_048_576,
  max_position_embeddings: 2_097_152,
} as const;

/** All parameters together: 2^34 (~17B). A tab holds at most a few GB; past this no variant loads. */
export const MAX_GENERATOR_PARAMETERS = 2 ** 34;

/** The largest config.json or tokenizer_config.json read (real ones are a few KB; chat templates ~10 KB). */
export const MAX_CONFIG_BYTES = 4 * 2 ** 20;

/** The longest chat template compiled (transformers.js parses it as Jinja): real ones are < 20 KB. */
export const MAX_CHAT_TEMPLATE_CHARS = 256 * 1024;

/** The most past-key-value memory one document's generation may need: 2 GiB. */
export const MAX_KV_CACHE_BYTES = 2 * 2 ** 30;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Throws when `bytes` of `file` is past MAX_CONFIG_BYTES: call it before decoding or parsing. */
export function checkConfigFileSize(file: string, bytes: number, where: string): void {
  if (bytes > MAX_CONFIG_BYTES) throw new GenerationModelError(`${where}: ${file} is ${bytes} bytes, over the ${MAX_CONFIG_BYTES / 2 ** 20} MiB limit for a model's JSON file; this is not a model's ${file}`);
}

function positiveInt(config: Record<string, unknown>, key: keyof typeof GENERATOR_CONFIG_LIMITS, where: string, fallback?: number): number {
  const x = config[key] ?? fallback;
  if (x === undefined) throw new GenerationModelError(`${where}: config.json has no ${key}`);
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new GenerationModelError(`${where}: config.json ${key} must be a positive integer, got ${String(JSON.stringify(x)).slice(0, 40)}`);
  const limit = GENERATOR_CONFIG_LIMITS[key];
  if (x > limit) throw new GenerationModelError(`${where}: config.json ${key} is ${x}, over the limit of ${limit} (the largest published decoders stay below it)`);
  return x;
}

/**
 * config.json → the decoder's shape, or a GenerationModelError: a shape field missing, not a
 * positive integer or past GENERATOR_CONFIG_LIMITS; heads that do not divide; a parameter count
 * past MAX_GENERATOR_PARAMETERS. O(1): reads numbers, builds nothing. The model_type check
 * (generator.ts' checkGenerationConfig) comes first.
 */
export function decoderShape(json: Record<string, unknown>, where: string): DecoderShape {
  const modelType = String(json.model_type);
  // Decoders name these the Llama way; GPT-2-style configs (n_layer, n_embd, n_head) are mapped by transformers.js' normalized config, so take their names too.
  const alias = (k: string, ...others: string[]) => json[k] ?? others.map((o) => json[o]).find((v) => v !== undefined);
  const c: Record<string, unknown> = {
    num_hidden_layers: alias('num_hidden_layers', 'n_layer', 'num_layers'),
    hidden_size: alias('hidden_size', 'n_embd', 'd_model'),
    num_attention_heads: alias('num_attention_heads', 'n_head', 'num_heads'),
    num_key_value_heads: json.num_key_value_heads,
    head_dim: json.head_dim,
    intermediate_size: alias('intermediate_size', 'n_inner', 'ffn_dim'),
    vocab_size: json.vocab_size,
    max_position_embeddings: alias('max_position_embeddings', 'n_positions', 'n_ctx'),
  };
  const layers = positiveInt(c, 'num_hidden_layers', where);
  const hidden = positiveInt(c, 'hidden_size', where);
  const heads = positiveInt(c, 'num_attention_heads', where);
  const kvHeads = positiveInt(c, 'num_key_value_heads', where, heads);
  if (heads % kvHeads !== 0) throw new GenerationModelError(`${where}: config.json num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hidden / heads : positiveInt(c, 'head_dim', where);
  if (!Number.isInteger(headDim)) throw new GenerationModelError(`${where}: config.json hidden_size ${hidden} is not a multiple of num_attention_heads ${heads} (and no head_dim is given)`);
  const intermediate = positiveInt(c, 'intermediate_size', where, 4 * hidden);
  const vocab = positiveInt(c, 'vocab_size', where);
  const maxPositions = positiveInt(c, 'max_position_embeddings', where, 2048);
  const tiedEmbeddings = json.tie_word_embeddings !== false;
  // Embeddings (and the head when untied), then per layer: Q and O (H·D × C), K and V (KV·D × C), a gated MLP (3 × F × C), two norms.
  const perLayer = 2 * hidden * heads * headDim + 2 * hidden * kvHeads * headDim + 3 * hidden * intermediate + 2 * hidden;
  const parameters = vocab * hidden * (tiedEmbeddings ? 1 : 2) + layers * perLayer + hidden;
  if (parameters > MAX_GENERATOR_PARAMETERS) {
    throw new GenerationModelError(`${where}: config.json claims a ${(parameters / 1e9).toFixed(1)}B-parameter model, over the limit of ${(MAX_GENERATOR_PARAMETERS / 1e9).toFixed(1)}B; no browser tab holds it — pick a model under ~1B parameters`);
  }
  return { modelType, layers, hidden, heads, kvHeads, headDim, intermediate, vocab, maxPositions, tiedEmbeddings, parameters };
}

/** Bytes of the past keys and values after `tokens` tokens (float32 on WASM, `bytesPer` 2 for fp16 caches). */
export function kvCacheBytes(s: Pick<DecoderShape, 'layers' | 'kvHeads' | 'headDim'>, tokens: number, bytesPer = 4): number {
  return 2 * s.layers * s.kvHeads * s.headDim * tokens * bytesPer;
}

/** Throws when one document's prompt + generated tokens would not fit the model or MAX_KV_CACHE_BYTES. */
export function checkGenerationLength(s: DecoderShape, promptTokens: number, maxNewTokens: number, where: string): void {
  const total = promptTokens + maxNewTokens;
  if (total > s.maxPositions) throw new GenerationModelError(`${where} reads at most ${s.maxPositions} tokens; the prompt (${promptTokens}) plus max new tokens (${maxNewTokens}) is ${total}: shorten the chunks or lower max new tokens`);
  const bytes = kvCacheBytes(s, total);
  if (bytes > MAX_KV_CACHE_BYTES) throw new GenerationModelError(`${where}: ${total} tokens need ${(bytes / 2 ** 20).toFixed(0)} MiB of past keys and values, over the ${MAX_KV_CACHE_BYTES / 2 ** 30} GiB limit: shorten the chunks or lower max new tokens`);
}

/**
 * Throws when the chosen ONNX file's external data (`onnx/model….onnx_data`, `…_data_1`, …) and
 * config.json's `transformers.js_config.use_external_data_format` disagree: transformers.js
 * fetches exactly the chunks declared there (for the file's name or for "model"), so an
 * undeclared chunk is never fetched and onnxruntime fails on a tensor it cannot find, and a
 * declared one that is missing fails the download.
 */
export function checkExternalData(paths: readonly string[], config: Record<string, unknown>, onnxFile: string, where: string): void {
  const have = new Set(paths);
  const name = onnxFile.slice(onnxFile.lastIndexOf('/') + 1);
  const js = isObject(config['transformers.js_config']) ? config['transformers.js_config'] : {};
  const f = js.use_external_data_format;
  const declared = isObject(f) ? Number(f[name] ?? f.model ?? 0) : Number(f ?? 0);
  if (!Number.isInteger(declared) || declared < 0 || declared > 100) throw new GenerationModelError(`${where}: config.json transformers.js_config.use_external_data_format for ${name} must be true, false or a chunk count from 0 to 100`);
  const chunk = (i: number) => `${onnxFile}_data${i === 0 ? '' : `_${i}`}`;
  const missing = Array.from({ length: declared }, (_, i) => chunk(i)).filter((c) => !have.has(c));
  if (missing.length) throw new GenerationModelError(`${where}: config.json declares ${declared} external data file(s) for ${onnxFile}, but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in the repo`);
  if (have.has(chunk(declared))) throw new GenerationModelError(`${where}: ${chunk(declared)} is in the repo but config.json's transformers.js_config.use_external_data_format does not declare it, so transformers.js would not fetch it and the model could not load; pick another variant or an export that declares it`);
}

export type PromptFormat = { kind: 'chat' } | { kind: 'plain'; notice: string };

/**
 * How the prompt reaches the model, from tokenizer_config.json: through its chat template when it
 * has one (a string, or a list of named templates with a "default"), else as plain text with a
 * notice. A chat_template of another type, or one past MAX_CHAT_TEMPLATE_CHARS, is refused.
 */
export function promptFormat(tokenizerConfig: unknown, where: string): PromptFormat {
  if (!isObject(tokenizerConfig)) throw new GenerationModelError(`${where}: tokenizer_config.json is not a JSON object`);
  const t = tokenizerConfig.chat_template;
  const plain: PromptFormat = { kind: 'plain', notice: `${where} has no chat template (tokenizer_config.json chat_template), so the prompt goes in as plain text, as to a base model; an instruct model answers better through its template` };
  if (t === undefined || t === null || t === '') return plain;
  const check = (s: unknown, what: string): string => {
    if (typeof s !== 'string') throw new GenerationModelError(`${where}: tokenizer_config.json ${what} must be a string, got ${Array.isArray(s) ? 'an array' : typeof s}`);
    if (s.length > MAX_CHAT_TEMPLATE_CHARS) throw new GenerationModelError(`${where}: tokenizer_config.json ${what} is ${s.length} characters, over the ${MAX_CHAT_TEMPLATE_CHARS / 1024} KiB limit for a chat template`);
    return s;
  };
  if (Array.isArray(t)) {
    let found = false;
    for (const e of t) {
      if (!isObject(e)) throw new GenerationModelError(`${where}: tokenizer_config.json chat_template is a list whose entries must be {name, template}`);
      check(e.template, `chat_template "${String(e.name).slice(0, 40)}"`);
      found ||= e.name === 'default';
    }
    return found ? { kind: 'chat' } : plain;
  }
  check(t, 'chat_template');
  return { kind: 'chat' };
}

// The checks a question-generation model passes before anything heavy is fetched or allocated:
// its config.json is a decoder-only causal LM that transformers.js 4.3.2 runs for text
// generation (AutoModelForCausalLM's own model_type table, so this agrees with the library that
// will load it), its shape fields are bounded numbers, the repo holds an ONNX file in the layout
// transformers.js loads (`onnx/model{suffix}.onnx`, plus `…onnx_data` chunks when config.json's
// `transformers.js_config.use_external_data_format` says so), and its tokenizer_config.json's chat
// template is either usable or absent. Every function takes parsed JSON or a file listing and
// throws a GeneratorModelError with a message that names the file, the value and what to do.
// Not the loader (generator.ts fetches and runs the model) and not the prompt (questions.ts).
//
// A missing chat template is not refused: the prompt goes in as plain text, as to a base model
// (InPars prompts base models this way), and `promptFormat` returns the notice the page and the
// CLI show.

import { AutoModelForCausalLM } from '@huggingface/transformers';

export class GeneratorModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GeneratorModelError';
  }
}

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

/**
 * The largest ONNX variant (graph + external data) the page loads: 4 GiB. WASM memory stops at
 * 4 GiB, and a WebGPU tab that holds more is past what browsers give one page.
 */
export const MAX_ONNX_VARIANT_BYTES = 4 * 2 ** 30;

/** The most past-key-value memory one document's generation may need: 2 GiB. */
export const MAX_KV_CACHE_BYTES = 2 * 2 ** 30;

/** The transformers.js dtypes a repo may offer for a decoder, by file suffix (DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const ONNX_DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;
export type OnnxDtype = keyof typeof ONNX_DTYPE_SUFFIX;

/** Which variant each backend tries first: WebGPU's half-precision kernels, WASM's int8 MatMul. */
export const DTYPE_PREFERENCE: Record<'webgpu' | 'wasm', readonly OnnxDtype[]> = {
  webgpu: ['q4f16', 'fp16', 'q4', 'fp32', 'q8'],
  wasm: ['q8', 'fp32', 'int8', 'uint8', 'q4'],
};

const causalTypes = (): ReadonlyMap<string, string> => AutoModelForCausalLM.MODEL_CLASS_MAPPINGS[0] as ReadonlyMap<string, string>;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Throws when `bytes` of `file` is past MAX_CONFIG_BYTES: call it before decoding or parsing. */
export function checkConfigFileSize(file: string, bytes: number, where: string): void {
  if (bytes > MAX_CONFIG_BYTES) throw new GeneratorModelError(`${where}: ${file} is ${bytes} bytes, over the ${MAX_CONFIG_BYTES / 2 ** 20} MiB limit for a model's JSON file; this is not a model's ${file}`);
}

/** "BertModel", "T5ForConditionalGeneration": what a refusal says the model is, when it says. */
function kindOf(config: Record<string, unknown>): string {
  const arch = Array.isArray(config.architectures) && typeof config.architectures[0] === 'string' ? config.architectures[0].slice(0, 100) : null;
  const type = typeof config.model_type === 'string' ? config.model_type.slice(0, 100) : null;
  const named = [type && `model_type "${type}"`, arch].filter(Boolean).join(', ');
  if (config.is_encoder_decoder === true || (arch && /ForConditionalGeneration$|ForSeq2SeqLM$/.test(arch))) return `a sequence-to-sequence model (${named})`;
  if (arch && /(Model|ForMaskedLM|ForSequenceClassification|ForTokenClassification|ForQuestionAnswering)$/.test(arch)) return `an encoder or embedding model (${named}), not a decoder`;
  return named ? `a ${named} model` : 'a config without model_type';
}

function positiveInt(config: Record<string, unknown>, key: keyof typeof GENERATOR_CONFIG_LIMITS, where: string, fallback?: number): number {
  const x = config[key] ?? fallback;
  if (x === undefined) throw new GeneratorModelError(`${where}: config.json has no ${key}`);
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new GeneratorModelError(`${where}: config.json ${key} must be a positive integer, got ${String(JSON.stringify(x)).slice(0, 40)}`);
  const limit = GENERATOR_CONFIG_LIMITS[key];
  if (x > limit) throw new GeneratorModelError(`${where}: config.json ${key} is ${x}, over the limit of ${limit} (the largest published decoders stay below it)`);
  return x;
}

/**
 * config.json → the decoder's shape, or a GeneratorModelError: not an object; a model_type that
 * transformers.js has no causal-LM class for (an encoder such as our BERT models, a
 * sequence-to-sequence model, a vision model); a shape field missing, not a positive integer or
 * past GENERATOR_CONFIG_LIMITS; heads that do not divide; a parameter count past
 * MAX_GENERATOR_PARAMETERS. O(1): reads numbers, builds nothing.
 */
export function parseGeneratorConfig(json: unknown, where: string): DecoderShape {
  if (!isObject(json)) throw new GeneratorModelError(`${where}: config.json is not a JSON object`);
  const modelType = json.model_type;
  if (typeof modelType !== 'string' || !causalTypes().has(modelType)) {
    throw new GeneratorModelError(
      `${where} is ${kindOf(json)}, not a text-generation model: question generation needs a decoder-only causal language model that transformers.js runs (model_type such as "llama", "qwen2", "phi3", "gemma"), e.g. HuggingFaceTB/SmolLM2-360M-Instruct or onnx-community/Qwen2.5-0.5B-Instruct`,
    );
  }
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
  if (heads % kvHeads !== 0) throw new GeneratorModelError(`${where}: config.json num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hidden / heads : positiveInt(c, 'head_dim', where);
  if (!Number.isInteger(headDim)) throw new GeneratorModelError(`${where}: config.json hidden_size ${hidden} is not a multiple of num_attention_heads ${heads} (and no head_dim is given)`);
  const intermediate = positiveInt(c, 'intermediate_size', where, 4 * hidden);
  const vocab = positiveInt(c, 'vocab_size', where);
  const maxPositions = positiveInt(c, 'max_position_embeddings', where, 2048);
  const tiedEmbeddings = json.tie_word_embeddings !== false;
  // Embeddings (and the head when untied), then per layer: Q and O (H·D × C), K and V (KV·D × C), a gated MLP (3 × F × C), two norms.
  const perLayer = 2 * hidden * heads * headDim + 2 * hidden * kvHeads * headDim + 3 * hidden * intermediate + 2 * hidden;
  const parameters = vocab * hidden * (tiedEmbeddings ? 1 : 2) + layers * perLayer + hidden;
  if (parameters > MAX_GENERATOR_PARAMETERS) {
    throw new GeneratorModelError(`${where}: config.json claims a ${(parameters / 1e9).toFixed(1)}B-parameter model, over the limit of ${(MAX_GENERATOR_PARAMETERS / 1e9).toFixed(1)}B; no browser tab holds it — pick a model under ~1B parameters`);
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
  if (total > s.maxPositions) throw new GeneratorModelError(`${where} reads at most ${s.maxPositions} tokens; the prompt (${promptTokens}) plus max new tokens (${maxNewTokens}) is ${total}: shorten the chunks or lower max new tokens`);
  const bytes = kvCacheBytes(s, total);
  if (bytes > MAX_KV_CACHE_BYTES) throw new GeneratorModelError(`${where}: ${total} tokens need ${(bytes / 2 ** 20).toFixed(0)} MiB of past keys and values, over the ${MAX_KV_CACHE_BYTES / 2 ** 30} GiB limit: shorten the chunks or lower max new tokens`);
}

/** One loadable ONNX variant of a repo: its dtype, the files transformers.js fetches for it, their size. */
export interface OnnxVariant {
  dtype: OnnxDtype;
  files: string[];
  bytes: number;
}

/** How many `…onnx_data` chunks transformers.js fetches for `onnx/model{suffix}.onnx` (its resolveExternalDataFormat). */
function externalChunks(config: Record<string, unknown>, fullName: string): number {
  const js = isObject(config['transformers.js_config']) ? config['transformers.js_config'] : {};
  const f = js.use_external_data_format;
  const n = isObject(f) ? Number(f[fullName] ?? f.model ?? 0) : Number(f ?? 0);
  return Number.isInteger(n) && n >= 0 && n <= 100 ? n : 0;
}

/**
 * The variants of `onnx/model*.onnx` that a repo's listing holds completely, in ONNX_DTYPE_SUFFIX
 * order. A variant whose external data the config declares but the listing lacks, or whose
 * `…onnx_data` is listed but undeclared (transformers.js would not fetch it and onnxruntime fails
 * on a missing tensor), is left out — `pickOnnxVariant` says why when nothing is left.
 */
export function onnxVariants(listing: readonly { path: string; size: number }[], config: Record<string, unknown>): OnnxVariant[] {
  const size = new Map(listing.map((f) => [f.path, f.size]));
  const out: OnnxVariant[] = [];
  for (const [dtype, suffix] of Object.entries(ONNX_DTYPE_SUFFIX) as [OnnxDtype, string][]) {
    const name = `model${suffix}.onnx`;
    const graph = `onnx/${name}`;
    if (!size.has(graph)) continue;
    const chunks = externalChunks(config, name);
    const data = Array.from({ length: chunks }, (_, i) => `${graph}_data${i === 0 ? '' : `_${i}`}`);
    if (data.some((d) => !size.has(d))) continue;
    if (chunks === 0 && size.has(`${graph}_data`)) continue;
    const files = [graph, ...data];
    out.push({ dtype, files, bytes: files.reduce((s, f) => s + size.get(f)!, 0) });
  }
  return out;
}

/**
 * The first variant of `preference` the listing holds, within MAX_ONNX_VARIANT_BYTES, or a
 * GeneratorModelError that says what the repo has instead (safetensors only: how to convert; a
 * variant with undeclared or missing external data; only variants too big).
 */
export function pickOnnxVariant(listing: readonly { path: string; size: number }[], config: Record<string, unknown>, preference: readonly OnnxDtype[], where: string): OnnxVariant {
  const variants = onnxVariants(listing, config);
  const fits = variants.filter((v) => v.bytes <= MAX_ONNX_VARIANT_BYTES);
  for (const d of preference) {
    const v = fits.find((x) => x.dtype === d);
    if (v) return v;
  }
  if (fits.length > 0) return fits[0];
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  if (variants.length > 0) throw new GeneratorModelError(`${where}: every ONNX variant is over the ${gb(MAX_ONNX_VARIANT_BYTES)} a tab can load (${variants.map((v) => `${v.dtype} ${gb(v.bytes)}`).join(', ')}); pick a smaller model`);
  const onnx = listing.map((f) => f.path).filter((p) => /\.onnx(_data(_\d+)?)?$/.test(p));
  if (onnx.some((p) => /^onnx\/model[^/]*\.onnx$/.test(p))) {
    throw new GeneratorModelError(`${where}: its ONNX files (${onnx.slice(0, 6).join(', ')}) do not match what config.json's transformers.js_config.use_external_data_format declares, so transformers.js cannot load them (it fetches onnx/model*.onnx_data only when declared)`);
  }
  const has = onnx.length > 0 ? `ONNX files elsewhere (${onnx.slice(0, 4).join(', ')})` : listing.some((f) => /\.safetensors$|\.bin$/.test(f.path)) ? 'only PyTorch weights' : 'no model weights';
  throw new GeneratorModelError(
    `${where} has ${has}, not the onnx/model.onnx (or model_quantized.onnx, model_q4f16.onnx, …) that transformers.js loads for text generation: pick an ONNX build (the onnx-community/… and HuggingFaceTB/…-Instruct repos carry one) or export it with optimum-cli export onnx --task text-generation-with-past`,
  );
}

export type PromptFormat = { kind: 'chat' } | { kind: 'plain'; notice: string };

/**
 * How the prompt reaches the model, from tokenizer_config.json: through its chat template when it
 * has one (a string, or a list of named templates with a "default"), else as plain text with a
 * notice. A chat_template of another type, or one past MAX_CHAT_TEMPLATE_CHARS, is refused.
 */
export function promptFormat(tokenizerConfig: unknown, where: string): PromptFormat {
  if (!isObject(tokenizerConfig)) throw new GeneratorModelError(`${where}: tokenizer_config.json is not a JSON object`);
  const t = tokenizerConfig.chat_template;
  const plain: PromptFormat = { kind: 'plain', notice: `${where} has no chat template (tokenizer_config.json chat_template), so the prompt goes in as plain text, as to a base model; an instruct model answers better through its template` };
  if (t === undefined || t === null || t === '') return plain;
  const check = (s: unknown, what: string): string => {
    if (typeof s !== 'string') throw new GeneratorModelError(`${where}: tokenizer_config.json ${what} must be a string, got ${Array.isArray(s) ? 'an array' : typeof s}`);
    if (s.length > MAX_CHAT_TEMPLATE_CHARS) throw new GeneratorModelError(`${where}: tokenizer_config.json ${what} is ${s.length} characters, over the ${MAX_CHAT_TEMPLATE_CHARS / 1024} KiB limit for a chat template`);
    return s;
  };
  if (Array.isArray(t)) {
    let found = false;
    for (const e of t) {
      if (!isObject(e)) throw new GeneratorModelError(`${where}: tokenizer_config.json chat_template is a list whose entries must be {name, template}`);
      check(e.template, `chat_template "${String(e.name).slice(0, 40)}"`);
      found ||= e.name === 'default';
    }
    return found ? { kind: 'chat' } : plain;
  }
  check(t, 'chat_template');
  return { kind: 'chat' };
}

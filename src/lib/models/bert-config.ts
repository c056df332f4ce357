// The Hugging Face BertConfig fields the encoder uses, read from `config.json`
// (docs/encoder.md#model-folder), and the parameter list of BertModel with its shapes
// (docs/encoder.md#parameters), which every family in architectures.ts shares once its weight
// prefix is gone.
// Not the families themselves (architectures.ts: model types, prefixes, positions, shape
// presets), not the weights (sentence-model.ts) and not the graph (bert.ts).

import { architectureOfType, preset, supportedTypesText, type FamilyName } from './architectures.ts';

/** An encoder's shape and settings, whatever its family (the name stays BERT's: every family here is BertModel's graph). */
export interface BertConfig {
  /** Which architectures.ts record built it: position offset, weight prefixes, token types. */
  family: FamilyName;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenDropout: number;
  attentionDropout: number;
  padTokenId: number;
}

export { SUPPORTED_MODEL_TYPES } from './architectures.ts';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

/** bge-small-en-v1.5's shape (architectures.ts' BERT preset), for benchmarks and tests. */
export const BGE_SMALL_CONFIG: BertConfig = preset('BAAI/bge-small-en-v1.5').config;

/** bge-base-en-v1.5's shape: bge-small's with hidden 768 and FFN 3072 (for benchmarks). */
export const BGE_BASE_CONFIG: BertConfig = preset('BAAI/bge-base-en-v1.5').config;

/**
 * The most config.json may claim for each shape field, checked before any parameter list or
 * buffer is built from it: a config is untrusted, and `num_hidden_layers: 1e9` would otherwise
 * build a billion layers' parameter list. Generous: bge-m3 (XLM-RoBERTa large: 24 layers, hidden
 * 1024, 16 heads, FFN 4096, vocab 250,002, 8,194 positions) and bge-large sit far inside, as does
 * the largest BERT-family encoder published (XLM-R XXL: 48 layers, hidden 4096, FFN 16,384).
 */
export const CONFIG_LIMITS = {
  num_hidden_layers: 128,
  hidden_size: 8192,
  num_attention_heads: 128,
  intermediate_size: 65_536,
  vocab_size: 1_048_576,
  max_position_embeddings: 65_536,
  type_vocab_size: 1024,
} as const;
/** All parameters together: 2^32 (16 GiB as float32), 7× bge-m3's 568M and past any device here. */
export const MAX_PARAMETERS = 2 ** 32;
/** Fields with a default when config.json leaves them out (as transformers' BertConfig). */
const SHAPE_DEFAULTS: Partial<Record<keyof typeof CONFIG_LIMITS, number>> = { max_position_embeddings: 512, type_vocab_size: 2 };

/**
 * What is wrong with config.json's shape fields — a positive integer within CONFIG_LIMITS each,
 * hidden_size a multiple of num_attention_heads, pad_token_id inside the vocabulary, and
 * MAX_PARAMETERS in all — naming the field, its value and the limit; null when nothing is. O(1):
 * it reads numbers and builds nothing, so every loader (Hub, folder, the page's worker) calls it
 * first.
 */
export function bertShapeProblem(c: Record<string, unknown>): string | null {
  const v: Record<string, number> = {};
  for (const [key, limit] of Object.entries(CONFIG_LIMITS) as [keyof typeof CONFIG_LIMITS, number][]) {
    const x = c[key] ?? SHAPE_DEFAULTS[key];
    if (x === undefined) return `config.json has no ${key}`;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) return `config.json: ${key} must be a positive integer, got ${JSON.stringify(x) ?? String(x)}`;
    if (x > limit) return `config.json: ${key} is ${x}, over the limit of ${limit} (the largest BERT-family encoders stay far below it)`;
    v[key] = x;
  }
  if (v.hidden_size % v.num_attention_heads !== 0) return `config.json: hidden_size ${v.hidden_size} is not a multiple of num_attention_heads ${v.num_attention_heads}`;
  const pad = c.pad_token_id;
  if (typeof pad === 'number' && pad >= v.vocab_size) return `config.json: pad_token_id ${pad} is outside the vocabulary (vocab_size ${v.vocab_size})`;
  const C = v.hidden_size;
  const F = v.intermediate_size;
  const layer = 4 * (C * C + C) + 2 * (F * C) + F + C + 4 * C;
  const params = (v.vocab_size + v.max_position_embeddings + v.type_vocab_size + 2) * C + v.num_hidden_layers * layer + C * C + C;
  if (params > MAX_PARAMETERS) return `config.json: the shape claims ${params.toExponential(2)} parameters, over the limit of ${MAX_PARAMETERS.toExponential(2)} (2^32)`;
  return null;
}

/** Parses config.json; rejects model types no family in architectures.ts builds and settings the encoder does not implement. */
export function parseBertConfig(json: unknown, file = 'config.json'): BertConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelLoadError(`${file}: not a JSON object`);
  const c = json as Record<string, unknown>;
  const type = c.model_type;
  const arch = architectureOfType(type);
  if (!arch) throw new ModelLoadError(`${file}: model_type ${JSON.stringify(type)} is not supported; supported: ${supportedTypesText()}`);
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ModelLoadError(`${file}: ${key} must be a non-negative integer, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const prob = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ModelLoadError(`${file}: ${key} must be in [0, 1), got ${JSON.stringify(c[key])}`);
    return v;
  };
  const act = c.hidden_act ?? 'gelu';
  if (act !== 'gelu') throw new ModelLoadError(`${file}: hidden_act ${JSON.stringify(act)} is not supported; supported: "gelu" (exact erf form)`);
  const pos = c.position_embedding_type ?? 'absolute';
  if (pos !== 'absolute') throw new ModelLoadError(`${file}: position_embedding_type ${JSON.stringify(pos)} is not supported; supported: "absolute"`);
  const shape = bertShapeProblem(c);
  if (shape) throw new ModelLoadError(shape.replace(/^config\.json/, file));
  const config: BertConfig = {
    family: arch.family,
    vocabSize: int('vocab_size'),
    hiddenSize: int('hidden_size'),
    numLayers: int('num_hidden_layers'),
    numHeads: int('num_attention_heads'),
    intermediateSize: int('intermediate_size'),
    maxPositions: int('max_position_embeddings', 512),
    typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: typeof c.layer_norm_eps === 'number' ? c.layer_norm_eps : 1e-12,
    hiddenDropout: prob('hidden_dropout_prob', 0.1),
    attentionDropout: prob('attention_probs_dropout_prob', 0.1),
    padTokenId: int('pad_token_id', arch.defaultPadTokenId),
  };
  if (config.numHeads === 0 || config.hiddenSize % config.numHeads !== 0) {
    throw new ModelLoadError(`${file}: hidden_size ${config.hiddenSize} is not a multiple of num_attention_heads ${config.numHeads}`);
  }
  const offset = arch.positionOffset(config);
  if (config.maxPositions <= offset) {
    throw new ModelLoadError(`${file}: max_position_embeddings ${config.maxPositions} leaves no position for a token: ${arch.label} positions start at ${offset} (pad_token_id + 1)`);
  }
  return config;
}

/**
 * BertModel's parameters in state_dict order, with shapes ([out, in] for nn.Linear): what the
 * model file holds. The pooler is listed last and marked: sentence-transformers never uses it.
 * A run reads them through its parameter set (parameter-set.ts), which says what each one is and
 * whether it trains.
 */
export function bertParameters(c: BertConfig): { name: string; shape: number[]; pooler?: true }[] {
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const p: { name: string; shape: number[]; pooler?: true }[] = [
    { name: 'embeddings.word_embeddings.weight', shape: [c.vocabSize, C] },
    { name: 'embeddings.position_embeddings.weight', shape: [c.maxPositions, C] },
    { name: 'embeddings.token_type_embeddings.weight', shape: [c.typeVocabSize, C] },
    { name: 'embeddings.LayerNorm.weight', shape: [C] },
    { name: 'embeddings.LayerNorm.bias', shape: [C] },
  ];
  const linear = (prefix: string, out: number, inp: number) =>
    p.push({ name: `${prefix}.weight`, shape: [out, inp] }, { name: `${prefix}.bias`, shape: [out] });
  const norm = (prefix: string) => p.push({ name: `${prefix}.weight`, shape: [C] }, { name: `${prefix}.bias`, shape: [C] });
  for (let l = 0; l < c.numLayers; l++) {
    const L = `encoder.layer.${l}`;
    linear(`${L}.attention.self.query`, C, C);
    linear(`${L}.attention.self.key`, C, C);
    linear(`${L}.attention.self.value`, C, C);
    linear(`${L}.attention.output.dense`, C, C);
    norm(`${L}.attention.output.LayerNorm`);
    linear(`${L}.intermediate.dense`, F, C);
    linear(`${L}.output.dense`, C, F);
    norm(`${L}.output.LayerNorm`);
  }
  p.push({ name: 'pooler.dense.weight', shape: [C, C], pooler: true }, { name: 'pooler.dense.bias', shape: [C], pooler: true });
  return p;
}

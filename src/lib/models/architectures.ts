// The model families the engine builds, one record each: which config.json `model_type`s a family
// accepts, the weight-name prefixes its checkpoints carry, where its position ids start, whether
// it reads token types, the files its folder holds and the shapes of its published models. Config
// parsing, Hub file selection, weight loading, the encoder, the ONNX and folder exports, the
// tokenizer's usable length and the memory account all read these records; none keeps a list of
// its own. Adding a family is one record here plus its tests (docs/extending.md).
// Not the parameter names (bert-config.ts bertParameters: every family here has BertModel's
// names once its prefix is gone) and not the graph (bert.ts: the same post-LN encoder for all).

import type { BertConfig } from './bert-config.ts';
import type { PoolingMode } from './pooling.ts';

export type FamilyName = 'bert' | 'xlm-roberta';

/** A published model's shape, for benchmarks, the memory account and its suggestions. */
export interface ShapePreset {
  /** Its Hub id. */
  id: string;
  config: BertConfig;
  /** The pooling its sentence-transformers folder uses. */
  pooling: PoolingMode;
  /** Trained for many languages: what a refusal may suggest in place of a multilingual model. */
  multilingual: boolean;
}

export interface Architecture {
  family: FamilyName;
  /** How the page and errors name it. */
  label: string;
  /** config.json `model_type`s it builds. */
  modelTypes: readonly string[];
  /** The transformers class of the bare encoder, written as config.json's `architectures` on export. */
  modelClass: string;
  /**
   * Prefixes a checkpoint's tensor names may carry (the task heads' `base_model_prefix`:
   * `BertForMaskedLM` saves `bert.embeddings…`); stripped on load, names without one taken as they are.
   */
  weightPrefixes: readonly string[];
  /** pad_token_id when config.json leaves it out (transformers' config class default). */
  defaultPadTokenId: number;
  /**
   * The first position id of a text. RoBERTa-style models number positions from padding_idx + 1
   * (transformers' create_position_ids_from_input_ids: cumsum(ids ≠ pad)·(ids ≠ pad) + pad), so
   * the first pad + 1 rows of the position table are never read by a real token.
   */
  positionOffset(c: Pick<BertConfig, 'padTokenId'>): number;
  /** Whether the tokenizer and the exported ONNX model carry token_type_ids (XLM-R: type_vocab_size 1, none). */
  tokenTypes: boolean;
  /**
   * The family's own tokenizer files, kept when present (tokenizer.json, which the engine reads,
   * is in MODEL_FILES): carried into a fine-tuned folder so the slow Python tokenizer loads it too.
   */
  tokenizerExtras: readonly string[];
  presets: readonly ShapePreset[];
}

const BGE_SMALL: BertConfig = {
  family: 'bert',
  vocabSize: 30522,
  hiddenSize: 384,
  numLayers: 12,
  numHeads: 12,
  intermediateSize: 1536,
  maxPositions: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
  padTokenId: 0,
};

/** XLM-RoBERTa base (multilingual-e5-base): 12 × 768, 12 heads, FFN 3072, 250,002 tokens, 514 positions. */
const XLMR_BASE: BertConfig = {
  family: 'xlm-roberta',
  vocabSize: 250_002,
  hiddenSize: 768,
  numLayers: 12,
  numHeads: 12,
  intermediateSize: 3072,
  maxPositions: 514,
  typeVocabSize: 1,
  layerNormEps: 1e-5,
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
  padTokenId: 1,
};

export const BERT: Architecture = {
  family: 'bert',
  label: 'BERT',
  modelTypes: ['bert'],
  modelClass: 'BertModel',
  weightPrefixes: ['bert.'],
  defaultPadTokenId: 0,
  positionOffset: () => 0,
  tokenTypes: true,
  tokenizerExtras: ['vocab.txt'],
  presets: [
    // 12 layers × 12 heads, FFN 1536: the shape its 33.4M parameters imply.
    { id: 'BAAI/bge-small-en-v1.5', config: BGE_SMALL, pooling: 'cls', multilingual: false },
    { id: 'BAAI/bge-base-en-v1.5', config: { ...BGE_SMALL, hiddenSize: 768, intermediateSize: 3072 }, pooling: 'cls', multilingual: false },
    // A BertModel (Multilingual-MiniLM) with XLM-R's SentencePiece vocabulary: model_type "bert".
    { id: 'intfloat/multilingual-e5-small', config: { ...BGE_SMALL, vocabSize: 250_037 }, pooling: 'mean', multilingual: true },
  ],
};

export const XLM_ROBERTA: Architecture = {
  family: 'xlm-roberta',
  label: 'XLM-RoBERTa',
  modelTypes: ['xlm-roberta'],
  modelClass: 'XLMRobertaModel',
  weightPrefixes: ['roberta.'],
  defaultPadTokenId: 1,
  positionOffset: (c) => c.padTokenId + 1,
  tokenTypes: false,
  tokenizerExtras: ['sentencepiece.bpe.model'],
  presets: [
    // XLM-RoBERTa large with 8,194 positions (8,192 usable): 568M parameters, 256M of them the word table.
    {
      id: 'BAAI/bge-m3',
      config: { ...XLMR_BASE, hiddenSize: 1024, numLayers: 24, numHeads: 16, intermediateSize: 4096, maxPositions: 8194 },
      pooling: 'cls',
      multilingual: true,
    },
    { id: 'intfloat/multilingual-e5-base', config: XLMR_BASE, pooling: 'mean', multilingual: true },
  ],
};

/** Every family, in the order errors list them. */
export const ARCHITECTURES: readonly Architecture[] = [BERT, XLM_ROBERTA];

/** Every config.json `model_type` the engine builds. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = ARCHITECTURES.flatMap((a) => a.modelTypes);

/** The family of a family name (a parsed BertConfig's `family`). */
export function architecture(family: FamilyName): Architecture {
  const a = ARCHITECTURES.find((x) => x.family === family);
  if (!a) throw new Error(`no architecture ${JSON.stringify(family)}`);
  return a;
}

/** The family that builds a config.json `model_type`, or null. */
export function architectureOfType(modelType: unknown): Architecture | null {
  return typeof modelType === 'string' ? (ARCHITECTURES.find((a) => a.modelTypes.includes(modelType)) ?? null) : null;
}

/** "bert (BERT), xlm-roberta (XLM-RoBERTa)": what an unsupported-type error offers. */
export function supportedTypesText(): string {
  return ARCHITECTURES.flatMap((a) => a.modelTypes.map((t) => `"${t}" (${a.label})`)).join(', ');
}

/** A checkpoint tensor's name without its family's prefix (`roberta.encoder…` → `encoder…`). */
export function bareWeightName(a: Architecture, name: string): string {
  const p = a.weightPrefixes.find((x) => name.startsWith(x));
  return p ? name.slice(p.length) : name;
}

/** How many tokens a text may have: the position table's rows past the offset. */
export function usablePositions(c: Pick<BertConfig, 'family' | 'maxPositions' | 'padTokenId'>): number {
  return c.maxPositions - architecture(c.family).positionOffset(c);
}

/**
 * The usable length from a raw config.json, for readers that do not parse it (the tokenizer):
 * max_position_embeddings less the family's offset; undefined when the config gives no valid
 * length. An unknown model_type counts as offset 0 (the model loader refuses it anyway).
 */
export function usablePositionsOfJson(config: Record<string, unknown> | undefined): number | undefined {
  const max = config?.max_position_embeddings;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) return undefined;
  const a = architectureOfType(config?.model_type);
  if (!a) return max;
  const pad = typeof config?.pad_token_id === 'number' && Number.isInteger(config.pad_token_id) ? config.pad_token_id : a.defaultPadTokenId;
  const n = max - a.positionOffset({ padTokenId: pad });
  return n >= 1 ? n : undefined;
}

/** [T] position ids of a text of T tokens: offset … offset + T − 1. */
export function positionIds(c: Pick<BertConfig, 'family' | 'padTokenId'>, T: number): BigInt64Array {
  const offset = architecture(c.family).positionOffset(c);
  return BigInt64Array.from({ length: T }, (_, i) => BigInt(offset + i));
}

/** Every family's presets. */
export const PRESETS: readonly ShapePreset[] = ARCHITECTURES.flatMap((a) => a.presets);

/**
 * Whether a vocabulary this large is a multilingual one (XLM-R's 250k SentencePiece pieces against
 * BERT's 30k English WordPieces): config.json does not say which languages a model knows.
 */
export const isMultilingualVocabulary = (vocabSize: number) => vocabSize >= 100_000;

/** A published model's shape by Hub id. */
export function preset(id: string): ShapePreset {
  for (const a of ARCHITECTURES) for (const p of a.presets) if (p.id === id) return p;
  throw new Error(`no shape preset ${id}`);
}

/**
 * The files of a model folder the engine reads or carries along, in one list: config and weights,
 * the tokenizer (tokenizer.json is required: transformers.js tokenizes from it), the
 * sentence-transformers module files, and each family's own tokenizer extras. The Hub loader
 * fetches the ones a repo has, a folder read takes the ones it holds, the package allow-lists
 * them; module folders (1_Pooling/…) come from modules.json.
 */
export const MODEL_FILES = {
  config: 'config.json',
  weights: 'model.safetensors',
  weightsIndex: 'model.safetensors.index.json',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: ['tokenizer_config.json', 'special_tokens_map.json'],
  sentenceTransformers: ['modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json'],
} as const;

/** The non-weight files a family's folder may hold besides config.json (the tokenizer's and the modules'). */
export function companionFiles(a: Architecture): string[] {
  return [...MODEL_FILES.sentenceTransformers, MODEL_FILES.tokenizer, ...MODEL_FILES.tokenizerConfig, ...a.tokenizerExtras];
}

/** Every fixed file name of any family (weights included): what a folder read or a package takes. */
export function allModelFileNames(): string[] {
  const names = new Set<string>([MODEL_FILES.config, MODEL_FILES.weights, MODEL_FILES.weightsIndex]);
  for (const a of ARCHITECTURES) for (const f of companionFiles(a)) names.add(f);
  return [...names];
}

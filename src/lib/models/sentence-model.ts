// A sentence-transformers model of any family in architectures.ts held in memory: BertConfig, the
// pooling mode and Normalize flag from the module files, max_seq_length, and the weights as float32 (F16/BF16 files widened).
// Loads from a map of file path → bytes so that the CLI (a folder, see sentence-model-node.ts) and
// the browser (IndexedDB) feed it the same way; pure TypeScript, no fs. Weights come from
// `model.safetensors` or, as the Hub shards large models, `model.safetensors.index.json`
// (`{ "metadata": {...}, "weight_map": { tensor: shard file } }`) and its shards, merged.
// Also builds random bge-small-shaped weights for benchmarks.
// Not the graphs (bert.ts, graphs.ts) and not the tokenizer (src/lib/tokenize/).

import { parseSafetensors, type ParsedSafetensors, type SafeTensor, writeSafetensors } from './safetensors.ts';
import { bertParameters, type BertConfig, ModelLoadError, parseBertConfig } from './bert-config.ts';
import { architecture, bareWeightName, MODEL_FILES, usablePositions } from './architectures.ts';
import { DEFAULT_POOLING, parsePoolingConfig, type PoolingMode } from './pooling.ts';
import { checkConfigStSize, CONFIG_ST_FILE, type ModelPrompts, NO_MODEL_PROMPTS, parseModelPrompts, poolingIncludesPrompt } from './prompts.ts';
import { Rng } from '../util/rng.ts';

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

export interface SentenceModel {
  config: BertConfig;
  pooling: PoolingMode;
  normalize: boolean;
  maxSeqLength: number;
  /**
   * By Hugging Face name, without the family's prefix (`bert.`, `roberta.`); the pooler only when the file has it. F32
   * weights from files are views of the file's bytes: read only, except by a run told to train
   * them in place (TrainerOptions.trainInPlace), after which neither is the base model.
   */
  weights: Map<string, WeightTensor>;
  /** The stored dtype of the weight file (F32, F16, BF16), for the log. */
  weightDtype: string;
  /** config_sentence_transformers.json's prompts and the Pooling module's include_prompt (prompts.ts). */
  prompts: ModelPrompts;
}

/** Path (relative to the model folder, `/`-separated) → bytes. */
export type ModelFiles = ReadonlyMap<string, Uint8Array>;

/** The bytes a model's files take in memory. */
export function modelFilesBytes(files: ModelFiles): number {
  let n = 0;
  for (const b of files.values()) n += b.byteLength;
  return n;
}

const decoder = new TextDecoder();

function readJson(files: ModelFiles, path: string): unknown | undefined {
  const bytes = files.get(path);
  if (!bytes) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new ModelLoadError(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

interface ModuleEntry {
  path: string;
  type: string;
}

/** modules.json → pooling folder, Normalize and the Pooling's include_prompt. Without modules.json, sentence-transformers' default (DEFAULT_POOLING, no Normalize). */
function readModules(files: ModelFiles): { pooling: PoolingMode; normalize: boolean; includePrompt: boolean } {
  const modules = readJson(files, 'modules.json');
  if (modules === undefined) return { pooling: DEFAULT_POOLING, normalize: false, includePrompt: true };
  if (!Array.isArray(modules)) throw new ModelLoadError('modules.json: not a JSON list');
  let pooling: PoolingMode | null = null;
  let normalize = false;
  let includePrompt = true;
  let transformer = false;
  for (const m of modules as ModuleEntry[]) {
    const kind = String(m.type).split('.').pop();
    if (kind === 'Transformer') transformer = true;
    else if (kind === 'Normalize') normalize = true;
    else if (kind === 'Pooling') {
      const file = `${m.path ? `${m.path}/` : ''}config.json`;
      const cfg = readJson(files, file);
      if (cfg === undefined) throw new ModelLoadError(`modules.json names a Pooling module at "${m.path}" but ${file} is missing`);
      pooling = parsePoolingConfig(cfg, file);
      includePrompt = poolingIncludesPrompt(cfg, file);
    } else {
      throw new ModelLoadError(`modules.json: module type "${m.type}" is not supported; supported: Transformer, Pooling, Normalize`);
    }
  }
  if (!transformer) throw new ModelLoadError('modules.json: no Transformer module');
  if (!pooling) throw new ModelLoadError('modules.json: no Pooling module');
  return { pooling, normalize, includePrompt };
}

export const WEIGHTS_FILE = MODEL_FILES.weights;
export const WEIGHTS_INDEX = MODEL_FILES.weightsIndex;

/** The weight tensors of the files: model.safetensors, else the index's shards merged (file: what to name in errors). */
export function readWeightFiles(files: ModelFiles): ParsedSafetensors & { file: string; shards: string[] } {
  const single = files.get(WEIGHTS_FILE);
  // Views of the file's bytes, not copies: the model's weights and its files are held once.
  if (single) return { ...parseSafetensors(single, { view: true }), file: WEIGHTS_FILE, shards: [] };
  const index = readJson(files, WEIGHTS_INDEX) as { weight_map?: unknown } | undefined;
  if (index === undefined) {
    const hint = files.has('pytorch_model.bin') ? ' (pytorch_model.bin is not supported: convert it to safetensors)' : '';
    throw new ModelLoadError(`model.safetensors is missing${hint}`);
  }
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || Object.values(map).some((v) => typeof v !== 'string')) {
    throw new ModelLoadError(`${WEIGHTS_INDEX}: weight_map is not an object of tensor name → shard file`);
  }
  const weightMap = map as Record<string, string>;
  const shards = [...new Set(Object.values(weightMap))].sort();
  const absent = shards.filter((s) => !files.has(s));
  if (absent.length) throw new ModelLoadError(`${WEIGHTS_INDEX} names shard${absent.length > 1 ? 's' : ''} ${absent.join(', ')}, not among the files`);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const shard of shards) {
    const parsed = parseSafetensors(files.get(shard)!, { view: true });
    if (shard === shards[0]) metadata = parsed.metadata;
    for (const [name, t] of parsed.tensors) {
      if (weightMap[name] !== shard) {
        throw new ModelLoadError(`${shard} holds ${name}, which ${WEIGHTS_INDEX} puts ${weightMap[name] ? `in ${weightMap[name]}` : 'nowhere'}`);
      }
      tensors.set(name, t);
    }
  }
  const lost = Object.keys(weightMap).filter((n) => !tensors.has(n));
  if (lost.length) throw new ModelLoadError(`${WEIGHTS_INDEX} names ${lost.slice(0, 6).join(', ')}${lost.length > 6 ? ', …' : ''}, which no shard holds`);
  return { metadata, tensors, file: `${WEIGHTS_INDEX} (${shards.join(', ')})`, shards };
}

/**
 * The files with sharded weights replaced by one model.safetensors (the shards' tensors in index
 * order, dtypes kept), for writers that expect the single file; unchanged when already single.
 */
export function withSingleWeightsFile(files: ModelFiles): Map<string, Uint8Array> {
  if (files.has(WEIGHTS_FILE) || !files.has(WEIGHTS_INDEX)) return new Map(files);
  const { metadata, tensors, shards } = readWeightFiles(files);
  const out = new Map([...files].filter(([path]) => path !== WEIGHTS_INDEX && !shards.includes(path)));
  out.set(WEIGHTS_FILE, writeSafetensors(tensors, { ...metadata, format: metadata.format ?? 'pt' }));
  return out;
}

/** Reads, checks and widens the weights of model.safetensors against the config. */
export function readBertWeights(bytes: Uint8Array, config: BertConfig, file = 'model.safetensors'): { weights: Map<string, WeightTensor>; dtype: string } {
  return checkBertWeights(parseSafetensors(bytes).tensors, config, file);
}

function checkBertWeights(tensors: Map<string, SafeTensor>, config: BertConfig, file: string): { weights: Map<string, WeightTensor>; dtype: string } {
  const byName = new Map<string, SafeTensor>();
  const arch = architecture(config.family);
  for (const [name, t] of tensors) {
    const bare = bareWeightName(arch, name);
    if (bare === 'embeddings.position_ids') continue;
    byName.set(bare, t);
  }
  const weights = new Map<string, WeightTensor>();
  const missing: string[] = [];
  const wrong: string[] = [];
  const dtypes = new Set<string>();
  for (const p of bertParameters(config)) {
    const t = byName.get(p.name);
    if (!t) {
      if (!p.pooler) missing.push(p.name);
      continue;
    }
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      wrong.push(`${p.name} is [${t.shape}], expected [${p.shape}]`);
      continue;
    }
    if (!(t.data instanceof Float32Array)) throw new ModelLoadError(`${file}: ${p.name} has dtype ${t.dtype}; supported: F32, F16, BF16`);
    dtypes.add(t.dtype);
    weights.set(p.name, { shape: p.shape, data: t.data });
  }
  if (missing.length) {
    const shown = missing.slice(0, 6).join(', ') + (missing.length > 6 ? `, … (${missing.length} in all)` : '');
    throw new ModelLoadError(`${file}: missing tensor${missing.length > 1 ? 's' : ''} ${shown}`);
  }
  if (wrong.length) throw new ModelLoadError(`${file}: wrong shape: ${wrong.join('; ')} (config.json)`);
  return { weights, dtype: [...dtypes].join('+') };
}

/** The model's prompts (config_sentence_transformers.json) and whether its pooling includes them, without reading its weights. */
export function readModelPrompts(files: ModelFiles): ModelPrompts {
  checkConfigStSize(files.get(CONFIG_ST_FILE)?.byteLength ?? 0);
  return parseModelPrompts(readJson(files, CONFIG_ST_FILE), readModules(files).includePrompt);
}

/** Loads a sentence-transformers model from its files (config.json, weights, modules). */
export function loadSentenceModel(files: ModelFiles): SentenceModel {
  const rawConfig = readJson(files, 'config.json');
  if (rawConfig === undefined) throw new ModelLoadError('config.json is missing');
  const config = parseBertConfig(rawConfig);
  const st = readWeightFiles(files);
  const { weights, dtype } = checkBertWeights(st.tensors, config, st.file);
  const { pooling, normalize } = readModules(files);
  const prompts = readModelPrompts(files);
  const sbert = readJson(files, 'sentence_bert_config.json') as { max_seq_length?: unknown } | undefined;
  // The position table less the family's offset: XLM-R's 514 rows hold 512 tokens.
  const usable = usablePositions(config);
  let maxSeqLength = usable;
  if (sbert && sbert.max_seq_length !== undefined && sbert.max_seq_length !== null) {
    const m = sbert.max_seq_length;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1) throw new ModelLoadError(`sentence_bert_config.json: max_seq_length ${JSON.stringify(m)} is not a positive integer`);
    maxSeqLength = Math.min(m, usable);
  }
  return { config, pooling, normalize, maxSeqLength, weights, weightDtype: dtype, prompts };
}

/**
 * Random BertModel weights at BERT's `_init_weights` scale: std 0.02 for linear and embedding
 * tables ([PAD] row zero), zero biases, LayerNorm 1 / 0. Uniform on ±0.02·√3 rather than normal,
 * so that bge-small's 33M values take a fraction of a second; for benchmarks, not for training
 * from scratch. Deterministic in `seed`.
 */
export function randomBertWeights(config: BertConfig, seed: number): Map<string, WeightTensor> {
  const rng = new Rng(seed);
  const a = 0.02 * Math.sqrt(3);
  const weights = new Map<string, WeightTensor>();
  for (const p of bertParameters(config)) {
    const n = p.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    if (p.name.endsWith('LayerNorm.weight')) data.fill(1);
    else if (p.shape.length === 2) {
      // xorshift32 seeded per tensor from the Rng.
      let x = rng.nextUint32() | 1;
      for (let i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        data[i] = ((x >>> 0) / 4294967296 * 2 - 1) * a;
      }
    }
    if (p.name === 'embeddings.word_embeddings.weight') data.fill(0, config.padTokenId * config.hiddenSize, (config.padTokenId + 1) * config.hiddenSize);
    weights.set(p.name, { shape: p.shape, data });
  }
  return weights;
}

/** A SentenceModel from weights in memory (benchmarks, tests). Defaults: BGE's CLS + Normalize. */
export function sentenceModel(
  config: BertConfig,
  weights: Map<string, WeightTensor>,
  opts: { pooling?: PoolingMode; normalize?: boolean; maxSeqLength?: number; prompts?: ModelPrompts } = {},
): SentenceModel {
  return {
    config,
    weights,
    pooling: opts.pooling ?? 'cls',
    normalize: opts.normalize ?? true,
    maxSeqLength: opts.maxSeqLength ?? usablePositions(config),
    weightDtype: 'F32',
    prompts: opts.prompts ?? NO_MODEL_PROMPTS,
  };
}

// Text → model inputs, exactly as sentence-transformers' Transformer module tokenizes
// (docs/encoder.md#tokenization): strip each text (Python's str.strip), lowercase when
// sentence_bert_config.json says do_lower_case, run the model's tokenizer (transformers.js, from
// tokenizer.json), truncate "longest_first" to max_seq_length keeping the special tokens, pad to
// the longest in the batch. Built from already-parsed JSON objects: no network, no filesystem (the
// browser reads them from IndexedDB, Node from a folder: see node.ts). Single texts only, not pairs
// (cross-encoders are not part of this project).
//
// Shape letters: B texts in the batch, T tokens (the longest row after truncation).

import * as transformers from '@huggingface/transformers';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { MODEL_FILES, usablePositionsOfJson } from '../models/architectures.ts';
import { pythonStrip } from '../util/py-space.ts';

type Json = Record<string, unknown>;

export interface TokenizerFiles {
  'tokenizer.json': Json;
  'tokenizer_config.json'?: Json;
  'sentence_bert_config.json'?: Json;
  'special_tokens_map.json'?: Json;
  /** The model's config.json: its usable positions (max_position_embeddings less the family's offset) cap max_seq_length. */
  'config.json'?: Json;
}

export interface TokenizedBatch {
  inputIds: BigInt64Array /* [B, T] */;
  /** 1 for real tokens, 0 for padding: float, as the engine's graphs take it. */
  attentionMask: Float32Array /* [B, T] */;
  /** Present when the tokenizer emits them (BERT): all of a single text's type ids. */
  tokenTypeIds?: BigInt64Array /* [B, T] */;
  /** Tokens per row before padding, specials included. */
  lengths: Int32Array /* [B] */;
  batch: number;
  tokens: number;
  /** How many texts were cut to fit maxLength. */
  truncated: number;
}

export interface EncodeOptions {
  /** Overrides the tokenizer's maxLength (max_seq_length) for this call. */
  maxLength?: number;
}

export interface TextTokenizer {
  /** max_seq_length: sentence_bert_config.json's, capped by the model's max positions. */
  readonly maxLength: number;
  readonly doLowerCase: boolean;
  readonly padId: number;
  readonly vocabSize: number;
  encodeBatch(texts: string[], opts?: EncodeOptions): TokenizedBatch;
  /** Token ids of one text without special tokens, after strip/lowercase (for inspection). */
  tokenize(text: string): number[];
  decode(ids: number[]): string;
}

// Python's str.strip(), as sentence-transformers strips each text (src/lib/util/py-space.ts).
export { pythonStrip };

/** special_tokens_map.json entries are objects `{content, …}`; tokenizer_config wants strings. */
function specialTokensAsStrings(map: Json | undefined): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(map ?? {})) {
    if (typeof value === 'string') out[key] = value;
    else if (value && typeof value === 'object' && typeof (value as Json).content === 'string') out[key] = (value as Json).content;
  }
  return out;
}

function tokenizerClass(config: Json): typeof PreTrainedTokenizer {
  const name = typeof config.tokenizer_class === 'string' ? config.tokenizer_class.replace(/Fast$/, '') : '';
  const cls = (transformers as unknown as Record<string, unknown>)[name];
  // As AutoTokenizer.from_pretrained does, but without its "unknown class" console warning.
  if (typeof cls === 'function' && (cls === PreTrainedTokenizer || cls.prototype instanceof PreTrainedTokenizer)) {
    return cls as typeof PreTrainedTokenizer;
  }
  return PreTrainedTokenizer;
}

const positiveInt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

/** The JSON files loadTokenizer reads, tokenizer.json first (the others are optional). */
export const TOKENIZER_JSON_FILES = [MODEL_FILES.tokenizer, ...MODEL_FILES.tokenizerConfig, 'sentence_bert_config.json', MODEL_FILES.config] as const;

/**
 * The tokenizer files out of a model's file map (a folder read in Node, a Hub download, IndexedDB),
 * parsed. `where` names the model in errors.
 */
export function tokenizerFilesFromMap(files: ReadonlyMap<string, Uint8Array>, where: string): TokenizerFiles {
  const parse = (name: string) => {
    try {
      return JSON.parse(new TextDecoder().decode(files.get(name))) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${where}/${name}: invalid JSON (${(e as Error).message})`);
    }
  };
  if (!files.has('tokenizer.json')) throw new Error(`${where} has no tokenizer.json (a fast tokenizer); tabtune needs it to tokenize as sentence-transformers does`);
  const out: TokenizerFiles = { 'tokenizer.json': parse('tokenizer.json') };
  for (const name of TOKENIZER_JSON_FILES) if (name !== 'tokenizer.json' && files.has(name)) out[name] = parse(name);
  return out;
}

export function loadTokenizer(files: TokenizerFiles): TextTokenizer {
  const tokenizerJson = files['tokenizer.json'];
  if (!tokenizerJson || typeof tokenizerJson !== 'object' || !tokenizerJson.model) {
    throw new Error('tokenizer.json is missing or has no "model": only fast-tokenizer files (tokenizer.json) are supported');
  }
  // Python merges special_tokens_map.json under tokenizer_config.json; so do we.
  const config: Json = { ...specialTokensAsStrings(files['special_tokens_map.json']), ...(files['tokenizer_config.json'] ?? {}) };
  const Cls = tokenizerClass(config);
  const tok = new Cls(tokenizerJson, config);

  const stConfig = files['sentence_bert_config.json'] ?? {};
  const doLowerCase = stConfig.do_lower_case === true;
  const maxPositions = usablePositionsOfJson(files['config.json']);
  const modelMaxLength = positiveInt(config.model_max_length);
  // sentence-transformers: max_seq_length from sentence_bert_config.json, else
  // min(max_position_embeddings, tokenizer.model_max_length). We also cap a configured value by
  // the positions a token can have (XLM-R: 514 rows, the first two never a token's: 512), which
  // would fail later in the model anyway.
  let maxLength = positiveInt(stConfig.max_seq_length) ?? Math.min(maxPositions ?? Infinity, modelMaxLength ?? Infinity);
  if (maxPositions !== undefined) maxLength = Math.min(maxLength, maxPositions);
  if (!Number.isFinite(maxLength)) throw new Error('no max_seq_length: sentence_bert_config.json, config.json and tokenizer_config.json give none');

  const padId = tok.pad_token_id;
  if (padId === null || padId === undefined) throw new Error(`the tokenizer has no pad token (pad_token ${JSON.stringify(config.pad_token)})`);
  const leftTruncation = config.truncation_side === 'left';
  const leftPadding = tok.padding_side === 'left';

  // The single-text template ([CLS] A [SEP] for BERT, <s> A </s> for RoBERTa), read off one
  // probe encoding so that truncation can cut the body and keep the specials, as Python's
  // tokenizers does (transformers.js 4.3.2 cuts after adding them and loses [SEP]).
  const probe = 'hello world';
  const bodyIds = tok.encode(probe, { add_special_tokens: false });
  const full: { ids: number[]; token_type_ids?: number[] } = tok._tokenizer.encode(probe, {
    add_special_tokens: true,
    return_token_type_ids: tok.return_token_type_ids,
  });
  const at = full.ids.findIndex((_, i) => bodyIds.every((id, j) => full.ids[i + j] === id));
  if (bodyIds.length === 0 || at < 0) throw new Error('cannot find the text inside its encoding with special tokens');
  const prefix = full.ids.slice(0, at);
  const suffix = full.ids.slice(at + bodyIds.length);
  const types = full.token_type_ids;
  const bodyType = types ? types[at] : 0;
  const prefixTypes = types ? types.slice(0, at) : [];
  const suffixTypes = types ? types.slice(at + bodyIds.length) : [];
  const nSpecial = prefix.length + suffix.length;

  const prepare = (text: string) => {
    if (typeof text !== 'string') throw new Error(`expected a string, got ${typeof text}`);
    const s = pythonStrip(text);
    return doLowerCase ? s.toLowerCase() : s;
  };
  const tokenize = (text: string): number[] => tok.encode(prepare(text), { add_special_tokens: false });

  return {
    maxLength,
    doLowerCase,
    padId,
    vocabSize: tok.get_vocab().size,
    tokenize,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
    encodeBatch(texts, opts = {}) {
      const max = opts.maxLength ?? maxLength;
      if (!Number.isInteger(max) || max <= nSpecial) throw new Error(`maxLength ${max} leaves no room for text next to ${nSpecial} special tokens`);
      if (texts.length === 0) throw new Error('encodeBatch: no texts');
      const room = max - nSpecial;
      let truncated = 0;
      const bodies = texts.map((text) => {
        const ids = tokenize(text);
        if (ids.length <= room) return ids;
        truncated++;
        return leftTruncation ? ids.slice(ids.length - room) : ids.slice(0, room);
      });
      const B = texts.length;
      let T = 0;
      for (const b of bodies) T = Math.max(T, b.length + nSpecial);
      const inputIds = new BigInt64Array(B * T).fill(BigInt(padId));
      const attentionMask = new Float32Array(B * T);
      const tokenTypeIds = types ? new BigInt64Array(B * T) : undefined;
      const lengths = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        const body = bodies[b];
        const row = b * T + (leftPadding ? T - body.length - nSpecial : 0);
        let t = 0;
        const put = (id: number, type: number) => {
          inputIds[row + t] = BigInt(id);
          attentionMask[row + t] = 1;
          if (tokenTypeIds) tokenTypeIds[row + t] = BigInt(type);
          t++;
        };
        for (let i = 0; i < prefix.length; i++) put(prefix[i], prefixTypes[i]);
        for (const id of body) put(id, bodyType);
        for (let i = 0; i < suffix.length; i++) put(suffix[i], suffixTypes[i]);
        lengths[b] = t;
      }
      return { inputIds, attentionMask, ...(tokenTypeIds ? { tokenTypeIds } : {}), lengths, batch: B, tokens: T, truncated };
    },
  };
}

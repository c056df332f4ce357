// Sentence embeddings for a list of texts, batched the way sentence-transformers' encode batches
// them (longest first by character length, so a batch pads little), returned in input order.
// Shared by `tabtune embed`, the evaluator and the trainer; pure TypeScript (the worker runs it).
// Not a tokenizer and not an encoder: both come in through the small interfaces below.
//
// Shape letters: B texts in a batch, T tokens, D embedding size, N texts in all.

import type { TextTokenizer, TokenizedBatch } from '../tokenize/tokenizer.ts';
import { withPrompt } from './prompts.ts';

/**
 * What embedding needs of a sentence-transformers model (encoder + pooling + optional Normalize):
 * the engine's BertEncoder (encoder.ts) is one. encode runs in evaluation mode (no dropout).
 */
export interface BatchEncoder {
  readonly dim: number;
  /** Returns the pooled (and, if the model says so, normalized) embeddings. */
  encode(batch: TokenizedBatch): Promise<Float32Array /* [B, D] */>;
  /** Which model and which runtime ran, in words (for the log). */
  describe(): string;
  dispose?(): Promise<void>;
}

export interface EmbedOptions {
  batchSize: number;
  /** Called after each batch with the number of texts it held. */
  onBatch?: (texts: number) => void;
  signal?: AbortSignal;
  /** Prepended to every text before it is tokenized, as sentence-transformers' encode(prompt=…) does (prompts.ts). */
  prompt?: string;
}

/**
 * Embeds all texts in batches, longest first (as sentence-transformers' encode orders them, by
 * character length, so that a batch pads little), and returns them in the input order.
 */
export async function embedTexts(
  raw: readonly string[],
  tokenizer: Pick<TextTokenizer, 'encodeBatch'>,
  encoder: BatchEncoder,
  opts: EmbedOptions,
): Promise<Float32Array /* [N, D] */> {
  const texts = withPrompt(raw, opts.prompt);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${opts.batchSize}`);
  const D = encoder.dim;
  const order = texts.map((_, i) => i).sort((a, b) => texts[b].length - texts[a].length || a - b);
  const out = new Float32Array(texts.length * D);
  for (let start = 0; start < order.length; start += opts.batchSize) {
    opts.signal?.throwIfAborted();
    const idx = order.slice(start, start + opts.batchSize);
    const batch = tokenizer.encodeBatch(idx.map((i) => texts[i]));
    const emb = await encoder.encode(batch);
    if (emb.length !== idx.length * D) throw new Error(`encoder returned ${emb.length} values for ${idx.length}×${D}`);
    idx.forEach((i, b) => out.set(emb.subarray(b * D, (b + 1) * D), i * D));
    opts.onBatch?.(idx.length);
  }
  return out;
}

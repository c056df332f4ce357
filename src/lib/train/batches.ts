// From training examples to what one micro-batch feeds the encoder: the text columns the loss
// takes (SPEC §5.6: every non-label column, in column order — anchor, positive, then negative),
// CoSENT's gold scores, the per-row strings the NO_DUPLICATES sampler compares, and one tokenized
// batch over the concatenated columns (K·B rows, column-major: all anchors, then all positives,
// then the negatives — the row order loss-graph.ts expects), or one per GradCache mini-batch.
// Not the sampler (sampler.ts), not the tokenizer itself, not the loss.
//
// Shape letters: K text columns, B rows of the micro-batch, T tokens, M rows of a mini-batch.

import type { Example } from '../data/validate.ts';
import { columnRange, describeColumns, type LossType, needsScores } from '../losses/records.ts';
import type { EncoderBatch } from '../models/encoder.ts';
import type { TextPrompts } from '../models/prompts.ts';

/** What the trainer needs of a tokenizer (src/lib/tokenize's TextTokenizer is one). */
export interface BatchTokenizer {
  encodeBatch(texts: string[], opts?: { maxLength?: number }): EncoderBatch & { lengths?: Int32Array };
}

/** A loss's text column: anchor, positive, or the i-th negative. */
export type TextField = 'anchor' | 'positive' | { negative: number };

const fieldName = (f: TextField) => (typeof f === 'string' ? f : `negative_${f.negative + 1}`);
/** The text of column `f` in example `e`. */
export const textOf = (e: Example, f: TextField) => (f === 'anchor' ? e.anchor : f === 'positive' ? e.positive : e.negatives![f.negative]);

/** Which Example fields are the loss's text columns, in order: anchor, positive, each negative. */
export function columnFields(type: LossType, examples: readonly Example[]): TextField[] {
  const counts = new Set(examples.map((e) => e.negatives?.length ?? 0));
  if (counts.size > 1) {
    throw new Error(`the training rows have different numbers of negatives (${[...counts].sort().join(', ')}): every row needs the same`);
  }
  const n = [...counts][0] ?? 0;
  const fields: TextField[] = ['anchor', 'positive', ...Array.from({ length: n }, (_, i) => ({ negative: i }))];
  const { min, max } = columnRange(type);
  if (fields.length < min || fields.length > max) {
    throw new Error(`loss ${type} needs ${describeColumns(type)}; the data has ${fields.map(fieldName).join(', ')}`);
  }
  if (needsScores(type) && examples.some((e) => typeof e.score !== 'number')) {
    throw new Error(`loss ${type} needs a score column (every row a number)`);
  }
  return fields;
}

/** The prompt a column's texts get: the query prompt on the anchor, the document prompt on positives and negatives (as a column → prompt dict in sentence-transformers' training arguments). */
export const columnPrompt = (f: TextField, prompts: TextPrompts | undefined): string => (prompts ? (f === 'anchor' ? prompts.query : prompts.document) : '');

/**
 * The texts of each column for the rows `rows` (K arrays of B), each with its column's prompt
 * prepended, and the scores [B] when the loss reads them.
 */
export function batchColumns(examples: readonly Example[], rows: readonly number[], fields: readonly TextField[], withScores: boolean, prompts?: TextPrompts): { columns: string[][]; scores?: Float32Array } {
  const columns = fields.map((f) => {
    const prompt = columnPrompt(f, prompts);
    return rows.map((r) => prompt + textOf(examples[r], f));
  });
  return withScores ? { columns, scores: Float32Array.from(rows, (r) => examples[r].score as number) } : { columns };
}

/** Per row, the strings NO_DUPLICATES compares (the text columns; not scores or ids). */
export function samplerKeys(examples: readonly Example[], fields: readonly TextField[]): string[][] {
  return examples.map((e) => fields.map((f) => textOf(e, f)));
}

export interface TokenizedColumns extends EncoderBatch {
  /** Real (unpadded) tokens in the batch. */
  realTokens: number;
}

function withRealTokens(b: EncoderBatch): TokenizedColumns {
  let real = 0;
  for (let i = 0; i < b.attentionMask.length; i++) real += b.attentionMask[i];
  return { inputIds: b.inputIds, attentionMask: b.attentionMask, batch: b.batch, tokens: b.tokens, realTokens: real };
}

/** One batch of K·B rows (columns concatenated, padded to the longest row of all). */
export function tokenizeColumns(tok: BatchTokenizer, columns: readonly string[][], maxLength?: number): TokenizedColumns {
  return withRealTokens(tok.encodeBatch(columns.flat(), maxLength ? { maxLength } : undefined));
}

export interface MiniBatch extends TokenizedColumns {
  /** First row of this mini-batch in E's column-major row order (k·B + start). */
  offset: number;
}

/**
 * GradCache's mini-batches: each column cut into runs of `size` rows, each run tokenized on its
 * own (padded to its own longest, as CachedMNRL trims each mini-batch), in E's row order.
 */
export function miniBatches(tok: BatchTokenizer, columns: readonly string[][], size: number, maxLength?: number): MiniBatch[] {
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`mini-batch size must be an integer ≥ 1, got ${size}`);
  const B = columns[0].length;
  const out: MiniBatch[] = [];
  columns.forEach((col, k) => {
    for (let s = 0; s < B; s += size) {
      const texts = col.slice(s, s + size);
      out.push({ ...withRealTokens(tok.encodeBatch(texts, maxLength ? { maxLength } : undefined)), offset: k * B + s });
    }
  });
  return out;
}

/** Longest tokenized text over (a sample of) the training texts: the T of the memory estimate. */
export function longestTokens(tok: BatchTokenizer, examples: readonly Example[], fields: readonly TextField[], maxLength?: number, prompts?: TextPrompts): number {
  const sample = examples.slice(0, 256);
  const texts = fields.flatMap((f) => sample.map((e) => columnPrompt(f, prompts) + textOf(e, f)));
  let T = 0;
  for (let i = 0; i < texts.length; i += 64) {
    T = Math.max(T, tok.encodeBatch(texts.slice(i, i + 64), maxLength ? { maxLength } : undefined).tokens);
  }
  return T;
}

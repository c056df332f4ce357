// Evaluates a sentence model on an IR set end to end: embeds the kept queries and the corpus once
// at full size (evaluation mode: no dropout; queries and corpus each batched longest first, as
// sentence-transformers' encode does), then runs the Matryoshka evaluator (ir-metrics.ts) on
// those embeddings, reporting texts embedded, rate and ETA through one callback.
// Pure TypeScript with no filesystem, so the engine worker runs it as the CLI does. Not the
// loading of models or data (src/cli/sources.ts, workers/) and not the presentation (report.ts).
// Prompts: the query prompt goes before every query and the document prompt before every corpus
// text, as InformationRetrievalEvaluator(query_prompt=…, corpus_prompt=…) applies them
// (src/lib/models/prompts.ts); without them texts are embedded as they are.

import { embedTexts, type BatchEncoder } from '../models/embed-texts.ts';
import type { TextPrompts } from '../models/prompts.ts';
import { ProgressTracker } from '../progress/progress.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { DEFAULT_MATRYOSHKA_DIMS, evaluateIr, prepareIr, type IrEvalOptions, type IrResult } from './ir-metrics.ts';
import type { IrSet } from './ir-set.ts';

export interface EvalProgress {
  /** embed: texts are being embedded (queries, then corpus); score: similarity and metrics. */
  phase: 'embed' | 'score' | 'done';
  /** Texts embedded so far, of `total` = kept queries + corpus documents. */
  done: number;
  total: number;
  /** Texts per second (smoothed); undefined until measurable. */
  rate: number | undefined;
  /** Seconds left for the embedding at `rate`; 0 once embedded; undefined when unknown. */
  etaS: number | undefined;
  elapsedS: number;
}

export interface EvaluateModelOptions extends Omit<IrEvalOptions, 'dims' | 'signal'> {
  encoder: BatchEncoder;
  tokenizer: Pick<TextTokenizer, 'encodeBatch'>;
  set: IrSet;
  /** Default: defaultEvalDims(encoder.dim). */
  dims?: readonly number[];
  /** Texts per encoder call (sentence-transformers' evaluator encodes with 32). */
  batchSize?: number;
  onProgress?: (p: EvalProgress) => void;
  signal?: AbortSignal;
  /** Query prompt on the queries, document prompt on the corpus (default none). */
  prompts?: TextPrompts;
  /** Milliseconds, monotonic (tests inject a clock). */
  now?: () => number;
}

export interface ModelEvalResult extends IrResult {
  timing: { embedS: number; scoreS: number; texts: number };
}

/**
 * The seed's dims filtered to the model, as the run config filters the Matryoshka loss's default
 * list (src/lib/train/run-config.ts resolveForModel): dims ≤ hidden, with the hidden size itself
 * first when the list lacks it, so a bge-small (384) gets [384, 256, 128, 64] and a 32-wide test
 * model [32].
 */
export function defaultEvalDims(hidden: number): number[] {
  const dims = DEFAULT_MATRYOSHKA_DIMS.filter((d) => d <= hidden);
  if (!dims.includes(hidden)) dims.unshift(hidden);
  return dims;
}

export async function evaluateModel(o: EvaluateModelOptions): Promise<ModelEvalResult> {
  const { encoder, tokenizer, set, batchSize = 32, onProgress, signal, prompts, ...irOptions } = o;
  const prepared = prepareIr(set);
  const nq = prepared.queryTexts.length;
  const nc = prepared.corpusTexts.length;
  if (nq === 0) throw new Error('the evaluation set has no query with a relevant document');
  if (nc === 0) throw new Error('the evaluation set has no documents');
  const dims = o.dims ?? defaultEvalDims(encoder.dim);
  const total = nq + nc;
  const now = o.now ?? (() => performance.now());
  const tracker = new ProgressTracker({ total, unit: 'texts', now });
  const emit = (phase: EvalProgress['phase']) => {
    if (!onProgress) return;
    const s = tracker.snapshot();
    onProgress({ phase, done: s.done, total, rate: s.rate, etaS: phase === 'embed' ? s.etaS : 0, elapsedS: s.elapsedS });
  };
  const t0 = now();
  emit('embed');
  const step = { batchSize, signal, onBatch: (n: number) => (tracker.advance(n), emit('embed')) };
  const queryEmb = await embedTexts(prepared.queryTexts, tokenizer, encoder, { ...step, prompt: prompts?.query });
  const corpusEmb = await embedTexts(prepared.corpusTexts, tokenizer, encoder, { ...step, prompt: prompts?.document });
  const t1 = now();
  emit('score');
  const result = await evaluateIr(prepared, queryEmb, corpusEmb, encoder.dim, { ...irOptions, dims, signal });
  const t2 = now();
  tracker.finish();
  emit('done');
  return { ...result, timing: { embedS: (t1 - t0) / 1000, scoreS: (t2 - t1) / 1000, texts: total } };
}

// A trained model as it leaves tabtune — the same files whether exported to a folder, zipped in
// the page or pushed to the Hub: the sentence-transformers folder the run wrote (weights,
// configs, tokenizer, module folders' files), eval_results.json and run_config.json, the model
// card regenerated from the run record (with the int8 model's numbers and the repo id when
// known), and optionally onnx/model.onnx and onnx/model_quantized.onnx for transformers.js.
// Left out: the run's own bookkeeping (run.json, checkpoints/) and train_log.jsonl, whose
// timing fields differ from run to run. `zipPackage` streams the files into a zip (stored, not
// deflated: safetensors and ONNX weights do not compress) one file at a time, so a 440 MB model
// never sits in memory twice; entries are sorted and dated 1980-01-01, so the same files give the
// same zip.

import { Zip, ZipPassThrough } from 'fflate';
import { evaluateModel } from '../eval/evaluate-model.ts';
import type { IrResult } from '../eval/ir-metrics.ts';
import type { IrSet } from '../eval/ir-set.ts';
import { loadSentenceModel, type SentenceModel } from '../models/sentence-model.ts';
import { CHECKPOINTS_PREFIX, RUN_RECORD_KEY } from '../run/record.ts';
import type { Runtime } from '../runtime/types.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { type CardRecord, modelCard } from './model-card.ts';
import { OnnxFileEncoder } from './onnx-encoder.ts';
import { exportOnnx, ONNX_MODEL_PATH, ONNX_QUANTIZED_PATH } from './onnx-model.ts';

export interface PackageOptions {
  onnx?: boolean;
  quantize?: boolean;
  /** The int8 model's evaluation, for the card (evaluateQuantized). */
  int8?: IrResult | null;
  /** The Hub repo it is pushed to, for the card's usage snippets. */
  repoId?: string | null;
}

/** Run files that stay home: the record, checkpoints, the timing-laden log, old ONNX files. */
const isBookkeeping = (path: string) =>
  path === RUN_RECORD_KEY || path.startsWith(CHECKPOINTS_PREFIX) || path === 'train_log.jsonl' || path.startsWith('onnx/');

/** The paths a package of these run files holds, before the ONNX ones (for listing and reading lazily). */
export function packagedPaths(runPaths: Iterable<string>): string[] {
  return [...runPaths].filter((p) => !isBookkeeping(p)).sort();
}

/**
 * The package's files. `files` are the run's (a CLI output folder, or `run/{runId}/` in the page);
 * with a record the card is written anew (int8 column, repo id), else the folder's README stays.
 */
export function modelPackage(
  files: ReadonlyMap<string, Uint8Array>,
  record: (CardRecord & { pooling?: 'cls' | 'mean' }) | null,
  opts: PackageOptions = {},
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const path of packagedPaths(files.keys())) out.set(path, files.get(path)!);
  let model: SentenceModel | null = null;
  const parsed = () => (model ??= loadSentenceModel(files));
  if (record) out.set('README.md', new TextEncoder().encode(modelCard(record, { int8: opts.int8, repoId: opts.repoId, pooling: parsed().pooling })));
  if (opts.onnx) out.set(ONNX_MODEL_PATH, exportOnnx(parsed()));
  if (opts.quantize) out.set(ONNX_QUANTIZED_PATH, exportOnnx(parsed(), { quantize: true }));
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

/** nDCG and the rest for the int8 model: model_quantized.onnx itself, run by onnxruntime. */
export async function evaluateQuantized(o: { runtime: Runtime; model: SentenceModel; tokenizer: TextTokenizer; set: IrSet; dims: readonly number[] }): Promise<IrResult> {
  const encoder = await OnnxFileEncoder.create(o.runtime, exportOnnx(o.model, { quantize: true }), {
    dim: o.model.config.hiddenSize, pooling: o.model.pooling, normalize: o.model.normalize, name: ONNX_QUANTIZED_PATH,
  });
  try {
    const { timing: _timing, ...result } = await evaluateModel({ encoder, tokenizer: o.tokenizer, set: o.set, dims: o.dims });
    return result;
  } finally {
    await encoder.dispose();
  }
}

/** The fixed time of every zip entry (DOS time starts in 1980): equal files, equal zips. */
const ZIP_TIME = new Date(1980, 0, 1);

/**
 * Streams `files` (read one at a time: an async iterable may fetch each from storage) into a zip,
 * handing each output chunk to `write` as it is produced.
 */
export async function zipPackage(files: AsyncIterable<[string, Uint8Array]> | Iterable<[string, Uint8Array]>, write: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
  const pending: Uint8Array[] = [];
  let failed: Error | null = null;
  let ended = false;
  const zip = new Zip((err, chunk, final) => {
    if (err) failed = err;
    else pending.push(chunk);
    if (final) ended = true;
  });
  const drain = async () => {
    if (failed) throw failed;
    while (pending.length) await write(pending.shift()!);
  };
  for await (const [path, bytes] of files) {
    const entry = new ZipPassThrough(path);
    entry.mtime = ZIP_TIME;
    zip.add(entry);
    entry.push(bytes, true);
    await drain();
  }
  zip.end();
  await drain();
  if (!ended) throw new Error('zip: the archive did not end');
}

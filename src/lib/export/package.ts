// A trained model as it leaves tabtune — the same files whether exported to a folder, zipped in
// the page or pushed to the Hub: the sentence-transformers folder the run wrote (weights,
// configs, tokenizer, module folders' files), eval_results.json and run_config.json, the model
// card regenerated from the run record (with the int8 model's numbers and the repo id when
// known), and optionally onnx/model.onnx and onnx/model_quantized.onnx for transformers.js.
// Only files on an allow-list are packed (isPackagedPath): a model folder may hold anything —
// `.env`, `.git/config`, notes — and none of it may reach a zip or the Hub. Left out too: the
// run's own bookkeeping (run.json, checkpoints/), train_log.jsonl, whose timing fields differ from
// run to run, and ONNX files already in the folder (regenerated from the weights when asked).
// run_config.json is rewritten with public names (public-names.ts): no local path leaves. `zipPackage` streams the files into a zip (stored, not
// deflated: safetensors and ONNX weights do not compress) one file at a time, so a 440 MB model
// never sits in memory twice; entries are sorted and dated 1980-01-01, so the same files give the
// same zip.
// Two forms (docs/export-forms.md): `merged` (the default) — the plain model above — and, for a
// LoRA run, `adapter` — the same folder with the PEFT adapter (adapter_config.json,
// adapter_model.safetensors, which the run wrote beside the merged weights) in place of
// model.safetensors and config.json, as sentence-transformers saves a model with an adapter; no
// ONNX (transformers.js has no adapters: the merged form carries the ONNX files).

import { Zip, ZipPassThrough } from 'fflate';
import { evaluateModel } from '../eval/evaluate-model.ts';
import type { TextPrompts } from '../models/prompts.ts';
import type { IrResult } from '../eval/ir-metrics.ts';
import type { IrSet } from '../eval/ir-set.ts';
import { allModelFileNames, MODEL_FILES } from '../models/architectures.ts';
import { DEFAULT_POOLING, parsePoolingConfig } from '../models/pooling.ts';
import { loadSentenceModel, type SentenceModel } from '../models/sentence-model.ts';
import type { Runtime } from '../runtime/types.ts';
import type { TextTokenizer } from '../tokenize/tokenizer.ts';
import { type CardRecord, modelCard } from './model-card.ts';
import { OnnxFileEncoder } from './onnx-encoder.ts';
import { publicConfigJson } from './public-names.ts';
import { exportOnnx, ONNX_MODEL_PATH, ONNX_QUANTIZED_PATH } from './onnx-model.ts';
import { RUN_OUTPUT_EXTRAS } from './st-folder.ts';
import { ADAPTER_FILES, type ExportForm } from './lora-export.ts';

export type { ExportForm } from './lora-export.ts';

export interface PackageOptions {
  onnx?: boolean;
  quantize?: boolean;
  /** The int8 model's evaluation, for the card (evaluateQuantized). */
  int8?: IrResult | null;
  /** The Hub repo it is pushed to, for the card's usage snippets. */
  repoId?: string | null;
  /** `merged` (default): the plain model; `adapter`: the PEFT adapter folder of a LoRA run. */
  form?: ExportForm;
}

/**
 * The files of a package by name: the model folder's (weights, model and module configs, the
 * tokenizer's files: models/architectures.ts lists them for every family), the card and the run's
 * results and config. Anything else — dotfiles, the run's record, log and checkpoints, stray
 * files — stays where it is.
 */
const PACKAGED_FILES: ReadonlySet<string> = new Set([...allModelFileNames(), 'README.md', 'eval_results.json', 'run_config.json']);
/** The shards a model.safetensors.index.json names, as transformers writes them. */
const SHARD = /^model-\d{5}-of-\d{5}\.safetensors$/;
/** A module folder's name as modules.json gives it (`1_Pooling`, `2_Dense`): one plain segment. */
const MODULE_DIR = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A file directly inside a module folder (its config, a Dense layer's weights), never a dotfile. */
const MODULE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** The module folders modules.json names (bytes as read; [] when absent or unreadable). */
export function moduleDirs(modulesJson: Uint8Array | undefined): string[] {
  if (!modulesJson) return [];
  try {
    const modules = JSON.parse(new TextDecoder().decode(modulesJson)) as unknown;
    if (!Array.isArray(modules)) return [];
    return modules.map((m) => (m as { path?: unknown })?.path).filter((p): p is string => typeof p === 'string' && MODULE_DIR.test(p) && !p.includes('..'));
  } catch {
    return [];
  }
}

/** The base model's own files, which the adapter form leaves out (sentence-transformers loads them from base_model_name_or_path). */
const BASE_MODEL_FILES: ReadonlySet<string> = new Set([MODEL_FILES.config, MODEL_FILES.weights, MODEL_FILES.weightsIndex]);

/**
 * Whether a run or model folder's file belongs in the package (the allow-list above) of `form`;
 * `any` is what a folder read keeps so that either form can be made from it.
 */
export function isPackagedPath(path: string, modules: readonly string[], form: ExportForm | 'any' = 'merged'): boolean {
  if (ADAPTER_FILES.includes(path)) return form !== 'merged';
  if (form === 'adapter' && (BASE_MODEL_FILES.has(path) || SHARD.test(path))) return false;
  if (PACKAGED_FILES.has(path) || SHARD.test(path)) return true;
  const slash = path.indexOf('/');
  return slash > 0 && modules.includes(path.slice(0, slash)) && MODULE_FILE.test(path.slice(slash + 1));
}

/** Where a package's files come from: a Map, a folder, IndexedDB — read one file at a time. */
export interface PackageSource {
  paths: readonly string[];
  read(path: string): Promise<Uint8Array>;
}

export const mapSource = (files: ReadonlyMap<string, Uint8Array>): PackageSource => ({
  paths: [...files.keys()],
  read: async (path) => {
    const bytes = files.get(path);
    if (!bytes) throw new Error(`package: no file ${path}`);
    return bytes;
  },
});

const POOLING_CONFIG = '1_Pooling/config.json';

/** The paths of the package of these run files, sorted (ONNX paths included when asked). */
export function packagedPaths(runPaths: Iterable<string>, modules: readonly string[], opts: Pick<PackageOptions, 'onnx' | 'quantize' | 'form'> = {}): string[] {
  const form = opts.form ?? 'merged';
  const all = [...runPaths];
  if (form === 'adapter') {
    if (!ADAPTER_FILES.every((f) => all.includes(f))) throw new Error(`this model has no PEFT adapter (${ADAPTER_FILES.join(', ')}): only a LoRA run exports one; export it merged`);
    if (opts.onnx || opts.quantize) throw new Error('the adapter form has no ONNX files (transformers.js loads no adapters): export the merged form for ONNX');
  }
  const paths = all.filter((p) => isPackagedPath(p, modules, form));
  if (opts.onnx) paths.push(ONNX_MODEL_PATH);
  if (opts.quantize) paths.push(ONNX_QUANTIZED_PATH);
  return paths.sort();
}

/**
 * The package's files in path order, produced one at a time (a zip or an upload takes each and lets
 * it go). With a record the card is written anew (int8 column, repo id), else the folder's README
 * stays. The model is parsed only for the ONNX files.
 */
export async function* packageEntries(src: PackageSource, record: CardRecord | null, opts: PackageOptions = {}): AsyncGenerator<[string, Uint8Array]> {
  let model: SentenceModel | null = null;
  const modules = src.paths.includes('modules.json') ? moduleDirs(await src.read('modules.json')) : [];
  const kept = packagedPaths(src.paths, modules, opts);
  const parsed = async () => {
    if (!model) {
      const files = new Map<string, Uint8Array>();
      for (const p of kept) if (src.paths.includes(p) && p !== 'README.md' && !RUN_OUTPUT_EXTRAS.has(p)) files.set(p, await src.read(p));
      model = loadSentenceModel(files);
    }
    return model;
  };
  for (const path of kept) {
    if (path === 'README.md' && record) {
      const pooling = src.paths.includes(POOLING_CONFIG) ? parsePoolingConfig(JSON.parse(new TextDecoder().decode(await src.read(POOLING_CONFIG)))) : DEFAULT_POOLING;
      yield [path, new TextEncoder().encode(modelCard(record, { int8: opts.int8, repoId: opts.repoId, pooling, form: opts.form }))];
    } else if (path === 'run_config.json') {
      const bytes = publicConfigJson(await src.read(path));
      if (bytes) yield [path, bytes];
    } else if (path === ONNX_MODEL_PATH) yield [path, exportOnnx(await parsed())];
    else if (path === ONNX_QUANTIZED_PATH) yield [path, exportOnnx(await parsed(), { quantize: true })];
    else yield [path, await src.read(path)];
  }
}

/** The whole package as a Map (the CLI, small enough to hold). */
export async function modelPackage(files: ReadonlyMap<string, Uint8Array>, record: CardRecord | null, opts: PackageOptions = {}): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const [path, bytes] of packageEntries(mapSource(files), record, opts)) out.set(path, bytes);
  return out;
}

/** nDCG and the rest for the int8 model: model_quantized.onnx itself, run by onnxruntime. */
export async function evaluateQuantized(o: { runtime: Runtime; model: SentenceModel; tokenizer: TextTokenizer; set: IrSet; dims: readonly number[]; prompts?: TextPrompts }): Promise<IrResult> {
  const encoder = await OnnxFileEncoder.create(o.runtime, exportOnnx(o.model, { quantize: true }), {
    dim: o.model.config.hiddenSize, pooling: o.model.pooling, normalize: o.model.normalize, name: ONNX_QUANTIZED_PATH,
  });
  try {
    const { timing: _timing, ...result } = await evaluateModel({ encoder, tokenizer: o.tokenizer, set: o.set, dims: o.dims, prompts: o.prompts });
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

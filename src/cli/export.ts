// `tabtune export`: a trained model folder (what `tabtune train --output` wrote, or any
// sentence-transformers folder of a family in models/architectures.ts) as the package people
// take elsewhere (src/lib/export/package.ts): the model folder and its card, optionally ONNX for
// transformers.js (fp32 and int8, the int8 model evaluated on the run's test split for the card),
// written to a folder and/or streamed into a zip. `tabtune script` writes the run as a sentence-transformers train.py.
// Not the packaging itself (the library's) and not the Hub upload (push.ts).

import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { IrResult } from '../lib/eval/ir-metrics.ts';
import { evaluateQuantized, isPackagedPath, modelPackage, moduleDirs, type PackageOptions, zipPackage } from '../lib/export/package.ts';
import { trainScript } from '../lib/export/python-script.ts';
import { ADAPTER_FILES, type ExportForm } from '../lib/export/lora-export.ts';
import { loadSentenceModel } from '../lib/models/sentence-model.ts';
import { readRunRecord, type RunRecord } from '../lib/run/record.ts';
import { buildRunIrSet, runEvalDims } from '../lib/run/run.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { PlainFolderStore } from '../lib/store/plain-folder-store.ts';
import { loadTokenizer, tokenizerFilesFromMap } from '../lib/tokenize/tokenizer.ts';
import { recordedPrompts } from '../lib/models/prompts.ts';
import { parseRunConfig } from '../lib/train/run-config.ts';
import type { CliIo } from './embed.ts';
import { UsageError } from './errors.ts';
import { loadDataSource, resolveHubFlag, type SourceContext } from './sources.ts';
import { sourceSpec } from './train.ts';

export const EXPORT_HELP = `Usage: tabtune export --model DIR (--out DIR | --zip FILE) [--onnx] [--quantize] [--adapter] [--hub URL]

Packages a trained model folder (tabtune train --output DIR) for use elsewhere: the
sentence-transformers folder with its model card (README.md: YAML front matter with the
evaluation, the before/after table, hyperparameters, usage), eval_results.json and
run_config.json. Only those files are packed: the run's checkpoints, run.json, train_log.jsonl,
dotfiles (.env, .git/) and any other file in the folder are left out.

  --model DIR     the trained model folder
  --out DIR       write the package here
  --zip FILE      also (or only) write it as one zip file, streamed
  --onnx          add onnx/model.onnx for transformers.js (input_ids, attention_mask,
                  token_type_ids → last_hidden_state)
  --quantize      add onnx/model_quantized.onnx (int8 linear weights) and put its nDCG@10,
                  measured on the run's test split, in the card (needs the run's data set)
  --adapter       a LoRA run as its PEFT adapter (adapter_config.json, adapter_model.safetensors
                  with the module and tokenizer files, no model.safetensors): sentence-transformers
                  loads it on its base (pip install peft). Without it a LoRA run is exported merged,
                  W + (α/r)·B·A: a plain model. No ONNX with --adapter.
  --backend KIND  engine for that evaluation: node (default) or wasm
  --hub URL       the Hub to load the run's data set from (default: $TABTUNE_HUB_URL or huggingface.co)`;

export const SCRIPT_HELP = `Usage: tabtune script --config FILE [--out train.py]

Writes a Python script that repeats the run with sentence-transformers (>= 3) on a GPU machine:
the same model, data set, column mapping, loss (in MatryoshkaLoss with the same dims), batch size,
epochs, lr, schedule, warmup, weight decay, clipping, seed, NO_DUPLICATES sampler and one
InformationRetrievalEvaluator per dimension. Run it with

  python train.py                              # one GPU
  accelerate launch train.py                   # every GPU of the machine
  torchrun --nproc_per_node 4 train.py         # four GPUs

  --config FILE   a run config (run_config.json from a run, or your own)
  --out FILE      where to write it (default: stdout)`;

/**
 * A model folder's files that a package may hold (package.ts' allow-list), by relative path, and
 * its run record. Nothing else in the folder is read: not `.env`, not `.git/`, not a stray file.
 */
export async function readFolder(dir: string): Promise<{ files: Map<string, Uint8Array>; record: RunRecord | null }> {
  const store = new PlainFolderStore(dir);
  const files = new Map<string, Uint8Array>();
  const keys = await store.keys();
  const modules = keys.includes('modules.json') ? moduleDirs(await store.get('modules.json')) : [];
  for (const key of keys) if (isPackagedPath(key, modules, 'any')) files.set(key, (await store.get(key))!);
  if (!files.has('config.json')) throw new Error(`--model ${dir}: no config.json here; give a model folder (tabtune train --output DIR)`);
  return { files, record: await readRunRecord(store).catch(() => null) };
}

export async function exportCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, out: { type: 'string' }, zip: { type: 'string' }, onnx: { type: 'boolean' }, quantize: { type: 'boolean' }, adapter: { type: 'boolean' },
      backend: { type: 'string', default: 'node' }, hub: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(EXPORT_HELP + '\n');
    return 0;
  }
  if (!values.model) throw new UsageError('missing --model DIR', 'export');
  if (!values.out && !values.zip) throw new UsageError('give --out DIR, --zip FILE or both', 'export');
  const log = (s: string) => io.stderr.write(s + '\n');
  const { files, record } = await readFolder(values.model);
  const opts: PackageOptions = { onnx: values.onnx, quantize: values.quantize, form: exportForm(values, files, 'export') };
  if (values.quantize) opts.int8 = await int8Evaluation(files, record, { hub: values.hub, backend: values.backend, stderr: io.stderr });
  const pkg = await modelPackage(files, record, opts);
  if (values.out) {
    const out = new PlainFolderStore(values.out);
    for (const [path, bytes] of pkg) await out.set(path, bytes);
    for (const dir of moduleDirs(pkg.get('modules.json'))) mkdirSync(join(values.out, dir), { recursive: true });
    log(`wrote ${pkg.size} files to ${values.out}`);
  }
  if (values.zip) {
    mkdirSync(dirname(values.zip), { recursive: true });
    const stream = createWriteStream(values.zip);
    await zipPackage(pkg, (chunk) => new Promise<void>((ok, fail) => stream.write(chunk, (e) => (e ? fail(e) : ok()))));
    await new Promise<void>((ok, fail) => stream.end((e?: Error | null) => (e ? fail(e) : ok())));
    log(`wrote ${values.zip}`);
  }
  return 0;
}

/** The package's form from --adapter, checked against the folder: only a LoRA run has an adapter, and the adapter has no ONNX. */
export function exportForm(values: { adapter?: boolean; onnx?: boolean; quantize?: boolean }, files: ReadonlyMap<string, Uint8Array>, command: string): ExportForm {
  if (!values.adapter) return 'merged';
  if (values.onnx || values.quantize) throw new UsageError('--adapter has no ONNX files (transformers.js loads no adapters): drop --onnx/--quantize, or export merged', command);
  const missing = ADAPTER_FILES.filter((f) => !files.has(f));
  if (missing.length) throw new UsageError(`--adapter: the folder has no ${missing.join(', ')}: only a LoRA run (trainable mode "lora") has a PEFT adapter; export it without --adapter`, command);
  return 'adapter';
}

/** The int8 model on the run's test split (null, with a note, when there is no run or no data). */
export async function int8Evaluation(
  files: ReadonlyMap<string, Uint8Array>,
  record: RunRecord | null,
  o: { hub: string | undefined; backend: string | undefined; stderr: SourceContext['stderr'] },
): Promise<IrResult | null> {
  const log = (s: string) => o.stderr.write(s + '\n');
  if (o.backend !== undefined && o.backend !== 'node' && o.backend !== 'wasm') throw new UsageError(`--backend must be node or wasm, got "${o.backend}"`);
  if (!record) {
    log('--quantize: no run.json in the folder, so the int8 model is not evaluated (the card has no int8 column)');
    return null;
  }
  const config = parseRunConfig(record.config);
  const ctx = { hubUrl: resolveHubFlag(o.hub, process.env, 'export'), stderr: o.stderr, command: 'export' };
  const data = await loadDataSource(sourceSpec(config.data.source, config.data.revision), ctx, {
    mapping: config.data.columns ?? undefined, testFraction: config.data.testFraction, seed: config.data.splitSeed, remedies: config.data,
  });
  const set = buildRunIrSet(config, data.prepared);
  if (!set) {
    log('--quantize: the run\'s data has no test split, so the int8 model is not evaluated');
    return null;
  }
  const model = loadSentenceModel(files);
  const result = await evaluateQuantized({
    runtime: await createRuntime(o.backend === 'wasm' ? 'wasm' : 'node'), model, tokenizer: loadTokenizer(tokenizerFilesFromMap(files, 'model')), set,
    dims: runEvalDims(config, model.config.hiddenSize), prompts: recordedPrompts(config.prompts),
  });
  log(`int8: ${result.evaluators.map((e) => `dim ${e.dim} nDCG@10 ${e.metrics[`${e.name}_cosine_ndcg@10`].toFixed(4)}`).join(', ')}`);
  return result;
}

export async function scriptCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  if (values.help) {
    io.stdout.write(SCRIPT_HELP + '\n');
    return 0;
  }
  if (!values.config) throw new UsageError('missing --config FILE', 'script');
  const config = parseRunConfig(JSON.parse(readFileSync(values.config, 'utf8')));
  const text = trainScript(config);
  if (values.out) {
    writeFileSync(values.out, text);
    io.stderr.write(`wrote ${values.out}; run it with python ${values.out}, accelerate launch ${values.out} or torchrun --nproc_per_node N ${values.out}\n`);
  } else io.stdout.write(text);
  return 0;
}

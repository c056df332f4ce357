// `tabtune train`: reads a run config (`--config FILE`, every field overridable by flags such as
// `--lr 1e-5 --loss.scale 30 --no-shuffle`; plain flags alone work too), trains with the library's
// Trainer on onnxruntime-node (or the WASM EP), shows a progress bar (step, loss, lr, tokens/s,
// ETA), evaluates before and after when the data has a test split, and writes the output folder:
// the sentence-transformers model (src/lib/export), `train_log.jsonl` (one line per step event),
// `eval_results.json`, and `checkpoints/checkpoint-<step>.safetensors` (`--resume` continues from
// the newest). Model and data: a local model folder and a local data folder (train/test .jsonl,
// .csv, .tsv, .json or .parquet) or file.
// Not the training loop (src/lib/train/trainer.ts) and not evaluation (src/lib/eval/).

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join, relative } from 'node:path';
import { prepareDataset } from '../lib/data/dataset.ts';
import { parseDataFile, type Table } from '../lib/data/parse.ts';
import type { Example } from '../lib/data/validate.ts';
import { defaultEvalDims, evaluateModel, type ModelEvalResult } from '../lib/eval/evaluate-model.ts';
import { buildIrSet } from '../lib/eval/ir-set.ts';
import { beforeAfterRows } from '../lib/eval/report.ts';
import { exportSentenceTransformers, modelCard } from '../lib/export/st-folder.ts';
import { loadSentenceModel } from '../lib/models/sentence-model.ts';
import { renderProgressLine } from './progress-bar.ts';
import { ProgressTracker } from '../lib/progress/progress.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../lib/tokenize/node.ts';
import { defaultRunConfig, overrideFromFlags, parseRunConfig, type RunConfig } from '../lib/train/run-config.ts';
import { type TrainEvent, Trainer } from '../lib/train/trainer.ts';
import type { CliIo } from './embed.ts';
import { UsageError } from './errors.ts';

export const TRAIN_HELP = `Usage: tabtune train [--config FILE] [--FIELD VALUE …] [--resume] [--checkpoint-every N]

Fine-tunes a sentence-transformers BERT model with a contrastive loss and writes a
sentence-transformers model folder to --output.

  --config FILE          run config JSON (see src/lib/train/run-config.ts); defaults otherwise
  --model DIR            shorthand for --model.id (a local model folder)
  --data PATH            shorthand for --data.source (a folder with train/test files, or one file)
  --output DIR           output folder (required here or in the config)
  --FIELD VALUE          any run-config field by its dotted path: --lr 1e-5, --batchSize 16,
                         --loss.type cosent, --loss.matryoshka.dims 32,16, --gradCache.miniBatchSize 8,
                         --no-shuffle, --dropout=false, --maxSteps 100, --backend wasm
  --checkpoint-every N   write output/checkpoints/checkpoint-<step>.safetensors every N steps
                         (default: once per epoch)
  --resume               continue from the newest checkpoint in output/checkpoints
  --quiet                no progress bar`;

const DATA_EXT = ['.jsonl', '.json', '.csv', '.tsv', '.parquet'];

interface Parsed {
  configFile: string | null;
  resume: boolean;
  checkpointEvery: number | null;
  quiet: boolean;
  flags: string[];
}

export function parseTrainArgs(argv: string[]): Parsed {
  const p: Parsed = { configFile: null, resume: false, checkpointEvery: null, quiet: false, flags: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`, 'train');
      return v;
    };
    if (a === '--config') p.configFile = value();
    else if (a === '--resume') p.resume = true;
    else if (a === '--quiet') p.quiet = true;
    else if (a === '--checkpoint-every') {
      const n = Number(value());
      if (!(Number.isInteger(n) && n >= 1)) throw new UsageError('--checkpoint-every must be an integer ≥ 1', 'train');
      p.checkpointEvery = n;
    } else if (a === '--model') p.flags.push('--model.id', value());
    else if (a === '--data') p.flags.push('--data.source', value());
    else if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}" (flags look like --lr 1e-5)`, 'train');
    else if (!a.includes('=') && !a.startsWith('--no-') && i + 1 < argv.length && !argv[i + 1].startsWith('--')) p.flags.push(a, argv[++i]);
    else p.flags.push(a);
  }
  return p;
}

/** Every file of a folder, path relative to it with `/`. */
function readFolder(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path).split('\\').join('/'), new Uint8Array(readFileSync(path)));
    }
  };
  walk(dir);
  return out;
}

async function readData(source: string): Promise<Record<string, Table>> {
  if (!existsSync(source)) throw new Error(`${source}: no such data folder or file (Hub data sets: not in the CLI yet)`);
  if (statSync(source).isFile()) return { file: await parseDataFile(basename(source), new Uint8Array(readFileSync(source))) };
  const splits: Record<string, Table> = {};
  for (const name of readdirSync(source).sort()) {
    const ext = extname(name);
    if (!DATA_EXT.includes(ext)) continue;
    const split = basename(name, ext);
    if (splits[split]) throw new Error(`${source}: two files for split "${split}"`);
    splits[split] = await parseDataFile(name, new Uint8Array(readFileSync(join(source, name))));
  }
  if (Object.keys(splits).length === 0) throw new Error(`${source}: no ${DATA_EXT.join('/')} files`);
  return splits;
}

function latestCheckpoint(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const steps = readdirSync(dir)
    .map((n) => /^checkpoint-(\d+)\.safetensors$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  return steps.length ? join(dir, `checkpoint-${steps[0]}.safetensors`) : null;
}

export async function trainCommand(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(TRAIN_HELP + '\n');
    return 0;
  }
  const args = parseTrainArgs(argv);
  const base = args.configFile ? parseRunConfig(JSON.parse(readFileSync(args.configFile, 'utf8'))) : defaultRunConfig();
  let config: RunConfig = overrideFromFlags(base, args.flags);
  if (!config.output) throw new UsageError('no output folder: give --output DIR or "output" in the config', 'train');
  const out = config.output;
  const log = (s: string) => io.stderr.write(s + '\n');

  if (!existsSync(config.model.id) || !statSync(config.model.id).isDirectory()) {
    throw new Error(`${config.model.id}: not a local model folder (Hub ids: download it first, e.g. with the web app's cache)`);
  }
  const sourceFiles = readFolder(config.model.id);
  const model = loadSentenceModel(sourceFiles);
  config = parseRunConfig(config, { hidden: model.config.hiddenSize });
  const tokenizer = loadTokenizerFromDir(config.model.id);
  const data = prepareDataset(await readData(config.data.source), {
    source: config.data.source, mapping: config.data.columns ?? undefined, testFraction: config.data.testFraction, seed: config.data.splitSeed,
  });
  for (const i of data.issues) log(`${i.level}: ${i.message}`);
  if (!data.usable || data.train.length === 0) throw new Error(`${config.data.source}: no usable training rows`);
  const kind = config.backend === 'wasm' ? 'wasm' : config.backend === 'webgpu' ? null : 'node';
  if (!kind) throw new Error('backend "webgpu" runs in the browser only; the CLI has "node" and "wasm"');
  const runtime = await createRuntime(kind);

  const trainer = new Trainer({ runtime, model, tokenizer, config, train: data.train, onEvent: (e) => onEvent(e) });
  const encoder = await trainer.getEncoder();
  log(`model ${config.model.id}: ${encoder.describe()}; ${data.train.length} train / ${data.test.length} test rows; ${trainer.plan.maxSteps} steps`);

  const dims = config.loss.matryoshka ? config.loss.matryoshka.dims.filter((d) => d <= model.config.hiddenSize) : defaultEvalDims(model.config.hiddenSize);
  const irSet = data.test.length ? buildIrSet(data.train as Example[], data.test as Example[], { mode: config.eval.recipeCompatible ? 'recipe' : 'default' }) : null;
  const evaluate = async (what: string): Promise<ModelEvalResult | null> => {
    if (!irSet) return null;
    const r = await evaluateModel({ encoder, tokenizer, set: irSet, dims });
    log(`${what}: ${r.evaluators.map((e) => `dim ${e.dim} nDCG@10 ${e.metrics[`${e.name}_cosine_ndcg@10`].toFixed(4)}`).join(', ')}`);
    return r;
  };

  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  const logPath = join(out, 'train_log.jsonl');
  let resumedFrom: string | null = null;
  if (args.resume) {
    resumedFrom = latestCheckpoint(join(out, 'checkpoints'));
    if (!resumedFrom) throw new Error(`--resume: no checkpoint in ${join(out, 'checkpoints')}`);
    await trainer.resume(new Uint8Array(readFileSync(resumedFrom)));
    log(`resumed from ${resumedFrom} at step ${trainer.step}`);
  }
  const before = config.eval.before && !resumedFrom ? await evaluate('before') : null;

  const tracker = new ProgressTracker({ total: trainer.plan.maxSteps, unit: 'steps' });
  tracker.update(trainer.step);
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let lastDraw = -Infinity;
  writeFileSync(logPath, trainer.events.map((e) => JSON.stringify(e) + '\n').join(''));
  function onEvent(e: TrainEvent): void {
    if (e.type === 'path') log(`training path: ${e.path}${e.miniBatchSize ? ` (mini-batch ${e.miniBatchSize})` : ''} — ${e.why}`);
    if (e.type !== 'step') return;
    writeFileSync(logPath, JSON.stringify(e) + '\n', { flag: 'a' });
    tracker.update(e.step);
    const now = performance.now();
    if (args.quiet || (!tty && now - lastDraw < 10_000 && e.step !== e.maxSteps)) return;
    lastDraw = now;
    const tok = e.tokensPerS === null ? '' : ` ${e.tokensPerS >= 1000 ? `${(e.tokensPerS / 1000).toFixed(1)}k` : e.tokensPerS.toFixed(0)} tok/s`;
    const label = `train loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)}${tok} epoch ${e.epoch.toFixed(2)}`;
    const line = renderProgressLine(tracker.snapshot(), label, (io.stderr as { columns?: number }).columns ?? 120);
    io.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  const every = args.checkpointEvery ?? trainer.plan.updatesPerEpoch;
  await trainer.run({
    checkpointEvery: every,
    onCheckpoint: (bytes, step) => writeFileSync(join(out, 'checkpoints', `checkpoint-${step}.safetensors`), bytes),
  });
  if (tty && !args.quiet) io.stderr.write('\n');
  const after = config.eval.after ? await evaluate('after') : null;

  const evaluation = after
    ? (before ? beforeAfterRows(before, after) : after.evaluators.map((e) => ({ dim: e.dim, key: 'cosine_ndcg@10', after: e.metrics[`${e.name}_cosine_ndcg@10`], before: null })))
        .map((r) => ({ key: `dim_${r.dim}_${r.key}`, before: r.before, after: r.after }))
    : undefined;
  const enc = new TextEncoder();
  const files = exportSentenceTransformers({
    sourceFiles,
    weights: trainer.weights(),
    readme: modelCard({
      baseModel: config.model.id, dataset: config.data.source, steps: trainer.step, evaluation, config,
      loss: `${config.loss.matryoshka ? `MatryoshkaLoss(${config.loss.type}, dims ${config.loss.matryoshka.dims.join('/')})` : config.loss.type}`,
    }),
    extra: new Map([['eval_results.json', enc.encode(JSON.stringify({ before: before?.metrics ?? null, after: after?.metrics ?? null, rows: evaluation ?? [] }, null, 2) + '\n')]]),
  });
  for (const [path, bytes] of files) {
    const full = join(out, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, bytes);
  }
  // sentence-transformers expects the Normalize module's folder even when it is empty.
  for (const dir of ['2_Normalize']) if (existsSync(join(config.model.id, dir))) mkdirSync(join(out, dir), { recursive: true });
  await trainer.dispose();
  io.stdout.write(`${out}\n`);
  return 0;
}

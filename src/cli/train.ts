// `tabtune train`: reads a run config (`--config FILE`, every field overridable by flags such as
// `--lr 1e-5 --loss.scale 30 --no-shuffle`; plain flags alone work too), trains with the library's
// Trainer on onnxruntime-node (or the WASM EP), shows a progress bar (step, loss, lr, tokens/s,
// ETA), evaluates before and after when the data has a test split, and writes the output folder:
// the sentence-transformers model (src/lib/export), `train_log.jsonl` (one line per step event),
// `eval_results.json`, and `checkpoints/checkpoint-<step>.safetensors` (`--resume` continues from
// the newest). Model and data: a local model folder and a local data folder (train/test .jsonl,
// .csv, .tsv, .json or .parquet) or file.
// Not the training loop (src/lib/train/trainer.ts) and not evaluation (src/lib/eval/).

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ColumnMapping } from '../lib/data/columns.ts';
import type { Example } from '../lib/data/validate.ts';
import { defaultEvalDims, evaluateModel, type ModelEvalResult } from '../lib/eval/evaluate-model.ts';
import { buildIrSet } from '../lib/eval/ir-set.ts';
import { beforeAfterRows } from '../lib/eval/report.ts';
import { exportSentenceTransformers, modelCard } from '../lib/export/st-folder.ts';
import { withSingleWeightsFile } from '../lib/models/sentence-model.ts';
import { renderProgressLine } from './progress-bar.ts';
import { ProgressTracker } from '../lib/progress/progress.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { defaultRunConfig, overrideFromFlags, parseRunConfig, type RunConfig } from '../lib/train/run-config.ts';
import { type TrainEvent, Trainer } from '../lib/train/trainer.ts';
import type { CliIo } from './embed.ts';
import { UsageError } from './errors.ts';
import { loadDataSource, loadModelSource, parseColumnsFlag, reportData, resolveHubFlag } from './sources.ts';

export const TRAIN_HELP = `Usage: tabtune train [--config FILE] [--FIELD VALUE …] [--resume] [--checkpoint-every N]

Fine-tunes a sentence-transformers BERT model with a contrastive loss and writes a
sentence-transformers model folder to --output.

  --config FILE          run config JSON (see src/lib/train/run-config.ts); defaults otherwise
  --model DIR|HUB_ID     shorthand for --model.id: a model folder or a Hub model id
                         (owner/name[@revision]; --model.revision also picks the revision)
  --data DIR|FILE|HUB_ID shorthand for --data.source: a folder with split files (train.jsonl,
                         test.jsonl, … or the Hub layout data/train-00000-of-00001.parquet), one
                         data file, or a Hub data set id; without a test split, a seeded
                         --data.testFraction split (seed --data.splitSeed) is held out
  --columns MAP          column roles, e.g. anchor=question,positive=doc,id=id (default: detected)
  --output DIR           output folder (required here or in the config)
  --FIELD VALUE          any run-config field by its dotted path: --lr 1e-5, --batchSize 16,
                         --loss.type cosent, --loss.matryoshka.dims 32,16, --gradCache.miniBatchSize 8,
                         --no-shuffle, --dropout=false, --maxSteps 100, --backend wasm,
                         --eval.everyEpoch (evaluate after every epoch, logged as eval_… lines)
  --checkpoint-every N   write output/checkpoints/checkpoint-<step>.safetensors every N steps
                         (default: once per epoch)
  --resume               continue from the newest checkpoint in output/checkpoints
  --hub URL              the Hub to download from (default: $TABTUNE_HUB_URL or https://huggingface.co)
  --quiet                no progress bar

Ctrl-C stops at the next step, writes a checkpoint and prints the command that resumes (exit 130).
Hub downloads are cached in $TABTUNE_CACHE (default ~/.cache/tabtune).`;

/** Exit status after Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

interface Parsed {
  configFile: string | null;
  resume: boolean;
  checkpointEvery: number | null;
  quiet: boolean;
  hub: string | undefined;
  columns: ColumnMapping | undefined;
  flags: string[];
}

export function parseTrainArgs(argv: string[]): Parsed {
  const p: Parsed = { configFile: null, resume: false, checkpointEvery: null, quiet: false, hub: undefined, columns: undefined, flags: [] };
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
    } else if (a === '--hub') p.hub = value();
    else if (a === '--columns') p.columns = parseColumnsFlag(value(), 'train');
    else if (a === '--model') p.flags.push('--model.id', value());
    else if (a === '--data') p.flags.push('--data.source', value());
    else if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}" (flags look like --lr 1e-5)`, 'train');
    else if (!a.includes('=') && !a.startsWith('--no-') && i + 1 < argv.length && !argv[i + 1].startsWith('--')) p.flags.push(a, argv[++i]);
    else p.flags.push(a);
  }
  return p;
}

/** A run config's id + revision as sources.ts takes it: a path as it is, a Hub id with `@revision` unless main. */
export function sourceSpec(id: string, revision: string): string {
  if (existsSync(id) || id.includes('@') || revision === 'main') return id;
  return `${id}@${revision}`;
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

/** The `eval` lines of an earlier run's log up to `step` (kept when --resume rewrites the log). */
function earlierEvalLines(logPath: string, step: number): { step: number; line: string }[] {
  if (!existsSync(logPath)) return [];
  const out: { step: number; line: string }[] = [];
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { type?: string; step?: number };
      if (e.type === 'eval' && typeof e.step === 'number' && e.step <= step) out.push({ step: e.step, line });
    } catch {
      // a line cut by a crash: dropped
    }
  }
  return out;
}

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export async function trainCommand(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(TRAIN_HELP + '\n');
    return 0;
  }
  const args = parseTrainArgs(argv);
  const base = args.configFile ? parseRunConfig(JSON.parse(readFileSync(args.configFile, 'utf8'))) : defaultRunConfig();
  let config: RunConfig = overrideFromFlags(base, args.flags);
  if (args.columns) config = parseRunConfig({ ...config, data: { ...config.data, columns: args.columns } });
  if (!config.output) throw new UsageError('no output folder: give --output DIR or "output" in the config', 'train');
  const out = config.output;
  const log = (s: string) => io.stderr.write(s + '\n');
  const kind = config.backend === 'wasm' ? 'wasm' : config.backend === 'webgpu' ? null : 'node';
  if (!kind) throw new UsageError('backend "webgpu" runs in the browser only; the CLI has "node" and "wasm"', 'train');
  const ctx = { hubUrl: resolveHubFlag(args.hub, process.env, 'train'), stderr: io.stderr, command: 'train' };

  const source = await loadModelSource(sourceSpec(config.model.id, config.model.revision), ctx);
  const { model, tokenizer } = source;
  config = parseRunConfig(config, { hidden: model.config.hiddenSize });
  const maxTokens = config.maxSeqLength ?? tokenizer.maxLength;
  const dataSource = await loadDataSource(sourceSpec(config.data.source, config.data.revision), ctx, {
    mapping: config.data.columns ?? undefined, testFraction: config.data.testFraction, seed: config.data.splitSeed,
    maxTokens, countTokens: (t) => tokenizer.tokenize(t).length + 2,
  });
  reportData(dataSource, io.stderr);
  const data = dataSource.prepared;
  if (data.train.length === 0) throw new Error(`${dataSource.name}: no usable training rows`);
  const runtime = await createRuntime(kind);

  const trainer = new Trainer({ runtime, model, tokenizer, config, train: data.train, onEvent: (e) => onEvent(e) });
  const encoder = await trainer.getEncoder();
  log(`model ${source.name}: ${encoder.describe()}; ${data.train.length} train / ${data.test.length} test rows; ${trainer.plan.maxSteps} steps`);

  const dims = config.loss.matryoshka ? config.loss.matryoshka.dims.filter((d) => d <= model.config.hiddenSize) : defaultEvalDims(model.config.hiddenSize);
  const irSet = data.test.length ? buildIrSet(data.train as Example[], data.test as Example[], { mode: config.eval.recipeCompatible ? 'recipe' : 'default' }) : null;
  const evaluate = async (what: string): Promise<ModelEvalResult | null> => {
    if (!irSet) return null;
    const r = await evaluateModel({ encoder, tokenizer, set: irSet, dims });
    log(`${what}: ${r.evaluators.map((e) => `dim ${e.dim} nDCG@10 ${e.metrics[`${e.name}_cosine_ndcg@10`].toFixed(4)}`).join(', ')}`);
    return r;
  };
  if (config.eval.everyEpoch && !irSet) log('eval.everyEpoch: the data has no test rows, so there is nothing to evaluate on');

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
  // Step lines from the checkpoint, with the eval lines of the earlier run kept in place.
  const keptEvals = resumedFrom ? earlierEvalLines(logPath, trainer.step) : [];
  const logLines = trainer.events.flatMap((e) => {
    const step = (e as { step: number }).step;
    return [JSON.stringify(e), ...keptEvals.filter((k) => k.step === step).map((k) => k.line)];
  });
  writeFileSync(logPath, logLines.map((l) => l + '\n').join(''));
  let lastEpoch = 0;
  const evals: { last: { step: number; result: ModelEvalResult } | null } = { last: null };
  const controller = new AbortController();
  let interrupted = false;
  function onEvent(e: TrainEvent): void {
    if (e.type === 'path') log(`training path: ${e.path}${e.miniBatchSize ? ` (mini-batch ${e.miniBatchSize})` : ''} — ${e.why}`);
    if (e.type !== 'step') return;
    // Stopping here, right after an update, leaves no half-accumulated gradient behind.
    if (interrupted) controller.abort();
    lastEpoch = e.epoch;
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
  /** Evaluates and appends the HF trainer's log line: {eval_dim_384_cosine_ndcg@10: …, epoch, step}. */
  const evalEpoch = async (epoch: number, step: number) => {
    if (tty && !args.quiet) io.stderr.write('\n');
    const r = await evaluate(`epoch ${Number(epoch.toFixed(2))} (step ${step})`);
    if (!r) return;
    evals.last = { step, result: r };
    const line: Record<string, number | string> = { type: 'eval', epoch, step };
    for (const [k, v] of Object.entries(r.metrics)) line[`eval_${k}`] = v;
    writeFileSync(logPath, JSON.stringify(line) + '\n', { flag: 'a' });
  };

  const onSigint = () => {
    // A second Ctrl-C does not wait for the step to finish.
    if (interrupted) process.exit(EXIT_INTERRUPTED);
    interrupted = true;
    io.stderr.write(`${tty ? '\n' : ''}Ctrl-C: stopping after the current step (again to quit at once, without a checkpoint)\n`);
  };
  process.on('SIGINT', onSigint);
  const every = args.checkpointEvery ?? trainer.plan.updatesPerEpoch;
  const checkpointPath = (step: number) => join(out, 'checkpoints', `checkpoint-${step}.safetensors`);
  let result;
  try {
    result = await trainer.run({
      signal: controller.signal,
      checkpointEvery: every,
      onCheckpoint: (bytes, step) => writeFileSync(checkpointPath(step), bytes),
      onEpochEnd: config.eval.everyEpoch && irSet ? (epoch, step) => evalEpoch(epoch + 1, step) : undefined,
    });
    // The loop ends at the plan's last update without reaching the epoch's end; HF evaluates there too.
    if (!result.stopped && !interrupted && config.eval.everyEpoch && irSet && evals.last?.step !== trainer.step && trainer.step > 0) {
      await evalEpoch(lastEpoch, trainer.step);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (tty && !args.quiet) io.stderr.write('\n');
  if (interrupted) {
    const path = checkpointPath(trainer.step);
    writeFileSync(path, trainer.checkpoint());
    await trainer.dispose();
    const again = ['tabtune', 'train', ...argv.filter((a) => a !== '--resume'), '--resume'].map(shellQuote).join(' ');
    log(`interrupted at step ${trainer.step} of ${trainer.plan.maxSteps}; checkpoint ${path}\nresume with: ${again}`);
    return EXIT_INTERRUPTED;
  }
  let after: ModelEvalResult | null = null;
  if (config.eval.after && evals.last?.step === trainer.step) {
    after = evals.last.result;
    log(`after: the evaluation at step ${trainer.step} above`);
  } else if (config.eval.after) after = await evaluate('after');

  const evaluation = after
    ? (before ? beforeAfterRows(before, after) : after.evaluators.map((e) => ({ dim: e.dim, key: 'cosine_ndcg@10', after: e.metrics[`${e.name}_cosine_ndcg@10`], before: null })))
        .map((r) => ({ key: `dim_${r.dim}_${r.key}`, before: r.before, after: r.after }))
    : undefined;
  const enc = new TextEncoder();
  const sourceFiles = withSingleWeightsFile(source.files);
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
  // sentence-transformers expects every module's folder, even an empty one (Normalize), which
  // neither the Hub nor the file map keeps.
  for (const dir of moduleFolders(sourceFiles)) mkdirSync(join(out, dir), { recursive: true });
  await trainer.dispose();
  io.stdout.write(`${out}\n`);
  return 0;
}

function moduleFolders(files: ReadonlyMap<string, Uint8Array>): string[] {
  const bytes = files.get('modules.json');
  if (!bytes) return [];
  const modules = JSON.parse(new TextDecoder().decode(bytes)) as { path?: string }[];
  return modules.map((m) => m.path ?? '').filter((p) => p !== '' && !p.includes('..'));
}

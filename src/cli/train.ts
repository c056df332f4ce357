// `tabtune train`: the terminal's adapter over the run orchestrator (src/lib/run/run.ts). Reads a
// run config (`--config FILE`, every field overridable by flags such as `--lr 1e-5 --loss.scale 30
// --no-shuffle`; plain flags alone work too), loads the model and data through sources.ts, and
// runs on onnxruntime-node (or the WASM EP) with the output folder as the run's store: progress
// bars for training and evaluation, a line per evaluation, Ctrl-C → stop at the next update
// boundary with a checkpoint (exit 130), `--resume` → continue from the newest checkpoint,
// `--use best|last` → switch a finished run's model between its best and last kept weights.
// What a run writes and when is the orchestrator's; this file only draws and handles signals.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { ColumnMapping } from '../lib/data/columns.ts';
import { hygieneLines } from '../lib/data/hygiene.ts';
import type { EvalProgress } from '../lib/eval/evaluate-model.ts';
import { moduleDirs } from '../lib/export/package.ts';
import { ProgressTracker } from '../lib/progress/progress.ts';
import { modelIdentity } from '../lib/run/identity.ts';
import { checkpointKey, readRunRecord, RUN_RECORD_KEY, type RunRecord } from '../lib/run/record.ts';
import { metricWords } from '../lib/run/best.ts';
import { type RunEvent, runPrompts, runTraining, useKeptWeights } from '../lib/run/run.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { PlainFolderStore } from '../lib/store/plain-folder-store.ts';
import { describeColumns, LOSS_PARAMS, LOSS_RECORDS, LOSS_TYPES } from '../lib/losses/records.ts';
import { overrideFromFlags } from '../lib/train/run-config-flags.ts';
import { defaultRunConfig, parseRunConfig, type RunConfig } from '../lib/train/run-config.ts';
import type { CliIo } from './embed.ts';
import { UsageError } from './errors.ts';
import { ProgressBar, renderProgressLine } from './progress-bar.ts';
import { loadDataSource, loadModelSource, parseColumnsFlag, reportData, resolveHubFlag } from './sources.ts';

/** One help line per loss record: the columns it needs and its parameters with their defaults. */
const lossHelp = LOSS_TYPES.map((t) => {
  const params = Object.entries(LOSS_RECORDS[t].defaults).map(([k, d]) => {
    const def = LOSS_PARAMS[k as keyof typeof LOSS_PARAMS];
    return `--loss.${k} ${def.kind === 'choice' ? def.choices.join('|') : 'N'} (default ${d})`;
  });
  return `  ${t.padEnd(22)} ${LOSS_RECORDS[t].label}: needs ${describeColumns(t)}\n${' '.repeat(25)}${params.join(', ')}`;
}).join('\n');

export const TRAIN_HELP = `Usage: tabtune train [--config FILE] [--FIELD VALUE …] [--resume] [--checkpoint-every N]
       tabtune train --output DIR --use best|last

Fine-tunes a sentence-transformers model (BERT or XLM-RoBERTa) with a contrastive loss and writes a
sentence-transformers model folder to --output.

  --config FILE          run config JSON (see src/lib/train/run-config.ts); defaults otherwise
  --model DIR|HUB_ID     shorthand for --model.id: a model folder or a Hub model id
                         (owner/name[@revision]; --model.revision also picks the revision)
  --data DIR|FILE|HUB_ID shorthand for --data.source: a folder with split files (train.jsonl,
                         test.jsonl, … or the Hub layout data/train-00000-of-00001.parquet), one
                         data file, or a Hub data set id; without a test split, a seeded
                         --data.testFraction split (seed --data.splitSeed) is held out
  --columns MAP          column roles, e.g. anchor=question,positive=doc,id=id (default: detected)
  --data.dropDuplicates  drop rows that repeat an earlier row (hygiene: counts are printed before
  --data.moveLeakedTest  training); move test rows whose positive is a training positive to train
  --output DIR           output folder (required here or in the config): new, empty, or an
                         earlier tabtune run's folder (a non-empty folder without run.json is refused)
  --FIELD VALUE          any run-config field by its dotted path: --lr 1e-5, --batchSize 16,
                         --loss.type cosent, --loss.matryoshka.dims 32,16, --gradCache.miniBatchSize 8,
                         --no-shuffle, --dropout=false, --maxSteps 100, --backend wasm,
                         --eval.everyEpoch (evaluate after every epoch, logged as eval_… lines),
                         --eval.everyUpdates N|auto (evaluate on the test split every N updates;
                         auto: N so evaluation stays under 15 % of the run's time),
                         --eval.best mean|dim_768|KEY (keep the best evaluation's weights as the
                         model; without it the model is the last update's and the best is kept
                         beside it), --eval.patience K (early stopping: end after K evaluations
                         without improvement, keeping the best),
                         --prompts.query.text "query: " (the anchor column's and the queries' prompt),
                         --prompts.document.name passage (the model's prompt "passage" on positives,
                         negatives and the corpus), --prompts.query auto (the default: the model's
                         own prompts; "query: " / "passage: " for intfloat/e5-* models without any)
                         --trainable.mode freeze --trainable.layers 6 (embeddings and layers 0-5
                         frozen), --trainable.mode lora --trainable.r 16 --trainable.alpha 32
                         --trainable.targetModules all-linear (or query,value: PEFT's matching;
                         docs/lora.md)
                         --frozenDtype float16 (frozen weights held as float16, cast in the graph:
                         half their runtime memory; docs/memory.md)
  --checkpoint-every N   write output/checkpoints/checkpoint-<step>.safetensors every N updates
                         (default: a quarter of the run, at most an epoch apart; also at every
                         epoch's end; only the newest is kept, and none once the run finishes)
  --use best|last        a finished run (--output DIR) that evaluated during training: make its model
                         the best or the last update's weights (card and eval_results.json follow)
  --resume               continue from the newest checkpoint in output/checkpoints (refused, naming
                         the difference, when the model, the training rows or the config differ)
  --hub URL              the Hub to download from (default: $TABTUNE_HUB_URL or https://huggingface.co)
  --quiet                no progress bar

Losses (--loss.type TYPE; any of them inside MatryoshkaLoss with --loss.matryoshka.dims):
${lossHelp}

Ctrl-C finishes the update in progress (all of its accumulation micro-batches), writes a checkpoint
and prints the command that resumes (exit 130).
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
  /** --use best|last: switch a finished run's model instead of training. */
  use: 'best' | 'last' | null;
  flags: string[];
}

export function parseTrainArgs(argv: string[]): Parsed {
  const p: Parsed = { configFile: null, resume: false, checkpointEvery: null, quiet: false, hub: undefined, columns: undefined, use: null, flags: [] };
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
    else if (a === '--use') {
      const v = value();
      if (v !== 'best' && v !== 'last') throw new UsageError('--use must be "best" or "last"', 'train');
      p.use = v;
    }
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

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** Test and embedding hooks: every run event, as the orchestrator emits it. */
export interface TrainHooks {
  onEvent?: (e: RunEvent) => void;
}

export async function trainCommand(argv: string[], io: CliIo, hooks: TrainHooks = {}): Promise<number> {
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
  if (args.use) {
    const store = new PlainFolderStore(out);
    const before = await readRunRecord(store).catch(() => null);
    if (!before) throw new UsageError(`--use: ${out} is not a tabtune run's folder (no ${RUN_RECORD_KEY})`, 'train');
    // A LoRA run merges the chosen adapters into its base model: the one its config names, loaded (from the cache) only then.
    const base = async (record: RunRecord) => {
      const ctx = { hubUrl: resolveHubFlag(args.hub, process.env, 'train'), stderr: io.stderr, command: 'train' };
      const source = await loadModelSource(sourceSpec(record.config.model.id, record.config.model.revision), ctx);
      return { weights: source.model.weights, identity: await modelIdentity(source.name, source.files, source.hub) };
    };
    const r = await useKeptWeights(store, args.use, { base });
    io.stderr.write(`model: update ${r.kept!.step} (${r.kept!.choice}): ${r.kept!.why}\n`);
    io.stdout.write(`${out}\n`);
    return 0;
  }
  await checkOutputFolder(out);
  const log = (s: string) => io.stderr.write(s + '\n');
  const kind = config.backend === 'wasm' ? 'wasm' : config.backend === 'webgpu' ? null : 'node';
  if (!kind) throw new UsageError('backend "webgpu" runs in the browser only; the CLI has "node" and "wasm"', 'train');
  const ctx = { hubUrl: resolveHubFlag(args.hub, process.env, 'train'), stderr: io.stderr, command: 'train' };

  const source = await loadModelSource(sourceSpec(config.model.id, config.model.revision), ctx);
  const { model, tokenizer } = source;
  config = parseRunConfig(config, { hidden: model.config.hiddenSize });
  const prompts = runPrompts(config, model.prompts);
  const maxTokens = config.maxSeqLength ?? tokenizer.maxLength;
  const dataSource = await loadDataSource(sourceSpec(config.data.source, config.data.revision), ctx, {
    mapping: config.data.columns ?? undefined, testFraction: config.data.testFraction, seed: config.data.splitSeed, remedies: config.data,
    maxTokens, countTokens: (t) => tokenizer.tokenize(t).length + 2,
  });
  reportData(dataSource, io.stderr);
  for (const line of hygieneLines(dataSource.prepared.hygiene, dataSource.prepared.remedied, config.sampler)) log(`warning: ${line}`);
  const data = dataSource.prepared;
  const runtime = await createRuntime(kind);
  const identity = await modelIdentity(source.name, source.files, source.hub);

  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  const columns = () => (io.stderr as { columns?: number }).columns ?? 120;
  const steps = new ProgressTracker({ unit: 'steps' });
  let lastDraw = -Infinity;
  let evalBar: ProgressBar | null = null;
  const endLine = () => {
    if (tty && !args.quiet && lastDraw > -Infinity) io.stderr.write('\n');
    lastDraw = -Infinity;
  };
  const drawStep = (e: Extract<RunEvent, { type: 'step' }>) => {
    steps.update(e.step);
    const now = performance.now();
    if (args.quiet || (!tty && now - lastDraw < 10_000 && e.step !== e.maxSteps)) return;
    lastDraw = now;
    const tok = e.tokensPerS === null ? '' : ` ${e.tokensPerS >= 1000 ? `${(e.tokensPerS / 1000).toFixed(1)}k` : e.tokensPerS.toFixed(0)} tok/s`;
    const label = `train loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)}${tok} epoch ${e.epoch.toFixed(2)}`;
    const line = renderProgressLine(steps.snapshot(), label, columns());
    io.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
  const drawEval = (which: string, p: EvalProgress) => {
    if (args.quiet || p.phase !== 'embed') return;
    evalBar ??= new ProgressBar({ label: `eval ${which}`, unit: 'texts', total: p.total, stream: io.stderr });
    evalBar.update(p.done);
  };
  const onEvent = (e: RunEvent) => {
    hooks.onEvent?.(e);
    switch (e.type) {
      case 'start':
        log(`model ${source.name}: ${e.encoder}; ${e.train} train / ${e.test} test rows; ${e.maxSteps} steps`);
        if (prompts.query || prompts.document) log(`prompts: query ${JSON.stringify(prompts.query)} (the anchors, the queries), document ${JSON.stringify(prompts.document)} (positives, negatives, the corpus)`);
        steps.setTotal(e.maxSteps);
        steps.update(e.resumedFrom ?? 0);
        if (e.resumedFrom !== null) log(`resumed from ${join(out, checkpointKey(e.resumedFrom))} at step ${e.resumedFrom}`);
        break;
      case 'path':
        log(`training path: ${e.path}${e.miniBatchSize ? ` (mini-batch ${e.miniBatchSize})` : ''} — ${e.why}; optimizer on the ${e.optimizer === 'device' ? 'device' : 'host'}`);
        break;
      case 'step':
        drawStep(e);
        break;
      case 'stopping':
        endLine();
        log(`finishing update ${e.step} (${e.microBatch} of its ${e.of} micro-batches done) before stopping`);
        break;
      case 'eval-progress':
        endLine();
        drawEval(e.which, e.progress);
        break;
      case 'eval': {
        evalBar?.finish();
        evalBar = null;
        const at = e.which === 'epoch' ? `epoch ${Number(e.epoch!.toFixed(2))} (step ${e.step})` : e.which === 'updates' ? `update ${e.step}` : e.which;
        const what = e.replayed ? `${at}, before the resume` : at;
        log(`${what}: ${e.result.evaluators.map((v) => `dim ${v.dim} nDCG@10 ${v.metrics[`${v.name}_cosine_ndcg@10`].toFixed(4)}`).join(', ')}`);
        if (e.result.triplet) {
          log(`${what}: triplet accuracy (${e.result.triplet.triplets} triplets) ${e.result.triplet.evaluators.map((v) => `dim ${v.dim} ${v.metrics[`${v.name}_cosine_accuracy`].toFixed(4)}`).join(', ')}`);
        }
        break;
      }
      case 'eval-cost': {
        const c = e.cost;
        const share = c.evalS + c.trainS > 0 ? Math.round((100 * c.evalS) / (c.evalS + c.trainS)) : 0;
        const best = e.best ? `; best ${metricWords(e.best.metric)} ${e.best.value.toFixed(4)} at update ${e.best.step}${e.best.since ? ` (${e.best.since} evaluation${e.best.since > 1 ? 's' : ''} since)` : ''}` : '';
        log(`evaluation during training: ${share} % of the time so far${c.why ? ` (${c.why})` : ''}${best}`);
        break;
      }
      case 'warning':
        endLine();
        log(`warning: ${e.message}`);
        break;
    }
  };

  const controller = new AbortController();
  const onSigint = () => {
    // A second Ctrl-C does not wait for the update to finish.
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    controller.abort();
    endLine();
    io.stderr.write('Ctrl-C: stopping after the current update (again to quit at once, without a checkpoint)\n');
  };
  process.on('SIGINT', onSigint);
  let outcome;
  try {
    outcome = await runTraining({
      store: new PlainFolderStore(out), runtime, config, runId: basename(resolve(out)), resume: args.resume, checkpointEvery: args.checkpointEvery,
      // The process ends with the run: its weights may be trained in place (one copy fewer).
      model: { name: source.name, model, tokenizer, files: source.files, identity, trainInPlace: true },
      data: { source: dataSource.name, train: data.train, test: data.test, generated: dataSource.generated },
      signal: controller.signal, onEvent,
      memory: { deviceMemoryBytes: totalmem() },
    });
  } finally {
    process.off('SIGINT', onSigint);
    endLine();
  }
  const { record } = outcome;
  if (outcome.status === 'stopped') {
    const again = ['tabtune', 'train', ...argv.filter((a) => a !== '--resume'), '--resume'].map(shellQuote).join(' ');
    if (record.checkpointStep === null) log(`interrupted before the first update; nothing to resume (run the command again)`);
    else log(`interrupted at step ${record.step} of ${record.maxSteps}; checkpoint ${join(out, checkpointKey(record.checkpointStep))}\nresume with: ${again}`);
    return EXIT_INTERRUPTED;
  }
  // sentence-transformers expects every module's folder, even an empty one (Normalize), which
  // neither the Hub nor a file map keeps.
  for (const dir of moduleFolders(source.files)) mkdirSync(join(out, dir), { recursive: true });
  if (record.kept) {
    log(`${record.earlyStopped ? 'early stopping ended training; ' : ''}model: update ${record.kept.step} (${record.kept.choice}): ${record.kept.why}`);
    if (record.kept.best !== record.kept.last) {
      const other = record.kept.choice === 'best' ? 'last' : 'best';
      log(`to use the ${other} (update ${other === 'best' ? record.kept.best : record.kept.last}) instead: tabtune train --output ${shellQuote(out)} --use ${other}`);
    }
  }
  io.stdout.write(`${out}\n`);
  return 0;
}

/**
 * `--output` must be new, empty or a tabtune run's own folder (its run.json, the record a run
 * writes before its first update): a run writes README.md, config.json, model.safetensors … there,
 * and another folder's files are not ours to overwrite. Checked before anything is read or
 * written; a refused folder is left as it was.
 */
export async function checkOutputFolder(dir: string): Promise<void> {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) throw new UsageError(`--output ${dir} is a file, not a folder; choose a new or empty folder`, 'train');
  const entries = readdirSync(dir).sort();
  if (entries.length === 0) return;
  if (await readRunRecord(new PlainFolderStore(dir)).catch(() => null)) return;
  const listed = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, … (${entries.length} entries)` : '');
  throw new UsageError(
    `--output ${dir} is not empty (${listed}) and is not a tabtune run's folder (no ${RUN_RECORD_KEY}): a run would overwrite files there, so nothing was written. ` +
      `Choose a new or empty folder; to continue a tabtune run, give that run's own output folder with --resume.`,
    'train',
  );
}

/** The module folders modules.json names (`1_Pooling`, `2_Normalize`): made even when empty. */
export function moduleFolders(files: ReadonlyMap<string, Uint8Array>): string[] {
  return moduleDirs(files.get('modules.json'));
}

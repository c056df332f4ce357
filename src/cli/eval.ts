// `tabtune eval`: a model on a data set, end to end: loads both (folder, file or Hub id; see
// sources.ts), builds the IR set (queries = the test split's anchors, corpus = every distinct
// document of all splits; `--mode recipe` = the seed's own construction), embeds on the engine
// and scores with the engine's MatMul, prints one line per Matryoshka dimension and writes the
// full sentence-transformers-keyed JSON to --out. `--nanobeir NAMES` adds (or, without --data,
// is) the general-retrieval guard: NanoBEIR subsets evaluated as NanoBEIREvaluator does, per dim,
// the model's figures cached by its identity (src/lib/run/guard.ts); its table goes to stdout and
// its keys under `nanobeir` in --out. Progress and notes go to stderr.
// Not the metrics (src/lib/eval/) and not the loading rules (sources.ts).

import { writeFileSync } from 'node:fs';
import { HubClient } from '../lib/hub/hub-client.ts';
import { NANOBEIR_SUBSETS, resolveNanoBeirSubsets, type NanoBeirResult } from '../lib/eval/nanobeir.ts';
import { loadGuardSets, runGuard, type GuardSource } from '../lib/run/guard.ts';
import { modelIdentity } from '../lib/run/identity.ts';
import { parseArgs } from 'node:util';
import { EngineScoreBackend } from '../lib/eval/engine-scores.ts';
import { defaultEvalDims, evaluateModel, type ModelEvalResult } from '../lib/eval/evaluate-model.ts';
import { SCORE_FUNCTIONS, type ScoreFunction } from '../lib/eval/ir-metrics.ts';
import { buildIrSet } from '../lib/eval/ir-set.ts';
import { irResultToJson } from '../lib/eval/report.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { BACKENDS, type Backend, type CliIo } from './embed.ts';
import { UsageError } from './errors.ts';
import { ProgressBar } from './progress-bar.ts';
import { PROMPT_FLAG_OPTIONS, PROMPT_FLAGS_HELP, promptsFromFlags, reportPrompts } from './prompt-flags.ts';
import type { ResolvedPrompts } from '../lib/models/prompts.ts';
import { cliCache, downloadProgress, loadDataSource, loadModelSource, parseColumnsFlag, reportData, resolveHubFlag } from './sources.ts';

export const EVAL_HELP = `Usage: tabtune eval --model DIR|HUB_ID --data DIR|FILE|HUB_ID [options]
       tabtune eval --model DIR|HUB_ID --nanobeir NAMES [options]

Evaluates a sentence-transformers model on a retrieval data set as sentence-transformers'
InformationRetrievalEvaluator does, once per Matryoshka dimension (dim_768, dim_512, ...):
queries = the test split's anchors, corpus = every distinct document of all splits, relevant
= the document of the query's row (by the id column when it identifies documents, else by text).
Metrics: accuracy/precision/recall@1,3,5,10, ndcg@10, mrr@10, map@100.

Options:
  --model DIR|HUB_ID   a model folder, or a Hub model id (owner/name[@revision])
  --data DIR|FILE|HUB_ID
                       a data file (.csv .tsv .json .jsonl .parquet), a folder with split files
                       (train.jsonl, test.jsonl, ... or the Hub layout data/train-00000-of-00001.parquet),
                       or a Hub data set id. Without a test split, a seeded 10% split (seed 42) is
                       the test split and the rest only adds documents to the corpus.
  --columns MAP        column roles, e.g. anchor=question,positive=doc,id=id (default: detected)
  --dims LIST          Matryoshka dims, e.g. 768,512,256,128,64 (default: that list cut to the
                       model's hidden size, the hidden size first when missing: bge-small gets
                       384,256,128,64; each must be ≤ the hidden size)
  --mode MODE          default, or recipe: the seed's construction (row-index ids per split, test
                       rows overwriting train rows), to compare with the seed's numbers
  --score LIST         cosine (default), dot, or cosine,dot
  --batch-size N       texts per encoder call (default 32, as the evaluator)
  --backend KIND       node (onnxruntime-node; default) or wasm (onnxruntime-web)
  --out FILE           write the full result as JSON (keys as sentence-transformers: dim_768_cosine_ndcg@10, ...)
  --nanobeir NAMES     the general-retrieval guard: NanoBEIR subsets (comma-separated, or "all"; names
                       as NanoBEIREvaluator's: ${NANOBEIR_SUBSETS.map((s) => s.key).join(', ')}), evaluated per dim
                       as sentence-transformers' NanoBEIREvaluator (keys NanoSciFact_384_cosine_ndcg@10,
                       NanoBEIR_mean_384_cosine_ndcg@10, ...); the model's figures are cached by its
                       identity, so a second run encodes nothing. Without --data only the guard runs.
  --nanobeir-source SRC
                       en (default): sentence-transformers/NanoBEIR-en (a split per subset);
                       zeta: the older per-subset repos zeta-alpha-ai/Nano{Name}
${PROMPT_FLAGS_HELP}
  --hub URL            the Hub to download from (default: $TABTUNE_HUB_URL or https://huggingface.co)
  -h, --help           show this help

Hub downloads are cached in $TABTUNE_CACHE (default ~/.cache/tabtune).`;

function positiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} must be a positive integer, got "${value}"`, 'eval');
  return Number(value);
}

export function parseDimsFlag(value: string): number[] {
  const dims = value.split(',').map((s) => s.trim());
  if (dims.some((d) => !/^\d+$/.test(d) || Number(d) < 1)) throw new UsageError(`--dims must be positive integers separated by commas, got "${value}"`, 'eval');
  const out = dims.map(Number);
  if (new Set(out).size !== out.length) throw new UsageError(`--dims ${value} repeats a dim`, 'eval');
  return out;
}

function parseScoreFlag(value: string): ScoreFunction[] {
  const fns = value.split(',').map((s) => s.trim());
  for (const f of fns) if (!(SCORE_FUNCTIONS as readonly string[]).includes(f)) throw new UsageError(`--score: "${f}" is not one of ${SCORE_FUNCTIONS.join(', ')}`, 'eval');
  if (new Set(fns).size !== fns.length) throw new UsageError(`--score ${value} repeats a function`, 'eval');
  return fns as ScoreFunction[];
}

const HEADLINE = ['ndcg@10', 'mrr@10', 'map@100', 'accuracy@1', 'accuracy@10', 'recall@10'];

/** One line per (dim, score function): the headline metrics, 4 decimals. */
export function formatEvalTable(result: ModelEvalResult, scoreFunctions: readonly ScoreFunction[]): string {
  const multi = scoreFunctions.length > 1;
  const head = ['dim', ...(multi ? ['score'] : []), ...HEADLINE];
  const rows = result.evaluators.flatMap((ev) =>
    scoreFunctions.map((fn) => [
      String(ev.dim),
      ...(multi ? [fn] : []),
      ...HEADLINE.map((m) => {
        const v = ev.metrics[`${ev.name}_${fn}_${m}`];
        return v === undefined ? '-' : v.toFixed(4);
      }),
    ]),
  );
  const cells = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  return cells.map((r) => r.map((cell, c) => (c === 0 || (multi && c === 1) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

export async function evalCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      columns: { type: 'string' },
      dims: { type: 'string' },
      mode: { type: 'string', default: 'default' },
      score: { type: 'string', default: 'cosine' },
      'batch-size': { type: 'string', default: '32' },
      backend: { type: 'string', default: 'node' },
      out: { type: 'string' },
      nanobeir: { type: 'string' },
      'nanobeir-source': { type: 'string', default: 'en' },
      hub: { type: 'string' },
      ...PROMPT_FLAG_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(EVAL_HELP + '\n');
    return 0;
  }
  if (!values.model) throw new UsageError('missing --model DIR|HUB_ID', 'eval');
  if (!values.data && values.nanobeir === undefined) throw new UsageError('missing --data DIR|FILE|HUB_ID (or --nanobeir NAMES)', 'eval');
  let guardSubsets: ReturnType<typeof resolveNanoBeirSubsets> | null = null;
  if (values.nanobeir !== undefined) {
    try {
      guardSubsets = values.nanobeir.trim().toLowerCase() === 'all' ? [...NANOBEIR_SUBSETS] : resolveNanoBeirSubsets(values.nanobeir);
    } catch (e) {
      throw new UsageError(`--nanobeir: ${(e as Error).message}`, 'eval');
    }
  }
  const guardSourceFlag = values['nanobeir-source'];
  if (guardSourceFlag !== 'en' && guardSourceFlag !== 'zeta') throw new UsageError(`--nanobeir-source must be en or zeta, got "${guardSourceFlag}"`, 'eval');
  const guardSource: GuardSource = { kind: guardSourceFlag };
  const backend = values.backend as Backend;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${values.backend}"`, 'eval');
  const mode = values.mode;
  if (mode !== 'default' && mode !== 'recipe') throw new UsageError(`--mode must be default or recipe, got "${mode}"`, 'eval');
  const batchSize = positiveInt(values['batch-size'], '--batch-size');
  const scoreFunctions = parseScoreFlag(values.score);
  const userDims = values.dims !== undefined ? parseDimsFlag(values.dims) : undefined;
  const mapping = values.columns !== undefined ? parseColumnsFlag(values.columns, 'eval') : undefined;
  const ctx = { hubUrl: resolveHubFlag(values.hub, process.env, 'eval'), stderr: io.stderr, command: 'eval' };

  const model = await loadModelSource(values.model, ctx);
  const hidden = model.model.config.hiddenSize;
  const prompts = promptsFromFlags(values, model.model.prompts, model.hub?.repo ?? model.name, 'eval');
  if (userDims) {
    const over = userDims.filter((d) => d > hidden);
    if (over.length) throw new UsageError(`--dims ${over.join(',')}: larger than the model's hidden size ${hidden}`, 'eval');
  }
  const dims = userDims ?? defaultEvalDims(hidden);
  if (!values.data) {
    await withEncoder(backend, model, prompts, io, async (encoder, scores) => {
      const guard = await evalGuard({ model, subsets: guardSubsets!, source: guardSource, dims, scoreFunctions, batchSize, prompts, encoder, scores, hubUrl: ctx.hubUrl, io });
      if (values.out) {
        writeFileSync(values.out, JSON.stringify({ nanobeir: guard }, null, 2) + '\n');
        io.stderr.write(`wrote ${values.out}\n`);
      }
    });
    return 0;
  }
  const data = await loadDataSource(values.data, ctx, { mapping, maxTokens: model.tokenizer.maxLength, countTokens: (t) => model.tokenizer.tokenize(t).length + 2 });
  reportData(data, io.stderr);
  const p = data.prepared;
  if (p.split === 'seeded') {
    io.stderr.write(`${data.name} has no test split: the test queries are a seeded 10% split (seed 42) of its ${p.train.length + p.test.length} rows; the rest only add documents to the corpus\n`);
  }
  if (p.test.length === 0) {
    const errors = p.issues.filter((i) => i.level === 'error').map((i) => i.message);
    throw new Error(`${data.name}: no usable test rows to take queries from${errors.length ? `:\n${errors.join('\n')}` : ''}`);
  }
  const set = buildIrSet(p.train, p.test, { mode });
  const how = { id: `documents identified by the ${p.mapping.id} column`, text: 'documents identified by their text', recipe: "the seed's construction (row ids per split)", explicit: 'given' }[set.construction];
  io.stderr.write(`IR set: ${set.queries.size} queries, ${set.corpus.size} documents, ${how}\n`);

  await withEncoder(backend, model, prompts, io, async (encoder, scores) => {
    const bar = new ProgressBar({ label: 'embed', total: set.queries.size + set.corpus.size, unit: 'texts', stream: io.stderr });
    const result = await evaluateModel({
      encoder,
      tokenizer: model.tokenizer,
      set,
      dims,
      scoreFunctions,
      batchSize,
      prompts,
      backend: scores,
      onProgress: (e) => {
        bar.tracker.setTotal(e.total);
        if (e.phase === 'embed') bar.update(e.done);
        else bar.finish();
      },
    });
    io.stderr.write(`embedded ${result.timing.texts} texts in ${result.timing.embedS.toFixed(1)} s, scored in ${result.timing.scoreS.toFixed(2)} s (${result.backend})\n`);
    io.stdout.write(formatEvalTable(result, scoreFunctions) + '\n');
    const guard = guardSubsets
      ? await evalGuard({ model, subsets: guardSubsets, source: guardSource, dims, scoreFunctions, batchSize, prompts, encoder, scores, hubUrl: ctx.hubUrl, io })
      : undefined;
    if (values.out) {
      const json = {
        ...(guard ? { nanobeir: guard } : {}),
        ...irResultToJson(result),
        source: {
          model: { name: model.name, origin: model.origin, ...(model.commit ? { commit: model.commit } : {}), hiddenSize: hidden },
          data: { name: data.name, origin: data.origin, files: data.files, split: p.split, mapping: p.mapping, train: p.train.length, test: p.test.length },
          mode,
          construction: set.construction,
          dims,
          scoreFunctions,
          batchSize,
          prompts: { query: prompts.query, document: prompts.document },
          runtime: encoder.describe(),
          timing: result.timing,
        },
      };
      writeFileSync(values.out, JSON.stringify(json, null, 2) + '\n');
      io.stderr.write(`wrote ${values.out}\n`);
    }
  });
  return 0;
}

/**
 * One set-up for both branches of `eval` (data set and NanoBEIR guard): an inference encoder
 * (weights in the session, no training graphs) and the score backend on one runtime, described
 * on stderr, released afterwards however `use` ends.
 */
async function withEncoder(
  backend: Backend,
  model: Awaited<ReturnType<typeof loadModelSource>>,
  prompts: ResolvedPrompts,
  io: CliIo,
  use: (encoder: BertEncoder, scores: EngineScoreBackend) => Promise<void>,
): Promise<void> {
  const runtime = await createRuntime(backend);
  const encoder = await BertEncoder.forInference(runtime, model.model);
  const scores = new EngineScoreBackend(runtime);
  try {
    io.stderr.write(`${encoder.describe()}\n`);
    reportPrompts(prompts, io.stderr);
    await use(encoder, scores);
  } finally {
    await scores.dispose();
    await encoder.dispose();
  }
}

/** The guard's table: one line per dim with the mean and each subset's nDCG@10 (the primary score function). */
export function formatGuardTable(r: NanoBeirResult): string {
  const head = ['dim', 'mean', ...r.byDim[0].subsets.map((s) => s.name)];
  const rows = r.byDim.map((d) => {
    const metric = d.primaryMetric.slice(d.name.length + 1);
    return [String(d.dim), d.mean[d.primaryMetric].toFixed(4), ...d.subsets.map((s) => s.metrics[`${s.name}_${d.dim}_${metric}`].toFixed(4))];
  });
  const cells = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

async function evalGuard(o: {
  model: Awaited<ReturnType<typeof loadModelSource>>;
  subsets: ReturnType<typeof resolveNanoBeirSubsets>;
  source: GuardSource;
  dims: number[];
  scoreFunctions: ScoreFunction[];
  batchSize: number;
  prompts: { query: string; document: string };
  encoder: BertEncoder;
  scores: EngineScoreBackend;
  hubUrl: string;
  io: CliIo;
}) {
  const store = cliCache();
  const identity = await modelIdentity(o.model.name, o.model.files, o.model.hub);
  const client = new HubClient({ hubUrl: o.hubUrl });
  let bar: ProgressBar | null = null;
  const run = await runGuard({
    store,
    identity,
    source: o.source,
    subsets: o.subsets,
    dims: o.dims,
    scoreFunctions: o.scoreFunctions,
    batchSize: o.batchSize,
    prompts: o.prompts,
    encoder: o.encoder,
    tokenizer: o.model.tokenizer,
    backend: o.scores,
    load: async () => {
      const progress = downloadProgress('NanoBEIR', o.io.stderr);
      try {
        return await loadGuardSets({ client, store, subsets: o.subsets, source: o.source, onProgress: progress });
      } finally {
        progress.finish();
      }
    },
    onProgress: (p) => {
      if (p.progress.phase !== 'embed') return bar?.finish();
      if (!bar || p.progress.done === 0) bar = new ProgressBar({ label: p.name, total: p.progress.total, unit: 'texts', stream: o.io.stderr });
      bar.update(p.progress.done);
    },
  });
  const r = run.result;
  o.io.stderr.write(
    run.cached
      ? `NanoBEIR (${run.spec.subsets.join(', ')}): figures of this model from the cache (${run.spec.source}; nothing encoded)\n`
      : `NanoBEIR (${run.spec.subsets.join(', ')}): embedded ${r.timing.texts} texts in ${r.timing.embedS.toFixed(1)} s (${run.spec.source})\n`,
  );
  o.io.stdout.write(`NanoBEIR nDCG@10\n${formatGuardTable(r)}\n`);
  return { ...r, source: run.spec.source, cached: run.cached };
}

// `tabtune mine`: hard negatives for a data set's (anchor, positive) pairs with a model's
// embeddings (src/lib/mine/hard-negatives.ts, sentence-transformers' mine_hard_negatives
// semantics), written as JSONL rows that keep `anchor` and `positive` and add `negative` (triplet)
// or `negative_1 … negative_n` (n-tuple), then sentence-transformers' summary of the scores and
// of what could not be found. The output is training data as it is: `tabtune train --data FILE`
// maps its columns by name. Not the mining itself and not the loaders (sources.ts).

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkDataFileSize } from '../lib/data/parse.ts';
import { type MineOptions, type MineResult, type ScoreStats, minedRecords, mineHardNegatives } from '../lib/mine/hard-negatives.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import type { CliIo } from './embed.ts';
import { UsageError } from './errors.ts';
import { ProgressBar } from './progress-bar.ts';
import { PROMPT_FLAG_OPTIONS, PROMPT_FLAGS_HELP, promptsFromFlags, reportPrompts } from './prompt-flags.ts';
import { classifySource, loadDataSource, loadModelSource, parseColumnsFlag, reportData, resolveHubFlag } from './sources.ts';

export const MINE_HELP = `Usage: tabtune mine --model DIR|HUB_ID --data DIR|FILE|HUB_ID --out FILE.jsonl [options]

Mines hard negatives — documents close to an anchor that are not its positive — with the model's
embeddings, as sentence-transformers' util.mine_hard_negatives does, and writes training rows.

  --model DIR|HUB_ID       the model whose embeddings rank the documents
  --data DIR|FILE|HUB_ID   (anchor, positive) pairs; --columns to map them (default: detected)
  --split NAME             the split to mine (default train)
  --out FILE.jsonl         the mined rows: anchor, positive, negative (or negative_1 … negative_n)
  --corpus FILE|DIR|HUB_ID documents to draw negatives from (a .txt file: one per line; a data set:
                           its positives), added before the split's own positives
  --corpus-column NAME     …or a column of the mined split
  --num-negatives N        negatives per anchor (default 3)
  --range-min N            skip the N most similar documents (default 0)
  --range-max N            consider documents up to rank N (default: range-min + num-negatives +
                           the most positives of an anchor; ×10 num-negatives with a margin or
                           --max-score)
  --margin X               absolute margin: keep a negative only if score + X ≤ the positive's score
  --relative-margin X      keep it only if score ≤ positive's score − |positive's score|·X
  --max-score X            keep it only if score ≤ X
  --min-score X            keep it only if score ≥ X
  --sampling top|random    the best remaining negatives, or a seeded random pick (default top)
  --seed N                 seed of random sampling (default 42)
  --format triplet|n-tuple one row per negative (default), or one row with negative_1 … negative_n
                           (anchors that found fewer are left out)
  --scores                 add each row's scores (positive first)
${PROMPT_FLAGS_HELP}
  --backend node|wasm      engine (default node)
  --hub URL                the Hub (default: $TABTUNE_HUB_URL or https://huggingface.co)`;

function num(v: string | undefined, flag: string, int = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n))) throw new UsageError(`${flag} must be ${int ? 'an integer' : 'a number'}, got "${v}"`, 'mine');
  return n;
}

/** sentence-transformers' summary table (Metric, Positive, Negative, Difference). */
export function summaryTable(r: MineResult): string {
  const { positive, negative, difference } = r.summary.stats;
  const row = (...c: string[]) => `${c[0].padEnd(6)} ${c[1].padStart(14)} ${c[2].padStart(14)} ${c[3].padStart(14)}`;
  const v = (x: number) => x.toFixed(4);
  const line = (name: string, k: keyof ScoreStats) => row(name, v(positive[k]), v(negative[k]), v(difference[k]));
  return [
    row('Metric', 'Positive', 'Negative', 'Difference'),
    row('Count', positive.count.toLocaleString('en'), negative.count.toLocaleString('en'), ''),
    line('Mean', 'mean'), line('Median', 'median'), line('Std', 'std'), line('Min', 'min'),
    line('25%', 'p25'), line('50%', 'p50'), line('75%', 'p75'), line('Max', 'max'),
  ].join('\n');
}

export async function mineCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string', default: 'train' }, out: { type: 'string' },
      corpus: { type: 'string' }, 'corpus-column': { type: 'string' }, 'num-negatives': { type: 'string' }, 'range-min': { type: 'string' },
      'range-max': { type: 'string' }, margin: { type: 'string' }, 'relative-margin': { type: 'string' }, 'max-score': { type: 'string' },
      'min-score': { type: 'string' }, sampling: { type: 'string', default: 'top' }, seed: { type: 'string' }, format: { type: 'string', default: 'triplet' },
      scores: { type: 'boolean' }, columns: { type: 'string' }, backend: { type: 'string', default: 'node' }, hub: { type: 'string' },
      ...PROMPT_FLAG_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(MINE_HELP + '\n');
    return 0;
  }
  for (const k of ['model', 'data', 'out'] as const) if (!values[k]) throw new UsageError(`missing --${k}`, 'mine');
  if (values.sampling !== 'top' && values.sampling !== 'random') throw new UsageError(`--sampling must be top or random, got "${values.sampling}"`, 'mine');
  if (values.format !== 'triplet' && values.format !== 'n-tuple') throw new UsageError(`--format must be triplet or n-tuple, got "${values.format}"`, 'mine');
  if (values.backend !== 'node' && values.backend !== 'wasm') throw new UsageError(`--backend must be node or wasm, got "${values.backend}"`, 'mine');
  if (values.corpus && values['corpus-column']) throw new UsageError('give --corpus or --corpus-column, not both', 'mine');
  const options: MineOptions = {
    numNegatives: num(values['num-negatives'], '--num-negatives', true), rangeMin: num(values['range-min'], '--range-min', true),
    rangeMax: num(values['range-max'], '--range-max', true) ?? null, absoluteMargin: num(values.margin, '--margin') ?? null,
    relativeMargin: num(values['relative-margin'], '--relative-margin') ?? null, maxScore: num(values['max-score'], '--max-score') ?? null,
    minScore: num(values['min-score'], '--min-score') ?? null, sampling: values.sampling, seed: num(values.seed, '--seed', true), format: values.format,
  };
  const ctx = { hubUrl: resolveHubFlag(values.hub, process.env, 'mine'), stderr: io.stderr, command: 'mine' };
  const source = await loadModelSource(values.model!, ctx);
  const prompts = promptsFromFlags(values, source.model.prompts, source.hub?.repo ?? source.name, 'mine');
  const data = await loadDataSource(values.data!, ctx, { mapping: values.columns ? parseColumnsFlag(values.columns, 'mine') : undefined });
  reportData(data, io.stderr);
  const split = values.split === 'test' ? data.prepared.test : values.split === 'train' ? data.prepared.train : null;
  if (!split) throw new UsageError(`--split must be train or test, got "${values.split}"`, 'mine');
  if (!split.length) throw new Error(`${data.name}: the ${values.split} split has no rows`);

  let corpus: string[] = [];
  if (values['corpus-column']) {
    const col = values['corpus-column'];
    const table = data.splits[values.split!] ?? Object.values(data.splits)[0];
    if (!table.columns.includes(col)) throw new UsageError(`--corpus-column ${col}: no such column (columns: ${table.columns.join(', ')})`, 'mine');
    corpus = table.rows.map((r) => r[col]).filter((t): t is string => typeof t === 'string' && t.trim() !== '');
  } else if (values.corpus) {
    const kind = classifySource(values.corpus, '--corpus', 'mine');
    if (kind.kind === 'file' && /\.txt$/i.test(kind.path)) {
      checkDataFileSize(kind.path, statSync(kind.path).size);
      corpus = readFileSync(kind.path, 'utf8').split('\n').filter((t) => t.trim() !== '');
    }
    else {
      const c = await loadDataSource(values.corpus, ctx, { flag: '--corpus' });
      corpus = [...c.prepared.train, ...c.prepared.test].map((e) => e.positive);
    }
  }

  const runtime = await createRuntime(values.backend);
  const encoder = await BertEncoder.forInference(runtime, source.model);
  let bar: ProgressBar | null = null;
  let result: MineResult;
  try {
    io.stderr.write(`${encoder.describe()}\n`);
    reportPrompts(prompts, io.stderr);
    result = await mineHardNegatives({
      pairs: split, corpus, encoder, tokenizer: source.tokenizer, options, prompts,
      onProgress: (p) => {
        if (p.phase !== 'embed') return;
        bar ??= new ProgressBar({ label: 'embed', total: p.total, unit: 'texts', stream: io.stderr });
        bar.update(p.done);
      },
    });
    (bar as ProgressBar | null)?.finish();
  } finally {
    await encoder.dispose();
  }
  const s = result.summary;
  if (s.rangeMaxDefaulted) io.stderr.write(`Setting range_max to ${s.rangeMax} based on the provided parameters.\n`);
  if (s.queries < split.length) io.stderr.write(`Found ${s.queries} unique queries out of ${split.length} total queries.\n`);
  io.stderr.write(`${s.queries} anchors, ${s.corpus} documents, ${result.rows.length} rows (${result.format})\n${summaryTable(result)}\n`);
  for (const k of s.skipped) io.stderr.write(`Skipped ${k.count.toLocaleString('en')} potential negatives (${(k.ratio * 100).toFixed(2)}%) due to the ${k.name} of ${k.value}.\n`);
  if (s.missing > 0) {
    io.stderr.write(`Could not find enough negatives for ${s.missing} samples (${((s.missing / s.possible) * 100).toFixed(2)}%). Consider adjusting --range-max${options.absoluteMargin !== null ? ', --margin' : ''}${options.relativeMargin !== null ? ', --relative-margin' : ''}${options.maxScore !== null ? ', --max-score' : ''} if you'd like to find more valid negatives.\n`);
  }
  writeFileSync(values.out!, minedRecords(result, values.scores).map((r) => JSON.stringify(r)).join('\n') + '\n');
  io.stdout.write(`${values.out}\n`);
  return 0;
}

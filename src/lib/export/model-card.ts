// The model card (README.md) of a fine-tuned model, in the Hub's format: YAML front matter
// (library_name, base_model, datasets, pipeline_tag, tags, and a model-index with one
// information-retrieval result per Matryoshka dimension, as sentence-transformers' own cards
// have), the before/after nDCG@10 table (with the int8 ONNX model's column when it was measured),
// the loss, hyperparameters and prompts, and usage snippets for sentence-transformers (with
// prompt_name= when the run used prompts) and transformers.js.
// Everything comes from the run record, so the CLI and the page write the same card and nothing in
// it depends on the machine or the time (a zip of the page's model equals the CLI's folder): the
// base model and data set appear by Hub id or file name, never a local path (public-names.ts).
// The card says what trained (full, frozen layers, LoRA: models/trainable.ts) and which form the
// package is (docs/export-forms.md): merged — a plain model — or a PEFT adapter, whose usage
// snippets load it on its base with sentence-transformers (transformers.js loads no adapters).
// Not the other files of the folder (st-folder.ts, onnx-model.ts).

import type { IrResult } from '../eval/ir-metrics.ts';
import type { RunEvaluation } from '../eval/report.ts';
import { lossCardText } from '../losses/spec.ts';
import { DEFAULT_POOLING, type PoolingMode } from '../models/pooling.ts';
import { recordedPrompts } from '../models/prompts.ts';
import { describeTrainable, FULL } from '../models/trainable.ts';
import { checkGeneratedOrigin, type GeneratedOrigin } from '../generate/generated-set.ts';
import type { ExportForm } from './lora-export.ts';
import type { RunConfig } from '../train/run-config.ts';
import { publicConfig, publicName, publicText } from './public-names.ts';

export interface ModelCardOptions {
  /** The int8 ONNX model's evaluation (onnx/model_quantized.onnx), when it was measured. */
  int8?: IrResult | null;
  /** The Hub repo the model is pushed to, for the usage snippets (default a placeholder). */
  repoId?: string | null;
  /** The model's pooling, for the transformers.js snippet (default: a model that names none, DEFAULT_POOLING). */
  pooling?: PoolingMode;
  /** The package's form (default merged: the plain model). */
  form?: ExportForm;
}

/**
 * What the card reads of a run. The run record (run/record.ts) has these fields and is passed as
 * it is; the card names them here because export sits below run and does not import it.
 */
export interface CardRecord {
  /** What the page lists the trained model as. */
  name: string;
  config: RunConfig;
  before: RunEvaluation | null;
  after: RunEvaluation | null;
  /** Updates done. */
  step: number;
  /** The base model and the data set, as the user named them. */
  baseModel: string;
  dataSource: string;
  /** What made the data set when it is a generated set (run/record.ts); the card names its generator, documents and filter. */
  generated?: GeneratedOrigin | null;
  /** Which update's weights the model holds when the run evaluated during training (run/record.ts KeptRecord), and why. */
  kept?: { choice: 'best' | 'last'; step: number; best: number; last: number; why: string } | null;
  /** Early stopping ended training before the plan's end. */
  earlyStopped?: boolean;
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
/** A Hub repo id (`owner/name`), as opposed to a folder path or a model trained in the browser. */
export const isHubId = (s: string) => HUB_ID.test(s) && !s.startsWith('.');

/** A YAML double-quoted scalar (JSON strings are valid YAML). */
const q = (s: string) => JSON.stringify(s);
const metricName = (key: string) => key.replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());

/** The loss in words, from its record (src/lib/losses/records.ts). */
const lossDescription = (config: RunConfig): string => lossCardText(config.loss);

// Prompt text is untrusted: a backtick in it could end a code span or (three of them) a snippet's
// fence, so it is written as the \u0060 escape, which JSON, Python and JavaScript strings all read back.
const fenced = (p: string) => JSON.stringify(p).replace(/`/g, '\\u0060');
const promptWords = (p: string) => (p === '' ? 'none' : `\`${fenced(p)}\``);
/** A single-quoted JavaScript string literal (the snippet's style). */
const jsString = (s: string) => `'${fenced(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;

/** The longest name (a model, a documents source) a generated set's record puts in the card. */
const MAX_CARD_NAME = 200;
/**
 * A name from a generated set's record (untrusted: a stored record, a card from the Hub) as
 * Markdown: a Hub id (with an optional @revision) as a link to it, anything else as a code span on
 * one line, cut to MAX_CARD_NAME, fenced by more backticks than it holds, so neither Markdown nor
 * HTML in it renders. Local paths by file name (public-names.ts).
 */
function nameWords(raw: string, kind: 'model' | 'dataset' = 'model'): string {
  // A Hub id, its @revision, and (a Hub data set's documents) its " (config/split)".
  const m = /^([^@ ]+)(@[\w.-]{1,100})?( \([\w./-]{1,100}\))?$/.exec(raw);
  if (m && isHubId(m[1]) && raw.length <= MAX_CARD_NAME) return `[${m[1]}${m[2] ?? ''}](https://huggingface.co/${kind === 'dataset' ? 'datasets/' : ''}${m[1]})${m[3] ?? ''}`;
  let text = publicName(raw.slice(0, 1000)).replace(/\s+/g, ' ').trim();
  if (text.length > MAX_CARD_NAME) text = `${text.slice(0, MAX_CARD_NAME - 1)}…`;
  const ticks = '`'.repeat(Math.max(1, ...[...text.matchAll(/`+/g)].map((t) => t[0].length + 1)));
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${text || 'unnamed'}${pad}${ticks}`;
}

/** A generated set in words: its pairs, the generator, the documents, the filter, its Hub repo (docs/generate.md#the-trained-models-card). */
function generatedWords(g: GeneratedOrigin): string {
  const r = g.record;
  const c = r.counts;
  const filter = r.filter
    ? `, kept by the consistency filter (the passage in the question's top ${r.filter.topK} by ${nameWords(r.filter.model)}; ${c.filtered} dropped)`
    : ' (no consistency filter)';
  const repo = g.repo ? `, published as ${nameWords(g.repo, 'dataset')}` : '';
  const n = (k: number, one: string) => `${k} ${one}${k === 1 ? '' : 's'}`;
  return `${c.train + c.test} (question, passage) pair${c.train + c.test === 1 ? '' : 's'} that ${nameWords(r.generator.model)} wrote for ${n(c.chunks, 'chunk')} of ${n(c.documents, 'document')} from ${nameWords(r.source, 'dataset')}${filter}${repo}`;
}

/** The generation's settings, for the Training list (the prompt stays in the data set's own card). */
function generatedDetails(g: GeneratedOrigin): string {
  const r = g.record;
  const gen = r.generator;
  const decoding = gen.decoding.replace(/[^\w .,:=-]/g, '').slice(0, 100) || 'unknown';
  return `${gen.questionsPerDoc} questions asked per chunk (${decoding} decoding, at most ${gen.maxNewTokens} new tokens), ` +
    `${r.counts.questions} parsed, ${r.counts.duplicates} repeats dropped; ${r.chunking.budget > 0 ? `chunks of at most ${r.chunking.budget} tokens of ${nameWords(r.chunking.model)}` : 'one chunk per document'}`;
}

/** The form, said after the mode: a LoRA run's package is its merged weights or its adapter. */
function formWords(mode: string, adapter: boolean): string {
  if (adapter) return '; this is the adapter alone (`adapter_config.json`, `adapter_model.safetensors`, PEFT\'s format): it needs its base model';
  if (mode === 'lora') return '; the adapters are merged into the weights (W + (α/r)·B·A), so this is a plain model: no PEFT needed';
  return '';
}

/** `dim_{d}_cosine_ndcg@10` per evaluator of `r`. */
function ndcg(r: IrResult | null | undefined): Map<number, number> {
  return new Map((r?.evaluators ?? []).map((e) => [e.dim, e.metrics[`${e.name}_cosine_ndcg@10`]]));
}

export function modelCard(card: CardRecord, opts: ModelCardOptions = {}): string {
  const { before, after } = card;
  // The output folder is where this machine wrote it, not part of the run; local paths are named
  // by file, in the config, the names and the run's title alike.
  const config = publicConfig(card.config);
  const c = config;
  const record = {
    name: publicText(card.name, [card.baseModel, card.dataSource, card.config.model.id, card.config.data.source]),
    baseModel: publicName(card.baseModel), dataSource: publicName(card.dataSource), step: card.step,
  };
  const base = config.model.id;
  const data = config.data.source;
  const repo = opts.repoId ?? 'path/to/this/model';
  // The prompts training used, saved in the folder's config_sentence_transformers.json as "query" and "document".
  const prompts = recordedPrompts(config.prompts);
  const prompted = prompts.query !== '' || prompts.document !== '';
  const trainable = config.trainable ?? FULL; // run records from before the section existed trained everything
  const adapter = opts.form === 'adapter';
  const lines = ['---', 'library_name: sentence-transformers', 'pipeline_tag: sentence-similarity'];
  lines.push('tags:', ...['sentence-transformers', 'sentence-similarity', 'feature-extraction', 'tabtune', ...(config.loss.matryoshka ? ['matryoshka'] : []), `loss:${config.loss.type}`, ...(trainable.mode === 'lora' ? ['lora'] : []), ...(adapter ? ['peft'] : [])].map((t) => `- ${q(t)}`));
  if (isHubId(base)) lines.push(`base_model: ${q(base)}`);
  const generated = card.generated ? checkGeneratedOrigin(card.generated) : null;
  const datasets = [...new Set([data, ...(generated?.repo ? [generated.repo] : [])])].filter(isHubId);
  if (datasets.length) lines.push('datasets:', ...datasets.map((d) => `- ${q(d)}`));
  if (after) {
    lines.push('model-index:', `- name: ${q(record.name)}`, '  results:');
    for (const e of after.triplet?.evaluators ?? []) {
      lines.push('  - task:', '      type: triplet', '      name: Triplet', '    dataset:', `      name: ${q(`${record.dataSource} (dim ${e.dim})`)}`, `      type: ${q(`triplet_${e.name}`)}`, '    metrics:');
      for (const [key, value] of Object.entries(e.metrics)) {
        const bare = key.slice(e.name.length + 1);
        lines.push(`    - type: ${q(bare)}`, `      value: ${value}`, `      name: ${q(metricName(bare))}`);
      }
    }
    for (const e of after.evaluators) {
      lines.push('  - task:', '      type: information-retrieval', '      name: Information Retrieval', '    dataset:', `      name: ${q(`${record.dataSource} (dim ${e.dim})`)}`, `      type: ${q(e.name)}`, '    metrics:');
      for (const [key, value] of Object.entries(e.metrics)) {
        const bare = key.slice(e.name.length + 1);
        lines.push(`    - type: ${q(bare)}`, `      value: ${value}`, `      name: ${q(metricName(bare))}`);
      }
    }
  }
  lines.push('---', '', `# ${record.name}`, '');
  lines.push(
    `${adapter ? 'A PEFT LoRA adapter for a sentence-transformers model, trained on' : 'A sentence-transformers model fine-tuned from'} ${isHubId(base) ? `[${base}](https://huggingface.co/${base})` : `\`${record.baseModel}\``} on ` +
      `${generated ? generatedWords(generated) : isHubId(data) ? `[${data}](https://huggingface.co/datasets/${data})` : `\`${record.dataSource}\``} with ${lossDescription(config)}, ` +
      `for ${record.step} optimizer updates, with tabtune (in a browser tab or its command line).`,
    '',
  );

  if (after) {
    const b = ndcg(before);
    const a = ndcg(after);
    const i8 = ndcg(opts.int8);
    lines.push('## Evaluation', '', `Information retrieval on the test split of \`${record.dataSource}\`, cosine nDCG@10 per Matryoshka dimension${opts.int8 ? ' (int8: `onnx/model_quantized.onnx`)' : ''}:`, '');
    const head = ['dim', ...(before ? ['before'] : []), 'after', ...(before ? ['Δ'] : []), ...(opts.int8 ? ['after, int8'] : [])];
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    for (const [dim, v] of a) {
      const cells = [`dim_${dim}_cosine_ndcg@10`];
      if (before) cells.push(b.get(dim)?.toFixed(4) ?? '–');
      cells.push(v.toFixed(4));
      if (before) cells.push(b.has(dim) ? `${v - b.get(dim)! >= 0 ? '+' : '−'}${Math.abs(v - b.get(dim)!).toFixed(4)}` : '–');
      if (opts.int8) cells.push(i8.get(dim)?.toFixed(4) ?? '–');
      lines.push(`| ${cells.join(' | ')} |`);
    }
    lines.push('');
    if (after.triplet) {
      const tb = new Map((before?.triplet?.evaluators ?? []).map((e) => [e.dim, e.metrics[`${e.name}_cosine_accuracy`]]));
      lines.push(`Triplet accuracy (cosine: the anchor closer to its positive than to its negative) on ${after.triplet.triplets} test triplets:`, '');
      lines.push(`| dim | ${before?.triplet ? 'before | ' : ''}after |`, `|---|${before?.triplet ? '---|' : ''}---|`);
      for (const e of after.triplet.evaluators) {
        lines.push(`| dim_${e.dim}_cosine_accuracy | ${before?.triplet ? `${tb.get(e.dim)?.toFixed(4) ?? '–'} | ` : ''}${e.metrics[`${e.name}_cosine_accuracy`].toFixed(4)} |`);
      }
      lines.push('');
    }
  }

  lines.push(
    '## Training',
    '',
    `- What trained: ${describeTrainable(trainable)}${formWords(trainable.mode, adapter)}`,
    `- Loss: ${lossDescription(c)}`,
    `- Batch size ${c.batchSize}${c.accumulation > 1 ? `, gradient accumulation ${c.accumulation}` : ''}, ${c.maxSteps !== null ? `max steps ${c.maxSteps}` : `${c.epochs} epochs`} (${record.step} updates)`,
    `- Learning rate ${c.lr}, ${c.scheduler} schedule, warmup ${c.warmupSteps > 0 ? `${c.warmupSteps} steps` : `ratio ${c.warmupRatio}`}, weight decay ${c.weightDecay}, max grad norm ${c.maxGradNorm}${c.adamMoments === 'bfloat16' ? ', AdamW moments in bfloat16 (stochastic rounding)' : ''}`,
    `- Batch sampler ${c.sampler === 'no_duplicates' ? 'NO_DUPLICATES' : 'BATCH_SAMPLER'}${c.shuffle ? '' : ' (no shuffle)'}, seed ${c.seed}, dropout ${c.dropout ? 'on' : 'off'}${c.maxSeqLength ? `, max sequence length ${c.maxSeqLength}` : ''}`,
    ...(generated ? [`- Data: ${generatedDetails(generated)}`] : []),
    ...(card.kept ? [`- Weights: update ${card.kept.step} of ${card.kept.last}, ${card.kept.choice === 'best' ? 'the best' : 'the last'} by evaluation during training${card.earlyStopped ? ' (early stopping ended training)' : ''}: ${card.kept.why}`] : []),
    ...(prompted ? [`- Prompts: query ${promptWords(prompts.query)} (the anchor column), document ${promptWords(prompts.document)} (positives and negatives); saved as the model's "query" and "document" prompts`] : []),
    '',
    '## Usage',
    '',
    '```python',
    'from sentence_transformers import SentenceTransformer',
    '',
    ...(adapter
      ? [
          `# needs pip install peft: loads the base model ${q(base)} named in adapter_config.json, then the adapter`,
          `model = SentenceTransformer(${q(repo)})`,
          `# or on a base model already loaded: model = SentenceTransformer(${q(base)}); model.load_adapter(${q(repo)})`,
        ]
      : [`model = SentenceTransformer(${q(repo)})`]),
    ...(prompted
      ? [
          `# the prompts it was trained with: prompt_name="query" prepends ${fenced(prompts.query)}, "document" ${fenced(prompts.document)}`,
          'query_embeddings = model.encode(["What is the capital of France?"], prompt_name="query")',
          'document_embeddings = model.encode(["Paris is the capital of France."], prompt_name="document")',
          'print(model.similarity(query_embeddings, document_embeddings))',
        ]
      : ['embeddings = model.encode(["What is the capital of France?", "Paris is the capital of France."])', 'print(model.similarity(embeddings[:1], embeddings[1:]))']),
    ...(c.loss.matryoshka ? [`# Matryoshka: a shorter embedding keeps most of the quality`, `small = SentenceTransformer(${q(repo)}, truncate_dim=${Math.min(...c.loss.matryoshka.dims)})`] : []),
    '```',
    '',
    ...(adapter
      ? ['transformers.js loads no adapters: export this run merged (the default form) for its ONNX files.', '']
      : [
        'In JavaScript, with [transformers.js](https://huggingface.co/docs/transformers.js) (the ONNX weights in `onnx/`):',
        '',
        '```js',
        "import { pipeline } from '@huggingface/transformers';",
        '',
        `const extractor = await pipeline('feature-extraction', ${q(repo)}); // { dtype: 'q8' } for the int8 model`,
        ...(prompted ? ['// transformers.js applies no prompts: prepend them as training did'] : []),
        `const embeddings = await extractor([${jsString(prompts.query + 'What is the capital of France?')}], { pooling: '${opts.pooling ?? DEFAULT_POOLING}', normalize: true });`,
        '```',
        '',
        ]),
    '## Training configuration',
    '',
    'The run config (`run_config.json`); `tabtune train --config run_config.json` repeats the run, `tabtune script --config run_config.json` writes the same run as a sentence-transformers script.',
    '',
    '```json',
    JSON.stringify(c, null, 2).replace(/`/g, '\\u0060'), // as fenced(): untrusted text cannot end the block
    '```',
    '',
  );
  return lines.join('\n');
}

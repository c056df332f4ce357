// `tabtune embed`: one text per line in, sentence embeddings out as JSON
// (`{"dim": D, "embeddings": [[…], …]}`), with a progress bar on stderr.
// What it needs from the engine is the small BatchEncoder interface (src/lib/models/embed-texts.ts,
// with the batching) and loadEncoder; it does not build graphs or touch onnxruntime itself.
//
// Shape letters: B texts in a batch, T tokens, D embedding size, N texts in all.

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkDataFileSize, DataError } from '../lib/data/parse.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { encodePrompt, PromptError } from '../lib/models/prompts.ts';
import { loadSentenceModelFromDir } from '../lib/models/sentence-model-node.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../lib/tokenize/node.ts';
import { embedTexts, type BatchEncoder } from '../lib/models/embed-texts.ts';
import { UsageError } from './errors.ts';
import { ProgressBar, type BarStream } from './progress-bar.ts';

export { embedTexts, type BatchEncoder, type EmbedOptions } from '../lib/models/embed-texts.ts';

export type Backend = 'node' | 'wasm';
export const BACKENDS: readonly Backend[] = ['node', 'wasm'];

/** The seam to the engine: a model folder (HF/sentence-transformers layout) on a backend. */
export async function loadEncoder(dir: string, backend: Backend): Promise<BatchEncoder> {
  const model = loadSentenceModelFromDir(dir);
  return BertEncoder.forInference(await createRuntime(backend), model);
}

/** One text per line; a final newline is allowed, a blank line is an error naming it. */
export function parseTextLines(content: string, file: string): string[] {
  const lines = content.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new Error(`${file}: no texts (the file is empty)`);
  const blank: number[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') blank.push(i + 1);
  });
  if (blank.length > 0) {
    const shown = blank.slice(0, 5).join(', ') + (blank.length > 5 ? `, … (${blank.length} in all)` : '');
    throw new Error(`${file}: blank line${blank.length > 1 ? 's' : ''} ${shown}: each line must hold one text`);
  }
  return lines;
}

export function embeddingsJson(emb: Float32Array /* [N, D] */, dim: number): string {
  const rows: string[] = [];
  for (let i = 0; i < emb.length; i += dim) rows.push(`[${Array.from(emb.subarray(i, i + dim)).join(',')}]`);
  return `{"dim":${dim},"embeddings":[\n${rows.join(',\n')}\n]}\n`;
}

export const EMBED_HELP = `Usage: tabtune embed --model DIR --texts FILE [options]

Computes sentence embeddings with a sentence-transformers model folder (config.json,
model.safetensors, tokenizer.json, modules.json, ...), as SentenceTransformer.encode does:
the same tokenization, truncation to max_seq_length, pooling and normalization.

Options:
  --model DIR         the model folder
  --texts FILE        one text per line (blank lines are an error)
  --backend KIND      node (onnxruntime-node, native CPU; default) or wasm (onnxruntime-web)
  --batch-size N      texts per batch (default 32)
  --prompt TEXT       prepend TEXT to every text (sentence-transformers' encode(prompt=...))
  --prompt-name NAME  prepend the model's prompt NAME (config_sentence_transformers.json; encode(prompt_name=...));
                      without either, the model's default_prompt_name, if it sets one
  --out FILE          write the JSON here instead of stdout
  -h, --help          show this help

Output: {"dim": D, "embeddings": [[...], ...]} in the order of the input lines.
Progress goes to stderr.`;

export interface CliIo {
  stdout: BarStream;
  stderr: BarStream;
}

function positiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} must be a positive integer, got "${value}"`, 'embed');
  return Number(value);
}

export async function embedCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      texts: { type: 'string' },
      backend: { type: 'string', default: 'node' },
      'batch-size': { type: 'string', default: '32' },
      out: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-name': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout.write(EMBED_HELP + '\n');
    return 0;
  }
  if (!values.model) throw new UsageError('missing --model DIR', 'embed');
  if (!values.texts) throw new UsageError('missing --texts FILE', 'embed');
  const backend = values.backend as Backend;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${values.backend}"`, 'embed');
  const batchSize = positiveInt(values['batch-size'], '--batch-size');

  if (!statSync(values.model, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--model ${values.model}: no such folder`);
  let content: string;
  try {
    checkDataFileSize(values.texts, statSync(values.texts).size); // before it is read
    content = readFileSync(values.texts, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof DataError) throw e;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    throw new Error(`cannot read --texts ${values.texts}: ${why}`);
  }
  const texts = parseTextLines(content, values.texts);
  if (values.prompt !== undefined && values['prompt-name'] !== undefined) throw new UsageError('give --prompt or --prompt-name, not both', 'embed');
  const tokenizer = loadTokenizerFromDir(values.model);
  const model = loadSentenceModelFromDir(values.model);
  let prompt: string;
  try {
    prompt = encodePrompt(model.prompts, { prompt: values.prompt, promptName: values['prompt-name'] }, { prompt: '--prompt', promptName: '--prompt-name' });
  } catch (e) {
    if (e instanceof PromptError) throw new UsageError(e.message, 'embed');
    throw e;
  }
  const encoder = await BertEncoder.forInference(await createRuntime(backend), model);
  try {
    io.stderr.write(`${encoder.describe()}${prompt ? `; prompt ${JSON.stringify(prompt)}` : ''}\n`);
    const bar = new ProgressBar({ label: 'embed', total: texts.length, unit: 'texts', stream: io.stderr });
    const emb = await embedTexts(texts, tokenizer, encoder, { batchSize, prompt, onBatch: (n) => bar.advance(n) });
    bar.finish();
    const json = embeddingsJson(emb, encoder.dim);
    if (values.out) writeFileSync(values.out, json);
    else io.stdout.write(json);
  } finally {
    await encoder.dispose?.();
  }
  return 0;
}

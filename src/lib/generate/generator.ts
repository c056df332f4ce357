// Question generation with a small instruction model through transformers.js' own text generation
// (AutoTokenizer + AutoModelForCausalLM + generate): the plumbing is ours, the decoding theirs
// (docs/generate.md#generation).
//   - Files come from a ModelFileSource, one `read(path)` function: a folder or the Hub in Node
//     (generator-node.ts, model-source.ts), our IndexedDB store in the page's worker.
//     transformers.js is pointed at it for the duration of a load (its custom cache answers from
//     the source), so the page stays offline-capable and downloads only through our Hub code.
//   - The dtype variant is chosen per backend from the files the repo has (pickDtype).
//   - A model that transformers.js cannot run as a causal LM is refused before any weights load.
//   - generateQuestions: one document at a time (a chunk of one: chunk.ts), greedy or seeded
//     sampling, a max-new-tokens bound, each chunk's row handed out as soon as it is finished (so
//     a cancel loses at most the chunk in progress), progress as documents/s, generated tokens/s
//     and ETA, cancel through an AbortSignal, resume by skipping chunks already done.
// The prompt template, the parsing of the answer and dedupe are questions.ts'; chunking is
// chunk.ts', the filter filter.ts'. No node: imports: this file runs in the worker unchanged.

import {
  AutoModelForCausalLM,
  AutoTokenizer,
  env,
  random,
  StoppingCriteria,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  type Tensor,
} from '@huggingface/transformers';
import { DEFAULT_GENERATOR_ID } from '../config.ts';
import { ProgressTracker } from '../progress/progress.ts';
import { undoCdnWasmPaths } from '../runtime/index.ts';
import type { Chunk } from './chunk.ts';
import { checkConfigFileSize, checkExternalData, checkGenerationLength, decoderShape, type DecoderShape, promptFormat } from './generator-config.ts';
import { parseQuestions, QuestionDeduper, questionsFor, render } from './questions.ts';

// ---- files ------------------------------------------------------------------------------------

/** Where a generation model's files come from; paths are repo paths ("onnx/model.onnx"). */
export interface ModelFileSource {
  /** What the user named (a Hub id, a folder): used in messages. */
  readonly label: string;
  /** The repo's file paths, to pick the dtype variant and to check what is there. */
  list(): Promise<string[]>;
  /** The file's bytes, or null when the repo has no such file. */
  read(path: string): Promise<Uint8Array | null>;
}

/** Where generation runs: onnxruntime-node on the CPU (CLI, tests), or the page's WASM / WebGPU. */
export type GenerationBackend = 'node' | 'wasm' | 'webgpu';

/** transformers.js' dtype names for the ONNX variants a repo may hold. */
export type GenerationDtype = 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';

/** The file each dtype loads (transformers.js' suffix table, for the `model` session). */
export const DTYPE_FILES: Record<GenerationDtype, string> = {
  fp32: 'onnx/model.onnx',
  fp16: 'onnx/model_fp16.onnx',
  q8: 'onnx/model_quantized.onnx',
  q4: 'onnx/model_q4.onnx',
  q4f16: 'onnx/model_q4f16.onnx',
};

/**
 * Preference per backend (docs/generate.md#dtype-per-backend): WebGPU runs half precision
 * natively and is bound by memory traffic, so 4-bit weights with fp16 activations first; the CPU
 * paths (WASM, onnxruntime-node) have int8 kernels and no fast fp16, so q8 first (a quarter of
 * fp32's bytes: 0.5 GB instead of 2 GB for a 0.5B model), then fp32.
 */
export const DTYPE_PREFERENCE: Record<GenerationBackend, readonly GenerationDtype[]> = {
  webgpu: ['q4f16', 'fp16', 'q4', 'q8', 'fp32'],
  wasm: ['q8', 'q4', 'fp32'],
  node: ['q8', 'fp32', 'q4'],
};

export class GenerationModelError extends Error {
  override name = 'GenerationModelError';
}

/** The first dtype in the backend's preference whose file the repo has; a clear error when none. */
export function pickDtype(backend: GenerationBackend, paths: readonly string[], label: string, wanted?: GenerationDtype): GenerationDtype {
  const have = new Set(paths);
  if (wanted) {
    if (!have.has(DTYPE_FILES[wanted])) throw new GenerationModelError(`${label} has no ${DTYPE_FILES[wanted]} (dtype ${wanted}).`);
    return wanted;
  }
  const found = DTYPE_PREFERENCE[backend].find((d) => have.has(DTYPE_FILES[d]));
  if (found) return found;
  const onnx = paths.filter((p) => p.endsWith('.onnx'));
  throw new GenerationModelError(
    `${label} has no ONNX file the ${backend} backend can use (looked for ${DTYPE_PREFERENCE[backend].map((d) => DTYPE_FILES[d]).join(', ')}` +
      (onnx.length ? `; it has ${onnx.slice(0, 5).join(', ')}` : '; it has no .onnx file at all: transformers.js needs an ONNX export, e.g. an onnx-community/… repo') +
      ').',
  );
}

/** The files a load reads: configs, tokenizer, and the chosen ONNX file with its external data chunks. */
export function generatorFiles(paths: readonly string[], dtype: GenerationDtype): string[] {
  const onnx = DTYPE_FILES[dtype];
  const external = paths.filter((p) => p === `${onnx}_data` || p.startsWith(`${onnx}_data_`)).sort();
  const optional = ['generation_config.json', 'tokenizer_config.json', 'special_tokens_map.json'].filter((p) => paths.includes(p));
  return ['config.json', 'tokenizer.json', ...optional, onnx, ...external];
}

const asObject = (x: unknown): Record<string, unknown> | null => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : null);

/**
 * Refuses a config transformers.js would not generate text with: its model_type must be one of
 * AutoModelForCausalLM's, and an `architectures` list, when present, must name a …ForCausalLM
 * (a BERT encoder, a sentence-transformers model, a seq2seq model are each refused by name).
 */
export function checkGenerationConfig(config: unknown, label: string): { modelType: string } {
  const c = asObject(config);
  if (!c) throw new GenerationModelError(`${label}: config.json is not a JSON object.`);
  const type = c.model_type;
  if (typeof type !== 'string') throw new GenerationModelError(`${label}: config.json has no model_type, so it is not a text-generation model transformers.js can run.`);
  const archs = Array.isArray(c.architectures) ? c.architectures.filter((a): a is string => typeof a === 'string') : [];
  const causal = archs.some((a) => a.endsWith('ForCausalLM') || a.endsWith('LMHeadModel'));
  if (!AutoModelForCausalLM.supports(type) || (archs.length > 0 && !causal)) {
    const named = archs.length ? ` (${archs.join(', ')})` : '';
    throw new GenerationModelError(
      `${label} is a ${type} model${named}, not a text-generation (causal LM) model: question generation needs a small instruct model such as ${DEFAULT_GENERATOR_ID}.`,
    );
  }
  return { modelType: type };
}


// ---- loading ----------------------------------------------------------------------------------

/** A loaded tokenizer and model, with what was chosen for them. */
export interface TextGenerator {
  readonly label: string;
  readonly dtype: GenerationDtype;
  readonly backend: GenerationBackend;
  /** True when the tokenizer has a chat template (the prompt is sent as one user message). */
  readonly chat: boolean;
  /** Why the prompt goes in as plain text (no chat template), for the page and the CLI to show. */
  readonly promptNotice?: string;
  /** The shape config.json states (bounded: generator-config.ts), which bounds each document's length. */
  readonly shape?: DecoderShape;
  readonly tokenizer: PreTrainedTokenizer;
  readonly model: PreTrainedModel;
  dispose(): Promise<void>;
}

export interface LoadGeneratorOptions {
  backend: GenerationBackend;
  /** Overrides pickDtype's choice. */
  dtype?: GenerationDtype;
}

const SOURCE_HOST = 'https://tabtune-model-source.invalid/';
let loadCount = 0;
let loadChain: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with transformers.js reading every file of model `id` from `source` (and nothing
 * else: no browser cache, no file-system cache, no network for that id). The source answers as
 * transformers.js' custom cache (`env.customCache.match`), the one path that hands bytes to the
 * ONNX session in Node as well as in the browser; a miss falls through to `env.fetch`, which
 * answers 404 for the id. transformers.js' env is global, so loads are serialized and the previous
 * settings restored afterwards.
 */
async function withSource<T>(source: ModelFileSource, fn: (id: string) => Promise<T>): Promise<T> {
  const run = async () => {
    const id = `tabtune/source-${++loadCount}`;
    const prefix = `${SOURCE_HOST}${id}/`;
    const pathOf = (url: string) => (url.startsWith(prefix) ? decodeURIComponent(url.slice(prefix.length)) : null);
    // transformers.js asks twice for a model file in Node (once to check, once for the bytes).
    const read = new Map<string, Promise<Uint8Array | null>>();
    const readOnce = (path: string) => {
      let r = read.get(path);
      if (!r) read.set(path, (r = source.read(path)));
      return r;
    };
    const saved = {
      allowLocalModels: env.allowLocalModels,
      allowRemoteModels: env.allowRemoteModels,
      remoteHost: env.remoteHost,
      remotePathTemplate: env.remotePathTemplate,
      useBrowserCache: env.useBrowserCache,
      useFSCache: env.useFSCache,
      useCustomCache: env.useCustomCache,
      customCache: env.customCache,
      fetch: env.fetch,
    };
    Object.assign(env, {
      allowLocalModels: false,
      allowRemoteModels: true,
      remoteHost: SOURCE_HOST,
      remotePathTemplate: '{model}/',
      useBrowserCache: false,
      useFSCache: false,
      useCustomCache: true,
      customCache: {
        match: async (key: string) => {
          const path = pathOf(String(key));
          const bytes = path === null ? null : await readOnce(path);
          if (!bytes) return undefined;
          return new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-length': String(bytes.byteLength) } });
        },
        put: async () => undefined,
      },
      fetch: async (input: string | URL, init?: unknown) =>
        pathOf(String(input)) === null ? saved.fetch(input, init) : new Response(null, { status: 404 }),
    });
    try {
      return await fn(id);
    } finally {
      Object.assign(env, saved);
    }
  };
  const next = loadChain.then(run, run);
  loadChain = next.catch(() => undefined);
  return next;
}

const DEVICE: Record<GenerationBackend, 'cpu' | 'wasm' | 'webgpu'> = { node: 'cpu', wasm: 'wasm', webgpu: 'webgpu' };

/** tokenizer_config.json, size-checked before it is parsed; {} when the repo has none. */
async function readTokenizerConfig(source: ModelFileSource): Promise<unknown> {
  const bytes = await source.read('tokenizer_config.json');
  if (!bytes) return {};
  checkConfigFileSize('tokenizer_config.json', bytes.byteLength, source.label);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new GenerationModelError(`${source.label}: tokenizer_config.json is not valid JSON (${(e as Error).message}).`);
  }
}

/** Checks the config, picks the dtype, then loads tokenizer and model from `source`. */
export async function loadGenerator(source: ModelFileSource, opts: LoadGeneratorOptions): Promise<TextGenerator> {
  // In the page, onnxruntime-web's files come from the app, not from transformers.js' CDN default.
  if (opts.backend !== 'node') undoCdnWasmPaths(env.backends.onnx as { wasm: { wasmPaths?: unknown } });

  const paths = await source.list();
  const configBytes = await source.read('config.json');
  if (!configBytes) throw new GenerationModelError(`${source.label} has no config.json.`);
  checkConfigFileSize('config.json', configBytes.byteLength, source.label);
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (e) {
    throw new GenerationModelError(`${source.label}: config.json is not valid JSON (${(e as Error).message}).`);
  }
  checkGenerationConfig(config, source.label);
  const shape = decoderShape(config as Record<string, unknown>, source.label);
  if (!paths.includes('tokenizer.json')) throw new GenerationModelError(`${source.label} has no tokenizer.json (transformers.js needs it to read and write text).`);
  const dtype = pickDtype(opts.backend, paths, source.label, opts.dtype);
  checkExternalData(paths, config as Record<string, unknown>, DTYPE_FILES[dtype], source.label);
  const format = promptFormat(await readTokenizerConfig(source), source.label);
  const { tokenizer, model } = await withSource(source, async (id) => {
    const tokenizer = await AutoTokenizer.from_pretrained(id);
    const model = await AutoModelForCausalLM.from_pretrained(id, { dtype, device: DEVICE[opts.backend] });
    return { tokenizer, model };
  });
  return {
    label: source.label,
    dtype,
    backend: opts.backend,
    chat: format.kind === 'chat',
    ...(format.kind === 'plain' ? { promptNotice: format.notice } : {}),
    shape,
    tokenizer,
    model,
    dispose: async () => {
      await model.dispose();
    },
  };
}

// ---- one prompt -------------------------------------------------------------------------------

export interface DecodeOptions {
  maxNewTokens: number;
  /** Absent: greedy decoding. Present: sampling from transformers.js' sampler seeded with it. */
  seed?: number;
  /** Sampling only (default DEFAULT_TEMPERATURE, DEFAULT_TOP_K). */
  temperature?: number;
  topK?: number;
}

/** Sampling defaults: those of Qwen2.5-Instruct's and SmolLM2-Instruct's generation configs, roughly. */
export const DEFAULT_TEMPERATURE = 0.7;
export const DEFAULT_TOP_K = 50;
/** Enough for a handful of short questions. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

/** Hard cap on max-new-tokens: a bound that keeps a runaway model from holding the tab. */
export const MAX_NEW_TOKENS_LIMIT = 4096;

export interface Completion {
  /** The prompt's tokens as fed (chat template applied). */
  promptIds: number[];
  /** The generated tokens, eos included when the model stopped on it. */
  newIds: number[];
  /** The generated text, special tokens skipped. */
  text: string;
  /** True when a cancel cut generation short. */
  aborted: boolean;
}

/** The exact text fed to the tokenizer: the chat template around one user message, or the prompt as is. */
export function promptText(gen: Pick<TextGenerator, 'tokenizer' | 'chat'>, prompt: string): string {
  if (!gen.chat) return prompt;
  return gen.tokenizer.apply_chat_template([{ role: 'user', content: prompt }], { tokenize: false, add_generation_prompt: true }) as string;
}

/** Stops generate() at the next token once the signal fires. */
class AbortCriteria extends StoppingCriteria {
  constructor(private readonly signal: AbortSignal | undefined) {
    super();
  }
  override _call(inputIds: number[][]): boolean[] {
    return new Array(inputIds.length).fill(this.signal?.aborted ?? false);
  }
}

/** Counts tokens as they come, for the live tokens/s. */
interface TokenCounter {
  put(ids: bigint[][]): void;
  end(): void;
}

/** Seed for one chunk: the run's seed and the chunk id, so a resumed run samples alike. */
export function documentSeed(seed: number, docId: string): number {
  let h = (seed >>> 0) ^ 0x811c9dc5;
  for (let i = 0; i < docId.length; i++) h = Math.imul(h ^ docId.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The decoding in words, for the dataset card and the CLI: "greedy" or "sampling, seed 42, temperature 0.7, top-k 50". */
export function describeDecoding(o: Pick<DecodeOptions, 'seed' | 'temperature' | 'topK'>): string {
  if (o.seed === undefined) return 'greedy';
  return `sampling, seed ${o.seed}, temperature ${o.temperature ?? DEFAULT_TEMPERATURE}, top-k ${o.topK ?? DEFAULT_TOP_K}`;
}

export function checkDecodeOptions(o: DecodeOptions): void {
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1 || o.maxNewTokens > MAX_NEW_TOKENS_LIMIT) {
    throw new RangeError(`max new tokens must be an integer from 1 to ${MAX_NEW_TOKENS_LIMIT}, got ${o.maxNewTokens}`);
  }
  if (o.seed !== undefined && (!Number.isSafeInteger(o.seed) || o.seed < 0)) throw new RangeError(`seed must be a whole number ≥ 0, got ${o.seed}`);
  if (o.temperature !== undefined && !(o.temperature > 0 && o.temperature <= 10)) throw new RangeError(`temperature must be in (0, 10], got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new RangeError(`top-k must be a whole number ≥ 0, got ${o.topK}`);
}

/**
 * Generates a completion of `prompt`. Sampling seeds transformers.js' global generator
 * (`random.seed`, a Mersenne Twister its sampler draws from), so the run is deterministic as long
 * as nothing else draws from it meanwhile: generations run one at a time.
 */
export async function complete(
  gen: TextGenerator,
  prompt: string,
  o: DecodeOptions & { signal?: AbortSignal; onToken?: () => void },
): Promise<Completion> {
  checkDecodeOptions(o);
  const inputs = gen.tokenizer(promptText(gen, prompt), { add_special_tokens: false }) as { input_ids: Tensor; attention_mask: Tensor };
  const promptIds = Array.from(inputs.input_ids.data as BigInt64Array, Number);
  if (gen.shape) checkGenerationLength(gen.shape, promptIds.length, o.maxNewTokens, gen.label);
  const sample = o.seed !== undefined;
  if (sample) random.seed(o.seed);
  let prompted = false;
  const streamer: TokenCounter = {
    put: () => {
      // The first put is the prompt; each later one holds one new token per row.
      if (prompted) o.onToken?.();
      prompted = true;
    },
    end: () => undefined,
  };
  const out = (await gen.model.generate({
    ...inputs,
    max_new_tokens: o.maxNewTokens,
    do_sample: sample,
    ...(sample ? { temperature: o.temperature ?? DEFAULT_TEMPERATURE, top_k: o.topK ?? DEFAULT_TOP_K } : {}),
    stopping_criteria: [new AbortCriteria(o.signal)],
    streamer: streamer as never,
  } as never)) as Tensor;
  const all = Array.from(out.data as BigInt64Array, Number);
  const newIds = all.slice(promptIds.length);
  const text = gen.tokenizer.decode(newIds, { skip_special_tokens: true });
  return { promptIds, newIds, text, aborted: o.signal?.aborted ?? false };
}

// ---- the per-chunk loop ------------------------------------------------------------------------

/** What the loop needs of a chunk (chunk.ts' Chunk has these and more). */
export type GenChunk = Pick<Chunk, 'chunkId' | 'documentId' | 'text'>;

/** One finished chunk: what is stored (IndexedDB, the CLI's progress file) and resumed from. */
export interface GeneratedRow {
  chunkId: string;
  documentId: string;
  /** The kept questions: parsed, deduped against the whole set so far, at most `n` (questions.ts' questionsFor). */
  questions: string[];
  /** Questions parsed from the output, before dedupe and the cut to `n`. */
  parsed: number;
  /** Of those, dropped as repeats of a question already kept (this chunk's or an earlier one's). */
  duplicates: number;
  /** The model's text as decoded, for inspection. */
  output: string;
  promptTokens: number;
  newTokens: number;
}

export interface GenerationProgress {
  /** Chunks finished, those done in an earlier run included. */
  docsDone: number;
  docsTotal: number;
  /** Chunks skipped because an earlier run finished them. */
  docsSkipped: number;
  /** Tokens generated in this run. */
  tokens: number;
  docsPerS: number | undefined;
  tokensPerS: number | undefined;
  etaS: number | undefined;
  elapsedS: number;
}

export interface GenerateOptions extends DecodeOptions {
  /** The prompt template (questions.ts: `{document}` and `{n}`). */
  template: string;
  /** Questions asked for per chunk (`{n}`), and the most kept. */
  perDoc: number;
}

export interface GenerateHooks {
  /** Called once per finished chunk, in order, before the next one starts. */
  onRow?(row: GeneratedRow): void | Promise<void>;
  /** Called after every chunk and at most every `progressMs` while tokens come. */
  onProgress?(p: GenerationProgress): void;
  progressMs?: number;
  signal?: AbortSignal;
  /** Ids of chunks an earlier run finished: skipped. */
  done?: ReadonlySet<string>;
  /**
   * The set's dedupe state. On resume, pass one that has seen the stored rows' questions
   * (resumeDeduper), so that later chunks drop the same repeats an uninterrupted run drops.
   */
  deduper?: QuestionDeduper;
  now?: () => number;
}

/** A deduper that has seen the questions of rows an earlier run stored (all of them kept there). */
export function resumeDeduper(rows: Iterable<Pick<GeneratedRow, 'chunkId' | 'documentId' | 'questions'>>): QuestionDeduper {
  const d = new QuestionDeduper();
  for (const r of rows) for (const question of r.questions) d.add({ question, chunkId: r.chunkId, documentId: r.documentId });
  return d;
}

export interface GenerationSummary {
  rows: number;
  questions: number;
  tokens: number;
  /** True when the signal stopped the run; the chunk in progress was dropped. */
  cancelled: boolean;
  progress: GenerationProgress;
}

/** Chunks must have unique, non-empty ids and non-empty text. */
export function checkChunks(chunks: readonly GenChunk[]): void {
  const seen = new Set<string>();
  chunks.forEach((d, i) => {
    if (typeof d.chunkId !== 'string' || d.chunkId === '') throw new Error(`chunk ${i + 1} has no id`);
    if (seen.has(d.chunkId)) throw new Error(`chunk id "${d.chunkId}" appears twice`);
    seen.add(d.chunkId);
    if (typeof d.text !== 'string' || d.text.trim() === '') throw new Error(`chunk "${d.chunkId}" is empty`);
  });
}

/**
 * The loop: each chunk not in `done`, in order, prompted (the template rendered, the chat
 * template around it), generated, parsed and deduped, and handed to onRow. A cancel (signal)
 * stops generation at the next token and drops that chunk; the rows already handed out stand, so
 * a later call with `done` = their ids (and resumeDeduper of them) goes on where this one stopped.
 * Greedy runs and seeded runs (documentSeed) give the same rows whether interrupted or not.
 */
export async function generateQuestions(
  gen: TextGenerator,
  chunks: readonly GenChunk[],
  options: GenerateOptions,
  hooks: GenerateHooks = {},
): Promise<GenerationSummary> {
  checkChunks(chunks);
  checkDecodeOptions(options);
  render(options.template, { document: 'x', n: options.perDoc }); // throws on a bad template or n
  const now = hooks.now ?? (() => performance.now());
  const deduper = hooks.deduper ?? new QuestionDeduper();
  const todo = chunks.filter((d) => !hooks.done?.has(d.chunkId));
  const skipped = chunks.length - todo.length;
  const docTracker = new ProgressTracker({ total: todo.length, unit: 'documents', now });
  const tokenTracker = new ProgressTracker({ unit: 'tokens', now });
  let tokens = 0;
  let rows = 0;
  let questions = 0;
  const progress = (): GenerationProgress => {
    const d = docTracker.snapshot();
    const t = tokenTracker.snapshot();
    return {
      docsDone: skipped + d.done,
      docsTotal: chunks.length,
      docsSkipped: skipped,
      tokens,
      docsPerS: d.rate ?? d.averageRate,
      tokensPerS: t.rate ?? t.averageRate,
      etaS: d.etaS,
      elapsedS: d.elapsedS,
    };
  };
  const every = hooks.progressMs ?? 500;
  let lastReport = -Infinity;
  hooks.onProgress?.(progress());
  for (const chunk of todo) {
    if (hooks.signal?.aborted) break;
    const c = await complete(gen, render(options.template, { document: chunk.text, n: options.perDoc }), {
      ...options,
      seed: options.seed === undefined ? undefined : documentSeed(options.seed, chunk.chunkId),
      signal: hooks.signal,
      onToken: () => {
        tokenTracker.update(++tokens);
        if (now() - lastReport >= every) {
          lastReport = now();
          hooks.onProgress?.(progress());
        }
      },
    });
    if (c.aborted) break;
    const droppedBefore = deduper.dropped.length;
    const kept = questionsFor(c.text, chunk, options.perDoc, deduper);
    const row: GeneratedRow = {
      chunkId: chunk.chunkId,
      documentId: chunk.documentId,
      questions: kept.map((q) => q.question),
      parsed: parseQuestions(c.text).length,
      duplicates: deduper.dropped.length - droppedBefore,
      output: c.text,
      promptTokens: c.promptIds.length,
      newTokens: c.newIds.length,
    };
    await hooks.onRow?.(row);
    rows++;
    questions += row.questions.length;
    docTracker.update(rows);
    lastReport = now();
    hooks.onProgress?.(progress());
  }
  const cancelled = rows < todo.length;
  if (!cancelled) docTracker.finish();
  return { rows, questions, tokens, cancelled, progress: progress() };
}

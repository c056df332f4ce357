// `npm run bench:generate`: question generation's speed and memory on onnxruntime-web's WASM
// backend in headless Chromium, for the tiny fixture decoder and a full-size random
// SmolLM2-135M-shaped decoder (hidden 576, 30 layers, 9 heads, 3 KV heads, FFN 1536, vocab
// 49,152, tied embeddings), each as fp32 (onnx/model.onnx) and q8 (onnx/model_quantized.onnx in
// the form the Hub's q8 files have: optimum's dynamic quantization, int8 MatMulInteger), served by
// the local Hub; `--dtypes …,q8-dq` adds the fixture's other q8 form (int8 weights behind
// DequantizeLinear, float MatMul) from a second repo. Each row is a fresh Chromium on the bench page (generate-page/: a
// module worker that does what the page's generation worker does — the files through our Hub code
// into IndexedDB, generator.ts' loadGenerator and generateQuestions with the default prompt,
// greedy, one document at a time); every Chromium process is sampled every 200 ms and the peak
// PSS kept, as the page bench does (chromium-memory.ts). Prints generated tokens/s, documents/s, load time, peak memory
// and the q8 ÷ fp32 ratios of the same run, and what N documents would take; writes JSON.
// The SmolLM2 shape is written on demand here into .bench/generate/ (~540 MB fp32 + ~230 MB q8,
// kept while its .version matches), never by the test fixtures.
// Not a test (it asserts nothing) and not in `npm test`: the SmolLM2 rows take minutes.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { serveStatic } from '../../scripts/serve.js';
import { CHROMIUM_PATH, launchBrowser, REPO_ROOT } from '../e2e/browser.ts';
import { buildHarness } from '../e2e/harness/build.ts';
import { buildQaDataset } from '../fixtures/dataset.ts';
import { type DecoderShape, SMOLLM2_135M_SHAPE, TINY_DECODER_SHAPE, writeDecoderFolder } from '../fixtures/tiny-decoder.ts';
import { startLocalHub } from '../hub/local-hub.ts';
import { benchArgs } from './bench-args.ts';
import { chromiumPids, memoryOf } from './chromium-memory.ts';
import type { GenerateBenchRequest, GenerateBenchResult } from './generate-page/worker.ts';

const USAGE = `Usage: npm run bench:generate -- [options]

Question generation on WASM in headless Chromium: generated tokens/s, documents/s and peak memory
(Chromium's processes, PSS) for the tiny fixture decoder and a random SmolLM2-135M-shaped decoder,
fp32 and q8, with the q8 ÷ fp32 ratios. --models: tiny, smollm2 (comma list); --dtypes: fp32, q8
(dynamic quantization, as the Hub's q8 files), q8-dq (int8 weights behind DequantizeLinear);
--docs: timed documents per row (after one untimed warm-up document); --max-new-tokens: the
most tokens generated per document (a random model seldom stops earlier: the table counts them);
--doc-chars: each document's length; --threads: onnxruntime-web's WASM threads (0: as the page
chooses them, one per core up to 8). The SmolLM2 folders (~730 MB) are written on first use into
.bench/generate/.`;

const { values: args } = benchArgs(USAGE, {
  models: { type: 'string', default: 'tiny,smollm2' },
  dtypes: { type: 'string', default: 'fp32,q8' },
  docs: { type: 'string', default: '3' },
  'max-new-tokens': { type: 'string', default: '64' },
  'doc-chars': { type: 'string', default: '800' },
  threads: { type: 'string', default: '0' },
  'timeout-s': { type: 'string', default: '900' },
  out: { type: 'string', default: join(REPO_ROOT, '.bench', 'generate.json') },
});

/** What --models names: a shape and the repo id the local Hub serves it under. */
const MODELS: Record<string, { shape: DecoderShape; repo: string }> = {
  tiny: { shape: TINY_DECODER_SHAPE, repo: 'tabtune-bench/tiny-decoder' },
  smollm2: { shape: SMOLLM2_135M_SHAPE, repo: 'tabtune-bench/SmolLM2-135M-random' },
};
const DTYPES = ['fp32', 'q8', 'q8-dq'] as const;
type Dtype = (typeof DTYPES)[number];
/** Each row's repo suffix, transformers.js dtype and file. q8-dq lives in a repo of its own (one model_quantized.onnx per repo). */
const ROW: Record<Dtype, { suffix: string; dtype: 'fp32' | 'q8'; file: string }> = {
  fp32: { suffix: '', dtype: 'fp32', file: 'onnx/model.onnx' },
  q8: { suffix: '', dtype: 'q8', file: 'onnx/model_quantized.onnx' },
  'q8-dq': { suffix: '-dq', dtype: 'q8', file: 'onnx/model_quantized.onnx' },
};

const WORK = join(REPO_ROOT, '.bench', 'generate');
const MB = 2 ** 20;

function positiveInt(name: string, s: string, min = 1): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got ${JSON.stringify(s)}`);
  return n;
}

/**
 * The model folder for `name` (fp32 + dynamic q8; with `dq`, the DequantizeLinear q8 alone),
 * written when missing or made by other code (its .version names the shape, the form and the builder).
 */
function ensureModel(name: string, corpus: string[], dq: boolean): string {
  const { shape } = MODELS[name];
  const dir = join(WORK, dq ? `${name}-dq` : name);
  // The builder's source is part of the key: a change to the graph or the weights' scales makes a new folder.
  const builder = createHash('sha256').update(readFileSync(join(REPO_ROOT, 'tests/fixtures/tiny-decoder.ts'))).digest('hex').slice(0, 16);
  const version = JSON.stringify({ v: 'generate-bench-v2', shape, builder, dq });
  if (existsSync(join(dir, '.version')) && readFileSync(join(dir, '.version'), 'utf8') === version) return dir;
  rmSync(dir, { recursive: true, force: true });
  const t0 = performance.now();
  console.log(`writing the ${name} decoder (random weights, ${dq ? 'q8 DequantizeLinear form' : 'fp32 + q8 dynamic form'}) into ${dir} …`);
  writeDecoderFolder(dir, { shape, corpus, quantized: true, ...(dq ? { q8Form: 'dequantize', noFp32: true } : { q8Form: 'dynamic' }) });
  writeFileSync(join(dir, '.version'), version);
  console.log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return dir;
}

/** `n` documents of about `chars` characters each, from qa-tiny's documents (each starts at a different one). */
function benchDocs(n: number, chars: number): string[] {
  const d = buildQaDataset().docs;
  return Array.from({ length: n }, (_, i) => {
    let text = '';
    for (let k = i; text.length < chars; k++) text += (text ? ' ' : '') + d[k % d.length];
    return text.slice(0, chars);
  });
}

interface Row {
  model: string;
  dtype: Dtype;
  fileBytes: number;
  result: GenerateBenchResult | null;
  peakPss: number;
  peakRss: number;
  loadavg1m: number;
  wallS: number;
  error: string | null;
}

async function runRow(model: string, dtype: Dtype, site: string, hubUrl: string, req: Omit<GenerateBenchRequest, 'hubUrl' | 'repo' | 'dtype'>, fileBytes: number, timeoutS: number): Promise<Row> {
  const row: Row = { model, dtype, fileBytes, result: null, peakPss: 0, peakRss: 0, loadavg1m: loadavg()[0], wallS: 0, error: null };
  const session = await launchBrowser();
  const sample = () => {
    const m = memoryOf(chromiumPids(session.profile));
    row.peakPss = Math.max(row.peakPss, m.pss);
    row.peakRss = Math.max(row.peakRss, m.rss);
  };
  const sampler = setInterval(sample, 200);
  const t0 = performance.now();
  try {
    await session.page.goto(site);
    await session.page.waitForFunction(() => document.title === 'bench ready', undefined, { timeout: 60_000 });
    const full: GenerateBenchRequest = { ...req, hubUrl, repo: MODELS[model].repo + ROW[dtype].suffix, dtype: ROW[dtype].dtype };
    const run = session.page.evaluate((r) => (globalThis as unknown as { bench: { run(x: unknown): Promise<GenerateBenchResult> } }).bench.run(r), full);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, no) => (timer = setTimeout(() => no(new Error(`timed out after ${timeoutS} s`)), timeoutS * 1000)));
    row.result = await Promise.race([run, late]).finally(() => clearTimeout(timer));
    sample();
  } catch (e) {
    row.error = (e as Error).message.split('\n')[0];
  } finally {
    clearInterval(sampler);
    row.wallS = (performance.now() - t0) / 1000;
    await session.close();
  }
  return row;
}

/** The timed documents' totals (the warm-up document, first, left out). */
function totals(r: GenerateBenchResult) {
  const timed = r.docs.slice(1);
  const seconds = timed.reduce((s, d) => s + d.seconds, 0);
  const newTokens = timed.reduce((s, d) => s + d.newTokens, 0);
  const promptTokens = timed.reduce((s, d) => s + d.promptTokens, 0) / Math.max(1, timed.length);
  return { seconds, newTokens, promptTokens, newPerDoc: newTokens / Math.max(1, timed.length), tokensPerS: newTokens / seconds, docsPerS: timed.length / seconds };
}

async function main(): Promise<void> {
  const models = args.models!.split(',').map((s) => s.trim());
  for (const m of models) if (!MODELS[m]) throw new Error(`--models: unknown ${m} (${Object.keys(MODELS).join(', ')})`);
  const dtypes = args.dtypes!.split(',').map((s) => s.trim()) as Dtype[];
  for (const d of dtypes) if (!DTYPES.includes(d)) throw new Error(`--dtypes: unknown ${d} (${DTYPES.join(', ')})`);
  const nDocs = positiveInt('docs', args.docs!);
  const maxNewTokens = positiveInt('max-new-tokens', args['max-new-tokens']!);
  const docChars = positiveInt('doc-chars', args['doc-chars']!);
  const threads = positiveInt('threads', args.threads!, 0);
  const timeoutS = positiveInt('timeout-s', args['timeout-s']!);

  const qa = buildQaDataset();
  const corpus = [...qa.docs, ...qa.train.map((r) => r.question)];
  const dirs: Record<string, string> = {};
  for (const m of models) {
    if (dtypes.some((d) => ROW[d].suffix === '')) dirs[MODELS[m].repo] = ensureModel(m, corpus, false);
    if (dtypes.includes('q8-dq')) dirs[`${MODELS[m].repo}-dq`] = ensureModel(m, corpus, true);
  }

  console.log('building the bench page …');
  const pageDir = await buildHarness({ root: join(import.meta.dirname, 'generate-page') });
  const site = await serveStatic({ root: pageDir, port: 0, isolate: true });
  const hub = await startLocalHub({ models: dirs });
  const docs = benchDocs(nDocs + 1, docChars);
  const rows: Row[] = [];
  try {
    for (const m of models) {
      for (const d of dtypes) {
        const fileBytes = statSync(join(dirs[MODELS[m].repo + ROW[d].suffix], ROW[d].file)).size;
        console.log(`${m} ${d}: ${nDocs} + 1 documents × ${maxNewTokens} new tokens (load ${loadavg()[0].toFixed(1)}) …`);
        const row = await runRow(m, d, site.url, hub.url, { docs, maxNewTokens, threads }, fileBytes, timeoutS);
        if (row.error) console.log(`  failed: ${row.error}`);
        rows.push(row);
      }
    }
  } finally {
    await site.close();
    await hub.close();
    await rm(pageDir, { recursive: true, force: true });
  }
  printTable(rows, { nDocs, maxNewTokens, docChars });
  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  writeFileSync(args.out!, JSON.stringify({ date: new Date().toISOString(), chromium: execFileSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), nDocs, maxNewTokens, docChars, threads, rows }, null, 2));
  console.log(`\nwrote ${args.out}`);
}

function printTable(rows: Row[], o: { nDocs: number; maxNewTokens: number; docChars: number }): void {
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  /** MiB, with two decimals for the tiny model's sub-MiB files. */
  const mib = (b: number) => f(b / MB, b < 10 * MB ? 2 : 0);
  const first = rows.find((r) => r.result)?.result;
  console.log(`\nGeneration on WASM in headless Chromium — ${o.nDocs} timed documents (+1 warm-up) of ${o.docChars} characters, ${o.maxNewTokens} new tokens each, greedy; ${first ? `${first.threads} WASM threads${first.isolated ? '' : ' (NOT cross-origin isolated)'}` : ''}`);
  console.log('| model | dtype | file MiB | load s | prompt tokens | new tokens | tokens/s | documents/s | s/document | peak PSS MiB [RSS] | load avg |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    if (!r.result) {
      console.log(`| ${r.model} | ${r.dtype} | ${mib(r.fileBytes)} | failed: ${r.error} ||||||| ${r.loadavg1m.toFixed(1)} |`);
      continue;
    }
    const t = totals(r.result);
    console.log(`| ${r.model} | ${r.dtype} | ${mib(r.fileBytes)} | ${f(r.result.loadS, 1)} | ${f(t.promptTokens)} | ${f(t.newPerDoc)} | ${f(t.tokensPerS, 1)} | ${f(t.docsPerS, 3)} | ${f(1 / t.docsPerS, 1)} | ${f(r.peakPss / MB)} [${f(r.peakRss / MB)}] | ${r.loadavg1m.toFixed(1)} |`);
  }
  const ratioRows = [...new Set(rows.map((r) => r.model))].flatMap((m) => {
    const a = rows.find((r) => r.model === m && r.dtype === 'fp32' && r.result);
    if (!a) return [];
    const ta = totals(a.result!);
    return rows.filter((b) => b.model === m && b.dtype !== 'fp32' && b.result).map((b) => {
      const tb = totals(b.result!);
      return `| ${m} | ${b.dtype} | ${(b.fileBytes / a.fileBytes).toFixed(2)} | ${(tb.tokensPerS / ta.tokensPerS).toFixed(2)} | ${(tb.docsPerS / ta.docsPerS).toFixed(2)} | ${(b.peakPss / a.peakPss).toFixed(2)} |`;
    });
  });
  if (ratioRows.length) {
    console.log('\nq8 ÷ fp32, same run');
    console.log('| model | q8 form | file | tokens/s | documents/s | peak PSS |');
    console.log('|---|---|---:|---:|---:|---:|');
    for (const l of ratioRows) console.log(l);
  }
  console.log('');
  for (const r of rows) {
    if (!r.result) continue;
    const t = totals(r.result);
    console.log(`${r.model} ${r.dtype}: 1,000 documents take about ${f(1000 / t.docsPerS / 60)} minutes on this machine's CPU (${f(t.promptTokens)}-token prompts, ${f(t.newPerDoc)} new tokens each)`);
  }
}

await main();

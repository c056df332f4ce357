// Fits the memory account's per-runtime constants (memory.ts RUNTIME_COSTS: the process's own
// memory, the share of the activation estimate the allocator holds, GradCache's extra session) to
// measured peaks, and prints every configuration's peak next to the account with the constants in
// the source and with the fitted ones. Each configuration is one train-step process
// (tests/bench/train-child.ts, 2 threads, one warm-up + one timed step, one checkpoint written to
// disk); its peak RSS is what the process measured. Rows marked held out are not used for the fit.
// WebGPU (`--runtimes webgpu`) is measured in headless Chromium instead (the engine harness page,
// whatever adapter it gets — SwiftShader on a machine without a GPU, fine for bytes): the peak of
// the page's GPU buffer bytes (src/lib/runtime/gpu-memory.ts) against the account's gpuPeak, with
// 2- and 4-layer bge-small shapes at 64–128 tokens so the software adapter gets through them.
//
//   npm run bench:memory-fit [-- --runtimes wasm,node,webgpu --limit N --out .bench/memory-fit.json]
//   npm run bench:memory-fit -- --from .bench/memory-fit.json     (refit saved measurements)

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BGE_BASE_CONFIG, BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { parameterSet } from '../../src/lib/models/parameter-set.ts';
import { serveStatic } from '../../scripts/serve.js';
import { launchBrowser } from '../e2e/browser.ts';
import { buildHarness } from '../e2e/harness/build.ts';
import { callHarness, waitForHarness } from '../e2e/harness/open.ts';
import { estimateActivationBytes, memoryAccount, RUNTIME_COSTS, type RuntimeCosts, type TrainPath } from '../../src/lib/train/memory.ts';
import { benchArgs } from './bench-args.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const { values: args } = benchArgs('Usage: npm run bench:memory-fit -- [options]\n\nFits the memory account\'s per-runtime constants to measured peaks. --runtimes: a list of wasm, node, webgpu;\n--from FILE: refit from an earlier --out instead of measuring; --limit N: only the first N configurations\nper runtime (a quick check of the measuring itself).', {
  runtimes: { type: 'string', default: 'wasm,node' },
  from: { type: 'string' },
  /** Measure only the first N configurations per runtime (a quick check of the measuring itself). */
  limit: { type: 'string' },
  out: { type: 'string', default: join(ROOT, '.bench', 'memory-fit.json') },
});

interface Config { runtime: string; path: TrainPath; batch: number; mini: number; seq: number; model: ModelName; heldOut: boolean }
/** rssMiB: the process's peak RSS (wasm, node) or, on webgpu, the page's peak GPU buffer bytes. */
interface Measured extends Config { rssMiB: number }

/** bge-small's shape with fewer layers: what SwiftShader gets through in minutes a step. */
const MODELS = {
  small: BGE_SMALL_CONFIG,
  base: BGE_BASE_CONFIG,
  'small-2l': { ...BGE_SMALL_CONFIG, numLayers: 2 },
  'small-4l': { ...BGE_SMALL_CONFIG, numLayers: 4 },
};
type ModelName = keyof typeof MODELS;

const CONFIGS: Omit<Config, 'runtime'>[] = [
  { path: 'fused', batch: 4, mini: 0, seq: 128, model: 'small', heldOut: false },
  { path: 'fused', batch: 16, mini: 0, seq: 128, model: 'small', heldOut: false },
  { path: 'gradcache', batch: 16, mini: 4, seq: 128, model: 'small', heldOut: false },
  { path: 'gradcache', batch: 16, mini: 8, seq: 128, model: 'small', heldOut: false },
  { path: 'fused', batch: 8, mini: 0, seq: 128, model: 'small', heldOut: true },
  { path: 'gradcache', batch: 16, mini: 8, seq: 64, model: 'small', heldOut: true },
  { path: 'gradcache', batch: 16, mini: 4, seq: 128, model: 'base', heldOut: true },
];

const WEBGPU_CONFIGS: Omit<Config, 'runtime'>[] = [
  { path: 'fused', batch: 4, mini: 0, seq: 64, model: 'small-2l', heldOut: false },
  { path: 'fused', batch: 8, mini: 0, seq: 64, model: 'small-2l', heldOut: false },
  { path: 'gradcache', batch: 8, mini: 4, seq: 64, model: 'small-2l', heldOut: false },
  { path: 'gradcache', batch: 8, mini: 8, seq: 64, model: 'small-2l', heldOut: false },
  { path: 'fused', batch: 4, mini: 0, seq: 128, model: 'small-4l', heldOut: true },
  { path: 'gradcache', batch: 8, mini: 4, seq: 128, model: 'small-4l', heldOut: true },
];

const MiB = 2 ** 20;
const shapeOf = (m: Config['model']) => {
  const c = MODELS[m];
  // The bench's model keeps its own weights beside the updater's copy (train-step-bench.ts): its "model files".
  const set = parameterSet(c);
  return { model: c, parameters: set.trainedSize, fileBytes: 4 * set.totalSize };
};
const rowsOf = (c: Config) => (c.path === 'fused' ? 2 * c.batch : c.mini);

/** The account of a configuration (host peak; GPU peak on webgpu), with `costs` in place of the runtime's constants when given. */
function account(c: Config, costs?: RuntimeCosts): number {
  const a = memoryAccount({ ...shapeOf(c.model), columns: 2, tokens: c.seq, runtimeKind: c.runtime }, rowsOf(c), c.path, costs);
  return c.runtime === 'webgpu' ? a.gpuPeak : a.hostPeak;
}

/** The WebGPU rows, one fresh page (a new GPU device) each, in one Chromium. */
async function measureWebGpu(configs: Config[]): Promise<Measured[]> {
  const dir = await buildHarness();
  const server = await serveStatic({ root: dir, port: 0, isolate: true });
  const session = await launchBrowser({ webgpu: true });
  const out: Measured[] = [];
  try {
    for (const c of configs) {
      process.stderr.write(`measuring webgpu ${c.path}${c.mini ? ` mini ${c.mini}` : ''} batch ${c.batch} × ${c.seq} (${c.model}) …\n`);
      await waitForHarness(session, server.url);
      const r = await callHarness(session, 'benchTrainStep', { kind: 'webgpu', config: MODELS[c.model], path: c.path, mini: c.mini || 8, batch: c.batch, seq: c.seq, warmup: 1, repeats: 1 });
      if (r.gpuPeakBytes === null) throw new Error('the page counted no GPU buffers');
      out.push({ ...c, rssMiB: r.gpuPeakBytes / MiB });
    }
  } finally {
    await session.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

function measure(c: Config): Measured | null {
  const r = spawnSync(process.execPath, [
    '--import', 'tsx', join(ROOT, 'tests/bench/train-child.ts'), '--runtime', c.runtime, '--threads', '2', '--path', c.path, '--batch', String(c.batch),
    '--mini', String(c.mini || 8), '--seq', String(c.seq), '--model', c.model, '--warmup', '1', '--repeats', '1',
  ], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * MiB });
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_TRAIN '));
  if (!line) {
    process.stderr.write(`${c.runtime} ${c.path} ${c.batch}×${c.seq}: failed (${r.signal ?? r.status})\n${r.stderr.slice(-2000)}\n`);
    return null;
  }
  return { ...c, rssMiB: JSON.parse(line.slice('BENCH_TRAIN '.length)).maxRssMiB };
}

/**
 * Least squares for the three constants (base, activation factor, GradCache's fixed extra) of one
 * runtime. A fixed part that fits below zero (memory held cannot be) is held at its value in
 * `costs` and the rest refitted: first the base, then GradCache's extra.
 */
function fit(points: Measured[], costs: RuntimeCosts, runtime: string): RuntimeCosts & { held: string[] } {
  // measured − account(with base 0, factor 0, gc 0) = base + factor·act + [gc]·gcBytes.
  const zero = { ...costs, baseBytes: 0, activationFactor: 0, gradCacheBytes: 0 };
  const rows = points.map((p) => {
    const act = estimateActivationBytes(shapeOf(p.model).model, rowsOf(p), p.seq);
    return { x: [p.runtime === 'webgpu' ? 0 : 1, act, p.path === 'gradcache' ? 1 : 0], y: p.rssMiB * MiB - account(p, zero) };
  });
  const given = [costs.baseBytes, costs.activationFactor, costs.gradCacheBytes];
  const names = ['baseBytes', 'activationFactor', 'gradCacheBytes'];
  // The process's own memory is not in the GPU's peak: on webgpu only the other two are fitted.
  const heldCols: number[] = runtime === 'webgpu' ? [0] : [];
  let x = given;
  for (;;) {
    const free = [0, 1, 2].filter((j) => !heldCols.includes(j));
    const solved = solve(rows.map((r) => ({ x: r.x, y: r.y - heldCols.reduce((s, j) => s + r.x[j] * given[j], 0) })), free);
    x = [0, 1, 2].map((j) => (heldCols.includes(j) ? given[j] : solved[free.indexOf(j)]));
    const negative = [0, 2].find((j) => !heldCols.includes(j) && x[j] < 0);
    if (negative === undefined) break;
    heldCols.push(negative);
  }
  return {
    ...costs, baseBytes: Math.round(x[0] / MiB) * MiB, activationFactor: Math.round(x[1] * 100) / 100, gradCacheBytes: Math.round(x[2] / MiB) * MiB,
    // Named only where they fitted below zero (webgpu's base is held from the start).
    held: heldCols.filter((j) => !(runtime === 'webgpu' && j === 0)).map((j) => names[j]),
  };
}

/** Least squares y ≈ Σ c_j·x_j over the columns `cols` (normal equations, Gaussian elimination). */
function solve(rows: { x: number[]; y: number }[], cols: number[]): number[] {
  const n = cols.length;
  const A = cols.map((i) => cols.map((j) => rows.reduce((s, r) => s + r.x[i] * r.x[j], 0)));
  const b = cols.map((i) => rows.reduce((s, r) => s + r.x[i] * r.y, 0));
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) {
      const f = A[k][i] / A[i][i];
      for (let j = i; j < n; j++) A[k][j] -= f * A[i][j];
      b[k] -= f * b[i];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let j = i + 1; j < n; j++) s -= A[i][j] * x[j];
    x[i] = s / A[i][i];
  }
  return x;
}

const runtimes = args.runtimes!.split(',');
let measured: Measured[];
if (args.from) measured = JSON.parse(readFileSync(args.from, 'utf8'));
else {
  measured = [];
  for (const runtime of runtimes) {
    if (runtime === 'webgpu') {
      measured.push(...(await measureWebGpu(WEBGPU_CONFIGS.slice(0, args.limit ? Number(args.limit) : undefined).map((c) => ({ ...c, runtime })))));
      continue;
    }
    for (const c of CONFIGS.slice(0, args.limit ? Number(args.limit) : CONFIGS.length)) {
      process.stderr.write(`measuring ${runtime} ${c.path}${c.mini ? ` mini ${c.mini}` : ''} batch ${c.batch} × ${c.seq} (${c.model}) …\n`);
      const m = measure({ ...c, runtime });
      if (m) measured.push(m);
    }
  }
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, JSON.stringify(measured, null, 2));
}

const f = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (a: number, m: number) => `${(((a - m) / m) * 100).toFixed(1)} %`.replace('-', '−');
for (const runtime of runtimes) {
  const points = measured.filter((m) => m.runtime === runtime);
  if (!points.length) continue;
  const used = points.filter((p) => !p.heldOut);
  // Three constants need three configurations, fused and GradCache among them.
  const fitted = used.length >= 3 && used.some((p) => p.path === 'gradcache') && used.some((p) => p.path === 'fused') ? fit(used, RUNTIME_COSTS[runtime], runtime) : RUNTIME_COSTS[runtime];
  const held = 'held' in fitted ? (fitted.held as string[]) : [];
  console.log(`\n${runtime}: in memory.ts ${JSON.stringify(RUNTIME_COSTS[runtime])}`);
  if (fitted === RUNTIME_COSTS[runtime]) console.log(`${runtime}: not refitted (${used.length} configuration(s); a fit needs 3, fused and GradCache among them)`);
  else console.log(`${runtime}: fitted     ${JSON.stringify(fitted)} (baseBytes ${fitted.baseBytes / MiB} MiB, gradCacheBytes ${fitted.gradCacheBytes / MiB} MiB${held.length ? `; held at memory.ts' values, having fitted below zero: ${held.join(', ')}` : ''})`);
  console.log(`| runtime | configuration | ${runtime === 'webgpu' ? 'peak GPU buffers' : 'peak RSS'} MiB | account MiB | Δ | fitted MiB | Δ |`);
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const p of points) {
    const what = `${p.path === 'fused' ? 'fused' : `GradCache mini ${p.mini}`}, batch ${p.batch} × ${p.seq}${p.model === 'small' ? '' : p.model === 'base' ? ', bge-base' : `, bge-small ${MODELS[p.model].numLayers} layers`}${p.heldOut ? ' (held out)' : ''}`;
    const a = account(p) / MiB;
    const b = account(p, fitted) / MiB;
    console.log(`| ${runtime === 'wasm' ? 'WASM' : runtime === 'webgpu' ? 'WebGPU' : runtime} | ${what} | ${f(p.rssMiB)} | ${f(a)} | ${pct(a, p.rssMiB)} | ${f(b)} | ${pct(b, p.rssMiB)} |`);
  }
}

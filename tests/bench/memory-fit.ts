// Fits the memory account's per-runtime constants (memory.ts RUNTIME_COSTS: the process's own
// memory, the share of the activation estimate the allocator holds, GradCache's extra session) to
// measured peaks, and prints every configuration's peak next to the account with the constants in
// the source and with the fitted ones. Each configuration is one train-step process
// (tests/bench/train-child.ts, 2 threads, one warm-up + one timed step, one checkpoint written to
// disk); its peak RSS is what the process measured. Rows marked held out are not used for the fit.
//
//   npm run bench:memory-fit [-- --runtimes wasm,node --limit N --out .bench/memory-fit.json]
//   npm run bench:memory-fit -- --from .bench/memory-fit.json     (refit saved measurements)

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BGE_BASE_CONFIG, BGE_SMALL_CONFIG, bertParameters, trainableParameters } from '../../src/lib/models/bert-config.ts';
import { estimateActivationBytes, memoryAccount, RUNTIME_COSTS, type RuntimeCosts, type TrainPath } from '../../src/lib/train/memory.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const { values: args } = parseArgs({
  options: {
    runtimes: { type: 'string', default: 'wasm,node' },
    from: { type: 'string' },
    /** Measure only the first N configurations per runtime (a quick check of the measuring itself). */
    limit: { type: 'string' },
    out: { type: 'string', default: join(ROOT, '.bench', 'memory-fit.json') },
  },
});

interface Config { runtime: string; path: TrainPath; batch: number; mini: number; seq: number; model: 'small' | 'base'; heldOut: boolean }
interface Measured extends Config { rssMiB: number }

const CONFIGS: Omit<Config, 'runtime'>[] = [
  { path: 'fused', batch: 4, mini: 0, seq: 128, model: 'small', heldOut: false },
  { path: 'fused', batch: 16, mini: 0, seq: 128, model: 'small', heldOut: false },
  { path: 'gradcache', batch: 16, mini: 4, seq: 128, model: 'small', heldOut: false },
  { path: 'gradcache', batch: 16, mini: 8, seq: 128, model: 'small', heldOut: false },
  { path: 'fused', batch: 8, mini: 0, seq: 128, model: 'small', heldOut: true },
  { path: 'gradcache', batch: 16, mini: 8, seq: 64, model: 'small', heldOut: true },
  { path: 'gradcache', batch: 16, mini: 4, seq: 128, model: 'base', heldOut: true },
];

const MiB = 2 ** 20;
const count = (ps: { shape: number[] }[]) => ps.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
const shapeOf = (m: Config['model']) => {
  const c = m === 'base' ? BGE_BASE_CONFIG : BGE_SMALL_CONFIG;
  // The bench's model keeps its own weights beside the updater's copy (train-step-bench.ts): its "model files".
  return { model: c, parameters: count(trainableParameters(c)), fileBytes: 4 * count(bertParameters(c)) };
};
const rowsOf = (c: Config) => (c.path === 'fused' ? 2 * c.batch : c.mini);

/** The account of a configuration, with `costs` in place of the runtime's constants when given. */
function account(c: Config, costs?: RuntimeCosts): number {
  return memoryAccount({ ...shapeOf(c.model), columns: 2, tokens: c.seq, runtimeKind: c.runtime }, rowsOf(c), c.path, costs).hostPeak;
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

/** Least squares for the three constants (base, activation factor, GradCache's fixed extra) of one runtime. */
function fit(points: Measured[], costs: RuntimeCosts): RuntimeCosts {
  // measured − account(with base 0, factor 0, gc 0) = base + factor·act + [gc]·gcBytes.
  const zero = { ...costs, baseBytes: 0, activationFactor: 0, gradCacheBytes: 0 };
  const rows = points.map((p) => {
    const act = estimateActivationBytes(shapeOf(p.model).model, rowsOf(p), p.seq);
    return { x: [1, act, p.path === 'gradcache' ? 1 : 0], y: p.rssMiB * MiB - account(p, zero) };
  });
  // Normal equations, 3×3.
  const A = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((n, r) => n + r.x[i] * r.x[j], 0)));
  const b = [0, 1, 2].map((i) => rows.reduce((n, r) => n + r.x[i] * r.y, 0));
  for (let i = 0; i < 3; i++) {
    for (let k = i + 1; k < 3; k++) {
      const f = A[k][i] / A[i][i];
      for (let j = i; j < 3; j++) A[k][j] -= f * A[i][j];
      b[k] -= f * b[i];
    }
  }
  const x = [0, 0, 0];
  for (let i = 2; i >= 0; i--) x[i] = (b[i] - [0, 1, 2].slice(i + 1).reduce((n, j) => n + A[i][j] * x[j], 0)) / A[i][i];
  return { ...costs, baseBytes: Math.round(x[0] / MiB) * MiB, activationFactor: Math.round(x[1] * 100) / 100, gradCacheBytes: Math.round(x[2] / MiB) * MiB };
}

const runtimes = args.runtimes!.split(',');
let measured: Measured[];
if (args.from) measured = JSON.parse(readFileSync(args.from, 'utf8'));
else {
  measured = [];
  for (const runtime of runtimes) {
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
  const fitted = used.length >= 3 && used.some((p) => p.path === 'gradcache') && used.some((p) => p.path === 'fused') ? fit(used, RUNTIME_COSTS[runtime]) : RUNTIME_COSTS[runtime];
  console.log(`\n${runtime}: in memory.ts ${JSON.stringify(RUNTIME_COSTS[runtime])}`);
  if (fitted === RUNTIME_COSTS[runtime]) console.log(`${runtime}: not refitted (${used.length} configuration(s); a fit needs 3, fused and GradCache among them)`);
  else console.log(`${runtime}: fitted     ${JSON.stringify(fitted)} (baseBytes ${fitted.baseBytes / MiB} MiB, gradCacheBytes ${fitted.gradCacheBytes / MiB} MiB)`);
  console.log('| runtime | configuration | peak RSS MiB | account MiB | Δ | fitted MiB | Δ |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const p of points) {
    const what = `${p.path === 'fused' ? 'fused' : `GradCache mini ${p.mini}`}, batch ${p.batch} × ${p.seq}${p.model === 'base' ? ', bge-base' : ''}${p.heldOut ? ' (held out)' : ''}`;
    const a = account(p) / MiB;
    const b = account(p, fitted) / MiB;
    console.log(`| ${runtime === 'wasm' ? 'WASM' : runtime} | ${what} | ${f(p.rssMiB)} | ${f(a)} | ${pct(a, p.rssMiB)} | ${f(b)} | ${pct(b, p.rssMiB)} |`);
  }
}

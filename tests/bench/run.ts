// `npm run bench`: tokens/s of the bge-small-shaped encoder (random weights, batch 32 × 128 tokens,
// full mask) for `encode` and forward+backward (`encode_grad`, train mode) on onnxruntime-web WASM
// (1 and 2 threads) and onnxruntime-node (2 threads, dynamic and static shapes), PyTorch's figures
// for the same model on this machine at the same moment (tests/bench/torch_bench.py), the ratio
// ours ÷ PyTorch, and the IR evaluator's time at 1,000 × 10,000 × 768. Prints a table and writes
// .bench/latest.json. Every configuration runs in its own child process (child.ts), one at a time.
// Not a test: it asserts nothing and is not part of `npm test`.
//
// Flags (or env BENCH_ITERS / BENCH_WARMUP / BENCH_QUICK=1):
//   --quick            1 timed run after the warm-ups (instead of the median of 3)
//   --iters N          timed runs per figure (default 3); --warmup N (default 2)
//   --only LIST        subset of wasm1,wasm2,node,static,nodrop,torch,eval (default: all)
//   --threads N        threads for onnxruntime-node, WASM ×2 and PyTorch (default 2)
//   --timeout-s S      per child process (default 600); a configuration past it is reported as such
//   --profile          also run onnxruntime-node with its profiler on and print the top ops
//   --out FILE         JSON output (default .bench/latest.json)

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildResult, GraphResult } from './child.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

interface TorchResult {
  encode_tokens_per_s: number;
  fwd_bwd_tokens_per_s: number;
  train_tokens_per_s: number;
  threads: number;
  blas: string;
  blas_threads: number | null;
  gemm_gflops_1024: number;
  loadavg_1m: [number, number];
  warning?: string;
  [k: string]: unknown;
}

interface Config {
  id: string;
  label: string;
  args: string[];
}

interface Outcome<T> {
  id: string;
  label: string;
  ok: boolean;
  error?: string;
  result?: T;
  wallS: number;
  loadavgBefore: number;
}

function runChild(cmd: string, args: string[], timeoutS: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr, timedOut });
    });
  });
}

function failure(r: { code: number | null; stderr: string; timedOut: boolean }, timeoutS: number): string {
  if (r.timedOut) return `timed out after ${timeoutS} s`;
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('['));
  return `exit ${r.code}: ${(lines.find((l) => /error|abort|memory/i.test(l)) ?? lines[0] ?? '').slice(0, 160)}`;
}

async function runOurs(c: Config, timeoutS: number): Promise<Outcome<ChildResult>> {
  const before = loadavg()[0];
  const t0 = performance.now();
  const r = await runChild(process.execPath, ['--import', 'tsx', join(HERE, 'child.ts'), ...c.args], timeoutS);
  const wallS = (performance.now() - t0) / 1000;
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (r.code === 0 && line) return { id: c.id, label: c.label, ok: true, result: JSON.parse(line.slice(13)) as ChildResult, wallS, loadavgBefore: before };
  return { id: c.id, label: c.label, ok: false, error: failure(r, timeoutS), wallS, loadavgBefore: before };
}

async function runTorch(threads: number, iters: number, warmup: number, timeoutS: number): Promise<Outcome<TorchResult>> {
  const before = loadavg()[0];
  const t0 = performance.now();
  // OpenBLAS keeps its own thread pool; pin it to the same count as torch's.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = await runChild('/usr/bin/python3', [join(HERE, 'torch_bench.py'), '--threads', String(threads), '--iters', String(iters), '--warmup', String(warmup)], timeoutS, env);
  const wallS = (performance.now() - t0) / 1000;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code === 0 && line.startsWith('{')) return { id: 'torch', label: `PyTorch CPU ×${threads}`, ok: true, result: JSON.parse(line) as TorchResult, wallS, loadavgBefore: before };
  return { id: 'torch', label: `PyTorch CPU ×${threads}`, ok: false, error: failure(r, timeoutS), wallS, loadavgBefore: before };
}

const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      threads: { type: 'string', default: '2' },
      'timeout-s': { type: 'string', default: '600' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, '.bench', 'latest.json') },
    },
  });
  const quick = values.quick!;
  const iters = Number(values.iters ?? process.env.BENCH_ITERS ?? (quick ? 1 : 3));
  // Two warm-ups: onnxruntime's second run of a new shape is still slow (memory pattern not yet planned).
  const warmup = Number(values.warmup ?? process.env.BENCH_WARMUP ?? 2);
  const threads = Number(values.threads);
  const timeoutS = Number(values['timeout-s']);
  const only = new Set((values.only ?? 'wasm1,wasm2,node,static,nodrop,torch,eval').split(','));
  const common = ['--warmup', String(warmup), '--iters', String(iters)];
  const started = new Date().toISOString();
  const loadAtStart = loadavg()[0];
  const t0 = performance.now();
  process.stderr.write(`bench: warm-up ${warmup}, ${iters} timed run(s) per figure, threads ${threads}, load average ${loadAtStart.toFixed(2)}\n`);

  const configs: Config[] = [];
  if (only.has('wasm1')) configs.push({ id: 'wasm1', label: 'onnxruntime-web WASM ×1', args: ['--runtime', 'wasm', '--threads', '1', '--graphs', 'encode,grad', ...common] });
  if (only.has('wasm2')) configs.push({ id: 'wasm2', label: `onnxruntime-web WASM ×${threads}`, args: ['--runtime', 'wasm', '--threads', String(threads), '--graphs', 'encode,grad', ...common] });
  if (only.has('node')) configs.push({ id: 'node', label: `onnxruntime-node ×${threads}`, args: ['--runtime', 'node', '--threads', String(threads), '--graphs', 'encode,grad', ...common] });
  if (only.has('static')) configs.push({ id: 'static', label: `onnxruntime-node ×${threads} static B,T`, args: ['--runtime', 'node', '--threads', String(threads), '--graphs', 'grad', '--shape', 'static', ...common] });
  if (only.has('nodrop')) configs.push({ id: 'nodrop', label: `onnxruntime-node ×${threads} no dropout`, args: ['--runtime', 'node', '--threads', String(threads), '--graphs', 'grad_nodrop', ...common] });

  const ours: Outcome<ChildResult>[] = [];
  for (const c of configs) {
    process.stderr.write(`bench: ${c.label}\n`);
    ours.push(await runOurs(c, timeoutS));
  }
  let torch: Outcome<TorchResult> | null = null;
  if (only.has('torch')) {
    process.stderr.write(`bench: PyTorch\n`);
    torch = await runTorch(threads, Math.max(1, iters), warmup, timeoutS);
  }
  let evalMs: number | null = null;
  let evalError: string | undefined;
  if (only.has('eval')) {
    process.stderr.write('bench: IR evaluator 1,000 × 10,000 × 768\n');
    try {
      const { benchmarkEval } = await import('../../src/lib/eval/bench.ts');
      evalMs = await benchmarkEval();
    } catch (e) {
      evalError = (e as Error).message;
    }
  }
  let profile: Outcome<ChildResult> | null = null;
  if (values.profile) {
    process.stderr.write('bench: onnxruntime-node profile\n');
    profile = await runOurs({
      id: 'profile', label: `onnxruntime-node ×${threads} profiled`,
      args: ['--runtime', 'node', '--threads', String(threads), '--graphs', 'grad_nodrop,grad', '--warmup', '2', '--iters', '1', '--profile', join(ROOT, '.bench', 'profile')],
    }, timeoutS);
  }

  // ---- report ----
  const tr = torch?.ok ? torch.result! : null;
  const lines: string[] = [];
  const say = (s = '') => lines.push(s);
  say(`tabtune bench — bge-small shape (12 × 384, 12 heads, FFN 1536, random weights), batch 32 × 128 tokens, full mask`);
  say(`${started}, warm-up ${warmup}, median of ${iters} run(s)${quick ? ' (--quick: single runs)' : ''}; 1-min load average at start ${loadAtStart.toFixed(2)} (2 cores)`);
  say();
  const head = [pad('backend', 34), lpad('session s', 10), lpad('encode tok/s', 13), lpad('ms/step', 9), lpad('×torch', 7), lpad('fwd+bwd tok/s', 14), lpad('ms/step', 9), lpad('×torch', 7), lpad('peak RSS MiB', 13), lpad('load', 6)];
  // load: 1-minute load average just before that process started (our previous process still counts in it).
  say(head.join(''));
  const ratio = (x: number | undefined, ref: number | undefined) => (x !== undefined && ref ? fmt(x / ref, 2) : '—');
  for (const o of ours) {
    if (!o.ok) {
      say(`${pad(o.label, 34)}FAILED (${o.error})`);
      continue;
    }
    const r = o.result!;
    const enc: GraphResult | undefined = r.graphs.find((g) => g.graph === 'encode');
    const grad: GraphResult | undefined = r.graphs.find((g) => g.graph === 'grad' || g.graph === 'grad_nodrop');
    const session = r.graphs.map((g) => `${fmt(g.sessionMs / 1000, 1)}`).join('+');
    say([
      pad(o.label, 34), lpad(session, 10),
      lpad(fmt(enc?.tokensPerS), 13), lpad(fmt(enc?.medianMs), 9), lpad(ratio(enc?.tokensPerS, tr?.encode_tokens_per_s), 7),
      lpad(fmt(grad?.tokensPerS), 14), lpad(fmt(grad?.medianMs), 9), lpad(ratio(grad?.tokensPerS, tr?.fwd_bwd_tokens_per_s), 7),
      lpad(fmt(r.maxRssMiB), 13), lpad(fmt(o.loadavgBefore, 1), 6),
    ].join(''));
  }
  if (torch) {
    if (tr) {
      say([
        pad(`PyTorch ${tr.torch as string} CPU ×${tr.threads}`, 34), lpad('—', 10),
        lpad(fmt(tr.encode_tokens_per_s), 13), lpad(fmt((tr.encode_s as number) * 1000), 9), lpad('1', 7),
        lpad(fmt(tr.fwd_bwd_tokens_per_s), 14), lpad(fmt((tr.fwd_bwd_s as number) * 1000), 9), lpad('1', 7),
        lpad('—', 13), lpad(fmt(torch.loadavgBefore, 1), 6),
      ].join(''));
      say(`  PyTorch: BLAS ${tr.blas} ×${tr.blas_threads ?? '?'}, 1024³ GEMM ${tr.gemm_gflops_1024} GFLOP/s; train step with AdamW ${fmt(tr.train_tokens_per_s)} tok/s`);
      if (tr.warning || tr.blas !== 'openblas') say(`  WARNING: ${tr.warning ?? `torch BLAS is ${tr.blas}, not OpenBLAS`}: the PyTorch figures are not a fair baseline`);
    } else say(`${pad('PyTorch', 34)}FAILED (${torch.error})`);
  }
  say('  fwd+bwd = encode_grad in train mode (dropout 0.1) with an upstream R [B,C]; "no dropout" = the same graph in eval mode. session s: InferenceSession.create per graph.');
  if (loadAtStart > 0.5) say(`  WARNING: 1-minute load average ${loadAtStart.toFixed(2)} before the bench started: other processes were using the CPU, so every figure is low and noisy (the ratios less so only if the load stayed steady).`);
  const stat = ours.find((o) => o.id === 'static' && o.ok)?.result?.graphs[0];
  const dyn = ours.find((o) => o.id === 'node' && o.ok)?.result?.graphs.find((g) => g.graph === 'grad');
  if (stat && dyn) say(`  dynamic vs static shapes (onnxruntime-node fwd+bwd): dynamic ${fmt(dyn.medianMs)} ms, static ${fmt(stat.medianMs)} ms → static/dynamic time ${fmt(stat.medianMs / dyn.medianMs, 2)}`);
  if (only.has('eval')) say(`eval: IR evaluator, 1,000 queries × 10,000 documents, D 768, dims 768/512/256/128/64, JS scores: ${evalMs === null ? `FAILED (${evalError})` : `${fmt(evalMs)} ms`}`);
  const goals: string[] = [];
  const nodeGrad = dyn?.tokensPerS;
  if (tr && nodeGrad !== undefined) goals.push(`node fwd+bwd ${fmt(nodeGrad / tr.fwd_bwd_tokens_per_s, 2)}× PyTorch (goal ≥ 0.8)`);
  for (const id of ['wasm1', 'wasm2']) {
    const g = ours.find((o) => o.id === id && o.ok)?.result?.graphs.find((x) => x.graph === 'grad');
    if (tr && g) goals.push(`${id} fwd+bwd ${fmt(g.tokensPerS / tr.fwd_bwd_tokens_per_s, 2)}× (goal ≥ 0.25)`);
  }
  if (goals.length) say(`goals: ${goals.join('; ')}`);
  if (profile) {
    if (!profile.ok) say(`profile: FAILED (${profile.error})`);
    for (const g of profile.result?.graphs ?? []) {
      const p = g.profile;
      if (!p) continue;
      say();
      say(`profile ${g.graph} (onnxruntime-node ×${threads}, 1 run after 2 warm-ups): model_run ${fmt(p.runMs)} ms, kernels ${fmt(p.kernelMs)} ms, ${p.providers.join(', ')}; trace ${p.traceFile}`);
      say(`  top op types: ${p.byOpType.slice(0, 12).map((t) => `${t.opType} ${fmt(t.ms)} ms (${fmt(100 * t.share, 1)}%, ${fmt(t.calls)}×)`).join(', ')}`);
      say(`  top nodes: ${p.topNodes.slice(0, 6).map((n) => `${n.node} [${n.opType}] ${fmt(n.ms)} ms`).join(', ')}`);
    }
  }
  say();
  say(`total ${fmt((performance.now() - t0) / 1000)} s`);
  process.stdout.write(`${lines.join('\n')}\n`);

  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify({ started, quick, iters, warmup, threads, ours, torch, eval: { ms: evalMs, error: evalError }, profile, table: lines }, null, 2)}\n`);
  process.stderr.write(`bench: wrote ${values.out}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

// `npm run bench`: tokens/s of the bge-small-shaped encoder (random weights, batch 32 × 128 tokens,
// full mask) for `encode` and forward+backward (`encode_grad`, train mode) on onnxruntime-web WASM
// (1 and 2 threads) and onnxruntime-node (2 threads, dynamic and static shapes), PyTorch's figures
// for the same model on this machine at the same moment (tests/bench/torch_bench.py), the ratio
// ours ÷ PyTorch; full MNRL training steps (32 anchors + 32 positives × 128 tokens, AdamW) fused
// and GradCache on WASM ×N and onnxruntime-node ×N beside PyTorch's same step (train-child.ts);
// and the IR evaluator's time at 1,000 × 10,000 × 768 with JS scores and with the engine's scores
// on WASM and onnxruntime-node (eval-child.ts). Prints tables and writes .bench/latest.json. Every
// configuration runs in its own child process, one at a time; one that fails (a fused step out of
// WASM's 4 GB, a timeout) is a row saying so, not the end of the bench.
// Not a test: it asserts nothing and is not part of `npm test`.
//
// Flags: `npm run bench -- --help` (USAGE below).

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './bench-args.ts';
import type { ChildResult, GraphResult } from './child.ts';
import type { EvalChildResult } from './eval-child.ts';
import type { TrainChildResult } from './train-child.ts';
import { type EmbedSpeedResult, embedSpeedTable } from './embed-speed.ts';
import { BENCH_TRAINABLE, type BenchTrainable } from './train-step-bench.ts';

const USAGE = `Usage: npm run bench -- [options]

Flags (or env BENCH_ITERS / BENCH_WARMUP / BENCH_QUICK=1):
  --quick            1 timed run after the warm-ups (instead of the median of 3)
  --iters N          timed runs per figure (default 3, 1 with --quick); --warmup N (default 2;
                     the evaluator warms up once whatever N is)
  --only LIST        subset of wasm1,wasm2,node,static,nodrop,torch, train-wasm,train-wasm-gc,
                     train-node,train-node-gc (or train: all four), eval-js,eval-wasm,eval-node
                     (or eval: all three), modes-small-node,modes-small-wasm,modes-base-node,
                     modes-base-wasm (or modes: all four; each full vs freeze-half vs lora-16,
                     fused), embed (default: all but modes)
  --mini M           GradCache mini-batch of the train-*-gc rows (default 8)
  --threads N        threads for onnxruntime-node, WASM ×2 and PyTorch (default 2)
  --timeout-s S      per child process (default 600); a configuration past it is reported as such
  --train-timeout-s S  the same for a train-step process (default 1800: warm-ups + timed steps
                     of ~1 min each on 2 cores, several when the machine is shared)
  --profile          also run onnxruntime-node with its profiler on and print the top ops
  --out FILE         JSON output (default .bench/latest.json)
  --webgpu           instead: the train-step and encode tables on the machine's WebGPU adapter in
                     headless Chromium (webgpu-bench.ts, its own flags)
  --dawn             instead: the same tables in Node on Dawn's WebGPU (dawn-bench.ts, its own
                     flags): the route to a GPU machine without a browser`;

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

interface TorchResult {
  /** The --parts base fields; absent when only the MNRL step ran. */
  encode_tokens_per_s?: number;
  fwd_bwd_tokens_per_s?: number;
  train_tokens_per_s?: number;
  /** The --parts mnrl fields. */
  mnrl_step_s?: number;
  mnrl_steps_per_s?: number;
  mnrl_tokens_per_s?: number;
  max_rss_mib?: number;
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

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runChild(cmd: string, args: string[], timeoutS: number, env: NodeJS.ProcessEnv = process.env): Promise<ChildRun> {
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
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, timedOut });
    });
  });
}

// What onnxruntime-web / V8 / onnxruntime print when an allocation fails.
const OOM = /out of memory|bad_alloc|cannot enlarge memory|\bOOM\b|failed to allocate|allocation failed|WebAssembly\.Memory|Maximum call stack/i;

function failure(r: ChildRun, timeoutS: number): string {
  if (r.timedOut) return `timed out after ${timeoutS} s`;
  if (r.signal) return `killed by ${r.signal}${r.signal === 'SIGKILL' ? ' (the system\'s OOM killer?)' : ''}`;
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('['));
  const oom = lines.find((l) => OOM.test(l));
  if (oom) return `OUT OF MEMORY: ${oom.trim().slice(0, 140)}`;
  return `exit ${r.code}: ${(lines.find((l) => /error|abort|memory/i.test(l)) ?? lines[0] ?? '').slice(0, 160)}`;
}

/** Runs `script` (a file beside this one) under tsx and parses its `MARKER {json}` stdout line. */
async function runTs<T>(script: string, marker: string, c: Config, timeoutS: number): Promise<Outcome<T>> {
  const before = loadavg()[0];
  const t0 = performance.now();
  const r = await runChild(process.execPath, ['--import', 'tsx', join(HERE, script), ...c.args], timeoutS);
  const wallS = (performance.now() - t0) / 1000;
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${marker} `));
  if (r.code === 0 && line) return { id: c.id, label: c.label, ok: true, result: JSON.parse(line.slice(marker.length + 1)) as T, wallS, loadavgBefore: before };
  return { id: c.id, label: c.label, ok: false, error: failure(r, timeoutS), wallS, loadavgBefore: before };
}

const runOurs = (c: Config, timeoutS: number) => runTs<ChildResult>('child.ts', 'BENCH_RESULT', c, timeoutS);

async function runTorch(threads: number, iters: number, warmup: number, parts: string[], timeoutS: number): Promise<Outcome<TorchResult>> {
  const before = loadavg()[0];
  const t0 = performance.now();
  // OpenBLAS keeps its own thread pool; pin it to the same count as torch's.
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = await runChild('/usr/bin/python3', [join(HERE, 'torch_bench.py'), '--threads', String(threads), '--iters', String(iters), '--warmup', String(warmup), '--parts', parts.join(',')], timeoutS, env);
  const wallS = (performance.now() - t0) / 1000;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code === 0 && line.startsWith('{')) return { id: 'torch', label: `PyTorch CPU ×${threads}`, ok: true, result: JSON.parse(line) as TorchResult, wallS, loadavgBefore: before };
  return { id: 'torch', label: `PyTorch CPU ×${threads}`, ok: false, error: failure(r, timeoutS), wallS, loadavgBefore: before };
}

const fmt = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

async function main(): Promise<void> {
  // The GPU tables are their own script: Chromium on the machine's WebGPU adapter, not child processes.
  if (process.argv.includes('--dawn')) return (await import('./dawn-bench.ts')).main(process.argv.slice(2).filter((a) => a !== '--dawn'));
  if (process.argv.includes('--webgpu')) return (await import('./webgpu-bench.ts')).main(process.argv.slice(2).filter((a) => a !== '--webgpu'));
  const { values } = benchArgs(USAGE, {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      threads: { type: 'string', default: '2' },
      'timeout-s': { type: 'string', default: '600' },
      'train-timeout-s': { type: 'string', default: '1800' },
      mini: { type: 'string', default: '8' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, '.bench', 'latest.json') },
  });
  const quick = values.quick!;
  const iters = Number(values.iters ?? process.env.BENCH_ITERS ?? (quick ? 1 : 3));
  // Two warm-ups: onnxruntime's first runs of a new shape are slower than the rest.
  const warmup = Number(values.warmup ?? process.env.BENCH_WARMUP ?? 2);
  const threads = Number(values.threads);
  const timeoutS = Number(values['timeout-s']);
  const aliases: Record<string, string[]> = {
    train: ['train-wasm', 'train-wasm-gc', 'train-node', 'train-node-gc'],
    eval: ['eval-js', 'eval-wasm', 'eval-node'],
    modes: ['modes-small-node', 'modes-small-wasm', 'modes-base-node', 'modes-base-wasm'],
  };
  // The trainable-mode rows (12 train-step processes, bge-base among them) run when asked for.
  const only = new Set((values.only ?? 'wasm1,wasm2,node,static,nodrop,torch,train,eval,embed').split(',').flatMap((x) => aliases[x] ?? [x]));
  const known = ['wasm1', 'wasm2', 'node', 'static', 'nodrop', 'torch', ...aliases.train, ...aliases.eval, ...aliases.modes, 'embed'];
  const unknown = [...only].filter((x) => !known.includes(x));
  if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')} (known: ${known.join(', ')}, train, eval, modes)`);
  const mini = Number(values.mini);
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

  const trainConfigs: Config[] = [];
  const trainCommon = ['--threads', String(threads), '--warmup', String(warmup), '--repeats', String(iters)];
  for (const [kind, name] of [['wasm', `onnxruntime-web WASM ×${threads}`], ['node', `onnxruntime-node ×${threads}`]] as const) {
    if (only.has(`train-${kind}`)) trainConfigs.push({ id: `train-${kind}`, label: `${name} fused`, args: ['--runtime', kind, '--path', 'fused', ...trainCommon] });
    if (only.has(`train-${kind}-gc`)) trainConfigs.push({ id: `train-${kind}-gc`, label: `${name} GradCache mini ${mini}`, args: ['--runtime', kind, '--path', 'gradcache', '--mini', String(mini), ...trainCommon] });
  }
  const train: Outcome<TrainChildResult>[] = [];
  for (const c of trainConfigs) {
    process.stderr.write(`bench: train step, ${c.label}\n`);
    train.push(await runTs<TrainChildResult>('train-child.ts', 'BENCH_TRAIN', c, Number(values['train-timeout-s'])));
  }

  // Same batch as the train rows; fused (the path the page picks when it fits).
  const modeConfigs: Config[] = [];
  for (const model of ['small', 'base'] as const) {
    for (const kind of ['node', 'wasm'] as const) {
      if (!only.has(`modes-${model}-${kind}`)) continue;
      for (const t of Object.keys(BENCH_TRAINABLE) as BenchTrainable[]) {
        modeConfigs.push({ id: `modes-${model}-${kind}-${t}`, label: `bge-${model} ${kind === 'node' ? 'onnxruntime-node' : 'WASM'} ×${threads} ${t}`, args: ['--runtime', kind, '--path', 'fused', '--model', model, '--trainable', t, ...trainCommon] });
      }
    }
  }
  const modes: Outcome<TrainChildResult>[] = [];
  for (const c of modeConfigs) {
    process.stderr.write(`bench: train step, ${c.label}\n`);
    modes.push(await runTs<TrainChildResult>('train-child.ts', 'BENCH_TRAIN', c, Number(values['train-timeout-s'])));
  }

  let embed: Outcome<EmbedSpeedResult> | null = null;
  if (only.has('embed')) {
    process.stderr.write('bench: encoding, tabtune embed vs transformers.js\n');
    embed = await runTs<EmbedSpeedResult>('embed-speed.ts', 'BENCH_EMBED', { id: 'embed', label: 'encoding', args: ['--repeats', String(Math.max(iters, 1))] }, Number(values['train-timeout-s']));
  }

  let torch: Outcome<TorchResult> | null = null;
  // base: encode and fwd+bwd beside the graph rows; mnrl: the MNRL step beside the train rows.
  const torchParts = [...(configs.length || !trainConfigs.length ? ['base'] : []), ...(trainConfigs.length ? ['mnrl'] : [])];
  if (only.has('torch')) {
    process.stderr.write(`bench: PyTorch (${torchParts.join(', ')})\n`);
    torch = await runTorch(threads, Math.max(1, iters), warmup, torchParts, timeoutS);
  }

  const evalConfigs: Config[] = [];
  // One warm-up whatever --warmup says: it creates the engine's session (a JS run is 10 s).
  const evalCommon = ['--warmup', '1', '--iters', String(iters)];
  if (only.has('eval-js')) evalConfigs.push({ id: 'eval-js', label: 'JS scores (JsScoreBackend)', args: ['--backend', 'js', ...evalCommon] });
  if (only.has('eval-wasm')) evalConfigs.push({ id: 'eval-wasm', label: `engine, onnxruntime-web WASM ×${threads}`, args: ['--backend', 'wasm', '--threads', String(threads), ...evalCommon] });
  if (only.has('eval-node')) evalConfigs.push({ id: 'eval-node', label: `engine, onnxruntime-node ×${threads}`, args: ['--backend', 'node', '--threads', String(threads), ...evalCommon] });
  const evals: Outcome<EvalChildResult>[] = [];
  for (const c of evalConfigs) {
    process.stderr.write(`bench: IR evaluator 1,000 × 10,000 × 768, ${c.label}\n`);
    evals.push(await runTs<EvalChildResult>('eval-child.ts', 'BENCH_EVAL', c, timeoutS));
  }
  const evalJs = evals.find((o) => o.id === 'eval-js');
  const evalMs = evalJs?.ok ? evalJs.result!.medianMs : null;
  const evalError = evalJs && !evalJs.ok ? evalJs.error : undefined;
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
  const ratio = (x: number | undefined, ref: number | undefined) => (x !== undefined && ref ? fmt(x / ref, 2) : '—');
  if (ours.length || (torch && torchParts.includes('base'))) {
    say();
    const head = [pad('backend', 34), lpad('session s', 10), lpad('encode tok/s', 13), lpad('ms/step', 9), lpad('×torch', 7), lpad('fwd+bwd tok/s', 14), lpad('ms/step', 9), lpad('×torch', 7), lpad('peak RSS MiB', 13), lpad('load', 6)];
    // load: 1-minute load average just before that process started (our previous process still counts in it).
    say(head.join(''));
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
      if (tr?.encode_tokens_per_s !== undefined) {
        say([
          pad(`PyTorch ${tr.torch as string} CPU ×${tr.threads}`, 34), lpad('—', 10),
          lpad(fmt(tr.encode_tokens_per_s), 13), lpad(fmt((tr.encode_s as number) * 1000), 9), lpad('1', 7),
          lpad(fmt(tr.fwd_bwd_tokens_per_s), 14), lpad(fmt((tr.fwd_bwd_s as number) * 1000), 9), lpad('1', 7),
          lpad('—', 13), lpad(fmt(torch.loadavgBefore, 1), 6),
        ].join(''));
        say(`  PyTorch: BLAS ${tr.blas} ×${tr.blas_threads ?? '?'}, 1024³ GEMM ${tr.gemm_gflops_1024} GFLOP/s; train step with AdamW ${fmt(tr.train_tokens_per_s)} tok/s`);
        if (tr.warning || tr.blas !== 'openblas') say(`  WARNING: ${tr.warning ?? `torch BLAS is ${tr.blas}, not OpenBLAS`}: the PyTorch figures are not a fair baseline`);
      } else say(`${pad('PyTorch', 34)}FAILED (${torch.error ?? 'no encode/fwd+bwd figures'})`);
    }
    say('  fwd+bwd = encode_grad in train mode (dropout 0.1) with an upstream R [B,C]; "no dropout" = the same graph in eval mode. session s: InferenceSession.create per graph.');
  }
  if (trainConfigs.length) {
    say();
    say(`train step: MNRL on 32 anchors + 32 positives × 128 tokens (64 sequences), dropout 0.1, clip 1.0, AdamW, weights uploaded; warm-up ${Math.max(1, warmup)} step(s), mean of ${iters}`);
    const th = [pad('backend', 44), lpad('steps/s', 9), lpad('tok/s', 8), lpad('ms/step', 9), lpad('×torch', 7), lpad('warm-up s', 10), lpad('peak RSS MiB', 13), lpad('account MiB', 12), lpad('Δ', 6), lpad('load', 6)];
    say(th.join(''));
    for (const o of train) {
      if (!o.ok) {
        say(`${pad(o.label, 44)}FAILED (${o.error})`);
        continue;
      }
      const r = o.result!;
      const ms = 1000 / r.stepsPerS;
      say([
        pad(o.label, 44), lpad(fmt(r.stepsPerS, 4), 9), lpad(fmt(r.tokensPerS), 8), lpad(fmt(ms), 9), lpad(ratio(r.stepsPerS, tr?.mnrl_steps_per_s), 7),
        lpad(fmt(r.warmupS, 1), 10), lpad(fmt(r.maxRssMiB), 13), lpad(fmt(r.accountHostPeak / 2 ** 20), 12),
        lpad(`${r.accountHostPeak / 2 ** 20 >= r.maxRssMiB ? '+' : ''}${fmt((100 * (r.accountHostPeak / 2 ** 20 - r.maxRssMiB)) / r.maxRssMiB, 0)}%`, 6), lpad(fmt(o.loadavgBefore, 1), 6),
      ].join(''));
    }
    if (torch) {
      if (tr?.mnrl_steps_per_s !== undefined) {
        say([
          pad(`PyTorch ${tr.torch as string} CPU ×${tr.threads} (2 forwards of 32)`, 44), lpad(fmt(tr.mnrl_steps_per_s, 4), 9), lpad(fmt(tr.mnrl_tokens_per_s), 8),
          lpad(fmt((tr.mnrl_step_s ?? NaN) * 1000), 9), lpad('1', 7), lpad('—', 10), lpad(fmt(tr.max_rss_mib), 13), lpad(fmt(torch.loadavgBefore, 1), 6),
        ].join(''));
      } else say(`${pad('PyTorch', 44)}FAILED (${torch.error ?? 'no MNRL figures'})`);
    }
    say('  tok/s = 2·32·128 tokens ÷ s per step; ×torch = steps/s ÷ PyTorch\'s; ms/step = 1000 ÷ steps/s (the mean). PyTorch\'s peak RSS is its whole process\'s (its encode and fwd+bwd too when they ran).');
    say('  account = the memory account\'s predicted peak for the configuration (src/lib/train/memory.ts); Δ = (account − peak RSS) ÷ peak RSS.');
  }
  if (modes.length) {
    say();
    say(`trainable modes: the train step above (MNRL, 32 + 32 × 128 tokens, fused, dropout 0.1, AdamW) with full fine-tuning, the embeddings and lowest half of the layers frozen (freeze-half: 6 of 12), and LoRA r 16 α 32, dropout 0, on every linear layer (lora-16); warm-up ${Math.max(1, warmup)}, mean of ${iters}`);
    say([pad('configuration', 44), lpad('tok/s', 8), lpad('×full', 7), lpad('ms/step', 9), lpad('peak RSS MiB', 13), lpad('×full', 7), lpad('account MiB', 12), lpad('load', 6)].join(''));
    for (const o of modes) {
      if (!o.ok) {
        say(`${pad(o.label, 44)}FAILED (${o.error})`);
        continue;
      }
      const r = o.result!;
      const full = modes.find((m) => m.ok && m.result!.model === r.model && m.result!.runtime === r.runtime && m.result!.trainable === 'full')?.result;
      say([
        pad(o.label, 44), lpad(fmt(r.tokensPerS), 8), lpad(ratio(r.tokensPerS, full?.tokensPerS), 7), lpad(fmt(1000 / r.stepsPerS), 9),
        lpad(fmt(r.maxRssMiB), 13), lpad(ratio(r.maxRssMiB, full?.maxRssMiB), 7), lpad(fmt(r.accountHostPeak / 2 ** 20), 12), lpad(fmt(o.loadavgBefore, 1), 6),
      ].join(''));
    }
    say('  goals: freeze-half tok/s ≥ 1.4 × full\'s; lora-16 peak RSS ≤ 0.6 × full\'s (same model and runtime).');
  }
  if (embed) {
    say();
    if (embed.ok) for (const l of embedSpeedTable(embed.result!)) say(l);
    else say(`encoding: FAILED (${embed.error})`);
  }
  if (evals.length) {
    say();
    say(`eval: IR evaluator, 1,000 queries × 10,000 documents, D 768, dims 768/512/256/128/64, all metrics, embeddings given; 1 warm-up, median of ${iters}`);
    say([pad('scores', 44), lpad('ms', 9), lpad('×JS time', 9), lpad('peak RSS MiB', 13), lpad('load', 6)].join(''));
    for (const o of evals) {
      if (!o.ok) {
        say(`${pad(o.label, 44)}FAILED (${o.error})`);
        continue;
      }
      const r = o.result!;
      say([pad(o.label, 44), lpad(fmt(r.medianMs), 9), lpad(evalMs ? fmt(r.medianMs / evalMs, 2) : '—', 9), lpad(fmt(r.maxRssMiB), 13), lpad(fmt(o.loadavgBefore, 1), 6)].join(''));
    }
    say('  ×JS time = ms ÷ the JS backend\'s ms (below 1: faster than JS).');
  }
  if (loadAtStart > 0.5) say(`  WARNING: 1-minute load average ${loadAtStart.toFixed(2)} before the bench started: other processes were using the CPU, so every figure is low and noisy (the ratios less so only if the load stayed steady).`);
  const stat = ours.find((o) => o.id === 'static' && o.ok)?.result?.graphs[0];
  const dyn = ours.find((o) => o.id === 'node' && o.ok)?.result?.graphs.find((g) => g.graph === 'grad');
  if (stat && dyn) say(`  dynamic vs static shapes (onnxruntime-node fwd+bwd): dynamic ${fmt(dyn.medianMs)} ms, static ${fmt(stat.medianMs)} ms → static/dynamic time ${fmt(stat.medianMs / dyn.medianMs, 2)}`);
  const goals: string[] = [];
  const nodeGrad = dyn?.tokensPerS;
  if (tr?.fwd_bwd_tokens_per_s && nodeGrad !== undefined) goals.push(`node fwd+bwd ${fmt(nodeGrad / tr.fwd_bwd_tokens_per_s, 2)}× PyTorch (goal ≥ 0.8)`);
  for (const id of ['wasm1', 'wasm2']) {
    const g = ours.find((o) => o.id === id && o.ok)?.result?.graphs.find((x) => x.graph === 'grad');
    if (tr?.fwd_bwd_tokens_per_s && g) goals.push(`${id} fwd+bwd ${fmt(g.tokensPerS / tr.fwd_bwd_tokens_per_s, 2)}× (goal ≥ 0.25)`);
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
  writeFileSync(values.out!, `${JSON.stringify({ started, quick, iters, warmup, threads, mini, ours, torch, train, modes, embed, evals, eval: { ms: evalMs, error: evalError }, profile, table: lines }, null, 2)}\n`);
  process.stderr.write(`bench: wrote ${values.out}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

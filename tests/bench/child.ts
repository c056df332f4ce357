// One benchmark configuration in its own process, started by run.ts: one runtime (onnxruntime-web
// WASM with N threads, or onnxruntime-node), the bge-small-shaped `encode` and/or `encode_grad`
// graphs, session-creation time, warm-up runs, then timed runs; prints one line
// `BENCH_RESULT {json}` to stdout. Its own process because onnxruntime-web reads
// env.wasm.numThreads once, when its WASM module starts, and so that the peak RSS is this
// configuration's alone.
// Not the table or the PyTorch side (run.ts), and it checks no numbers.
//
// Usage: tsx tests/bench/child.ts --runtime wasm|node --threads N --graphs encode,grad
//        [--shape dynamic|static] [--warmup W] [--iters I] [--batch B] [--seq T] [--profile DIR]
// --shape static creates the session with every symbolic axis pinned (freeDimensionOverrides),
// onnxruntime-node only. --profile (onnxruntime-node only) writes onnxruntime's trace into DIR
// and adds its per-op summary to the result.

import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { NODE_SESSION_OPTIONS, createRuntime, type HostTensor, type Runtime, type RuntimeKind } from '../../src/lib/runtime/index.ts';
import { buildBenchGraphs, type BenchGraph, type BenchGraphName } from './model.ts';
import { median, summarizeTrace, type TraceEvent, type TraceSummary } from './profile-trace.ts';
import { benchArgs } from './bench-args.ts';

export interface GraphResult {
  graph: BenchGraphName;
  /** InferenceSession.create, ms. */
  sessionMs: number;
  warmupMs: number[];
  runMs: number[];
  medianMs: number;
  /** Process CPU time ÷ wall time over the timed runs (2 ≈ two busy threads). */
  cpuPerWall: number;
  tokensPerS: number;
  onnxBytes: number;
  nodes: number;
  profile?: TraceSummary & { traceFile: string };
}

export interface ChildResult {
  runtime: RuntimeKind;
  backend: string;
  version: string;
  threads: number;
  shape: 'dynamic' | 'static';
  batch: number;
  seq: number;
  buildMs: number;
  graphs: GraphResult[];
  /** process.resourceUsage().maxRSS, MiB: this process's peak resident memory. */
  maxRssMiB: number;
}

interface SessionLike {
  run(feeds: Record<string, HostTensor>, outputs?: string[]): Promise<unknown>;
  release(): Promise<void>;
  endProfiling?(): void;
}

type OrtNode = typeof import('onnxruntime-node');

/**
 * onnxruntime-node directly, with the options the product's 'node' runtime uses plus the two it
 * does not expose (freeDimensionOverrides, enableProfiling).
 */
async function loadNodeDirect(ort: OrtNode, g: BenchGraph, threads: number, opts: { static: boolean; profilePrefix?: string }): Promise<SessionLike> {
  const session = await ort.InferenceSession.create(g.bytes, {
    executionProviders: ['cpu'],
    ...NODE_SESSION_OPTIONS,
    intraOpNumThreads: threads,
    graphOptimizationLevel: 'all',
    ...(opts.static ? { freeDimensionOverrides: g.dims } : {}),
    ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
  });
  return {
    async run(feeds, outputs) {
      const f: Record<string, InstanceType<OrtNode['Tensor']>> = {};
      for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor(v.dtype, v.data as Float32Array, v.dims);
      return session.run(f, outputs ?? [...session.outputNames]);
    },
    release: () => session.release(),
    endProfiling: () => session.endProfiling(),
  };
}

async function main(): Promise<void> {
  const { values } = benchArgs('Usage: tsx tests/bench/child.ts [options]\n\nOne configuration of `npm run bench` (started by run.ts): the bge-small-shaped encode and/or encode_grad\ngraphs on one runtime (--runtime wasm|node), --graphs from encode,grad,grad_nodrop, --shape dynamic|static;\nprints one BENCH_RESULT {json} line.', {
      runtime: { type: 'string', default: 'node' },
      threads: { type: 'string', default: '2' },
      graphs: { type: 'string', default: 'encode,grad' },
      shape: { type: 'string', default: 'dynamic' },
      warmup: { type: 'string', default: '1' },
      iters: { type: 'string', default: '3' },
      batch: { type: 'string', default: '32' },
      seq: { type: 'string', default: '128' },
      profile: { type: 'string' },
  });
  const kind = values.runtime as RuntimeKind;
  const threads = Number(values.threads);
  const B = Number(values.batch);
  const T = Number(values.seq);
  const warmup = Number(values.warmup);
  const iters = Number(values.iters);
  const shape = values.shape === 'static' ? 'static' : 'dynamic';
  const which = values.graphs!.split(',') as BenchGraphName[];
  const direct = kind === 'node' && (shape === 'static' || values.profile !== undefined);
  if (!direct && (shape === 'static' || values.profile)) throw new Error('--shape static and --profile need --runtime node');
  const log = (msg: string) => process.stderr.write(`[${kind}×${threads}${shape === 'static' ? ' static' : ''}] ${msg}\n`);

  const t0 = performance.now();
  const graphs = buildBenchGraphs(which, B, T);
  const buildMs = performance.now() - t0;
  log(`built ${graphs.map((g) => `${g.name} (${g.nodes} nodes, ${(g.bytes.length / 1e6).toFixed(1)} MB)`).join(', ')} in ${buildMs.toFixed(0)} ms`);

  const runtime: Runtime | null = direct ? null : await createRuntime(kind, { threads });
  const ort: OrtNode | null = direct ? await import('onnxruntime-node') : null;
  const desc = runtime?.describe() ?? { kind, backend: 'onnxruntime-node, CPU EP (direct)', threads, version: ort!.env.versions.node ?? '' };

  const results: GraphResult[] = [];
  for (const g of graphs) {
    const s0 = performance.now();
    const profilePrefix = values.profile ? join(values.profile, `ort-${g.name}-${shape}`) : undefined;
    if (values.profile) mkdirSync(values.profile, { recursive: true });
    const session: SessionLike = ort
      ? await loadNodeDirect(ort, g, threads, { static: shape === 'static', profilePrefix })
      : await runtime!.load(g.bytes);
    const sessionMs = performance.now() - s0;
    log(`${g.name}: session ${sessionMs.toFixed(0)} ms`);
    const once = async () => {
      const r0 = performance.now();
      await session.run(g.feeds, g.outputs);
      return performance.now() - r0;
    };
    const warmupMs: number[] = [];
    for (let i = 0; i < warmup; i++) {
      warmupMs.push(await once());
      log(`${g.name}: warm-up ${i + 1}/${warmup} ${warmupMs[i].toFixed(0)} ms`);
    }
    const runMs: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < iters; i++) {
      runMs.push(await once());
      log(`${g.name}: run ${i + 1}/${iters} ${runMs[i].toFixed(0)} ms`);
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuPerWall = (cpu.user + cpu.system) / 1000 / runMs.reduce((a, b) => a + b, 0);
    const med = median(runMs);
    const result: GraphResult = {
      graph: g.name, sessionMs, warmupMs, runMs, medianMs: med, cpuPerWall, tokensPerS: (B * T) / (med / 1000),
      onnxBytes: g.bytes.length, nodes: g.nodes,
    };
    if (profilePrefix && session.endProfiling) {
      // onnxruntime-node's endProfiling returns nothing; the file is `<prefix>_<timestamp>.json`.
      session.endProfiling();
      const base = basename(profilePrefix);
      const found = readdirSync(values.profile!).filter((f) => f.startsWith(`${base}_`) && f.endsWith('.json')).sort();
      if (found.length) {
        const file = join(values.profile!, found[found.length - 1]);
        const events = JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
        // Warm-up runs are in the trace too; the summary covers the timed runs only.
        const stable = join(values.profile!, `ort-${g.name}-${shape}.json`);
        renameSync(file, stable);
        result.profile = { ...summarizeTrace(events, 15, warmup), traceFile: stable };
      }
    }
    await session.release();
    results.push(result);
  }

  const out: ChildResult = {
    runtime: kind, backend: desc.backend, version: desc.version, threads: desc.threads || threads, shape, batch: B, seq: T,
    buildMs, graphs: results, maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

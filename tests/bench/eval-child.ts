// The evaluator line of `npm run bench` in its own process, started by run.ts: the Matryoshka IR
// evaluator on given random embeddings (tests/bench/eval-bench.ts: 1,000 queries × 10,000 documents,
// D 768, dims 768/512/256/128/64, cosine, all metrics) with its scores from the JS backend or from
// EngineScoreBackend on one runtime; prints `BENCH_EVAL {json}` to stdout. Its own process so that
// the WASM thread count can differ per configuration and the peak RSS is this one's alone.
// Not the metrics' correctness (src/lib/eval/*.test.ts).
//
// Usage: tsx tests/bench/eval-child.ts --backend js|wasm|node [--threads N] [--warmup W] [--iters I]
// Warm-up runs create the engine's session; the timed runs reuse it.

import { benchmarkEval } from './eval-bench.ts';
import { EngineScoreBackend } from '../../src/lib/eval/engine-scores.ts';
import { createRuntime, type RuntimeKind } from '../../src/lib/runtime/index.ts';
import { median } from './profile-trace.ts';
import { benchArgs } from './bench-args.ts';

export interface EvalChildResult {
  backend: 'js' | RuntimeKind;
  /** ScoreBackend.name, e.g. "engine (onnxruntime-web, wasm)". */
  scoreBackend: string;
  threads: number;
  warmupMs: number[];
  runMs: number[];
  medianMs: number;
  maxRssMiB: number;
}

async function main(): Promise<void> {
  const { values } = benchArgs('Usage: tsx tests/bench/eval-child.ts [options]\n\nThe IR evaluator line of `npm run bench` (started by run.ts): 1,000 queries × 10,000 documents × 768 with\nscores from --backend js|wasm|node; prints one BENCH_EVAL {json} line.', {
      backend: { type: 'string', default: 'js' },
      threads: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      iters: { type: 'string', default: '1' },
  });
  const kind = values.backend as 'js' | RuntimeKind;
  const threads = Number(values.threads);
  const backend = kind === 'js' ? undefined : new EngineScoreBackend(await createRuntime(kind, { threads }));
  const log = (m: string) => process.stderr.write(`[eval ${kind}${backend ? `×${threads}` : ''}] ${m}\n`);
  const warmupMs: number[] = [];
  const runMs: number[] = [];
  for (let i = 0; i < Number(values.warmup); i++) {
    warmupMs.push(await benchmarkEval({ backend }));
    log(`warm-up ${i + 1}: ${warmupMs[i].toFixed(0)} ms`);
  }
  for (let i = 0; i < Math.max(1, Number(values.iters)); i++) {
    runMs.push(await benchmarkEval({ backend }));
    log(`run ${i + 1}: ${runMs[i].toFixed(0)} ms`);
  }
  await backend?.dispose();
  const out: EvalChildResult = {
    backend: kind, scoreBackend: backend?.name ?? 'js', threads: backend ? threads : 1, warmupMs, runMs, medianMs: median(runMs),
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`BENCH_EVAL ${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

// The engine worker's compute runtime: created once, WebGPU when the probe found an adapter, else
// WASM with the probed thread count; a WebGPU runtime that fails to start or to run the self-test
// graph is replaced by WASM, and the report says so and why. selfTest() runs one tiny graph so the
// page can show which backend actually ran. Not the trainer: later stages take `engineRuntime()`.

import { Graph } from '../src/lib/graph/graph.ts';
import { toOnnx } from '../src/lib/graph/onnx.ts';
import { add, mul } from '../src/lib/ops/elementwise.ts';
import { matmul } from '../src/lib/ops/matmul.ts';
import { createRuntime, type HostTensor, type Runtime } from '../src/lib/runtime/index.ts';
import type { SelfTestReport } from './api.ts';
import { probeBackend, probeEnvFromGlobals } from './backend-probe.ts';

let current: Promise<Started> | null = null;
/** Set by limitThreads() before the runtime starts: WASM on this many threads, whatever the probe found. */
let threadLimit: number | null = null;

/**
 * Makes the runtime, when it starts, WASM on `threads` threads. The page asks for one thread when
 * it retries work that stopped making progress: a single-threaded onnxruntime starts no WASM
 * threads (no workers, no Atomics.wait), the least that can hang. Refused once the runtime runs.
 */
export function limitThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`limitThreads: ${threads} is not a thread count`);
  if (current) throw new Error('limitThreads: the runtime has started; the page starts a new engine worker for this');
  threadLimit = threads;
}

/** y = x·x + 2x for x = [[1,2],[3,4]] → [[9,14],[21,30]]. */
function selfTestModel(): Uint8Array {
  const g = new Graph('self_test');
  const x = g.input('x', 'float32', [2, 2]);
  g.output(add(matmul(x, x), mul(x, 2)), 'y');
  return toOnnx(g);
}
const X: HostTensor = { dtype: 'float32', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) };
const EXPECTED = [9, 14, 21, 30];

async function runSelfTest(runtime: Runtime): Promise<number[]> {
  const session = await runtime.load(selfTestModel());
  try {
    const y = (await session.run({ x: X })).y as HostTensor;
    return Array.from(y.data as Float32Array);
  } finally {
    await session.release();
  }
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-5);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface Started {
  runtime: Runtime;
  fallbackReason: string | null;
  /** The adapter's largest storage-buffer binding, bytes (WebGPU only): no single tensor may exceed it. */
  gpuMaxBindingBytes: number | null;
}

async function start(): Promise<Started> {
  if (threadLimit !== null) {
    const why = `WASM on ${threadLimit} thread${threadLimit === 1 ? '' : 's'}, as asked for after work stopped making progress`;
    return { runtime: await createRuntime('wasm', { threads: threadLimit }), fallbackReason: why, gpuMaxBindingBytes: null };
  }
  const report = await probeBackend(probeEnvFromGlobals());
  const wasm = () => createRuntime('wasm', { threads: report.wasm.threads });
  if (report.backend !== 'webgpu') return { runtime: await wasm(), fallbackReason: report.gpuUnavailableReason, gpuMaxBindingBytes: null };
  try {
    const runtime = await createRuntime('webgpu', { threads: report.wasm.threads });
    const got = await runSelfTest(runtime);
    if (!same(got, EXPECTED)) throw new Error(`WebGPU self-test gave [${got}] instead of [${EXPECTED}]`);
    const limits = report.gpu?.limits;
    return { runtime, fallbackReason: null, gpuMaxBindingBytes: limits ? Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize) : null };
  } catch (error) {
    return { runtime: await wasm(), fallbackReason: `the WebGPU runtime failed: ${message(error)}`, gpuMaxBindingBytes: null };
  }
}

/** The worker's one runtime (created on first use). */
export async function engineRuntime(): Promise<Runtime> {
  return (await engineChoice()).runtime;
}

/** The runtime and why it is not WebGPU (null when it is), without running anything on it. */
export async function engineChoice(): Promise<Started & { kind: string }> {
  current ??= start();
  const c = await current;
  return { ...c, kind: c.runtime.describe().kind };
}

export async function selfTest(): Promise<SelfTestReport> {
  current ??= start();
  const { runtime, fallbackReason } = await current;
  const t0 = performance.now();
  const result = await runSelfTest(runtime);
  return {
    ...runtime.describe(),
    fallbackReason,
    result,
    expected: EXPECTED,
    ok: same(result, EXPECTED),
    ms: performance.now() - t0,
  };
}

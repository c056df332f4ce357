// `npm run bench -- --dawn`: the WebGPU bench's train-step and encode tables (webgpu-tables.ts) in
// Node on Dawn (dawn.ts) instead of Chromium — the route to a GPU machine that has a driver and no
// browser (../shared/GPU.md: `npm run bench:gpu-pack` packs this file, Node, dawn.node and
// onnxruntime's WASM into 64 MiB; tests/bench/gpu-machine.sh runs it there). Same rows, same
// figures: ms/step, tokens/s, peak GPU memory in buffers (every createBuffer of the process)
// beside the memory account, host↔device bytes per step and per update, PyTorch's same step on
// CUDA and the ratio.
//
// Each row runs in its own Node process (a fresh GPU device and buffer count, like the Chromium
// bench's fresh page, and a failure is that row's). Which Vulkan driver Dawn gets is fixed when a
// process starts, so this parent tries driver sets in turn (DRIVER_SETS) in probe processes and
// runs the rows with the first that gives a hardware adapter. When none does it says which it
// tried and what each gave, and stops (exit 1); `--allow-software` runs on SwiftShader anyway (the
// tiny model, 8 + 8 × 64 tokens by default: its memory figures hold, its speed says nothing).
//
//   npm run bench -- --dawn [--allow-software] [--models small,base] [--paths fused,gradcache]
//                  [--batch 32] [--seq 128] [--mini 8] [--iters 3] [--warmup 2] [--no-encode]
//                  [--gpu-buffer-cache bucket|simple|lazyRelease] [--moments float32|bfloat16] [--layers N]
//                  [--python /usr/bin/python3] [--torch-script F] [--timeout-s 300] [--out .bench/dawn.json]
//
// Not a test (it asserts nothing; dawn-bench.test.ts checks that the pack runs) and not the
// Chromium route (webgpu-bench.ts), which is what a laptop's browser does.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LiveBuffer } from '../../src/lib/runtime/gpu-memory.ts';
import type { DawnAdapter } from './dawn.ts';
import type { TrainStepRowOptions } from './webgpu-steps.ts';
import { BENCH_OPTIONS, benchSetup, describeAdapter, fmt, MiB, modelConfig, printTables, runTorchGpu, softwareAdapterReason, writeJson, type AdapterInfo, type EncodeRow, type StepRow } from './webgpu-tables.ts';
import { benchArgs } from './bench-args.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** This file, or the pack's bundle of it: what the row processes run. */
const SELF = fileURLToPath(import.meta.url);
const CHILD_TAG = 'DAWN_RESULT ';

const NVIDIA_ICDS = ['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json', '/usr/share/vulkan/icd.d/nvidia_icd.json', '/etc/vulkan/icd.d/nvidia_icd.json'];
const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json'];
/** Folders holding a Vulkan loader (libvulkan.so.1) when the system has none: the pack's, then Chromium's. */
const LOADER_DIRS = [process.env.TABTUNE_VULKAN_DIR, '/usr/lib/chromium'].filter((d): d is string => !!d);
/** Where containers with NVIDIA's runtime keep the driver's libraries (the ICD's library_path). */
const NVIDIA_LIB_DIRS = ['/usr/local/nvidia/lib64', '/usr/local/nvidia/lib'];

export interface DriverSet {
  name: string;
  env: Record<string, string>;
  software: boolean;
}

/** What the probe processes are started with, in turn. */
export function driverSets(exists: (p: string) => boolean = existsSync): DriverSet[] {
  const icd = (file: string) => ({ VK_DRIVER_FILES: file, VK_ICD_FILENAMES: file });
  const sets: DriverSet[] = [{ name: "the system's Vulkan drivers", env: {}, software: false }];
  for (const f of NVIDIA_ICDS.filter(exists)) sets.push({ name: `NVIDIA's Vulkan driver (${f})`, env: icd(f), software: false });
  const swiftshader = process.env.TABTUNE_SWIFTSHADER_ICD ?? SWIFTSHADER_ICDS.find(exists);
  if (swiftshader) sets.push({ name: `SwiftShader (${swiftshader})`, env: icd(swiftshader), software: true });
  return sets;
}

/** Whether the system has a Vulkan loader (asked once: every driver set's processes share the answer). */
let systemLoader: boolean | undefined;

/** The environment of a Dawn process: the driver set, a Vulkan loader where the system has none, NVIDIA's libraries. */
export function processEnv(set: DriverSet): NodeJS.ProcessEnv {
  systemLoader ??= /libvulkan\.so\.1\b/.test(spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '');
  const libs = [...(systemLoader ? [] : LOADER_DIRS.filter((d) => existsSync(join(d, 'libvulkan.so.1')))), ...NVIDIA_LIB_DIRS.filter(existsSync), process.env.LD_LIBRARY_PATH].filter(Boolean);
  return { ...process.env, ...set.env, LD_LIBRARY_PATH: libs.join(':') };
}

type ChildJob = { kind: 'probe' } | { kind: 'step'; o: TrainStepRowOptions } | { kind: 'encode'; o: Omit<TrainStepRowOptions, 'path' | 'mini'> };

/** Runs one job in its own Node process (with V8's baseline compiler only: see DESIGN.md): its result and its stderr. */
function runChild<T>(job: ChildJob, env: NodeJS.ProcessEnv, timeoutS: number, log: (s: string) => void): Promise<{ value: T; stderr: string }> {
  const execArgv = process.execArgv.includes('--liftoff-only') ? process.execArgv : [...process.execArgv, '--liftoff-only'];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...execArgv, SELF, '--child', JSON.stringify(job)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      if (job.kind !== 'probe') for (const line of String(d).split('\n').filter(Boolean)) log(`  ${line}`);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(CHILD_TAG));
      if (line) {
        const r = JSON.parse(line.slice(CHILD_TAG.length)) as { ok: T } | { error: string };
        return 'ok' in r ? resolvePromise({ value: r.ok, stderr: err }) : reject(new Error(r.error));
      }
      const why = signal === 'SIGKILL' ? `past ${timeoutS} s` : `exit ${code}${signal ? ` (${signal})` : ''}`;
      reject(new Error(`${why}: ${err.trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'no output'}`));
    });
  });
}

/** In a row process: Dawn, the GPU memory counter, onnxruntime-web's WebGPU build, then the job. */
async function child(job: ChildJob): Promise<unknown> {
  const { dawnRuntime, installDawn } = await import('./dawn.ts');
  if (job.kind === 'probe') {
    const a = await installDawn().requestAdapter({ powerPreference: 'high-performance' });
    return a ? adapterReport(a) : null;
  }
  const { runtime, gpuMemory } = await dawnRuntime(job.o.gpuBufferCache);
  const { measureEncode, measureTrainStep } = await import('./webgpu-steps.ts');
  return job.kind === 'step' ? measureTrainStep(runtime, gpuMemory, job.o) : measureEncode(runtime, job.o);
}

/** "89.4 MiB storage, 0.1 MiB map-read, …": sizes with what they were made for. */
function describeBuffers(buffers: LiveBuffer[]): string {
  const kind = (usage: number) => (usage & 0x1 ? 'map-read' : usage & 0x40 ? 'uniform' : usage & 0x80 ? 'storage' : `usage 0x${usage.toString(16)}`);
  return buffers.map((b) => `${fmt(b.bytes / MiB, 1)} MiB ${kind(b.usage)}`).join(', ');
}

function adapterReport(a: DawnAdapter): AdapterInfo & { maxBufferSize: number; maxStorageBufferBindingSize: number } {
  const i = a.info;
  return {
    vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
    isFallbackAdapter: !!(i.isFallbackAdapter ?? a.isFallbackAdapter),
    maxBufferSize: a.limits.maxBufferSize, maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
  };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = benchArgs('Usage: npm run bench -- --dawn [options]\n\nThe WebGPU train-step and encode tables in Node on Dawn (no browser): the route to a GPU machine.', {
      child: { type: 'string' },
      ...BENCH_OPTIONS,
      'no-encode': { type: 'boolean', default: false },
      python: { type: 'string', default: '/usr/bin/python3' },
      // The pack's bundle does not sit beside the script; gpu-machine.sh names it in the checkout.
      'torch-script': { type: 'string', default: join(HERE, 'torch_gpu_bench.py') },
      'timeout-s': { type: 'string', default: '300' },
      out: { type: 'string', default: resolve(HERE, '..', '..', '.bench', 'dawn.json') },
  }, argv);
  if (values.child) {
    let result: unknown;
    try {
      result = { ok: await child(JSON.parse(values.child) as ChildJob) };
    } catch (e) {
      result = { error: e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e) };
      process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    }
    process.stdout.write(`${CHILD_TAG}${JSON.stringify(result)}\n`);
    process.exit(0); // dawn.node's device would keep the process alive
  }
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const log = (s: string) => process.stderr.write(`dawn bench: ${s}\n`);
  const timeoutS = Number(values['timeout-s']);

  type Found = { set: DriverSet; env: NodeJS.ProcessEnv; gpu: Awaited<ReturnType<typeof adapterReport>> };
  const tried: { drivers: string; got: string }[] = [];
  let found: Found | null = null;
  let software: Found | null = null;
  for (const set of driverSets()) {
    const env = processEnv(set);
    let gpu: Found['gpu'] | null = null;
    let got: string;
    try {
      const probe = await runChild<Found['gpu'] | null>({ kind: 'probe' }, { ...env, VK_LOADER_DEBUG: 'error' }, 60, log);
      gpu = probe.value;
      // Without an adapter, what Dawn and the Vulkan loader said is the reason.
      const said = probe.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('at ')).slice(-3).join(' / ');
      const why = gpu ? softwareAdapterReason(gpu) : `no adapter${said ? ` (${said})` : ''}`;
      got = gpu && !why ? `GPU: ${describeAdapter(gpu)}` : why!;
    } catch (e) {
      got = `the probe failed: ${(e as Error).message}`;
    }
    tried.push({ drivers: set.name, got });
    log(`${set.name}: ${got}`);
    if (gpu && !softwareAdapterReason(gpu)) {
      found = { set, env, gpu };
      break;
    }
    if (gpu && !software) software = { set, env, gpu };
  }
  const use = found ?? (values['allow-software'] ? software : null);
  const record: Record<string, unknown> = { started: new Date().toISOString(), host: `Node ${process.version} + Dawn`, tried };
  if (!use) {
    say('No GPU adapter: Dawn gave none with any of the Vulkan driver sets tried:');
    for (const t of tried) say(`  ${t.drivers}\n    → ${t.got}`);
    say('The WebGPU bench measures a GPU, so it stops here. `--allow-software` runs it on a software adapter anyway (the tiny model, 8 + 8 × 64 tokens by default).');
    writeJson(values.out!, { ...record, adapter: null }, log);
    process.exitCode = 1;
    return;
  }
  const onGpu = use === found;
  const setup = benchSetup(values, onGpu);
  const { models, layers, paths, batch, seq, mini, iters, warmup, gpuBufferCache, adamMoments } = setup;
  say(`WebGPU adapter (Node ${process.version} + Dawn): ${describeAdapter(use.gpu)}${onGpu ? '' : ' — SOFTWARE: speed figures say nothing about a GPU; memory figures hold'}`);
  say(`  drivers: ${use.set.name}; maxBufferSize ${fmt(use.gpu.maxBufferSize / MiB)} MiB, maxStorageBufferBindingSize ${fmt(use.gpu.maxStorageBufferBindingSize / MiB)} MiB`);

  // PyTorch first: seconds on a GPU, and the baseline every row is read against.
  const torch = runTorchGpu(models, { python: values.python!, script: values['torch-script']!, batch, seq, iters, warmup, layers, log });
  const rows: StepRow[] = [];
  const encodes: EncodeRow[] = [];
  // Written after every row too, so a run cut short (a device's time limit) still leaves its rows.
  const save = () => writeJson(values.out!, { ...record, adapter: use.gpu, software: !onGpu, drivers: use.set.name, ...setup, torch, rows, encodes }, log);
  for (const m of models) {
    for (const path of paths) {
      log(`${m} ${path}${path === 'gradcache' ? ` mini ${mini}` : ''}, ${batch} + ${batch} × ${seq} tokens, ${warmup} warm-up + ${iters} timed steps`);
      const o: TrainStepRowOptions = { kind: 'webgpu', config: modelConfig(m, layers), path, mini, batch, seq, warmup, repeats: iters, gpuBufferCache, adamMoments };
      try {
        const { value: r } = await runChild<Omit<Extract<StepRow, { stepS: number[] }>, 'model'>>({ kind: 'step', o }, use.env, timeoutS, log);
        rows.push({ model: m, ...r });
        log(`  ${fmt(r.tokensPerS)} tokens/s, peak GPU ${fmt((r.gpuPeakBytes ?? NaN) / MiB)} MiB (largest buffers then: ${describeBuffers(r.gpuPeakBuffers ?? [])})`);
      } catch (e) {
        rows.push({ model: m, path, error: (e as Error).message.split('\n')[0] });
        log(`  failed: ${(rows.at(-1) as { error: string }).error}`);
      }
      save();
    }
  }
  for (const m of values['no-encode'] ? [] : models) {
    log(`${m} encode, ${batch} × ${seq} tokens`);
    try {
      const { value } = await runChild<{ warmupMs: number[]; runMs: number[] }>({ kind: 'encode', o: { kind: 'webgpu', config: modelConfig(m, layers), batch, seq, warmup, repeats: iters, gpuBufferCache } }, use.env, timeoutS, log);
      encodes.push({ model: m, ...value });
    } catch (e) {
      encodes.push({ model: m, error: (e as Error).message.split('\n')[0] });
    }
  }
  printTables(say, setup, rows, encodes, torch);
  save();
}

// Run directly (a row process, or the pack's bundle); run.ts imports main() for `npm run bench -- --dawn`.
if (process.argv[1] && resolve(process.argv[1]) === SELF) await main(process.argv.slice(2));

// `npm run bench -- --webgpu`: the train-step and encode tables on the machine's WebGPU adapter, in
// headless Chromium (the engine harness page, tests/e2e/harness), for bge-small and bge-base
// shapes (random weights), fused and GradCache: ms/step, tokens/s, the peak GPU memory in buffers
// (every GPUDevice.createBuffer of the page, src/lib/runtime/gpu-memory.ts) beside the memory
// account's prediction, and the host↔device bytes per step and per update. In the same run PyTorch
// does the same MNRL step on CUDA when torch.cuda.is_available() (tests/bench/torch_gpu_bench.py),
// with the ratio.
//
// Chromium on Linux needs flags to reach a GPU through Vulkan; the bench tries the sets in
// GPU_FLAG_SETS in turn and takes the first that gives a hardware adapter. When none does it says
// so, lists what each set gave, and stops (exit code 1): SwiftShader's software adapter runs
// WebGPU at a few GFLOP/s, so its speed says nothing about a GPU. `--allow-software` runs anyway
// (a 2-layer model, 8 + 8 × 64 tokens by default) — its GPU memory figures hold on any adapter,
// since onnxruntime sizes its buffers from the graph.
//
//   npm run bench -- --webgpu [--allow-software] [--models small,base] [--paths fused,gradcache]
//                    [--batch 32] [--seq 128] [--mini 8] [--iters 3] [--warmup 2] [--quick]
//                    [--gpu-buffer-cache bucket|simple|lazyRelease] [--moments float32|bfloat16] [--layers N]
//                    [--out .bench/webgpu.json]
//
// Not a test (it asserts nothing; tests/e2e/engine.browser.test.ts runs the page side on
// SwiftShader) and not the CPU tables (run.ts).

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_GPU_BUFFER_CACHE } from '../../src/lib/runtime/webgpu-runtime.ts';
import type { GpuAdapterReport } from '../../workers/api.ts';
import { serveStatic } from '../../scripts/serve.js';
import { CHROMIUM_PATH, launchBrowser, REPO_ROOT, type BrowserSession } from '../e2e/browser.ts';
import { buildHarness } from '../e2e/harness/build.ts';
import { callHarness, waitForHarness } from '../e2e/harness/open.ts';
import { BENCH_OPTIONS, benchSetup, describeAdapter, fmt, MiB, modelConfig, printTables, runTorchGpu, softwareAdapterReason, writeJson, type EncodeRow, type StepRow } from './webgpu-tables.ts';
import { benchArgs } from './bench-args.ts';

/** What Chromium on Linux is asked, in turn, to reach a GPU (each with --enable-unsafe-webgpu). */
export const GPU_FLAG_SETS: { name: string; args: string[] }[] = [
  { name: 'Vulkan', args: ['--enable-features=Vulkan', '--use-vulkan=native', '--use-angle=vulkan', '--ignore-gpu-blocklist', '--disable-vulkan-surface'] },
  { name: 'Vulkan through ANGLE', args: ['--enable-features=Vulkan,VulkanFromANGLE,DefaultANGLEVulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist'] },
  { name: "Chromium's default GPU process", args: ['--ignore-gpu-blocklist', '--enable-gpu'] },
];

interface Found { session: BrowserSession; gpu: GpuAdapterReport; flags: string }

export async function main(argv: string[]): Promise<void> {
  const { values } = benchArgs('Usage: npm run bench -- --webgpu [options]\n\nThe train-step and encode tables on the machine\'s WebGPU adapter in headless Chromium (bge-small and\nbge-base shapes on a GPU; the tiny model on a software adapter with --allow-software).', {
      ...BENCH_OPTIONS,
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: join(REPO_ROOT, '.bench', 'webgpu.json') },
  }, argv);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const log = (s: string) => process.stderr.write(`webgpu bench: ${s}\n`);

  benchSetup(values, true); // a bad option fails here, before Chromium starts
  log('building the engine harness page');
  const dir = await buildHarness();
  const server = await serveStatic({ root: dir, port: 0, isolate: true });
  const tried: { flags: string; got: string }[] = [];
  let found: Found | null = null;
  let software: Found | null = null;
  try {
    for (const set of GPU_FLAG_SETS) {
      const flags = ['--enable-unsafe-webgpu', ...set.args].join(' ');
      const session = await launchBrowser({ webgpu: true, extraArgs: set.args });
      await waitForHarness(session, server.url);
      const report = await callHarness(session, 'probe');
      const why = report.gpu ? softwareAdapterReason(report.gpu) : report.gpuUnavailableReason;
      tried.push({ flags, got: report.gpu && !why ? `GPU: ${describeAdapter(report.gpu)}` : (why ?? 'no adapter') });
      log(`${set.name} (${flags}): ${tried.at(-1)!.got}`);
      if (report.gpu && !why) {
        found = { session, gpu: report.gpu, flags };
        break;
      }
      if (report.gpu && !software) software = { session, gpu: report.gpu, flags };
      else await session.close();
    }
    if (found && software) await software.session.close();
    const use = found ?? (values['allow-software'] ? software : null);
    const record: Record<string, unknown> = { started: new Date().toISOString(), chromium: CHROMIUM_PATH, tried };
    if (!use) {
      say(`No GPU adapter: Chromium (${CHROMIUM_PATH}) gave none with any of the flag sets tried:`);
      for (const t of tried) say(`  ${t.flags}\n    → ${t.got}`);
      say('The WebGPU bench measures a GPU, so it stops here. `--allow-software` runs it on the software adapter anyway (a 2-layer model, 8 + 8 × 64 tokens by default).');
      if (software) await software.session.close();
      writeJson(values.out!, { ...record, adapter: null }, log);
      process.exitCode = 1;
      return;
    }
    const onGpu = use === found;
    const setup = benchSetup(values, onGpu, values.quick ? 1 : 3);
    const { models, layers, paths, batch, seq, mini, iters, warmup, gpuBufferCache, adamMoments } = setup;
    say(`WebGPU adapter: ${describeAdapter(use.gpu)}${onGpu ? '' : ' — SOFTWARE: speed figures say nothing about a GPU; memory figures hold'}`);
    say(`  flags: ${use.flags}; maxBufferSize ${fmt(use.gpu.limits.maxBufferSize / MiB)} MiB, maxStorageBufferBindingSize ${fmt(use.gpu.limits.maxStorageBufferBindingSize / MiB)} MiB`);

    const rows: StepRow[] = [];
    for (const m of models) {
      const config = modelConfig(m, layers);
      for (const path of paths) {
        // A fresh page per row: a new GPU device, so one row's buffers (and onnxruntime's cache of them) are not the next one's.
        await waitForHarness(use.session, use.session.page.url());
        log(`${m} ${path}${path === 'gradcache' ? ` mini ${mini}` : ''}, ${batch} + ${batch} × ${seq} tokens, ${warmup} warm-up + ${iters} timed steps`);
        try {
          const r = await callHarness(use.session, 'benchTrainStep', { kind: 'webgpu', config, path, mini, batch, seq, warmup, repeats: iters, gpuBufferCache, adamMoments });
          rows.push({ model: m, ...r });
        } catch (e) {
          rows.push({ model: m, path, error: (e as Error).message.split('\n')[0] });
        }
      }
    }
    const encodes: EncodeRow[] = [];
    for (const m of models) {
      await waitForHarness(use.session, use.session.page.url());
      log(`${m} encode, ${batch} × ${seq} tokens`);
      try {
        const r = await callHarness(use.session, 'benchEncode', { kind: 'webgpu', config: modelConfig(m, layers), batch, seq, warmup, repeats: iters });
        encodes.push({ model: m, ...r });
      } catch (e) {
        encodes.push({ model: m, error: (e as Error).message.split('\n')[0] });
      }
    }
    await use.session.close();

    const torch = runTorchGpu(models, { python: '/usr/bin/python3', script: join(REPO_ROOT, 'tests/bench/torch_gpu_bench.py'), batch, seq, iters, warmup, layers, log });
    printTables(say, setup, rows, encodes, torch);
    writeJson(values.out!, { ...record, adapter: use.gpu, software: !onGpu, flags: use.flags, batch, seq, mini, iters, warmup, gpuBufferCache: gpuBufferCache ?? DEFAULT_GPU_BUFFER_CACHE, adamMoments, rows, encodes, torch }, log);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// Picks and creates a Runtime: 'webgpu' (onnxruntime-web's WebGPU EP, browser only), 'wasm'
// (onnxruntime-web's WASM EP — the browser's CPU path, also runnable in Node) or 'node'
// (onnxruntime-node's native CPU EP, for the CLI and tests). Not the place that decides which kind
// a page gets (workers/engine.worker.ts does, from the backend probe).
//
// One onnxruntime-web build for both browser kinds: `#onnxruntime-web` (package.json "imports")
// is `onnxruntime-web/webgpu` in the browser and the WASM-only `onnxruntime-web` in Node, so the
// app bundle holds one build, whose WASM EP is also the fallback. Why the native C++ WebGPU EP
// (`onnxruntime-web/webgpu`) and not JSEP (`onnxruntime-web`), measured in headless Chromium on the
// SwiftShader adapter with the 410-node op training graph of tests/e2e/engine.browser.test.ts
// (gather+linear+gelu+dropout+layerNorm+softmax+logSoftmax and their gradients), B=2, T=5, C=8:
//   native: session 0.5 s, first run 13.5 s (shader compiles), then 0.21–0.32 s per run
//   JSEP:   session 1.1 s, first run 20.4 s, then 0.20–0.42 s per run
// Both agree with the WASM EP to 2.3e-5 relative and both placed exactly one node on the CPU
// (an int64 Unsqueeze in gather's gradient, since removed: ops/shape.ts gather). The native EP is
// also the one onnxruntime develops (JSEP is in maintenance), and it fails loudly on a buffer
// bound as both input and output where JSEP returns wrong numbers.

import { OrtRuntime, type OrtModule } from './ort-runtime.ts';
import { WebGpuRuntime, type GpuBufferCacheMode, type OrtWebGpuModule } from './webgpu-runtime.ts';
import type { Runtime, RuntimeKind } from './types.ts';

export type * from './types.ts';
export { isDeviceTensor } from './types.ts';

export interface RuntimeOptions {
  /** CPU threads; default: onnxruntime's choice (wasm: 1 unless cross-origin isolated in a page). */
  threads?: number;
  /** WebGPU: how onnxruntime keeps released GPU buffers (webgpu-runtime.ts); default 'lazyRelease'. */
  gpuBufferCache?: GpuBufferCacheMode;
}

/**
 * transformers.js (imported for its tokenizers, and by the demo page for its pipelines) points
 * onnxruntime-web's `wasmPaths` at jsDelivr when nothing set it; the app serves its own copy and
 * must work offline, so that default is undone.
 */
export function undoCdnWasmPaths(env: { wasm: { wasmPaths?: unknown } }): void {
  const p = env.wasm.wasmPaths as { wasm?: unknown } | undefined;
  if (p && typeof p === 'object' && String(p.wasm).startsWith('https://cdn.jsdelivr.net/')) env.wasm.wasmPaths = undefined;
}

/**
 * onnxruntime-node's sessions skip onnxruntime's memory pattern (one block for a run's
 * intermediates, planned from the first runs): on the training graphs that block held far more
 * than allocating each tensor from the arena as the run goes. bge-small shape, fused MNRL step,
 * 32 + 32 × 128 tokens, 2 threads: peak RSS 11,672 → 7,054 MiB at the same speed. On WASM it made
 * no difference beyond noise (`npm run bench:memory-fit`), so the page keeps onnxruntime's default;
 * onnxruntime-web turns it off for WebGPU itself.
 */
export const NODE_SESSION_OPTIONS = { enableMemPattern: false } as const;

export async function createRuntime(kind: RuntimeKind, opts: RuntimeOptions = {}): Promise<Runtime> {
  switch (kind) {
    case 'wasm': {
      // In Node this resolves to onnxruntime-web's WASM-only build, which finds its .wasm/.mjs
      // files next to itself in node_modules: no ort.env.wasm.wasmPaths needed. In a Vite build
      // the files are emitted as assets by the import itself.
      const ort = await import('#onnxruntime-web');
      undoCdnWasmPaths(ort.env);
      if (opts.threads !== undefined) ort.env.wasm.numThreads = opts.threads;
      const threads = ort.env.wasm.numThreads ?? 1;
      return new OrtRuntime(
        ort as unknown as OrtModule,
        { kind, backend: 'onnxruntime-web, WASM EP', threads, version: ort.env.versions.web ?? '' },
        { executionProviders: ['wasm'] },
      );
    }
    case 'node': {
      // A specifier in a variable keeps bundlers from pulling the native addon into the browser
      // build; Node resolves it as usual.
      const nodePackage = 'onnxruntime-node';
      const ort = (await import(/* @vite-ignore */ nodePackage)) as typeof import('onnxruntime-node');
      const threads = opts.threads ?? 0;
      return new OrtRuntime(
        ort as unknown as OrtModule,
        { kind, backend: 'onnxruntime-node, CPU EP', threads, version: ort.env.versions.node ?? '' },
        { executionProviders: ['cpu'], ...NODE_SESSION_OPTIONS, ...(threads ? { intraOpNumThreads: threads } : {}) },
      );
    }
    case 'webgpu': {
      const ort = await import('#onnxruntime-web');
      undoCdnWasmPaths(ort.env);
      // Threads of the WASM side (nodes placed on the CPU EP, and the WASM kind in the same page).
      if (opts.threads !== undefined) ort.env.wasm.numThreads = opts.threads;
      return WebGpuRuntime.create(ort as unknown as OrtWebGpuModule, 'native C++ EP', opts.gpuBufferCache);
    }
    default:
      throw new Error(`unknown runtime kind ${kind as string}`);
  }
}

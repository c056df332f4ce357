// Picks and creates a Runtime: 'wasm' (onnxruntime-web's WASM EP — the browser's CPU path, also
// runnable in Node) or 'node' (onnxruntime-node's native CPU EP, for the CLI and tests).
// Not the WebGPU kind yet: see the note in createRuntime.

import { OrtRuntime, type OrtModule } from './ort-runtime.ts';
import type { Runtime, RuntimeKind } from './types.ts';

export type * from './types.ts';
export { isDeviceTensor } from './types.ts';

export interface RuntimeOptions {
  /** CPU threads; default: onnxruntime's choice (wasm: 1 unless cross-origin isolated in a page). */
  threads?: number;
}

export async function createRuntime(kind: RuntimeKind, opts: RuntimeOptions = {}): Promise<Runtime> {
  switch (kind) {
    case 'wasm': {
      // In Node this resolves to onnxruntime-web's WASM-only build, which finds its .wasm/.mjs
      // files next to itself in node_modules: no ort.env.wasm.wasmPaths needed. In a Vite build
      // the files are emitted as assets by the import itself.
      const ort = await import('onnxruntime-web');
      if (opts.threads !== undefined) ort.env.wasm.numThreads = opts.threads;
      const threads = ort.env.wasm.numThreads ?? 1;
      return new OrtRuntime(
        ort as unknown as OrtModule,
        { kind, backend: 'onnxruntime-web, WASM EP', threads, version: ort.env.versions.web ?? '' },
        { executionProviders: ['wasm'] },
      );
    }
    case 'node': {
      const ort = await import('onnxruntime-node');
      const threads = opts.threads ?? 0;
      return new OrtRuntime(
        ort as unknown as OrtModule,
        { kind, backend: 'onnxruntime-node, CPU EP', threads, version: ort.env.versions.node ?? '' },
        { executionProviders: ['cpu'], ...(threads ? { intraOpNumThreads: threads } : {}) },
      );
    }
    // WebGPU goes here: `onnxruntime-web/webgpu` with executionProviders ['webgpu'], sessions
    // created with preferredOutputLocation 'gpu-buffer', a DeviceTensor wrapping
    // Tensor.fromGpuBuffer (with a download function), upload/download through the GPUDevice
    // onnxruntime exposes (ort.env.webgpu.device), and ping-pong buffers so that no buffer is
    // ever both an input and an output of one run. Callers keep using the Runtime interface.
    default:
      throw new Error(`unknown runtime kind ${kind as string}`);
  }
}

import { describe, expect, it } from 'vitest';
import { MAX_WASM_THREADS, chooseWasmThreads, probeBackend, type ProbeEnv, type ProbedAdapter } from './backend-probe.ts';

const adapter: ProbedAdapter = {
  info: { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)' },
  features: new Set(['subgroups', 'float32-filterable', 'bgra8unorm-storage']),
  limits: {
    maxBufferSize: 2 ** 30,
    maxStorageBufferBindingSize: 2 ** 30,
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxStorageBuffersPerShaderStage: 8,
  },
};

function env(overrides: Partial<ProbeEnv>): ProbeEnv {
  return { crossOriginIsolated: true, hardwareConcurrency: 4, userAgent: 'test', ...overrides };
}

describe('chooseWasmThreads', () => {
  it('uses one thread per core when isolated, capped', () => {
    expect(chooseWasmThreads(true, 2).threads).toBe(2);
    expect(chooseWasmThreads(true, 64).threads).toBe(MAX_WASM_THREADS);
    expect(chooseWasmThreads(true, 64).reason).toMatch(/capped/);
  });

  it('falls back to one thread, saying why, when not isolated', () => {
    const report = chooseWasmThreads(false, 16);
    expect(report.threads).toBe(1);
    expect(report.reason).toMatch(/cross-origin isolated/);
  });

  it('takes one thread in Firefox, saying why, and a core each in Chromium', () => {
    const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';
    const chromium = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36';
    expect(chooseWasmThreads(true, 8, firefox)).toEqual({ threads: 1, reason: expect.stringMatching(/^Firefox: .*would hang/) });
    expect(chooseWasmThreads(true, 8, chromium).threads).toBe(8);
  });
});

describe('probeBackend', () => {
  it('reports WebGPU with the adapter info, sorted features and limits', async () => {
    const report = await probeBackend(env({ gpu: { requestAdapter: async () => adapter } }));
    expect(report.backend).toBe('webgpu');
    expect(report.gpuUnavailableReason).toBeNull();
    expect(report.gpu?.architecture).toBe('swiftshader');
    expect(report.gpu?.features).toEqual(['bgra8unorm-storage', 'float32-filterable', 'subgroups']);
    expect(report.gpu?.limits.maxBufferSize).toBe(2 ** 30);
    expect(report.storage).toEqual({ available: false, reason: expect.stringMatching(/absent/) });
  });

  it('gives the reason for each way WebGPU can be missing', async () => {
    const absent = await probeBackend(env({}));
    expect(absent.backend).toBe('wasm');
    expect(absent.gpuUnavailableReason).toMatch(/navigator\.gpu is absent/);

    const noAdapter = await probeBackend(env({ gpu: { requestAdapter: async () => null } }));
    expect(noAdapter.gpuUnavailableReason).toMatch(/returned null/);

    const throws = await probeBackend(
      env({
        gpu: {
          requestAdapter: async () => {
            throw new Error('blocklisted');
          },
        },
      }),
    );
    expect(throws.backend).toBe('wasm');
    expect(throws.gpuUnavailableReason).toMatch(/threw: blocklisted/);
    expect(throws.wasm.threads).toBe(4);
  });

  it('reads the storage estimate and persistence', async () => {
    const report = await probeBackend(
      env({ storage: { estimate: async () => ({ usage: 10, quota: 1000 }), persisted: async () => false } }),
    );
    expect(report.storage).toEqual({ available: true, usage: 10, quota: 1000, persisted: false });
  });
});

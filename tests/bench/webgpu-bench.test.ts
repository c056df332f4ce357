import { describe, expect, it } from 'vitest';
import { describeAdapter, softwareAdapterReason } from './webgpu-tables.ts';

const adapter = (o: Partial<Parameters<typeof softwareAdapterReason>[0]>) => ({ vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false, ...o });

describe('softwareAdapterReason', () => {
  it("takes Chromium's SwiftShader adapter, Mesa's software drivers and fallback adapters for what they are", () => {
    // What Debian's Chromium 156 reports here with --enable-unsafe-webgpu and no GPU.
    expect(softwareAdapterReason(adapter({ vendor: 'google', architecture: 'swiftshader' }))).toBe('a software adapter (google · swiftshader)');
    expect(softwareAdapterReason(adapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }))).toMatch(/^a software adapter/);
    expect(softwareAdapterReason(adapter({ vendor: 'acme', isFallbackAdapter: true }))).toBe('a fallback adapter (acme)');
  });

  it('takes a GPU for a GPU', () => {
    expect(softwareAdapterReason(adapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }))).toBeNull();
    expect(softwareAdapterReason(adapter({ vendor: 'apple', architecture: 'metal-3' }))).toBeNull();
    expect(describeAdapter(adapter({ vendor: 'nvidia', architecture: 'hopper', device: '0x2335' }))).toBe('nvidia · hopper · 0x2335');
  });
});

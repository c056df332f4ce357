// The route to a GPU machine without Node or a browser (../shared/GPU.md): the pack that
// `npm run bench:gpu-pack` makes, unpacked and run by tests/bench/gpu-machine.sh from a folder
// with no node_modules, trains a real step on Dawn's WebGPU (SwiftShader here) and reports it.
// Speed is not asserted (a bench, on a software adapter); that it runs and what it counts is.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverSets } from './dawn-bench.ts';
import { makeGpuPack, PACK_LIMIT_BYTES, type PackEntry } from './gpu-pack.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('driverSets', () => {
  it("tries the system's drivers, then NVIDIA's ICD where it is, then SwiftShader", () => {
    const present = new Set(['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json', '/usr/lib/chromium/vk_swiftshader_icd.json']);
    const sets = driverSets((p) => present.has(p));
    expect(sets.map((s) => [s.software, s.env.VK_DRIVER_FILES])).toEqual([
      [false, undefined],
      [false, '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json'],
      [true, '/usr/lib/chromium/vk_swiftshader_icd.json'],
    ]);
    expect(driverSets(() => false)).toHaveLength(process.env.TABTUNE_SWIFTSHADER_ICD ? 2 : 1);
  });
});

describe('the GPU pack', () => {
  let dir: string;
  let entries: PackEntry[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tabtune-gpu-pack-'));
    // xz's fastest level: the same files, 41 MiB instead of the 32 that -6 makes, in a fifth of the time.
    entries = await makeGpuPack(join(dir, 'pack'), 0);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const bench = (args: string[]) =>
    spawnSync('bash', ['tests/bench/gpu-machine.sh', '--models', 'tiny', '--batch', '2', '--seq', '16', '--iters', '1', '--warmup', '1', '--paths', 'fused', '--no-encode', ...args], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, PACK: join(dir, 'pack'), OUT: join(dir, 'out'), TMPDIR: dir }, timeout: 240_000,
    });

  it('fits what the device tool carries and holds Node, Dawn, onnxruntime and the bundle', () => {
    expect(entries.map((e) => e.file).sort()).toEqual(expect.arrayContaining(['bench.mjs', 'dawn.node.xz', 'node.xz', 'ort-wasm-simd-threaded.asyncify.mjs.xz', 'ort-wasm-simd-threaded.asyncify.wasm.xz']));
    expect(entries.reduce((n, e) => n + e.bytes, 0)).toBeLessThan(PACK_LIMIT_BYTES);
  });

  it('trains a step on WebGPU from the unpacked files and reports it, with only the update scalars moved per update', () => {
    const r = bench(['--allow-software']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(join(dir, 'out', 'dawn.json'), 'utf8'));
    expect(out.host).toMatch(/^Node v\d+.* \+ Dawn$/);
    expect(out.adapter).not.toBeNull();
    const [row] = out.rows;
    expect(row).toMatchObject({ model: 'tiny', path: 'fused', batch: 2, seq: 16 });
    expect(row.error).toBeUndefined();
    expect(row.stepS).toHaveLength(1);
    expect(row.stepS[0]).toBeGreaterThan(0);
    // The GPU updater's per-update traffic: the 48-byte scalar block in, Σg² out.
    expect(row.updateTraffic).toEqual({ toDevice: 48, toHost: 4 });
    // The tiny model's weights, gradients and moments alone are ~2.6 MB on the GPU.
    expect(row.gpuPeakBytes).toBeGreaterThan(2.5e6);
    expect(r.stdout).toMatch(/\| tiny \| fused \| [\d,]+ \| [\d,]+ \|/);
  }, 240_000);

  it('says there is no GPU and which drivers it tried, unless told to run on software', () => {
    const r = bench([]);
    const out = JSON.parse(readFileSync(join(dir, 'out', 'dawn.json'), 'utf8'));
    if (out.adapter !== null) return expect(r.status).toBe(0); // a machine with a GPU
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('No GPU adapter: Dawn gave none with any of the Vulkan driver sets tried:');
    expect(r.stdout).toContain("the system's Vulkan drivers");
    expect(r.stdout).toMatch(/SwiftShader .*\n\s+→ a software adapter/);
  }, 120_000);
});

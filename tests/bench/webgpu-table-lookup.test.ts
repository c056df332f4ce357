// A frozen word table past the GPU's binding limit is looked up on the host (webgpu-table-lookup.ts):
// real onnxruntime-web WebGPU EP on Dawn (SwiftShader), in its own process, with an artificially
// low limit so a tiny model takes that path.

import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { driverSets, processEnv } from './dawn-bench.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const swiftshader = driverSets().find((s) => s.software);

describe.skipIf(!swiftshader)('large frozen word tables on WebGPU, on Dawn', () => {
  it('rows looked up on the host give the embeddings and gradients of the table on the GPU, and the table is never uploaded', () => {
    const r = spawnSync(process.execPath, ['--liftoff-only', '--import', 'tsx', 'tests/bench/webgpu-table-lookup.ts'], {
      cwd: ROOT, env: processEnv(swiftshader!), encoding: 'utf8', timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    console.log(JSON.stringify(m));
    expect(m.lookups).toEqual(['graph', 'host', 'host', 'graph']);
    expect(m.uploadedGpu - m.uploadedHost).toBe(m.tableBytes);
    expect(m.embDiff).toBeLessThanOrEqual(1e-6);
    expect(m.gradDiff).toBeLessThanOrEqual(1e-6);
    expect(m.gradNames).toBeGreaterThan(0);
    // float16: the host's float16 rows equal the GPU's (float16 in the graph, or rounded float32 without shader-f16).
    expect(m.emb16Diff).toBeLessThanOrEqual(1e-6);
    expect(m.emb16VsF32).toBeGreaterThan(0);
    expect(m.held16).toBe(m.float16 ? 'float16, cast to float32 in the graph' : 'float16-rounded, held as float32 on the GPU: this adapter has no shader-f16');
  }, 150_000);
});

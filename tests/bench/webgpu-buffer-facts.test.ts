// Two facts about onnxruntime-web's WebGPU EP that the memory account and the WebGPU runtime rely
// on (webgpu-buffer-facts.ts): a training session keeps the embedding gradient's zeros in a GPU
// buffer from its load on (memory.ts counts them), and a disposed output stays allocated until a
// run ends (WebGpuRuntime ends it before its next run, so that run does not hold it too). Real
// onnxruntime-web WebGPU EP on Dawn (SwiftShader), in its own process. Were onnxruntime to change
// either, this fails and the account's item or the runtime's flush should go.

import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { driverSets, processEnv } from './dawn-bench.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const swiftshader = driverSets().find((s) => s.software);

describe.skipIf(!swiftshader)("onnxruntime's WebGPU buffers, on Dawn", () => {
  it("a training session holds the embedding gradient's zeros from its load on; a disposed output is not held through the next run", () => {
    const r = spawnSync(process.execPath, ['--liftoff-only', '--import', 'tsx', 'tests/bench/webgpu-buffer-facts.ts', '4096', '64'], {
      cwd: ROOT, env: processEnv(swiftshader!), encoding: 'utf8', timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(m.gradientSum).toBe(m.expectedSum);
    // 1 MiB of zeros for a 4,096 × 64 table, held before any run.
    expect(m.afterLoad).toBeGreaterThanOrEqual(m.tableBytes);
    expect(m.afterLoad).toBeLessThan(m.tableBytes + 64 * 1024);
    // Disposing an output frees nothing at once ...
    expect(m.freedByDispose).toBe(0);
    // ... yet the next run's output takes the disposed one's place instead of adding a table
    // beside it (without the runtime's flush: 1,048,576 bytes here; with it, 16,400).
    expect(m.secondRunAdded).toBeLessThan(m.tableBytes / 2);
  }, 150_000);
});

// Every bench and experiment script with a command line answers --help with its usage and options
// and exit status 0, before it builds, launches or measures anything (bench-args.ts). Runs each
// script in its own process (they exit), a few at a time.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const TSX = ['--import', 'tsx'];

/** [what a user types, node's arguments]. */
const SCRIPTS: [string, string[]][] = [
  ['npm run bench -- --help', [...TSX, 'tests/bench/run.ts', '--help']],
  ['npm run bench -- --webgpu --help', [...TSX, 'tests/bench/run.ts', '--webgpu', '--help']],
  ['npm run bench -- --dawn --help', [...TSX, 'tests/bench/run.ts', '--dawn', '--help']],
  ['child.ts', [...TSX, 'tests/bench/child.ts', '--help']],
  ['train-child.ts', [...TSX, 'tests/bench/train-child.ts', '--help']],
  ['eval-child.ts', [...TSX, 'tests/bench/eval-child.ts', '--help']],
  ['npm run bench:embed', [...TSX, 'tests/bench/embed-speed.ts', '--help']],
  ['npm run bench:page', [...TSX, 'tests/bench/page-memory.ts', '--help']],
  ['session-timing.ts', [...TSX, 'tests/bench/session-timing.ts', '--help']],
  ['npm run bench:generate', [...TSX, 'tests/bench/generate-bench.ts', '--help']],
  ['npm run bench:memory-fit', [...TSX, 'tests/bench/memory-fit.ts', '--help']],
  ['npm run bench:gpu-pack', [...TSX, 'tests/bench/gpu-pack.ts', '--help']],
  ['npm run experiment:negatives', [...TSX, 'tests/bench/hard-negatives.ts', '--help']],
  ['npm run experiment:moments', [...TSX, 'tests/bench/moments.ts', '--help']],
  ['npm run experiment:trainable', [...TSX, 'tests/bench/trainable-experiment.ts', '--help']],
  ['webgpu-buffer-facts.ts', [...TSX, 'tests/bench/webgpu-buffer-facts.ts', '--help']],
  ['transformers-js-embed.mjs', ['tests/bench/transformers-js-embed.mjs', '--help']],
];

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 120_000 }, (e, stdout, stderr) => res({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }));
  });
}

describe('bench scripts --help', () => {
  it('each prints its usage and options and exits 0', async () => {
    const results = new Map<string, Awaited<ReturnType<typeof run>>>();
    const queue = [...SCRIPTS];
    // Three at a time: each is a Node process loading its imports through tsx.
    await Promise.all([0, 1, 2].map(async () => {
      for (let s = queue.shift(); s; s = queue.shift()) results.set(s[0], await run(s[1]));
    }));
    for (const [name] of SCRIPTS) {
      const r = results.get(name)!;
      expect(r.code, `${name}: ${r.stderr.slice(0, 400)}`).toBe(0);
      expect(r.stdout, name).toMatch(/^Usage: /);
      expect(r.stdout, name).toContain('--help');
    }
  }, 300_000);
});

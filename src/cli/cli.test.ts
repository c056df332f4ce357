// The command line as a user runs it: `node bin/tabtune.js …` in a child process, from a
// working directory outside the repository.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../tests/fixtures/fixtures.ts';
import { BertEncoder } from '../lib/models/encoder.ts';
import { loadSentenceModelFromDir } from '../lib/models/sentence-model-node.ts';
import { createRuntime } from '../lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../lib/tokenize/node.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/tabtune.js');
let work: string;
let model: string;

function tabtune(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd: work, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  model = ensureFixtures().tinyBge;
  work = mkdtempSync(join(tmpdir(), 'tabtune-cli-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tabtune (child process)', () => {
  it('--help lists the commands that work, and exits 0', async () => {
    const r = await tabtune('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tabtune <command>/);
    const list = r.stdout.split('Commands:\n')[1].split('\n\n')[0].split('\n');
    expect(list.map((l) => l.trim().split(/\s+/)[0])).toEqual(['embed', 'eval', 'train', 'mine', 'generate', 'export', 'push', 'script']);
    expect(r.stdout).toMatch(/^ {2}embed +compute sentence embeddings/m);
    expect(r.stdout).toMatch(/^ {2}train +fine-tune a model/m);
    // Each listed command answers its own --help.
    for (const name of ['eval', 'train', 'mine', 'generate', 'export', 'push', 'script']) {
      const h = await tabtune(name, '--help');
      expect([h.code, h.stdout.split('\n')[0]]).toEqual([0, expect.stringMatching(new RegExp(`^Usage: tabtune ${name} `))]);
    }
  });

  it('with no command prints the help to stderr and exits 2', async () => {
    const r = await tabtune();
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: tabtune <command>/);
  });

  it('embed --help shows its options', async () => {
    const r = await tabtune('embed', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tabtune embed --model DIR --texts FILE/);
    expect(r.stdout).toContain('--batch-size N');
  });

  it('rejects an unknown command, a missing --model and an unknown option with exit 2', async () => {
    const unknown = await tabtune('frobnicate');
    expect([unknown.code, unknown.stderr]).toEqual([2, 'tabtune: unknown command "frobnicate"\nSee "tabtune --help".\n']);
    const missing = await tabtune('embed', '--texts', 'x.txt');
    expect([missing.code, missing.stderr]).toEqual([2, 'tabtune: missing --model DIR\nSee "tabtune embed --help".\n']);
    const option = await tabtune('embed', '--model', model, '--texts', 'x.txt', '--colour');
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/Unknown option '--colour'/);
    const backend = await tabtune('embed', '--model', model, '--texts', 'x.txt', '--backend', 'cuda');
    expect([backend.code, backend.stderr]).toEqual([2, 'tabtune: --backend must be one of node, wasm, got "cuda"\nSee "tabtune embed --help".\n']);
  });

  it('fails with exit 1 on a missing texts file or model folder, naming it', async () => {
    const noFile = await tabtune('embed', '--model', model, '--texts', 'nope.txt');
    expect([noFile.code, noFile.stderr]).toEqual([1, 'tabtune: error: cannot read --texts nope.txt: no such file\n']);
    writeFileSync(join(work, 'ok.txt'), 'hello\n');
    const noModel = await tabtune('embed', '--model', 'no-model', '--texts', 'ok.txt');
    expect([noModel.code, noModel.stderr]).toEqual([1, 'tabtune: error: --model no-model: no such folder\n']);
  });

  it('fails on blank lines, naming them, and writes nothing to stdout', async () => {
    writeFileSync(join(work, 'blank.txt'), 'hello world\n\nthe keldor\n   \n');
    const r = await tabtune('embed', '--model', model, '--texts', 'blank.txt');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('tabtune: error: blank.txt: blank lines 2, 4: each line must hold one text\n');
  });
});

describe('tabtune embed on the tiny BGE fixture (child process)', () => {
  const TEXTS = ['hello world', 'The KELDOR nests in reeds, playing zyzzyva!', 'the', Array(80).fill('river').join(' '), 'Hello world.'];

  /** The same engine run in this process, one text per batch (no padding at all). */
  async function direct(): Promise<number[][]> {
    const tok = loadTokenizerFromDir(model);
    const enc = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(model));
    try {
      const rows: number[][] = [];
      for (const t of TEXTS) rows.push(Array.from(await enc.encode(tok.encodeBatch([t]))));
      return rows;
    } finally {
      await enc.dispose();
    }
  }

  function maxDiff(a: number[][], b: number[][]): number {
    let m = 0;
    a.forEach((row, i) => row.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i][j])))));
    return m;
  }

  it('writes unit-norm embeddings in input order that match the engine run directly, on node and wasm', async () => {
    writeFileSync(join(work, 'texts.txt'), TEXTS.join('\n') + '\n');
    const want = await direct();
    for (const backend of ['node', 'wasm']) {
      const out = `emb-${backend}.json`;
      const r = await tabtune('embed', '--model', model, '--texts', 'texts.txt', '--batch-size', '2', '--backend', backend, '--out', out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(backend === 'node' ? 'onnxruntime-node' : 'onnxruntime-web');
      expect(r.stderr).toMatch(/100% 5\/5 texts/);
      const got = JSON.parse(readFileSync(join(work, out), 'utf8')) as { dim: number; embeddings: number[][] };
      expect(got.dim).toBe(32);
      expect(got.embeddings.map((e) => e.length)).toEqual([32, 32, 32, 32, 32]);
      for (const e of got.embeddings) expect(Math.hypot(...e)).toBeCloseTo(1, 5);
      // Batched with padding (and on another backend) vs one text at a time: float32 noise only.
      const diff = maxDiff(got.embeddings, want);
      console.log(`embed --backend ${backend}: max |Δ| vs direct engine = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(1e-5);
      // Distinct texts, distinct rows; the two spellings of "hello world" differ only by the ".".
      expect(maxDiff([got.embeddings[0]], [got.embeddings[4]])).toBeGreaterThan(1e-3);
    }
  });

  it('prints the JSON on stdout without --out', async () => {
    writeFileSync(join(work, 'one.txt'), 'hello world');
    const r = await tabtune('embed', '--model', model, '--texts', 'one.txt');
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { dim: number; embeddings: number[][] };
    expect(got.dim).toBe(32);
    expect(got.embeddings).toHaveLength(1);
    expect(maxDiff(got.embeddings, [(await direct())[0]])).toBeLessThan(1e-6);
  });
});

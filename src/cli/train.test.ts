// `tabtune train` as a user runs it (`node bin/tabtune.js train …` in a child process) on the
// fixtures: the written folder loads back, its trained tensors changed and the rest did not,
// test nDCG@10 rose well above the untrained model's, the log has a line per step, and --resume
// continues from the newest checkpoint.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../tests/fixtures/fixtures.ts';
import { parseSafetensors } from '../lib/models/safetensors.ts';
import { loadSentenceModelFromDir } from '../lib/models/sentence-model-node.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/tabtune.js');

function tabtune(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let work: string;
let f: ReturnType<typeof ensureFixtures>;
beforeAll(() => {
  f = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-train-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tabtune train', () => {
  it('trains qa-tiny, evaluates before/after and writes a loadable sentence-transformers folder', async () => {
    const out = join(work, 'run');
    // Sanity run: 8 epochs at batch 16 (80 steps, ~3 s), lr 2e-3, linear decay, no warmup.
    const r = await tabtune(['train', '--model', f.tinyBge, '--data', f.qaTiny, '--output', out, '--batchSize', '16', '--epochs', '8', '--lr', '2e-3', '--warmupRatio', '0', '--scheduler', 'linear']);
    expect(r.stderr).toMatch(/training path: fused/);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8'));
    const before = results.before['dim_32_cosine_ndcg@10'];
    const after = results.after['dim_32_cosine_ndcg@10'];
    console.log(`qa-tiny test nDCG@10 (dim 32): before ${before.toFixed(4)}, after ${after.toFixed(4)}`);
    expect(after).toBeGreaterThan(before + 0.2);
    expect(readFileSync(join(out, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(80);
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/dim_32_cosine_ndcg@10/);

    const trained = loadSentenceModelFromDir(out);
    const base = loadSentenceModelFromDir(f.tinyBge);
    expect(trained.pooling).toBe('cls');
    expect(trained.normalize).toBe(true);
    let changed = 0;
    for (const [name, w] of base.weights) {
      const t = trained.weights.get(name)!;
      const same = t.data.every((x, i) => x === w.data[i]);
      if (name.startsWith('pooler.')) expect(same, name).toBe(true);
      else if (!same) changed++;
    }
    expect(changed).toBeGreaterThan(30);
    const src = parseSafetensors(new Uint8Array(readFileSync(join(f.tinyBge, 'model.safetensors'))));
    const dst = parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
    expect([...dst.tensors.keys()].sort()).toEqual([...src.tensors.keys()].sort());
    for (const file of ['tokenizer.json', 'vocab.txt', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) {
      expect(readFileSync(join(out, file)).equals(readFileSync(join(f.tinyBge, file))), file).toBe(true);
    }
    expect(existsSync(join(out, '2_Normalize'))).toBe(true);
  });

  it('--resume continues from the newest checkpoint and ends like an uninterrupted run', async () => {
    const common = ['--model', f.tinyBge, '--data', f.qaTiny, '--batchSize', '16', '--lr', '1e-3', '--no-eval.before', '--no-eval.after', '--quiet', '--checkpoint-every', '2'];
    const full = join(work, 'full');
    expect((await tabtune(['train', ...common, '--maxSteps', '4', '--output', full])).code).toBe(0);
    const part = join(work, 'part');
    // A run interrupted after step 2: train with checkpoints, drop everything after step 2, resume.
    expect((await tabtune(['train', ...common, '--maxSteps', '4', '--output', part])).code).toBe(0);
    rmSync(join(part, 'checkpoints', 'checkpoint-4.safetensors'));
    rmSync(join(part, 'model.safetensors'));
    const r = await tabtune(['train', ...common, '--maxSteps', '4', '--output', part, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resumed from .*checkpoint-2\.safetensors at step 2/);
    const a = parseSafetensors(new Uint8Array(readFileSync(join(full, 'model.safetensors'))));
    const b = parseSafetensors(new Uint8Array(readFileSync(join(part, 'model.safetensors'))));
    for (const [name, t] of a.tensors) expect(b.tensors.get(name)!.data, name).toEqual(t.data);
    expect(readFileSync(join(part, 'train_log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
  });
});

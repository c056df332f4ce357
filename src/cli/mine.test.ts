// `tabtune mine` as a user runs it, then training on what it wrote: the fixture model mines hard
// negatives for qa-tiny's train and test splits (triplet and n-tuple), the rows keep anchor and
// positive and never use an anchor's own positive; `tabtune train` on the mined folder maps the
// negatives by name and trains MNRL with two negative columns and TripletLoss, each in Matryoshka,
// and reports the triplet evaluator beside the IR one (stderr, eval_results.json, the card).

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../../tests/fixtures/fixtures.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/tabtune.js');
let f: FixturePaths;
let work: string;

function tabtune(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [BIN, ...args], { timeout: 240_000, env: { ...process.env, TABTUNE_CACHE: join(work, 'cache') } }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}
const readJsonl = (p: string) => readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

beforeAll(() => {
  f = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-mine-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tabtune mine', () => {
  it('writes triplets that keep anchor and positive and never use an anchor\'s own positive', async () => {
    const out = join(work, 'triplets.jsonl');
    const r = await tabtune(['mine', '--model', f.tinyBge, '--data', f.qaTiny, '--out', out, '--num-negatives', '2', '--range-min', '1', '--scores']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Metric +Positive +Negative +Difference$/m);
    expect(r.stderr).toMatch(/^Count +160 +320/m);
    const rows = readJsonl(out);
    expect(rows).toHaveLength(320);
    expect(Object.keys(rows[0])).toEqual(['anchor', 'positive', 'negative', 'scores']);
    const positivesOf = new Map<string, Set<string>>();
    for (const l of readJsonl(join(f.qaTiny, 'train.jsonl'))) positivesOf.set(l.question, (positivesOf.get(l.question) ?? new Set()).add(l.doc));
    for (const row of rows) {
      expect(positivesOf.get(row.anchor)?.has(row.positive)).toBe(true);
      expect(positivesOf.get(row.anchor)!.has(row.negative)).toBe(false);
      expect(row.scores[1]).toBeLessThanOrEqual(1);
    }
  });

  it('mined train and test splits train MNRL with two negatives and TripletLoss, and the triplet evaluator reports', async () => {
    const mined = async (format: 'n-tuple' | 'triplet') => {
      const data = join(work, `mined-${format}`);
      mkdirSync(data, { recursive: true });
      for (const split of ['train', 'test']) {
        const r = await tabtune(['mine', '--model', f.tinyBge, '--data', f.qaTiny, '--split', split, '--out', join(data, `${split}.jsonl`), '--num-negatives', '2', '--format', format]);
        expect(r.code, r.stderr).toBe(0);
      }
      return data;
    };
    const tuples = await mined('n-tuple');
    const triplets = await mined('triplet');
    expect(Object.keys(readJsonl(join(tuples, 'test.jsonl'))[0])).toEqual(['anchor', 'positive', 'negative_1', 'negative_2']);

    for (const [name, loss, data, columns] of [
      ['mnrl', '{"type":"mnrl","matryoshka":{"dims":[32,16]}}', tuples, 'anchor=anchor, positive=positive, negative=negative_1,negative_2'],
      ['triplet', '{"type":"triplet","matryoshka":{"dims":[32,16]}}', triplets, 'anchor=anchor, positive=positive, negative=negative'],
    ] as const) {
      const out = join(work, `trained-${name}`);
      const args = ['train', '--model', f.tinyBge, '--data', data, '--output', out, '--loss', loss, '--batchSize', '8', '--maxSteps', '4', '--lr', '1e-3', '--quiet'];
      if (name === 'mnrl') args.push('--gradCache.miniBatchSize', '4');
      const r = await tabtune(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`columns ${columns} (detected)`);
      expect(r.stderr).toMatch(/^before: triplet accuracy \(80 triplets\) dim 32 0\.\d{4}, dim 16 0\.\d{4}$/m);
      const results = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8'));
      for (const k of ['dim_32_cosine_accuracy', 'dim_16_cosine_accuracy', 'dim_32_cosine_ndcg@10']) expect(typeof results.after[k], `${name}: ${k}`).toBe('number');
      const card = readFileSync(join(out, 'README.md'), 'utf8');
      expect(card).toMatch(/Triplet accuracy \(cosine.*\) on 80 test triplets/);
      expect(card).toMatch(/type: triplet/);
    }
  });
});

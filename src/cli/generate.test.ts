// `tabtune generate` end to end on the fixture decoder (tests/fixtures/tiny-decoder.ts) served by
// the local Hub: its pairs are those that transformers.js, run directly in Node on the same model,
// decodes greedily (parsed and deduped as questions.ts says); a cancel mid-run, a truncated last
// line and a resume give the same file as an uninterrupted run, the consistency filter included;
// a BERT model is refused as the generator; a partial file made with other settings is not
// continued. The set's card written beside the file (FILE.card.md) carries its record, and
// `tabtune train --data FILE` → `tabtune export` writes a model card that names the generator,
// the documents and the filter (docs/generate.md#the-trained-models-card); a file edited after
// generation is not credited to it.

import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQaDataset } from '../../tests/fixtures/dataset.ts';
import { loadDirectDecoder } from '../../tests/fixtures/direct-decoder.ts';
import { ensureFixtures, type FixturePaths } from '../../tests/fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../../tests/hub/local-hub.ts';
import { DEFAULT_PROMPT_TEMPLATE, QuestionDeduper, questionsFor, render } from '../lib/generate/questions.ts';
import { parseGenerationRecord } from '../lib/generate/generated-set.ts';
import { generateCommand, readPartial } from './generate.ts';
import { loadDataSource } from './sources.ts';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../bin/tabtune.js');
let work: string;
let fx: FixturePaths;
let hub: LocalHub;
let docsFile: string;
const DOCS = [...new Set(buildQaDataset().docs)].slice(0, 8);

function tabtune(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const env = { ...process.env, TABTUNE_CACHE: join(work, 'cache'), TABTUNE_HUB_URL: hub.url };
    execFile(process.execPath, [BIN, ...args], { cwd: work, timeout: 120_000, env }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** An in-process run (for the AbortSignal); the Hub cache set as the child processes have it. */
async function inProcess(args: string[], signal?: AbortSignal): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = { write: (s: string) => ((stderr += s), true) };
  const saved = process.env.TABTUNE_CACHE;
  process.env.TABTUNE_CACHE = join(work, 'cache');
  try {
    const code = await generateCommand(args, { stdout: sink, stderr: sink }, { signal });
    return { code, stderr };
  } catch (e) {
    return { code: 1, stderr: stderr + String((e as Error).message) };
  } finally {
    if (saved === undefined) delete process.env.TABTUNE_CACHE;
    else process.env.TABTUNE_CACHE = saved;
  }
}

beforeAll(async () => {
  fx = ensureFixtures();
  work = mkdtempSync(join(tmpdir(), 'tabtune-generate-'));
  hub = await startLocalHub({ models: { 'tabtune-fixtures/tiny-decoder': fx.tinyDecoder, 'org/tiny-bge': fx.tinyBge }, datasets: { 'org/qa': fx.qaTiny } });
  docsFile = join(work, 'docs.txt');
  writeFileSync(docsFile, DOCS.join('\n') + '\n');
}, 60_000);

afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

const jsonl = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);

/** The filtered run the resume test and the card test share (local folders, fp32). */
const args = (out: string) => ['--docs', docsFile, '--model', fx.tinyDecoder, '--dtype', 'fp32', '--out', out, '--max-new-tokens', '24', '--filter-model', fx.tinyBge, '--filter-top-k', '3'];
const whole = () => join(work, 'whole.jsonl');

describe('tabtune generate', () => {
  it('writes the questions transformers.js decodes greedily on the same model, fetched from the Hub', async () => {
    const out = join(work, 'greedy.jsonl');
    const r = await tabtune('generate', '--docs', docsFile, '--model', 'tabtune-fixtures/tiny-decoder', '--out', out, '--max-new-tokens', '20', '--per-doc', '2');
    expect(r.stderr).toContain('generator: tabtune-fixtures/tiny-decoder@main (q8, onnxruntime-node CPU), greedy, at most 20 new tokens, 2 questions per document');
    expect(r.code).toBe(0);
    expect(existsSync(`${out}.partial`)).toBe(false);

    const direct = await loadDirectDecoder(fx.tinyDecoder, 'q8');
    const deduper = new QuestionDeduper();
    const expected: Record<string, string>[] = [];
    for (const [i, doc] of DOCS.entries()) {
      const id = String(i + 1); // a .txt file's documents are numbered by line
      const answer = (await direct.greedy(render(DEFAULT_PROMPT_TEMPLATE, { document: doc, n: 2 }), 20)).text;
      for (const q of questionsFor(answer, { chunkId: `${id}#0`, documentId: id }, 2, deduper)) {
        expected.push({ anchor: q.question, positive: doc, id: `${id}#0`, document_id: id });
      }
    }
    await direct.dispose();
    expect(expected.length).toBeGreaterThanOrEqual(DOCS.length);
    expect(jsonl(out)).toEqual(expected);
  }, 120_000);

  it('cancel, a truncated line and resume give the file of an uninterrupted run, filter included', async () => {
    const w = await inProcess(args(whole()));
    expect(w.stderr).toMatch(/filter: kept \d+ of \d+ pairs \(document in the question's top 3 by /);
    expect(w.stderr).toContain('(fp32, onnxruntime-node CPU)');
    expect(w.code).toBe(0);

    const cut = join(work, 'cut.jsonl');
    const abort = new AbortController();
    // Cancel once two documents are in the partial file (header + 2 lines).
    const poll = setInterval(() => {
      if (existsSync(`${cut}.partial`) && readFileSync(`${cut}.partial`, 'utf8').split('\n').length > 3) abort.abort();
    }, 2);
    const first = await inProcess(args(cut), abort.signal);
    clearInterval(poll);
    expect(first.stderr).toContain('run the same command again to resume');
    expect(first.code).toBe(130);
    expect(existsSync(cut)).toBe(false);
    const stored = readPartial(readFileSync(`${cut}.partial`, 'utf8'), 'p').rows;
    expect(stored.length).toBeGreaterThanOrEqual(2);
    expect(stored.length).toBeLessThan(DOCS.length);
    // A kill in the middle of a write leaves half a line.
    appendFileSync(`${cut}.partial`, '{"chunkId":"8#0","documentId":"8","questions":["half a');

    const second = await inProcess(args(cut));
    expect(second.stderr).toContain(`resuming: ${stored.length} of ${DOCS.length} documents already done`);
    expect(second.stderr).toContain('a truncated last line was dropped');
    expect(second.code).toBe(0);
    expect(readFileSync(cut, 'utf8')).toBe(readFileSync(whole(), 'utf8'));
    expect(existsSync(`${cut}.partial`)).toBe(false);
  }, 120_000);

  it('writes the set\'s card beside it, and a model trained on the file names the generator in its card', async () => {
    if (!existsSync(whole())) expect((await inProcess(args(whole()))).code).toBe(0);
    const pairs = jsonl(whole()).length;
    const card = join(work, 'whole.card.md');
    const record = parseGenerationRecord(readFileSync(card, 'utf8'))!;
    expect(record).toMatchObject({ source: 'docs.txt', generator: { model: 'tiny-decoder', decoding: 'greedy', maxNewTokens: 24 }, filter: { model: 'tiny-bge', topK: 3 } });
    expect(record.counts).toMatchObject({ documents: DOCS.length, chunks: DOCS.length, train: pairs, test: 0 });
    expect(readFileSync(card, 'utf8')).toContain('  - split: train\n    path: whole.jsonl\n');

    const run = join(work, 'card-run');
    const exported = join(work, 'card-export');
    const t = await tabtune('train', '--model', fx.tinyBge, '--data', whole(), '--output', run, '--batchSize', '4', '--maxSteps', '2', '--no-eval.before', '--no-eval.after', '--quiet');
    expect(t.stderr).toContain(`whole.jsonl: generated by "tiny-decoder" (its card ${card}); the model card names it`);
    expect(t.code).toBe(0);
    const e = await tabtune('export', '--model', run, '--out', exported);
    expect(e.code).toBe(0);
    const readme = readFileSync(join(exported, 'README.md'), 'utf8');
    expect(readme).toContain(` on ${pairs} (question, passage) pairs that \`tiny-decoder\` wrote for ${DOCS.length} chunks of ${DOCS.length} documents from \`docs.txt\`, kept by the consistency filter (the passage in the question's top 3 by \`tiny-bge\`; ${record.counts.filtered} dropped) with `);
    expect(readme).toContain('\n- Data: 3 questions asked per chunk (greedy decoding, at most 24 new tokens)');
    expect(readme).not.toContain(work);

    // A file edited after generation is not credited to the generator.
    const edited = join(work, 'edited.jsonl');
    writeFileSync(edited, readFileSync(whole(), 'utf8').split('\n').slice(1).join('\n'));
    writeFileSync(join(work, 'edited.card.md'), readFileSync(card));
    const d = await loadDataSource(edited, { hubUrl: hub.url, stderr: { write: () => true } });
    expect(d.generated).toBeNull();
    expect(d.cardProblem).toBe(`${join(work, 'edited.card.md')} describes ${pairs} pairs, edited.jsonl holds ${pairs - 1} rows; the model card names the file only`);
  }, 120_000);

  it('reads the documents from a column of a Hub data set split', async () => {
    const out = join(work, 'hub-docs.jsonl');
    const r = await inProcess(['--docs', 'org/qa', '--split', 'test', '--column', 'doc', '--model', fx.tinyDecoder, '--out', out, '--max-new-tokens', '3', '--per-doc', '1', '--hub', hub.url]);
    expect(r.stderr).toContain('documents: 40 from org/qa (default/test) (column doc)');
    expect(r.code).toBe(0);
    const rows = jsonl(out);
    const docs = new Set(buildQaDataset().docs);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => docs.has(row.positive) && row.id === `${row.document_id}#0`)).toBe(true);
  }, 120_000);

  it('refuses a BERT model as the generator, and a partial file made with other settings', async () => {
    const empty = join(work, 'empty.txt');
    writeFileSync(empty, '\n \n');
    const none = await inProcess(['--docs', empty, '--model', fx.tinyDecoder, '--out', join(work, 'none.jsonl')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/empty\.txt.*no documents/);

    const bert = await tabtune('generate', '--docs', docsFile, '--model', 'org/tiny-bge', '--out', join(work, 'bert.jsonl'));
    expect(bert.code).toBe(1);
    expect(bert.stderr).toContain('org/tiny-bge@main is a bert model (BertModel), not a text-generation (causal LM) model');

    const out = join(work, 'other.jsonl');
    const abort = new AbortController();
    abort.abort();
    expect((await inProcess(['--docs', docsFile, '--model', fx.tinyDecoder, '--out', out, '--max-new-tokens', '8'], abort.signal)).code).toBe(130);
    const again = await inProcess(['--docs', docsFile, '--model', fx.tinyDecoder, '--out', out, '--max-new-tokens', '9']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${out}.partial was made with other settings (maxNewTokens: 8 → 9)`);
    expect((await inProcess(['--docs', docsFile, '--model', fx.tinyDecoder, '--out', out, '--per-doc', '0'])).stderr).toContain('--per-doc must be a whole number from 1 to 50');
  }, 120_000);
});

// "I have only documents", end to end in the browser with the fixture models on the local Hub: a
// .txt of documents (one per line; an empty one, a number column and a BERT as generator each
// refused with a message) chunked to the tiny BERT's length and previewed; questions
// generated in the generation worker by the tiny random decoder (WASM: the browser has no WebGPU
// adapter here), cancelled after a few documents, resumed after a reload from what IndexedDB kept
// and finished; the consistency filter (kept + dropped = generated; dropped examples shown); the
// kept pairs as step 2's data set (test split cut here), trained and evaluated; the set downloaded
// as JSONL and pushed to the local Hub as a data set repo with its card, then loaded back from
// the Hub as any data set (and its column read as documents); the model trained on it exported
// with a card that names the generator, the documents, the filter and the pushed repo; the preset on a finished job and the
// set in the Storage panel; the panel filled in passes axe and fits 390 px. The page's greedy
// questions equal transformers.js' own greedy decoding in Node on the same documents. Runs in
// Firefox too (the `firefox` project).

import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.js';
import { DEFAULT_MODEL_ID } from '../../src/lib/config.ts';
import { DEFAULT_PROMPT_TEMPLATE, QuestionDeduper, questionsFor, render } from '../../src/lib/generate/questions.ts';
import { buildQaDataset } from '../fixtures/dataset.ts';
import { loadDirectDecoder } from '../fixtures/direct-decoder.ts';
import { ensureFixtures } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { ARTIFACTS_DIR, axeViolationsOn, ENGINES, launchEngine, overflowingAt, serveDist, type EngineSession } from './browser.ts';

const DECODER_ID = 'tabtune-fixtures/tiny-decoder';
const TOKEN = 'hf_generated_set_writer';
const PUSHED = 'tester/generated-questions';
const DOCUMENTS = 16;
/** The fixture decoder without its q8 file, so the page runs fp32 (see directGreedyQuestions). */
let decoderFp32: string;
let site: StaticServer;
let hub: LocalHub;
let session: EngineSession | null = null;
const engine = ENGINES[0];
const shot = (name: string) => join(ARTIFACTS_DIR, engine === 'chromium' ? name : `${engine}-${name}`);

beforeAll(async () => {
  const paths = ensureFixtures();
  site = await serveDist(true);
  decoderFp32 = join(await mkdtemp(join(tmpdir(), 'tabtune-decoder-')), 'tiny-decoder');
  await cp(paths.tinyDecoder, decoderFp32, { recursive: true });
  await rm(join(decoderFp32, 'onnx/model_quantized.onnx'));
  hub = await startLocalHub({ models: { [DEFAULT_MODEL_ID]: paths.tinyBge, [DECODER_ID]: decoderFp32 }, tokens: { [TOKEN]: { user: 'tester', write: ['tester'] } } });
  await mkdir(ARTIFACTS_DIR, { recursive: true });
});
afterAll(async () => {
  if (decoderFp32) await rm(dirname(decoderFp32), { recursive: true, force: true });
  await hub?.close();
  await site?.close();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await session?.page.screenshot(shot('generate-failed.png'), { fullPage: true }).catch(() => undefined);
  await session?.close();
  session = null;
});

/**
 * transformers.js on its own in Node (onnxruntime-node), greedy, on each document with the default
 * prompt, read by our parser and dedupe: question → its document. fp32 on both sides: the fixture's
 * q8 form (int8 weights behind DequantizeLinear) is fused differently by onnxruntime's graph
 * optimisations (native at level "all" and "disabled" already decode differently), fp32 is not.
 */
async function directGreedyQuestions(decoder: string, docs: readonly string[], perDoc: number, maxNewTokens: number): Promise<Map<string, string>> {
  const direct = await loadDirectDecoder(decoder, 'fp32');
  const deduper = new QuestionDeduper();
  const out = new Map<string, string>();
  for (const [i, doc] of docs.entries()) {
    const answer = (await direct.greedy(render(DEFAULT_PROMPT_TEMPLATE, { document: doc, n: perDoc }), maxNewTokens)).text;
    for (const q of questionsFor(answer, { chunkId: `${i}#0`, documentId: String(i) }, perDoc, deduper)) out.set(q.question, doc);
  }
  await direct.dispose();
  return out;
}

describe(`documents only → questions → fine-tune (${engine})`, () => {
  it('generates, cancels, resumes after a reload, filters, trains, evaluates, downloads, pushes and loads the set back', async () => {
    session = await launchEngine(engine, { webgpu: false });
    const { page } = session;
    const num = async (t: string) => Number(await page.text(t));
    await page.goto(`${site.url}?hub=${encodeURIComponent(hub.url)}`);
    await page.waitFor('model-download', { timeout: 30_000 });
    await page.click('model-download');
    await page.waitFor('model-loaded', { timeout: 60_000 });

    // Documents: one per line, chunked to the tiny BERT's length, previewed.
    const docs = buildQaDataset().docs.slice(0, DOCUMENTS);
    await page.click('documents-only');
    // Bad inputs first, each with its message: an empty file, a column that is not text.
    await page.setInputFiles('documents-file', { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.from('\n \n') });
    await page.waitFor('documents-error', { text: /empty\.txt/, timeout: 30_000 });
    expect(await page.text('documents-error')).toMatch(/no documents|empty/i);
    await page.fill('documents-file-column', 'n');
    await page.setInputFiles('documents-file', { name: 'numbers.csv', mimeType: 'text/csv', buffer: Buffer.from('n,text\n1,a b\n2,c d\n') });
    await page.waitFor('documents-error', { text: /numbers\.csv.*"n"/, timeout: 30_000 });
    await page.fill('documents-file-column', '');
    await page.setInputFiles('documents-file', { name: 'docs.txt', mimeType: 'text/plain', buffer: Buffer.from(`${docs.join('\n')}\n`) });
    await page.waitFor('documents-loaded', { timeout: 30_000 });
    expect(await page.text('documents-loaded')).toMatch(new RegExp(`docs\\.txt · ${DOCUMENTS} documents`));
    expect(await num('documents-chunks')).toBe(DOCUMENTS); // each fits the model's length
    expect(await num('documents-chunk-tokens')).toBeGreaterThan(0);
    expect(await page.count('[data-testid=documents-preview] tbody tr')).toBe(5);

    // A model that is not a text-generation model is refused by name, and leaves no job behind
    // (checked in the Storage panel below).
    await page.fill('generate-model', DEFAULT_MODEL_ID);
    await page.click('generate-start');
    await page.waitFor('generate-error', { text: /not a text-generation \(causal LM\) model/, timeout: 30_000 });

    // Generation with the tiny decoder, greedy; cancelled after a few documents.
    await page.fill('generate-model', DECODER_ID);
    await page.fill('generate-per-doc', '2');
    await page.fill('generate-max-tokens', '24');
    // Cancel is pressed from inside the page as soon as two documents are done: the tiny model
    // writes a document in tens of milliseconds, faster than a round trip from the test.
    await page.evaluate(() => {
      const watch = new MutationObserver(() => {
        const done = Number(document.querySelector('[data-testid=generate-progress]')?.getAttribute('data-done') ?? 0);
        const cancel = document.querySelector<HTMLButtonElement>('[data-testid=generate-cancel]');
        if (done >= 2 && cancel) {
          watch.disconnect();
          cancel.click();
        }
      });
      watch.observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.click('generate-start');
    await page.waitFor('generate-progress', { timeout: 60_000 });
    expect(await page.text('generate-device')).toMatch(/^On wasm \(\w+\): WASM/);
    await page.waitFor('generate-done', { attr: ['data-status', 'cancelled'], timeout: 60_000 });
    const stopped = Number(/for (\d+) of 16 documents/.exec((await page.text('generate-done')) ?? '')?.[1]);
    expect(stopped).toBeGreaterThanOrEqual(2);
    expect(stopped).toBeLessThan(DOCUMENTS);
    expect(await page.text('generate-progress')).toMatch(/documents\/s · [\d.]+ tokens\/s · ETA/);
    // The model's files came through our Hub code (the store), not transformers.js' own fetches.
    expect(hub.requests.some((r) => r.url.includes(`/api/models/${DECODER_ID}`))).toBe(true);

    // A reload: the job is in IndexedDB; Resume carries on after the stored documents.
    await page.reload();
    await page.waitFor('model-download', { timeout: 30_000 });
    await page.click('model-download');
    await page.waitFor('model-loaded', { timeout: 60_000 });
    await page.click('documents-only');
    await page.waitFor('generate-unfinished', { timeout: 30_000 });
    expect(await page.count('generate-unfinished')).toBe(1);
    expect(await page.text('generate-unfinished')).toMatch(new RegExp(`docs\\.txt with ${DECODER_ID}, ${stopped} of 16 documents stored`));
    await page.click('generate-resume');
    await page.waitFor('generate-done', { attr: ['data-status', 'done'], timeout: 120_000 });
    expect(await page.text('generate-progress')).toMatch(new RegExp(`16 of 16 documents .*resumed after ${stopped}`));
    const generated = Number(/(\d+) questions for 16 of 16/.exec((await page.text('generate-done')) ?? '')?.[1]);
    expect(generated).toBeGreaterThan(DOCUMENTS / 2);

    // The consistency filter, k = 8 of 16 chunks: some pairs kept, some dropped, all accounted for.
    await page.fill('filter-k', '8');
    await page.click('filter-start');
    await page.waitFor('filter-done', { timeout: 60_000 });
    const kept = await num('filter-kept');
    const dropped = await num('filter-dropped');
    expect(kept + dropped).toBe(generated);
    expect(kept).toBeGreaterThan(0);
    if (dropped) expect(await page.count('[data-testid=filter-dropped-examples] tbody tr')).toBeGreaterThan(0);
    // Step 2's data set now: the generated one, its test split cut here.
    const loaded = (await page.text('data-loaded')) ?? '';
    expect(loaded).toMatch(/generated:[0-9a-f]{16}/);
    const [, train, test] = /(\d+) train \/ (\d+) test/.exec(loaded)!.map(Number);
    expect(train + test).toBe(kept);
    expect(test).toBeGreaterThan(0);

    // The panel, filled in: accessible, and it fits a 390 px screen.
    await page.setViewport(390, 900);
    expect(await overflowingAt(page, 390)).toEqual([]);
    expect(await axeViolationsOn(page)).toEqual([]);
    await page.setViewport(1000, 800);

    // The set as a file.
    const file = await page.download('generated-jsonl');
    expect(file.name).toMatch(/\.jsonl$/);
    const lines = file.bytes.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBe(kept);
    expect(Object.keys(lines[0])).toEqual(expect.arrayContaining(['anchor', 'positive']));
    // The page's greedy questions (cancelled, resumed after a reload, filtered) are transformers.js'
    // own greedy decoding in Node: as many before the filter, and each kept one for its document.
    const direct = await directGreedyQuestions(decoderFp32, docs, 2, 24);
    expect(generated).toBe(direct.size);
    for (const l of lines) expect(direct.get(l.anchor as string), l.anchor as string).toBe(l.positive);

    // Pushed to the Hub as a data set with its card (loaded back from there below).
    await page.fill('generated-push-repo', PUSHED);
    await page.fill('generated-push-token', TOKEN);
    await page.click('generated-push');
    await page.waitFor('generated-push-done', { timeout: 60_000 });
    expect(await page.text('generated-push-done')).toContain(`datasets/${PUSHED}`);

    // Train and evaluate on it, as on a loaded file.
    await page.fill('cfg-epochs', '1');
    await page.fill('cfg-batch', '4');
    await page.click('train-start');
    await page.waitFor('train-live', { attr: ['data-status', 'done'], timeout: 180_000 });
    expect(await page.count('[data-testid=eval-table] tbody tr')).toBe(1);
    const [before, after] = (await page.texts('[data-testid=eval-table] tbody tr:first-child td')).slice(1, 3).map(Number);
    for (const v of [before, after]) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(1);

    // The trained model's card names the set from its record: generator, documents, filter, pushed repo.
    const item = (t: string) => `[data-testid=model-item] [data-testid=${t}]`;
    await page.click(item('model-export'));
    await page.check(item('export-int8'), false);
    await page.check(item('export-onnx'), false);
    const zip = await page.download(item('export-zip'), 60_000);
    const card = strFromU8(unzipSync(new Uint8Array(zip.bytes))['README.md']);
    expect(card).toContain(` on ${kept} (question, passage) pairs that [${DECODER_ID}@main](https://huggingface.co/${DECODER_ID}) wrote for `);
    expect(card).toContain(
      ` chunks of 16 documents from \`docs.txt\`, ` +
        `kept by the consistency filter (the passage in the question's top 8 by [${DEFAULT_MODEL_ID}@main](https://huggingface.co/${DEFAULT_MODEL_ID}); ${dropped} dropped), ` +
        `published as [${PUSHED}](https://huggingface.co/datasets/${PUSHED}) with `,
    );
    expect(card).toContain(`datasets:\n- "${PUSHED}"\n`);

    await page.fill('data-id', PUSHED);
    await page.click('data-load');
    await page.waitFor('data-loaded', { text: new RegExp(PUSHED), timeout: 60_000 });
    expect(await page.text('data-loaded')).toMatch(new RegExp(`${train} train / ${test} test`));
    // The trained model is named after the set it was trained on.
    expect(await page.text('[data-testid=model-item] [data-testid=model-name]')).toMatch(/· generated:[0-9a-f]{16}$/);

    // Documents from a Hub data set's column: the pushed set's chunks (each kept chunk once per question).
    await page.fill('documents-hub-id', PUSHED);
    await page.fill('documents-hub-column', 'positive');
    await page.click('documents-hub-load');
    await page.waitFor('documents-loaded', { text: new RegExp(`${PUSHED}.*positive.* · ${train} documents`), timeout: 30_000 });

    // The preset on the documents file with the first job's options: that job is complete, so it
    // filters at once and sets the seed's recipe (4 epochs, MNRL) for the kept pairs.
    await page.setInputFiles('documents-file', { name: 'docs.txt', mimeType: 'text/plain', buffer: Buffer.from(`${docs.join('\n')}\n`) });
    await page.waitFor('documents-loaded', { text: /docs\.txt/, timeout: 30_000 });
    await page.fill('generate-model', DECODER_ID);
    await page.fill('generate-per-doc', '2');
    await page.fill('generate-max-tokens', '24');
    await page.click('preset-documents');
    await page.waitFor('filter-done', { timeout: 60_000 });
    expect(await page.text('generate-done')).toMatch(new RegExp(`${generated} questions for 16 of 16 documents`));
    expect(await page.value('cfg-epochs')).toBe('4');
    expect(await page.value('cfg-loss')).toBe('mnrl');
    const jobId = /generated:([0-9a-f]{16})/.exec((await page.text('data-loaded')) ?? '')?.[1];
    // Kept in IndexedDB as one group of the Storage panel, beside the generator's files.
    await expect.poll(() => page.text('storage-groups'), { timeout: 10_000 }).toContain(`dataset/local/generated:${jobId}`);
    expect(await page.text('storage-groups')).toContain(`${DECODER_ID}@main`);
    // …and only it: the job prepared for the refused model went when its model did not load.
    expect((await page.text('storage-groups'))?.match(/dataset\/local\/generated:/g)).toHaveLength(1);
    await page.screenshot(shot('generate.png'), { fullPage: true });
    expect(session.errors).toEqual([]);
  }, 120_000);
});

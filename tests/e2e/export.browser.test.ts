// The ways out of the page, in Debian's Chromium against the local Hub, checked against the CLI
// and against the model's own users: the same run trained through the page and through
// `tabtune train` (WASM both); the page's zip (ONNX fp32 + int8) unpacks to exactly the files
// `tabtune export --onnx --quantize` writes, and transformers.js in Node embeds with it as
// `tabtune embed` does; the page pushes the model to the local Hub (a refused token first, with
// its message), offers the demo link, and the demo page (`?demo=`) loads the pushed model with
// transformers.js and returns the same top 10 for a test query as our evaluator; the retrieval
// explorer shows the base and trained models' top 10 for that query as our evaluator ranks them.
// Then a crafted link: a token remembered for this Hub is not offered on a page opened with
// `?hub=` at another local Hub that logs every request, the page names that Hub, no request to
// it carries the token, and the `javascript:` URL it answers a push with is shown as text.
// The first test (zip, push, demo link, explorer) runs in Firefox too (the `firefox` project):
// one body through `TestPage`; the crafted-link test is Chromium's.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.js';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID } from '../../src/lib/config.ts';
import { hubId as hubIdOf } from '../../src/lib/store/store.ts';
import { prepareDataset } from '../../src/lib/data/dataset.ts';
import { parseDataFile } from '../../src/lib/data/parse.ts';
import { evaluateModel } from '../../src/lib/eval/evaluate-model.ts';
import { buildIrSet } from '../../src/lib/eval/ir-set.ts';
import { BertEncoder } from '../../src/lib/models/encoder.ts';
import { loadSentenceModelFromDir } from '../../src/lib/models/sentence-model-node.ts';
import { createRuntime } from '../../src/lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../../src/lib/tokenize/node.ts';
import { ensureFixtures, type FixturePaths } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from '../hub/local-hub.ts';
import { ARTIFACTS_DIR, axeViolationsOn, ENGINES, launchEngine, probeCsp, REPO_ROOT, serveDist, type EngineSession } from './browser.ts';

const TOKEN = 'hf_page_write_token';
const RUN_FLAGS = { batchSize: '16', epochs: '1', lr: '0.0005', backend: 'wasm' };

let paths: FixturePaths;
let hub: LocalHub;
let otherHub: LocalHub | undefined;
let site: StaticServer;
let session: EngineSession;
const engine = ENGINES[0];
const shot = (name: string) => join(ARTIFACTS_DIR, engine === 'chromium' ? name : `${engine}-${name}`);
let work: string;
let cliRun: string;
let cliExport: string;

function tabtune(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done) =>
    execFile(process.execPath, [join(REPO_ROOT, 'bin/tabtune.js'), ...args], { timeout: 300_000, env: { ...process.env, TABTUNE_CACHE: join(work, 'cache'), TABTUNE_HUB_URL: hub.url } }, (err, _o, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
}

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

/** Our evaluator's top 10 (document texts) for the first test query, with a model folder. */
async function evaluatorTop10(modelDir: string): Promise<{ query: string; texts: string[] }> {
  const table = async (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(await readFile(join(paths.qaTiny, `${split}.jsonl`))));
  const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: DEFAULT_DATASET_ID });
  const set = buildIrSet(data.train, data.test);
  const encoder = await BertEncoder.create(await createRuntime('node'), loadSentenceModelFromDir(modelDir));
  try {
    const r = await evaluateModel({ encoder, tokenizer: loadTokenizerFromDir(modelDir), set, dims: [32], topHits: 10 });
    const hits = r.evaluators[0].hits!.cosine![0];
    return { query: [...set.queries.values()][0], texts: hits.ids.map((id) => set.corpus.get(id)!) };
  } finally {
    await encoder.dispose();
  }
}

beforeAll(async () => {
  paths = ensureFixtures();
  work = await mkdtemp(join(tmpdir(), 'tabtune-export-browser-'));
  hub = await startLocalHub({
    models: { [DEFAULT_MODEL_ID]: paths.tinyBge }, datasets: { [DEFAULT_DATASET_ID]: paths.qaTiny },
    tokens: { [TOKEN]: { user: 'me', write: ['me'] } },
  });
  site = await serveDist(true);
  cliRun = join(work, 'cli-run');
  const flags = Object.entries(RUN_FLAGS).flatMap(([k, v]) => [`--${k}`, v]);
  const t = await tabtune(['train', '--model', DEFAULT_MODEL_ID, '--data', DEFAULT_DATASET_ID, '--output', cliRun, '--quiet', ...flags]);
  expect(t.code, t.stderr).toBe(0);
  cliExport = join(work, 'cli-export');
  const e = await tabtune(['export', '--model', cliRun, '--out', cliExport, '--onnx', '--quantize', '--backend', 'wasm']);
  expect(e.code, e.stderr).toBe(0);
  session = await launchEngine(engine, { webgpu: false });
}, 600_000);

afterAll(async () => {
  await session?.close();
  await site?.close();
  await hub?.close();
  await otherHub?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await session?.page.screenshot(shot(`export-failed-${ctx.task.name.slice(0, 20).replace(/\W+/g, '-')}.png`), { fullPage: true }).catch(() => undefined);
});

/** A data row that would run script if a page put it in as HTML. */
const XSS = '<img src=x onerror=alert(1)>';

describe(`the trained model leaves the page (${engine})`, () => {
  it('zips what tabtune export writes, pushes to the Hub, and the demo link and the explorer rank as our evaluator', async () => {
    const { page } = session;
    /** The first model item's element with this test id. */
    const item = (t: string) => `[data-testid=model-item] [data-testid=${t}]`;
    await page.goto(`${site.url}?${new URLSearchParams({ ...RUN_FLAGS, hub: hub.url })}`);
    await page.click('model-download');
    await page.waitFor('model-loaded', { timeout: 60_000 });
    await page.click('data-load');
    await page.waitFor('data-preview', { timeout: 60_000 });
    await page.click('train-start');
    await page.waitFor('train-live', { attr: ['data-status', 'done'], timeout: 240_000 });

    // Download zip (ONNX fp32 + int8, the int8 evaluated in the worker for the card).
    await page.click(item('model-export'));
    const zip = await page.download(item('export-zip'), 180_000);
    expect(zip.name).toMatch(/\.zip$/);
    const entries = unzipSync(new Uint8Array(zip.bytes));
    const pageExport = join(work, 'page-export');
    for (const [p, bytes] of Object.entries(entries)) {
      await mkdir(dirname(join(pageExport, p)), { recursive: true });
      await writeFile(join(pageExport, p), bytes);
    }
    const want = await digests(cliExport);
    const got = await digests(pageExport);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const p of Object.keys(want)) expect(got[p], `${p}: the page's zip and tabtune export differ`).toBe(want[p]);
    expect(Object.keys(got)).toEqual(expect.arrayContaining(['model.safetensors', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'README.md']));

    // transformers.js in Node on the page's export = tabtune embed on the trained model.
    const texts = ['Which city is famous for selling glass?', 'Keldor is a small city on the north coast, known for its glass market.'];
    await writeFile(join(work, 'texts.txt'), texts.join('\n') + '\n');
    expect((await tabtune(['embed', '--model', cliRun, '--texts', join(work, 'texts.txt'), '--out', join(work, 'emb.json')])).code).toBe(0);
    const ours = (JSON.parse(await readFile(join(work, 'emb.json'), 'utf8')) as { embeddings: number[][] }).embeddings.flat();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${work}/`;
    const theirs = (await (await pipeline('feature-extraction', 'page-export', { dtype: 'fp32' }))(texts, { pooling: 'cls', normalize: true })).data as Float32Array;
    expect(Math.max(...ours.map((v, i) => Math.abs(v - theirs[i])))).toBeLessThanOrEqual(1e-4);

    // Push: a refused token first (nothing created), then the real one.
    await page.fill(item('push-repo'), 'me/page-tuned');
    await page.fill(item('push-token'), 'hf_wrong');
    await page.click(item('push-start'));
    await page.waitFor(item('push-error'), { text: /refused the token \(HTTP 401\)/, timeout: 60_000 });
    expect(hub.repoInfo('me/page-tuned')).toBeNull();
    await page.fill(item('push-token'), TOKEN);
    await page.click(item('push-start'));
    await page.waitFor(item('push-done'), { timeout: 180_000 });
    expect(await page.text(item('push-done'))).toMatch(/Created .*me\/page-tuned .*as me/);
    expect(hub.repoInfo('me/page-tuned')!.files).toEqual(expect.arrayContaining(['onnx/model.onnx', 'onnx/model_quantized.onnx', 'model.safetensors']));
    expect(await page.evaluate(() => localStorage.getItem('tabtune.hfToken'))).toBeNull();
    const demoLink = await page.value(item('demo-link'));
    expect(new URL(demoLink).searchParams.get('demo')).toBe('me/page-tuned');
    await page.screenshot(shot('export-push.png'), { fullPage: true });
    expect(await axeViolationsOn(page), 'the export panel after a push').toEqual([]);

    // The demo link: the pushed model through transformers.js, the card's data set as the corpus.
    const expected = await evaluatorTop10(cliRun);
    const demo = await session.newPage();
    const opened = hub.requests.length;
    await demo.goto(demoLink);
    expect(await probeCsp(session, demo), 'the demo page\'s CSP').toEqual({ inlineRan: false, fetched: false, violated: ['connect-src', 'script-src-elem', 'script-src-elem'] });
    await demo.waitFor('demo-card-table', { timeout: 60_000 });
    expect(await demo.text('demo-card-table')).toContain('dim_32_cosine_ndcg@10');
    await demo.waitFor('demo-model', { timeout: 120_000 });
    expect(await demo.attr('demo-model', 'data-device')).toBe('wasm');
    // The card's data set: its listed size first, nothing of it fetched before the click; then
    // into the demo's own database, not the trainer's caches.
    const parquetSince = (from: number) => hub.requests.slice(from).filter((r) => r.file?.endsWith('.parquet'));
    await demo.waitFor('demo-corpus-size', { text: /^\(\d+(\.\d)? KiB in 2 Parquet files\)$/, timeout: 60_000 });
    expect(parquetSince(opened)).toEqual([]);
    expect(await demo.count('demo-corpus')).toBe(0);
    await demo.click('demo-corpus-load');
    await demo.waitFor('demo-corpus', { timeout: 120_000 });
    expect(parquetSince(opened).length).toBeGreaterThan(0);
    const dbs = await demo.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    expect(dbs).toEqual(expect.arrayContaining(['tabtune-demo-data', 'tabtune-demo-meta']));
    const demoKeys = await demo.evaluate(
      () =>
        new Promise<string[]>((ok, fail) => {
          const r = indexedDB.open('tabtune-demo-meta');
          r.onerror = () => fail(r.error);
          r.onsuccess = () => {
            const q = r.result.transaction('entries').objectStore('entries').getAllKeys();
            q.onsuccess = () => ok(q.result.map(String));
          };
        }),
    );
    expect(demoKeys.some((k) => k.startsWith(`dataset/hub/${hubIdOf(hub.url)}/`))).toBe(true);
    await demo.fill('demo-query', expected.query);
    await demo.click('demo-search');
    await demo.waitFor('demo-hits', { timeout: 60_000 });
    expect(await demo.texts('[data-testid=demo-hits] .text')).toEqual(expected.texts);
    await demo.screenshot(shot('demo.png'), { fullPage: true });
    // Markup in a corpus is text: the identical query ranks it first, shown as written, never run
    // (an alert it called would be recorded here).
    await demo.evaluate(() => {
      const seen: string[] = ((globalThis as any).__alerts = []);
      globalThis.alert = (m?: unknown) => void seen.push(String(m));
    });
    await demo.check('input[name=src][value=paste]', true);
    await demo.fill('demo-paste', `${XSS}\nKeldor is a small city on the north coast.\nA quiet harbour town.`);
    await demo.click('demo-corpus-load');
    await demo.waitFor('demo-corpus', { text: /3 documents/, timeout: 60_000 });
    await demo.fill('demo-query', XSS);
    await demo.click('demo-search');
    await demo.waitFor('[data-testid=demo-hits] .text', { text: new RegExp(`^\\s*${XSS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`), timeout: 60_000 });
    expect(await demo.count('[data-testid=demo-hits] img')).toBe(0);
    expect(await demo.evaluate(() => (globalThis as any).__alerts)).toEqual([]);
    expect(await axeViolationsOn(demo), 'the demo page').toEqual([]);
    await demo.close();

    // The explorer: the same query, base model vs trained, as our evaluator ranks them.
    const base = await evaluatorTop10(paths.tinyBge);
    await page.click(item('model-explore'));
    await expect.poll(() => page.count(`${item('explore-pick')} option`), { timeout: 120_000 }).toBeGreaterThan(1);
    await page.select(item('explore-pick'), expected.query);
    await page.waitFor(item('explore-summary'), { timeout: 60_000 });
    expect(await page.texts(`${item('explore-after')} .text`)).toEqual(expected.texts);
    expect(await page.texts(`${item('explore-before')} .text`)).toEqual(base.texts);
    const summary = /The relevant document: #(\d+) before → #(\d+) after fine-tuning/.exec((await page.text(item('explore-summary')))!);
    expect(summary, 'both models rank the relevant document').not.toBeNull();
    // The marked row is at the rank the summary gives, when that is in the top 10.
    for (const [which, rank] of [['before', Number(summary![1])], ['after', Number(summary![2])]] as const) {
      const marked = await page.evaluate((sel) => [...document.querySelectorAll(sel)].map((li, i) => (li.getAttribute('data-relevant') === 'true' ? i + 1 : 0)).filter(Boolean), `${item(`explore-${which}`)} li`);
      expect(marked, which).toEqual(rank <= 10 ? [rank] : []);
    }
    await page.screenshot(shot('explorer.png'), { fullPage: true });
    expect(session.errors).toEqual([]);
  }, 900_000);
});

describe.skipIf(engine !== 'chromium')('a crafted link (Chromium)', () => {
  it('keeps a token with the Hub it was entered for: a ?hub= link to another Hub gets neither the token nor a link from its answers', async () => {
    const OTHER_TOKEN = 'hf_other_hub_token';
    otherHub = await startLocalHub({ tokens: { [OTHER_TOKEN]: { user: 'them', write: ['them'] } }, createRepoUrl: 'javascript:alert(document.domain)' });
    const { page } = session.chromium!;
    const dialogs: string[] = [];
    page.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss()));
    const item = page.getByTestId('model-item').first();
    const openExport = async (query: Record<string, string>) => {
      await page.goto(`${site.url}?${new URLSearchParams(query)}`);
      await item.getByTestId('model-export').click();
      await item.getByTestId('export-panel').waitFor();
    };

    // A token from before tokens had a Hub is taken to be huggingface.co's: not offered here.
    await page.evaluate(() => localStorage.setItem('tabtune.hfToken', 'hf_from_before'));
    await openExport({ hub: hub.url });
    expect(await item.getByTestId('push-token').inputValue()).toBe('');
    // Remember this Hub's token.
    await item.getByTestId('push-token').fill(TOKEN);
    await item.getByTestId('push-remember').check();
    const slots = await page.evaluate(() => Object.fromEntries(Object.keys(localStorage).filter((k) => k.startsWith('tabtune.hfToken')).map((k) => [k, localStorage.getItem(k)])));
    expect(slots).toEqual({ [`tabtune.hfToken@${hub.url}`]: TOKEN, 'tabtune.hfToken@https://huggingface.co': 'hf_from_before' });

    // The crafted link: the same page, its Hub another host.
    await openExport({ hub: otherHub.url });
    expect(await page.getByTestId('hub-foreign').textContent()).toContain(`This link points at another Hub: ${otherHub.url}`);
    expect(await item.getByTestId('push-hub-foreign').textContent()).toContain(otherHub.url);
    expect(await item.getByTestId('push-hub').textContent()).toBe(otherHub.url);
    expect(await item.getByTestId('push-token').inputValue()).toBe('');
    expect(await item.getByTestId('push-remember').isChecked()).toBe(false);
    await item.getByTestId('push-repo').fill('them/pushed');
    expect(await item.getByTestId('push-start').isDisabled(), 'no token, no push').toBe(true);
    // Links the page makes carry the other Hub forward, so whoever opens them is told too.
    expect(new URL(await page.getByTestId('share-link').inputValue()).searchParams.get('hub')).toBe(otherHub.url);
    // A push with a token for that Hub: its answer's javascript: repo URL is text, not a link.
    await item.getByTestId('export-int8').uncheck();
    await item.getByTestId('export-onnx').uncheck();
    await item.getByTestId('push-token').fill(OTHER_TOKEN);
    await item.getByTestId('push-start').click();
    await item.getByTestId('push-done').waitFor({ timeout: 180_000 });
    const done = item.getByTestId('push-done');
    expect(await done.textContent()).toContain('Created javascript:alert(document.domain)');
    expect(await done.locator('a').count()).toBe(0);
    expect(await done.getByTestId('unsafe-link').textContent()).toBe('javascript:alert(document.domain)');
    expect(otherHub.repoInfo('them/pushed')!.files).toEqual(expect.arrayContaining(['model.safetensors']));
    // The other Hub's log: requests with its own token, none with this Hub's.
    const sent = otherHub.requests.map((r) => r.authorization);
    expect(sent).toContain(`Bearer ${OTHER_TOKEN}`);
    expect(sent.filter((a) => a?.includes(TOKEN) || a?.includes('hf_from_before'))).toEqual([]);
    expect(hub.requests.filter((r) => r.authorization?.includes(OTHER_TOKEN))).toEqual([]);

    // Back on this Hub, its own token is offered again; the page names no other Hub.
    await openExport({ hub: hub.url });
    expect(await item.getByTestId('push-token').inputValue()).toBe(TOKEN);
    expect(await page.getByTestId('hub-foreign').textContent()).toContain(hub.url); // a local Hub is not the default either
    expect(dialogs).toEqual([]);
    expect(session.errors).toEqual([]);
  }, 300_000);
});

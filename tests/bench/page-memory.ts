// The page's memory at the sizes people run: full-size bge-small, bge-base and bge-large shapes (random
// weights, the fixture vocabulary padded to BERT's 30,522 tokens) and a data set of ~90-token
// documents, served by the local Hub under the page's own model and data set ids, trained through
// the built page in headless Chromium with the page's defaults (only maxSteps is set, so a run
// ends). While it runs, every Chromium process of the session is sampled (PSS and RSS summed,
// every 200 ms); the table gives each phase's peak next to the memory account the page showed
// before Start. Not a test (it asserts nothing) and not in `npm test`: a bge-base run takes minutes.
//
//   npm run bench:page [-- --models small,base,base-bf16,base-6g,base-lora16,large-lora --steps 2 --backend wasm --out .bench/page.json]
//
// The LoRA rows (base-lora16, large-lora) set `trainable` in the link: r = 16 on every linear
// layer, α = 32, as the memory account's suggestion does (docs/memory.md#the-lora-suggestion); the
// bge-large shape (24 × 1024) is served as BAAI/bge-large-en-v1.5 and named in the link.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATASET_ID, DEFAULT_MODEL_ID, QUICK_MODEL_ID } from '../../src/lib/config.ts';
import { BGE_BASE_CONFIG, BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { suggestedLora } from '../../src/lib/train/memory.ts';
import { writeQaDataset } from '../fixtures/fixtures.ts';
import { launchBrowser, REPO_ROOT, serveDist } from '../e2e/browser.ts';
import { startLocalHub } from '../hub/local-hub.ts';
import { longDocDataset, shapeVocab, writeShapeModel } from './shape-model.ts';
import { benchArgs } from './bench-args.ts';
import { chromiumPids, memoryOf } from './chromium-memory.ts';

const { values: args } = benchArgs('Usage: npm run bench:page -- [options]\n\nThe page\'s peak memory (Chromium\'s processes, PSS) beside its memory account, training full-size random\nshapes through the built page. --models: a list of the runs below (small, base, base-bf16, base-6g, base-lora16, large-lora);\n--steps: updates per run; --backend: the page\'s backend (wasm, webgpu); --no-build: serve the dist/ already built (a second\nbench running beside the first must not rebuild the page it serves).', {
  models: { type: 'string', default: 'small,base,base-bf16,base-6g' },
  steps: { type: 'string', default: '2' },
  backend: { type: 'string', default: 'wasm' },
  out: { type: 'string', default: join(REPO_ROOT, '.bench', 'page.json') },
  'no-build': { type: 'boolean', default: false },
});

const SHAPES = {
  small: { id: QUICK_MODEL_ID, config: BGE_SMALL_CONFIG },
  base: { id: DEFAULT_MODEL_ID, config: BGE_BASE_CONFIG },
  large: { id: 'BAAI/bge-large-en-v1.5', config: { ...BGE_BASE_CONFIG, hiddenSize: 1024, numLayers: 24, numHeads: 16, intermediateSize: 4096 } },
} as const;
type ShapeName = keyof typeof SHAPES;

/** What --models names: a shape and run-config fields set through the page's link (empty: the page's defaults). */
const RUNS: Record<string, { shape: ShapeName; params: Record<string, string> }> = {
  small: { shape: 'small', params: {} },
  base: { shape: 'base', params: {} },
  'base-bf16': { shape: 'base', params: { adamMoments: 'bfloat16' } },
  'base-6g': { shape: 'base', params: { memoryBudgetMB: '6144' } },
  'base-lora16': { shape: 'base', params: { trainable: JSON.stringify(suggestedLora(16)) } },
  'large-lora': { shape: 'large', params: { 'model.id': SHAPES.large.id, trainable: JSON.stringify(suggestedLora(16)) } },
};

const WORK = join(REPO_ROOT, '.bench', 'page');

interface PhasePeak { pss: number; rss: number; seconds: number }
interface PageRun {
  name: string;
  shape: ShapeName;
  params: Record<string, string>;
  model: string;
  steps: number;
  /** What the page showed before Start. */
  accountBytes: number;
  plan: string;
  phases: Record<string, PhasePeak>;
  error: string | null;
}

const MB = 2 ** 20;
const parseMb = (s: string) => Number(s.replace(/[^\d]/g, '')) * MB;

async function runPage(name: string, site: string, hubUrl: string, steps: number): Promise<PageRun> {
  const { shape, params } = RUNS[name];
  const session = await launchBrowser();
  const { page } = session;
  const id = (t: string) => page.getByTestId(t);
  const run: PageRun = { name, shape, params, model: SHAPES[shape].id, steps, accountBytes: 0, plan: '', phases: {}, error: null };
  let phase = 'start';
  let phaseStart = Date.now();
  const peaks: Record<string, PhasePeak> = run.phases;
  const sample = () => {
    const m = memoryOf(chromiumPids(session.profile));
    const p = (peaks[phase] ??= { pss: 0, rss: 0, seconds: 0 });
    p.pss = Math.max(p.pss, m.pss);
    p.rss = Math.max(p.rss, m.rss);
    p.seconds = (Date.now() - phaseStart) / 1000;
  };
  const timer = setInterval(sample, 200);
  let live: ReturnType<typeof setInterval> | undefined;
  let watchPhase: ReturnType<typeof setInterval> | undefined;
  const enter = (name: string) => {
    sample();
    phase = name;
    phaseStart = Date.now();
    console.log(`  ${shape}: ${name}`);
  };
  try {
    await page.goto(`${site}?${new URLSearchParams({ hub: hubUrl, maxSteps: String(steps), backend: args.backend!, ...params })}`);
    await id('offline-ready').waitFor({ timeout: 120_000 });
    enter('download and load');
    if (shape === 'small') await id('quick-model').click();
    await id('model-download').click();
    await id('model-loaded').waitFor({ timeout: 600_000 });
    await id('data-load').click();
    await id('data-preview').waitFor({ timeout: 120_000 });
    await id('memory-summary').waitFor({ timeout: 120_000 });
    run.accountBytes = parseMb((await id('memory-peak').textContent()) ?? '');
    await page.waitForTimeout(1000);
    if (await id('memory-refusal').count()) {
      run.plan = `refused: ${(await id('memory-refusal').textContent())!.replace(/\s+/g, ' ').trim()}`;
      return run;
    }
    run.plan = ((await id('memory-path').textContent().catch(() => '')) ?? '').replace(/\s+/g, ' ').trim();
    enter('idle, model loaded');
    await page.waitForTimeout(3000);
    enter('run: start');
    await id('train-start').click();
    // The run's own phases (the Run line: eval-before, train, eval-after, save), each with its peak.
    let runPhase = '';
    watchPhase = setInterval(() => void id('train-status').textContent().then((t) => {
      const p = /test rows\s*·\s*(prepare|eval-before|train|eval-after|save)\b/.exec(t ?? '')?.[1];
      if (p && p !== runPhase) enter(`run: ${(runPhase = p)}`);
    }, () => {}), 500);
    // Where the run is, every 30 s (the log of a run that takes many minutes says it moves).
    live = setInterval(() => void page.locator('[data-testid=train-live] .stats, [data-testid=eval-progress]').allTextContents()
      .then((t) => console.log(`  ${shape}: ${phase} ${((Date.now() - phaseStart) / 1000).toFixed(0)} s, peak PSS ${Math.round((peaks[phase]?.pss ?? 0) / MB)} MiB: ${t.join(' | ').replace(/\s+/g, ' ').trim()}`), () => {}), 30_000);
    await page.locator('[data-testid=train-live][data-status=done], [data-testid=train-error]').first().waitFor({ timeout: 3_600_000 });
    clearInterval(watchPhase);
    if (await id('train-error').count()) run.error = (await id('train-error').textContent())?.trim() ?? 'failed';
    enter('done');
    await page.waitForTimeout(2000);
    sample();
  } catch (e) {
    run.error = (e as Error).message.split('\n')[0];
  } finally {
    clearInterval(timer);
    clearInterval(live);
    clearInterval(watchPhase);
    await session.close();
  }
  return run;
}

async function main(): Promise<void> {
  const names = args.models!.split(',').map((s) => s.trim());
  for (const n of names) if (!RUNS[n]) throw new Error(`--models: unknown ${n} (${Object.keys(RUNS).join(', ')})`);
  const shapes = [...new Set(names.map((n) => RUNS[n].shape))];
  const steps = Number(args.steps);
  if (!args['no-build']) console.log('building the page (vite build) …');
  if (!args['no-build']) execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
  const data = longDocDataset();
  const vocab = shapeVocab();
  writeQaDataset(join(WORK, 'qa-long'), data);
  const models: Record<string, string> = {};
  for (const s of shapes) {
    const dir = join(WORK, `${s}-shape`);
    console.log(`writing the ${s} model (random weights) …`);
    writeShapeModel(dir, SHAPES[s].config, vocab);
    models[SHAPES[s].id] = dir;
  }
  const hub = await startLocalHub({ models, datasets: { [DEFAULT_DATASET_ID]: join(WORK, 'qa-long') } });
  const site = await serveDist();
  const runs: PageRun[] = [];
  try {
    for (const n of names) runs.push(await runPage(n, site.url, hub.url, steps));
  } finally {
    await site.close();
    await hub.close();
  }
  const f = (b: number) => Math.round(b / MB).toLocaleString('en-US');
  console.log(`\nPeak memory summed over Chromium's processes (PSS; RSS in brackets), MiB — ${steps} updates, backend ${args.backend}, page defaults otherwise`);
  console.log('| run | model | set in the link | account | phase | peak PSS [RSS] | vs account | seconds |');
  console.log('|---|---|---|---:|---|---:|---:|---:|');
  for (const r of runs) {
    const set = Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ') || 'defaults';
    for (const [name, p] of Object.entries(r.phases)) {
      const vs = r.accountBytes ? `${(((p.pss - r.accountBytes) / r.accountBytes) * 100).toFixed(1)} %`.replace('-', '−') : '';
      console.log(`| ${r.name} | ${r.model} | ${set} | ${f(r.accountBytes)} | ${name} | ${f(p.pss)} [${f(p.rss)}] | ${vs} | ${p.seconds.toFixed(0)} |`);
    }
    console.log(`| ${r.name} | plan: ${r.plan}${r.error ? ` — failed: ${r.error}` : ''} |`);
  }
  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  writeFileSync(args.out!, JSON.stringify({ date: new Date().toISOString(), steps, backend: args.backend, runs }, null, 2));
  console.log(`\nwrote ${args.out}`);
}

await main();

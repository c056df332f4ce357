// The demo page's worker (`?demo=OWNER/NAME`): loads a sentence-transformers model that has ONNX
// weights from the Hub with @huggingface/transformers (WebGPU when an adapter exists, else WASM),
// with the pooling and normalization its sentence-transformers files name; embeds a corpus — the
// data set its card names (the documents our evaluator would search: every distinct document of
// its splits), or texts the visitor gives — and answers queries with the top 10 by cosine.
// No training, no engine: this is how anyone without tabtune uses a pushed model.
// A demo link is anyone's link: its data set goes into an IndexedDB database of its own (never
// the trainer's model and data caches), only when the visitor asks, and only up to a size cap
// the listing is checked against before anything is fetched.
// Prompts: the model's own (config_sentence_transformers.json) or e5's, resolved as a run's
// "auto" choice (src/lib/models/prompts.ts): the document prompt on the corpus, the query
// prompt on each search.

import './csp-report.ts';
import { env, pipeline, type FeatureExtractionPipeline } from '@huggingface/transformers';
import * as Comlink from 'comlink';
import { prepareDataset } from '../src/lib/data/dataset.ts';
import { buildIrSet } from '../src/lib/eval/ir-set.ts';
import { hubDatasetSize, loadHubDataset } from '../src/lib/hub/dataset-files.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import { DEFAULT_POOLING, parsePoolingConfig } from '../src/lib/models/pooling.ts';
import { checkConfigStSize, CONFIG_ST_FILE, DEFAULT_PROMPT_CHOICES, parseModelPrompts, poolingIncludesPrompt, resolvePrompts, type TextPrompts, withPrompt } from '../src/lib/models/prompts.ts';
import { undoCdnWasmPaths } from '../src/lib/runtime/index.ts';
import { IdbStore } from '../src/lib/store/idb-store.ts';
import { isOrtThread } from './ort-thread.ts';
import type { DemoCorpus, DemoCorpusSize, DemoHit, DemoModel, DemoProgress, DemoWorkerApi } from './api.ts';

let model: { extractor: FeatureExtractionPipeline; pooling: 'cls' | 'mean'; normalize: boolean; dim: number; prompts: TextPrompts } | null = null;
let corpus: { texts: string[]; embeddings: Float32Array } | null = null;

const BATCH = 16;
/** The most a demo page downloads for its corpus (the card's data set). */
const CORPUS_MAX_BYTES = 50 * 2 ** 20;
/** The demo's own database: nothing a demo link loads lands in the trainer's caches. */
let demoStoreOpened: IdbStore | null = null;
const demoStore = () => (demoStoreOpened ??= new IdbStore({ name: 'tabtune-demo' }));

async function fetchJson(url: string): Promise<unknown | null> {
  const r = await fetch(url);
  return r.ok ? r.json() : null;
}

async function embed(raw: string[], onProgress?: (p: DemoProgress) => void): Promise<Float32Array> {
  const m = model!;
  const texts = withPrompt(raw, m.prompts.document);
  const out = new Float32Array(texts.length * m.dim);
  for (let i = 0; i < texts.length; i += BATCH) {
    const t = await m.extractor(texts.slice(i, i + BATCH), { pooling: m.pooling, normalize: m.normalize });
    out.set(t.data as Float32Array, i * m.dim);
    onProgress?.({ what: 'embedding the corpus', done: Math.min(i + BATCH, texts.length), total: texts.length });
  }
  return out;
}

const api: DemoWorkerApi = {
  async load(req, onProgress) {
    env.allowLocalModels = false;
    env.remoteHost = `${req.hubUrl}/`;
    env.remotePathTemplate = '{model}/resolve/{revision}/';
    undoCdnWasmPaths(env.backends.onnx as { wasm: { wasmPaths?: unknown } });
    const base = `${req.hubUrl}/${req.repo}/resolve/main`;
    const poolingJson = await fetchJson(`${base}/1_Pooling/config.json`).catch(() => null);
    const modules = ((await fetchJson(`${base}/modules.json`).catch(() => null)) ?? []) as { type?: string }[];
    const pooling = poolingJson ? parsePoolingConfig(poolingJson) : DEFAULT_POOLING;
    const normalize = modules.some((m) => /Normalize$/.test(m.type ?? ''));
    // Untrusted like every file of the repo: parseModelPrompts bounds and type-checks it.
    const stResponse = await fetch(`${base}/${CONFIG_ST_FILE}`).catch(() => null);
    const stBytes = stResponse?.ok ? new Uint8Array(await stResponse.arrayBuffer()) : null;
    if (stBytes) checkConfigStSize(stBytes.byteLength);
    let stConfig: unknown;
    try {
      stConfig = stBytes ? JSON.parse(new TextDecoder().decode(stBytes)) : undefined;
    } catch (e) {
      throw new Error(`${CONFIG_ST_FILE}: invalid JSON (${(e as Error).message})`);
    }
    const includePrompt = poolingJson ? poolingIncludesPrompt(poolingJson, '1_Pooling/config.json') : true;
    const { query, document } = resolvePrompts(DEFAULT_PROMPT_CHOICES, parseModelPrompts(stConfig, includePrompt), req.repo);
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const device = gpu && (await gpu.requestAdapter().catch(() => null)) ? 'webgpu' : 'wasm';
    const extractor = await pipeline('feature-extraction', req.repo, {
      device, dtype: 'fp32',
      progress_callback: (p: { status: string; file?: string; loaded?: number; total?: number }) => {
        if (p.status === 'progress' && p.file) onProgress?.({ what: `downloading ${p.file}`, done: p.loaded ?? 0, total: p.total ?? 0 });
      },
    });
    const probe = await extractor(['dimension probe'], { pooling, normalize });
    model = { extractor, pooling, normalize, dim: probe.dims.at(-1)!, prompts: { query, document } };
    corpus = null;
    return { device, pooling, normalize, dim: model.dim, prompts: model.prompts } satisfies DemoModel;
  },

  async corpusSize(req) {
    const s = await hubDatasetSize(new HubClient({ hubUrl: req.hubUrl }), req.repo);
    return { bytes: s.bytes, files: s.files, cap: CORPUS_MAX_BYTES } satisfies DemoCorpusSize;
  },

  async loadCorpus(req, onProgress) {
    if (!model) throw new Error('load the model first');
    let texts: string[];
    let examples: string[] = [];
    if (req.kind === 'dataset') {
      onProgress?.({ what: `loading ${req.repo}`, done: 0, total: 0 });
      const ds = await loadHubDataset({ client: new HubClient({ hubUrl: req.hubUrl }), store: demoStore(), repo: req.repo, maxBytes: CORPUS_MAX_BYTES });
      const p = prepareDataset(ds.splits, { source: req.repo });
      if (!p.usable) throw new Error(`${req.repo}: ${p.issues.find((i) => i.level === 'error')?.message ?? 'no usable rows'}`);
      if (p.test.length) {
        const set = buildIrSet(p.train, p.test);
        texts = [...set.corpus.values()];
        examples = [...set.queries.values()].slice(0, 50);
      } else {
        texts = [...new Set(p.train.map((e) => e.positive))];
        examples = p.train.slice(0, 50).map((e) => e.anchor);
      }
    } else {
      texts = [...new Set(req.texts.map((t) => t.trim()).filter(Boolean))];
    }
    if (!texts.length) throw new Error('the corpus is empty');
    corpus = { texts, embeddings: await embed(texts, onProgress) };
    return { size: texts.length, examples } satisfies DemoCorpus;
  },

  async search(query, k = 10) {
    if (!model || !corpus) throw new Error('load a model and a corpus first');
    const q = (await model.extractor([model.prompts.query + query], { pooling: model.pooling, normalize: model.normalize })).data as Float32Array;
    const D = model.dim;
    const n = corpus.texts.length;
    const scores = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < D; c++) s += q[c] * corpus.embeddings[j * D + c];
      scores[j] = s;
    }
    // Cosine = dot on normalized embeddings; ties by corpus order.
    return [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b).slice(0, k).map((j, i): DemoHit => ({ rank: i + 1, text: corpus!.texts[j], score: scores[j] }));
  },
};

// onnxruntime's WASM threads run this script too (ort-thread.ts): only the demo's own worker serves.
if (!isOrtThread()) Comlink.expose(api);

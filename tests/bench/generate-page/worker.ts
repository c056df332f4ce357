// The generation bench's worker: what the page's generation worker does for one job, without the
// job store — the model's files through our Hub code into IndexedDB (hubFileSource, as
// workers/generate-session.ts fetches them), loadGenerator on onnxruntime-web's WASM backend with
// the dtype asked (fp32 → onnx/model.onnx, q8 → onnx/model_quantized.onnx), then
// generateQuestions over the documents with the default prompt template, greedy. It times the
// load and each document (from the loop's onRow) and counts prompt and generated tokens.
// It runs in a module worker, as the page's generation does. Not the page's worker: no cancel,
// resume, filter or UI.

import { env } from '@huggingface/transformers';
import * as Comlink from 'comlink';
import { generateQuestions, loadGenerator } from '../../../src/lib/generate/generator.ts';
import { hubFileSource } from '../../../src/lib/generate/model-source.ts';
import { DEFAULT_PROMPT_TEMPLATE, DEFAULT_QUESTIONS_PER_DOC } from '../../../src/lib/generate/questions.ts';
import { HubClient } from '../../../src/lib/hub/hub-client.ts';
import { undoCdnWasmPaths } from '../../../src/lib/runtime/index.ts';
import { IdbStore } from '../../../src/lib/store/idb-store.ts';
import { chooseWasmThreads } from '../../../workers/backend-probe.ts';

export interface GenerateBenchRequest {
  hubUrl: string;
  repo: string;
  dtype: 'fp32' | 'q8';
  /** The documents, one chunk each. */
  docs: string[];
  maxNewTokens: number;
  /** onnxruntime-web's WASM threads (0: as the page chooses them, workers/backend-probe.ts). */
  threads: number;
}

export interface GenerateBenchResult {
  /** Download into IndexedDB and session creation. */
  loadS: number;
  dtype: string;
  /** Per document, in order: prompt tokens, generated tokens, seconds. */
  docs: { promptTokens: number; newTokens: number; seconds: number }[];
  threads: number;
  /** crossOriginIsolated: without it onnxruntime-web runs one thread. */
  isolated: boolean;
}

const api = {
  async run(req: GenerateBenchRequest): Promise<GenerateBenchResult> {
    const onnx = env.backends.onnx as { wasm: { wasmPaths?: unknown; numThreads?: number } };
    undoCdnWasmPaths(onnx);
    const isolated = globalThis.crossOriginIsolated === true;
    onnx.wasm.numThreads = req.threads > 0 ? req.threads : chooseWasmThreads(isolated, navigator.hardwareConcurrency, navigator.userAgent).threads;
    const t0 = performance.now();
    const source = await hubFileSource({ client: new HubClient({ hubUrl: req.hubUrl }), store: new IdbStore({ name: 'tabtune-generate-bench' }), repo: req.repo });
    const gen = await loadGenerator(source, { backend: 'wasm', dtype: req.dtype });
    const loadS = (performance.now() - t0) / 1000;
    const docs: GenerateBenchResult['docs'] = [];
    let last = performance.now();
    await generateQuestions(gen, req.docs.map((text, i) => ({ chunkId: `d${i}#0`, documentId: `d${i}`, text })), {
      template: DEFAULT_PROMPT_TEMPLATE,
      perDoc: DEFAULT_QUESTIONS_PER_DOC,
      maxNewTokens: req.maxNewTokens,
    }, {
      onRow: (row) => {
        const now = performance.now();
        docs.push({ promptTokens: row.promptTokens, newTokens: row.newTokens, seconds: (now - last) / 1000 });
        last = now;
      },
    });
    await gen.dispose();
    return { loadS, dtype: gen.dtype, docs, threads: onnx.wasm.numThreads ?? 0, isolated };
  },
};

export type GenerateBenchWorker = typeof api;
Comlink.expose(api);

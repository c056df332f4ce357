// What the engine worker holds between calls, in one object the worker entry creates and hands to
// every method: the store, the model and data set the user loaded (their bytes and tables stay
// here; the page only gets summaries), the parsed model and tokenizer of the loaded files, and the
// run in progress. Methods live in loaders.ts and train-session.ts; this file holds no logic but
// the lazy parse and reading the base model again after a run trained it in place.

import type { Table } from '../src/lib/data/parse.ts';
import type { PreparedIr } from '../src/lib/eval/ir-metrics.ts';
import type { GeneratedOrigin } from '../src/lib/generate/generated-set.ts';
import type { BertEncoder } from '../src/lib/models/encoder.ts';
import type { TextPrompts } from '../src/lib/models/prompts.ts';
import { loadSentenceModel, type SentenceModel } from '../src/lib/models/sentence-model.ts';
import type { Runtime } from '../src/lib/runtime/index.ts';
import { openHubCache } from '../src/lib/hub/cache-migration.ts';
import { IdbStore } from '../src/lib/store/idb-store.ts';
import type { Store, Unreferenced } from '../src/lib/store/store.ts';
import { loadTokenizer, tokenizerFilesFromMap, type TextTokenizer } from '../src/lib/tokenize/tokenizer.ts';
import type { DatasetSummary, ModelSummary } from './api.ts';

export interface LoadedModel {
  summary: ModelSummary;
  /** Path → bytes of every file the engine and the tokenizer need. */
  files: Map<string, Uint8Array>;
  /** The files as stored: after a run trained the weights in place, the base model is read again. */
  reread: () => Promise<Map<string, Uint8Array>>;
  /** A Hub model's repo, revision and commit (its identity); null for a stored model. */
  hub: { repo: string; revision: string; commit: string } | null;
}

export interface LoadedData {
  source: string;
  splits: Record<string, Table>;
  via: DatasetSummary['via'];
  offline: boolean;
  /** What made it, when it is a generated set (the trained model's card names it); null otherwise. */
  generated: GeneratedOrigin | null;
}

export class EngineState {
  readonly store: Store;
  model: LoadedModel | null = null;
  data: LoadedData | null = null;
  /** The run in progress; cancel() aborts it. */
  active: AbortController | null = null;
  /** A run is training the loaded model's weight arrays in place: they are not the base model's now. */
  trainingInPlace = false;
  activeRunId: string | null = null;
  /** The retrieval explorer's encoders and corpus embeddings for one finished run (export-session.ts). */
  explorer: {
    runId: string;
    prepared: PreparedIr;
    encoders: { before: BertEncoder; after: BertEncoder };
    tokenizers: { before: TextTokenizer; after: TextTokenizer };
    corpus: { before: Float32Array; after: Float32Array };
    dim: number;
    /** The run's query and document prompts, on both models, as its evaluation put them. */
    prompts: TextPrompts;
  } | null = null;
  /** A WASM runtime for runs that ask for "wasm" while the engine's own runtime is WebGPU. */
  wasmRuntime: Promise<Runtime> | null = null;
  #parsed: { files: Map<string, Uint8Array>; model: SentenceModel; tokenizer: TextTokenizer } | null = null;

  /** The start-up sweep of what interrupted writes left (idb-store.ts); null where the store has none. */
  readonly swept: Promise<Unreferenced | null>;

  /** Default: this profile's IndexedDB, its old Hub cache keys moved under huggingface.co's on start-up. */
  constructor(store: Store = openHubCache(new IdbStore())) {
    this.store = store;
    // Safe beside the writes that the first calls start: the sweep skips every write in progress.
    this.swept = store.sweep?.().catch(() => null) ?? Promise.resolve(null);
  }

  /** Lets the explorer's two encoders go (a run needs the memory). */
  async disposeExplorer(): Promise<void> {
    const e = this.explorer;
    this.explorer = null;
    if (e) for (const enc of Object.values(e.encoders)) await enc.dispose();
  }

  /** The loaded model parsed (once per loaded file set); `weights`: its weights will be read (not only its shape). */
  parsedModel(o: { weights?: boolean } = {}): { loaded: LoadedModel; model: SentenceModel; tokenizer: TextTokenizer } {
    const m = this.model;
    if (!m) throw new Error('no model is loaded: download one first');
    if (o.weights && this.trainingInPlace) throw new Error('a run is training the loaded model: try again when it has ended');
    if (this.#parsed?.files !== m.files) {
      this.#parsed = { files: m.files, model: loadSentenceModel(m.files), tokenizer: loadTokenizer(tokenizerFilesFromMap(m.files, m.summary.repo)) };
    }
    return { loaded: m, model: this.#parsed.model, tokenizer: this.#parsed.tokenizer };
  }

  /** After a run trained the weights in place: the base model's files read again from storage (or, failing that, no model loaded). */
  async restoreModel(): Promise<void> {
    const m = this.model;
    if (!m) return;
    try {
      this.model = { ...m, files: await m.reread() };
    } catch {
      this.model = null;
    }
  }
}

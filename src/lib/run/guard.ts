// The general-retrieval guard as a step of a run: NanoBEIR subsets loaded through the Hub data set
// loader (cached in the Store like any data set; NanoBEIR-en's three configs with only the chosen
// splits, or the older per-subset zeta-alpha-ai repos), evaluated with eval/nanobeir.ts, and the
// figures of a model cached by its identity (identity.ts) with everything that changes them — the
// source repo, subsets, dims, prompts, score functions — so the base model's figures are computed
// once: the second time nothing is encoded. Used by the CLI (`tabtune eval --nanobeir`) and the
// engine worker (the page) alike. Not the evaluator's rules (eval/nanobeir.ts) and not the UI.

import { loadHubDataset } from '../hub/dataset-files.ts';
import type { HubClient } from '../hub/hub-client.ts';
import type { ProgressCallback } from '../hub/progress.ts';
import type { Table } from '../data/parse.ts';
import {
  evaluateNanoBeir,
  nanoBeirIrSet,
  NANOBEIR_EN_REPO,
  type EvaluateNanoBeirOptions,
  type NanoBeirResult,
  type NanoBeirSubset,
} from '../eval/nanobeir.ts';
import type { IrSet } from '../eval/ir-set.ts';
import type { Store } from '../store/store.ts';
import { sha256Hex, type ModelIdentity } from './identity.ts';

/** Where the subsets come from: NanoBEIR-en (one repo, a split per subset) or zeta-alpha-ai/Nano{Name}. */
export type GuardSource = { kind: 'en'; repo?: string; revision?: string } | { kind: 'zeta'; revision?: string };

const CONFIGS = ['corpus', 'queries', 'qrels'] as const;

export interface LoadGuardOptions {
  client: HubClient;
  store: Store;
  subsets: readonly NanoBeirSubset[];
  source?: GuardSource;
  onProgress?: ProgressCallback;
  /** Each config of each subset is refused above this many Parquet bytes (default 64 MiB: NanoBEIR's largest corpus is ~5 MB). */
  maxBytes?: number;
}

/** The chosen subsets as IR sets, in the order given. */
export async function loadGuardSets(o: LoadGuardOptions): Promise<{ subset: NanoBeirSubset; set: IrSet }[]> {
  const source = o.source ?? { kind: 'en' };
  const maxBytes = o.maxBytes ?? 64 * 2 ** 20;
  const tables = new Map<string, Partial<Record<(typeof CONFIGS)[number], Table>>>(o.subsets.map((s) => [s.key, {}]));
  if (source.kind === 'en') {
    const repo = source.repo ?? NANOBEIR_EN_REPO;
    for (const config of CONFIGS) {
      const ds = await loadHubDataset({ client: o.client, store: o.store, repo, revision: source.revision, config, splits: o.subsets.map((s) => s.name), onProgress: o.onProgress, maxBytes });
      for (const s of o.subsets) tables.get(s.key)![config] = ds.splits[s.name];
    }
  } else {
    for (const s of o.subsets) {
      for (const config of CONFIGS) {
        const ds = await loadHubDataset({ client: o.client, store: o.store, repo: s.zetaRepo, revision: source.revision, config, splits: ['train'], onProgress: o.onProgress, maxBytes });
        tables.get(s.key)![config] = ds.splits.train;
      }
    }
  }
  return o.subsets.map((s) => {
    const t = tables.get(s.key)!;
    return { subset: s, set: nanoBeirIrSet({ corpus: t.corpus!, queries: t.queries!, qrels: t.qrels! }, s.name) };
  });
}

/** Which source a result came from, as recorded with it. */
export function describeGuardSource(source: GuardSource = { kind: 'en' }): string {
  return source.kind === 'en' ? `${source.repo ?? NANOBEIR_EN_REPO}@${source.revision ?? 'main'}` : `zeta-alpha-ai/Nano*@${source.revision ?? 'main'}`;
}

/** Everything the figures depend on besides the weights' bytes. */
export interface GuardSpec {
  source: string;
  subsets: string[];
  dims: number[];
  prompts: { query: string; document: string };
  scoreFunctions: string[];
}

/** The cache key of a model's figures: `guard/{sha256 of model identity + spec}.json`. */
export async function guardCacheKey(model: ModelIdentity, spec: GuardSpec): Promise<string> {
  const id = model.kind === 'hub' ? { kind: 'hub', repo: model.repo, commit: model.commit } : { kind: 'weights', sha256: model.sha256 };
  return `guard/${await sha256Hex(new TextEncoder().encode(JSON.stringify({ v: 1, model: id, spec })))}.json`;
}

export interface GuardRun {
  result: NanoBeirResult;
  spec: GuardSpec;
  /** True when the figures came from the cache (nothing was encoded). */
  cached: boolean;
}

export interface RunGuardOptions extends Omit<EvaluateNanoBeirOptions, 'sets'> {
  store: Store;
  /** The model's identity; null means do not cache (e.g. a model mid-training). */
  identity: ModelIdentity | null;
  source?: GuardSource;
  subsets: readonly NanoBeirSubset[];
  /** Loads the sets only when they are needed (not on a cache hit). */
  load: () => Promise<{ subset: NanoBeirSubset; set: IrSet }[]>;
}

function isResult(x: unknown): x is NanoBeirResult {
  const r = x as NanoBeirResult;
  return !!r && r.format === 'tabtune.nanobeir' && r.version === 1 && typeof r.metrics === 'object' && Array.isArray(r.byDim) && r.byDim.length > 0;
}

/** The guard's figures for a model: from the cache when this model and spec were evaluated before, else computed and cached. */
export async function runGuard(o: RunGuardOptions): Promise<GuardRun> {
  const { store, identity, source, subsets, load, ...evalOptions } = o;
  const spec: GuardSpec = {
    source: describeGuardSource(source),
    subsets: subsets.map((s) => s.key),
    dims: [...o.dims],
    prompts: { query: o.prompts?.query ?? '', document: o.prompts?.document ?? '' },
    scoreFunctions: [...(o.scoreFunctions ?? ['cosine'])],
  };
  const key = identity ? await guardCacheKey(identity, spec) : null;
  if (key) {
    const bytes = await store.get(key);
    if (bytes) {
      try {
        const cached = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
        if (isResult(cached)) return { result: cached, spec, cached: true };
      } catch {
        // unreadable: computed again and overwritten below
      }
    }
  }
  const sets = await load();
  const result = await evaluateNanoBeir({ ...evalOptions, sets });
  if (key) await store.set(key, new TextEncoder().encode(JSON.stringify(result)));
  return { result, spec, cached: false };
}

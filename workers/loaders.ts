// The engine worker's model / data set / storage methods: Hub downloads into IndexedDB with
// progress, local files, the storage panel. Plain data in and out (summaries, not the bytes:
// the loaded files stay in the worker, where the engine will use them).

import type { ColumnMapping } from '../src/lib/data/columns.ts';
import type { DatasetSummary, LoadRequest, ModelSummary, StoragePanel } from './api.ts';
import { prepareDataset } from '../src/lib/data/dataset.ts';
import { parseDataFile, preview } from '../src/lib/data/parse.ts';
import { loadHubDataset } from '../src/lib/hub/dataset.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import { loadHubModel, type ModelFiles } from '../src/lib/hub/model-files.ts';
import type { ProgressCallback } from '../src/lib/hub/progress.ts';
import { IdbStore } from '../src/lib/store/idb-store.ts';
import { storeSummary, type Store } from '../src/lib/store/store.ts';

let store: Store | null = null;
const getStore = () => (store ??= new IdbStore());

/** The last loaded model's files, for the engine methods that come later. */
export let currentModel: ModelFiles | null = null;
/** The last loaded data set's tables, so training can re-prepare them with the user's mapping. */
export let currentData: { source: string; splits: Parameters<typeof prepareDataset>[0]; via: DatasetSummary['via']; offline: boolean } | null = null;

export async function loadModel(req: LoadRequest, onProgress?: ProgressCallback): Promise<ModelSummary> {
  const m = await loadHubModel({ client: new HubClient({ hubUrl: req.hubUrl }), store: getStore(), repo: req.repo, revision: req.revision, onProgress });
  currentModel = m;
  const commit = m.source.kind === 'hub' ? m.source.commit : '';
  return {
    repo: req.repo,
    revision: req.revision ?? 'main',
    commit,
    modelType: String(m.config.model_type),
    files: [...m.files].map(([path, b]) => ({ path, size: b.byteLength })),
    offline: m.offline,
  };
}

export async function loadDataset(req: LoadRequest, onProgress?: ProgressCallback): Promise<DatasetSummary> {
  const ds = await loadHubDataset({ client: new HubClient({ hubUrl: req.hubUrl }), store: getStore(), repo: req.repo, revision: req.revision, onProgress });
  return summarize(req.repo, ds.splits, ds.via, ds.offline);
}

export async function loadDataFile(name: string, bytes: Uint8Array): Promise<DatasetSummary> {
  const t = await parseDataFile(name, bytes);
  return summarize(name, { file: t }, 'file', false);
}

export function summarize(source: string, splits: Parameters<typeof prepareDataset>[0], via: DatasetSummary['via'], offline: boolean, mapping?: ColumnMapping): DatasetSummary {
  currentData = { source, splits, via, offline };
  const p = prepareDataset(splits, { source, mapping });
  const first = Object.values(splits)[0];
  return {
    source,
    via,
    offline,
    splits: Object.entries(splits).map(([name, t]) => ({ name, rows: t.rows.length, columns: t.columns })),
    preview: preview(first).rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' || typeof v === 'number' ? v : String(v)]))),
    mapping: p.mapping,
    mappingSource: p.mappingSource,
    train: p.train.length,
    test: p.test.length,
    split: p.split,
    issues: p.issues,
  };
}

export async function storagePanel(): Promise<StoragePanel> {
  const s = getStore();
  const est = await s.estimate();
  return { where: s.description, groups: await storeSummary(s), usage: est.usage, quota: est.quota };
}

export async function storageDelete(group: string): Promise<number> {
  const s = getStore();
  return s.delPrefix(group.endsWith('/') ? group : `${group}/`);
}

export async function storagePersist(): Promise<boolean> {
  return getStore().persist();
}

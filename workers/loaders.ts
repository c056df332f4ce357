// The engine worker's model / data set / storage methods: Hub downloads into IndexedDB with
// progress, local files, models trained here (stored runs), the storage panel. Plain data in and
// out (summaries, not the bytes: the loaded files stay in the worker's EngineState, where the
// engine uses them).

import type { ColumnMapping } from '../src/lib/data/columns.ts';
import { prepareDataset } from '../src/lib/data/dataset.ts';
import { parseDataFile, preview, type Table } from '../src/lib/data/parse.ts';
import { checkGeneratedOrigin, MAX_CARD_CHARS, type GeneratedOrigin } from '../src/lib/generate/generated-set.ts';
import { loadHubDataset } from '../src/lib/hub/dataset-files.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import { checkModelConfig, loadCachedModel, loadHubModel } from '../src/lib/hub/model-files.ts';
import type { ProgressCallback } from '../src/lib/hub/progress.ts';
import { architecture, usablePositions } from '../src/lib/models/architectures.ts';
import { parseBertConfig } from '../src/lib/models/bert-config.ts';
import { parameterSet } from '../src/lib/models/parameter-set.ts';
import { readModelPrompts } from '../src/lib/models/sentence-model.ts';
import { CHECKPOINTS_PREFIX, readRunRecord, RUN_OUTPUT_EXTRAS, RUN_RECORD_KEY, type RunRecord, storedModelId, storedRunId } from '../src/lib/run/record.ts';
import { localDatasetKey, prefixedStore, runKey, storeSummary, UNREFERENCED_GROUP } from '../src/lib/store/store.ts';
import type { DatasetSummary, LoadRequest, ModelSummary, StoragePanel } from './api.ts';
import type { EngineState } from './engine-state.ts';
import { GENERATED_PREFIX, jobKey, PUSHED_FILE, SET_FILE } from './generated-rows.ts';

/** The encoder's family, shape and trained parameter count (its parameter set's), from its config.json. */
function shapeOf(config: Record<string, unknown>): Pick<ModelSummary, 'family' | 'maxTokens' | 'architecture' | 'parameters'> {
  const c = parseBertConfig(config);
  return {
    family: architecture(c.family).label,
    maxTokens: usablePositions(c),
    architecture: {
      hiddenSize: c.hiddenSize, numLayers: c.numLayers, numHeads: c.numHeads, intermediateSize: c.intermediateSize, vocabSize: c.vocabSize, maxPositions: c.maxPositions, typeVocabSize: c.typeVocabSize,
    },
    parameters: parameterSet(c).trainedSize,
  };
}

export async function loadModel(state: EngineState, req: LoadRequest, onProgress?: ProgressCallback): Promise<ModelSummary> {
  const stored = storedRunId(req.repo);
  if (stored) return loadStoredModel(state, stored);
  const m = await loadHubModel({ client: new HubClient({ hubUrl: req.hubUrl }), store: state.store, repo: req.repo, revision: req.revision, onProgress });
  const revision = req.revision ?? 'main';
  const commit = m.source.kind === 'hub' ? m.source.commit : '';
  const summary: ModelSummary = {
    kind: 'hub',
    name: `${req.repo}@${revision}`,
    repo: req.repo,
    revision,
    commit,
    modelType: String(m.config.model_type),
    ...shapeOf(m.config),
    files: [...m.files].map(([path, b]) => ({ path, size: b.byteLength })),
    offline: m.offline,
    prompts: readModelPrompts(m.files),
  };
  // Through the manifest and its hashes (checked once per worker), from the Hub it was loaded from.
  const reread = async () => {
    const stored = await loadCachedModel(state.store, req.hubUrl, req.repo, revision);
    if (!stored) throw new Error(`${req.repo}@${revision} is no longer stored`);
    const files = new Map(m.files);
    for (const path of files.keys()) {
      if (!path.endsWith('.safetensors')) continue;
      const bytes = stored.files.get(path);
      if (!bytes) throw new Error(`${req.repo}@${revision}: ${path} is no longer stored`);
      files.set(path, bytes);
    }
    return files;
  };
  state.model = { summary, files: m.files, hub: commit ? { repo: req.repo, revision, commit } : null, reread };
  return summary;
}

/** The model folder a finished run stored (`run/{runId}/…` without its record, log and checkpoints). */
export async function storedModelFiles(state: EngineState, runId: string): Promise<{ record: RunRecord; files: Map<string, Uint8Array> }> {
  const store = prefixedStore(state.store, runKey(runId));
  const record = await readRunRecord(store);
  if (!record) throw new Error(`no stored run ${runId}`);
  if (record.status !== 'done') throw new Error(`run ${runId} (${record.name}) has no trained model: it is ${record.status}`);
  const files = new Map<string, Uint8Array>();
  for (const key of await store.keys()) {
    if (key === RUN_RECORD_KEY || key.startsWith(CHECKPOINTS_PREFIX) || RUN_OUTPUT_EXTRAS.has(key)) continue;
    const bytes = await store.get(key);
    if (bytes) files.set(key, bytes);
  }
  return { record, files };
}

/** A model trained in this browser (a finished run's folder in IndexedDB) as the loaded model. */
export async function loadStoredModel(state: EngineState, runId: string): Promise<ModelSummary> {
  const { record, files } = await storedModelFiles(state, runId);
  const configBytes = files.get('config.json');
  if (!configBytes) throw new Error(`${record.name}: the stored model has no config.json`);
  const config = JSON.parse(new TextDecoder().decode(configBytes)) as Record<string, unknown>;
  checkModelConfig(config, record.name);
  const summary: ModelSummary = {
    kind: 'stored',
    name: record.name,
    repo: storedModelId(runId),
    revision: 'main',
    commit: '',
    modelType: String(config.model_type),
    ...shapeOf(config),
    files: [...files].map(([path, b]) => ({ path, size: b.byteLength })),
    offline: false,
    prompts: readModelPrompts(files),
  };
  state.model = { summary, files, hub: null, reread: async () => (await storedModelFiles(state, runId)).files };
  return summary;
}

export async function loadDataset(state: EngineState, req: LoadRequest, onProgress?: ProgressCallback): Promise<DatasetSummary> {
  if (req.repo.startsWith('mined:') || req.repo.startsWith('generated:')) return loadMinedDataset(state, req.repo);
  const ds = await loadHubDataset({ client: new HubClient({ hubUrl: req.hubUrl }), store: state.store, repo: req.repo, revision: req.revision, onProgress });
  return summarize(state, req.repo, ds.splits, ds.via, ds.offline);
}

/** A mined set (mine-session.ts) or a filtered generated set (generate-session.ts) kept in IndexedDB, as the loaded data set. */
async function loadMinedDataset(state: EngineState, id: string): Promise<DatasetSummary> {
  const splits: Record<string, Table> = {};
  for (const split of ['train', 'test']) {
    const bytes = await state.store.get(localDatasetKey(id, `${split}.jsonl`));
    if (bytes) splits[split] = await parseDataFile(`${split}.jsonl`, bytes);
  }
  if (!splits.train) throw new Error(`the ${id.split(':')[0]} data set ${id} is not in this browser's storage any more: ${id.startsWith('mined:') ? 'mine' : 'generate and filter'} it again (step 2)`);
  return summarize(state, id, splits, 'file', false, undefined, id.startsWith(GENERATED_PREFIX) ? await generatedOrigin(state, id.slice(GENERATED_PREFIX.length)) : null);
}

/**
 * What made a filtered generated set (generate-session.ts stores its record and, once pushed, its
 * Hub repo beside its splits), read back type-checked; null when it is missing or malformed.
 */
export async function generatedOrigin(state: EngineState, jobId: string): Promise<GeneratedOrigin | null> {
  const json = async (file: string): Promise<unknown> => {
    const bytes = await state.store.get(jobKey(jobId, file));
    if (!bytes || bytes.byteLength > MAX_CARD_CHARS) return null;
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
  };
  const pushed = (await json(PUSHED_FILE)) as { repo?: unknown } | null;
  return checkGeneratedOrigin({ record: await json(SET_FILE), repo: pushed?.repo ?? null });
}

export async function loadDataFile(state: EngineState, name: string, bytes: Uint8Array): Promise<DatasetSummary> {
  const t = await parseDataFile(name, bytes);
  return summarize(state, name, { file: t }, 'file', false);
}

/** Re-prepares the loaded data set with the user's column mapping (null: the default one). */
export async function setMapping(state: EngineState, mapping: ColumnMapping | null): Promise<DatasetSummary> {
  const d = state.data;
  if (!d) throw new Error('no data set is loaded');
  return summarize(state, d.source, d.splits, d.via, d.offline, mapping ?? undefined, d.generated);
}

export function summarize(state: EngineState, source: string, splits: Record<string, Table>, via: DatasetSummary['via'], offline: boolean, mapping?: ColumnMapping, generated: GeneratedOrigin | null = null): DatasetSummary {
  state.data = { source, splits, via, offline, generated };
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
    hygiene: p.hygiene,
  };
}

export async function storagePanel(state: EngineState): Promise<StoragePanel> {
  const est = await state.store.estimate();
  return { where: state.store.description, groups: await storeSummary(state.store), usage: est.usage, quota: est.quota };
}

export async function storageDelete(state: EngineState, group: string): Promise<number> {
  if (state.active && group.replace(/\/$/, '') === `run/${state.activeRunId}`) throw new Error('that run is in progress; cancel it first');
  // Sweeping skips writes in progress, so it is safe while a run writes.
  if (group === UNREFERENCED_GROUP) return (await state.store.sweep?.())?.entries ?? 0;
  return state.store.delPrefix(group.endsWith('/') ? group : `${group}/`);
}

export async function storagePersist(state: EngineState): Promise<boolean> {
  return state.store.persist();
}

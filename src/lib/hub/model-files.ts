// The files of a sentence-transformers model of a family in models/architectures.ts, from the Hub (cached in a Store, resumable,
// verified) or from a local folder (Node path or browser File list): which files are needed,
// the checks that give a clear error before anything heavy happens (no safetensors, unsupported
// model_type), and the offline path (a manifest written after every file is stored, recording
// each file's hash, against which a cached file is checked on its first use offline).
// Not a weights parser or a tokenizer: it hands bytes to models/safetensors.ts and transformers.js.

import { HubError } from './errors.ts';
import { HubClient, type HubFile } from './hub-client.ts';
import { downloadToStore, hexDigest, readChecked, type ExpectedFile } from './download.ts';
import { ProgressMeter, type ProgressCallback } from './progress.ts';
import { modelKey, type Store } from '../store/store.ts';
import { bertShapeProblem } from '../models/bert-config.ts';
import { ARCHITECTURES, architectureOfType, companionFiles, MODEL_FILES, type Architecture, SUPPORTED_MODEL_TYPES } from '../models/architectures.ts';

const INDEX = MODEL_FILES.weightsIndex;
export const MODEL_MANIFEST = '.tabtune-manifest.json';
const MANIFEST = MODEL_MANIFEST;

export type ModelSource =
  | { kind: 'hub'; hub: string; repo: string; revision: string; commit: string }
  | { kind: 'local'; name: string };

export interface ModelFiles {
  source: ModelSource;
  /** Repo path → bytes, for every file the engine and the tokenizer need. */
  files: Map<string, Uint8Array>;
  config: Record<string, unknown>;
  /** Safetensors files in load order (one, or the shards of the index). */
  weights: string[];
  /** True when loaded from the cache because the Hub could not be reached. */
  offline: boolean;
}

interface Manifest {
  commit: string;
  /** With the hash the listing gave (or, where it gave none, the sha256 of the bytes stored). */
  files: HubFile[];
  weights: string[];
}

/** What a listed or recorded file must be: its sha256 when known, else its git blob sha1. */
const expectedOf = (f: HubFile): ExpectedFile => ({ size: f.size, sha256: f.sha256, gitSha1: f.sha256 ? undefined : f.gitSha1 });

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const json = <T>(b: Uint8Array, name: string): T => {
  try {
    return JSON.parse(text(b)) as T;
  } catch (e) {
    throw new HubError('Unsupported', `${name} is not valid JSON (${(e as Error).message}).`);
  }
};

/** "bert (BERT encoders such as BAAI/bge-small-en-v1.5, …), xlm-roberta (…)": the families with a published model each. */
const supportedText = () =>
  ARCHITECTURES.map((a) => `${a.modelTypes.join(', ')} (${a.label} encoders such as ${a.presets.map((p) => p.id).join(', ')})`).join('; ');

/**
 * The family that builds the config's model; throws a clear error when none does, or when the
 * config claims a shape past bert-config.ts' limits (checked here, before any weights are fetched
 * or buffers built).
 */
export function checkModelConfig(config: Record<string, unknown>, where: string): Architecture {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new HubError('Unsupported', `${where}: config.json is not a JSON object.`);
  const type = config.model_type;
  if (typeof type !== 'string') throw new HubError('Unsupported', `${where}: config.json has no model_type; the engine supports ${SUPPORTED_MODEL_TYPES.join(', ')}.`);
  const arch = architectureOfType(type);
  if (!arch) throw new HubError('Unsupported', `${where}: model_type "${type}" is not supported; the engine supports ${supportedText()}.`);
  const shape = bertShapeProblem(config);
  if (shape) throw new HubError('Unsupported', `${where}: ${shape}.`);
  return arch;
}

/** Which weight files to use, from the file list; throws when there is no safetensors. */
export function pickWeights(paths: string[], where: string): { index: string | null; single: string | null } {
  if (paths.includes('model.safetensors')) return { index: null, single: 'model.safetensors' };
  if (paths.includes(INDEX)) return { index: INDEX, single: null };
  const legacy = paths.filter((p) => /(^|\/)(pytorch_model.*\.bin|tf_model\.h5|flax_model\.msgpack)$/.test(p) && !p.includes('/'));
  if (legacy.length) {
    throw new HubError(
      'Unsupported',
      `${where} has only ${legacy.join(', ')} and no model.safetensors. tabtune reads safetensors only (pickled PyTorch files cannot be read safely in a browser); pick a revision or a copy of the model that has model.safetensors.`,
    );
  }
  throw new HubError('Unsupported', `${where} has no model.safetensors (nor ${INDEX}); it does not look like a model folder.`);
}

/** The module and tokenizer files to fetch besides config and weights: the family's (architectures.ts) and modules.json's folders. */
function moduleFiles(arch: Architecture, paths: string[], modules: { path: string }[] | null): string[] {
  const want = new Set<string>();
  for (const f of companionFiles(arch)) if (paths.includes(f)) want.add(f);
  for (const m of modules ?? []) {
    if (!m.path) continue;
    // The Hub keeps no empty folders: 2_Normalize/ of older saves is simply absent.
    for (const p of paths) if (p.startsWith(`${m.path}/`) && !p.slice(m.path.length + 1).includes('/')) want.add(p);
  }
  return [...want];
}

/** tokenizer.json is what the engine tokenizes with (transformers.js); a folder with only vocab.txt or a SentencePiece model is refused before any weights are fetched. */
function checkTokenizer(paths: string[], where: string): void {
  if (paths.includes(MODEL_FILES.tokenizer)) return;
  const slow = paths.filter((p) => ARCHITECTURES.some((a) => a.tokenizerExtras.includes(p)));
  throw new HubError(
    'Unsupported',
    `${where} has no ${MODEL_FILES.tokenizer}${slow.length ? ` (only ${slow.join(', ')}, a slow tokenizer's files)` : ''}: tabtune tokenizes with a fast tokenizer's ${MODEL_FILES.tokenizer}. Save one with transformers (AutoTokenizer.from_pretrained(…).save_pretrained(…) writes it) or pick a revision that has it.`,
  );
}

export interface LoadHubModelOptions {
  client: HubClient;
  store: Store;
  repo: string;
  revision?: string;
  onProgress?: ProgressCallback;
  chunkBytes?: number;
  retries?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

export async function loadHubModel(o: LoadHubModelOptions): Promise<ModelFiles> {
  const revision = o.revision ?? 'main';
  const where = `${o.repo}@${revision}`;
  const hub = o.client.hubUrl;
  const key = (f: string) => modelKey(hub, o.repo, revision, f);
  let listing;
  try {
    listing = await o.client.listFiles('model', o.repo, revision);
  } catch (e) {
    if (e instanceof HubError && e.offline) {
      const cached = await loadCachedModel(o.store, o.client.hubUrl, o.repo, revision);
      if (cached) return cached;
      throw new HubError('Network', `${e.message} ${where} is not in the cache either.`, null, e);
    }
    throw e;
  }
  const paths = listing.files.map((f) => f.path);
  const byPath = new Map(listing.files.map((f) => [f.path, f]));
  const w = pickWeights(paths, where);
  checkTokenizer(paths, where);
  if (!byPath.has('config.json')) throw new HubError('Unsupported', `${where} has no config.json.`);

  // A cached file from an older commit of this revision (e.g. main moved) is dropped if its hash changed.
  const old = await readManifest(o.store, key(MANIFEST));
  if (old && old.commit !== listing.commit) {
    for (const f of old.files) {
      const now = byPath.get(f.path);
      if (!now || now.sha256 !== f.sha256 || now.gitSha1 !== f.gitSha1) await o.store.del(key(f.path));
    }
  }

  const meter = new ProgressMeter(o.onProgress, 0, null);
  const fetchFile = async (path: string) => {
    const f = byPath.get(path);
    if (!f) throw new HubError('EntryNotFound', `${where} lists no file ${path}.`);
    const r = await downloadToStore({
      url: o.client.resolveUrl('model', o.repo, listing.commit, path),
      store: o.store,
      key: key(path),
      label: path,
      expected: expectedOf(f),
      fetch: o.client.fetch,
      chunkBytes: o.chunkBytes,
      retries: o.retries,
      retryDelayMs: o.retryDelayMs,
      meter,
      signal: o.signal,
    });
    return r.bytes;
  };

  // config.json first: an unsupported model fails before megabytes of weights are fetched.
  meter.state.filesTotal = 1;
  const files = new Map<string, Uint8Array>();
  files.set('config.json', await fetchFile('config.json'));
  const config = json<Record<string, unknown>>(files.get('config.json')!, `${where}/config.json`);
  const arch = checkModelConfig(config, where);

  let modules: { path: string }[] | null = null;
  if (byPath.has('modules.json')) {
    files.set('modules.json', await fetchFile('modules.json'));
    modules = json(files.get('modules.json')!, `${where}/modules.json`);
  }
  let weights: string[];
  if (w.index) {
    files.set(w.index, await fetchFile(w.index));
    const index = json<{ weight_map: Record<string, string> }>(files.get(w.index)!, `${where}/${w.index}`);
    weights = [...new Set(Object.values(index.weight_map ?? {}))].sort();
    const missing = weights.filter((s) => !byPath.has(s));
    if (missing.length) throw new HubError('EntryNotFound', `${where}: ${w.index} names shards the repo does not have: ${missing.join(', ')}.`);
  } else {
    weights = [w.single!];
  }
  const rest = [...moduleFiles(arch, paths, modules), ...weights].filter((p) => !files.has(p));
  const all = [...files.keys(), ...rest];
  meter.state.filesTotal = all.length;
  meter.state.total = all.reduce((s, p) => s + (byPath.get(p)?.size ?? 0), 0);
  for (const p of rest) files.set(p, await fetchFile(p));
  meter.finish();

  const recorded = await Promise.all(
    all.map(async (p): Promise<HubFile> => {
      const f = byPath.get(p)!;
      return f.sha256 || f.gitSha1 ? f : { ...f, sha256: await hexDigest('SHA-256', files.get(p)!) };
    }),
  );
  const manifest: Manifest = { commit: listing.commit, files: recorded, weights };
  await o.store.set(key(MANIFEST), new TextEncoder().encode(JSON.stringify(manifest)));
  return { source: { kind: 'hub', hub, repo: o.repo, revision, commit: listing.commit }, files, config, weights, offline: false };
}

async function readManifest(store: Store, k: string): Promise<Manifest | null> {
  const b = await store.get(k);
  return b ? (JSON.parse(text(b)) as Manifest) : null;
}

/**
 * A model stored earlier from `hub`, without the network; null when any file is missing. Each
 * file is checked against the hash its manifest recorded on its first use in this worker/process;
 * a file that fails is deleted and this throws (there is no network to fetch it again).
 */
export async function loadCachedModel(store: Store, hub: string, repo: string, revision = 'main'): Promise<ModelFiles | null> {
  const m = await readManifest(store, modelKey(hub, repo, revision, MANIFEST));
  if (!m) return null;
  const where = `${repo}@${revision}`;
  const files = new Map<string, Uint8Array>();
  for (const f of m.files) {
    if (!f.sha256 && !f.gitSha1) {
      throw new HubError('Integrity', `${where}: the stored ${f.path} has no recorded hash (it was stored by an older tabtune), so it cannot be checked offline. Connect to ${hub} once to check it.`);
    }
    const r = await readChecked(store, modelKey(hub, repo, revision, f.path), expectedOf(f), f.path);
    if (r.kind === 'missing') return null;
    if (r.kind === 'mismatch') {
      throw new HubError('Integrity', `${where}: the stored copy of ${r.message} recorded when it was downloaded; it was deleted. Connect to ${hub} to download it again.`);
    }
    files.set(f.path, r.bytes);
  }
  const config = json<Record<string, unknown>>(files.get('config.json')!, 'config.json');
  checkModelConfig(config, `${repo} (cached)`);
  return { source: { kind: 'hub', hub, repo, revision, commit: m.commit }, files, config, weights: m.weights, offline: true };
}

export interface LocalFile {
  /** Path inside the model folder, "/"-separated ("1_Pooling/config.json"). */
  path: string;
  bytes: Uint8Array;
}

/**
 * A model folder picked by the user: the same checks and the same ModelFiles as from the Hub.
 * A directory picker gives paths that start with the folder's own name; that prefix is removed.
 */
export function loadLocalModel(name: string, picked: LocalFile[]): ModelFiles {
  let list = picked.map((f) => ({ ...f, path: f.path.replace(/\\/g, '/').replace(/^\.\//, '') }));
  const top = new Set(list.map((f) => f.path.split('/')[0]));
  if (top.size === 1 && list.every((f) => f.path.includes('/')) && !list.some((f) => f.path === 'config.json')) {
    const prefix = [...top][0] + '/';
    list = list.map((f) => ({ ...f, path: f.path.slice(prefix.length) }));
  }
  const byPath = new Map(list.map((f) => [f.path, f.bytes]));
  const paths = [...byPath.keys()];
  const where = `the folder ${name}`;
  const w = pickWeights(paths, where);
  checkTokenizer(paths, where);
  const cfg = byPath.get('config.json');
  if (!cfg) throw new HubError('Unsupported', `${where} has no config.json.`);
  const config = json<Record<string, unknown>>(cfg, `${name}/config.json`);
  const arch = checkModelConfig(config, where);
  const modules = byPath.has('modules.json') ? json<{ path: string }[]>(byPath.get('modules.json')!, `${name}/modules.json`) : null;
  let weights = w.single ? [w.single] : [];
  if (w.index) {
    const index = json<{ weight_map: Record<string, string> }>(byPath.get(w.index)!, `${name}/${w.index}`);
    weights = [...new Set(Object.values(index.weight_map ?? {}))].sort();
    const missing = weights.filter((s) => !byPath.has(s));
    if (missing.length) throw new HubError('EntryNotFound', `${where}: ${w.index} names shards that are not in the folder: ${missing.join(', ')}.`);
  }
  const files = new Map<string, Uint8Array>();
  for (const p of ['config.json', ...(w.index ? [w.index] : []), ...moduleFiles(arch, paths, modules), ...weights]) files.set(p, byPath.get(p)!);
  return { source: { kind: 'local', name }, files, config, weights, offline: false };
}


// Where a command's model and data come from, shared by `tabtune eval` and `tabtune train`:
// `--model DIR|HUB_ID` becomes a loaded SentenceModel and tokenizer, `--data DIR|FILE|HUB_ID`
// the prepared train/test examples (data module's mapping, validation and seeded split), Hub
// repos downloaded into the folder cache ($TABTUNE_CACHE or ~/.cache/tabtune) with a progress
// bar on stderr; `--hub URL` or TABTUNE_HUB_URL points at another Hub.
// An argument that exists on disk is local; otherwise `owner/name[@revision]` is a Hub id.
// Not the engine (no runtime is created here) and not the commands' flags.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DEFAULT_HUB_URL, normalizeHubUrl } from '../lib/config.ts';
import { ROLES, type ColumnMapping, type Role } from '../lib/data/columns.ts';
import { prepareDataset, type PrepareOptions, type PreparedDataset } from '../lib/data/dataset.ts';
import { checkDataFileSize, formatOf, parseDataFile, type Table } from '../lib/data/parse.ts';
import { MAX_CARD_CHARS, parseGenerationRecord, sidecarCardPath, type GeneratedOrigin } from '../lib/generate/generated-set.ts';
import { loadHubDataset } from '../lib/hub/dataset-files.ts';
import { HubError } from '../lib/hub/errors.ts';
import { HubClient } from '../lib/hub/hub-client.ts';
import { loadHubModel } from '../lib/hub/model-files.ts';
import type { Progress, ProgressCallback } from '../lib/hub/progress.ts';
import { loadSentenceModel, type SentenceModel } from '../lib/models/sentence-model.ts';
import { readModelFolder } from '../lib/models/sentence-model-node.ts';
import { openHubCache } from '../lib/hub/cache-migration.ts';
import { FolderStore } from '../lib/store/folder-store.ts';
import type { Store } from '../lib/store/store.ts';
import { loadTokenizer, tokenizerFilesFromMap, type TextTokenizer, type TokenizerFiles } from '../lib/tokenize/tokenizer.ts';
import { UsageError } from './errors.ts';
import { ProgressBar, type BarStream } from './progress-bar.ts';

export interface SourceContext {
  /** Absolute Hub URL without a trailing slash. */
  hubUrl: string;
  /** Default: a FolderStore at $TABTUNE_CACHE or ~/.cache/tabtune (opened through openHubCache). */
  store?: Store;
  /** Progress bars and notes. */
  stderr: BarStream;
  /** The command, for usage errors' --help pointer. */
  command?: string;
}

/**
 * The CLI's Hub cache ($TABTUNE_CACHE or ~/.cache/tabtune): old keys moved under huggingface.co's
 * (openHubCache), then what interrupted writes left there swept (folder-store.ts deletes only such
 * files over an hour old, so another tabtune process's write in progress is left alone).
 */
export function cliCache(): Store {
  const store = openHubCache(new FolderStore());
  void store.sweep?.().catch(() => undefined);
  return store;
}

/**
 * `--hub URL`, else TABTUNE_HUB_URL, else huggingface.co; a URL the page would not accept either
 * (normalizeHubUrl: https, or http only on this machine, so a token never crosses the network in
 * clear) is a usage error.
 */
export function resolveHubFlag(flag: string | undefined, env: Record<string, string | undefined> = process.env, command?: string): string {
  for (const [raw, what] of [[flag, '--hub'], [env.TABTUNE_HUB_URL, 'TABTUNE_HUB_URL']] as const) {
    if (raw === undefined || raw === '') continue;
    const url = normalizeHubUrl(raw);
    if (!url) throw new UsageError(`${what} must be an https URL (http only on localhost or 127.0.0.1) without query or credentials, got "${raw}"`, command);
    return url;
  }
  return DEFAULT_HUB_URL;
}

export type SourceKind = { kind: 'dir'; path: string } | { kind: 'file'; path: string } | { kind: 'hub'; repo: string; revision?: string };

const HUB_ID = /^([A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@([A-Za-z0-9._/-]+))?$/;

/** A path that exists is local; `owner/name[@revision]` that does not is a Hub id. */
export function classifySource(spec: string, flag: string, command?: string): SourceKind {
  const st = statSync(spec, { throwIfNoEntry: false });
  if (st?.isDirectory()) return { kind: 'dir', path: spec };
  if (st?.isFile()) return { kind: 'file', path: spec };
  const m = HUB_ID.exec(spec);
  if (m && !spec.startsWith('.') && !spec.includes('//')) return { kind: 'hub', repo: m[1], ...(m[2] ? { revision: m[2] } : {}) };
  // run_config.json names a local model or data file by its name only (src/lib/export/public-names.ts).
  const bare = !/[\\/]/.test(spec) ? ` (a run config names local files without their folder: run from the folder that holds ${spec}, or give ${flag} PATH)` : '';
  throw new UsageError(`${flag} ${spec}: no such file or folder, and not a Hub id (owner/name[@revision])${bare}`, command);
}

/** Draws Hub download progress (bytes) as one bar; created on the first event. */
export function downloadProgress(label: string, stream: BarStream): ProgressCallback & { finish(): void } {
  let bar: ProgressBar | null = null;
  let noted = 0;
  const cb = (p: Progress) => {
    // A note (a stored file that failed its hash check) goes on its own line, above the bar.
    for (; noted < p.notes.length; noted++) {
      bar?.finish();
      bar = null;
      stream.write(`${label}: ${p.notes[noted]}\n`);
    }
    bar ??= new ProgressBar({ label, unit: 'B', stream, total: p.total ?? undefined });
    if (p.total !== null) bar.tracker.setTotal(p.total);
    bar.update(p.loaded);
    if (p.phase === 'done') cb.finish();
  };
  cb.finish = () => {
    bar?.finish();
    bar = null;
  };
  return cb;
}

// ---- models -------------------------------------------------------------------------------------

export interface ModelSource {
  /** What the user named: a folder or `owner/name@revision`. */
  name: string;
  origin: 'folder' | 'hub';
  /** Hub: the commit the revision resolved to. */
  commit?: string;
  /** Hub: the repo, revision and commit (what identifies the model for a resume). */
  hub?: { repo: string; revision: string; commit: string };
  offline?: boolean;
  model: SentenceModel;
  tokenizer: TextTokenizer;
  /** The parsed tokenizer files (the trainer saves them with the fine-tuned model). */
  tokenizerFiles: TokenizerFiles;
  /** Every file read, by model-folder path (the Hub's files; a folder's model files). */
  files: Map<string, Uint8Array>;
}

/** `--model DIR|HUB_ID` → the sentence model and its tokenizer; errors name the argument. */
export async function loadModelSource(spec: string, ctx: SourceContext, flag = '--model'): Promise<ModelSource> {
  const src = classifySource(spec, flag, ctx.command);
  if (src.kind === 'file') throw new UsageError(`${flag} ${spec} is a file; give the model's folder or a Hub id`, ctx.command);
  const named = (e: unknown): never => {
    throw new Error(`${flag} ${spec}: ${(e as Error).message}`, { cause: e });
  };
  if (src.kind === 'dir') {
    try {
      const files = readModelFolder(src.path);
      const model = loadSentenceModel(files);
      const tokenizerFiles = tokenizerFilesFromMap(files, spec);
      return { name: spec, origin: 'folder', model, tokenizer: loadTokenizer(tokenizerFiles), tokenizerFiles, files };
    } catch (e) {
      return named(e);
    }
  }
  const client = new HubClient({ hubUrl: ctx.hubUrl });
  const progress = downloadProgress(`model ${src.repo}`, ctx.stderr);
  let loaded;
  try {
    loaded = await loadHubModel({ client, store: ctx.store ?? cliCache(), repo: src.repo, revision: src.revision, onProgress: progress });
  } catch (e) {
    progress.finish();
    if (e instanceof HubError && e.code === 'RepositoryNotFound') {
      throw new Error(`${flag} ${spec}: no such folder here, and ${e.message}`, { cause: e });
    }
    return named(e);
  }
  const where = `${src.repo}@${src.revision ?? 'main'}`;
  try {
    const model = loadSentenceModel(loaded.files);
    const tokenizerFiles = tokenizerFilesFromMap(loaded.files, where);
    return {
      name: where,
      origin: 'hub',
      commit: loaded.source.kind === 'hub' ? loaded.source.commit : undefined,
      hub: loaded.source.kind === 'hub' ? { repo: src.repo, revision: src.revision ?? 'main', commit: loaded.source.commit } : undefined,
      offline: loaded.offline,
      model,
      tokenizer: loadTokenizer(tokenizerFiles),
      tokenizerFiles,
      files: loaded.files,
    };
  } catch (e) {
    return named(e);
  }
}

// ---- data ---------------------------------------------------------------------------------------

export interface DataSource {
  /** What the user named, or `owner/name@revision`. */
  name: string;
  origin: 'folder' | 'file' | 'hub';
  /** Split name → where it came from (files, or the Hub's split). */
  files: Record<string, string[]>;
  splits: Record<string, Table>;
  prepared: PreparedDataset;
  /** What made it, when it is a file `tabtune generate` wrote with its card beside it (FILE.card.md); else null. */
  generated: GeneratedOrigin | null;
  /** Why a card found beside the file was not used (it does not describe these rows); null otherwise. */
  cardProblem?: string | null;
}

const SPLIT_NAMES = ['train', 'validation', 'valid', 'dev', 'test'];
/** The Hub's data file layout: data/{split}-00000-of-00001.parquet (or any data format). */
const SHARD = /^([A-Za-z0-9_.]+?)-(\d+)-of-(\d+)\.[A-Za-z0-9]+$/;

/**
 * A data folder's splits: top-level `{split}.{csv,tsv,json,jsonl,parquet}` (split one of
 * train, validation, valid, dev, test); else the Hub layout `data/{split}-NNNNN-of-NNNNN.*` (shards
 * joined in order) or `data/{split}.*`; else its only data file, as one split.
 */
export function findDataFiles(dir: string): Record<string, string[]> {
  const dataFiles = (d: string) => {
    try {
      return readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isFile() && !e.name.startsWith('.') && formatOf(e.name) !== null)
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  };
  const bySplit = (names: string[], prefix: string, shards: boolean) => {
    const out: Record<string, string[]> = {};
    for (const name of names) {
      const stem = name.replace(/\.[^.]+$/, '');
      const split = SPLIT_NAMES.includes(stem) ? stem : shards ? SHARD.exec(name)?.[1] : undefined;
      if (split) (out[split] ??= []).push(join(prefix, name));
    }
    return out;
  };
  const top = dataFiles(dir);
  const topSplits = bySplit(top, dir, false);
  for (const [split, files] of Object.entries(topSplits)) {
    if (files.length > 1) throw new Error(`${dir}: ${files.map((f) => basename(f)).join(' and ')} are both the ${split} split; keep one, or pass --data FILE`);
  }
  if (Object.keys(topSplits).length > 0) return topSplits;
  const hub = bySplit(dataFiles(join(dir, 'data')), join(dir, 'data'), true);
  if (Object.keys(hub).length > 0) return hub;
  if (top.length === 1) return { file: [join(dir, top[0])] };
  if (top.length === 0) throw new Error(`${dir}: no data files (.csv, .tsv, .json, .jsonl, .parquet) at the top or under data/`);
  throw new Error(`${dir}: ${top.length} data files (${top.join(', ')}) and none named after a split (train, test, ...); rename them or pass --data FILE`);
}

/** A data file, refused by its size (stat) before it is opened when over MAX_DATA_FILE_BYTES. */
export async function readTable(path: string): Promise<Table> {
  checkDataFileSize(path, statSync(path).size);
  return parseDataFile(basename(path), new Uint8Array(readFileSync(path)));
}

function concatTables(parts: Table[]): Table {
  if (parts.length === 1) return parts[0];
  return { columns: [...new Set(parts.flatMap((p) => p.columns))], rows: parts.flatMap((p) => p.rows) };
}

/** `anchor=question,positive=doc,id=id` → a mapping; unknown roles are usage errors. */
export function parseColumnsFlag(value: string, command?: string): ColumnMapping {
  const out: ColumnMapping = {};
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(.+)$/.exec(part);
    if (!m || !(ROLES as readonly string[]).includes(m[1])) {
      throw new UsageError(`--columns: "${part}" is not ROLE=COLUMN with ROLE one of ${ROLES.join(', ')}`, command);
    }
    out[m[1] as Role] = m[2];
  }
  return out;
}

export interface DataOptions extends Omit<PrepareOptions, 'source'> {
  flag?: string;
}

/**
 * `--data DIR|FILE|HUB_ID` → tables per split and the prepared examples. Validation messages come
 * from the data module; when they leave nothing usable this throws them all as one error.
 */
export async function loadDataSource(spec: string, ctx: SourceContext, options: DataOptions = {}): Promise<DataSource> {
  const { flag = '--data', ...prepare } = options;
  const src = classifySource(spec, flag, ctx.command);
  let splits: Record<string, Table> = {};
  let files: Record<string, string[]>;
  let name = spec;
  if (src.kind === 'hub') {
    const progress = downloadProgress(`data ${src.repo}`, ctx.stderr);
    try {
      const ds = await loadHubDataset({ client: new HubClient({ hubUrl: ctx.hubUrl }), store: ctx.store ?? cliCache(), repo: src.repo, revision: src.revision, onProgress: progress });
      splits = ds.splits;
      name = src.repo;
      files = Object.fromEntries(Object.keys(ds.splits).map((s) => [s, [`${src.repo}@${ds.revision} (${ds.via}${ds.offline ? ', offline' : ''})`]]));
    } catch (e) {
      if (e instanceof HubError && e.code === 'RepositoryNotFound') throw new Error(`${flag} ${spec}: no such file or folder here, and ${e.message}`, { cause: e });
      throw new Error(`${flag} ${spec}: ${(e as Error).message}`, { cause: e });
    } finally {
      progress.finish();
    }
  } else {
    files = src.kind === 'file' ? { file: [src.path] } : findDataFiles(src.path);
    for (const [split, paths] of Object.entries(files)) splits[split] = concatTables(await Promise.all(paths.map(readTable)));
  }
  const prepared = prepareDataset(splits, { ...prepare, source: name });
  const errors = prepared.issues.filter((i) => i.level === 'error');
  if (!prepared.usable) throw new Error(errors.map((i) => i.message).join('\n'));
  const card = src.kind === 'file' ? generatedCard(src.path, splits) : { generated: null, problem: null };
  return { name, origin: src.kind === 'hub' ? 'hub' : src.kind === 'dir' ? 'folder' : 'file', files, splits, prepared, generated: card.generated, cardProblem: card.problem };
}

/**
 * The record of the card `tabtune generate` wrote beside a data file (FILE.card.md), read as
 * untrusted text: bounded before it is read, type-checked (generated-set.ts); used only when it
 * counts as many pairs as the file holds, so an edited file is not credited to the generator.
 */
function generatedCard(path: string, splits: Record<string, Table>): { generated: GeneratedOrigin | null; problem: string | null } {
  const cardPath = sidecarCardPath(path);
  if (cardPath === path || !existsSync(cardPath)) return { generated: null, problem: null };
  const size = statSync(cardPath).size;
  if (size > MAX_CARD_CHARS) return { generated: null, problem: `${cardPath} is ${size} bytes, more than a generated set's card holds; not read` };
  const record = parseGenerationRecord(readFileSync(cardPath, 'utf8'));
  if (!record) return { generated: null, problem: `${cardPath} holds no tabtune generation record; the model card names the file only` };
  const rows = Object.values(splits).reduce((n, t) => n + t.rows.length, 0);
  const pairs = record.counts.train + record.counts.test;
  if (rows !== pairs) return { generated: null, problem: `${cardPath} describes ${pairs} pairs, ${basename(path)} holds ${rows} rows; the model card names the file only` };
  return { generated: { record, repo: null }, problem: null };
}

/** One line per issue, then how the mapping and split were chosen, to stderr. */
export function reportData(data: DataSource, stream: BarStream): void {
  for (const i of data.prepared.issues) stream.write(`${i.level}: ${i.message}\n`);
  const p = data.prepared;
  const mapping = Object.entries(p.mapping)
    .map(([role, col]) => `${role}=${col}`)
    .join(', ');
  if (data.cardProblem) stream.write(`warning: ${data.cardProblem}\n`);
  if (data.generated) stream.write(`${data.name}: generated by ${JSON.stringify(data.generated.record.generator.model.slice(0, 200))} (its card ${sidecarCardPath(data.name)}); the model card names it\n`);
  stream.write(`${data.name}: ${p.train.length} train / ${p.test.length} test examples; columns ${mapping} (${p.mappingSource === 'seed' ? "the seed's mapping" : p.mappingSource === 'auto' ? 'detected' : 'given'})\n`);
}

// A local stand-in for huggingface.co (and datasets-server.huggingface.co) that serves fixture
// folders under any repo names, for loader, resume and end-to-end tests without the internet.
// What it mimics, from huggingface_hub's `get_hf_file_metadata`, huggingface.js's
// `fileDownloadInfo` and transformers.js's hub code:
//   GET|HEAD /{repo}/resolve/{rev}/{path} and /datasets/{repo}/resolve/{rev}/{path}
//     - Range (bytes=a-b, a-, -n) → 206 + Content-Range; Accept-Ranges: bytes; 416 when unsatisfiable
//     - ETag: the git blob sha1 (quoted) for regular files; X-Repo-Commit on every file response
//     - LFS files (*.safetensors, *.parquet, *.bin, *.onnx, … or > 10 MB): X-Linked-Size,
//       X-Linked-ETag ("<sha256>"), ETag = the sha256, and — like the Hub — a 302 to a CDN URL
//       (here /cdn/<sha256>/<name> on the same server) unless `lfsRedirect: false`
//     - 404 with X-Error-Code RepositoryNotFound | RevisionNotFound | EntryNotFound and a JSON
//       `{"error": …}` body
//   GET /api/{models|datasets}/{repo}[/revision/{rev}]   → { id, sha, siblings: [{rfilename}], … }
//   GET /api/{models|datasets}/{repo}/tree/{rev}[/{dir}][?recursive=true]
//       → [{ type, oid, size, path, lfs?: { oid, size, pointerSize } }]
//   GET /api/datasets/{repo}/parquet                     → { default: { train: [url], test: [url] } }
//       (one entry per config: { corpus: { NanoMSMARCO: [url] }, queries: {…}, qrels: {…} })
//   GET /api/datasets/{repo}/parquet/{config}/{split}    → [url]
//   GET /api/datasets/{repo}/parquet/{config}/{split}/{n}.parquet → 302 to
//       /datasets/{repo}/resolve/refs%2Fconvert%2Fparquet/{config}/{split}/{nnnn}.parquet
//   Dataset viewer (real host: https://datasets-server.huggingface.co), here under /datasets-server:
//     /splits?dataset=, /rows?dataset=&config=&split=&offset=&length= (length ≤ 100),
//     /parquet?dataset=, /is-valid?dataset=
// A data set folder's splits are its `data/{split}-NNNNN-of-NNNNN.parquet` files (the Hub layout)
// for the `default` config, and `{config}/{split}-NNNNN-of-NNNNN.parquet` for a named config (the
// layout of multi-config repos such as sentence-transformers/NanoBEIR-en, whose README lists
// `config_name: corpus` with `path: corpus/NanoMSMARCO-*`); the refs/convert/parquet revision
// serves them as `{config}/{split}/0000.parquet`.
// Uploads, as @huggingface/hub makes them (`tokens` option; Authorization: Bearer hf_…):
//   GET  /api/whoami-v2                                  → { type, name, orgs, auth } | 401
//   POST /api/repos/create {name, organization, type, visibility} → { url, id } | 401 | 403 | 409
//   POST /api/{models|datasets}/{repo}/preupload/{rev} {files:[{path,size,sample}]} → {files:[{path,uploadMode}]}
//   POST /[datasets/]{repo}.git/info/lfs/objects/batch (basic transfer only, so the client never uses xet)
//   PUT  /lfs-upload/{sha256}                            the object's bytes (sha256 checked)
//   POST /api/{models|datasets}/{repo}/commit/{rev} (NDJSON: header, file {content base64}, lfsFile {oid})
//        → { commitOid, commitUrl }; the repo then serves the new files like any other (a data set's
//        data/{split}-NNNNN-of-NNNNN.parquet shards also under refs/convert/parquet).
// CORS is open (Access-Control-Allow-Origin: *, the Hub's headers exposed) so browser pages on
// other origins can use it. Fault injection: cut a body after N bytes (socket destroyed), once per
// file by default; `offline` answers every upload request by dropping the connection; every
// request is logged with its Authorization header and the bytes it actually sent;
// `createRepoUrl` makes repos/create answer with that `url` (a Hub that lies about it).
// Not a general Hub: no xet protocol, no branches but main, only org/name repo ids.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { parquetReadObjects } from 'hyparquet';

export interface FaultOptions {
  /** Body bytes to send before destroying the socket. */
  afterBytes: number;
  /** Which repo file paths to cut (default: all). Matched against e.g. "model.safetensors". */
  match?: RegExp | ((path: string) => boolean);
  /** How many body responses per file to cut (default 1: the first). */
  times?: number;
}

export interface LocalHubOptions {
  /** repo id ("org/name") → fixture folder; the same folder may appear under several names. */
  models?: Record<string, string>;
  datasets?: Record<string, string>;
  /** Delay before each response (ms). */
  latencyMs?: number;
  /** Shorthand for `faults: { afterBytes }`. */
  failAfterBytes?: number;
  faults?: FaultOptions;
  /** Answer LFS files with a 302 to /cdn/… as the Hub does (default true). */
  lfsRedirect?: boolean;
  /** Which files count as LFS (default: Hub .gitattributes extensions, or > 10 MB). */
  isLfs?: (path: string, size: number) => boolean;
  /** Access tokens → the user and the namespaces the token may write to ([]: read only). */
  tokens?: Record<string, { user: string; write: string[] }>;
  /** The `url` repos/create answers with, in place of the repo's own (e.g. a `javascript:` URL). */
  createRepoUrl?: string;
}

export interface RequestLogEntry {
  method: string;
  url: string;
  status: number;
  range: string | null;
  /** Repo file path for file responses (resolve/ and cdn/), else null. */
  file: string | null;
  /** Body bytes written to the socket. */
  bytesSent: number;
  /** True when fault injection cut this response. */
  cut: boolean;
  /** The request's Authorization header, as sent (where a token went). */
  authorization: string | null;
}

export interface LocalHub {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The same server's dataset viewer prefix: `${url}/datasets-server` */
  datasetsServerUrl: string;
  requests: RequestLogEntry[];
  /** The commit sha the server reports for a repo. */
  commitOf(kind: 'model' | 'dataset', repo: string): string;
  /** Cut the next `times` body responses of files matching `match` after `afterBytes`. */
  setFaults(faults: FaultOptions | null): void;
  /** Drop the connection of every upload request (a network failure while pushing). */
  setUploadsOffline(offline: boolean): void;
  /** Whether a model repo exists (pushed or served), and its visibility. */
  repoInfo(repo: string): { private: boolean; files: string[] } | null;
  close(): Promise<void>;
}

const LFS_EXTENSIONS = [
  '.safetensors', '.parquet', '.bin', '.onnx', '.onnx_data', '.pt', '.pth', '.h5', '.msgpack', '.ckpt',
  '.gguf', '.arrow', '.tflite', '.ot', '.model', '.zip', '.npy', '.npz', '.pkl', '.tar', '.gz',
];
const defaultIsLfs = (path: string, size: number) => LFS_EXTENSIONS.some((e) => path.endsWith(e)) || size > 10 * 1024 * 1024;

const PARQUET_REV = 'refs/convert/parquet';

interface RepoFile {
  path: string;
  /** On disk (fixtures), or in memory (pushed). */
  abs?: string;
  data?: Uint8Array;
  size: number;
  /** git blob sha1 of the content, or of the LFS pointer for LFS files. */
  oid: string;
  lfs: { sha256: string; pointerSize: number } | null;
}

interface Repo {
  kind: 'model' | 'dataset';
  id: string;
  sha: string;
  files: Map<string, RepoFile>;
  /** refs/convert/parquet view: "default/train/0000.parquet" → the data file. */
  parquet: Map<string, RepoFile>;
  /** config → its splits, in the Hub's order (default first, then by name; train, validation, test first). */
  configs: Map<string, string[]>;
  private: boolean;
}

const contentOf = (f: RepoFile): Uint8Array => f.data ?? readFileSync(f.abs!);

const gitBlobSha1 = (content: Uint8Array) =>
  createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const abs = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(abs));
    else if (entry.isFile()) out.push(abs);
  }
  return out;
}

/** A repo file's git identity: the blob sha1 of its content, or of its LFS pointer. */
function repoFile(path: string, content: Uint8Array, lfsFile: boolean, where: { abs: string } | { data: Uint8Array }): RepoFile {
  let lfs: RepoFile['lfs'] = null;
  let oid = gitBlobSha1(content);
  if (lfsFile) {
    const sha256 = createHash('sha256').update(content).digest('hex');
    const pointer = new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${content.byteLength}\n`);
    lfs = { sha256, pointerSize: pointer.byteLength };
    oid = gitBlobSha1(pointer);
  }
  return { path, ...where, size: content.byteLength, oid, lfs };
}

const repoSha = (kind: string, id: string, files: Map<string, RepoFile>) =>
  createHash('sha1')
    .update(`${kind}:${id}\n`)
    .update([...files.values()].map((f) => `${f.path} ${f.oid}`).join('\n'))
    .digest('hex');

function loadRepo(kind: 'model' | 'dataset', id: string, dir: string, isLfs: LocalHubOptions['isLfs'] & {}): Repo {
  const files = new Map<string, RepoFile>();
  for (const abs of walk(dir).sort()) {
    const path = relative(dir, abs).split(sep).join('/');
    const content = readFileSync(abs);
    files.set(path, repoFile(path, content, isLfs(path, content.byteLength), { abs }));
  }
  return { kind, id, sha: repoSha(kind, id, files), files, ...parquetView(files), private: false };
}

/** The refs/convert/parquet view of a data set's files (`{config}/{split}-NNNNN-of-NNNNN.parquet`), as the Hub's conversion lists it. */
function parquetView(files: Map<string, RepoFile>): Pick<Repo, 'parquet' | 'configs'> {
  const parquet = new Map<string, RepoFile>();
  const found = new Map<string, string[]>();
  for (const f of files.values()) {
    const m = /^([A-Za-z0-9_-]+)\/([A-Za-z0-9_]+)-(\d{5})-of-\d{5}\.parquet$/.exec(f.path);
    if (!m) continue;
    const config = m[1] === 'data' ? 'default' : m[1];
    const splits = found.get(config) ?? [];
    if (!splits.includes(m[2])) splits.push(m[2]);
    found.set(config, splits);
    parquet.set(`${config}/${m[2]}/${m[3].slice(1)}.parquet`, f);
  }
  const configs = new Map(
    [...found]
      .sort(([a], [b]) => (a === 'default' ? -1 : b === 'default' ? 1 : a.localeCompare(b)))
      .map(([c, splits]) => [c, splits.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))]),
  );
  return { parquet, configs };
}

/** train, validation, test first, as the Hub lists them. */
function rank(split: string): number {
  const i = ['train', 'validation', 'test'].indexOf(split);
  return i < 0 ? 3 : i;
}

const EXPOSED = [
  'X-Repo-Commit', 'X-Linked-Size', 'X-Linked-ETag', 'X-Error-Code', 'X-Error-Message', 'ETag',
  'Content-Range', 'Content-Length', 'Accept-Ranges', 'Location', 'Link',
].join(', ');

export async function startLocalHub(options: LocalHubOptions = {}): Promise<LocalHub> {
  const isLfs = options.isLfs ?? defaultIsLfs;
  const repos = new Map<string, Repo>();
  for (const [id, dir] of Object.entries(options.models ?? {})) repos.set(`model:${id}`, loadRepo('model', id, dir, isLfs));
  for (const [id, dir] of Object.entries(options.datasets ?? {})) repos.set(`dataset:${id}`, loadRepo('dataset', id, dir, isLfs));
  const byLfsSha = new Map<string, { repo: Repo; file: RepoFile }>();
  for (const repo of repos.values()) for (const f of repo.files.values()) if (f.lfs) byLfsSha.set(f.lfs.sha256, { repo, file: f });

  const lfsRedirect = options.lfsRedirect ?? true;
  let faults: FaultOptions | null = options.faults ?? (options.failAfterBytes !== undefined ? { afterBytes: options.failAfterBytes } : null);
  const cutsPerFile = new Map<string, number>();
  const requests: RequestLogEntry[] = [];
  let base = '';

  const server = createServer((req, res) => {
    const entry: RequestLogEntry = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: 0,
      range: (req.headers.range as string | undefined) ?? null,
      file: null,
      bytesSent: 0,
      cut: false,
      authorization: req.headers.authorization ?? null,
    };
    requests.push(entry);
    const go = () => {
      try {
        handle(req, res, entry);
      } catch (e) {
        sendJson(res, entry, 500, { error: String((e as Error).message) });
      }
    };
    if (options.latencyMs) setTimeout(go, options.latencyMs);
    else go();
  });

  function setCommon(res: ServerResponse) {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    res.setHeader('Vary', 'Origin');
  }

  function sendJson(res: ServerResponse, entry: RequestLogEntry, status: number, body: unknown, headers: Record<string, string> = {}) {
    const bytes = Buffer.from(JSON.stringify(body));
    setCommon(res);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', bytes.byteLength);
    res.statusCode = status;
    entry.status = status;
    if (entry.method === 'HEAD') {
      res.end();
      return;
    }
    entry.bytesSent = bytes.byteLength;
    res.end(bytes);
  }

  function notFound(res: ServerResponse, entry: RequestLogEntry, code: 'RepositoryNotFound' | 'RevisionNotFound' | 'EntryNotFound', message: string) {
    sendJson(res, entry, 404, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });
  }

  function redirect(res: ServerResponse, entry: RequestLogEntry, location: string, headers: Record<string, string> = {}) {
    setCommon(res);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('Location', location);
    res.setHeader('Content-Length', 0);
    res.statusCode = 302;
    entry.status = 302;
    res.end();
  }

  function shouldCut(path: string): boolean {
    if (!faults) return false;
    const m = faults.match;
    if (m && !(m instanceof RegExp ? m.test(path) : m(path))) return false;
    const done = cutsPerFile.get(path) ?? 0;
    if (done >= (faults.times ?? 1)) return false;
    cutsPerFile.set(path, done + 1);
    return true;
  }

  /** Serves a file body with Range support; `headers` are the Hub's metadata headers. */
  function sendFile(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, file: RepoFile, headers: Record<string, string>) {
    entry.file = file.path;
    setCommon(res);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', contentType(file.path));
    const size = file.size;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') {
          start = Math.max(0, size - Number(m[2]));
        } else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
        }
        if (start >= size || start > end) {
          res.setHeader('Content-Range', `bytes */${size}`);
          res.setHeader('Content-Length', 0);
          res.statusCode = 416;
          entry.status = 416;
          res.end();
          return;
        }
        status = 206;
        res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      }
    }
    const length = size === 0 ? 0 : end - start + 1;
    res.setHeader('Content-Length', length);
    res.statusCode = status;
    entry.status = status;
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = contentOf(file).subarray(start, start + length);
    if (shouldCut(file.path)) {
      const n = Math.min(faults!.afterBytes, body.byteLength);
      entry.cut = true;
      entry.bytesSent = n;
      res.flushHeaders();
      res.write(body.subarray(0, n), () => res.socket?.destroy());
      return;
    }
    entry.bytesSent = body.byteLength;
    res.end(body);
  }

  function findRepo(kind: 'model' | 'dataset', id: string): Repo | undefined {
    return repos.get(`${kind}:${id}`);
  }

  function revisionOk(repo: Repo, rev: string): boolean {
    return rev === 'main' || rev === repo.sha || (repo.kind === 'dataset' && rev === PARQUET_REV && repo.parquet.size > 0);
  }

  function fileHeaders(repo: Repo, file: RepoFile): Record<string, string> {
    const h: Record<string, string> = { 'X-Repo-Commit': repo.sha };
    if (file.lfs) {
      h['X-Linked-Size'] = String(file.size);
      h['X-Linked-ETag'] = `"${file.lfs.sha256}"`;
      h['ETag'] = `"${file.lfs.sha256}"`;
    } else {
      h['ETag'] = `"${file.oid}"`;
    }
    return h;
  }

  function resolve(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, kind: 'model' | 'dataset', id: string, rev: string, path: string) {
    const repo = findRepo(kind, id);
    if (!repo) return notFound(res, entry, 'RepositoryNotFound', 'Repository not found');
    if (!revisionOk(repo, rev)) return notFound(res, entry, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const file = rev === PARQUET_REV ? repo.parquet.get(path) : repo.files.get(path);
    if (!file) return notFound(res, entry, 'EntryNotFound', 'Entry not found');
    const headers = fileHeaders(repo, file);
    if (file.lfs && lfsRedirect) {
      entry.file = file.path;
      const name = path.split('/').pop()!;
      return redirect(res, entry, `${base}/cdn/${file.lfs.sha256}/${encodeURIComponent(name)}`, headers);
    }
    sendFile(req, res, entry, file, headers);
  }

  function treeEntries(repo: Repo, rev: string, dir: string, recursive: boolean) {
    const files = rev === PARQUET_REV ? repo.parquet : repo.files;
    const prefix = dir ? dir.replace(/\/$/, '') + '/' : '';
    const out: unknown[] = [];
    const dirs = new Set<string>();
    for (const [path, f] of files) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const parts = rest.split('/');
      for (let i = 1; i < parts.length && (recursive || i === 1); i++) {
        const d = prefix + parts.slice(0, i).join('/');
        if (!dirs.has(d)) {
          dirs.add(d);
          out.push({ type: 'directory', oid: createHash('sha1').update(`tree ${d}`).digest('hex'), size: 0, path: d });
        }
      }
      if (!recursive && parts.length > 1) continue;
      out.push({
        type: 'file',
        oid: f.oid,
        size: f.size,
        path,
        ...(f.lfs ? { lfs: { oid: f.lfs.sha256, size: f.size, pointerSize: f.lfs.pointerSize } } : {}),
      });
    }
    return out;
  }

  function repoInfo(repo: Repo, url: URL) {
    const blobs = url.searchParams.get('blobs') === 'true';
    const siblings = [...repo.files.values()].map((f) =>
      blobs
        ? { rfilename: f.path, size: f.size, blobId: f.oid, ...(f.lfs ? { lfs: { sha256: f.lfs.sha256, size: f.size, pointerSize: f.lfs.pointerSize } } : {}) }
        : { rfilename: f.path },
    );
    const common = {
      _id: repo.sha.slice(0, 24),
      id: repo.id,
      author: repo.id.split('/')[0],
      sha: repo.sha,
      lastModified: '2024-10-19T00:00:00.000Z',
      private: repo.private,
      disabled: false,
      gated: false,
      downloads: 0,
      likes: 0,
      siblings,
      createdAt: '2024-10-19T00:00:00.000Z',
    };
    if (repo.kind === 'model') {
      let config: unknown = undefined;
      const cfg = repo.files.get('config.json');
      if (cfg) {
        const c = JSON.parse(new TextDecoder().decode(contentOf(cfg)));
        config = { architectures: c.architectures, model_type: c.model_type };
      }
      return { ...common, modelId: repo.id, library_name: 'sentence-transformers', pipeline_tag: 'sentence-similarity', tags: ['sentence-transformers', 'safetensors', 'bert'], config };
    }
    const configs = [...repo.configs].map(([config, splits]) => ({
      config_name: config,
      data_files: splits.map((s) => ({ split: s, path: `${config === 'default' ? 'data' : config}/${s}-*` })),
    }));
    return { ...common, tags: ['format:parquet', 'modality:text'], cardData: { configs } };
  }

  async function readRows(repo: Repo, config: string, split: string): Promise<Record<string, unknown>[]> {
    const file = repo.parquet.get(`${config}/${split}/0000.parquet`);
    if (!file) return [];
    const buf = contentOf(file);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const rows = await parquetReadObjects({ file: ab });
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
  }

  async function datasetsServer(res: ServerResponse, entry: RequestLogEntry, route: string, url: URL) {
    const id = url.searchParams.get('dataset') ?? '';
    const repo = findRepo('dataset', id);
    if (!repo) {
      return sendJson(res, entry, 404, {
        error: 'The dataset does not exist, or is not accessible without authentication (private or gated). Please check the spelling of the dataset name or retry with other authentication credentials.',
      }, { 'X-Error-Code': 'ResponseNotFound' });
    }
    if (route === 'is-valid') return sendJson(res, entry, 200, { preview: true, viewer: true, search: false, filter: false, statistics: false });
    if (route === 'splits') {
      const splits = [...repo.configs].flatMap(([config, names]) => names.map((split) => ({ dataset: id, config, split })));
      return sendJson(res, entry, 200, { splits, pending: [], failed: [] });
    }
    if (route === 'parquet') {
      const parquet_files = [...repo.configs].flatMap(([config, names]) =>
        names.map((split) => {
          const f = repo.parquet.get(`${config}/${split}/0000.parquet`)!;
          return {
            dataset: id, config, split, filename: '0000.parquet', size: f.size,
            url: `${base}/datasets/${id}/resolve/${encodeURIComponent(PARQUET_REV)}/${config}/${split}/0000.parquet`,
          };
        }),
      );
      return sendJson(res, entry, 200, { parquet_files, pending: [], failed: [], partial: false });
    }
    if (route === 'rows') {
      const config = url.searchParams.get('config') ?? '';
      const split = url.searchParams.get('split') ?? '';
      const offset = Number(url.searchParams.get('offset') ?? '0');
      const length = Number(url.searchParams.get('length') ?? '100');
      if (!repo.configs.get(config)?.includes(split)) {
        return sendJson(res, entry, 404, { error: 'Not found.' }, { 'X-Error-Code': 'ResponseNotFound' });
      }
      if (!Number.isInteger(offset) || offset < 0) return sendJson(res, entry, 422, { error: "Parameter 'offset' must be positive" }, { 'X-Error-Code': 'InvalidParameter' });
      if (!Number.isInteger(length) || length < 0 || length > 100) {
        return sendJson(res, entry, 422, { error: "Parameter 'length' must not be greater than 100" }, { 'X-Error-Code': 'InvalidParameter' });
      }
      const all = await readRows(repo, config, split);
      const names = all.length ? Object.keys(all[0]) : [];
      const features = names.map((name, feature_idx) => ({
        feature_idx,
        name,
        type: { dtype: typeof all[0][name] === 'number' ? 'int64' : 'string', _type: 'Value' },
      }));
      const rows = all.slice(offset, offset + length).map((row, i) => ({ row_idx: offset + i, row, truncated_cells: [] }));
      return sendJson(res, entry, 200, { features, rows, num_rows_total: all.length, num_rows_per_page: 100, partial: false });
    }
    sendJson(res, entry, 404, { error: 'Not found.' });
  }

  // ---- uploads (@huggingface/hub) -----------------------------------------------------------
  const tokens = options.tokens ?? {};
  let uploadsOffline = false;
  /** LFS objects uploaded but not yet committed, by sha256. */
  const lfsObjects = new Map<string, Uint8Array>();

  function readBody(req: IncomingMessage): Promise<Uint8Array> {
    return new Promise((ok, fail) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => ok(new Uint8Array(Buffer.concat(chunks))));
      req.on('error', fail);
    });
  }

  /** The token's account, or null after answering 401. */
  function authorize(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry): { user: string; write: string[] } | null {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const account = token ? tokens[token] : undefined;
    if (!account) {
      sendJson(res, entry, 401, { error: 'Invalid credentials in Authorization header' });
      return null;
    }
    return account;
  }

  function whoami(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry) {
    const account = authorize(req, res, entry);
    if (!account) return;
    const write = account.write.length > 0;
    sendJson(res, entry, 200, {
      type: 'user', name: account.user, fullname: account.user, orgs: account.write.filter((n) => n !== account.user).map((name) => ({ type: 'org', name })),
      auth: { type: 'access_token', accessToken: { displayName: 'local', role: write ? 'write' : 'read', createdAt: '2024-10-19T00:00:00.000Z' } },
    });
  }

  function mayWrite(account: { write: string[] }, repo: string): boolean {
    return account.write.includes(repo.split('/')[0]);
  }

  function upload(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry, seg: string[], body: Uint8Array) {
    // The LFS object store (no auth, as the Hub's presigned storage URLs).
    if (req.method === 'PUT' && seg[0] === 'lfs-upload' && seg.length === 2) {
      const sha256 = createHash('sha256').update(body).digest('hex');
      if (sha256 !== seg[1]) return sendJson(res, entry, 400, { error: `content sha256 ${sha256} is not ${seg[1]}` });
      lfsObjects.set(sha256, body);
      return sendJson(res, entry, 200, {});
    }
    const account = authorize(req, res, entry);
    if (!account) return;
    const json = () => JSON.parse(new TextDecoder().decode(body));
    if (seg[0] === 'api' && seg[1] === 'repos' && seg[2] === 'create') {
      const b = json();
      const id = `${b.organization ?? account.user}/${b.name}`;
      const kind: Repo['kind'] = b.type === 'dataset' ? 'dataset' : 'model';
      if (b.type && b.type !== 'model' && b.type !== 'dataset') return sendJson(res, entry, 400, { error: 'only model and dataset repos here' });
      if (!mayWrite(account, id)) return sendJson(res, entry, 403, { error: `You don't have the rights to create a ${kind} under the namespace "${id.split('/')[0]}"` });
      const url = `${base}/${kind === 'dataset' ? 'datasets/' : ''}${id}`;
      if (findRepo(kind, id)) return sendJson(res, entry, 409, { error: `You already created this ${kind} repo`, url });
      const files = new Map<string, RepoFile>();
      repos.set(`${kind}:${id}`, { kind, id, sha: repoSha(kind, id, files), files, parquet: new Map(), configs: new Map(), private: b.visibility === 'private' });
      return sendJson(res, entry, 200, { url: options.createRepoUrl ?? url, name: id, id: createHash('sha1').update(id).digest('hex').slice(0, 24) });
    }
    if (seg[0] === 'api' && (seg[1] === 'models' || seg[1] === 'datasets') && seg.length === 6 && (seg[4] === 'preupload' || seg[4] === 'commit')) {
      const id = `${seg[2]}/${seg[3]}`;
      const repo = findRepo(seg[1] === 'models' ? 'model' : 'dataset', id);
      if (!repo) return notFound(res, entry, 'RepositoryNotFound', 'Repository not found');
      if (!mayWrite(account, id)) return sendJson(res, entry, 403, { error: `You don't have the rights to write to ${id}` });
      if (seg[5] !== 'main') return notFound(res, entry, 'RevisionNotFound', `Invalid rev id: ${seg[5]}`);
      if (seg[4] === 'preupload') {
        const files = (json().files as { path: string; size: number }[]).map((f) => ({ path: f.path, uploadMode: isLfs(f.path, f.size) ? 'lfs' : 'regular' }));
        return sendJson(res, entry, 200, { files });
      }
      const lines = new TextDecoder().decode(body).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; value: Record<string, string | number> });
      const next = new Map(repo.files);
      for (const { key, value } of lines) {
        const path = String(value.path);
        if (key === 'file') {
          const data = new Uint8Array(Buffer.from(String(value.content), 'base64'));
          next.set(path, repoFile(path, data, false, { data }));
        } else if (key === 'lfsFile') {
          const known = byLfsSha.get(String(value.oid));
          const data = lfsObjects.get(String(value.oid)) ?? (known ? contentOf(known.file) : undefined);
          if (!data) return sendJson(res, entry, 422, { error: `LFS object ${value.oid} of ${path} was never uploaded` });
          next.set(path, repoFile(path, data, true, { data }));
        } else if (key === 'deletedFile') next.delete(path);
      }
      repo.files.clear();
      for (const [p, f] of [...next].sort(([a], [b]) => a.localeCompare(b))) repo.files.set(p, f);
      repo.sha = repoSha(repo.kind, id, repo.files);
      // A pushed data set's Parquet shards are listed under refs/convert/parquet, as the Hub's conversion would.
      if (repo.kind === 'dataset') Object.assign(repo, parquetView(repo.files));
      for (const f of repo.files.values()) if (f.lfs) byLfsSha.set(f.lfs.sha256, { repo, file: f });
      return sendJson(res, entry, 200, { commitOid: repo.sha, commitUrl: `${base}/${id}/commit/${repo.sha}`, hookOutput: '' });
    }
    const lfsSeg = seg[0] === 'datasets' ? seg.slice(1) : seg;
    if (lfsSeg.length === 6 && lfsSeg[1].endsWith('.git') && lfsSeg.slice(2).join('/') === 'info/lfs/objects/batch') {
      const id = `${lfsSeg[0]}/${lfsSeg[1].slice(0, -4)}`;
      if (!findRepo(seg[0] === 'datasets' ? 'dataset' : 'model', id)) return notFound(res, entry, 'RepositoryNotFound', 'Repository not found');
      if (!mayWrite(account, id)) return sendJson(res, entry, 403, { error: `You don't have the rights to write to ${id}` });
      const objects = (json().objects as { oid: string; size: number }[]).map((o) => ({
        oid: o.oid, size: o.size, ...(lfsObjects.has(o.oid) || byLfsSha.has(o.oid) ? {} : { actions: { upload: { href: `${base}/lfs-upload/${o.oid}` } } }),
      }));
      return sendJson(res, entry, 200, { transfer: 'basic', objects });
    }
    sendJson(res, entry, 404, { error: 'Not found' });
  }

  function handle(req: IncomingMessage, res: ServerResponse, entry: RequestLogEntry) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') {
      setCommon(res);
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? '*');
      res.statusCode = 204;
      entry.status = 204;
      res.end();
      return;
    }
    const seg = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
    if (req.method === 'POST' || req.method === 'PUT') {
      if (uploadsOffline) {
        entry.status = -1;
        req.socket.destroy();
        return;
      }
      void readBody(req)
        .then((body) => upload(req, res, entry, seg, body))
        .catch((e) => sendJson(res, entry, 500, { error: String((e as Error).message) }));
      return;
    }
    if (seg[0] === 'api' && seg[1] === 'whoami-v2') return whoami(req, res, entry);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, entry, 405, { error: 'Method not allowed' });

    if (seg[0] === 'datasets-server') {
      void datasetsServer(res, entry, seg[1] ?? '', url).catch((e) => sendJson(res, entry, 500, { error: String(e) }));
      return;
    }
    if (seg[0] === 'cdn' && seg.length >= 2) {
      const hit = byLfsSha.get(seg[1]);
      if (!hit) return sendJson(res, entry, 404, { error: 'Not found' });
      return sendFile(req, res, entry, hit.file, { ETag: `"${hit.file.lfs!.sha256}"` });
    }
    if (seg[0] === 'api' && (seg[1] === 'models' || seg[1] === 'datasets') && seg.length >= 4) {
      const kind = seg[1] === 'models' ? 'model' : 'dataset';
      const id = `${seg[2]}/${seg[3]}`;
      const repo = findRepo(kind, id);
      if (!repo) return notFound(res, entry, 'RepositoryNotFound', 'Repository not found');
      const rest = seg.slice(4);
      if (rest.length === 0) return sendJson(res, entry, 200, repoInfo(repo, url));
      if (rest[0] === 'revision' && rest.length === 2) {
        if (!revisionOk(repo, rest[1])) return notFound(res, entry, 'RevisionNotFound', `Invalid rev id: ${rest[1]}`);
        return sendJson(res, entry, 200, repoInfo(repo, url));
      }
      if (rest[0] === 'tree' && rest.length >= 2) {
        if (!revisionOk(repo, rest[1])) return notFound(res, entry, 'RevisionNotFound', `Invalid rev id: ${rest[1]}`);
        const dir = rest.slice(2).join('/');
        const list = treeEntries(repo, rest[1], dir, url.searchParams.get('recursive') === 'true' || url.searchParams.get('recursive') === '1');
        if (dir && list.length === 0) return notFound(res, entry, 'EntryNotFound', `Entry not found`);
        return sendJson(res, entry, 200, list);
      }
      if (kind === 'dataset' && rest[0] === 'parquet') {
        const urlOf = (config: string, split: string) => `${base}/api/datasets/${id}/parquet/${config}/${split}/0.parquet`;
        const listing = (config: string) => Object.fromEntries(repo.configs.get(config)!.map((s) => [s, [urlOf(config, s)]]));
        if (rest.length === 1) return sendJson(res, entry, 200, Object.fromEntries([...repo.configs.keys()].map((c) => [c, listing(c)])));
        const splits = repo.configs.get(rest[1]);
        if (!splits) return notFound(res, entry, 'EntryNotFound', 'Config not found');
        if (rest.length === 2) return sendJson(res, entry, 200, listing(rest[1]));
        if (!splits.includes(rest[2])) return notFound(res, entry, 'EntryNotFound', 'Split not found');
        if (rest.length === 3) return sendJson(res, entry, 200, [urlOf(rest[1], rest[2])]);
        const m = /^(\d+)\.parquet$/.exec(rest[3] ?? '');
        const target = m ? `${rest[1]}/${rest[2]}/${m[1].padStart(4, '0')}.parquet` : '';
        if (!repo.parquet.has(target)) return notFound(res, entry, 'EntryNotFound', 'Entry not found');
        return redirect(res, entry, `${base}/datasets/${id}/resolve/${encodeURIComponent(PARQUET_REV)}/${target}`);
      }
      return sendJson(res, entry, 404, { error: 'Not found' });
    }
    // resolve routes: [datasets/]org/name/resolve/rev/path...
    const isDataset = seg[0] === 'datasets';
    const s = isDataset ? seg.slice(1) : seg;
    if (s.length >= 5 && s[2] === 'resolve') {
      return resolve(req, res, entry, isDataset ? 'dataset' : 'model', `${s[0]}/${s[1]}`, s[3], s.slice(4).join('/'));
    }
    if (s.length === 2 && findRepo(isDataset ? 'dataset' : 'model', `${s[0]}/${s[1]}`)) {
      return sendJson(res, entry, 200, { id: `${s[0]}/${s[1]}` });
    }
    sendJson(res, entry, 404, { error: 'Not found' });
  }

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    datasetsServerUrl: `${base}/datasets-server`,
    requests,
    commitOf(kind, repo) {
      const r = findRepo(kind, repo);
      if (!r) throw new Error(`no ${kind} ${repo} on this hub`);
      return r.sha;
    },
    setFaults(f) {
      faults = f;
      cutsPerFile.clear();
    },
    setUploadsOffline(offline) {
      uploadsOffline = offline;
    },
    repoInfo(repo) {
      const r = findRepo('model', repo);
      return r ? { private: r.private, files: [...r.files.keys()] } : null;
    },
    close() {
      return new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      });
    },
  };
}

function contentType(path: string): string {
  if (path.endsWith('.json')) return 'application/json; charset=utf-8';
  if (path.endsWith('.md') || path.endsWith('.txt') || path.endsWith('.jsonl')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

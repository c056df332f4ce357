// Push a model package to the Hugging Face Hub with @huggingface/hub: check the token (whoami),
// create the repo (private or public; an existing one only when the caller says so), upload every
// file in one commit with progress (hashing and LFS uploads per file), a commit message that
// summarises the run. Each failure becomes a message that says what happened and what to do —
// a refused token (401), no write access (403), an existing repo (409), the Hub not reachable —
// and nothing on the caller's side is touched (the package is only read).
// The token is a parameter, never stored here (the page keeps it in memory unless the user asks).
// Not the package (package.ts) and not the Hub downloads (src/lib/hub/).

import { createRepo, uploadFilesWithProgress, whoAmI } from '@huggingface/hub';
import type { IrResult } from '../eval/ir-metrics.ts';
import type { CardRecord } from './model-card.ts';
import { publicName } from './public-names.ts';

export interface PushProgress {
  phase: 'checking' | 'creating' | 'preuploading' | 'hashing' | 'uploading' | 'committing' | 'done';
  /** The file the event is about (hashing, uploading). */
  path?: string;
  /** 0..1 for that file. */
  fraction?: number;
  /** Bytes of the files whose upload finished, and of all files. */
  doneBytes: number;
  totalBytes: number;
}

export interface PushOptions {
  hubUrl: string;
  /** `owner/name`. */
  repo: string;
  /** A model repo (default) or a dataset repo (a generated data set: generate/generated-set.ts). */
  kind?: 'model' | 'dataset';
  token: string;
  private?: boolean;
  /** Commit to the repo when it exists already (else an existing repo is an error). */
  update?: boolean;
  /** The package (Blobs let the page hand over files without holding them as arrays). */
  files: ReadonlyMap<string, Uint8Array | Blob>;
  message: string;
  description?: string;
  onProgress?: (p: PushProgress) => void;
  signal?: AbortSignal;
}

export interface PushResult {
  repoUrl: string;
  commitUrl: string | null;
  created: boolean;
  /** The account the token belongs to. */
  user: string;
}

export class PushError extends Error {
  constructor(
    message: string,
    readonly code: 'bad-token' | 'no-access' | 'exists' | 'network' | 'hub',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PushError';
  }
}

const REPO = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** "tabtune: BAAI/bge-base-en-v1.5 on QAsimple (48 updates), nDCG@10 dim 768 0.8987 → 0.9397". */
export function commitMessage(record: CardRecord): string {
  const first = record.after?.evaluators[0];
  const key = first ? `${first.name}_cosine_ndcg@10` : null;
  const before = record.before?.evaluators.find((e) => e.dim === first?.dim);
  const score = first && key
    ? `, nDCG@10 dim ${first.dim} ${before ? `${before.metrics[`${before.name}_cosine_ndcg@10`].toFixed(4)} → ` : ''}${first.metrics[key].toFixed(4)}`
    : '';
  return `tabtune: ${publicName(record.baseModel)} fine-tuned on ${publicName(record.dataSource)} (${record.step} updates${score})`;
}

const statusOf = (e: unknown) => (e as { statusCode?: number }).statusCode;

function explain(e: unknown, o: PushOptions, what: string): PushError {
  const status = statusOf(e);
  const detail = (e as Error).message ?? String(e);
  if (status === 401) return new PushError(`The Hub refused the token (HTTP 401) while ${what}: check it at ${o.hubUrl}/settings/tokens (it needs the "write" role). Nothing was uploaded.`, 'bad-token', { cause: e });
  if (status === 403) return new PushError(`The token may not write to ${o.repo} (HTTP 403) while ${what}: use a token with write access to "${o.repo.split('/')[0]}", or push to your own namespace. Nothing was uploaded.`, 'no-access', { cause: e });
  if (status === undefined && (e instanceof TypeError || /fetch failed|network|ECONNREFUSED|Failed to fetch/i.test(detail))) {
    return new PushError(`Could not reach ${o.hubUrl} while ${what} (${detail}). Your ${o.kind === 'dataset' ? 'data set' : 'model'} is unchanged here; try again when the network is back.`, 'network', { cause: e });
  }
  return new PushError(`The Hub answered ${status ?? 'with an error'} while ${what}: ${detail}`, 'hub', { cause: e });
}

export async function pushToHub(o: PushOptions): Promise<PushResult> {
  if (!REPO.test(o.repo)) throw new PushError(`"${o.repo}" is not a repo id: use owner/name (letters, digits, - _ .)`, 'hub');
  if (!o.token.startsWith('hf_')) throw new PushError('That is not a Hugging Face access token: tokens start with "hf_" (create one at huggingface.co/settings/tokens, role "write").', 'bad-token');
  const sizeOf = (b: Uint8Array | Blob) => (b instanceof Blob ? b.size : b.byteLength);
  const totalBytes = [...o.files.values()].reduce((n, b) => n + sizeOf(b), 0);
  let doneBytes = 0;
  const report = (p: Omit<PushProgress, 'doneBytes' | 'totalBytes'>) => o.onProgress?.({ ...p, doneBytes, totalBytes });

  report({ phase: 'checking' });
  let user: string;
  try {
    user = (await whoAmI({ accessToken: o.token, hubUrl: o.hubUrl })).name;
  } catch (e) {
    throw explain(e, o, 'checking the token');
  }

  report({ phase: 'creating' });
  let created = true;
  const type = o.kind ?? 'model';
  let repoUrl = `${o.hubUrl}/${type === 'dataset' ? 'datasets/' : ''}${o.repo}`;
  try {
    repoUrl = (await createRepo({ repo: { type, name: o.repo }, accessToken: o.token, hubUrl: o.hubUrl, private: o.private ?? false })).repoUrl;
  } catch (e) {
    if (statusOf(e) !== 409) throw explain(e, o, `creating ${o.repo}`);
    if (!o.update) {
      throw new PushError(`${o.kind === 'dataset' ? 'The data set repo ' : ''}${o.repo} exists already on ${o.hubUrl}. Choose another name, or allow updating it (a new commit on its main branch). Nothing was uploaded.`, 'exists', { cause: e });
    }
    created = false;
  }

  const sizes = new Map([...o.files].map(([p, b]) => [p, sizeOf(b)]));
  const finished = new Set<string>();
  try {
    const it = uploadFilesWithProgress({
      repo: { type, name: o.repo },
      accessToken: o.token,
      hubUrl: o.hubUrl,
      files: [...o.files].map(([path, b]) => ({ path, content: b instanceof Blob ? b : new Blob([b as Uint8Array<ArrayBuffer>]) })),
      commitTitle: o.message,
      commitDescription: o.description,
      abortSignal: o.signal,
      useXet: false,
    });
    for (;;) {
      const r = await it.next();
      if (r.done) {
        for (const [path, size] of sizes) if (!finished.has(path)) doneBytes += size;
        report({ phase: 'done' });
        return { repoUrl, commitUrl: r.value?.commit.url ?? null, created, user };
      }
      const ev = r.value;
      if (ev.event === 'phase') {
        report({ phase: ev.phase === 'preuploading' ? 'preuploading' : ev.phase === 'uploadingLargeFiles' ? 'uploading' : 'committing' });
      } else if (ev.event === 'fileProgress') {
        if (ev.state === 'uploading' && ev.progress >= 1 && !finished.has(ev.path)) {
          finished.add(ev.path);
          doneBytes += sizes.get(ev.path) ?? 0;
        }
        report({ phase: ev.state === 'hashing' ? 'hashing' : 'uploading', path: ev.path, fraction: ev.progress });
      }
    }
  } catch (e) {
    throw explain(e, o, `uploading to ${o.repo}`);
  }
}

/** The int8 figures as the commit description's extra line. */
export function describeInt8(int8: IrResult | null | undefined): string | undefined {
  if (!int8) return undefined;
  return `int8 ONNX: ${int8.evaluators.map((e) => `dim ${e.dim} nDCG@10 ${e.metrics[`${e.name}_cosine_ndcg@10`].toFixed(4)}`).join(', ')}`;
}

// Where things are on a Hugging Face Hub (or the local test Hub): file URLs, the repo listing
// with sizes and hashes, JSON GETs with the Hub's errors turned into HubErrors. Not a
// downloader (download.ts) and no auth: tabtune only reads public repositories.

import { hubErrorFrom, networkError, type ErrorContext } from './errors.ts';

export type RepoKind = 'model' | 'dataset';

export interface HubFile {
  path: string;
  /** Absent when the Hub did not say. */
  size?: number;
  /** LFS files: the content sha256. */
  sha256?: string;
  /** Regular files: the git blob sha1 (the Hub's blobId). */
  gitSha1?: string;
}

export interface RepoListing {
  /** The commit the revision resolved to. */
  commit: string;
  files: HubFile[];
}

export interface HubClientOptions {
  hubUrl: string;
  /** The dataset viewer API; default https://datasets-server.huggingface.co for huggingface.co, else `${hubUrl}/datasets-server`. */
  datasetsServerUrl?: string;
  fetch?: typeof fetch;
}

export function datasetsServerFor(hubUrl: string): string {
  return /^https:\/\/huggingface\.co$/.test(hubUrl) ? 'https://datasets-server.huggingface.co' : `${hubUrl}/datasets-server`;
}

const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');

export class HubClient {
  readonly hubUrl: string;
  readonly datasetsServerUrl: string;
  readonly fetch: typeof fetch;

  constructor(options: HubClientOptions) {
    this.hubUrl = options.hubUrl.replace(/\/+$/, '');
    this.datasetsServerUrl = (options.datasetsServerUrl ?? datasetsServerFor(this.hubUrl)).replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  resolveUrl(kind: RepoKind, repo: string, revision: string, path: string): string {
    return `${this.hubUrl}/${kind === 'dataset' ? 'datasets/' : ''}${repo}/resolve/${encodeURIComponent(revision)}/${enc(path)}`;
  }

  /** GET a JSON document; Hub errors and network failures become HubErrors. */
  async getJson<T>(url: string, ctx: ErrorContext): Promise<T> {
    let res: Response;
    try {
      res = await this.fetch(url);
    } catch (e) {
      throw networkError(new URL(url).origin, e);
    }
    if (!res.ok) throw await hubErrorFrom(res, ctx);
    return (await res.json()) as T;
  }

  /** Every file of a repo at a revision, with sizes and hashes (`?blobs=true`). */
  async listFiles(kind: RepoKind, repo: string, revision: string): Promise<RepoListing> {
    const url = `${this.hubUrl}/api/${kind}s/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
    const info = await this.getJson<{
      sha: string;
      siblings: { rfilename: string; size?: number; blobId?: string; lfs?: { sha256: string; size: number } }[];
    }>(url, { hub: this.hubUrl, repo, kind, revision });
    return {
      commit: info.sha,
      files: info.siblings.map((s) => ({
        path: s.rfilename,
        ...(s.lfs?.size ?? s.size) !== undefined ? { size: s.lfs?.size ?? s.size } : {},
        ...(s.lfs ? { sha256: s.lfs.sha256 } : s.blobId ? { gitSha1: s.blobId } : {}),
      })),
    };
  }
}

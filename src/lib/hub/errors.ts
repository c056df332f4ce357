// Errors of the Hub client, each with a message a user can act on. Not a logger.

export type HubErrorCode =
  | 'RepositoryNotFound'
  | 'RevisionNotFound'
  | 'EntryNotFound'
  | 'Network'
  | 'Http'
  | 'Integrity'
  | 'Unsupported';

export class HubError extends Error {
  readonly code: HubErrorCode;
  readonly status: number | null;
  constructor(code: HubErrorCode, message: string, status: number | null = null, cause?: unknown) {
    super(message, { cause });
    this.name = 'HubError';
    this.code = code;
    this.status = status;
  }
  /** True when the server could not be reached at all (offline, DNS, connection refused). */
  get offline(): boolean {
    return this.code === 'Network';
  }
}

export interface ErrorContext {
  hub: string;
  repo: string;
  kind: 'model' | 'dataset';
  revision?: string;
  path?: string;
}

/** Turns a non-OK Hub response into a HubError, using the Hub's X-Error-Code header. */
export async function hubErrorFrom(res: Response, ctx: ErrorContext): Promise<HubError> {
  const code = res.headers.get('x-error-code');
  let detail = res.headers.get('x-error-message') ?? '';
  if (!detail) detail = await res.json().then((j: { error?: string }) => j.error ?? '', () => '');
  const what = ctx.kind === 'dataset' ? 'Data set' : 'Model';
  if (code === 'RepositoryNotFound' || (res.status === 401 && !code)) {
    return new HubError(
      'RepositoryNotFound',
      `${what} ${ctx.repo} was not found on ${ctx.hub}. Check the spelling (owner/name); private or gated repositories need a login, which tabtune does not do.`,
      res.status,
    );
  }
  if (code === 'RevisionNotFound') {
    return new HubError('RevisionNotFound', `${what} ${ctx.repo} has no revision "${ctx.revision}" (a branch, tag or commit sha) on ${ctx.hub}.`, res.status);
  }
  if (code === 'EntryNotFound') {
    return new HubError('EntryNotFound', `${what} ${ctx.repo}@${ctx.revision} has no file ${ctx.path ?? ''}.`, res.status);
  }
  return new HubError('Http', `${ctx.hub} answered ${res.status} ${res.statusText} for ${ctx.repo}${ctx.path ? `/${ctx.path}` : ''}${detail ? `: ${detail}` : ''}.`, res.status);
}

export function networkError(hub: string, cause: unknown): HubError {
  const why = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
  return new HubError('Network', `Cannot reach ${hub} (${why}). Check the connection; files already downloaded stay available offline.`, null, cause);
}

// The two ways a command fails: a usage error (bad or missing arguments; exit 2, with a pointer
// to --help) and everything else (exit 1). Only main.ts turns them into exit codes.

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help to suggest; undefined for the top level. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

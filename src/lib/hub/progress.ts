// Progress of a multi-file download as one stream of events: bytes done / total, the network
// rate (smoothed by the shared ProgressTracker) and an ETA, sent through one rate-limited
// callback (the worker forwards it to the page unchanged). Not a UI: it only counts.

import { ProgressTracker } from '../progress/progress.ts';

export interface Progress {
  /** What is happening now: fetching bytes, hashing a finished file, parsing. */
  phase: 'download' | 'verify' | 'parse' | 'done';
  /** The file being worked on (repo path), or '' between files. */
  file: string;
  fileLoaded: number;
  /** null when the server did not say. */
  fileTotal: number | null;
  /** Bytes of all files of this job that are available (cached ones count at once). */
  loaded: number;
  total: number | null;
  /** Network bytes per second over the last few seconds. */
  rate: number;
  /** Seconds left at `rate`; null when unknown. */
  eta: number | null;
  filesDone: number;
  filesTotal: number;
  /** What the user should know about this job, in order: a stored copy that failed its hash check and was dropped. */
  notes: string[];
}

export type ProgressCallback = (p: Progress) => void;

export class ProgressMeter {
  #cb: ProgressCallback | undefined;
  #intervalMs: number;
  #last = 0;
  /** Counts network bytes only: cached files must not make the rate jump. */
  #network = new ProgressTracker({ unit: 'B', halfLifeS: 2, now: () => Date.now() });
  state: Progress;

  constructor(cb: ProgressCallback | undefined, filesTotal: number, total: number | null, intervalMs = 100) {
    this.#cb = cb;
    this.#intervalMs = intervalMs;
    this.state = { phase: 'download', file: '', fileLoaded: 0, fileTotal: null, loaded: 0, total, rate: 0, eta: null, filesDone: 0, filesTotal, notes: [] };
  }

  startFile(file: string, fileTotal: number | null, alreadyHave = 0): void {
    Object.assign(this.state, { phase: 'download', file, fileLoaded: alreadyHave, fileTotal });
    this.state.loaded += alreadyHave;
    this.#emit(true);
  }

  /** `n` new bytes arrived from the network. */
  bytes(n: number): void {
    this.state.fileLoaded += n;
    this.state.loaded += n;
    this.#network.advance(n);
    this.#emit(false);
  }

  /** A retry threw away `n` bytes counted for the current file. */
  rewind(n: number): void {
    this.state.fileLoaded -= n;
    this.state.loaded -= n;
  }

  phase(phase: Progress['phase'], file = this.state.file): void {
    this.state.phase = phase;
    this.state.file = file;
    this.#emit(true);
  }

  /** A file is complete; `size` is added to `loaded` when it came from the cache. */
  fileDone(fromCache: number): void {
    this.state.loaded += fromCache;
    this.state.filesDone += 1;
    this.#emit(true);
  }

  /** Tells the user something about this job (kept in `notes`, sent at once). */
  note(message: string): void {
    this.state.notes = [...this.state.notes, message];
    this.#emit(true);
  }

  finish(): void {
    this.state.phase = 'done';
    this.state.file = '';
    this.state.eta = 0;
    this.#emit(true);
  }

  #emit(force: boolean): void {
    if (!this.#cb) return;
    const now = Date.now();
    if (!force && now - this.#last < this.#intervalMs) return;
    this.#last = now;
    this.state.rate = this.#network.snapshot().rate ?? 0;
    const left = this.state.total === null ? null : Math.max(0, this.state.total - this.state.loaded);
    this.state.eta = left === null || this.state.rate <= 0 ? (left === 0 ? 0 : null) : left / this.state.rate;
    this.#cb({ ...this.state });
  }
}

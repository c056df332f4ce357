// A one-line progress bar on stderr for the command line: on a terminal it redraws in place
// (`\r`, at most every `redrawMs`), elsewhere (a pipe, a CI log) it prints a plain line every
// `logEveryMs`. The numbers come from ProgressTracker (src/lib/progress); this file only draws.

import { formatCount, formatDuration, formatRate, ProgressTracker, type ProgressSnapshot } from '../lib/progress/progress.ts';

export interface BarStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  label?: string;
  total?: number;
  unit?: string;
  stream?: BarStream;
  /** Minimum time between redraws on a terminal. */
  redrawMs?: number;
  /** Time between lines when the stream is not a terminal. */
  logEveryMs?: number;
  now?: () => number;
}

/** Exact below a million (250/1000), abbreviated above (1.25M/2.00M). */
const countText = (n: number) => (Number.isInteger(n) && Math.abs(n) < 1e6 ? String(n) : formatCount(n));

/** The bar's text for a snapshot, fitted to `columns` (no control characters); `detail` (a second rate, say) goes after the time. */
export function renderProgressLine(s: ProgressSnapshot, label: string, columns = 80, detail = ''): string {
  const count = s.total === undefined ? `${countText(s.done)} ${s.unit}` : `${countText(s.done)}/${countText(s.total)} ${s.unit}`;
  const time = s.finished
    ? `in ${formatDuration(s.elapsedS)}`
    : s.total === undefined
      ? `${formatDuration(s.elapsedS)} elapsed`
      : `ETA ${formatDuration(s.etaS)}`;
  const rate = formatRate(s.finished ? s.averageRate : s.rate, s.unit);
  const prefix = label ? `${label} ` : '';
  const extra = detail ? `  ${detail}` : '';
  if (s.fraction === undefined) return `${prefix}${count}  ${rate}  ${time}${extra}`;
  const percent = `${Math.floor(s.fraction * 100)}%`.padStart(4);
  const rest = `${percent} ${count}  ${rate}  ${time}${extra}`;
  const barWidth = Math.min(30, columns - 1 - prefix.length - rest.length - 3);
  if (barWidth < 5) return `${prefix}${rest}`;
  const filled = Math.floor(s.fraction * barWidth);
  return `${prefix}[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${rest}`;
}

export class ProgressBar {
  readonly tracker: ProgressTracker;
  private readonly label: string;
  private readonly stream: BarStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastDrawMs = -Infinity;
  private closed = false;
  private detail = '';

  constructor(opts: ProgressBarOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.tracker = new ProgressTracker({ total: opts.total, unit: opts.unit, now: this.now });
    this.label = opts.label ?? '';
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.intervalMs = this.tty ? (opts.redrawMs ?? 100) : (opts.logEveryMs ?? 10_000);
    if (this.tty) this.draw();
  }

  advance(n: number): void {
    this.tracker.advance(n);
    this.maybeDraw();
  }

  update(done: number): void {
    this.tracker.update(done);
    this.maybeDraw();
  }

  /** Text drawn after the time from the next redraw on (e.g. tokens/s beside documents/s). */
  setDetail(text: string): void {
    this.detail = text;
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.closed) return;
    this.tracker.finish();
    this.draw();
    if (this.tty) this.stream.write('\n');
    this.closed = true;
  }

  private maybeDraw(): void {
    // Reaching the total is drawn once, by finish().
    if (this.closed || this.tracker.snapshot().finished) return;
    if (this.now() - this.lastDrawMs >= this.intervalMs) this.draw();
  }

  private draw(): void {
    this.lastDrawMs = this.now();
    const line = renderProgressLine(this.tracker.snapshot(), this.label, this.stream.columns ?? 80, this.detail);
    // \x1b[K clears what a longer previous line left behind.
    this.stream.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }
}

// Progress arithmetic shared by the CLI bar and the UI: done/total, elapsed time, a smoothed
// rate and the ETA it implies, and the formatting of those numbers. Pure: the clock is injected,
// nothing is drawn here (src/cli/progress-bar.ts draws on a terminal, the UI in Svelte).
//
// The rate is an exponential moving average weighted by time, not by update: each update moves
// it towards the instantaneous rate dn/dt by α = 1 − exp(−dt/τ), τ = halfLife / ln 2. So a burst
// of quick updates counts as much as one slow update covering the same time, and after
// `halfLifeS` of a new steady rate half of the old one is forgotten.

export interface ProgressOptions {
  /** Units expected in all; unknown (undefined) gives no percent and no ETA. */
  total?: number;
  /** What is counted, for display: 'texts', 'steps', 'tokens', 'B'. */
  unit?: string;
  /** Half-life of the rate's moving average, in seconds. */
  halfLifeS?: number;
  /** Milliseconds, monotonic. */
  now?: () => number;
}

export interface ProgressSnapshot {
  done: number;
  total: number | undefined;
  unit: string;
  /** done/total in [0, 1], or undefined without a total. */
  fraction: number | undefined;
  elapsedS: number;
  /** Smoothed units per second; undefined until time has passed with progress made. */
  rate: number | undefined;
  /** done / elapsed. */
  averageRate: number | undefined;
  /** Seconds left at the smoothed rate; 0 when finished, undefined when unknown. */
  etaS: number | undefined;
  finished: boolean;
}

export class ProgressTracker {
  readonly unit: string;
  private total: number | undefined;
  private readonly tauMs: number;
  private readonly now: () => number;
  private readonly startMs: number;
  private done = 0;
  private lastMs: number;
  private lastDone = 0;
  private rate: number | undefined;
  private endMs: number | undefined;

  constructor(opts: ProgressOptions = {}) {
    this.unit = opts.unit ?? 'items';
    this.setTotal(opts.total);
    const halfLife = opts.halfLifeS ?? 5;
    if (!(halfLife > 0)) throw new Error(`halfLifeS must be positive, got ${halfLife}`);
    this.tauMs = (halfLife * 1000) / Math.LN2;
    this.now = opts.now ?? (() => performance.now());
    this.startMs = this.lastMs = this.now();
  }

  setTotal(total: number | undefined): void {
    if (total !== undefined && !(total >= 0 && Number.isFinite(total))) throw new Error(`total must be a finite number ≥ 0, got ${total}`);
    this.total = total;
  }

  /** Adds `n` units of work done. */
  advance(n: number): void {
    this.update(this.done + n);
  }

  /** Sets the units done so far (never decreasing). */
  update(done: number): void {
    if (!Number.isFinite(done)) throw new Error(`progress must be finite, got ${done}`);
    if (done < this.done) throw new Error(`progress went backwards: ${done} < ${this.done}`);
    this.done = done;
    const t = this.now();
    const dt = t - this.lastMs;
    // Updates with no time between them are folded into the next one that has some.
    if (dt > 0) {
      const instant = ((done - this.lastDone) * 1000) / dt;
      const alpha = 1 - Math.exp(-dt / this.tauMs);
      this.rate = this.rate === undefined ? instant : this.rate + alpha * (instant - this.rate);
      this.lastMs = t;
      this.lastDone = done;
    }
    if (this.total !== undefined && done >= this.total && this.endMs === undefined) this.endMs = t;
  }

  /** Marks the work complete (also when fewer units than `total` came). */
  finish(): void {
    if (this.endMs === undefined) this.endMs = this.now();
  }

  snapshot(): ProgressSnapshot {
    const nowMs = this.endMs ?? this.now();
    const elapsedS = Math.max(0, (nowMs - this.startMs) / 1000);
    const finished = this.endMs !== undefined;
    const total = this.total;
    const fraction = total === undefined ? undefined : total === 0 ? 1 : Math.min(1, this.done / total);
    const rate = this.rate !== undefined && this.rate > 0 ? this.rate : undefined;
    let etaS: number | undefined;
    if (finished) etaS = 0;
    else if (total !== undefined && rate !== undefined) etaS = Math.max(0, total - this.done) / rate;
    return {
      done: this.done,
      total,
      unit: this.unit,
      fraction,
      elapsedS,
      rate,
      averageRate: elapsedS > 0 && this.done > 0 ? this.done / elapsedS : undefined,
      etaS,
      finished,
    };
  }
}

/** 5 → "5s", 65 → "1m05s", 3725 → "1h02m05s"; undefined or not finite → "?". */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(sec)}s`;
  if (m > 0) return `${m}m${pad(sec)}s`;
  return `${sec}s`;
}

/** A count with a k/M/G suffix: 950 → "950", 1234 → "1.23k", 56789 → "56.8k", 0.5 → "0.50". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a < 1) return n.toFixed(2);
  if (a < 1000) return a < 10 ? n.toFixed(1).replace(/\.0$/, '') : String(Math.round(n));
  const suffixes = ['k', 'M', 'G', 'T'];
  let v = n;
  let i = -1;
  // Compare the rounded value, so 999,999 becomes "1.00M" and not "1000k".
  const digits = (x: number) => (Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0);
  while (i < suffixes.length - 1 && (i < 0 || Math.abs(Number(v.toFixed(digits(v)))) >= 1000)) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(digits(v))}${suffixes[i]}`;
}

/** "1.23k texts/s"; "? texts/s" while unknown. */
export function formatRate(rate: number | undefined, unit: string): string {
  return `${rate === undefined ? '?' : formatCount(rate)} ${unit}/s`;
}

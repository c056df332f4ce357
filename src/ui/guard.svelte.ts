// The page's state of the general-retrieval guard: the chosen subsets and warning threshold, the
// base model's and the trained model's NanoBEIR figures, progress, and the texts-per-second last
// measured on this backend (for the estimate shown before starting). Calls the worker through
// Engine.guard; computes no metric (the verdict's words come from src/lib/run/guard.ts).

import type { GuardReport } from '../../workers/api.ts';
import { DEFAULT_GUARD_SUBSETS, NANOBEIR_SUBSETS, type GuardProgress } from '../lib/eval/nanobeir.ts';
import type { RunConfig } from '../lib/train/run-config.ts';
import type { Engine } from './engine.svelte.ts';

type Which = 'before' | 'after';

export class GuardState {
  #engine: Engine;
  #subsets = $state.raw<string[]>([...DEFAULT_GUARD_SUBSETS]);
  #threshold = $state(2);
  #reports = $state.raw<Partial<Record<Which, GuardReport>>>({});
  #busy = $state.raw<Which | null>(null);
  #progress = $state.raw<GuardProgress | null>(null);
  #error = $state.raw<string | null>(null);
  #rate = $state.raw<number | null>(null);

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  get subsets() {
    return this.#subsets;
  }
  set subsets(v: string[]) {
    this.#subsets = NANOBEIR_SUBSETS.map((s) => s.key).filter((k) => v.includes(k));
    this.#reports = {};
  }
  /** Warn when the general figure drops by more than this many nDCG@10 points (×100). */
  get threshold() {
    return this.#threshold;
  }
  set threshold(v: number) {
    this.#threshold = Number.isFinite(v) && v >= 0 ? v : 0;
  }
  get before() {
    return this.#reports.before ?? null;
  }
  get after() {
    return this.#reports.after ?? null;
  }
  get busy() {
    return this.#busy;
  }
  get progress() {
    return this.#progress;
  }
  get error() {
    return this.#error;
  }
  /** Texts per second measured on this backend by the guard or an evaluation; null until then. */
  get rate() {
    return this.#rate;
  }
  /** A rate an evaluation on this backend reported (the page notes each one it sees). */
  noteRate(rate: number | undefined): void {
    if (rate !== undefined && Number.isFinite(rate) && rate > 0) this.#rate = rate;
  }

  /** Texts (queries and documents) the chosen subsets embed once. */
  get texts(): number {
    return NANOBEIR_SUBSETS.filter((s) => this.#subsets.includes(s.key)).reduce((n, s) => n + s.docs + s.queries, 0);
  }

  async run(which: Which, config: RunConfig, hubUrl: string, runId?: string): Promise<void> {
    if (this.#subsets.length === 0) return;
    this.#busy = which;
    this.#error = null;
    this.#progress = null;
    try {
      const report = await this.#engine.guard({ config, hubUrl, subsets: this.#subsets, ...(runId ? { runId } : {}) }, (p) => (this.#progress = p));
      if (report.rate) this.#rate = report.rate;
      this.#reports = { ...(which === 'before' ? {} : this.#reports), [which]: report };
    } catch (e) {
      this.#error = e instanceof Error ? e.message : String(e);
    } finally {
      this.#busy = null;
      this.#progress = null;
    }
  }
}

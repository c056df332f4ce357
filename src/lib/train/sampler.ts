// Batch samplers as sentence-transformers builds them (docs/training.md#samplers): BATCH_SAMPLER (a
// permutation cut into batches of B) and NO_DUPLICATES (no text twice in a batch), with drop-last,
// file order (`shuffle: false`) and a seeded permutation per epoch (`seed + epoch`, as ST v5+
// re-seeds in `set_epoch`). Each epoch's batches are a pure function of (order, rows, options), so
// the state to resume is just { epoch, position, order } — JSON, stored in checkpoints.
// It returns row indices only: it does not read files, tokenize or build tensors. torch's
// randperm stream is not reproduced (docs/training.md#samplers), so batches equal ST's only with
// shuffle off.

import { Rng } from '../util/rng.ts';

export type SamplerKind = 'batch' | 'no_duplicates';

export interface SamplerOptions {
  kind: SamplerKind;
  batchSize: number;
  dropLast: boolean;
  /** false: file order every epoch (ST 3.0–3.3's NO_DUPLICATES effectively did this). */
  shuffle: boolean;
  seed: number;
}

export interface SamplerState {
  version: 1;
  kind: SamplerKind;
  rows: number;
  epoch: number;
  /** Batches of this epoch already handed out. */
  position: number;
  /** This epoch's permutation of row indices. */
  order: number[];
}

/** Row indices 0..n−1 in file order, or permuted by Rng(seed + epoch). */
export function epochOrder(rows: number, epoch: number, o: Pick<SamplerOptions, 'shuffle' | 'seed'>): number[] {
  const order = Array.from({ length: rows }, (_, i) => i);
  return o.shuffle ? new Rng(o.seed + epoch).shuffle(order) : order;
}

/** Cut an order into batches of B; the short tail is kept unless dropLast. */
export function plainBatches(order: readonly number[], batchSize: number, dropLast: boolean): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) {
    const b = order.slice(i, i + batchSize);
    if (b.length === batchSize || !dropLast) out.push(b);
  }
  return out;
}

/**
 * NoDuplicatesBatchSampler.__iter__: while rows remain, scan them in order, accepting a row only
 * if none of its values is already among the batch's values; a full batch is yielded at once.
 * When a scan ends short the partial batch is yielded unless dropLast — with dropLast its rows are
 * still removed from the pool (as ST does), so dropLast can drop more than one short batch.
 * @param keys per row, the strings compared (every text column the loss sees; not labels/scores)
 */
export function noDuplicatesBatches(order: readonly number[], keys: readonly (readonly string[])[], batchSize: number, dropLast: boolean): number[][] {
  const out: number[][] = [];
  let remaining = order.slice();
  while (remaining.length > 0) {
    const values = new Set<string>();
    const batch: number[] = [];
    for (const row of remaining) {
      const rowKeys = keys[row];
      if (rowKeys === undefined) throw new Error(`NO_DUPLICATES sampler: no text values for row ${row}`);
      if (rowKeys.some((k) => values.has(k))) continue;
      batch.push(row);
      if (batch.length === batchSize) break;
      for (const k of rowKeys) values.add(k);
    }
    if (batch.length === batchSize || !dropLast) out.push(batch);
    const taken = new Set(batch);
    remaining = remaining.filter((r) => !taken.has(r));
  }
  return out;
}

export class BatchSampler {
  readonly options: SamplerOptions;
  readonly rows: number;
  private readonly keys: readonly (readonly string[])[] | null;
  private epochNo = 0;
  private pos = 0;
  private order: number[] = [];
  private batches: number[][] = [];

  /**
   * @param rows number of rows, or for NO_DUPLICATES the per-row text values (one string array per
   *   row, e.g. [anchor, positive] or [anchor, positive, negative])
   */
  constructor(rows: number | readonly (readonly string[])[], options: SamplerOptions) {
    if (!(Number.isInteger(options.batchSize) && options.batchSize >= 1)) {
      throw new Error(`sampler: batchSize must be an integer ≥ 1, got ${options.batchSize}`);
    }
    this.options = { ...options };
    if (typeof rows === 'number') {
      if (options.kind === 'no_duplicates') throw new Error('sampler: NO_DUPLICATES needs each row’s text values, not a row count');
      this.rows = rows;
      this.keys = null;
    } else {
      this.rows = rows.length;
      this.keys = rows;
    }
    if (this.rows === 0) throw new Error('sampler: no rows');
    this.startEpoch(0);
  }

  /** len(sampler): ceil(N/B), floor with dropLast — ST's estimate, used by the schedule; NO_DUPLICATES may yield more. */
  get estimatedLength(): number {
    const { batchSize: B, dropLast } = this.options;
    return dropLast ? Math.floor(this.rows / B) : Math.ceil(this.rows / B);
  }

  get epoch(): number {
    return this.epochNo;
  }

  /** Batches of the current epoch, all of them (handed out or not). */
  get epochBatches(): readonly number[][] {
    return this.batches;
  }

  /** Moves to `epoch` (0-based) at its first batch. */
  startEpoch(epoch: number): void {
    this.epochNo = epoch;
    this.pos = 0;
    this.order = epochOrder(this.rows, epoch, this.options);
    this.batches = this.batchesFor(this.order);
  }

  /** The next batch of the current epoch, or null at its end (then call startEpoch(epoch + 1)). */
  next(): number[] | null {
    if (this.pos >= this.batches.length) return null;
    return this.batches[this.pos++];
  }

  state(): SamplerState {
    return { version: 1, kind: this.options.kind, rows: this.rows, epoch: this.epochNo, position: this.pos, order: this.order.slice() };
  }

  /** Continues exactly where `state` was taken; the stored order is used as is. */
  restore(state: SamplerState): void {
    if (state.version !== 1) throw new Error(`sampler state version ${state.version} is not supported (expected 1)`);
    if (state.kind !== this.options.kind) throw new Error(`sampler state is for "${state.kind}", this sampler is "${this.options.kind}"`);
    if (state.rows !== this.rows || state.order.length !== this.rows) {
      throw new Error(`sampler state has ${state.rows} rows (order of ${state.order.length}), the data has ${this.rows}`);
    }
    const seen = new Uint8Array(this.rows);
    for (const r of state.order) {
      if (!(Number.isInteger(r) && r >= 0 && r < this.rows) || seen[r]) throw new Error('sampler state: order is not a permutation of the rows');
      seen[r] = 1;
    }
    this.epochNo = state.epoch;
    this.order = state.order.slice();
    this.batches = this.batchesFor(this.order);
    if (!(Number.isInteger(state.position) && state.position >= 0 && state.position <= this.batches.length)) {
      throw new Error(`sampler state: position ${state.position} is outside the epoch's ${this.batches.length} batches`);
    }
    this.pos = state.position;
  }

  private batchesFor(order: readonly number[]): number[][] {
    const { batchSize, dropLast } = this.options;
    return this.keys && this.options.kind === 'no_duplicates'
      ? noDuplicatesBatches(order, this.keys, batchSize, dropLast)
      : plainBatches(order, batchSize, dropLast);
  }
}

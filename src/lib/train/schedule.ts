// Learning-rate schedules and step arithmetic of the HF Trainer
// (docs/optimizer.md#learning-rate-schedules): the λ(k) of transformers' `optimization.py`
// (constant / linear / cosine with num_cycles 0.5, each with warmup), warmup steps from a ratio,
// and how many micro-batches, updates and epochs a run has in the two transformers variants — 4.41
// (the blog's pin: floor, a global accumulation counter across epochs) and current (ceil, per-epoch
// groups with a short last group). Pure arithmetic: no tensors, no sampler (sampler.ts gives the
// batch count), no optimizer.

export type SchedulerType = 'constant' | 'linear' | 'cosine';
export const SCHEDULER_TYPES: readonly SchedulerType[] = ['constant', 'linear', 'cosine'];

/** 'transformers-4.41': the recipe's pin (≤ ~4.45). 'current': newer releases. */
export type TrainerVariant = 'transformers-4.41' | 'current';

/**
 * λ(k), k = scheduler steps taken so far (0-based). With W warmup steps and N total:
 * warmup k/max(1,W) for k < W; linear max(0,(N−k)/max(1,N−W)); cosine
 * max(0, ½(1 + cos(π·2·0.5·p))), p = (k−W)/max(1,N−W); constant 1.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/optimization.py
 */
export function lrLambda(type: SchedulerType, k: number, warmupSteps: number, maxSteps: number): number {
  if (k < warmupSteps) return k / Math.max(1, warmupSteps);
  switch (type) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (maxSteps - k) / Math.max(1, maxSteps - warmupSteps));
    case 'cosine': {
      const p = (k - warmupSteps) / Math.max(1, maxSteps - warmupSteps);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * 0.5 * p)));
    }
  }
}

/** Learning rate of update n (1-based): the scheduler steps after each update, so update n uses λ(n−1). */
export function lrAt(update: number, baseLr: number, type: SchedulerType, warmupSteps: number, maxSteps: number): number {
  if (!(Number.isInteger(update) && update >= 1)) throw new Error(`update must be an integer ≥ 1, got ${update}`);
  return baseLr * lrLambda(type, update - 1, warmupSteps, maxSteps);
}

/**
 * W from the user's choice: explicit `warmupSteps` > 0 wins, else ceil(warmupRatio · N)
 * (transformers v4 `get_warmup_steps`; v5 folds both into one float but gives the same W).
 */
export function resolveWarmupSteps(o: { warmupSteps?: number; warmupRatio?: number }, maxSteps: number): number {
  if (o.warmupSteps !== undefined && o.warmupSteps > 0) return Math.floor(o.warmupSteps);
  const ratio = o.warmupRatio ?? 0;
  return Math.ceil(ratio * maxSteps);
}

export interface StepsPlanInput {
  rows: number;
  batchSize: number;
  dropLast: boolean;
  accumulation: number;
  /** Give exactly one of epochs (may be fractional, as in TrainingArguments) and maxSteps. */
  epochs?: number;
  maxSteps?: number;
  warmupSteps?: number;
  warmupRatio?: number;
  variant: TrainerVariant;
}

export interface StepsPlan {
  variant: TrainerVariant;
  accumulation: number;
  /** len(dataloader): ceil(rows/B), floor with dropLast (NO_DUPLICATES reports the same estimate). */
  batchesPerEpoch: number;
  /** Optimizer updates per epoch used for the schedule: floor (4.41) or ceil (current) of batches/GA, ≥ 1. */
  updatesPerEpoch: number;
  /** N, the schedule's length; training stops once this many updates are done. */
  maxSteps: number;
  /** Epochs the loop starts (the last may stop early). */
  epochs: number;
  warmupSteps: number;
}

export function stepsPlan(o: StepsPlanInput): StepsPlan {
  for (const [k, v] of [['rows', o.rows], ['batchSize', o.batchSize], ['accumulation', o.accumulation]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`stepsPlan: ${k} must be an integer ≥ 1, got ${v}`);
  }
  if ((o.epochs === undefined) === (o.maxSteps === undefined)) {
    throw new Error('stepsPlan: give exactly one of epochs and maxSteps');
  }
  const batchesPerEpoch = o.dropLast ? Math.floor(o.rows / o.batchSize) : Math.ceil(o.rows / o.batchSize);
  if (batchesPerEpoch === 0) {
    throw new Error(`stepsPlan: ${o.rows} rows make no full batch of ${o.batchSize} with dropLast`);
  }
  const GA = o.accumulation;
  const updatesPerEpoch = Math.max(
    o.variant === 'transformers-4.41' ? Math.floor(batchesPerEpoch / GA) : Math.ceil(batchesPerEpoch / GA),
    1,
  );
  let maxSteps: number;
  let epochs: number;
  if (o.maxSteps !== undefined) {
    if (!(Number.isInteger(o.maxSteps) && o.maxSteps >= 1)) throw new Error(`stepsPlan: maxSteps must be an integer ≥ 1, got ${o.maxSteps}`);
    maxSteps = o.maxSteps;
    epochs = Math.floor(maxSteps / updatesPerEpoch) + (maxSteps % updatesPerEpoch > 0 ? 1 : 0);
  } else {
    if (!(o.epochs! > 0)) throw new Error(`stepsPlan: epochs must be > 0, got ${o.epochs}`);
    maxSteps = Math.ceil(o.epochs! * updatesPerEpoch);
    epochs = Math.ceil(o.epochs!);
  }
  return {
    variant: o.variant,
    accumulation: GA,
    batchesPerEpoch,
    updatesPerEpoch,
    maxSteps,
    epochs,
    warmupSteps: resolveWarmupSteps(o, maxSteps),
  };
}

export interface MicroBatchRole {
  /** This micro-batch's loss is divided by this before backward (or its gradient scaled by 1/divisor). */
  divisor: number;
  /** An optimizer update (clip, AdamW, scheduler step) follows this micro-batch's backward. */
  closesUpdate: boolean;
}

/**
 * What the Trainer does with one micro-batch.
 * - 4.41: the update closes when the global micro-batch count is a multiple of GA (leftovers roll
 *   into the next epoch), or at the last batch of an epoch that has ≤ GA batches; divisor always GA.
 * - current: each epoch is cut into groups of GA, the last group short; an update closes each
 *   group; the divisor is the group's length (`current_gradient_accumulation_steps = len(batch_samples)`).
 * The trainer stops after update `maxSteps` in both.
 * @param batchInEpoch   0-based index of the micro-batch within its epoch
 * @param globalMicro    1-based count of micro-batches since the run began, this one included
 * @param batchesInEpoch the epoch's length as the sampler reports it (plan.batchesPerEpoch)
 */
export function microBatchRole(plan: Pick<StepsPlan, 'variant' | 'accumulation'>, batchInEpoch: number, globalMicro: number, batchesInEpoch: number): MicroBatchRole {
  const GA = plan.accumulation;
  if (plan.variant === 'transformers-4.41') {
    const lastOfShortEpoch = batchesInEpoch <= GA && batchInEpoch + 1 === batchesInEpoch;
    return { divisor: GA, closesUpdate: globalMicro % GA === 0 || lastOfShortEpoch };
  }
  const fullGroups = Math.floor(batchesInEpoch / GA);
  const remainder = batchesInEpoch - fullGroups * GA;
  const inShortGroup = batchInEpoch >= fullGroups * GA;
  return {
    divisor: inShortGroup && remainder > 0 ? remainder : GA,
    closesUpdate: (batchInEpoch + 1) % GA === 0 || batchInEpoch + 1 === batchesInEpoch,
  };
}

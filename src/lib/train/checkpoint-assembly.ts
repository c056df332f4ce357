// A trainer's checkpoint assembled from its state at an update boundary (weights, AdamW moments,
// schedule position, data order, step log, provenance), and the checks a resume makes before it
// loads one: the run-config fields that must agree (what trains among them), the schedule, and the
// trained parameters. Its weights are only what the run trains (a LoRA run's adapters, not the
// frozen base); the base model's identity is the provenance the run passes (run/identity.ts),
// which the run compares before resuming.
// Not the file format (checkpoint.ts) and not when to save or what to restore (trainer.ts).

import type { ParameterSet } from '../models/parameter-set.ts';
import { type Checkpoint, checkParameters } from './checkpoint.ts';
import type { RunConfig } from './run-config.ts';
import type { BatchSampler } from './sampler.ts';
import type { StepsPlan } from './schedule.ts';
import type { Updater } from './updater.ts';

/** The run-config fields a checkpoint must agree on to resume (the rest may change between runs). */
const RESUME_FIELDS = [
  'loss', 'batchSize', 'epochs', 'maxSteps', 'lr', 'scheduler', 'warmupRatio', 'warmupSteps', 'weightDecay', 'maxGradNorm',
  'accumulation', 'trainerVariant', 'seed', 'shuffle', 'sampler', 'dropLast', 'dropout', 'maxSeqLength', 'trainable',
] as const;

export interface TrainerState {
  updater: Updater;
  /** The run's parameters: the checkpoint's weights are its `trained`. */
  parameters: ParameterSet;
  config: RunConfig;
  plan: StepsPlan;
  /** Updates and micro-batches done. */
  globalStep: number;
  globalMicro: number;
  sampler: BatchSampler;
  /** The step events so far (train_log.jsonl). */
  metrics: unknown[];
  provenance: unknown;
}

/** The checkpoint of a trainer standing at an update boundary. */
export async function assembleCheckpoint(s: TrainerState): Promise<Checkpoint> {
  const state = await s.updater.state();
  return {
    weights: await s.updater.weights(),
    shapes: s.parameters.trainedShapes(),
    optimizer: { step: state.step, tensors: state.tensors },
    scheduler: { type: s.config.scheduler, baseLr: s.config.lr, warmupSteps: s.plan.warmupSteps, maxSteps: s.plan.maxSteps, stepsTaken: s.globalStep },
    globalStep: s.globalStep,
    globalMicroBatch: s.globalMicro,
    epoch: s.sampler.epoch,
    sampler: s.sampler.state(),
    // Dropout seeds are a function of (config.seed, global micro-batch), so no RNG state is kept.
    rng: null,
    config: s.config,
    metrics: s.metrics,
    provenance: s.provenance,
  };
}

/** Throws, naming what differs, when checkpoint `c` was made by another run config or schedule, or trained other parameters. */
export function checkResumable(c: Checkpoint, config: RunConfig, plan: StepsPlan, parameters: ParameterSet): void {
  for (const f of RESUME_FIELDS) {
    // A checkpoint from before `trainable` existed reads as full fine-tuning (parseRunConfig's default).
    const saved = c.config[f];
    if (JSON.stringify(saved) !== JSON.stringify(config[f])) {
      throw new Error(`resume: the checkpoint was trained with ${f} = ${JSON.stringify(saved)}, this run has ${JSON.stringify(config[f])}`);
    }
  }
  if (c.scheduler.maxSteps !== plan.maxSteps || c.scheduler.warmupSteps !== plan.warmupSteps) {
    throw new Error(`resume: the checkpoint's schedule (${c.scheduler.maxSteps} steps, warmup ${c.scheduler.warmupSteps}) differs from this run's (${plan.maxSteps}, ${plan.warmupSteps}): different data?`);
  }
  checkParameters(c, parameters);
}

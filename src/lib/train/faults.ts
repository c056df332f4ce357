// What stops a training run on a failure, and how it is told: the device was lost, the loss or
// the gradient went non-finite, or onnxruntime failed. `trainingFault` turns the error into a
// TrainingFault whose message says which update failed and where training stands.
// Not the rewind itself: the trainer (trainer.ts) drops the half-accumulated gradient and restores
// the data position before it reports the fault, since it owns that state.

import { DeviceLostError } from '../runtime/types.ts';
import { NonFiniteGradientError } from './updater.ts';

/** A micro-batch's loss is NaN or ±Infinity. */
export class NonFiniteLossError extends Error {
  constructor(readonly loss: number, readonly microBatch: number) {
    super(`the loss is ${loss}`);
    this.name = 'NonFiniteLossError';
  }
}

export type FaultKind = 'device-lost' | 'non-finite' | 'runtime';

/**
 * Training stopped on a failure: the device was lost, the loss or gradient went non-finite, or
 * onnxruntime failed. The trainer stands after update `lastGoodStep` (a checkpoint taken now
 * resumes from there, when the weights are still readable); `failedStep` is the update it was on.
 */
export class TrainingFault extends Error {
  constructor(
    readonly kind: FaultKind,
    readonly lastGoodStep: number,
    readonly failedStep: number,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'TrainingFault';
  }
}

/**
 * The TrainingFault for error `e` met `during` update `failing`, the trainer standing after update
 * `last` (already rewound there).
 */
export function trainingFault(e: unknown, last: number, failing: number, during: string): TrainingFault {
  const after = last === 0 ? 'before the first update' : `after update ${last}`;
  if (e instanceof DeviceLostError) return new TrainingFault('device-lost', last, failing, `The GPU device was lost ${during} (${e.reason}); training stopped ${after}.`, e);
  if (e instanceof NonFiniteLossError) {
    return new TrainingFault('non-finite', last, failing, `The loss of update ${failing} (micro-batch ${e.microBatch}) is ${e.loss}; training stopped ${after}. A lower learning rate usually helps.`, e);
  }
  if (e instanceof NonFiniteGradientError) {
    return new TrainingFault('non-finite', last, failing, `The gradient norm of update ${failing} is ${e.norm}; training stopped ${after} without applying it. A lower learning rate usually helps.`, e);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new TrainingFault('runtime', last, failing, `onnxruntime failed ${during} (${msg}); training stopped ${after}.`, e);
}

// Training checkpoints as one safetensors file: the tensors (weights under their Hugging Face
// names, AdamW moments as `adam.m/<name>` / `adam.v/<name>`, the sampler's epoch order as
// `sampler/order`) plus a JSON document in `__metadata__` for everything else (step counts,
// scheduler position, sampler position, RNG state, the run config, metrics so far), with a format
// marker and version. The browser keeps the bytes in IndexedDB, the CLI in a file.
// Its weights are the run's trained parameters (parameter-set.ts `trained`); checkParameters
// holds a checkpoint against the set a resume trains.
// It does not decide when to save (the trainer saves at update boundaries, as HF does, so no
// half-accumulated gradients need saving) and it is not the exported model (src/lib/export/).

import type { ParameterSet } from '../models/parameter-set.ts';
import { parseSafetensors, safetensorsParts, type TensorToWrite } from '../models/safetensors.ts';
import { joinParts } from '../util/bytes.ts';
import type { MomentData } from './optimizer.ts';
import type { SamplerState } from './sampler.ts';
import type { SchedulerType } from './schedule.ts';
import { parseRunConfig, type RunConfig } from './run-config.ts';

export const CHECKPOINT_FORMAT = 'tabtune-checkpoint';
// 2: adds `provenance` (the base model's identity and the training rows' fingerprint).
export const CHECKPOINT_FORMAT_VERSION = 2;

export interface Checkpoint {
  /** Model parameters by Hugging Face name. */
  weights: Map<string, Float32Array>;
  /** Shapes of the weights (moments share them); a weight without one is stored flat. */
  shapes?: Map<string, number[]>;
  optimizer: {
    /** AdamW's step count (updates done). */
    step: number;
    /** `adam.m/<name>`, `adam.v/<name>` (AdamW.stateTensors()); Uint16Array: bfloat16 moments, stored as BF16. */
    tensors: Map<string, MomentData>;
  };
  scheduler: {
    type: SchedulerType;
    baseLr: number;
    warmupSteps: number;
    maxSteps: number;
    /** Scheduler steps taken: the next update uses λ(stepsTaken). */
    stepsTaken: number;
  };
  /** Optimizer updates done. */
  globalStep: number;
  /** Micro-batches consumed since the start (transformers 4.41's accumulation counter). */
  globalMicroBatch: number;
  /** 0-based epoch in progress (equal to sampler.epoch). */
  epoch: number;
  sampler: SamplerState;
  /** Whatever random state the trainer keeps besides the sampler (JSON); null if none. */
  rng: unknown;
  config: RunConfig;
  /** Log entries so far (train_log.jsonl lines, eval results), JSON. */
  metrics: unknown[];
  /** What the run trained (src/lib/run/identity.ts' Provenance), JSON; null when not recorded. */
  provenance: unknown;
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(`checkpoint: ${message}`);
    this.name = 'CheckpointError';
  }
}

const ORDER = 'sampler/order';
const isStateName = (n: string) => n.startsWith('adam.') || n.startsWith('sampler/');

export function writeCheckpoint(c: Checkpoint): Uint8Array {
  return joinParts(checkpointParts(c));
}

/**
 * The checkpoint file as parts (header, then each tensor's bytes as a view of its Float32Array):
 * a store writes them one after another, so no whole copy of weights and moments is made. The
 * views share the trainer's live buffers: write them before the next update.
 */
export function checkpointParts(c: Checkpoint): Uint8Array[] {
  const tensors = new Map<string, TensorToWrite>();
  const shapeOf = (name: string, data: Float32Array): number[] => {
    const s = c.shapes?.get(name);
    if (!s) return [data.length];
    const n = s.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new CheckpointError(`shape [${s}] of "${name}" has ${n} elements, the weight has ${data.length}`);
    return s;
  };
  for (const [name, data] of c.weights) {
    if (isStateName(name)) throw new CheckpointError(`weight name "${name}" collides with optimizer/sampler state names`);
    tensors.set(name, { shape: shapeOf(name, data), data });
  }
  for (const [name, data] of c.optimizer.tensors) {
    const m = /^adam\.[mv]\/(.+)$/.exec(name);
    if (!m) throw new CheckpointError(`optimizer tensor "${name}" is not adam.m/<name> or adam.v/<name>`);
    const w = c.weights.get(m[1]);
    if (!w) throw new CheckpointError(`optimizer tensor "${name}" has no weight "${m[1]}"`);
    if (w.length !== data.length) throw new CheckpointError(`"${name}" has ${data.length} values, weight "${m[1]}" has ${w.length}`);
    tensors.set(name, { shape: shapeOf(m[1], w), data, dtype: data instanceof Uint16Array ? 'BF16' : 'F32' });
  }
  tensors.set(ORDER, { shape: [c.sampler.order.length], data: Int32Array.from(c.sampler.order) });
  const { order: _order, ...samplerRest } = c.sampler;
  const state = {
    optimizerStep: c.optimizer.step,
    scheduler: c.scheduler,
    globalStep: c.globalStep,
    globalMicroBatch: c.globalMicroBatch,
    epoch: c.epoch,
    sampler: samplerRest,
    rng: c.rng ?? null,
    config: c.config,
    metrics: c.metrics,
    provenance: c.provenance ?? null,
  };
  return safetensorsParts(tensors, {
    format: CHECKPOINT_FORMAT,
    format_version: String(CHECKPOINT_FORMAT_VERSION),
    state: JSON.stringify(state),
  });
}

export function readCheckpoint(bytes: Uint8Array | readonly Uint8Array[]): Checkpoint {
  let parsed;
  try {
    parsed = parseSafetensors(bytes instanceof Uint8Array ? bytes : joinParts(bytes));
  } catch (e) {
    throw new CheckpointError(`not a readable checkpoint file (${(e as Error).message})`);
  }
  const { metadata, tensors } = parsed;
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`the file is a safetensors file but not a tabtune checkpoint (format ${JSON.stringify(metadata.format ?? null)})`);
  }
  const version = Number(metadata.format_version);
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      `format version ${metadata.format_version} ${version > CHECKPOINT_FORMAT_VERSION ? 'is newer than' : 'differs from'} the version this tabtune reads (${CHECKPOINT_FORMAT_VERSION}); ` +
        'resume it with the tabtune that wrote it, or start a new run',
    );
  }
  let s;
  try {
    s = JSON.parse(metadata.state ?? '');
  } catch (e) {
    throw new CheckpointError(`state metadata is not JSON (${(e as Error).message})`);
  }
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new CheckpointError('state metadata is not a JSON object');
  for (const k of ['scheduler', 'sampler'] as const) {
    if (typeof s[k] !== 'object' || s[k] === null) throw new CheckpointError(`state.${k} must be an object, got ${JSON.stringify(s[k]) ?? 'undefined'}`);
  }
  let config: RunConfig;
  try {
    config = parseRunConfig(s.config);
  } catch (e) {
    throw new CheckpointError(`its run config is not valid here: ${(e as Error).message}`);
  }
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  const optimizerTensors = new Map<string, Float32Array>();
  let order: number[] | null = null;
  for (const [name, t] of tensors) {
    if (name === ORDER) {
      if (!(t.data instanceof Int32Array)) throw new CheckpointError(`${ORDER} is ${t.dtype}, expected I32`);
      order = Array.from(t.data);
    } else if (!(t.data instanceof Float32Array) || !(t.dtype === 'F32' || (t.dtype === 'BF16' && name.startsWith('adam.')))) {
      throw new CheckpointError(`tensor "${name}" is ${t.dtype}, expected F32${name.startsWith('adam.') ? ' or BF16' : ''}`);
    } else if (name.startsWith('adam.')) {
      optimizerTensors.set(name, t.data);
    } else {
      weights.set(name, t.data);
      shapes.set(name, t.shape);
    }
  }
  if (!order) throw new CheckpointError(`missing ${ORDER}`);
  for (const name of optimizerTensors.keys()) {
    const w = name.slice('adam.m/'.length);
    if (!weights.has(w)) throw new CheckpointError(`"${name}" has no weight "${w}"`);
  }
  for (const k of ['optimizerStep', 'globalStep', 'globalMicroBatch', 'epoch'] as const) {
    if (!(Number.isInteger(s[k]) && s[k] >= 0)) throw new CheckpointError(`state.${k} must be an integer ≥ 0, got ${JSON.stringify(s[k])}`);
  }
  return {
    weights,
    shapes,
    optimizer: { step: s.optimizerStep, tensors: optimizerTensors },
    scheduler: s.scheduler,
    globalStep: s.globalStep,
    globalMicroBatch: s.globalMicroBatch,
    epoch: s.epoch,
    sampler: { ...s.sampler, order },
    rng: s.rng,
    config,
    metrics: Array.isArray(s.metrics) ? s.metrics : [],
    provenance: s.provenance ?? null,
  };
}

/**
 * Throws unless the checkpoint's weights are exactly `set.trained`, each with its shape: a
 * checkpoint of a run that trained other tensors (another model, another choice of what trains)
 * must not resume into this one, where a missing tensor would stay at its base value unnoticed.
 */
export function checkParameters(c: Pick<Checkpoint, 'weights' | 'shapes'>, set: ParameterSet): void {
  const trained = new Set(set.trained.map((p) => p.name));
  const extra = [...c.weights.keys()].filter((n) => !trained.has(n));
  if (extra.length) throw new CheckpointError(`it holds ${extra.length} tensor(s) this run does not train (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''})`);
  for (const p of set.trained) {
    const w = c.weights.get(p.name);
    if (!w) throw new CheckpointError(`it has no weight ${p.name}, which this run trains`);
    const shape = c.shapes?.get(p.name) ?? [w.length];
    const same = c.shapes?.has(p.name) ? shape.length === p.shape.length && shape.every((d, i) => d === p.shape[i]) : w.length === p.size;
    if (!same || w.length !== p.size) throw new CheckpointError(`${p.name} is [${shape}] there, [${p.shape}] in this run's model`);
  }
}

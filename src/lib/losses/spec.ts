// The loss section of the run config — a plain JSON object — its validation (messages name the
// field), and the loss it describes built on embedding columns.
//   { type: 'mnrl' | 'mnrl_symmetric' | 'triplet' | 'cosent', scale?, margin?, distance?,
//     matryoshka?: { dims, weights? } }
// Defaults as sentence-transformers (docs/losses.md#defaults-and-parameters): scale 20, margin 5,
// distance 'euclidean', Matryoshka weights 1. Not the rest of the run config, and not graphs
// (loss-graph.ts).

import type { Value } from '../graph/graph.ts';
import { cosentLoss } from './cosent.ts';
import { matryoshka, matryoshkaPlan } from './matryoshka.ts';
import { mnrl } from './mnrl.ts';
import { TRIPLET_DISTANCES, type TripletDistance, tripletLoss } from './triplet.ts';

export const LOSS_TYPES = ['mnrl', 'mnrl_symmetric', 'triplet', 'cosent'] as const;
export type LossType = (typeof LOSS_TYPES)[number];

export interface LossSpec {
  type: LossType;
  /** mnrl, mnrl_symmetric, cosent: logit scale > 0, default 20. */
  scale?: number;
  /** triplet: default 5. */
  margin?: number;
  /** triplet: default 'euclidean'. */
  distance?: TripletDistance;
  /** Wraps the loss in MatryoshkaLoss. */
  matryoshka?: { dims: number[]; weights?: number[] };
}

export class LossSpecError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'LossSpecError';
  }
}

const FIELDS: Record<LossType, string[]> = {
  mnrl: ['scale'],
  mnrl_symmetric: ['scale'],
  triplet: ['margin', 'distance'],
  cosent: ['scale'],
};

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Checks a parsed config value and returns it as a LossSpec (defaults are not filled in).
 * `hidden`, when known, bounds the Matryoshka dims. `field` is the path used in messages.
 */
export function validateLossSpec(raw: unknown, opts: { hidden?: number; field?: string } = {}): LossSpec {
  const field = opts.field ?? 'loss';
  if (!isObject(raw)) throw new LossSpecError(field, `must be an object like { "type": "mnrl" }, got ${JSON.stringify(raw)}`);
  const type = raw.type;
  if (typeof type !== 'string' || !(LOSS_TYPES as readonly string[]).includes(type)) {
    throw new LossSpecError(`${field}.type`, `must be one of ${LOSS_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
  const t = type as LossType;
  for (const key of Object.keys(raw)) {
    if (key === 'type' || key === 'matryoshka') continue;
    if (!['scale', 'margin', 'distance'].includes(key)) throw new LossSpecError(`${field}.${key}`, 'unknown field');
    if (!FIELDS[t].includes(key)) throw new LossSpecError(`${field}.${key}`, `does not apply to loss type ${t}`);
  }
  const spec: LossSpec = { type: t };
  if (raw.scale !== undefined) {
    const s = raw.scale;
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) throw new LossSpecError(`${field}.scale`, `must be a number > 0, got ${JSON.stringify(s)}`);
    spec.scale = s;
  }
  if (raw.margin !== undefined) {
    const m = raw.margin;
    if (typeof m !== 'number' || !Number.isFinite(m)) throw new LossSpecError(`${field}.margin`, `must be a finite number, got ${JSON.stringify(m)}`);
    spec.margin = m;
  }
  if (raw.distance !== undefined) {
    const d = raw.distance;
    if (typeof d !== 'string' || !(TRIPLET_DISTANCES as readonly string[]).includes(d)) {
      throw new LossSpecError(`${field}.distance`, `must be one of ${TRIPLET_DISTANCES.join(', ')}, got ${JSON.stringify(d)}`);
    }
    spec.distance = d as TripletDistance;
  }
  if (raw.matryoshka !== undefined) {
    const mf = `${field}.matryoshka`;
    const m = raw.matryoshka;
    if (!isObject(m)) throw new LossSpecError(mf, `must be an object like { "dims": [768, 512, 256, 128, 64] }, got ${JSON.stringify(m)}`);
    for (const key of Object.keys(m)) if (key !== 'dims' && key !== 'weights') throw new LossSpecError(`${mf}.${key}`, 'unknown field');
    try {
      matryoshkaPlan(m as { dims: number[]; weights?: number[] }, opts.hidden ?? null, mf);
    } catch (e) {
      const msg = (e as Error).message;
      const at = msg.indexOf(': ');
      throw new LossSpecError(msg.slice(0, at), msg.slice(at + 2));
    }
    spec.matryoshka = { dims: [...(m.dims as number[])], ...(m.weights ? { weights: [...(m.weights as number[])] } : {}) };
  }
  return spec;
}

/** How many embedding columns the loss takes: MNRL any from 2 (anchor, positive, negatives…). */
export function columnRange(type: LossType): { min: number; max: number } {
  switch (type) {
    case 'mnrl':
    case 'mnrl_symmetric':
      return { min: 2, max: Infinity };
    case 'triplet':
      return { min: 3, max: 3 };
    case 'cosent':
      return { min: 2, max: 2 };
  }
}

/** Whether the loss reads gold scores (a [B] input beside the embeddings). */
export const needsScores = (type: LossType): boolean => type === 'cosent';

/** The loss a spec describes, on columns [B, C] (+ scores [B] for cosent) → scalar []. */
export function buildLoss(spec: LossSpec, columns: Value[], scores?: Value): Value {
  if (needsScores(spec.type) && !scores) throw new Error(`${spec.type}: needs scores`);
  const inner = (cols: Value[]): Value => {
    switch (spec.type) {
      case 'mnrl':
        return mnrl(cols, { scale: spec.scale });
      case 'mnrl_symmetric':
        return mnrl(cols, { scale: spec.scale, symmetric: true });
      case 'triplet':
        return tripletLoss(cols, { margin: spec.margin, distance: spec.distance });
      case 'cosent':
        return cosentLoss(cols, scores!, { scale: spec.scale });
    }
  };
  return spec.matryoshka ? matryoshka(inner, columns, spec.matryoshka) : inner(columns);
}

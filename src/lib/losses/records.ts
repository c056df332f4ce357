// One record per loss type: everything tabtune knows about a loss in one place — the data columns it
// takes, its parameters with their defaults, its graph builder, its sentence-transformers class and
// constructor for train.py, its card text and the label the page shows. Validation (spec.ts), the
// run config's defaults, the page, the batches, the card, train.py and the CLI help all read these
// records; none keeps its own list or switch, so a loss type without a record is a type error, not
// a silent fallthrough. Adding a loss: docs/extending.md.
// Not the math of each loss (mnrl.ts, triplet.ts, cosent.ts), not Matryoshka (matryoshka.ts, which
// wraps any of them), and not the validation code (spec.ts).

import type { Value } from '../graph/graph.ts';
import { cosentLoss } from './cosent.ts';
import { mnrl } from './mnrl.ts';
import { TRIPLET_DISTANCES, type TripletDistance, tripletLoss } from './triplet.ts';

/**
 * A loss's own parameters, as the run config's `loss` object holds them beside `type` and
 * `matryoshka`. A new parameter goes here and in LOSS_PARAMS (the compiler asks for both).
 */
export interface LossParams {
  scale?: number;
  margin?: number;
  distance?: TripletDistance;
}
export type LossParam = keyof LossParams;
type ParamValue<K extends LossParam> = NonNullable<LossParams[K]>;

interface ParamCommon {
  /** The page's field label. */
  label: string;
  /** What it does: the page's tooltip on the field. */
  help: string;
}
/** A finite number, optionally bounded below (exclusive or not); train.py holds it as a float constant. */
export interface NumberParam extends ParamCommon {
  kind: 'number';
  min?: number;
  minExclusive?: boolean;
  /** The module-level constant of train.py that the constructor names (a Python float). */
  pythonConstant: string;
}
/** One of a fixed set of strings; train.py writes it into the constructor as a Python expression. */
export interface ChoiceParam<V extends string> extends ParamCommon {
  kind: 'choice';
  choices: readonly V[];
  python: (value: V) => string;
}
type ParamDef<V> = [V] extends [string] ? ChoiceParam<V> : NumberParam;

/** How each parameter is checked, shown and written into train.py — the same for every loss that takes it. */
export const LOSS_PARAMS: { readonly [K in LossParam]-?: ParamDef<ParamValue<K>> } = {
  scale: {
    kind: 'number', min: 0, minExclusive: true, pythonConstant: 'LOSS_SCALE',
    label: 'Scale', help: 'logit scale, 1 / temperature (> 0)',
  },
  margin: {
    kind: 'number', pythonConstant: 'TRIPLET_MARGIN',
    label: 'Margin', help: 'how much closer the positive must be than the negative',
  },
  distance: {
    kind: 'choice', choices: TRIPLET_DISTANCES, python: (d) => `losses.TripletDistanceMetric.${d.toUpperCase()}`,
    label: 'Distance', help: `the triplet distance: ${TRIPLET_DISTANCES.join(', ')}`,
  },
};

/** The columns a loss reads: anchor and positive always (text), then negatives and a gold score. */
export interface LossColumns {
  /** How many negative text columns after anchor and positive (0…0: none; max Infinity: any number). */
  negatives: { min: number; max: number };
  /** A gold score per row (a [B] input beside the embeddings), or none read. */
  score: 'required' | 'none';
}

export interface LossRecord {
  /** The page's loss menu entry (short: the menu sits in a narrow form column). */
  label: string;
  columns: LossColumns;
  /**
   * The parameters this loss takes, each with its default (sentence-transformers' own:
   * docs/losses.md#defaults-and-parameters), in the order the run config writes them. A parameter
   * not listed here is refused for this loss.
   */
  defaults: { readonly [K in LossParam]?: ParamValue<K> };
  /**
   * The loss on text columns [B, C] each (+ scores [B] when `columns.score` is 'required') → scalar [].
   * `params` as the spec gives them (a builder fills its own defaults, the same as `defaults`).
   */
  build(columns: Value[], params: LossParams, scores: Value | undefined): Value;
  /** train.py: `losses.<class>(model, <kwarg>=<param>, …)`, the kwargs in this order. */
  sentenceTransformers: {
    class: string;
    args: readonly (readonly [kwarg: string, param: LossParam])[];
    /**
     * The Cached (GradCache) class that takes the same kwargs plus `mini_batch_size`, used when the
     * run config sets GradCache mini-batches; without one train.py uses `class` (the same loss,
     * more GPU memory).
     */
    cached?: string;
  };
  /** The card's name for the loss with its parameters (defaults filled), e.g. `TripletLoss (euclidean, margin 5)`. */
  card(params: LossParams): string;
}

const records = {
  mnrl: {
    label: 'MNRL',
    columns: { negatives: { min: 0, max: Infinity }, score: 'none' },
    defaults: { scale: 20 },
    build: (cols, p) => mnrl(cols, { scale: p.scale }),
    sentenceTransformers: { class: 'MultipleNegativesRankingLoss', args: [['scale', 'scale']], cached: 'CachedMultipleNegativesRankingLoss' },
    card: (p) => `MultipleNegativesRankingLoss (scale ${p.scale})`,
  },
  mnrl_symmetric: {
    label: 'MNRL, symmetric',
    columns: { negatives: { min: 0, max: Infinity }, score: 'none' },
    defaults: { scale: 20 },
    build: (cols, p) => mnrl(cols, { scale: p.scale, symmetric: true }),
    sentenceTransformers: { class: 'MultipleNegativesSymmetricRankingLoss', args: [['scale', 'scale']] },
    card: (p) => `MultipleNegativesSymmetricRankingLoss (scale ${p.scale})`,
  },
  triplet: {
    label: 'Triplet',
    columns: { negatives: { min: 1, max: 1 }, score: 'none' },
    defaults: { margin: 5, distance: 'euclidean' },
    build: (cols, p) => tripletLoss(cols, { margin: p.margin, distance: p.distance }),
    sentenceTransformers: { class: 'TripletLoss', args: [['distance_metric', 'distance'], ['triplet_margin', 'margin']] },
    card: (p) => `TripletLoss (${p.distance}, margin ${p.margin})`,
  },
  cosent: {
    label: 'CoSENT',
    columns: { negatives: { min: 0, max: 0 }, score: 'required' },
    defaults: { scale: 20 },
    build: (cols, p, scores) => {
      if (!scores) throw new Error('cosent: needs scores');
      return cosentLoss(cols, scores, { scale: p.scale });
    },
    sentenceTransformers: { class: 'CoSENTLoss', args: [['scale', 'scale']] },
    card: (p) => `CoSENTLoss (scale ${p.scale})`,
  },
} satisfies Record<string, LossRecord>;

/** The loss types, one per record. */
export type LossType = keyof typeof records;
export const LOSS_RECORDS: { readonly [T in LossType]: LossRecord } = records;
/** In the records' order (the page's menu and messages list them so). */
export const LOSS_TYPES = Object.keys(records) as readonly LossType[];

export const isLossType = (x: unknown): x is LossType => typeof x === 'string' && Object.hasOwn(records, x);

/** How many text columns the loss takes: anchor and positive, then its negatives. */
export function columnRange(type: LossType): { min: number; max: number } {
  const { negatives } = LOSS_RECORDS[type].columns;
  return { min: 2 + negatives.min, max: 2 + negatives.max };
}

/** Whether the loss reads gold scores (a [B] input beside the embeddings). */
export const needsScores = (type: LossType): boolean => LOSS_RECORDS[type].columns.score === 'required';

/** The columns a loss needs, in words: "anchor, positive and one negative column". */
export function describeColumns(type: LossType): string {
  const { negatives: n, score } = LOSS_RECORDS[type].columns;
  const negatives =
    n.max === 0 ? ''
    : n.min === n.max ? (n.min === 1 ? 'one negative column' : `${n.min} negative columns`)
    : n.max === Infinity ? (n.min === 0 ? 'any number of negative columns' : `at least ${n.min} negative columns`)
    : `${n.min} to ${n.max} negative columns`;
  const parts = ['anchor', 'positive', ...(negatives ? [negatives] : []), ...(score === 'required' ? ['a score column'] : [])];
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}${n.max === 0 ? ' (no negative)' : ''}`;
}

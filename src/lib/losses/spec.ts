// The loss section of the run config — a plain JSON object — its validation (messages name the
// field), its defaults, and what it describes: the loss built on embedding columns, the card's
// words and train.py's constructor.
//   { type: LossType, the type's own parameters (scale, margin, distance…), matryoshka?: { dims, weights? } }
// Every per-type fact (which parameters, their defaults and bounds, the builder, the Python class)
// comes from the loss records (records.ts); this file only applies them, with no list of its own.
// Not the rest of the run config, and not graphs (loss-graph.ts).

import type { Value } from '../graph/graph.ts';
import { matryoshka, matryoshkaPlan } from './matryoshka.ts';
import { LOSS_PARAMS, LOSS_RECORDS, LOSS_TYPES, type LossParam, type LossParams, type LossType, isLossType, needsScores } from './records.ts';
import { FieldError } from '../util/field-error.ts';

export { columnRange, describeColumns, isLossType, LOSS_RECORDS, LOSS_TYPES, type LossParams, type LossType, needsScores } from './records.ts';

export interface LossSpec extends LossParams {
  type: LossType;
  /** Wraps the loss in MatryoshkaLoss. */
  matryoshka?: { dims: number[]; weights?: number[] };
}

/** A loss spec field that fails its checks (docs/losses.md). */
export class LossSpecError extends FieldError {
  override name = 'LossSpecError';
}

const PARAM_KEYS = Object.keys(LOSS_PARAMS) as LossParam[];

/** Checks one parameter's value against its definition (records.ts' LOSS_PARAMS); `path` names it in the message. */
function checkParam(key: LossParam, v: unknown, path: string): number | string {
  const def = LOSS_PARAMS[key];
  if (def.kind === 'number') {
    const bound = def.min === undefined ? null : `${def.minExclusive ? '>' : '≥'} ${def.min}`;
    const ok = typeof v === 'number' && Number.isFinite(v) && (def.min === undefined || (def.minExclusive ? v > def.min : v >= def.min));
    if (!ok) throw new LossSpecError(path, `must be a ${bound ? `number ${bound}` : 'finite number'}, got ${JSON.stringify(v)}`);
    return v;
  }
  const choices: readonly string[] = def.choices;
  if (typeof v !== 'string' || !choices.includes(v)) throw new LossSpecError(path, `must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Checks a parsed config value and returns it as a LossSpec (defaults are not filled in).
 * `hidden`, when known, bounds the Matryoshka dims. `field` is the path used in messages.
 */
export function validateLossSpec(raw: unknown, opts: { hidden?: number; field?: string } = {}): LossSpec {
  const field = opts.field ?? 'loss';
  if (!isObject(raw)) throw new LossSpecError(field, `must be an object like { "type": "mnrl" }, got ${JSON.stringify(raw)}`);
  const type = raw.type;
  if (!isLossType(type)) {
    throw new LossSpecError(`${field}.type`, `must be one of ${LOSS_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
  const takes = LOSS_RECORDS[type].defaults;
  for (const key of Object.keys(raw)) {
    if (key === 'type' || key === 'matryoshka') continue;
    if (!Object.hasOwn(LOSS_PARAMS, key)) throw new LossSpecError(`${field}.${key}`, 'unknown field');
    if (!Object.hasOwn(takes, key)) throw new LossSpecError(`${field}.${key}`, `does not apply to loss type ${type}`);
  }
  const spec: LossSpec = { type };
  const params = spec as Record<LossParam, unknown>;
  for (const key of PARAM_KEYS) if (raw[key] !== undefined) params[key] = checkParam(key, raw[key], `${field}.${key}`);
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

/**
 * The spec with the type's parameters filled from its record's defaults (sentence-transformers'
 * own), in the record's order, and nothing else: what the run config stores.
 */
export function withLossDefaults(spec: LossSpec): LossSpec {
  const out: LossSpec = { type: spec.type };
  const params = out as Record<LossParam, unknown>;
  for (const [key, d] of Object.entries(LOSS_RECORDS[spec.type].defaults) as [LossParam, unknown][]) params[key] = spec[key] ?? d;
  if (spec.matryoshka) out.matryoshka = spec.matryoshka;
  return out;
}

/** The loss a spec describes, on columns [B, C] (+ scores [B] for cosent) → scalar []. */
export function buildLoss(spec: LossSpec, columns: Value[], scores?: Value): Value {
  if (needsScores(spec.type) && !scores) throw new Error(`${spec.type}: needs scores`);
  const record = LOSS_RECORDS[spec.type];
  const inner = (cols: Value[]): Value => record.build(cols, spec, scores);
  return spec.matryoshka ? matryoshka(inner, columns, spec.matryoshka) : inner(columns);
}

/** The card's words for the loss: `MatryoshkaLoss over CoSENTLoss (scale 20), dims 768, 512`. */
export function lossCardText(spec: LossSpec): string {
  const inner = LOSS_RECORDS[spec.type].card(withLossDefaults(spec));
  return spec.matryoshka ? `MatryoshkaLoss over ${inner}, dims ${spec.matryoshka.dims.join(', ')}` : inner;
}

/**
 * train.py's module-level constants for the numeric loss parameters: one per parameter that any
 * loss takes (LOSS_SCALE, TRIPLET_MARGIN…), in LOSS_PARAMS' order, None where this loss does not
 * take it — so every script has the same names.
 */
export function pythonLossConstants(spec: LossSpec): [name: string, value: number | null][] {
  const p = withLossDefaults(spec);
  const out: [string, number | null][] = [];
  for (const key of PARAM_KEYS) {
    const def = LOSS_PARAMS[key];
    if (def.kind === 'number') out.push([def.pythonConstant, Object.hasOwn(p, key) ? (p[key] as number) : null]);
  }
  return out;
}

/**
 * train.py's statements that build `loss` (unindented): the record's sentence-transformers class
 * with its kwargs — its Cached class (`mini_batch_size=GRADCACHE_MINI_BATCH`) when `gradCache`
 * mini-batches are set and the record has one — then MatryoshkaLoss around it
 * (`matryoshka_dims=MATRYOSHKA_DIMS`, `matryoshka_weights=MATRYOSHKA_WEIGHTS`). Those three names,
 * and pythonLossConstants' names, are the constants train.py defines.
 */
export function pythonLossLines(spec: LossSpec, opts: { gradCacheMiniBatch: boolean }): string[] {
  const p = withLossDefaults(spec);
  const st = LOSS_RECORDS[spec.type].sentenceTransformers;
  const cls = opts.gradCacheMiniBatch && st.cached ? st.cached : st.class;
  const args = st.args.map(([kwarg, key]) => {
    const def = LOSS_PARAMS[key];
    return `${kwarg}=${def.kind === 'number' ? def.pythonConstant : def.python(p[key] as never)}`;
  });
  if (cls !== st.class) args.push('mini_batch_size=GRADCACHE_MINI_BATCH');
  const out = [`loss = losses.${cls}(${['model', ...args].join(', ')})`];
  if (spec.matryoshka) out.push(`loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=MATRYOSHKA_DIMS${spec.matryoshka.weights ? ', matryoshka_weights=MATRYOSHKA_WEIGHTS' : ''})`);
  return out;
}

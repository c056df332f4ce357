// The loss records as their readers see them: for every loss type, its defaults are what the run
// config fills in and a valid spec; every parameter it takes is checked with a message that names
// that field (in the loss spec and in the run config), every parameter it does not take is refused
// naming it; the graph reads scores exactly when the record says so and takes the columns the
// record says (the loss-only graph builds at the bounds and refuses one column short); the
// batches refuse data without the record's columns, saying what it needs.

import { describe, expect, it } from 'vitest';
import type { Example } from '../data/validate.ts';
import { columnFields } from '../train/batches.ts';
import { parseRunConfig, RunConfigError } from '../train/run-config.ts';
import { buildLossGraph, SCORES_INPUT } from './loss-graph.ts';
import { columnRange, describeColumns, LOSS_PARAMS, LOSS_RECORDS, LOSS_TYPES, type LossParam, type LossType, needsScores } from './records.ts';
import { LossSpecError, validateLossSpec, withLossDefaults } from './spec.ts';

const paramsOf = (t: (typeof LOSS_TYPES)[number]) => Object.keys(LOSS_RECORDS[t].defaults) as LossParam[];
const ALL_PARAMS = Object.keys(LOSS_PARAMS) as LossParam[];
/** A value each kind of parameter must refuse. */
const badValue = (key: LossParam): unknown => (LOSS_PARAMS[key].kind === 'number' ? 'twenty' : 'no-such-choice');

function errorOf(f: () => unknown): Error & { field?: string } {
  try {
    f();
  } catch (e) {
    return e as Error & { field?: string };
  }
  throw new Error('expected an error');
}

describe('loss records', () => {
  it('lists today\'s types and refuses any other by name', () => {
    expect(LOSS_TYPES).toEqual(expect.arrayContaining(['mnrl', 'mnrl_symmetric', 'triplet', 'cosent']));
    for (const type of ['softmax', 'toString', '__proto__', 'hasOwnProperty']) {
      const e = errorOf(() => validateLossSpec({ type }));
      expect(e).toBeInstanceOf(LossSpecError);
      expect(e.field).toBe('loss.type');
    }
  });

  for (const type of LOSS_TYPES) {
    describe(type, () => {
      const record = LOSS_RECORDS[type];

      it('fills its defaults in the run config, and they are a valid spec', () => {
        const spec = { type, ...record.defaults };
        expect(validateLossSpec(spec)).toEqual(spec);
        expect(parseRunConfig({ loss: { type } }).loss).toEqual(spec);
        expect(withLossDefaults({ type })).toEqual(spec);
        // The record's own order is the stored order (share links and run_config.json compare JSON).
        expect(Object.keys(parseRunConfig({ loss: { type } }).loss)).toEqual(['type', ...paramsOf(type)]);
      });

      it('names the field in every parameter message', () => {
        for (const key of paramsOf(type)) {
          const e = errorOf(() => validateLossSpec({ type, [key]: badValue(key) }));
          expect(e).toBeInstanceOf(LossSpecError);
          expect(e.field).toBe(`loss.${key}`);
          expect(e.message).toMatch(new RegExp(`^loss\\.${key}: must be .*, got ${JSON.stringify(JSON.stringify(badValue(key))).slice(1, -1)}$`));
          const r = errorOf(() => parseRunConfig({ loss: { type, [key]: badValue(key) } }));
          expect(r).toBeInstanceOf(RunConfigError);
          expect(r.field).toBe(`loss.${key}`);
        }
        for (const key of ALL_PARAMS.filter((k) => !paramsOf(type).includes(k))) {
          const e = errorOf(() => validateLossSpec({ type, [key]: LOSS_RECORDS[LOSS_TYPES.find((t) => paramsOf(t).includes(key))!].defaults[key] }));
          expect(e.message).toBe(`loss.${key}: does not apply to loss type ${type}`);
        }
      });

      it('builds a graph with the record\'s columns, reading scores exactly when it needs them', () => {
        const { min, max } = columnRange(type);
        for (const columns of [min, Math.min(max, min + 2)]) {
          const g = buildLossGraph({ type }, { columns, hidden: 8 });
          expect(g.inputs.map((v) => v.name).includes(SCORES_INPUT), `${type} with ${columns} columns`).toBe(needsScores(type));
        }
        expect(() => buildLossGraph({ type }, { columns: min - 1, hidden: 8 })).toThrow(`${type}: takes`);
        if (max !== Infinity) expect(() => buildLossGraph({ type }, { columns: max + 1, hidden: 8 })).toThrow(`${type}: takes`);
      });

      it('batches refuse rows without its columns, saying what it needs', () => {
        const { min } = columnRange(type);
        const row = (negatives: number, score?: number): Example => ({
          row: 0, anchor: 'a', positive: 'p', ...(negatives ? { negatives: Array.from({ length: negatives }, (_, i) => `n${i}`) } : {}), ...(score === undefined ? {} : { score }),
        });
        const ok = [row(min - 2, needsScores(type) ? 0.5 : undefined)];
        expect(columnFields(type, ok)).toHaveLength(min);
        if (needsScores(type)) {
          expect(() => columnFields(type, [row(min - 2)])).toThrow(`loss ${type} needs a score column`);
        }
        if (min > 2) expect(() => columnFields(type, [row(0)])).toThrow(`loss ${type} needs ${describeColumns(type)}; the data has anchor, positive`);
      });
    });
  }

  it('says what a loss needs in words', () => {
    expect(['mnrl', 'mnrl_symmetric', 'triplet', 'cosent'].map((t) => describeColumns(t as LossType))).toEqual([
      'anchor, positive and any number of negative columns',
      'anchor, positive and any number of negative columns',
      'anchor, positive and one negative column',
      'anchor, positive and a score column (no negative)',
    ]);
  });
});

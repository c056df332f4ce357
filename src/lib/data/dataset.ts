// From tables to the train and test examples a run uses: the column mapping (the seed's for its
// default data set, auto-detected otherwise, or the user's), validation of each split, and a
// seeded split when there is only one. Not loading (hub/dataset-files.ts, parse.ts).

import { DEFAULT_DATASET_ID } from '../config.ts';
import { autoMapping, SEED_MAPPING, type ColumnMapping } from './columns.ts';
import type { Table } from './parse.ts';
import { splitTrainTest } from './split.ts';
import { validateRows, type Example, type Issue, type ValidateOptions } from './validate.ts';

export interface PreparedDataset {
  mapping: ColumnMapping;
  /** How the mapping was chosen. */
  mappingSource: 'seed' | 'auto' | 'user';
  train: Example[];
  test: Example[];
  /** 'given': the data's own splits; 'seeded': split here from one. */
  split: 'given' | 'seeded';
  issues: Issue[];
  tooLong: number;
  /** False when an error leaves no training data. */
  usable: boolean;
}

export interface PrepareOptions extends Omit<ValidateOptions, 'file'> {
  /** Names the source in messages ("train.csv", a Hub id). */
  source: string;
  mapping?: ColumnMapping;
  testFraction?: number;
  seed?: number;
}

/** The mapping a data set gets without user input. */
export function defaultMapping(source: string, columns: string[]): { mapping: ColumnMapping; source: 'seed' | 'auto' } {
  if (source === DEFAULT_DATASET_ID) return { mapping: SEED_MAPPING, source: 'seed' };
  return { mapping: autoMapping(columns), source: 'auto' };
}

export function prepareDataset(splits: Record<string, Table>, o: PrepareOptions): PreparedDataset {
  const names = Object.keys(splits);
  if (names.length === 0) throw new Error(`${o.source}: no splits`);
  const first = splits[names[0]];
  const chosen = o.mapping ? { mapping: o.mapping, source: 'user' as const } : defaultMapping(o.source, first.columns);
  const issues: Issue[] = [];
  let tooLong = 0;
  const run = (name: string) => {
    const r = validateRows(splits[name], chosen.mapping, { ...o, file: names.length > 1 || name !== 'file' ? `${o.source} (${name})` : o.source });
    issues.push(...r.issues);
    tooLong += r.tooLong;
    return r;
  };
  const trainName = names.find((n) => n === 'train') ?? names[0];
  const testName = names.find((n) => n === 'test') ?? names.find((n) => n === 'validation') ?? (names.length > 1 ? names.find((n) => n !== trainName) : undefined);
  const train = run(trainName);
  if (testName) {
    const test = run(testName);
    return { mapping: chosen.mapping, mappingSource: chosen.source, train: train.examples, test: test.examples, split: 'given', issues, tooLong, usable: !train.fatal };
  }
  const s = splitTrainTest(train.examples, o.testFraction ?? 0.1, o.seed ?? 42);
  return { mapping: chosen.mapping, mappingSource: chosen.source, train: s.train, test: s.test, split: 'seeded', issues, tooLong, usable: !train.fatal };
}

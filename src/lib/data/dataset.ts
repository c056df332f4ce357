// From tables to the train and test examples a run uses: the column mapping (the seed's for its
// default data set, auto-detected otherwise, or the user's), validation of each split, and a
// seeded split when there is only one; the hygiene report of those rows and the remedies the run
// asked for (hygiene.ts). Not loading (hub/dataset-files.ts, parse.ts).

import { DEFAULT_DATASET_ID } from '../config.ts';
import { autoMapping, SEED_MAPPING, type ColumnMapping } from './columns.ts';
import { applyRemedies, hygieneReport, NO_REMEDIES, type HygieneRemedies, type HygieneReport, type SplitSizes } from './hygiene.ts';
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
  /** Duplicates, shared positives and leaked test rows among the rows before any remedy. */
  hygiene: HygieneReport;
  /** What the remedies changed: train and test above are the rows after them. */
  remedied: { dropped: SplitSizes; moved: number };
  /** False when an error leaves no training data. */
  usable: boolean;
}

export interface PrepareOptions extends Omit<ValidateOptions, 'file'> {
  /** Names the source in messages ("train.csv", a Hub id). */
  source: string;
  mapping?: ColumnMapping;
  testFraction?: number;
  seed?: number;
  /** Hygiene remedies to apply (default none). */
  remedies?: HygieneRemedies;
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
  let split: PreparedDataset['split'] = 'seeded';
  let rows: { train: Example[]; test: Example[] };
  if (testName) {
    rows = { train: train.examples, test: run(testName).examples };
    split = 'given';
  } else rows = splitTrainTest(train.examples, o.testFraction ?? 0.1, o.seed ?? 42);
  const hygiene = hygieneReport(rows.train, rows.test);
  const r = applyRemedies(rows.train, rows.test, o.remedies ?? NO_REMEDIES);
  for (const message of r.notes) issues.push({ level: 'warning', message: `${o.source}: ${message}` });
  return {
    mapping: chosen.mapping, mappingSource: chosen.source, train: r.train, test: r.test, split, issues, tooLong, usable: !train.fatal,
    hygiene, remedied: { dropped: r.dropped, moved: r.moved },
  };
}

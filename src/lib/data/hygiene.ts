// Data hygiene before training (docs/data.md#data-hygiene): on a prepared data set's train and
// test examples, counts and examples of
//   - duplicate rows: a row equal to an earlier row of its split on every text the loss sees
//     (anchor, positive, each negative) and on the score;
//   - shared positives: training rows whose positive is also another training row's positive
//     (a false in-batch negative for MNRL whenever the two land in one batch);
//   - leaked test rows: test rows whose positive is also a training positive (the model is trained
//     towards that document, which inflates the "after" figures);
// and the remedies that apply: drop the duplicate copies, move leaked test rows into train. Shared
// positives have no row remedy here: the NO_DUPLICATES sampler keeps them out of one batch.
// Texts are compared after Python's `" ".join(text.split())` (hygieneKey), nothing more.
// Linear time: one hash map or set per check over the split's texts (memory about the texts'
// size again). Not validation (validate.ts) and not near-duplicate detection (no fuzzy matching).

import { PY_SPACE } from '../util/py-space.ts';
import type { Example } from './validate.ts';

export interface HygieneRemedies {
  /** Drop every copy of a duplicate row after its first, in train and in test. */
  dropDuplicates: boolean;
  /** Move test rows whose positive is a training positive into train (refused if it would empty test). */
  moveLeakedTest: boolean;
}

export const NO_REMEDIES: HygieneRemedies = { dropDuplicates: false, moveLeakedTest: false };

export type Split = 'train' | 'test';

/** One row as an example shows it: where it is and its texts (cut to EXAMPLE_CHARS). */
export interface HygieneRow {
  split: Split;
  /** 0-based row of its split or file (Example.row). */
  row: number;
  anchor: string;
  positive: string;
}

export interface HygieneReport {
  /** Copies after the first, per split: the rows dropDuplicates removes. */
  duplicates: { train: number; test: number; examples: HygieneRow[][] };
  /**
   * Training rows (duplicate copies not counted) whose positive another such row shares, and the
   * documents they share. `spelledApart`: documents whose rows spell the text differently (in
   * whitespace only), which NO_DUPLICATES (exact strings) does not keep apart.
   */
  sharedPositives: { rows: number; documents: number; spelledApart: number; examples: HygieneRow[][] };
  /** Test rows whose positive is a training positive; `samePair` of them also repeat a training anchor with it. */
  leakedTest: { rows: number; samePair: number; examples: HygieneRow[][] };
  /** Train and test sizes under each combination of remedies (what the run would use). */
  sizes: { none: SplitSizes; dropDuplicates: SplitSizes; moveLeakedTest: SplitSizes; both: SplitSizes };
}

export interface SplitSizes {
  train: number;
  test: number;
}

export interface RemedyResult {
  train: Example[];
  test: Example[];
  /** Rows removed as duplicate copies, per split (moved rows count in train). */
  dropped: SplitSizes;
  /** Test rows moved into train. */
  moved: number;
  /** Why a remedy that was asked for was not applied (one line each). */
  notes: string[];
}

/** Examples kept per finding, and the characters shown of each text. */
export const HYGIENE_EXAMPLES = 3;
export const EXAMPLE_CHARS = 160;

const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');

/**
 * The form texts are compared in: runs of whitespace (Python's str.isspace set) made one space,
 * none at either end — Python's `" ".join(text.split())`. Whitespace is all that BERT's
 * pre-tokenizer ignores whatever the model; case and accents are kept, because a cased model (and
 * XLM-R) sees them.
 */
export function hygieneKey(text: string): string {
  const s = text.replace(SPACE_RUN, ' ');
  return s.slice(s.startsWith(' ') ? 1 : 0, s.endsWith(' ') ? -1 : undefined);
}

/** Every text column the loss sees, and the score: two rows with the same key are duplicates. */
const rowKey = (e: Example): string => JSON.stringify([hygieneKey(e.anchor), hygieneKey(e.positive), ...(e.negatives ?? []).map(hygieneKey), e.score ?? null]);

const cut = (s: string) => (s.length > EXAMPLE_CHARS ? `${s.slice(0, EXAMPLE_CHARS)}…` : s);
const shown = (split: Split, e: Example): HygieneRow => ({ split, row: e.row, anchor: cut(e.anchor), positive: cut(e.positive) });

/** Index of each row that is a copy of an earlier one (same rowKey), in order. */
function duplicateCopies(rows: readonly Example[]): { copies: Uint8Array; firstOf: Map<string, number> } {
  const firstOf = new Map<string, number>();
  const copies = new Uint8Array(rows.length);
  rows.forEach((e, i) => {
    const k = rowKey(e);
    if (firstOf.has(k)) copies[i] = 1;
    else firstOf.set(k, i);
  });
  return { copies, firstOf };
}

const dedupe = (rows: readonly Example[]): Example[] => {
  const { copies } = duplicateCopies(rows);
  return rows.filter((_, i) => !copies[i]);
};

/** The remedies asked for, in this order: leaked test rows into train, then duplicate copies out of each split. */
export function applyRemedies(train: readonly Example[], test: readonly Example[], r: HygieneRemedies): RemedyResult {
  let tr = train.slice();
  let te = test.slice();
  let moved = 0;
  const notes: string[] = [];
  if (r.moveLeakedTest) {
    const trainPositives = new Set(train.map((e) => hygieneKey(e.positive)));
    const leaked = te.filter((e) => trainPositives.has(hygieneKey(e.positive)));
    if (leaked.length && leaked.length === te.length) {
      notes.push(`leaked test rows not moved: all ${te.length} test rows have a training positive, and moving them would leave no test split`);
    } else if (leaked.length) {
      tr = tr.concat(leaked);
      te = te.filter((e) => !trainPositives.has(hygieneKey(e.positive)));
      moved = leaked.length;
    }
  }
  const dropped = { train: 0, test: 0 };
  if (r.dropDuplicates) {
    const [a, b] = [dedupe(tr), dedupe(te)];
    dropped.train = tr.length - a.length;
    dropped.test = te.length - b.length;
    [tr, te] = [a, b];
  }
  return { train: tr, test: te, dropped, moved, notes };
}

/** The three checks on the rows as loaded (before any remedy), with up to `maxExamples` examples each. */
export function hygieneReport(train: readonly Example[], test: readonly Example[], maxExamples = HYGIENE_EXAMPLES): HygieneReport {
  // Duplicates, per split: the first copy of each group and a later one.
  const dupExamples: HygieneRow[][] = [];
  const countCopies = (split: Split, rows: readonly Example[]) => {
    const { copies, firstOf } = duplicateCopies(rows);
    let n = 0;
    rows.forEach((e, i) => {
      if (!copies[i]) return;
      n++;
      if (dupExamples.length < maxExamples) dupExamples.push([shown(split, rows[firstOf.get(rowKey(e))!]), shown(split, e)]);
    });
    return { n, copies };
  };
  const trainDup = countCopies('train', train);
  const testDup = countCopies('test', test);

  // Shared positives, over training rows that are not duplicate copies.
  interface Doc {
    first: number;
    count: number;
    raw: string;
    apart: boolean;
  }
  const docs = new Map<string, Doc>();
  train.forEach((e, i) => {
    if (trainDup.copies[i]) return;
    const k = hygieneKey(e.positive);
    const d = docs.get(k);
    if (!d) docs.set(k, { first: i, count: 1, raw: e.positive, apart: false });
    else {
      d.count++;
      if (e.positive !== d.raw) d.apart = true;
    }
  });
  let sharedRows = 0;
  let sharedDocs = 0;
  let apart = 0;
  for (const d of docs.values()) {
    if (d.count < 2) continue;
    sharedRows += d.count;
    sharedDocs++;
    if (d.apart) apart++;
  }
  // Examples: the first documents shared, each with up to three of its rows (a second pass).
  const picked = new Map<string, HygieneRow[]>();
  for (const [k, d] of docs) {
    if (picked.size >= maxExamples) break;
    if (d.count >= 2) picked.set(k, []);
  }
  if (picked.size) {
    train.forEach((e, i) => {
      if (trainDup.copies[i]) return;
      const rows = picked.get(hygieneKey(e.positive));
      if (rows && rows.length < 3) rows.push(shown('train', e));
    });
  }

  // Leaked test rows: a test positive among the training positives (all training rows).
  const trainPairs = new Set(train.map((e) => JSON.stringify([hygieneKey(e.anchor), hygieneKey(e.positive)])));
  let leaked = 0;
  let samePair = 0;
  const leakExamples: HygieneRow[][] = [];
  for (const e of test) {
    const k = hygieneKey(e.positive);
    const d = docs.get(k);
    if (!d) continue;
    leaked++;
    if (trainPairs.has(JSON.stringify([hygieneKey(e.anchor), k]))) samePair++;
    if (leakExamples.length < maxExamples) leakExamples.push([shown('test', e), shown('train', train[d.first])]);
  }

  const sizes = (r: HygieneRemedies): SplitSizes => {
    const x = applyRemedies(train, test, r);
    return { train: x.train.length, test: x.test.length };
  };
  return {
    duplicates: { train: trainDup.n, test: testDup.n, examples: dupExamples },
    sharedPositives: { rows: sharedRows, documents: sharedDocs, spelledApart: apart, examples: [...picked.values()] },
    leakedTest: { rows: leaked, samePair, examples: leakExamples },
    sizes: {
      none: { train: train.length, test: test.length },
      dropDuplicates: sizes({ dropDuplicates: true, moveLeakedTest: false }),
      moveLeakedTest: sizes({ dropDuplicates: false, moveLeakedTest: true }),
      both: sizes({ dropDuplicates: true, moveLeakedTest: true }),
    },
  };
}

/**
 * The report in a few plain lines (the CLI's warning before training), each saying what its remedy
 * did or which flag applies it; empty when nothing was found.
 */
export function hygieneLines(h: HygieneReport, applied: { dropped: SplitSizes; moved: number }, sampler: 'batch' | 'no_duplicates'): string[] {
  const out: string[] = [];
  const { duplicates: d, sharedPositives: s, leakedTest: l } = h;
  if (d.train || d.test) {
    const done = applied.dropped.train + applied.dropped.test;
    out.push(`${d.train} duplicate train rows and ${d.test} duplicate test rows (copies of an earlier row on every text and the score); ${done ? `dropped ${done}` : '--data.dropDuplicates drops them'}`);
  }
  if (s.rows) {
    out.push(
      `${s.rows} train rows share their positive with another row (${s.documents} documents): MNRL takes the other row's positive as a negative when both are in one batch; ` +
        (sampler === 'batch'
          ? 'the batch sampler lets that happen: --sampler no_duplicates keeps them apart'
          : `the no_duplicates sampler keeps them apart${s.spelledApart ? `, except in ${s.spelledApart} documents spelled differently (whitespace)` : ''}`),
    );
  }
  if (l.rows) {
    out.push(`${l.rows} test rows have a positive that is also a training positive (${l.samePair} with the same anchor too), which inflates the "after" figures; ${applied.moved ? `moved ${applied.moved} to train` : '--data.moveLeakedTest moves them to train'}`);
  }
  return out;
}

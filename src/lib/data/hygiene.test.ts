// The hygiene checks and remedies against tests/reference/hygiene_reference.py (an independent
// Python count on a fixture with planted duplicates, shared documents and leaks), plus the edges
// the fixture does not reach: examples, the refused move, the run config's flags, the CLI lines.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../../../tests/reference/load-reference.ts';
import { trainScript } from '../export/python-script.ts';
import { overrideFromFlags } from '../train/run-config-flags.ts';
import { defaultRunConfig, parseRunConfig } from '../train/run-config.ts';
import { prepareDataset } from './dataset.ts';
import { applyRemedies, EXAMPLE_CHARS, hygieneKey, hygieneLines, hygieneReport, NO_REMEDIES, type HygieneRemedies } from './hygiene.ts';
import type { Table } from './parse.ts';
import type { Example } from './validate.ts';

type Row = { anchor: string; positive: string; negative: string; score: number };
const ref = JSON.parse(readFileSync(join(REFERENCE_DIR, 'hygiene.json'), 'utf8')) as {
  format_version: string;
  train: Row[];
  test: Row[];
  report: { duplicates: { train: number; test: number }; sharedPositives: { rows: number; documents: number; spelledApart: number }; leakedTest: { rows: number; samePair: number } };
  remedies: Record<'none' | 'dropDuplicates' | 'moveLeakedTest' | 'both', { train: [string, number][]; test: [string, number][] }>;
};
const table = (rows: Row[]): Table => ({ columns: ['anchor', 'positive', 'negative', 'score'], rows });
const splits = () => ({ train: table(ref.train), test: table(ref.test) });
const COMBOS: Record<keyof typeof ref.remedies, HygieneRemedies> = {
  none: NO_REMEDIES,
  dropDuplicates: { dropDuplicates: true, moveLeakedTest: false },
  moveLeakedTest: { dropDuplicates: false, moveLeakedTest: true },
  both: { dropDuplicates: true, moveLeakedTest: true },
};
const ex = (anchor: string, positive: string, row: number, more: Partial<Example> = {}): Example => ({ anchor, positive, row, ...more });

describe('data hygiene against the Python reference', () => {
  const p = prepareDataset(splits(), { source: 'hygiene-fixture' });

  it('reads the fixture as it was written (every row valid, no remedy by default)', () => {
    expect(ref.format_version).toBe('1');
    expect(p.issues).toEqual([]);
    expect([p.train.length, p.test.length]).toEqual([ref.train.length, ref.test.length]);
    expect(p.remedied).toEqual({ dropped: { train: 0, test: 0 }, moved: 0 });
  });

  it('counts what the reference counts', () => {
    const h = p.hygiene;
    expect({
      duplicates: { train: h.duplicates.train, test: h.duplicates.test },
      sharedPositives: { rows: h.sharedPositives.rows, documents: h.sharedPositives.documents, spelledApart: h.sharedPositives.spelledApart },
      leakedTest: { rows: h.leakedTest.rows, samePair: h.leakedTest.samePair },
    }).toEqual(ref.report);
    // The planted cases make every count non-zero, so a check that finds nothing cannot pass.
    expect(Object.values(ref.report).flatMap((o) => Object.values(o)).every((n) => n > 0)).toBe(true);
  });

  it('keeps exactly the rows the reference keeps under each remedy, in its order', () => {
    const where = new Map<Example, [string, number]>();
    p.train.forEach((e, i) => where.set(e, ['train', i]));
    p.test.forEach((e, i) => where.set(e, ['test', i]));
    for (const [name, r] of Object.entries(COMBOS) as [keyof typeof COMBOS, HygieneRemedies][]) {
      const out = applyRemedies(p.train, p.test, r);
      expect({ train: out.train.map((e) => where.get(e)), test: out.test.map((e) => where.get(e)) }, name).toEqual(ref.remedies[name]);
      expect(p.hygiene.sizes[name], name).toEqual({ train: ref.remedies[name].train.length, test: ref.remedies[name].test.length });
      // prepareDataset applies the same remedies to fresh rows; the tables stay as loaded (undo = prepare again without).
      const q = prepareDataset(splits(), { source: 'hygiene-fixture', remedies: r });
      expect([q.train.map((e) => e.anchor), q.test.map((e) => e.anchor)], name).toEqual([out.train.map((e) => e.anchor), out.test.map((e) => e.anchor)]);
      expect(q.hygiene, name).toEqual(p.hygiene);
    }
    expect(prepareDataset(splits(), { source: 'hygiene-fixture', remedies: COMBOS.both }).remedied).toEqual({
      dropped: { train: ref.remedies.moveLeakedTest.train.length - ref.remedies.both.train.length, test: ref.remedies.moveLeakedTest.test.length - ref.remedies.both.test.length },
      moved: ref.report.leakedTest.rows,
    });
  });
});

describe('hygieneKey', () => {
  it("is Python's \" \".join(text.split()): its whitespace set, not JS's", () => {
    expect(hygieneKey('  a \t\n b\u3000c\x1cd\x85e  ')).toBe('a b c d e');
    expect(hygieneKey('\ufeffa')).toBe('\ufeffa'); // not whitespace to Python
    expect(hygieneKey('Aé')).toBe('Aé'); // case and accents are kept
    expect(hygieneKey('')).toBe('');
    expect(hygieneKey(' ')).toBe('');
  });
});

describe('hygieneReport', () => {
  it('gives examples that show the finding: the kept row and its copy, the rows on one document, the test row and its training twin', () => {
    const long = 'x'.repeat(EXAMPLE_CHARS + 40);
    const train = [ex('q0', 'd0', 0), ex('q0 ', 'd0', 1), ex('q1', long, 2), ex('q2', long, 3), ex('q3', 'd3', 4)];
    const test = [ex('t0', ' d3', 0), ex('t1', 'fresh', 1)];
    const h = hygieneReport(train, test);
    expect(h.duplicates.examples).toEqual([[{ split: 'train', row: 0, anchor: 'q0', positive: 'd0' }, { split: 'train', row: 1, anchor: 'q0 ', positive: 'd0' }]]);
    expect(h.sharedPositives.examples.map((g) => g.map((r) => r.row))).toEqual([[2, 3]]);
    expect(h.sharedPositives.examples[0][0].positive).toBe(`${'x'.repeat(EXAMPLE_CHARS)}…`);
    expect(h.leakedTest.examples).toEqual([[{ split: 'test', row: 0, anchor: 't0', positive: ' d3' }, { split: 'train', row: 4, anchor: 'q3', positive: 'd3' }]]);
  });

  it('keeps at most maxExamples per finding while counting them all', () => {
    const train = Array.from({ length: 20 }, (_, i) => ex('q', 'd', i));
    const h = hygieneReport(train, [], 2);
    expect(h.duplicates.train).toBe(19);
    expect(h.duplicates.examples.length).toBe(2);
    expect(h.sharedPositives.rows).toBe(0); // 19 copies of one row: one distinct row, nothing shared
  });

  it('finds nothing in clean data', () => {
    const h = hygieneReport([ex('a', 'b', 0), ex('c', 'd', 1)], [ex('e', 'f', 0)]);
    expect(hygieneLines(h, { dropped: { train: 0, test: 0 }, moved: 0 }, 'no_duplicates')).toEqual([]);
  });
});

describe('applyRemedies', () => {
  it('does not move leaked rows when that would leave no test split, and says why', () => {
    const train = [ex('a', 'd', 0)];
    const test = [ex('b', 'd', 0)];
    const r = applyRemedies(train, test, { dropDuplicates: false, moveLeakedTest: true });
    expect([r.train.length, r.test.length, r.moved]).toEqual([1, 1, 0]);
    expect(r.notes[0]).toMatch(/would leave no test split/);
    const p = prepareDataset({ train: { columns: ['anchor', 'positive'], rows: [{ anchor: 'a', positive: 'd' }] }, test: { columns: ['anchor', 'positive'], rows: [{ anchor: 'b', positive: 'd' }] } }, { source: 's', remedies: { dropDuplicates: false, moveLeakedTest: true } });
    expect(p.issues).toEqual([{ level: 'warning', message: expect.stringMatching(/^s: leaked test rows not moved/) }]);
  });

  it('a moved row that repeats a training row is then dropped as a duplicate', () => {
    const r = applyRemedies([ex('a', 'd', 0)], [ex('a', 'd', 0), ex('z', 'y', 1)], { dropDuplicates: true, moveLeakedTest: true });
    expect([r.train.length, r.test.length, r.moved, r.dropped.train]).toEqual([1, 1, 1, 1]);
  });
});

describe('the run config carries the remedies', () => {
  it('--data.dropDuplicates and --data.moveLeakedTest reach prepareDataset', () => {
    const config = overrideFromFlags(defaultRunConfig(), { 'data.dropDuplicates': 'true', 'data.moveLeakedTest': 'true' });
    expect(config.data).toMatchObject({ dropDuplicates: true, moveLeakedTest: true });
    expect(defaultRunConfig().data).toMatchObject({ dropDuplicates: false, moveLeakedTest: false });
    expect(() => parseRunConfig({ data: { dropDuplicates: 'yes' } })).toThrow(/data\.dropDuplicates/);
    const p = prepareDataset(splits(), { source: 'hygiene-fixture', remedies: config.data });
    expect([p.train.length, p.test.length]).toEqual([ref.remedies.both.train.length, ref.remedies.both.test.length]);
  });

  it("the CLI's lines name the counts and what was done or which flag does it", () => {
    const p = prepareDataset(splits(), { source: 'hygiene-fixture', remedies: COMBOS.both });
    const done = hygieneLines(p.hygiene, p.remedied, 'no_duplicates');
    expect(done).toHaveLength(3);
    expect(done[0]).toMatch(/^5 duplicate train rows and 1 duplicate test rows .*dropped \d+$/);
    expect(done[1]).toMatch(/^15 train rows share their positive .*no_duplicates sampler keeps them apart, except in 2 documents/);
    expect(done[2]).toMatch(/^4 test rows .*\(2 with the same anchor too\).*moved 4 to train$/);
    const open = hygieneLines(p.hygiene, { dropped: { train: 0, test: 0 }, moved: 0 }, 'batch');
    expect(open[0]).toMatch(/--data\.dropDuplicates/);
    expect(open[1]).toMatch(/--sampler no_duplicates/);
    expect(open[2]).toMatch(/--data\.moveLeakedTest/);
  });
});

/**
 * Runs train.py's own hygiene functions (taken from the generated script by `ast`, over a stand-in
 * for datasets.Dataset, which this machine does not have) on the reference fixture.
 */
const RUN_SCRIPT_REMEDIES = `
import ast, json, sys

class Dataset:
    def __init__(self, rows, columns):
        self.rows, self.column_names = rows, columns
    def __len__(self):
        return len(self.rows)
    def __iter__(self):
        return iter(self.rows)
    def __getitem__(self, column):
        return [r[column] for r in self.rows]
    def select(self, indices):
        return Dataset([self.rows[i] for i in indices], self.column_names)

def concatenate_datasets(parts):
    return Dataset([r for p in parts for r in p.rows], parts[0].column_names)

tree = ast.parse(open(sys.argv[1]).read())
keep = [n for n in tree.body if (isinstance(n, ast.Assign) and n.targets[0].id.isupper()) or (isinstance(n, ast.FunctionDef) and n.name in ("hygiene_key", "drop_duplicates", "hygiene_remedies"))]
scope = {"concatenate_datasets": concatenate_datasets}
exec(compile(ast.Module(body=keep, type_ignores=[]), "train.py", "exec"), scope)
ref = json.load(open(sys.argv[2]))
cols = ["anchor", "positive", "negative", "score"]
split = lambda name: Dataset([dict(r, where=[name, i]) for i, r in enumerate(ref[name])], cols)
train, test = scope["hygiene_remedies"](split("train"), split("test"))
print(json.dumps({"train": [r["where"] for r in train], "test": [r["where"] for r in test]}))
`;

describe("train.py's remedies", () => {
  it('keep the rows the reference keeps, for each combination', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabtune-hygiene-'));
    try {
      for (const [name, r] of Object.entries(COMBOS) as [keyof typeof COMBOS, HygieneRemedies][]) {
        const config = parseRunConfig({ data: { columns: { anchor: 'anchor', positive: 'positive', negative: 'negative', score: 'score' }, ...r } });
        const path = join(dir, `train-${name}.py`);
        writeFileSync(path, trainScript(config));
        const out = execFileSync('/usr/bin/python3', ['-c', RUN_SCRIPT_REMEDIES, path, join(REFERENCE_DIR, 'hygiene.json')], { encoding: 'utf8' });
        expect(JSON.parse(out), name).toEqual(ref.remedies[name]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

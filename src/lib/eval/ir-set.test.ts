import { describe, expect, it } from 'vitest';
import { buildIrSet, comparePythonIds, explicitIrSet, type IrRow } from './ir-set.ts';

// Three train rows and two test rows; the test documents differ from the first two train ones.
const train: IrRow[] = [
  { anchor: 'tq0', positive: 'A', id: 'a' },
  { anchor: 'tq1', positive: 'B', id: 'b' },
  { anchor: 'tq2', positive: 'C', id: 'c' },
];
const test: IrRow[] = [
  { anchor: 'q0', positive: 'D', id: 'd' },
  { anchor: 'q1', positive: 'B', id: 'b' },
];

describe('buildIrSet recipe mode (the seed construction, docs/evaluation.md#the-seeds-ir-set)', () => {
  it('test rows overwrite the first len(test) train documents and keep their positions', () => {
    const s = buildIrSet(train, test, { mode: 'recipe' });
    expect(s.construction).toBe('recipe');
    expect([...s.corpus]).toEqual([
      [0, 'D'],
      [1, 'B'],
      [2, 'C'],
    ]); // A dropped out of the corpus
    expect([...s.queries]).toEqual([
      [0, 'q0'],
      [1, 'q1'],
    ]);
    expect([...s.relevant]).toEqual([
      [0, [0]],
      [1, [1]],
    ]);
  });

  it('a test split longer than train appends its extra ids', () => {
    const s = buildIrSet(train.slice(0, 1), test, { mode: 'recipe' });
    expect([...s.corpus.keys()]).toEqual([0, 1]);
    expect(s.corpus.get(0)).toBe('D');
  });
});

describe('buildIrSet default mode', () => {
  it('by text: every distinct document of both splits, first appearance order', () => {
    const s = buildIrSet(
      train.map((r) => ({ ...r, id: undefined })),
      test.map((r) => ({ ...r, id: undefined })),
    );
    expect(s.construction).toBe('text');
    expect([...s.corpus]).toEqual([
      [0, 'A'],
      [1, 'B'],
      [2, 'C'],
      [3, 'D'],
    ]);
    expect([...s.queries]).toEqual([
      [0, 'q0'],
      [1, 'q1'],
    ]);
    expect([...s.relevant]).toEqual([
      [0, [3]],
      [1, [1]], // B appears in train and test: one document
    ]);
  });

  it('by id when ids and texts correspond one to one (auto)', () => {
    const s = buildIrSet(train, test);
    expect(s.construction).toBe('id');
    expect([...s.corpus]).toEqual([
      ['a', 'A'],
      ['b', 'B'],
      ['c', 'C'],
      ['d', 'D'],
    ]);
    expect([...s.relevant]).toEqual([
      [0, ['d']],
      [1, ['b']],
    ]);
  });

  it('auto falls back to text when the id column is a per-split row index (ids collide)', () => {
    const rowIds = (rows: IrRow[]) => rows.map((r, i) => ({ ...r, id: i }));
    const s = buildIrSet(rowIds(train), rowIds(test));
    expect(s.construction).toBe('text');
    expect(s.corpus.size).toBe(4);
  });

  it('auto falls back to text when one text carries two ids; forcing id keeps both documents', () => {
    const t2 = [...test, { anchor: 'q2', positive: 'A', id: 'a2' }];
    expect(buildIrSet(train, t2).construction).toBe('text');
    const forced = buildIrSet(train, t2, { documentKey: 'id' });
    expect(forced.corpus.size).toBe(5);
    expect(forced.relevant.get(2)).toEqual(['a2']);
  });

  it('documentKey "id" throws when one id names two texts', () => {
    const bad = [...test, { anchor: 'q2', positive: 'Z', id: 'a' }];
    expect(() => buildIrSet(train, bad, { documentKey: 'id' })).toThrow(/two different document texts/);
    expect(buildIrSet(train, bad).construction).toBe('text');
  });
});

describe('explicitIrSet and id ordering', () => {
  it('keeps order, copies lists, rejects mixed id types', () => {
    const rel = [[5, [1, 1, 9]]] as const;
    const s = explicitIrSet([[5, 'q']], [[2, 'x'], [1, 'y']], rel);
    expect([...s.corpus.keys()]).toEqual([2, 1]);
    expect(s.relevant.get(5)).toEqual([1, 1, 9]);
    expect(() => explicitIrSet([], [[1, 'x'], ['1', 'y']], [])).toThrow(/mix/);
  });

  it('orders like Python: ints numerically, strings by code point', () => {
    const ints = [10, 9, 100, -1].sort(comparePythonIds);
    expect(ints).toEqual([-1, 9, 10, 100]);
    const strs = ['d9', 'd10', 'd100', 'D9', 'd'].sort(comparePythonIds);
    expect(strs).toEqual(['D9', 'd', 'd10', 'd100', 'd9']);
    // U+FF5E (BMP) < U+1F600 (astral) in code points, although its UTF-16 unit is larger.
    expect(comparePythonIds('\uff5e', '\u{1f600}')).toBeLessThan(0);
    expect(comparePythonIds('\u{1f600}', '\uff5e')).toBeGreaterThan(0);
    expect(() => comparePythonIds(1, '1')).toThrow(/mixed/);
  });
});

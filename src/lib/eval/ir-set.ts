// Builds the information-retrieval evaluation set (queries, corpus, relevant documents) from the
// rows of a train and a test split, the way docs/evaluation.md#the-ir-set describes:
// the correct construction by default, the seed's overwriting construction in `recipe` mode, or a
// triple given as is. Also the Python ordering of ids that the evaluator's tie-break uses.
// It embeds nothing and scores nothing (that is ir-metrics.ts); it does not read data files.

/** An id as Python would hold it: int or str. Never mixed within one id space. */
export type DocId = string | number;

export interface IrRow {
  anchor: string;
  positive: string;
  /** The data set's own id column, when it has one (kept aside as `temp` by the seed). */
  id?: DocId | null;
}

/** Insertion-ordered like the Python dicts they mirror. */
export interface IrSet {
  queries: Map<DocId, string>;
  corpus: Map<DocId, string>;
  /** A list, as in sentence-transformers: repeats count in nR, ids absent from the corpus too. */
  relevant: Map<DocId, DocId[]>;
  /** How documents were identified: by the data's id column, by text, the seed's row ids, or given. */
  construction: 'id' | 'text' | 'recipe' | 'explicit';
}

export interface BuildIrSetOptions {
  /**
   * `default`: corpus = every distinct document of both splits, queries = test anchors.
   * `recipe`: the seed's construction (row-index ids per split, test rows overwrite train rows).
   */
  mode?: 'default' | 'recipe';
  /**
   * Default mode only. `auto` (default) uses the id column when every row has one and ids and
   * document texts correspond one to one; `id` requires same id ⇒ same text (throws otherwise);
   * `text` ignores the id column.
   */
  documentKey?: 'auto' | 'id' | 'text';
}

export function buildIrSet(
  train: readonly IrRow[],
  test: readonly IrRow[],
  options: BuildIrSetOptions = {},
): IrSet {
  const mode = options.mode ?? 'default';
  if (mode === 'recipe') return recipeIrSet(train, test);
  if (mode !== 'default') throw new Error(`unknown IR set mode ${String(mode)}`);
  const key = options.documentKey ?? 'auto';
  if (key !== 'auto' && key !== 'id' && key !== 'text') throw new Error(`unknown documentKey ${String(key)}`);
  const rows = [...train, ...test];
  if (key === 'id') assertIdsIdentifyDocuments(rows);
  const useId = key === 'id' || (key === 'auto' && idsMatchTextsOneToOne(rows));

  const corpus = new Map<DocId, string>();
  const queries = new Map<DocId, string>();
  const relevant = new Map<DocId, DocId[]>();
  if (useId) {
    for (const r of rows) if (!corpus.has(r.id as DocId)) corpus.set(r.id as DocId, r.positive);
    test.forEach((r, i) => {
      queries.set(i, r.anchor);
      relevant.set(i, [r.id as DocId]);
    });
    checkIdSpace(corpus.keys(), 'corpus');
    return { queries, corpus, relevant, construction: 'id' };
  }
  const idOfText = new Map<string, number>();
  for (const r of rows) {
    if (!idOfText.has(r.positive)) {
      idOfText.set(r.positive, idOfText.size);
      corpus.set(idOfText.size - 1, r.positive);
    }
  }
  test.forEach((r, i) => {
    queries.set(i, r.anchor);
    relevant.set(i, [idOfText.get(r.positive) as number]);
  });
  return { queries, corpus, relevant, construction: 'text' };
}

/**
 * The seed's construction, reproduced exactly: `id = range(len(split))` added to each split, then
 * `corpus = dict(zip(ids, positives))` over train ++ test (a later key overwrites the value but
 * keeps its first position, as in a Python dict and a JS Map), `queries = {id: anchor}` over test,
 * `relevant[q] = [q]`. The first len(test) train documents therefore drop out of the corpus.
 */
function recipeIrSet(train: readonly IrRow[], test: readonly IrRow[]): IrSet {
  const corpus = new Map<DocId, string>();
  train.forEach((r, i) => corpus.set(i, r.positive));
  test.forEach((r, i) => corpus.set(i, r.positive));
  const queries = new Map<DocId, string>();
  const relevant = new Map<DocId, DocId[]>();
  test.forEach((r, i) => {
    queries.set(i, r.anchor);
    relevant.set(i, [i]);
  });
  return { queries, corpus, relevant, construction: 'recipe' };
}

/** A given triple, validated (unique ids are guaranteed by Map; one id type per space). */
export function explicitIrSet(
  queries: Map<DocId, string> | Iterable<readonly [DocId, string]>,
  corpus: Map<DocId, string> | Iterable<readonly [DocId, string]>,
  relevant: Map<DocId, DocId[]> | Iterable<readonly [DocId, readonly DocId[]]>,
): IrSet {
  const q = new Map<DocId, string>(queries);
  const c = new Map<DocId, string>(corpus);
  const r = new Map<DocId, DocId[]>();
  for (const [id, docs] of relevant) r.set(id, [...docs]);
  checkIdSpace(q.keys(), 'query');
  checkIdSpace(c.keys(), 'corpus');
  return { queries: q, corpus: c, relevant: r, construction: 'explicit' };
}

function hasId(r: IrRow): boolean {
  return r.id !== undefined && r.id !== null;
}

function assertIdsIdentifyDocuments(rows: readonly IrRow[]): void {
  const text = new Map<DocId, string>();
  for (const r of rows) {
    if (!hasId(r)) throw new Error('documentKey "id": a row has no id');
    const prev = text.get(r.id as DocId);
    if (prev !== undefined && prev !== r.positive) {
      throw new Error(`documentKey "id": id ${JSON.stringify(r.id)} names two different document texts`);
    }
    text.set(r.id as DocId, r.positive);
  }
}

function idsMatchTextsOneToOne(rows: readonly IrRow[]): boolean {
  if (rows.length === 0 || !rows.every(hasId)) return false;
  const textOfId = new Map<DocId, string>();
  const idOfText = new Map<string, DocId>();
  let kind: string | null = null;
  for (const r of rows) {
    const id = r.id as DocId;
    if (kind !== null && typeof id !== kind) return false;
    kind = typeof id;
    const t = textOfId.get(id);
    if (t !== undefined && t !== r.positive) return false;
    const i = idOfText.get(r.positive);
    if (i !== undefined && i !== id) return false;
    textOfId.set(id, r.positive);
    idOfText.set(r.positive, id);
  }
  return true;
}

function checkIdSpace(ids: Iterable<DocId>, what: string): void {
  let kind: string | null = null;
  for (const id of ids) {
    const k = typeof id;
    if (k !== 'string' && k !== 'number') throw new Error(`${what} id ${String(id)} is neither a string nor a number`);
    if (k === 'number' && !Number.isFinite(id)) throw new Error(`${what} id ${String(id)} is not finite`);
    if (kind !== null && k !== kind) {
      throw new Error(`${what} ids mix strings and numbers: Python could not order them for the tie-break`);
    }
    kind = k;
  }
}

/**
 * Python's `<` on ids: numbers numerically, strings by code point (not UTF-16 unit, which differs
 * for characters beyond U+FFFF). Mixed types throw, as Python's sort would.
 */
export function comparePythonIds(a: DocId, b: DocId): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = a.charCodeAt(i);
      const y = b.charCodeAt(i);
      if (x === y) continue;
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      // A surrogate stands for a code point ≥ U+10000, above every other BMP unit.
      if (xs !== ys) return xs ? 1 : -1;
      return x - y;
    }
    return a.length - b.length;
  }
  throw new Error(`cannot order ids ${JSON.stringify(a)} and ${JSON.stringify(b)} (mixed types)`);
}

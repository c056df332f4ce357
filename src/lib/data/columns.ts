// Column roles (anchor / positive / negative / score / id), their auto-detection from common
// column names, the seed's mapping for its default data set, and "did you mean" suggestions.
// Not validation of values (validate.ts).

export const ROLES = ['anchor', 'positive', 'negative', 'score', 'id'] as const;
export type Role = (typeof ROLES)[number];
/**
 * Role → column name; anchor and positive are required, the rest optional. `negative` may name
 * several columns (`negative_1 … negative_n`, sentence-transformers' n-tuple format), in order.
 */
export type ColumnMapping = Partial<Record<Exclude<Role, 'negative'>, string>> & { negative?: string | string[] };

/** The negative columns of a mapping, in order (none, one or several). */
export const negativeColumns = (m: ColumnMapping): string[] => (m.negative === undefined ? [] : Array.isArray(m.negative) ? m.negative : [m.negative]);

/** Every column a mapping names, role by role (a role with several columns gives each). */
export const mappedColumns = (m: ColumnMapping): { role: Role; column: string }[] =>
  ROLES.flatMap((role): { role: Role; column: string }[] =>
    role === 'negative' ? negativeColumns(m).map((column) => ({ role, column })) : m[role] ? [{ role, column: m[role]! }] : []);

/** `negative_1`, `negative 2`, `neg3`: numbered negative columns as sentence-transformers writes them. */
const NUMBERED_NEGATIVE = /^(negative|neg|hard_negative)[\s_-]?(\d+)$/i;

/** Names tried for each role, best first (compared case-insensitively, ignoring _ - and spaces). */
export const ROLE_NAMES: Record<Role, string[]> = {
  anchor: ['anchor', 'question', 'query', 'queries', 'sentence1', 'text1', 'prompt', 'q'],
  positive: ['positive', 'doc', 'document', 'passage', 'answer', 'context', 'pos', 'positive_doc', 'sentence2', 'text2', 'response', 'corpus'],
  negative: ['negative', 'neg', 'hard_negative', 'negative_doc', 'negative_passage', 'sentence3'],
  score: ['score', 'label', 'similarity', 'relevance', 'labels'],
  id: ['id', 'doc_id', 'docid', '_id', 'idx', 'corpus_id'],
};

/**
 * The seed's renaming for `YxBxRyXJx/QAsimple_for_BGE_241019`
 * (docs/evaluation.md#the-seeds-ir-set): question → anchor, doc → positive; its own `id` column
 * identifies documents.
 */
export const SEED_MAPPING: ColumnMapping = { anchor: 'question', positive: 'doc', id: 'id' };

const norm = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, '');

/** Guesses a mapping from column names; each column is used for at most one role. */
export function autoMapping(columns: string[]): ColumnMapping {
  const used = new Set<string>();
  const out: ColumnMapping = {};
  const numbered = columns
    .map((c) => ({ c, m: NUMBERED_NEGATIVE.exec(c.trim()) }))
    .filter((x): x is { c: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => Number(a.m[2]) - Number(b.m[2]))
    .map((x) => x.c);
  if (numbered.length) {
    out.negative = numbered.length === 1 ? numbered[0] : numbered;
    for (const c of numbered) used.add(c);
  }
  for (const role of ROLES) {
    if (role === 'negative' && out.negative !== undefined) continue;
    for (const name of ROLE_NAMES[role]) {
      const hit = columns.find((c) => !used.has(c) && norm(c) === norm(name));
      if (hit) {
        out[role] = hit;
        used.add(hit);
        break;
      }
    }
  }
  // Roles in their usual order (anchor, positive, negative, score, id), whatever matched first.
  return Object.fromEntries(ROLES.filter((r) => out[r] !== undefined).map((r) => [r, out[r]])) as ColumnMapping;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The column most like `name` (edit distance, case-insensitive), or null if none is close. */
export function closestColumn(name: string, columns: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of columns) {
    const d = editDistance(norm(name), norm(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

/** Problems with the mapping itself (not the values): missing required roles, unknown columns. */
export function mappingErrors(mapping: ColumnMapping, columns: string[], file: string): string[] {
  const errors: string[] = [];
  for (const role of ['anchor', 'positive'] as const) {
    if (!mapping[role]) {
      errors.push(`${file}: no column is mapped to "${role}" (columns: ${columns.join(', ')}). Pick one in the column mapping.`);
    }
  }
  for (const { role, column: col } of mappedColumns(mapping)) {
    if (columns.includes(col)) continue;
    const near = closestColumn(col, columns);
    errors.push(
      `${file}: column "${col}" (mapped to ${role}) does not exist${near ? `; did you mean "${near}"?` : ''} Columns: ${columns.join(', ')}.`,
    );
  }
  const cols = mappedColumns(mapping).map((x) => x.column);
  const twice = cols.find((c, i) => cols.indexOf(c) !== i);
  if (twice) errors.push(`${file}: column "${twice}" is mapped to two roles.`);
  return errors;
}

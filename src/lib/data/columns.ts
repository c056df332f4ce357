// Column roles (anchor / positive / negative / score / id), their auto-detection from common
// column names, the seed's mapping for its default data set, and "did you mean" suggestions.
// Not validation of values (validate.ts).

export const ROLES = ['anchor', 'positive', 'negative', 'score', 'id'] as const;
export type Role = (typeof ROLES)[number];
/** Role → column name; anchor and positive are required, the rest optional. */
export type ColumnMapping = Partial<Record<Role, string>>;

/** Names tried for each role, best first (compared case-insensitively, ignoring _ - and spaces). */
export const ROLE_NAMES: Record<Role, string[]> = {
  anchor: ['anchor', 'question', 'query', 'queries', 'sentence1', 'text1', 'prompt', 'q'],
  positive: ['positive', 'doc', 'document', 'passage', 'answer', 'context', 'pos', 'positive_doc', 'sentence2', 'text2', 'response', 'corpus'],
  negative: ['negative', 'neg', 'hard_negative', 'negative_doc', 'negative_passage', 'sentence3'],
  score: ['score', 'label', 'similarity', 'relevance', 'labels'],
  id: ['id', 'doc_id', 'docid', '_id', 'idx', 'corpus_id'],
};

/**
 * The seed's renaming for `YxBxRyXJx/QAsimple_for_BGE_241019` (SPEC.md, first section):
 * question → anchor, doc → positive; its own `id` column identifies documents.
 */
export const SEED_MAPPING: ColumnMapping = { anchor: 'question', positive: 'doc', id: 'id' };

const norm = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, '');

/** Guesses a mapping from column names; each column is used for at most one role. */
export function autoMapping(columns: string[]): ColumnMapping {
  const used = new Set<string>();
  const out: ColumnMapping = {};
  for (const role of ROLES) {
    for (const name of ROLE_NAMES[role]) {
      const hit = columns.find((c) => !used.has(c) && norm(c) === norm(name));
      if (hit) {
        out[role] = hit;
        used.add(hit);
        break;
      }
    }
  }
  return out;
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
  for (const role of ROLES) {
    const col = mapping[role];
    if (!col || columns.includes(col)) continue;
    const near = closestColumn(col, columns);
    errors.push(
      `${file}: column "${col}" (mapped to ${role}) does not exist${near ? `; did you mean "${near}"?` : ''} Columns: ${columns.join(', ')}.`,
    );
  }
  const cols = ROLES.map((r) => mapping[r]).filter((c): c is string => !!c);
  const twice = cols.find((c, i) => cols.indexOf(c) !== i);
  if (twice) errors.push(`${file}: column "${twice}" is mapped to two roles.`);
  return errors;
}

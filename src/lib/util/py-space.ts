// Python's idea of whitespace (str.isspace(), which str.strip() and str.split() use), for the two
// places that must agree with Python: the tokenizer's strip (sentence-transformers strips each
// text) and the data hygiene checks' text comparison (src/lib/data/hygiene.ts). JS's \s and trim()
// differ: they include U+FEFF and leave out U+001C–U+001F and U+0085.

/** A regex character class body (no brackets) of Python's str.isspace() set. */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's str.strip(). */
export function pythonStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

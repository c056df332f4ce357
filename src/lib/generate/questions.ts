// The text side of question generation: the default prompt template and how it is filled in, how a
// model's free-form answer is read back as a list of questions, and how repeated questions are
// dropped (per document and across the whole generated set). Pure string work, so the generator
// (Node and the worker), the CLI and the page share one definition. Not the generation itself
// (generator.ts), the chat template (the model's own, applied by the generator) or the filter
// (filter.ts). The rules are stated in docs/generate.md#prompt-parsing-and-dedupe.

import { hygieneKey } from '../data/hygiene.ts';

/** Questions asked for per document (chunk) unless the user says otherwise. */
export const DEFAULT_QUESTIONS_PER_DOC = 3;
/** The most questions one may ask for per document: more is no "short list" and costs tokens. */
export const MAX_QUESTIONS_PER_DOC = 50;
/** The longest template accepted (characters): it is user-edited text sent with every document. */
export const MAX_TEMPLATE_CHARS = 10_000;

/**
 * The default prompt (the user message; the generator wraps it in the model's chat template).
 * `{n}` becomes the number of questions, `{document}` the document's text. It asks for the
 * document's language and for one question per line without numbering, which parseQuestions
 * reads best, though it copes with numbered and bulleted lists too.
 */
export const DEFAULT_PROMPT_TEMPLATE = [
  'Write {n} short search questions that a user could type into a search engine and that the document below answers.',
  'Write the questions in the same language as the document.',
  'Write one question per line, with no numbering and nothing else.',
  '',
  'Document:',
  '{document}',
].join('\n');

/** The placeholders a template may use; `{document}` is required. */
export const TEMPLATE_FIELDS = ['document', 'n'] as const;

/** Why `template` cannot be used (no `{document}`, too long, empty), or null. */
export function templateProblem(template: string): string | null {
  if (template.trim() === '') return 'the prompt template is empty; it must contain {document} where the document text goes';
  if (template.length > MAX_TEMPLATE_CHARS) return `the prompt template is ${template.length} characters, over the ${MAX_TEMPLATE_CHARS} limit`;
  if (!template.includes('{document}')) return 'the prompt template has no {document} placeholder, so the model would never see the document';
  return null;
}

/**
 * The template with `{document}` and `{n}` filled in, in one pass — so a document that itself
 * contains "{n}" or "{document}" is left as written. Other braces are kept verbatim. Throws the
 * templateProblem message for an unusable template and a message for n outside 1..MAX.
 */
export function render(template: string, fields: { document: string; n: number }): string {
  const problem = templateProblem(template);
  if (problem) throw new Error(problem);
  if (!Number.isInteger(fields.n) || fields.n < 1 || fields.n > MAX_QUESTIONS_PER_DOC) {
    throw new Error(`questions per document must be a whole number from 1 to ${MAX_QUESTIONS_PER_DOC}, got ${fields.n}`);
  }
  return template.replace(/\{(document|n)\}/g, (_, key: string) => (key === 'document' ? fields.document : String(fields.n)));
}

/** A bullet (or a stack of them) at the start of a line: "-", "*", "•", "+", ">" (a quoted line). */
const BULLET = /^[-*•‣◦·–—+>]+\s*/u;
/** Numbering: "1. ", "1: ", "1)", "(1)", "[1]", also bold ("**1.** "); "3.5 …" is no numbering (no space). */
const NUMBER = /^[([]?\d{1,3}(?:[.:][*_]*(?:\s+|$)|[)\]][*_]*\s*)/u;
/** A "Q1:" / "Question 1:" / "Q:" label. */
const LABEL = /^(?:q|question)\s*\d{0,3}\s*[:.)]\s*/iu;
/** Quote or emphasis pairs that may wrap a whole question: the opening and closing marks. */
const OPEN = '"\'`“‘«„*';
const CLOSE = '"\'`”’»“*';
/** Several numbered questions on one line: a break before each "2." that follows a "?". */
const INLINE_NUMBER = /(?<=[?？])\s+(?=\(?\d{1,3}[.)]\s)/gu;

function unwrap(s: string): string {
  while (s.length >= 2 && OPEN.includes(s[0]) && CLOSE.includes(s[s.length - 1])) s = s.slice(1, -1).trim();
  return s;
}

/** One candidate line made into a question: bullets, numbering, labels and wrapping quotes removed. */
function cleanLine(line: string): string {
  // Control characters (a small or random model writes NUL, escape codes…) are no text: each becomes a space.
  let s = line.replace(/\p{Cc}/gu, ' ').trim();
  if (/^#{1,6}\s/u.test(s)) return ''; // a Markdown heading ("## Questions") is no question
  // Bullets and quotes can stack ("- \"…\"", "> * …"): strip until nothing changes; numbering and a
  // label once each, so a question that starts with a number keeps it.
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = unwrap(s).replace(BULLET, '');
  }
  s = unwrap(s.replace(NUMBER, '').replace(LABEL, ''));
  return hygieneKey(s);
}

/**
 * The questions in a model's answer, in order: one per line, whether numbered ("1. …", "1) …"),
 * bulleted ("- …", "* …", "• …") or plain, with the numbering, bullets, "Q1:" labels and wrapping
 * quotes removed; several numbered questions on one line are split. Dropped: empty lines, Markdown
 * headings and a lead-in line that ends with a colon ("Here are 3 questions:"), which is no
 * question. Repeats are left
 * for dedupe, which also sees the other documents.
 */
export function parseQuestions(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.replace(INLINE_NUMBER, '\n').split(/\r\n|\r|\n/)) {
    const q = cleanLine(raw);
    if (q === '' || /[:：]$/u.test(q)) continue;
    out.push(q);
  }
  return out;
}

/**
 * The form two questions are compared in: Unicode NFKC, lower case, whitespace runs made one space
 * (as data hygiene compares texts), and punctuation at either end dropped — so "What is X?" and
 * "what is x" are one question, while inner punctuation ("C++", "3.5") still counts.
 */
export function questionKey(question: string): string {
  return hygieneKey(question.normalize('NFKC').toLowerCase()).replace(/^[\p{P}\s]+|[\p{P}\s]+$/gu, '');
}

/** A generated question with the chunk it was written for and that chunk's document. */
export interface QuestionRow {
  question: string;
  /** The chunk the question was generated from (its positive); see chunk.ts. */
  chunkId: string;
  /** The source document's id, kept through chunking. */
  documentId: string;
}

/** Why a question was dropped by dedupe. */
export type DuplicateKind = 'same-document' | 'other-document';

export interface DroppedQuestion extends QuestionRow {
  kind: DuplicateKind;
  /** The chunk of the earlier, kept question it repeats. */
  keptChunkId: string;
}

/**
 * Dedupe as questions arrive (the generator emits rows one document at a time, and a resumed run
 * first replays the rows already written): the first occurrence of each questionKey in the whole
 * set is kept, every later one is dropped, whether it repeats a question of the same document or
 * of another one — a question asked of two documents would make the other a false in-batch
 * negative and is ambiguous for the filter.
 */
export class QuestionDeduper {
  #first = new Map<string, QuestionRow>();
  #dropped: DroppedQuestion[] = [];

  /** True when `row` is new and kept; false (and recorded) when it repeats a kept question or is empty. */
  add(row: QuestionRow): boolean {
    const key = questionKey(row.question);
    if (key === '') return false;
    const first = this.#first.get(key);
    if (first === undefined) {
      this.#first.set(key, row);
      return true;
    }
    this.#dropped.push({ ...row, kind: first.documentId === row.documentId ? 'same-document' : 'other-document', keptChunkId: first.chunkId });
    return false;
  }

  get kept(): number {
    return this.#first.size;
  }

  get dropped(): readonly DroppedQuestion[] {
    return this.#dropped;
  }
}

/** The rows with repeats removed (first occurrence kept, order preserved) and what was dropped. */
export function dedupe(rows: readonly QuestionRow[]): { kept: QuestionRow[]; dropped: readonly DroppedQuestion[] } {
  const d = new QuestionDeduper();
  const kept = rows.filter((r) => d.add(r));
  return { kept, dropped: d.dropped };
}

/**
 * The questions of one document from a model's answer: parsed, deduped against `deduper` (which
 * holds the set so far) and cut to the first `n` kept — a model that writes more than asked for
 * does not weigh its document more. Repeats beyond `n` are not counted as dropped.
 */
export function questionsFor(answer: string, chunk: { chunkId: string; documentId: string }, n: number, deduper: QuestionDeduper): QuestionRow[] {
  const out: QuestionRow[] = [];
  for (const question of parseQuestions(answer)) {
    if (out.length >= n) break;
    const row = { question, chunkId: chunk.chunkId, documentId: chunk.documentId };
    if (deduper.add(row)) out.push(row);
  }
  return out;
}

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROMPT_TEMPLATE,
  MAX_QUESTIONS_PER_DOC,
  QuestionDeduper,
  dedupe,
  parseQuestions,
  questionKey,
  questionsFor,
  render,
  templateProblem,
} from './questions.ts';

describe('render', () => {
  it('fills {document} and {n} into the default template', () => {
    const p = render(DEFAULT_PROMPT_TEMPLATE, { document: 'Die Katze schläft.', n: 4 });
    expect(p).toContain('Write 4 short search questions');
    expect(p).toContain('same language as the document');
    expect(p.endsWith('Document:\nDie Katze schläft.')).toBe(true);
    expect(p).not.toMatch(/\{(document|n)\}/);
  });

  it('substitutes in one pass: placeholders inside the document stay as written, other braces kept', () => {
    expect(render('{n}|{document}|{x}', { document: 'a {n} b {document}', n: 2 })).toBe('2|a {n} b {document}|{x}');
  });

  it('refuses a template without {document}, an empty one and a bad n, with the reason', () => {
    expect(templateProblem('Write {n} questions')).toMatch(/no \{document\} placeholder/);
    expect(templateProblem('  ')).toMatch(/empty/);
    expect(templateProblem('x'.repeat(20_000) + '{document}')).toMatch(/over the 10000 limit/);
    expect(() => render('Write {n}', { document: 'd', n: 3 })).toThrow(/\{document\}/);
    expect(() => render('{document}', { document: 'd', n: 0 })).toThrow(/from 1 to/);
    expect(() => render('{document}', { document: 'd', n: 2.5 })).toThrow(/whole number/);
    expect(() => render('{document}', { document: 'd', n: MAX_QUESTIONS_PER_DOC + 1 })).toThrow(/from 1 to 50/);
  });
});

describe('parseQuestions', () => {
  it('reads numbered lists in their usual forms', () => {
    const out = '1. What is a cat?\n2) Where do cats sleep?\n(3) Why do cats purr?\n[4] How old do cats get?\n5: Are cats pets?';
    expect(parseQuestions(out)).toEqual(['What is a cat?', 'Where do cats sleep?', 'Why do cats purr?', 'How old do cats get?', 'Are cats pets?']);
  });

  it('reads bulleted lists, labels, bold numbering and wrapping quotes', () => {
    const out = ['- "What is a cat?"', '* Where do cats sleep?', '• “Why do cats purr?”', 'Q1: How old do cats get?', 'Question 2: Are cats pets?', '**1.** Do cats swim?', '> - `Do cats dream?`'].join('\n');
    expect(parseQuestions(out)).toEqual(['What is a cat?', 'Where do cats sleep?', 'Why do cats purr?', 'How old do cats get?', 'Are cats pets?', 'Do cats swim?', 'Do cats dream?']);
  });

  it('reads plain lines, drops empty lines, lead-ins ending with a colon and headings; CRLF too', () => {
    const out = 'Here are 3 search questions:\r\n\r\n## Questions\r\n  what is a cat  \r\n\r\nwhere do   cats sleep?\r\n-\r\n1. \r\n""';
    expect(parseQuestions(out)).toEqual(['what is a cat', 'where do cats sleep?']);
  });

  it('turns control characters into spaces and drops a line of nothing else', () => {
    expect(parseQuestions('What\u0000is a\u001b[0m cat?\n\u0007\u0000\n\tWhy?\u007f')).toEqual(['What is a [0m cat?', 'Why?']);
  });

  it('keeps a number that is part of the question', () => {
    expect(parseQuestions('3.5 release notes?\n1. 2020 election results?\n10 best cats?')).toEqual(['3.5 release notes?', '2020 election results?', '10 best cats?']);
  });

  it('splits several numbered questions written on one line', () => {
    expect(parseQuestions('1. What is a cat? 2. Where do cats sleep? 3) Why?')).toEqual(['What is a cat?', 'Where do cats sleep?', 'Why?']);
  });

  it('leaves repeats for dedupe, and returns nothing for an empty answer', () => {
    expect(parseQuestions('a?\na?')).toEqual(['a?', 'a?']);
    expect(parseQuestions('')).toEqual([]);
    expect(parseQuestions('\n \n')).toEqual([]);
  });
});

describe('dedupe', () => {
  it('compares case-, width- and end-punctuation-insensitively but keeps inner punctuation', () => {
    expect(questionKey('  What is  X? ')).toBe(questionKey('what is x'));
    expect(questionKey('ＷＨＡＴ is x!')).toBe('what is x');
    expect(questionKey('what is c++')).not.toBe(questionKey('what is c'));
    expect(questionKey('?!')).toBe('');
  });

  it('keeps the first occurrence across the set and says what each dropped row repeated', () => {
    const rows = [
      { question: 'What is a cat?', chunkId: 'd1#0', documentId: 'd1' },
      { question: 'what is a cat', chunkId: 'd1#1', documentId: 'd1' },
      { question: 'Where do cats sleep?', chunkId: 'd1#1', documentId: 'd1' },
      { question: 'WHAT IS A CAT?', chunkId: 'd2#0', documentId: 'd2' },
      { question: '...', chunkId: 'd2#0', documentId: 'd2' },
      { question: 'Why do cats purr?', chunkId: 'd2#0', documentId: 'd2' },
    ];
    const { kept, dropped } = dedupe(rows);
    expect(kept.map((r) => r.question)).toEqual(['What is a cat?', 'Where do cats sleep?', 'Why do cats purr?']);
    expect(dropped.map((d) => [d.chunkId, d.kind, d.keptChunkId])).toEqual([
      ['d1#1', 'same-document', 'd1#0'],
      ['d2#0', 'other-document', 'd1#0'],
    ]);
  });

  it('questionsFor takes the first n new questions of an answer, against the set so far', () => {
    const d = new QuestionDeduper();
    const first = questionsFor('1. a?\n2. b?', { chunkId: 'x#0', documentId: 'x' }, 3, d);
    expect(first.map((r) => r.question)).toEqual(['a?', 'b?']);
    const second = questionsFor('- A?\n- c?\n- c\n- d?\n- e?', { chunkId: 'y#0', documentId: 'y' }, 2, d);
    expect(second).toEqual([
      { question: 'c?', chunkId: 'y#0', documentId: 'y' },
      { question: 'd?', chunkId: 'y#0', documentId: 'y' },
    ]);
    expect(d.kept).toBe(4);
    expect(d.dropped.map((r) => [r.question, r.kind])).toEqual([
      ['A?', 'other-document'],
      ['c', 'same-document'],
    ]);
  });
});

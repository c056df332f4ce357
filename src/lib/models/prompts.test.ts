// Prompts as untrusted input and as rules: config_sentence_transformers.json's prompts read with
// their types and sizes checked (a hostile file is a clear load error), the run config's choices
// checked field by field (flags and share links keep a prompt's trailing space), and the
// resolution: the model's own "query" / "document"|"passage"|"corpus" prompts, e5's "query: " /
// "passage: " by repo id when the model has none, names that must exist, include_prompt: false
// refused; encode()'s prompt / prompt_name / default_prompt_name order.

import { describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { defaultRunConfig, parseRunConfig } from '../train/run-config.ts';
import { overrideFromFlags } from '../train/run-config-flags.ts';
import { fromSearchParams, toSearchParams } from '../train/run-config-link.ts';
import { batchColumns } from '../train/batches.ts';
import {
  e5Prompts, encodePrompt, exportedPrompts, MAX_MODEL_PROMPTS, MAX_PROMPT_CHARS, type ModelPrompts, NO_MODEL_PROMPTS, parseModelPrompts, recordedPrompts, resolvePrompts,
} from './prompts.ts';
import { loadSentenceModel } from './sentence-model.ts';
import { readModelFolder } from './sentence-model-node.ts';

const own = (prompts: Record<string, string>, o: Partial<ModelPrompts> = {}): ModelPrompts => ({ ...NO_MODEL_PROMPTS, prompts, ...o });
const auto = { query: 'auto', document: 'auto' } as const;

describe('config_sentence_transformers.json prompts', () => {
  it('reads prompts and default_prompt_name', () => {
    expect(parseModelPrompts({ prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: 'query', similarity_fn_name: 'cosine' })).toEqual({
      prompts: { query: 'query: ', passage: 'passage: ' }, defaultPromptName: 'query', includePrompt: true,
    });
    expect(parseModelPrompts({ prompts: {}, default_prompt_name: null })).toEqual(NO_MODEL_PROMPTS);
    expect(parseModelPrompts(undefined)).toEqual(NO_MODEL_PROMPTS);
    // A prompt named __proto__ is a prompt, not the object's prototype.
    const proto = parseModelPrompts(JSON.parse('{"prompts": {"__proto__": "x: "}}'));
    expect(Object.keys(proto.prompts)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(proto.prompts)).toBe(Object.prototype);
  });

  it('refuses hostile files with a message naming the key', () => {
    const huge = 'x'.repeat(MAX_PROMPT_CHARS + 1);
    const cases: [unknown, string][] = [
      [[], 'config_sentence_transformers.json: not a JSON object'],
      [{ prompts: ['query: '] }, 'config_sentence_transformers.json: prompts: must be an object of name → text, got ["query: "]'],
      [{ prompts: { query: 7 } }, 'config_sentence_transformers.json: prompts.query: must be a string, got 7'],
      [{ prompts: { query: { text: 'q' } } }, 'prompts.query: must be a string, got {"text":"q"}'],
      [{ prompts: { query: huge } }, `prompts.query: is ${MAX_PROMPT_CHARS + 1} characters long; a prompt may have at most ${MAX_PROMPT_CHARS}`],
      [{ prompts: { [huge]: 'q' } }, 'prompts: is 2049 characters long; a prompt name may have at most 128'],
      [{ prompts: Object.fromEntries(Array.from({ length: MAX_MODEL_PROMPTS + 1 }, (_, i) => [`p${i}`, ''])) }, `prompts: has ${MAX_MODEL_PROMPTS + 1} prompts; at most ${MAX_MODEL_PROMPTS} are read`],
      [{ prompts: { query: 'q' }, default_prompt_name: 'passage' }, 'default_prompt_name: "passage" is not among the prompts (query)'],
      [{ prompts: {}, default_prompt_name: 3 }, 'default_prompt_name: must be a non-empty string, got 3'],
    ];
    for (const [json, message] of cases) expect(() => parseModelPrompts(json), JSON.stringify(json).slice(0, 80)).toThrow(message);
  });

  it('a model folder with a hostile config_sentence_transformers.json or include_prompt fails to load, saying which file', () => {
    const files = readModelFolder(ensureFixtures().tinyBge);
    const enc = new TextEncoder();
    expect(loadSentenceModel(files).prompts).toEqual(NO_MODEL_PROMPTS);
    const bad = new Map(files).set('config_sentence_transformers.json', enc.encode(JSON.stringify({ prompts: { query: 'x'.repeat(5000) } })));
    expect(() => loadSentenceModel(bad)).toThrow('config_sentence_transformers.json: prompts.query: is 5000 characters long');
    const padded = new Map(files).set('config_sentence_transformers.json', enc.encode(`{"prompts": {}, "pad": "${'x'.repeat(1 << 20)}"}`));
    expect(() => loadSentenceModel(padded)).toThrow(/config_sentence_transformers.json: 1048\d+ bytes; a sentence-transformers config is read only up to 1048576/);
    const broken = new Map(files).set('config_sentence_transformers.json', enc.encode('{"prompts": '));
    expect(() => loadSentenceModel(broken)).toThrow(/config_sentence_transformers.json: invalid JSON/);
    const pooling = JSON.parse(new TextDecoder().decode(files.get('1_Pooling/config.json')));
    const notBool = new Map(files).set('1_Pooling/config.json', enc.encode(JSON.stringify({ ...pooling, include_prompt: 'no' })));
    expect(() => loadSentenceModel(notBool)).toThrow('1_Pooling/config.json: include_prompt must be true or false, got "no"');
    const excluded = new Map(files)
      .set('1_Pooling/config.json', enc.encode(JSON.stringify({ ...pooling, include_prompt: false })))
      .set('config_sentence_transformers.json', enc.encode(JSON.stringify({ prompts: { query: 'Represent this: ' } })));
    const m = loadSentenceModel(excluded);
    expect(m.prompts).toEqual({ prompts: { query: 'Represent this: ' }, defaultPromptName: null, includePrompt: false });
    // It embeds without prompts; any prompt is refused rather than pooled unlike sentence-transformers.
    expect(resolvePrompts({ query: { text: '' }, document: 'auto' }, m.prompts, 'x/y')).toMatchObject({ query: '', document: '' });
    expect(() => resolvePrompts(auto, m.prompts, 'x/y')).toThrow(/include_prompt: false .* tabtune does not implement/);
  });
});

describe('the run config', () => {
  it('defaults to the model\'s prompts and takes names and texts', () => {
    expect(parseRunConfig({}).prompts).toEqual(auto);
    expect(parseRunConfig({ prompts: { query: { text: 'query: ' }, document: { name: 'passage' } } }).prompts).toEqual({ query: { text: 'query: ' }, document: { name: 'passage' } });
    expect(parseRunConfig({ prompts: { document: { text: '' } } }).prompts).toEqual({ query: 'auto', document: { text: '' } });
  });

  it('refuses wrong types and huge strings, naming the field', () => {
    const cases: [unknown, string][] = [
      ['query: ', 'prompts: must be an object like'],
      [{ query: 'query: ' }, 'prompts.query: must be "auto", { "name": "<the model\'s prompt name>" } or { "text": "<prompt text>" }, got "query: "'],
      [{ query: { text: 5 } }, 'prompts.query.text: must be a string, got 5'],
      [{ query: { text: 'x'.repeat(MAX_PROMPT_CHARS + 1) } }, `prompts.query.text: is ${MAX_PROMPT_CHARS + 1} characters long; a prompt may have at most ${MAX_PROMPT_CHARS}`],
      [{ document: { name: '' } }, 'prompts.document.name: must be a non-empty string, got ""'],
      [{ document: { name: 'n'.repeat(200) } }, 'prompts.document.name: is 200 characters long; a prompt name may have at most 128'],
      [{ query: { name: 'query', text: 'q' } }, 'prompts.query: must have exactly one of "name" or "text", got ["name","text"]'],
      [{ instruction: { text: 'q' } }, 'prompts.instruction: unknown field (known: query, document)'],
    ];
    for (const [prompts, message] of cases) expect(() => parseRunConfig({ prompts }), JSON.stringify(prompts).slice(0, 80)).toThrow(message);
  });

  it('flags set a text or a name (either replaces the other) and share links keep a trailing space', () => {
    const c = overrideFromFlags(defaultRunConfig(), ['--prompts.query.text', 'query: ', '--prompts.document.name', 'passage']);
    expect(c.prompts).toEqual({ query: { text: 'query: ' }, document: { name: 'passage' } });
    expect(overrideFromFlags(c, ['--prompts.document.text', '']).prompts.document).toEqual({ text: '' });
    expect(overrideFromFlags(c, ['--prompts.query', 'auto']).prompts.query).toBe('auto');
    const params = toSearchParams(c);
    expect(params.get('prompts.query')).toBe('{"text":"query: "}');
    expect(fromSearchParams(new URLSearchParams(params.toString())).prompts).toEqual(c.prompts);
    expect(toSearchParams(defaultRunConfig()).toString()).toBe('');
  });
});

describe('resolvePrompts', () => {
  it('e5 models without prompts of their own get "query: " / "passage: " by repo id', () => {
    for (const id of ['intfloat/e5-small-v2', 'intfloat/e5-base', 'intfloat/multilingual-e5-small', 'intfloat/multilingual-e5-large', 'INTFLOAT/E5-LARGE-V2']) {
      expect(resolvePrompts(auto, NO_MODEL_PROMPTS, id), id).toMatchObject({ query: 'query: ', document: 'passage: ' });
    }
    // sentence-transformers saves {"query": "", "document": ""} by default: still no prompts of its own.
    expect(resolvePrompts(auto, own({ query: '', document: '' }), 'intfloat/e5-small-v2')).toMatchObject({ query: 'query: ', document: 'passage: ' });
    for (const id of ['BAAI/bge-small-en-v1.5', 'intfloat/multilingual-e5-large-instruct', 'intfloat/e5-mistral-7b-instruct', 'someone/intfloat-e5-copy', 'e5-small-v2']) {
      expect(e5Prompts(id), id).toBeNull();
      expect(resolvePrompts(auto, NO_MODEL_PROMPTS, id), id).toMatchObject({ query: '', document: '' });
    }
    // The model's own prompts win over the e5 default.
    expect(resolvePrompts(auto, own({ query: 'Query: ', passage: 'Passage: ' }), 'intfloat/multilingual-e5-base')).toMatchObject({ query: 'Query: ', document: 'Passage: ' });
    // And the user's choice over both.
    expect(resolvePrompts({ query: { text: '' }, document: 'auto' }, NO_MODEL_PROMPTS, 'intfloat/e5-base')).toMatchObject({ query: '', document: 'passage: ' });
  });

  it('auto takes the model\'s "query" and the first non-empty of "document", "passage", "corpus"; names must exist', () => {
    expect(resolvePrompts(auto, own({ query: 'q: ', corpus: 'c: ', passage: 'p: ' }), 'x/y')).toEqual({
      query: 'q: ', document: 'p: ', why: { query: 'the model\'s "query" prompt', document: 'the model\'s "passage" prompt' },
    });
    expect(resolvePrompts(auto, own({ document: '', corpus: 'c: ' }), 'x/y')).toMatchObject({ query: '', document: 'c: ' });
    expect(resolvePrompts({ query: { name: 'retrieval' }, document: { name: 'corpus' } }, own({ retrieval: 'r: ', corpus: 'c: ' }), 'x/y')).toMatchObject({ query: 'r: ', document: 'c: ' });
    expect(() => resolvePrompts({ query: { name: 'search' }, document: 'auto' }, own({ query: 'q: ', passage: 'p: ' }), 'x/y')).toThrow(
      'prompts.query.name: the model has no prompt named "search" (it has "query", "passage")',
    );
    expect(() => resolvePrompts({ query: 'auto', document: { name: 'toString' } }, NO_MODEL_PROMPTS, 'x/y')).toThrow('prompts.document.name: the model has no prompt named "toString" (it names no prompts)');
  });

  it('encode() order: prompt, else prompt_name, else default_prompt_name', () => {
    const m = own({ query: 'q: ', classification: 'cls: ' }, { defaultPromptName: 'classification' });
    expect(encodePrompt(m, {})).toBe('cls: ');
    expect(encodePrompt(m, { promptName: 'query' })).toBe('q: ');
    expect(encodePrompt(m, { prompt: '' })).toBe('');
    expect(encodePrompt(NO_MODEL_PROMPTS, {})).toBe('');
    expect(() => encodePrompt(m, { promptName: 'nope' }, { prompt: '--prompt', promptName: '--prompt-name' })).toThrow('--prompt-name: the model has no prompt named "nope" (it has "query", "classification")');
  });
});

describe('training columns and export', () => {
  it('the anchor column gets the query prompt, positives and negatives the document prompt', () => {
    const examples = [{ anchor: 'a0', positive: 'p0', negatives: ['n0'], row: 0 }, { anchor: 'a1', positive: 'p1', negatives: ['n1'], row: 1 }];
    const fields = ['anchor', 'positive', { negative: 0 }] as const;
    expect(batchColumns(examples, [1, 0], [...fields], false, { query: 'query: ', document: 'passage: ' }).columns).toEqual([
      ['query: a1', 'query: a0'], ['passage: p1', 'passage: p0'], ['passage: n1', 'passage: n0'],
    ]);
    expect(batchColumns(examples, [0], [...fields], false).columns).toEqual([['a0'], ['p0'], ['n0']]);
  });

  it('the exported prompts: the model\'s own kept, "query" and "document" set to what training used', () => {
    expect(exportedPrompts(NO_MODEL_PROMPTS, { query: '', document: '' })).toBeNull();
    expect(exportedPrompts(NO_MODEL_PROMPTS, { query: 'query: ', document: 'passage: ' })).toEqual({ query: 'query: ', document: 'passage: ' });
    expect(exportedPrompts(own({ query: 'q: ', passage: 'p: ', clustering: 'k: ' }), { query: 'q: ', document: '' })).toEqual({ query: 'q: ', passage: 'p: ', clustering: 'k: ', document: '' });
    expect(recordedPrompts({ query: { text: 'query: ' }, document: 'auto' })).toEqual({ query: 'query: ', document: '' });
    expect(recordedPrompts(undefined)).toEqual({ query: '', document: '' });
  });
});

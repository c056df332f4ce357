// Prompts as sentence-transformers has them: a model's named prompts (`prompts` and
// `default_prompt_name` in config_sentence_transformers.json, read as untrusted input), a run's
// choice of query and document prompt (by the model's prompt name or as literal text, checked
// here for the run config), the resolution of that choice into two strings, and the rule that
// applies them: the prompt text is prepended to the raw text, which is then stripped and
// tokenized as any text is (SentenceTransformer.encode does `prompt + sentence`; its data collator
// does the same per column in training). The query prompt goes on queries and the anchor column,
// the document prompt on the corpus and on the positive and negative columns (a column → prompt
// dict in SentenceTransformerTrainingArguments(prompts=…), and the InformationRetrievalEvaluator's
// query_prompt / corpus_prompt).
// Not the tokenizer, not the places that embed (they call withPrompt), and no Python (train.py
// and the card take the resolved strings).

import { ModelLoadError } from './bert-config.ts';
import { FieldError } from '../util/field-error.ts';

/** A model's prompts, as its config_sentence_transformers.json names them. */
export interface ModelPrompts {
  /** Prompt name → text ({} when the model has none). */
  prompts: Readonly<Record<string, string>>;
  /** The prompt SentenceTransformer.encode applies when none is named; null when unset. */
  defaultPromptName: string | null;
  /**
   * The Pooling module's `include_prompt` (default true). false means mean pooling leaves the
   * prompt's tokens out; tabtune pools over every token, so a prompt with such a model is refused
   * (resolvePrompts) rather than pooled differently from sentence-transformers.
   */
  includePrompt: boolean;
}

export const NO_MODEL_PROMPTS: ModelPrompts = { prompts: {}, defaultPromptName: null, includePrompt: true };

/** How a run picks one prompt: the model's default (`auto`), one of its prompts by name, or literal text ('' for none). */
export type PromptChoice = 'auto' | { name: string } | { text: string };

export interface PromptChoices {
  /** Queries (evaluation, mining) and the anchor column (training). */
  query: PromptChoice;
  /** Corpus documents (evaluation, mining) and the positive and negative columns (training). */
  document: PromptChoice;
}

/** The two prompt texts a run uses ('' for none). */
export interface TextPrompts {
  query: string;
  document: string;
}

export const NO_PROMPTS: TextPrompts = { query: '', document: '' };
export const DEFAULT_PROMPT_CHOICES: PromptChoices = { query: 'auto', document: 'auto' };

/** Bounds on untrusted prompt input: a prompt is an instruction, not a document. */
export const MAX_PROMPT_CHARS = 2048;
export const MAX_PROMPT_NAME_CHARS = 128;
export const MAX_MODEL_PROMPTS = 64;

/** A prompt input that fails its checks; `field` names it (a file's key path or a run config path). */
export class PromptError extends FieldError {
  override name = 'PromptError';
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown): string => {
  const s = x === undefined ? 'nothing' : JSON.stringify(x);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
};

function promptText(x: unknown, field: string): string {
  if (typeof x !== 'string') throw new PromptError(field, `must be a string, got ${show(x)}`);
  if (x.length > MAX_PROMPT_CHARS) throw new PromptError(field, `is ${x.length} characters long; a prompt may have at most ${MAX_PROMPT_CHARS}`);
  return x;
}

function promptName(x: unknown, field: string): string {
  if (typeof x !== 'string' || x === '') throw new PromptError(field, `must be a non-empty string, got ${show(x)}`);
  if (x.length > MAX_PROMPT_NAME_CHARS) throw new PromptError(field, `is ${x.length} characters long; a prompt name may have at most ${MAX_PROMPT_NAME_CHARS}`);
  return x;
}

export const CONFIG_ST_FILE = 'config_sentence_transformers.json';
/** More than any real config_sentence_transformers.json (a few hundred bytes, a few KB with long instructions). */
export const MAX_CONFIG_ST_BYTES = 1 << 20;

/** Refuses a config_sentence_transformers.json too large to be one, before it is parsed. */
export function checkConfigStSize(bytes: number): void {
  if (bytes > MAX_CONFIG_ST_BYTES) throw new ModelLoadError(`${CONFIG_ST_FILE}: ${bytes} bytes; a sentence-transformers config is read only up to ${MAX_CONFIG_ST_BYTES}`);
}

/**
 * `prompts` and `default_prompt_name` of a parsed config_sentence_transformers.json (undefined:
 * no such file). Wrong types, too many or too long prompts, and a default naming no prompt are
 * ModelLoadErrors that name the key; everything else in the file is ignored.
 */
export function parseModelPrompts(json: unknown, includePrompt = true): ModelPrompts {
  if (json === undefined) return { ...NO_MODEL_PROMPTS, includePrompt };
  try {
    if (!isObj(json)) throw new PromptError(CONFIG_ST_FILE, `not a JSON object`);
    const entries: [string, string][] = [];
    const raw = json.prompts;
    if (raw !== undefined && raw !== null) {
      if (!isObj(raw)) throw new PromptError(`${CONFIG_ST_FILE}: prompts`, `must be an object of name → text, got ${show(raw)}`);
      const all = Object.entries(raw);
      if (all.length > MAX_MODEL_PROMPTS) throw new PromptError(`${CONFIG_ST_FILE}: prompts`, `has ${all.length} prompts; at most ${MAX_MODEL_PROMPTS} are read`);
      for (const [name, text] of all) entries.push([promptName(name, `${CONFIG_ST_FILE}: prompts`), promptText(text, `${CONFIG_ST_FILE}: prompts.${name.slice(0, MAX_PROMPT_NAME_CHARS)}`)]);
    }
    // fromEntries defines own properties, so a prompt named "__proto__" stays a prompt.
    const prompts: Record<string, string> = Object.fromEntries(entries);
    let defaultPromptName: string | null = null;
    const d = json.default_prompt_name;
    if (d !== undefined && d !== null) {
      defaultPromptName = promptName(d, `${CONFIG_ST_FILE}: default_prompt_name`);
      // As SentenceTransformer's constructor refuses it.
      if (!Object.hasOwn(prompts, defaultPromptName)) {
        throw new PromptError(`${CONFIG_ST_FILE}: default_prompt_name`, `"${defaultPromptName}" is not among the prompts (${Object.keys(prompts).join(', ') || 'none'})`);
      }
    }
    return { prompts, defaultPromptName, includePrompt };
  } catch (e) {
    if (e instanceof PromptError) throw new ModelLoadError(e.message);
    throw e;
  }
}

/** The Pooling config's `include_prompt` (absent: true). */
export function poolingIncludesPrompt(json: unknown, file: string): boolean {
  const v = isObj(json) ? json.include_prompt : undefined;
  if (v === undefined || v === null) return true;
  if (typeof v !== 'boolean') throw new ModelLoadError(`${file}: include_prompt must be true or false, got ${show(v)}`);
  return v;
}

/**
 * The run config's `prompts` field: `{ query, document }`, each "auto", `{ "name": … }` or
 * `{ "text": … }`. Missing keys are "auto". Throws PromptError naming the field path.
 */
export function parsePromptChoices(raw: unknown, field = 'prompts'): PromptChoices {
  if (raw === undefined || raw === null) return { ...DEFAULT_PROMPT_CHOICES };
  if (!isObj(raw)) throw new PromptError(field, `must be an object like { "query": { "text": "query: " }, "document": "auto" }, got ${show(raw)}`);
  for (const k of Object.keys(raw)) if (k !== 'query' && k !== 'document') throw new PromptError(`${field}.${k}`, 'unknown field (known: query, document)');
  const one = (x: unknown, path: string): PromptChoice => {
    if (x === undefined || x === 'auto') return 'auto';
    if (!isObj(x)) throw new PromptError(path, `must be "auto", { "name": "<the model's prompt name>" } or { "text": "<prompt text>" }, got ${show(x)}`);
    const keys = Object.keys(x);
    if (keys.length !== 1 || (keys[0] !== 'name' && keys[0] !== 'text')) {
      throw new PromptError(path, `must have exactly one of "name" or "text", got ${show(keys)}`);
    }
    return keys[0] === 'name' ? { name: promptName(x.name, `${path}.name`) } : { text: promptText(x.text, `${path}.text`) };
  };
  return { query: one(raw.query, `${field}.query`), document: one(raw.document, `${field}.document`) };
}

/**
 * e5 models (intfloat/e5-*, intfloat/multilingual-e5-*) were trained with "query: " and
 * "passage: " prefixes but many of their repos name no prompts; by repo id, their prompts when
 * the model has none of its own. The -instruct variants are left out: their queries take a task
 * instruction, which only the user can write.
 */
const E5_ID = /^intfloat\/(multilingual-)?e5-(?!.*instruct)/i;
export const E5_PROMPTS: TextPrompts = { query: 'query: ', document: 'passage: ' };

export function e5Prompts(modelId: string): TextPrompts | null {
  return E5_ID.test(modelId) ? E5_PROMPTS : null;
}

/** The model's names for a document prompt, in the order sentence-transformers' encode_document tries them. */
export const DOCUMENT_PROMPT_NAMES = ['document', 'passage', 'corpus'] as const;

const INCLUDE_PROMPT_REFUSAL = "the model's Pooling config sets include_prompt: false (pool without the prompt's tokens), which tabtune does not implement, so it embeds such a model only without a prompt";

export interface ResolvedPrompts extends TextPrompts {
  /** How each was chosen, in words (the page and the CLI's log say it). */
  why: { query: string; document: string };
}

/**
 * The run's two prompt texts for a model. `auto`: the model's non-empty "query" prompt for
 * queries and its first non-empty "document" / "passage" / "corpus" prompt for documents, as
 * sentence-transformers' encode_query / encode_document pick them (they also try an empty
 * prompt of those names; an empty prompt is no prompt); for an e5 model with no prompts of its
 * own, "query: " / "passage: "; otherwise none. A name the model lacks is an error naming the
 * names it has; so is any prompt for a mean-pooling model whose pooling excludes the prompt.
 */
export function resolvePrompts(choices: PromptChoices, model: ModelPrompts, modelId: string, field = 'prompts'): ResolvedPrompts {
  const own = model.prompts;
  const hasOwn = Object.values(own).some((t) => t !== '');
  const e5 = hasOwn ? null : e5Prompts(modelId);
  const pick = (c: PromptChoice, role: keyof TextPrompts): [string, string] => {
    if (c === 'auto') {
      const names = role === 'query' ? ['query'] : DOCUMENT_PROMPT_NAMES;
      const name = names.find((n) => Object.hasOwn(own, n) && own[n] !== '');
      if (name) return [own[name], `the model's "${name}" prompt`];
      if (e5) return [e5[role], `e5's ${role === 'query' ? 'query' : 'passage'} prefix; the model names no prompts`];
      return ['', 'none (the model names no prompt for it)'];
    }
    if ('name' in c) {
      if (!Object.hasOwn(own, c.name)) {
        const names = Object.keys(own);
        throw new PromptError(`${field}.${role}.name`, `the model has no prompt named "${c.name}" (${names.length ? `it has ${names.map((n) => `"${n}"`).join(', ')}` : 'it names no prompts'})`);
      }
      return [own[c.name], `the model's "${c.name}" prompt`];
    }
    return [c.text, c.text === '' ? 'none (set by the run)' : 'set by the run'];
  };
  const [query, whyQ] = pick(choices.query, 'query');
  const [document, whyD] = pick(choices.document, 'document');
  if (!model.includePrompt && (query !== '' || document !== '')) {
    throw new PromptError(field, `${INCLUDE_PROMPT_REFUSAL}; set both prompts to none ({ "text": "" })`);
  }
  return { query, document, why: { query: whyQ, document: whyD } };
}

/**
 * The prompt of one encode call, as sentence-transformers' encode(prompt=…, prompt_name=…)
 * picks it: the text when given, else the named prompt (which must exist), else the model's
 * default prompt, else none. `what` names the options in errors (CLI flags).
 */
export function encodePrompt(model: ModelPrompts, o: { prompt?: string; promptName?: string }, what = { prompt: 'prompt', promptName: 'prompt_name' }): string {
  let prompt: string;
  if (o.prompt !== undefined) prompt = promptText(o.prompt, what.prompt);
  else if (o.promptName !== undefined) {
    if (!Object.hasOwn(model.prompts, o.promptName)) {
      const names = Object.keys(model.prompts);
      throw new PromptError(what.promptName, `the model has no prompt named "${o.promptName}" (${names.length ? `it has ${names.map((n) => `"${n}"`).join(', ')}` : 'it names no prompts'})`);
    }
    prompt = model.prompts[o.promptName];
  } else prompt = model.defaultPromptName !== null ? model.prompts[model.defaultPromptName] ?? '' : '';
  if (prompt !== '' && !model.includePrompt) throw new PromptError(what.prompt, INCLUDE_PROMPT_REFUSAL);
  return prompt;
}

/** texts with `prompt` prepended (the array itself when there is no prompt). */
export function withPrompt(texts: readonly string[], prompt: string | undefined): readonly string[] {
  return prompt ? texts.map((t) => prompt + t) : texts;
}

/**
 * The texts a run recorded (a run stores its prompts resolved, as `{ text }` choices); a record
 * from before prompts existed, or an unresolved choice, reads as no prompt.
 */
export function recordedPrompts(choices: PromptChoices | undefined): TextPrompts {
  const text = (c: PromptChoice | undefined) => (typeof c === 'object' && 'text' in c ? c.text : '');
  return { query: text(choices?.query), document: text(choices?.document) };
}

/** The choices that reproduce resolved texts exactly (what a finished run records). */
export function textChoices(p: TextPrompts): PromptChoices {
  return { query: { text: p.query }, document: { text: p.document } };
}

/**
 * config_sentence_transformers.json's `prompts` for a model trained with `used`: the model's own,
 * with "query" and "document" set to what training used, so that sentence-transformers'
 * encode_query / encode_document and `prompt_name="query"` / `"document"` apply them. The other
 * names (e.g. a "passage" the run did not use) are kept. null when there is nothing to write: no
 * prompt used and none of the model's own non-empty.
 */
export function exportedPrompts(model: ModelPrompts, used: TextPrompts): Record<string, string> | null {
  const own = Object.values(model.prompts).some((t) => t !== '');
  if (!own && used.query === '' && used.document === '') return null;
  return { ...model.prompts, query: used.query, document: used.document };
}

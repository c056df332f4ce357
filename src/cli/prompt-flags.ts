// The query and document prompt flags of `tabtune eval` and `tabtune mine` (InformationRetrievalEvaluator's
// and mine_hard_negatives' query_prompt / query_prompt_name / corpus_prompt / corpus_prompt_name),
// turned into the run-config choices that src/lib/models/prompts.ts resolves for the model.
// `tabtune train` takes the same choices as run-config flags (--prompts.query.text …); `tabtune
// embed` has --prompt / --prompt-name, as encode() does.
// Not the resolution rules (prompts.ts).

import { type PromptChoice, PromptError, resolvePrompts, type ResolvedPrompts, type ModelPrompts } from '../lib/models/prompts.ts';
import type { BarStream } from './progress-bar.ts';
import { UsageError } from './errors.ts';

export const PROMPT_FLAG_OPTIONS = {
  'query-prompt': { type: 'string' },
  'query-prompt-name': { type: 'string' },
  'document-prompt': { type: 'string' },
  'document-prompt-name': { type: 'string' },
} as const;

export const PROMPT_FLAGS_HELP = `  --query-prompt TEXT  prepend TEXT to every query ("" for none)
  --query-prompt-name NAME
                       prepend the model's prompt NAME (config_sentence_transformers.json) to every query
  --document-prompt TEXT, --document-prompt-name NAME
                       the same for the corpus documents. Default: the model's own "query" and
                       "document"/"passage"/"corpus" prompts; for intfloat/e5-* and
                       intfloat/multilingual-e5-* without prompts of their own, "query: " and "passage: "`;

type PromptFlagValues = Partial<Record<keyof typeof PROMPT_FLAG_OPTIONS, string>>;

/** The prompts the flags pick for `model` (a UsageError naming the flag when they do not fit it). */
export function promptsFromFlags(values: PromptFlagValues, model: ModelPrompts, modelId: string, command: string): ResolvedPrompts {
  const choice = (role: 'query' | 'document'): PromptChoice => {
    const text = values[`${role}-prompt`];
    const name = values[`${role}-prompt-name`];
    if (text !== undefined && name !== undefined) throw new UsageError(`give --${role}-prompt or --${role}-prompt-name, not both`, command);
    return text !== undefined ? { text } : name !== undefined ? { name } : 'auto';
  };
  try {
    return resolvePrompts({ query: choice('query'), document: choice('document') }, model, modelId, 'prompts');
  } catch (e) {
    if (e instanceof PromptError) throw new UsageError(e.message.replace(/^prompts\.(query|document)(\.name|\.text)?: /, (_, role: string, kind: string | undefined) => `--${role}-prompt${kind === '.name' ? '-name' : ''}: `), command);
    throw e;
  }
}

/** One stderr line saying which prompts run and why, when any does. */
export function reportPrompts(p: ResolvedPrompts, stderr: BarStream): void {
  if (p.query === '' && p.document === '') return;
  stderr.write(`prompts: query ${JSON.stringify(p.query)} (${p.why.query}), document ${JSON.stringify(p.document)} (${p.why.document})\n`);
}

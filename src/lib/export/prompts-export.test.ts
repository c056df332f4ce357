// The prompts a run trained with, read back from what leaves tabtune by Python itself (`ast`):
// train.py's QUERY_PROMPT / DOCUMENT_PROMPT, the column → prompt dict its training arguments get
// and the evaluator's query_prompt / corpus_prompt; the card's sentence-transformers snippet with
// prompt_name="query" / "document". Hostile prompt text (quotes, backslashes, newlines, backticks)
// stays one Python literal and one comment line.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRunConfig } from '../train/run-config.ts';
import { modelCard } from './model-card.ts';
import { trainScript } from './python-script.ts';

const work = mkdtempSync(join(tmpdir(), 'tabtune-prompts-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What Python's ast reads out of train.py and the card's python block. */
function readBack(script: string, card: string): {
  consts: Record<string, unknown>; calls: Record<string, Record<string, string>>; columns: Record<string, string>; cardCalls: { prompt_name?: string }[];
} {
  const block = /```python\n([\s\S]*?)```/.exec(card)![1];
  const scriptPath = join(work, 'train.py');
  const cardPath = join(work, 'card.py');
  writeFileSync(scriptPath, script);
  writeFileSync(cardPath, block);
  const py = `
import ast, json
tree = ast.parse(open(${JSON.stringify(scriptPath)}).read())
consts = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and n.targets[0].id.isupper()}
calls = {}
for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("InformationRetrievalEvaluator", "SentenceTransformerTrainingArguments"):
        calls[node.func.id] = {k.arg: ast.unparse(k.value) for k in node.keywords}
fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "column_prompts")
ns = dict(consts)
exec(compile(ast.Module(body=[fn], type_ignores=[]), "train.py", "exec"), ns)
card = ast.parse(open(${JSON.stringify(cardPath)}).read())
card_calls = [{k.arg: ast.literal_eval(k.value) for k in n.keywords} for n in ast.walk(card) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "encode"]
print(json.dumps({"consts": consts, "calls": calls, "columns": ns["column_prompts"](["anchor", "positive", "negative"]), "cardCalls": card_calls}))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' }));
}

const record = (prompts: unknown) => {
  const config = parseRunConfig({ model: { id: 'intfloat/e5-small-v2' }, data: { source: 'org/qa' }, prompts });
  return { card: modelCard({ name: 'e5 · qa', config, before: null, after: null, step: 10, baseModel: config.model.id, dataSource: 'org/qa' }), script: trainScript(config) };
};

describe('prompts in train.py and the card', () => {
  it('train.py trains with the column prompts and evaluates with query_prompt / corpus_prompt; the card uses prompt_name', () => {
    const { card, script } = record({ query: { text: 'query: ' }, document: { text: 'passage: ' } });
    const r = readBack(script, card);
    expect(r.consts).toMatchObject({ QUERY_PROMPT: 'query: ', DOCUMENT_PROMPT: 'passage: ' });
    expect(r.calls.InformationRetrievalEvaluator).toMatchObject({ query_prompt: 'QUERY_PROMPT', corpus_prompt: 'DOCUMENT_PROMPT' });
    expect(r.calls.SentenceTransformerTrainingArguments.prompts).toBe('column_prompts(train.column_names) or None');
    expect(r.columns).toEqual({ anchor: 'query: ', positive: 'passage: ', negative: 'passage: ' });
    expect(r.cardCalls).toEqual([{ prompt_name: 'query' }, { prompt_name: 'document' }]);
    expect(card).toContain('- Prompts: query `"query: "` (the anchor column), document `"passage: "` (positives and negatives)');
    expect(card).toContain("extractor(['query: What is the capital of France?']");
  });

  it('without prompts: empty constants, no column prompts, the plain snippet', () => {
    const { card, script } = record({ query: { text: '' }, document: { text: '' } });
    const r = readBack(script, card);
    expect(r.consts).toMatchObject({ QUERY_PROMPT: '', DOCUMENT_PROMPT: '' });
    expect(r.columns).toEqual({});
    expect(r.cardCalls).toEqual([{}]);
    expect(card).not.toContain('Prompts:');
  });

  it('hostile prompt text stays one literal in train.py and one comment line in the card', () => {
    const query = 'q"""\n\\x`</script> \'';
    const { card, script } = record({ query: { text: query }, document: { text: '```' } });
    const r = readBack(script, card);
    expect(r.consts).toMatchObject({ QUERY_PROMPT: query, DOCUMENT_PROMPT: '```' });
    expect(r.columns).toEqual({ anchor: query, positive: '```', negative: '```' });
    expect(r.cardCalls).toEqual([{ prompt_name: 'query' }, { prompt_name: 'document' }]);
    // Every fence of the card still opens and closes its own block: the JSON block reads back the prompts.
    const fences = card.split('\n').filter((l) => l.startsWith('```'));
    expect(fences).toEqual(['```python', '```', '```js', '```', '```json', '```']);
    expect(JSON.parse(/```json\n([\s\S]*?)```/.exec(card)![1]).prompts).toEqual({ query: { text: query }, document: { text: '```' } });
  });
});

// The model card of a run trained on a generated set (docs/generate.md#the-trained-models-card):
// its first line names the pairs, the generator, the documents, the filter and the pushed repo
// from the set's own record; Hub ids become links and `datasets:` metadata, anything else a code
// span; a hostile record (Markdown, HTML, backticks, very long fields, wrong types) is neutralised,
// bounded or dropped. Other parts of the card are tested with what they describe (losses, modes,
// prompts, pooling).

import { describe, expect, it } from 'vitest';
import type { GeneratedOrigin, GenerationRecord } from '../generate/generated-set.ts';
import { parseRunConfig } from '../train/run-config.ts';
import { type CardRecord, modelCard } from './model-card.ts';

const record: GenerationRecord = {
  source: 'docs.txt',
  generator: { model: 'onnx-community/Qwen2.5-0.5B-Instruct@main', decoding: 'sampling, seed 7, temperature 0.7', maxNewTokens: 128, questionsPerDoc: 3, prompt: 'Write {n} questions about:\n{document}' },
  chunking: { model: 'BAAI/bge-small-en-v1.5@main', budget: 510 },
  filter: { model: 'BAAI/bge-small-en-v1.5@main', topK: 3 },
  counts: { documents: 120, chunks: 300, questions: 900, duplicates: 12, filtered: 88, train: 720, test: 80 },
};

function card(generated: unknown, dataSource = 'generated:0123abcd'): string {
  const config = parseRunConfig({ model: { id: 'BAAI/bge-small-en-v1.5' }, data: { source: dataSource } });
  const r: CardRecord = { name: 'bge · generated', config, before: null, after: null, step: 5, baseModel: config.model.id, dataSource, generated: generated as GeneratedOrigin };
  return modelCard(r);
}
const intro = (text: string) => text.split('\n').find((l) => l.startsWith('A sentence-transformers model'))!;
const metadata = (text: string) => text.slice(0, text.indexOf('\n---\n', 4) + 1);

describe('the card of a model trained on a generated set', () => {
  it('names the pairs, the generator, the documents and the filter from the record, and the pushed repo', () => {
    const text = card({ record, repo: 'me/docs-questions' });
    expect(intro(text)).toContain(
      'A sentence-transformers model fine-tuned from [BAAI/bge-small-en-v1.5](https://huggingface.co/BAAI/bge-small-en-v1.5) on ' +
        '800 (question, passage) pairs that [onnx-community/Qwen2.5-0.5B-Instruct@main](https://huggingface.co/onnx-community/Qwen2.5-0.5B-Instruct) ' +
        'wrote for 300 chunks of 120 documents from `docs.txt`, kept by the consistency filter (the passage in the question\'s top 3 by ' +
        '[BAAI/bge-small-en-v1.5@main](https://huggingface.co/BAAI/bge-small-en-v1.5); 88 dropped), published as ' +
        '[me/docs-questions](https://huggingface.co/datasets/me/docs-questions) with MatryoshkaLoss',
    );
    expect(text).toContain('\n- Data: 3 questions asked per chunk (sampling, seed 7, temperature 0.7 decoding, at most 128 new tokens), 900 parsed, 12 repeats dropped; chunks of at most 510 tokens of [BAAI/bge-small-en-v1.5@main](https://huggingface.co/BAAI/bge-small-en-v1.5)\n');
    // The pushed repo is a data set the Hub can link; `generated:…` is not.
    expect(metadata(text)).toContain('datasets:\n- "me/docs-questions"\n');
    expect(metadata(text)).not.toContain('generated:');
    // The prompt stays in the data set's own card.
    expect(text).not.toContain('Write {n} questions');
  });

  it('without a filter or a push, and with local paths, names files only', () => {
    const local = { ...record, source: '/home/me/corpus/docs.txt', generator: { ...record.generator, model: '/home/me/models/tiny-decoder' }, chunking: { model: 'none', budget: 0 }, filter: null };
    const text = card({ record: local, repo: null });
    expect(intro(text)).toContain(' on 800 (question, passage) pairs that `tiny-decoder` wrote for 300 chunks of 120 documents from `docs.txt` (no consistency filter) with ');
    expect(text).toContain('repeats dropped; one chunk per document\n');
    expect(text).not.toContain('/home/me');
    expect(metadata(text)).not.toContain('datasets:');
  });

  it('links documents from a Hub data set, naming its config and split', () => {
    const text = card({ record: { ...record, source: 'org/corpus (default/train)' }, repo: null });
    expect(intro(text)).toContain(' documents from [org/corpus](https://huggingface.co/datasets/org/corpus) (default/train), kept ');
  });

  it('a run without a generated set keeps the data set line it had', () => {
    expect(intro(card(null, 'org/qa'))).toContain(' on [org/qa](https://huggingface.co/datasets/org/qa) with ');
    expect(card(undefined, 'org/qa')).not.toContain('- Data:');
  });

  it('neutralises Markdown and HTML in the record and bounds its fields', () => {
    const long = 'A'.repeat(50_000);
    const hostile = {
      ...record,
      source: `<img src=x onerror=alert(1)>\n\n# Owned\n${long}`,
      generator: { ...record.generator, model: 'a`b``<b onmouseover=alert(1)>x', decoding: 'greedy<script>`x`', prompt: long },
      filter: { model: '[click](javascript:alert(1))', topK: 3 },
    };
    const text = card({ record: hostile, repo: null });
    const line = intro(text);
    // Each name is one code span, fenced by more backticks than it holds; the source is cut to 200 characters.
    expect(line).toContain(' pairs that ```a`b``<b onmouseover=alert(1)>x``` wrote ');
    expect(line).toContain(` documents from \`<img src=x onerror=alert(1)> # Owned ${'A'.repeat(200 - 1 - '<img src=x onerror=alert(1)> # Owned '.length)}…\`, kept `);
    expect(line).toContain("top 3 by `[click](javascript:alert(1))`; ");
    expect(text).toContain('(greedyscriptx decoding,');
    expect(text.split('\n').some((l) => l.startsWith('# Owned'))).toBe(false);
    expect(line.length).toBeLessThan(1500);
    expect(text.length).toBeLessThan(10_000);
  });

  it('drops a record that fails its checks (wrong types, a repo that is no Hub id)', () => {
    for (const bad of [
      { record: { ...record, counts: { ...record.counts, train: '720' } }, repo: null },
      { record: { ...record, generator: { ...record.generator, model: 42 } }, repo: null },
      { record, repo: 'javascript:alert(1)' },
      { record, repo: 'x/'.repeat(5000) },
      'not a record',
    ]) {
      const text = card(bad);
      expect(intro(text)).toContain(' on `generated:0123abcd` with ');
      expect(text).not.toContain('- Data:');
    }
  });
});

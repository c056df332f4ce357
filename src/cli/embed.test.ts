import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../tests/fixtures/fixtures.ts';
import { loadTokenizerFromDir } from '../lib/tokenize/node.ts';
import type { TextTokenizer, TokenizedBatch } from '../lib/tokenize/tokenizer.ts';
import { embedCommand, embeddingsJson, embedTexts, parseTextLines, type BatchEncoder } from './embed.ts';

describe('parseTextLines', () => {
  it('takes one text per line, with or without a final newline, CRLF too', () => {
    expect(parseTextLines('a\nb c\n', 'f')).toEqual(['a', 'b c']);
    expect(parseTextLines('a\r\nb', 'f')).toEqual(['a', 'b']);
  });

  it('names blank lines instead of skipping them', () => {
    expect(() => parseTextLines('a\n\nb\n \n', 'in.txt')).toThrow('in.txt: blank lines 2, 4: each line must hold one text');
    expect(() => parseTextLines('a\n\n', 'in.txt')).toThrow('in.txt: blank line 2:');
    expect(() => parseTextLines('\n'.repeat(8) + 'x', 'f')).toThrow('blank lines 1, 2, 3, 4, 5, … (8 in all)');
    expect(() => parseTextLines('', 'f')).toThrow('f: no texts');
  });
});

/**
 * A stand-in encoder whose "embedding" of a row is [number of real tokens, sum of ids, batch
 * size], so the test can see which text went where and in which batch.
 */
class CountingEncoder implements BatchEncoder {
  readonly dim = 3;
  readonly batches: number[][] = [];
  async encode(b: TokenizedBatch): Promise<Float32Array> {
    const out = new Float32Array(b.batch * 3);
    const lens: number[] = [];
    for (let i = 0; i < b.batch; i++) {
      let n = 0;
      let sum = 0;
      for (let t = 0; t < b.tokens; t++) {
        n += b.attentionMask[i * b.tokens + t];
        sum += Number(b.inputIds[i * b.tokens + t]);
      }
      out.set([n, sum, b.batch], i * 3);
      lens.push(n);
    }
    this.batches.push(lens);
    return out;
  }
  describe() {
    return 'counting encoder';
  }
}

describe('embedTexts', () => {
  let tok: TextTokenizer;
  beforeAll(() => {
    tok = loadTokenizerFromDir(ensureFixtures().tinyBge);
  });

  it('batches longest text first and returns rows in input order', async () => {
    const texts = ['hello', 'hello world hello world', 'world', 'hello world .', 'the'];
    const enc = new CountingEncoder();
    const seen: number[] = [];
    const emb = await embedTexts(texts, tok, enc, { batchSize: 2, onBatch: (n) => seen.push(n) });
    expect(seen).toEqual([2, 2, 1]);
    // by character length: 23, 13, then the three of length 5/5/3 in input order
    expect(enc.batches).toEqual([[6, 5], [3, 3], [3]]);
    // hello 83, world 182, "." 9, the 159, [CLS] 2 + [SEP] 3
    const rows = Array.from({ length: 5 }, (_, i) => Array.from(emb.subarray(i * 3, i * 3 + 2)));
    expect(rows).toEqual([[3, 88], [6, 535], [3, 187], [5, 279], [3, 164]]);
  });

  it('writes the JSON the command prints', () => {
    const json = JSON.parse(embeddingsJson(new Float32Array([1, 0.5, -2, 0.25]), 2));
    expect(json).toEqual({ dim: 2, embeddings: [[1, 0.5], [-2, 0.25]] });
  });
});

describe('embedCommand prompts', () => {
  // encode()'s order: --prompt, else --prompt-name, else the model's default_prompt_name.
  it('--prompt, --prompt-name and default_prompt_name embed as the prefixed texts do', async () => {
    const work = mkdtempSync(join(tmpdir(), 'tabtune-embed-'));
    try {
      const model = join(work, 'model');
      cpSync(ensureFixtures().tinyBge, model, { recursive: true });
      writeFileSync(join(model, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: 'query' }));
      const texts = ['hello world', 'The KELDOR nests in reeds'];
      writeFileSync(join(work, 'texts.txt'), texts.join('\n'));
      const run = async (name: string, file: string, ...flags: string[]) => {
        const err: string[] = [];
        const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) } };
        await embedCommand(['--model', model, '--texts', join(work, file), '--out', join(work, name), ...flags], io);
        return { emb: JSON.parse(readFileSync(join(work, name), 'utf8')).embeddings as number[][], stderr: err.join('') };
      };
      for (const [prefix, flags] of [['query: ', []], ['passage: ', ['--prompt-name', 'passage']], ['Represent: ', ['--prompt', 'Represent: ']], ['', ['--prompt', '']]] as const) {
        writeFileSync(join(work, 'prefixed.txt'), texts.map((t) => prefix + t).join('\n'));
        const got = await run('got.json', 'texts.txt', ...flags);
        const want = await run('want.json', 'prefixed.txt', '--prompt', '');
        expect(got.emb, prefix).toEqual(want.emb);
        expect(got.stderr.includes(`prompt ${JSON.stringify(prefix)}`), got.stderr).toBe(prefix !== '');
      }
      await expect(run('x.json', 'texts.txt', '--prompt-name', 'document')).rejects.toThrow('--prompt-name: the model has no prompt named "document" (it has "query", "passage")');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});

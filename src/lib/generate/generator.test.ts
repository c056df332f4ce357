// The generator against transformers.js used directly on the fixture decoder (tests/fixtures/
// tiny-decoder.ts): the same prompt tokens and the same greedy tokens (the plumbing is ours, the
// decoding theirs); cancel + resume gives the rows of an uninterrupted run; seeded sampling is
// deterministic per seed and differs across seeds; a BERT folder is refused as a generator.

import { beforeAll, describe, expect, it } from 'vitest';
import { buildQaDataset } from '../../../tests/fixtures/dataset.ts';
import { ensureFixtures, type FixturePaths } from '../../../tests/fixtures/fixtures.ts';
import {
  checkGenerationConfig,
  generateQuestions,
  GenerationModelError,
  loadGenerator,
  pickDtype,
  promptText,
  resumeDeduper,
  type GenChunk,
  type GeneratedRow,
  type GenerationProgress,
  type TextGenerator,
} from './generator.ts';
import { folderFileSource } from './generator-node.ts';
import { hubFileSource } from './model-source.ts';
import { startLocalHub } from '../../../tests/hub/local-hub.ts';
import { HubClient } from '../hub/hub-client.ts';
import { FolderStore } from '../store/folder-store.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadDirectDecoder } from '../../../tests/fixtures/direct-decoder.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PROMPT_TEMPLATE, render } from './questions.ts';

let fx: FixturePaths;
let gen: TextGenerator;

const CHUNKS: GenChunk[] = buildQaDataset()
  .docs.slice(0, 4)
  .map((text, i) => ({ chunkId: `${i}#0`, documentId: String(i), text }));
const OPTIONS = { template: DEFAULT_PROMPT_TEMPLATE, perDoc: 3, maxNewTokens: 24 };

beforeAll(async () => {
  fx = ensureFixtures();
  gen = await loadGenerator(folderFileSource(fx.tinyDecoder, 'tiny-decoder'), { backend: 'node' });
}, 60_000);

async function run(options: Parameters<typeof generateQuestions>[2], hooks: Parameters<typeof generateQuestions>[3] = {}) {
  const rows: GeneratedRow[] = [];
  const summary = await generateQuestions(gen, CHUNKS, options, { ...hooks, onRow: (r) => void rows.push(r) });
  return { rows, summary };
}

describe('greedy generation equals transformers.js run directly', () => {
  it('same prompt, same prompt tokens and the same new tokens for each chunk', async () => {
    const direct = await loadDirectDecoder(fx.tinyDecoder, 'q8');
    expect(gen.dtype).toBe('q8'); // the CPU's first choice, and the fixture has it
    const { rows, summary } = await run(OPTIONS);
    expect(rows.map((r) => r.chunkId)).toEqual(CHUNKS.map((c) => c.chunkId));
    expect(summary).toMatchObject({ rows: 4, cancelled: false });
    for (const [i, chunk] of CHUNKS.entries()) {
      const user = render(DEFAULT_PROMPT_TEMPLATE, { document: chunk.text, n: 3 });
      const text = direct.prompt(user);
      expect(promptText(gen, user)).toBe(text);
      expect(text.startsWith('<|im_start|>system\n')).toBe(true);
      const { promptTokens, ids, text: output } = await direct.greedy(user, 24);
      expect(rows[i].promptTokens).toBe(promptTokens);
      expect(rows[i].newTokens).toBe(ids.length);
      expect(rows[i].output).toBe(output);
      // Not one token repeated: a parity that a constant output would pass is no parity.
      expect(new Set(ids).size).toBeGreaterThan(3);
    }
    await direct.dispose();
  }, 60_000);
});

describe('cancel, resume and sampling', () => {
  it('a cancel mid-chunk loses only that chunk; resuming gives the rows of an uninterrupted run', async () => {
    const whole = await run(OPTIONS);
    const abort = new AbortController();
    const seen: GenerationProgress[] = [];
    // Abort after 30 generated tokens: inside the second chunk (24 new tokens at most per chunk).
    const first = await run(OPTIONS, {
      signal: abort.signal,
      progressMs: 0,
      onProgress: (p) => {
        seen.push(p);
        if (p.tokens >= 30) abort.abort();
      },
    });
    expect(first.summary.cancelled).toBe(true);
    expect(first.rows).toEqual(whole.rows.slice(0, 1));
    const rest = await run(OPTIONS, { done: new Set(first.rows.map((r) => r.chunkId)), deduper: resumeDeduper(first.rows) });
    expect(rest.summary.progress).toMatchObject({ docsSkipped: 1, docsDone: 4, docsTotal: 4 });
    expect([...first.rows, ...rest.rows]).toEqual(whole.rows);
    // Progress carried both rates and an ETA once a chunk was done.
    expect(seen.some((p) => p.tokensPerS !== undefined && p.tokensPerS > 0)).toBe(true);
    expect(seen.some((p) => p.docsDone === 1 && p.docsPerS! > 0 && p.etaS! > 0 && p.docsTotal === 4)).toBe(true);
  }, 60_000);

  it('seeded sampling repeats for a seed and differs across seeds', async () => {
    const a = await run({ ...OPTIONS, seed: 7 });
    const b = await run({ ...OPTIONS, seed: 7 });
    const c = await run({ ...OPTIONS, seed: 8 });
    const greedy = await run(OPTIONS);
    expect(b.rows).toEqual(a.rows);
    expect(c.rows.map((r) => r.output)).not.toEqual(a.rows.map((r) => r.output));
    expect(a.rows.map((r) => r.output)).not.toEqual(greedy.rows.map((r) => r.output));
    // Each chunk's draws are seeded by its id, so a resumed sampling run matches too.
    const abort = new AbortController();
    const cut = await run({ ...OPTIONS, seed: 7 }, { signal: abort.signal, progressMs: 0, onProgress: (p) => p.docsDone >= 2 && abort.abort() });
    expect(cut.rows).toHaveLength(2);
    const rest = await run({ ...OPTIONS, seed: 7 }, { done: new Set(cut.rows.map((r) => r.chunkId)), deduper: resumeDeduper(cut.rows) });
    expect([...cut.rows, ...rest.rows]).toEqual(a.rows);
  }, 60_000);
});

describe('sources', () => {
  it('loads from the Hub into a store (as the page does into IndexedDB), then from that store offline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabtune-gen-store-'));
    const hub = await startLocalHub({ models: { 'tabtune-fixtures/tiny-decoder': fx.tinyDecoder } });
    try {
      const store = new FolderStore(dir);
      const loaded: number[] = [];
      const online = await hubFileSource({ client: new HubClient({ hubUrl: hub.url }), store, repo: 'tabtune-fixtures/tiny-decoder', onProgress: (p) => void loaded.push(p.loaded) });
      expect(online.commit).toMatch(/^[0-9a-f]{40}$/);
      const a = await loadGenerator(online, { backend: 'node' });
      // Only the files a load needs are fetched: the q8 model, not model.onnx.
      const stored = (await store.keys()).map((k) => k.replace(/^.*@main\//, '')).sort();
      expect(stored).toEqual(['config.json', 'generation_config.json', 'onnx/model_quantized.onnx', 'tokenizer.json', 'tokenizer_config.json']);
      expect(Math.max(...loaded)).toBeGreaterThan(0);
      await hub.close();
      const offline = await hubFileSource({ client: new HubClient({ hubUrl: hub.url }), store, repo: 'tabtune-fixtures/tiny-decoder' });
      expect(offline.commit).toBeNull();
      const b = await loadGenerator(offline, { backend: 'node' });
      const outputs = [];
      for (const g of [a, b, gen]) {
        const r: GeneratedRow[] = [];
        await generateQuestions(g, CHUNKS.slice(0, 2), OPTIONS, { onRow: (x) => void r.push(x) });
        outputs.push(r);
      }
      expect(outputs[0]).toHaveLength(2);
      expect(outputs[1]).toEqual(outputs[0]);
      expect(outputs[2]).toEqual(outputs[0]);
      await a.dispose();
      await b.dispose();
    } finally {
      await hub.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('refusals and choices', () => {
  it('refuses a BERT model as a generator, naming it', async () => {
    await expect(loadGenerator(folderFileSource(fx.tinyBge, 'org/tiny-bge'), { backend: 'node' })).rejects.toThrow(
      /org\/tiny-bge is a bert model \(BertModel\), not a text-generation \(causal LM\) model/,
    );
    expect(() => checkGenerationConfig({ model_type: 'llama', architectures: ['LlamaForSequenceClassification'] }, 'x')).toThrow(GenerationModelError);
    expect(checkGenerationConfig({ model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'] }, 'x')).toEqual({ modelType: 'qwen2' });
  });

  it('picks the dtype per backend from the files present', () => {
    const all = ['onnx/model.onnx', 'onnx/model_quantized.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_fp16.onnx'];
    expect(pickDtype('webgpu', all, 'm')).toBe('q4f16');
    expect(pickDtype('wasm', all, 'm')).toBe('q8');
    expect(pickDtype('node', all, 'm')).toBe('q8');
    expect(pickDtype('node', ['onnx/model.onnx'], 'm')).toBe('fp32');
    expect(pickDtype('node', all, 'm', 'fp16')).toBe('fp16');
    expect(() => pickDtype('node', ['onnx/model.onnx'], 'org/m', 'q4')).toThrow('org/m has no onnx/model_q4.onnx (dtype q4).');
    expect(pickDtype('wasm', ['onnx/model.onnx'], 'm')).toBe('fp32');
    expect(() => pickDtype('wasm', ['model.safetensors'], 'org/m')).toThrow(/org\/m has no ONNX file the wasm backend can use .*no \.onnx file at all/);
  });
});

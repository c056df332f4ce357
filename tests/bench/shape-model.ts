// Full-size model folders with random weights for the benches: a sentence-transformers BGE folder
// with a BertConfig's shape (bge-small's or bge-base's), the fixture vocabulary padded to BERT's
// 30,522 tokens, and documents of ~90 tokens in that vocabulary (qa-tiny's, four to a document, as
// the default data set's are). Shared by the page bench (page-memory.ts) and the encoding bench
// (embed-speed.ts). Not a fixture for tests (tests/fixtures/ makes the tiny ones) and not a model.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BertConfig } from '../../src/lib/models/bert-config.ts';
import { writeSafetensors } from '../../src/lib/models/safetensors.ts';
import { randomBertWeights } from '../../src/lib/models/sentence-model.ts';
import { buildQaDataset, type QaDataset } from '../fixtures/dataset.ts';
import { configSentenceTransformersJson, modulesJson, poolingConfigJson } from '../fixtures/tiny-bert.ts';
import { buildVocab, specialTokensMapJson, tokenizerConfigJson, tokenizerJson } from '../fixtures/tokenizer-files.ts';

const VERSION = 'page-memory-v1';

const json = (path: string, v: unknown) => writeFileSync(path, JSON.stringify(v, null, 2) + '\n');

/** qa-tiny with each document four documents long (~90 tokens), as the default data set's are. */
export function longDocDataset(): QaDataset {
  const d = buildQaDataset();
  const docs = d.docs.map((_, i) => [0, 1, 2, 3].map((k) => d.docs[(i + k) % d.docs.length]).join(' '));
  const long = (r: QaDataset['train'][number]) => ({ ...r, doc: docs[r.id] });
  return { docs, train: d.train.map(long), test: d.test.map(long) };
}

/** The fixture vocabulary (qa-tiny's words), which writeShapeModel pads to the config's size. */
export const shapeVocab = (): string[] => buildVocab(buildQaDataset());

/** A sentence-transformers BGE folder with `c`'s shape and random weights (kept while its .version matches). */
export function writeShapeModel(dir: string, c: BertConfig, vocab: string[] = shapeVocab()): void {
  if (existsSync(join(dir, '.version')) && readFileSync(join(dir, '.version'), 'utf8') === VERSION) return;
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  mkdirSync(join(dir, '2_Normalize'), { recursive: true });
  const padded = [...vocab];
  for (let i = padded.length; i < c.vocabSize; i++) padded.push(`[unused${i}]`);
  json(join(dir, 'config.json'), {
    architectures: ['BertModel'], attention_probs_dropout_prob: 0.1, hidden_act: 'gelu', hidden_dropout_prob: 0.1,
    hidden_size: c.hiddenSize, initializer_range: 0.02, intermediate_size: c.intermediateSize, layer_norm_eps: 1e-12,
    max_position_embeddings: c.maxPositions, model_type: 'bert', num_attention_heads: c.numHeads, num_hidden_layers: c.numLayers,
    pad_token_id: 0, position_embedding_type: 'absolute', torch_dtype: 'float32', type_vocab_size: 2, vocab_size: c.vocabSize,
  });
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(randomBertWeights(c, 7), { format: 'pt' }));
  json(join(dir, 'tokenizer.json'), tokenizerJson(padded));
  json(join(dir, 'tokenizer_config.json'), { ...tokenizerConfigJson(padded), model_max_length: 512 });
  json(join(dir, 'special_tokens_map.json'), specialTokensMapJson());
  writeFileSync(join(dir, 'vocab.txt'), padded.join('\n') + '\n');
  json(join(dir, 'modules.json'), modulesJson(true));
  json(join(dir, 'sentence_bert_config.json'), { max_seq_length: 512, do_lower_case: true });
  json(join(dir, '1_Pooling', 'config.json'), poolingConfigJson('cls'));
  json(join(dir, 'config_sentence_transformers.json'), configSentenceTransformersJson());
  writeFileSync(join(dir, '.version'), VERSION);
}

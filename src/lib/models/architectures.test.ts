// The family records: each preset is its family's and has the parameter count its Hub model
// states; the usable length, position ids, weight prefixes and file list each family gives.
import { describe, expect, it } from 'vitest';
import {
  ARCHITECTURES, allModelFileNames, architectureOfType, bareWeightName, BERT, companionFiles, positionIds, preset, PRESETS,
  SUPPORTED_MODEL_TYPES, usablePositions, usablePositionsOfJson, XLM_ROBERTA,
} from './architectures.ts';
import { parseBertConfig } from './bert-config.ts';
import { parameterSet } from './parameter-set.ts';

describe('family records', () => {
  it('each preset belongs to its family and has the parameter count its model card states (pooler included)', () => {
    const published: Record<string, number> = {
      'BAAI/bge-small-en-v1.5': 33_360_000,
      'BAAI/bge-base-en-v1.5': 109_482_240,
      'intfloat/multilingual-e5-small': 117_653_760,
      'intfloat/multilingual-e5-base': 278_043_648,
      'BAAI/bge-m3': 567_754_752,
    };
    expect(PRESETS.map((p) => p.id).sort()).toEqual(Object.keys(published).sort());
    for (const a of ARCHITECTURES) {
      for (const p of a.presets) {
        expect(p.config.family, p.id).toBe(a.family);
        expect(parameterSet(p.config).totalSize, p.id).toBe(published[p.id]);
      }
    }
    // multilingual-e5-small is a BertModel with XLM-R's vocabulary; e5-base and bge-m3 are XLM-RoBERTa.
    expect(preset('intfloat/multilingual-e5-small').config.family).toBe('bert');
    expect([preset('BAAI/bge-m3').pooling, preset('intfloat/multilingual-e5-base').pooling]).toEqual(['cls', 'mean']);
  });

  it('model types are unique and name their family', () => {
    expect(new Set(SUPPORTED_MODEL_TYPES).size).toBe(SUPPORTED_MODEL_TYPES.length);
    expect(architectureOfType('bert')).toBe(BERT);
    expect(architectureOfType('xlm-roberta')).toBe(XLM_ROBERTA);
    for (const t of ['roberta', 'distilbert', undefined, 3]) expect(architectureOfType(t)).toBeNull();
  });

  it('positions: BERT from 0, XLM-R from pad + 1, so 514 rows hold 512 tokens and bge-m3 8,192', () => {
    const bert = parseBertConfig({ model_type: 'bert', vocab_size: 100, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 });
    const xlmr = parseBertConfig({ model_type: 'xlm-roberta', vocab_size: 100, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 514, type_vocab_size: 1 });
    expect([bert.padTokenId, xlmr.padTokenId]).toEqual([0, 1]); // transformers' config defaults
    expect([...positionIds(bert, 3)]).toEqual([0n, 1n, 2n]);
    expect([...positionIds(xlmr, 3)]).toEqual([2n, 3n, 4n]);
    expect([usablePositions(bert), usablePositions(xlmr), usablePositions(preset('BAAI/bge-m3').config)]).toEqual([512, 512, 8192]);
    // From config.json as the tokenizer reads it (no parse): unknown or absent types count from 0.
    expect(usablePositionsOfJson({ model_type: 'xlm-roberta', max_position_embeddings: 514, pad_token_id: 1 })).toBe(512);
    expect(usablePositionsOfJson({ model_type: 'xlm-roberta', max_position_embeddings: 514 })).toBe(512);
    expect(usablePositionsOfJson({ max_position_embeddings: 64 })).toBe(64);
    expect(usablePositionsOfJson({ model_type: 'xlm-roberta', max_position_embeddings: 2 })).toBeUndefined();
    expect(usablePositionsOfJson({ max_position_embeddings: '512' })).toBeUndefined();
    expect(usablePositionsOfJson(undefined)).toBeUndefined();
  });

  it('strips only the family\'s own weight prefix', () => {
    expect(bareWeightName(BERT, 'bert.encoder.layer.0.output.dense.weight')).toBe('encoder.layer.0.output.dense.weight');
    expect(bareWeightName(XLM_ROBERTA, 'roberta.embeddings.word_embeddings.weight')).toBe('embeddings.word_embeddings.weight');
    expect(bareWeightName(XLM_ROBERTA, 'embeddings.word_embeddings.weight')).toBe('embeddings.word_embeddings.weight');
    expect(bareWeightName(XLM_ROBERTA, 'bert.embeddings.word_embeddings.weight')).toBe('bert.embeddings.word_embeddings.weight');
  });

  it('lists the files once: tokenizer.json for all, each family\'s slow-tokenizer file as an extra', () => {
    for (const a of ARCHITECTURES) expect(companionFiles(a)).toContain('tokenizer.json');
    expect(companionFiles(BERT)).toContain('vocab.txt');
    expect(companionFiles(XLM_ROBERTA)).toContain('sentencepiece.bpe.model');
    expect(companionFiles(XLM_ROBERTA)).not.toContain('vocab.txt');
    const all = allModelFileNames();
    expect(new Set(all).size).toBe(all.length);
    for (const f of ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'modules.json', 'vocab.txt', 'sentencepiece.bpe.model']) expect(all).toContain(f);
  });
});

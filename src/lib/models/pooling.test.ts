// The pooling a model gets when its files name none: one value (DEFAULT_POOLING), sentence-
// transformers' (mean, no Normalize), read alike by the loader and by the exported card.

import { describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import type { CardRecord } from '../export/model-card.ts';
import { modelPackage } from '../export/package.ts';
import { parseRunConfig } from '../train/run-config.ts';
import { DEFAULT_POOLING } from './pooling.ts';
import { readModelFolder } from './sentence-model-node.ts';
import { loadSentenceModel } from './sentence-model.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('the pooling of a model that names none', () => {
  it("is sentence-transformers' mean, without Normalize, in the loader", () => {
    // SentenceTransformer('plain-bert') with no modules.json builds Transformer + Pooling('mean').
    expect(DEFAULT_POOLING).toBe('mean');
    const files = readModelFolder(ensureFixtures().tinyBge);
    const bge = loadSentenceModel(files);
    expect([bge.pooling, bge.normalize]).toEqual(['cls', true]);
    const plain = new Map([...files].filter(([p]) => p !== 'modules.json' && !p.startsWith('1_Pooling/') && !p.startsWith('2_Normalize/')));
    const m = loadSentenceModel(plain);
    expect([m.pooling, m.normalize]).toEqual([DEFAULT_POOLING, false]);
  });

  it('is what the packaged card tells transformers.js to use; a folder that names one keeps it', async () => {
    const config = parseRunConfig({ model: { id: 'org/base' }, data: { source: 'org/data' } });
    const record: CardRecord = { name: 'run', config, before: null, after: null, step: 3, baseModel: 'org/base', dataSource: 'org/data' };
    const snippet = async (files: Map<string, Uint8Array>) => {
      const card = dec.decode((await modelPackage(files, record)).get('README.md')!);
      return /extractor\(\[[^\]]*\], \{ pooling: '(\w+)'/.exec(card)?.[1];
    };
    const bare = new Map([['README.md', enc.encode('old card')], ['config.json', enc.encode('{}')]]);
    expect(await snippet(bare)).toBe(DEFAULT_POOLING);
    const cls = new Map([...bare, ['modules.json', enc.encode('[]')], ['1_Pooling/config.json', enc.encode(JSON.stringify({ pooling_mode_cls_token: true }))]]);
    expect(await snippet(cls)).toBe('cls');
  });
});

// What the qa-tiny experiments (hard-negatives.ts, moments.ts) share: the tiny fixture model as a
// run's model on onnxruntime-node, and qa-tiny's train and test splits as the data module reads them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset } from '../../src/lib/data/dataset.ts';
import { parseDataFile } from '../../src/lib/data/parse.ts';
import { loadSentenceModel } from '../../src/lib/models/sentence-model.ts';
import { readModelFolder } from '../../src/lib/models/sentence-model-node.ts';
import { modelIdentity } from '../../src/lib/run/identity.ts';
import { createRuntime } from '../../src/lib/runtime/index.ts';
import { loadTokenizerFromDir } from '../../src/lib/tokenize/node.ts';
import { ensureFixtures } from '../fixtures/fixtures.ts';

export async function qaTinySetup() {
  const f = ensureFixtures();
  const runtime = await createRuntime('node');
  const files = readModelFolder(f.tinyBge);
  const model = loadSentenceModel(files);
  const tokenizer = loadTokenizerFromDir(f.tinyBge);
  const runModel = { name: 'tiny-bge', model, tokenizer, files, identity: await modelIdentity('tiny-bge', files) };
  const table = async (split: string) => parseDataFile(`${split}.jsonl`, new Uint8Array(readFileSync(join(f.qaTiny, `${split}.jsonl`))));
  const data = prepareDataset({ train: await table('train'), test: await table('test') }, { source: 'qa-tiny' });
  return { runtime, model, tokenizer, runModel, data };
}

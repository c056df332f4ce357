// The engine worker's "Mine hard negatives": mines the loaded data set's train and test splits with
// the loaded model (src/lib/mine/hard-negatives.ts), keeps the mined set in IndexedDB as a data set
// of its own (`dataset/local/mined:…/{train,test}.jsonl`), and makes it the loaded data set, so the
// next run trains on it (negatives mapped by name) and its test negatives feed the triplet
// evaluator. Not the mining (the library's) and not the page.

import { parseDataFile } from '../src/lib/data/parse.ts';
import { type MineOptions, type MineResult, type MineSummary, minedRecords, mineHardNegatives } from '../src/lib/mine/hard-negatives.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { localDatasetKey } from '../src/lib/store/store.ts';
import { runPrompts } from '../src/lib/run/run.ts';
import { parseRunConfig, type RunConfig } from '../src/lib/train/run-config.ts';
import type { DatasetSummary, MineProgressEvent, MineSummaryReport } from './api.ts';
import type { EngineState } from './engine-state.ts';
import { summarize } from './loaders.ts';
import { preparedData, runtimeFor } from './train-session.ts';

/**
 * The data set id of a mined set: `mined:` + its source (slashes as `~`, so the id is one storage
 * key segment) + `#` + a short hash of the options.
 */
export function minedDatasetId(source: string, options: MineOptions): string {
  let h = 2166136261;
  for (const ch of JSON.stringify(options)) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return `mined:${source.replace(/^mined:/, '').replace(/#.*$/, '').replaceAll('/', '~')}#${h.toString(16)}`;
}

const jsonl = (r: MineResult) => new TextEncoder().encode(minedRecords(r).map((x) => JSON.stringify(x)).join('\n') + '\n');

export async function mine(state: EngineState, req: { config: RunConfig; options: MineOptions }, onProgress?: (p: MineProgressEvent) => void): Promise<MineSummaryReport> {
  const { loaded, model, tokenizer } = state.parsedModel({ weights: true });
  const config = parseRunConfig(req.config, { hidden: model.config.hiddenSize });
  const source = state.data?.source;
  if (!source) throw new Error('no data set is loaded: load one first');
  const data = preparedData(state, config);
  const prompts = runPrompts(config, model.prompts);
  const encoder = await BertEncoder.create((await runtimeFor(state, config)).runtime, model);
  const results: Record<string, MineResult> = {};
  try {
    for (const [split, pairs] of [['train', data.train], ['test', data.test]] as const) {
      if (!pairs.length) continue;
      results[split] = await mineHardNegatives({
        pairs, encoder, tokenizer, options: req.options, prompts,
        onProgress: (p) => onProgress?.({ split, ...p }),
      });
    }
  } finally {
    await encoder.dispose();
  }
  const id = minedDatasetId(source, req.options);
  const splits: Record<string, Awaited<ReturnType<typeof parseDataFile>>> = {};
  for (const [split, r] of Object.entries(results)) {
    if (!r.rows.length) throw new Error(`no ${split} row found enough negatives; widen the range or loosen the margins`);
    const bytes = jsonl(r);
    await state.store.set(localDatasetKey(id, `${split}.jsonl`), bytes);
    splits[split] = await parseDataFile(`${split}.jsonl`, bytes);
  }
  const dataset: DatasetSummary = summarize(state, id, splits, 'file', false);
  return {
    dataset,
    model: loaded.summary.name,
    summary: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.summary])) as Record<string, MineSummary>,
    preview: results.train ? results.train.rows.slice(0, 8) : [],
  };
}

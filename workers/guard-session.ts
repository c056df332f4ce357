// The engine worker's general-retrieval guard: NanoBEIR on the loaded model or a stored run's
// trained model, with the run config's dims and prompts, through src/lib/run/guard.ts (Hub loads
// into the worker's IndexedDB store; figures cached by model identity, so the base model is
// encoded once). Not the evaluator (src/lib/eval/nanobeir.ts) and not the page.

import type { GuardProgress } from '../src/lib/eval/nanobeir.ts';
import { resolveNanoBeirSubsets } from '../src/lib/eval/nanobeir.ts';
import { HubClient } from '../src/lib/hub/hub-client.ts';
import { BertEncoder } from '../src/lib/models/encoder.ts';
import { loadSentenceModel } from '../src/lib/models/sentence-model.ts';
import { loadGuardSets, runGuard } from '../src/lib/run/guard.ts';
import { modelIdentity } from '../src/lib/run/identity.ts';
import { runEvalDims, runPrompts } from '../src/lib/run/run.ts';
import { loadTokenizer, tokenizerFilesFromMap } from '../src/lib/tokenize/tokenizer.ts';
import { parseRunConfig } from '../src/lib/train/run-config.ts';
import type { GuardReport, GuardRequest } from './api.ts';
import type { EngineState } from './engine-state.ts';
import { storedModelFiles } from './loaders.ts';
import { runtimeFor } from './train-session.ts';

export async function guard(state: EngineState, req: GuardRequest, onProgress?: (p: GuardProgress) => void): Promise<GuardReport> {
  if (state.active) throw new Error('a run is in progress: the guard runs before or after it');
  const subsets = resolveNanoBeirSubsets(req.subsets);
  const stored = req.runId ? await storedModelFiles(state, req.runId) : null;
  const loaded = stored ? null : state.parsedModel({ weights: true });
  const model = stored ? loadSentenceModel(stored.files) : loaded!.model;
  const tokenizer = stored ? loadTokenizer(tokenizerFilesFromMap(stored.files, stored.record.name)) : loaded!.tokenizer;
  const name = stored ? stored.record.name : state.model!.summary.name;
  const identity = stored ? await modelIdentity(name, stored.files, null) : await modelIdentity(name, loaded!.loaded.files, loaded!.loaded.hub);
  const config = parseRunConfig(req.config, { hidden: model.config.hiddenSize });
  const prompts = runPrompts(config, model.prompts, stored ? stored.record.name : config.model.id);
  const client = new HubClient({ hubUrl: req.hubUrl });
  const encoder = await BertEncoder.create((await runtimeFor(state, config)).runtime, model);
  try {
    const run = await runGuard({
      store: state.store,
      identity,
      subsets,
      dims: runEvalDims(config, model.config.hiddenSize),
      prompts,
      encoder,
      tokenizer,
      load: () => loadGuardSets({ client, store: state.store, subsets }),
      onProgress,
    });
    const t = run.result.timing;
    return { model: name, runId: req.runId ?? null, result: run.result, cached: run.cached, rate: run.cached || t.embedS <= 0 ? null : t.texts / t.embedS };
  } finally {
    await encoder.dispose();
  }
}

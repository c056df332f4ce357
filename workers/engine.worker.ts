// Entry point of the engine worker: exposes EngineWorkerApi over comlink.
// It wires methods to their implementations and holds no logic of its own; the onnxruntime
// sessions live in this worker (engine-runtime.ts, train-session.ts), not in the page.

import * as Comlink from 'comlink';
import type { EngineWorkerApi } from './api.ts';
import { probeBackend, probeEnvFromGlobals } from './backend-probe.ts';
import * as loaders from './loaders.ts';
import { selfTest } from './engine-runtime.ts';
import * as session from './train-session.ts';

const api: EngineWorkerApi = {
  probe: () => probeBackend(probeEnvFromGlobals()),
  selfTest,
  loadModel: loaders.loadModel,
  loadDataset: loaders.loadDataset,
  loadDataFile: loaders.loadDataFile,
  storagePanel: loaders.storagePanel,
  storageDelete: loaders.storageDelete,
  storagePersist: loaders.storagePersist,
  setMapping: session.setMapping,
  train: session.train,
  cancel: session.cancel,
  evaluate: session.evaluate,
  runs: session.runs,
};

Comlink.expose(api);

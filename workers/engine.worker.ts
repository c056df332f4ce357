// Entry point of the engine worker: creates the worker's one EngineState and exposes
// EngineWorkerApi over comlink. It wires methods to their implementations and holds no logic of
// its own; the onnxruntime sessions live in this worker (engine-runtime.ts, train-session.ts),
// not in the page.

import './csp-report.ts';
import { isOrtThread } from './ort-thread.ts';
import * as Comlink from 'comlink';
import type { EngineWorkerApi } from './api.ts';
import { probeBackend, probeEnvFromGlobals } from './backend-probe.ts';
import { EngineState } from './engine-state.ts';
import * as exportSession from './export-session.ts';
import * as generateSession from './generate-session.ts';
import { limitThreads, selfTest } from './engine-runtime.ts';
import * as loaders from './loaders.ts';
import * as mineSession from './mine-session.ts';
import * as guardSession from './guard-session.ts';
import * as session from './train-session.ts';

// onnxruntime's WASM threads run this script too (ort-thread.ts): they must not start an engine.
if (!isOrtThread()) serve();

function serve(): void {
  const state = new EngineState();

  const api: EngineWorkerApi = {
    probe: () => probeBackend(probeEnvFromGlobals()),
    selfTest,
    limitThreads: async (threads) => limitThreads(threads),
    loadModel: (req, onProgress) => loaders.loadModel(state, req, onProgress),
    loadDataset: (req, onProgress) => loaders.loadDataset(state, req, onProgress),
    loadDataFile: (name, bytes) => loaders.loadDataFile(state, name, bytes),
    storagePanel: () => loaders.storagePanel(state),
    storageDelete: (group) => loaders.storageDelete(state, group),
    storagePersist: () => loaders.storagePersist(state),
    setMapping: (mapping) => loaders.setMapping(state, mapping),
    mine: (req, onProgress) => mineSession.mine(state, req, onProgress),
    memoryPlan: (config) => session.memoryPlan(state, config),
    train: (req, onEvent) => session.train(state, req, onEvent),
    cancel: () => session.cancel(state),
    simulateDeviceLoss: () => session.simulateDeviceLoss(),
    ping: async () => true,
    evaluate: (req, onProgress) => session.evaluate(state, req, onProgress),
    runs: () => session.runs(state),
    renameRun: (runId, name) => session.renameRun(state, runId, name),
    useKeptWeights: (runId, which) => session.useKept(state, runId, which),
    runFile: (runId, path) => session.runFile(state, runId, path),
    exportZip: (req, onProgress) => exportSession.exportZip(state, req, onProgress),
    pushModel: (req, onProgress) => exportSession.pushModel(state, req, onProgress),
    exploreQueries: (runId) => exportSession.exploreQueries(state, runId),
    explore: (req, onProgress) => exportSession.explore(state, req, onProgress),
    guard: (req, onProgress) => guardSession.guard(state, req, onProgress),
    loadDocuments: (req) => generateSession.loadDocuments(state, req),
    prepareGeneration: (req) => generateSession.prepareGeneration(state, req),
    generationJobs: () => generateSession.generationJobs(state),
    filterGenerated: (req, onProgress) => generateSession.filterGenerated(state, req, onProgress),
    generatedFile: (jobId, format) => generateSession.generatedFile(state, jobId, format),
    pushGenerated: (req, onProgress) => generateSession.pushGenerated(state, req, onProgress),
  };

  Comlink.expose(api);
}

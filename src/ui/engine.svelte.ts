// The page's handle on the engine worker: starts it, calls its API, and keeps what the UI
// renders in runes state. It holds no engine logic and never imports onnxruntime.

import * as Comlink from 'comlink';
import type { BackendReport, EngineWorkerApi, SelfTestReport } from '../../workers/api.ts';

export type ProbeState =
  | { status: 'idle' }
  | { status: 'probing' }
  | { status: 'done'; report: BackendReport }
  | { status: 'failed'; error: string };

export type SelfTestState =
  | { status: 'idle' }
  | { status: 'running' }
  | { status: 'done'; report: SelfTestReport }
  | { status: 'failed'; error: string };

export class Engine {
  #worker: Worker | null = null;
  #api: Comlink.Remote<EngineWorkerApi> | null = null;
  #probe = $state.raw<ProbeState>({ status: 'idle' });

  get probe(): ProbeState {
    return this.#probe;
  }

  #remote(): Comlink.Remote<EngineWorkerApi> {
    if (!this.#api) {
      this.#worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
        type: 'module',
        name: 'tabtune-engine',
      });
      this.#worker.addEventListener('error', (event) => {
        this.#probe = { status: 'failed', error: `engine worker failed to start: ${event.message || 'unknown error'}` };
      });
      this.#api = Comlink.wrap<EngineWorkerApi>(this.#worker);
    }
    return this.#api;
  }

  async runProbe(): Promise<void> {
    this.#probe = { status: 'probing' };
    try {
      this.#probe = { status: 'done', report: await this.#remote().probe() };
    } catch (error) {
      this.#probe = { status: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
  }

  #selfTest = $state.raw<SelfTestState>({ status: 'idle' });

  /** Which backend ran the engine's self-test graph, and why that one. */
  get selfTest(): SelfTestState {
    return this.#selfTest;
  }

  async runSelfTest(): Promise<void> {
    this.#selfTest = { status: 'running' };
    try {
      this.#selfTest = { status: 'done', report: await this.#remote().selfTest() };
    } catch (error) {
      this.#selfTest = { status: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
  }

  dispose(): void {
    this.#api?.[Comlink.releaseProxy]();
    this.#worker?.terminate();
    this.#api = null;
    this.#worker = null;
  }
}

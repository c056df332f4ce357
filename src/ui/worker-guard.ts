// Makes a stopped worker visible instead of a call that never answers: wraps a comlink remote so
// that, once the worker is known to have stopped, every call in flight and every later call
// rejects with one message. A worker stops without telling comlink when it crashes (an uncaught
// error that ends it, running out of memory) or closes itself; the page then only sees an `error`
// event on the Worker (an uncaught error that does not end the worker fires one too) or nothing.
// So an `error` event is followed by a ping: a worker that does not answer within the timeout has
// stopped. A `messageerror` (a reply that could not be read) stops it at once: the call that
// reply belonged to would never settle. Not a restart: the page reloads (its stored models, data
// and checkpoints are in IndexedDB and are kept).

import type * as Comlink from 'comlink';

export class WorkerStoppedError extends Error {
  constructor(why: string) {
    super(`The engine worker stopped (${why}); reload the page — your stored models, data and checkpoints are kept.`);
    this.name = 'WorkerStoppedError';
  }
}

export interface WorkerGuardOptions {
  /** Answers while the worker runs (a comlink call); its promise never settles once the worker has stopped. */
  ping: () => Promise<unknown>;
  /** How long a ping after an `error` event may take before the worker counts as stopped. */
  pingTimeoutMs?: number;
  /** Called once, when the worker is known to have stopped. */
  onStop?: (error: WorkerStoppedError) => void;
}

export interface WorkerGuard<T> {
  /** The remote whose calls reject once the worker has stopped. */
  remote: Comlink.Remote<T>;
  /** The reason, once stopped; null while it runs. */
  readonly stopped: WorkerStoppedError | null;
  /** Declares the worker stopped (and terminates it). */
  stop(why: string): void;
}

export function guardWorker<T>(worker: Worker, remote: Comlink.Remote<T>, options: WorkerGuardOptions): WorkerGuard<T> {
  const timeoutMs = options.pingTimeoutMs ?? 10_000;
  let stopped: WorkerStoppedError | null = null;
  let reject!: (e: WorkerStoppedError) => void;
  const died = new Promise<never>((_, r) => (reject = r));
  died.catch(() => {}); // read by the calls that race it; never unhandled by itself

  const stop = (why: string) => {
    if (stopped) return;
    stopped = new WorkerStoppedError(why);
    reject(stopped);
    worker.terminate();
    options.onStop?.(stopped);
  };

  let checking = false;
  worker.addEventListener('error', (event) => {
    const why = event.message || 'an error it did not catch';
    if (checking || stopped) return;
    checking = true;
    const timer = setTimeout(() => stop(`${why}; it did not answer for ${Math.round(timeoutMs / 1000)} s after that`), timeoutMs);
    // A worker that answers is alive (the error did not end it): leave it be.
    void options.ping().then(
      () => {
        clearTimeout(timer);
        checking = false;
      },
      () => {},
    );
  });
  worker.addEventListener('messageerror', () => stop('a message from it could not be read'));

  const guarded = new Proxy({} as Comlink.Remote<T>, {
    get(_, prop) {
      const target = (remote as Record<PropertyKey, unknown>)[prop];
      if (typeof target !== 'function') return target;
      return (...args: unknown[]) => {
        if (stopped) return Promise.reject(stopped);
        return Promise.race([(target as (...a: unknown[]) => Promise<unknown>)(...args), died]);
      };
    },
  });
  return {
    remote: guarded,
    get stopped() {
      return stopped;
    },
    stop,
  };
}

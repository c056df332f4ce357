import { describe, expect, it } from 'vitest';
import { guardWorker, WorkerStoppedError } from './worker-guard.ts';

/** A Worker stand-in: events are dispatched by the test; terminate is counted. */
class FakeWorker extends EventTarget {
  terminated = 0;
  terminate() {
    this.terminated++;
  }
}
const never = () => new Promise<never>(() => {});
const errorEvent = (message: string) => Object.assign(new Event('error'), { message });

function setup(o: { alive: boolean }) {
  const worker = new FakeWorker();
  const remote = { slow: never, fast: async (x: number) => x * 2, ping: () => (o.alive ? Promise.resolve(true) : never()) };
  const stops: string[] = [];
  const guard = guardWorker(worker as unknown as Worker, remote as never, { ping: () => remote.ping(), pingTimeoutMs: 30, onStop: (e) => stops.push(e.message) });
  return { worker, remote: guard.remote as unknown as typeof remote, guard, stops };
}

describe('guardWorker', () => {
  it('an error event then no answer to the ping: the call in flight and every later call reject with the reload message', async () => {
    const { worker, remote, guard, stops } = setup({ alive: false });
    expect(await remote.fast(2)).toBe(4);
    const pending = remote.slow();
    worker.dispatchEvent(errorEvent('Uncaught RangeError: Out of memory'));
    const err = await pending.catch((e) => e);
    expect(err).toBeInstanceOf(WorkerStoppedError);
    expect(err.message).toMatch(/^The engine worker stopped \(Uncaught RangeError: Out of memory; it did not answer for 0 s after that\); reload the page — your stored models, data and checkpoints are kept\.$/);
    await expect(remote.fast(1)).rejects.toBe(err);
    expect(guard.stopped).toBe(err);
    expect(stops).toEqual([err.message]);
    expect(worker.terminated).toBe(1);
  });

  it('an error event from a worker that still answers changes nothing', async () => {
    const { worker, remote, guard, stops } = setup({ alive: true });
    worker.dispatchEvent(errorEvent('Uncaught Error: in a timer'));
    await new Promise((r) => setTimeout(r, 60));
    expect(await remote.fast(3)).toBe(6);
    expect(guard.stopped).toBeNull();
    expect(stops).toEqual([]);
    expect(worker.terminated).toBe(0);
  });

  it('a message that cannot be read stops it at once', async () => {
    const { worker, remote } = setup({ alive: true });
    const pending = remote.slow();
    worker.dispatchEvent(new Event('messageerror'));
    await expect(pending).rejects.toThrow(/The engine worker stopped \(a message from it could not be read\)/);
    expect(worker.terminated).toBe(1);
  });
});

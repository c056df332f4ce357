import { describe, expect, it } from 'vitest';
import { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { add } from '../ops/elementwise.ts';
import { createRuntime, isDeviceTensor, type HostTensor } from './index.ts';

function model(): Uint8Array {
  const g = new Graph('runtime');
  const a = g.input('a', 'float32', ['N']);
  g.output(add(a, a), 'y');
  return toOnnx(g);
}

describe.each(['wasm', 'node'] as const)('%s runtime', (kind) => {
  it('describes itself, runs, keeps outputs on the device when asked', async () => {
    const runtime = await createRuntime(kind, { threads: 1 });
    expect(runtime.describe()).toMatchObject({ kind, threads: 1, version: '1.30.0' });
    const session = await runtime.load(model());
    expect(session.inputNames).toEqual(['a']);
    const a: HostTensor = { dtype: 'float32', dims: [3], data: Float32Array.from([1, 2, 3]) };
    const out = await session.run({ a }, ['y'], { keepOnDevice: ['y'] });
    expect(isDeviceTensor(out.y)).toBe(true);
    // A device output feeds the next run without a host round trip.
    const again = await session.run({ a: out.y as never });
    expect(Array.from((again.y as HostTensor).data as Float32Array)).toEqual([4, 8, 12]);
    const host = await runtime.download(await runtime.upload(a));
    expect(Array.from(host.data as Float32Array)).toEqual([1, 2, 3]);
    await session.release();
  });
});

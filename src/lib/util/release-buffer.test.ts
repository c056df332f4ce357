import { describe, expect, it } from 'vitest';
import { createRuntime } from '../runtime/index.ts';
import type { DeviceTensor } from '../runtime/types.ts';
import { HostUpdater } from '../train/updater.ts';
import { canReleaseBuffers, releaseArray } from './release-buffer.ts';

describe('releaseArray (tests/setup-node.ts turns it on as the CLI does)', () => {
  it('detaches a whole-buffer array and leaves views of larger buffers alone', () => {
    expect(canReleaseBuffers()).toBe(true);
    const whole = new Float32Array(1024).fill(1);
    releaseArray(whole);
    expect(whole.length).toBe(0);
    const shared = new Float32Array(16);
    const view = shared.subarray(4, 8);
    releaseArray(view);
    expect(view.length).toBe(4);
    expect(shared.length).toBe(16);
  });

  it('the host updater frees each gradient once added and its sums once applied, and still sums them', async () => {
    const runtime = await createRuntime('wasm', { threads: 1 });
    const slots = new Map<string, DeviceTensor>();
    const w = new Float32Array([1, 2, 3, 4]);
    const u = new HostUpdater({
      runtime, params: [{ name: 'w', shape: [4], decay: true, data: w }], weightDecay: 0,
      encoder: { weight: (n) => slots.get(n)!, setWeight: (n, t) => void slots.set(n, t) },
    });
    const g1 = new Float32Array([1, 1, 1, 1]);
    const g2 = new Float32Array([3, 3, 3, 3]);
    await u.accumulate(new Map([['w', { dtype: 'float32', dims: [4], data: g1 }]]), 1);
    await u.accumulate(new Map([['w', { dtype: 'float32', dims: [4], data: g2 }]]), 1);
    expect(g1.length).toBe(4); // the first became the sum
    expect(g2.length).toBe(0); // added, then freed
    const r = await u.update(0.1, 0);
    expect(g1.length).toBe(0); // the sum, freed once applied
    // AdamW's first step moves every weight by lr·sign(g) (bias-corrected m/√v = ±1, eps aside).
    const moved = (await u.weights()).get('w')!;
    expect([...moved].map((x, i) => x - [1, 2, 3, 4][i])).toEqual([...moved].map(() => expect.closeTo(-0.1, 6)));
    expect(r.gradNorm).toBeCloseTo(8, 5);
  });
});

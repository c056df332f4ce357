import { describe, expect, it } from 'vitest';
import { installGpuMemoryCounter } from './gpu-memory.ts';

/** Stand-ins for GPUDevice and GPUBuffer: what the counter wraps is only their two methods. */
function fakeClasses() {
  const destroyed: number[] = [];
  class FakeBuffer {
    constructor(readonly size: number) {}
    destroy(): void {
      destroyed.push(this.size);
    }
  }
  class FakeDevice {
    createBuffer(d: { size: number; usage?: number }): FakeBuffer {
      return new FakeBuffer(d.size);
    }
  }
  return { classes: { device: FakeDevice, buffer: FakeBuffer }, FakeDevice, destroyed };
}

describe('installGpuMemoryCounter', () => {
  it('counts live bytes and their peak across create and destroy, once per buffer', () => {
    const { classes, FakeDevice, destroyed } = fakeClasses();
    const counter = installGpuMemoryCounter(classes);
    const device = new FakeDevice();
    const a = device.createBuffer({ size: 100 });
    const b = device.createBuffer({ size: 50 });
    expect(a.size).toBe(100); // the real method still runs
    expect(counter.liveBytes).toBe(150);
    a.destroy();
    a.destroy(); // a second destroy frees nothing more
    expect(destroyed).toEqual([100, 100]);
    expect(counter.liveBytes).toBe(50);
    expect(counter.peakBytes).toBe(150);
    expect(counter.peakBuffers.map((b) => b.bytes)).toEqual([100, 50]);
    counter.resetPeak();
    expect(counter.peakBuffers.map((b) => b.bytes)).toEqual([50]);
    expect(counter.peakBytes).toBe(50);
    device.createBuffer({ size: 30, usage: 0x80 });
    expect(counter.peakBytes).toBe(80);
    expect(counter.peakBuffers).toEqual([{ bytes: 50, usage: 0 }, { bytes: 30, usage: 0x80 }]);
    b.destroy();
    expect(counter.liveBytes).toBe(30);
    expect(counter.buffers).toBe(3);
  });

  it('says plainly when the page has no WebGPU', () => {
    expect(() => installGpuMemoryCounter()).toThrow(/no WebGPU/);
  });
});

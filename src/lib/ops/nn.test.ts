import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { gradients } from '../autodiff/grad.ts';
import { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { dropout, gelu, l2Normalize, layerNorm, logSoftmax, softmax } from './nn.ts';
import { evaluate, expectClose } from './testing.ts';

let wasm: Runtime;
let node: Runtime;
beforeAll(async () => {
  wasm = await createRuntime('wasm', { threads: 1 });
  node = await createRuntime('node', { threads: 1 });
});

const x = [1, 2, 3, -1, 0, 4];
const rows = (f: (r: number[]) => number[]) => [...f(x.slice(0, 3)), ...f(x.slice(3))];
const softmaxRef = (r: number[]) => {
  const m = Math.max(...r);
  const e = r.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b);
  return e.map((v) => v / s);
};
const layerNormRef = (r: number[]) => {
  const mu = r.reduce((a, b) => a + b) / r.length;
  const v = r.reduce((a, b) => a + (b - mu) ** 2, 0) / r.length;
  return r.map((t, i) => ((t - mu) / Math.sqrt(v + 1e-5)) * [1, 2, 0.5][i] + [0, 1, -1][i]);
};
// gelu reference values from torch.nn.functional.gelu (exact erf form).
const geluTorch = [0.8413447, 1.9544997, 2.9959502, -0.15865526, 0, 3.9998734];

describe('nn forward (onnxruntime-web WASM)', () => {
  const input = { name: 'x', dims: [2, 3], shape: ['B', 3], data: x };
  it('softmax', async () => expectClose((await evaluate(wasm, [input], ({ x }) => softmax(x))).data, rows(softmaxRef), 1e-6));
  it('logSoftmax (written out)', async () =>
    expectClose((await evaluate(wasm, [input], ({ x }) => logSoftmax(x))).data, rows((r) => softmaxRef(r).map(Math.log)), 1e-6));
  it('layerNorm', async () => {
    const y = await evaluate(
      wasm,
      [input, { name: 'g', dims: [3], data: [1, 2, 0.5] }, { name: 'b', dims: [3], data: [0, 1, -1] }],
      ({ x, g, b }) => layerNorm(x, g, b, 1e-5),
    );
    expectClose(y.data, rows(layerNormRef), 1e-5);
  });
  it('gelu matches torch', async () => expectClose((await evaluate(wasm, [input], ({ x }) => gelu(x))).data, geluTorch, 1e-6));
  it('l2Normalize, including an all-zero row', async () => {
    const y = await evaluate(wasm, [{ name: 'x', dims: [2, 2], data: [3, 4, 0, 0] }], ({ x }) => l2Normalize(x));
    expectClose(y.data, [0.6, 0.8, 0, 0]);
  });
});

describe('nn gradients (finite differences)', () => {
  const sym = { name: 'x', dims: [2, 3, 4], shape: ['B', 'T', 4] };
  it('softmax (float64)', async () => {
    const r = await fdCheck({ runtime: node, dtype: 'float64', inputs: [sym], build: ({ x }) => softmax(x) });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });
  it('logSoftmax over a middle axis (float64)', async () => {
    const r = await fdCheck({ runtime: node, dtype: 'float64', inputs: [sym], build: ({ x }) => logSoftmax(x, 1) });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });
  it('layerNorm (float64 x, float32 statistics)', async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [sym, { name: 'g', dims: [4] }, { name: 'b', dims: [4] }],
      build: ({ x, g, b }) => layerNorm(x, g, b, 1e-5),
    });
    // Mean/InvStdDev come back in float32, which bounds the agreement at ~1e-6.
    expect(r.maxRelError).toBeLessThan(1e-4);
  });
  it('gelu (float32: Erf has no float64 kernel)', async () => {
    const r = await fdCheck({ runtime: node, dtype: 'float32', inputs: [{ name: 'x', dims: [3, 4] }], build: ({ x }) => gelu(x) });
    expect(r.maxRelError).toBeLessThan(1e-2);
  });
  it('l2Normalize (float64)', async () => {
    const r = await fdCheck({ runtime: node, dtype: 'float64', inputs: [sym], build: ({ x }) => l2Normalize(x) });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });
  it('dropout (float64)', async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [sym, { name: 'seed', dims: [], dtype: 'float32', data: Float32Array.from([1234]) }],
      build: ({ x, seed }) => dropout(x, 0.3, seed, 7),
    });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });
});

describe('dropout masks', () => {
  const p = 0.1;
  async function masks(seeds: number[], stream = 0, dims = [4, 64, 128]) {
    const g = new Graph('dropout');
    const xv = g.input('x', 'float32', ['B', 'T', dims[2]]);
    const seed = g.input('seed', 'float32', []);
    const dyv = g.input('dy', 'float32', ['B', 'T', dims[2]]);
    const y = dropout(xv, p, seed, stream);
    g.output(y, 'y');
    const [dx] = gradients(g, y, [xv], dyv);
    g.output(dx);
    const session = await wasm.load(toOnnx(g));
    const n = dims.reduce((a, b) => a * b);
    const ones = { dtype: 'float32' as const, dims, data: new Float32Array(n).fill(1) };
    const dy = { dtype: 'float32' as const, dims, data: Float32Array.from({ length: n }, (_, i) => (i % 7) - 3) };
    const out = [];
    for (const s of seeds) {
      const r = await session.run({ x: ones, dy, seed: { dtype: 'float32', dims: [], data: Float32Array.from([s]) } });
      out.push({ y: (r.y as HostTensor).data as Float32Array, dx: (r['grad/x'] as HostTensor).data as Float32Array, dy: dy.data });
    }
    await session.release();
    return out;
  }

  it('same seed → same mask; other seed or stream → different mask; mean ≈ 1 − p; dx = mask/(1−p) ⊙ dy', async () => {
    const [a, b, c] = await masks([42, 42, 43]);
    const [d] = await masks([42], 1);
    expect(a.y).toEqual(b.y);
    const differ = (u: Float32Array, v: Float32Array) => u.filter((t, i) => t !== v[i]).length / u.length;
    expect(differ(a.y, c.y)).toBeGreaterThan(0.1);
    expect(differ(a.y, d.y)).toBeGreaterThan(0.1);
    const scale = 1 / (1 - p);
    const kept = a.y.filter((t) => t !== 0).length / a.y.length;
    expect(Math.abs(kept - (1 - p))).toBeLessThan(0.005); // 32768 draws: σ ≈ 0.0017
    expect(a.y.every((t) => t === 0 || t === Math.fround(scale))).toBe(true);
    expect(a.dx.every((t, i) => Math.abs(t - a.y[i] * a.dy[i]) < 1e-5)).toBe(true);
    // Neighbouring elements are not correlated: P(both kept) ≈ (1 − p)².
    let both = 0;
    for (let i = 0; i + 1 < a.y.length; i++) if (a.y[i] && a.y[i + 1]) both++;
    expect(Math.abs(both / (a.y.length - 1) - (1 - p) ** 2)).toBeLessThan(0.01);
  });

  it('the mask depends only on the coordinates: wasm and node agree', async () => {
    const g = new Graph('dropout');
    const xv = g.input('x', 'float32', ['B', 8]);
    const seed = g.input('seed', 'float32', []);
    g.output(dropout(xv, 0.5, seed, 3), 'y');
    const bytes = toOnnx(g);
    const feeds = { x: { dtype: 'float32' as const, dims: [3, 8], data: new Float32Array(24).fill(1) }, seed: { dtype: 'float32' as const, dims: [], data: Float32Array.from([99]) } };
    const [s1, s2] = [await wasm.load(bytes), await node.load(bytes)];
    const y1 = ((await s1.run(feeds)).y as HostTensor).data;
    const y2 = ((await s2.run(feeds)).y as HostTensor).data;
    expect(Array.from(y1 as Float32Array)).toEqual(Array.from(y2 as Float32Array));
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { gradients } from '../autodiff/grad.ts';
import { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { slice, squeeze } from './shape.ts';
import {
  applyDropout, columnKey, dropout, dropped, gelu, HASH_P, hashColumnKeys, hashRowKeys, hashUniform, l2Normalize, layerNorm, logSoftmax, softmax,
} from './nn.ts';
import { evaluate, expectClose } from './testing.ts';
import { cast } from './elementwise.ts';

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
  it("applyDropout, the encoder's bool-mask form (float64)", async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [sym, { name: 'seed', dims: [], dtype: 'float32', data: Float32Array.from([1234]) }],
      build: ({ x, seed }) => applyDropout(x, dropped(hashRowKeys(x, seed, 7), hashColumnKeys(x), 0.3), 0.3),
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

  it("the encoder's bool-mask form (applyDropout) gives dropout's values and gradients", async () => {
    const g = new Graph('two-forms');
    const xv = g.input('x', 'float32', ['B', 'T', 96]);
    const seed = g.input('seed', 'float32', []);
    const dyv = g.input('dy', 'float32', ['B', 'T', 96]);
    const y1 = dropout(xv, p, seed, 5);
    const y2 = applyDropout(xv, dropped(hashRowKeys(xv, seed, 5), hashColumnKeys(xv), p), p);
    g.output(y1, 'y1');
    g.output(y2, 'y2');
    g.output(gradients(g, y1, [xv], dyv)[0], 'dx1');
    g.output(gradients(g, y2, [xv], dyv)[0], 'dx2');
    const s = await wasm.load(toOnnx(g));
    const n = 3 * 40 * 96;
    const wave = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
    const r = await s.run({ x: { dtype: 'float32', dims: [3, 40, 96], data: wave(1) }, dy: { dtype: 'float32', dims: [3, 40, 96], data: wave(2) }, seed: { dtype: 'float32', dims: [], data: Float32Array.of(77) } });
    await s.release();
    // +0 for −0: a dropped negative x gave −0 as x·0.
    const values = (name: string) => Array.from((r[name] as HostTensor).data as Float32Array, (v) => v + 0);
    expect(values('y1').filter((v) => v === 0).length).toBeGreaterThan(0.05 * n);
    expect(values('y2')).toEqual(values('y1'));
    expect(values('dx2')).toEqual(values('dx1'));
  });

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

describe('dropout hash (row quadratic at column keys)', () => {
  const P = HASH_P;
  const f32 = (dims: number[], data?: Float32Array) => ({ dtype: 'float32' as const, dims, data: data ?? new Float32Array(dims.reduce((a, b) => a * b)) });
  const seedFeed = (s: number) => ({ dtype: 'float32' as const, dims: [], data: Float32Array.of(s) });

  /** hashUniform over x of `shape` (names = symbolic axes), run with x of `dims` and `seed`. */
  async function uniform(rt: Runtime, shape: (number | string)[], dims: number[], seed: number, stream = 0): Promise<Float32Array> {
    const g = new Graph('u');
    const xv = g.input('x', 'float32', shape);
    g.output(hashUniform(xv, g.input('seed', 'float32', []), stream), 'u');
    const s = await rt.load(toOnnx(g));
    const r = await s.run({ x: f32(dims), seed: seedFeed(seed) });
    await s.release();
    return (r.u as HostTensor).data as Float32Array;
  }

  it('column keys are a permutation of Z_P', () => {
    expect(new Set(Array.from({ length: P }, (_, j) => columnKey(j))).size).toBe(P);
  });

  it('static and symbolic axes give the same numbers, on wasm and node, each within 2.5e-4 of an (r + ½)/P', async () => {
    const dims = [3, 70, 40];
    const a = await uniform(wasm, dims, dims, 777, 5);
    const b = await uniform(wasm, ['B', 'T', 'N'], dims, 777, 5);
    const c = await uniform(node, ['B', 'T', 'N'], dims, 777, 5);
    const d = await uniform(node, [3, 'T', 40], dims, 777, 5);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).toEqual(Array.from(a));
    expect(Array.from(d)).toEqual(Array.from(a));
    const off = a.map((u) => Math.abs(u * P - 0.5 - Math.round(u * P - 0.5)) / P);
    expect(Math.max(...off)).toBeLessThan(2.5e-4);
  });

  it('uniform residues; no correlation along rows, columns or between sites (slices of another axis)', async () => {
    const [B, T, S, C] = [4, 64, 3, 384];
    const u = await uniform(node, ['B', 'T', S, C], [B, T, S, C], 2024, 0);
    const r = Array.from(u, (v) => Math.round(v * P - 0.5));
    const hist = new Array(10).fill(0);
    for (const v of r) hist[Math.floor((v * 10) / P)]++;
    for (const h of hist) expect(Math.abs(h / r.length - 0.1)).toBeLessThan(0.004); // n = 295k: σ ≈ 5.5e-4
    const p = 0.1;
    const drop = r.map((v) => v < Math.round(p * P));
    const at = (b: number, t: number, s: number, c: number) => ((b * T + t) * S + s) * C + c;
    const bothDropped = (pairs: Array<[number, number]>) => pairs.filter(([i, j]) => drop[i] && drop[j]).length / pairs.length;
    const cols: Array<[number, number]> = [];
    const rowsP: Array<[number, number]> = [];
    const sites: Array<[number, number]> = [];
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) {
      if (c + 1 < C) cols.push([at(b, t, 0, c), at(b, t, 0, c + 1)]);
      if (t + 1 < T) rowsP.push([at(b, t, 1, c), at(b, t + 1, 1, c)]);
      sites.push([at(b, t, 0, c), at(b, t, 2, c)]);
    }
    // ~98k pairs each: σ(P(both)) ≈ 3.2e-4 around p² = 0.01.
    for (const [name, pairs] of [['columns', cols], ['rows', rowsP], ['sites', sites]] as const) {
      expect(Math.abs(bothDropped(pairs) - p * p), name).toBeLessThan(0.0015);
    }
    // Whole rows: how many of the 4·64·3 rows share ≥ 20% of dropped columns beyond chance with any other row.
    const rowsDrops = Array.from({ length: B * T * S }, (_, i) => drop.slice(i * C, (i + 1) * C));
    let related = 0;
    for (let i = 0; i < rowsDrops.length; i++) for (let j = i + 1; j < rowsDrops.length; j++) {
      let both = 0;
      for (let c = 0; c < C; c++) if (rowsDrops[i][c] && rowsDrops[j][c]) both++;
      if (both > 0.01 * C + 0.2 * 0.1 * C + 8) related++;
    }
    expect(related).toBe(0);
  });

  it("a site's mask from sliced row keys equals hashUniform over the stacked shape, sliced (bert's DropoutMasks)", async () => {
    const g = new Graph('sites');
    const xv = g.input('x', 'float32', ['B', 'T', 5, 'N']);
    const seed = g.input('seed', 'float32', []);
    const p = 0.1;
    const site = 3;
    const u = squeeze(slice(hashUniform(xv, seed, 4), [site], [site + 1], [2]), [2]);
    const rowsKeys = squeeze(slice(hashRowKeys(xv, seed, 4), [site], [site + 1], [2]), [2]); // [B,T,4]
    const cols = hashColumnKeys(slice(xv, [0], [1], [2])); // [4,N]
    g.output(cast(dropped(rowsKeys, cols, p), 'float32'), 'drops');
    g.output(u, 'u');
    const s = await node.load(toOnnx(g));
    const out = await s.run({ x: f32([2, 9, 5, 33]), seed: seedFeed(31337) });
    await s.release();
    const drops = (out.drops as HostTensor).data as Float32Array;
    const uu = (out.u as HostTensor).data as Float32Array;
    expect(drops.length).toBe(2 * 9 * 33);
    expect(Array.from(drops)).toEqual(Array.from(uu, (v) => (v < Math.round(p * P) / P ? 1 : 0)));
  });
});

// The engine in real (Debian) Chromium with --enable-unsafe-webgpu (SwiftShader adapter): the same
// graphs on onnxruntime-web's WASM EP and WebGPU EP in one page give the same numbers (and the
// PyTorch reference's), no node of a training graph is placed on the CPU in a WebGPU session, and
// weights stay on the GPU across runs. Graphs are built and serialized here in Node; the page
// (tests/e2e/harness/, built into a temp folder) only runs them through the app's createRuntime.
// SwiftShader runs WebGPU at CPU speed, so only tiny graphs.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradients } from '../../src/lib/autodiff/grad.ts';
import { Graph } from '../../src/lib/graph/graph.ts';
import { toOnnx } from '../../src/lib/graph/onnx.ts';
import { BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { parameterSet } from '../../src/lib/models/parameter-set.ts';
import { buildEncodeGradGraph, buildEncodeGraph, buildTrainStepGraph } from '../../src/lib/models/graphs.ts';
import { loadSentenceModelFromDir } from '../../src/lib/models/sentence-model-node.ts';
import type { SentenceModel } from '../../src/lib/models/sentence-model.ts';
import { mul, neg } from '../../src/lib/ops/elementwise.ts';
import { linear, matmul } from '../../src/lib/ops/matmul.ts';
import { dropout, gelu, layerNorm, logSoftmax, softmax } from '../../src/lib/ops/nn.ts';
import { reduceMean, reduceSum } from '../../src/lib/ops/reduce.ts';
import { gather, transpose } from '../../src/lib/ops/shape.ts';
import type { HostTensor, RuntimeKind } from '../../src/lib/runtime/types.ts';
import type { PlacedNode } from '../../src/lib/runtime/webgpu-placement.ts';
import { ensureFixtures } from '../fixtures/fixtures.ts';
import { compareTensors, formatDiff, loadReference, type Reference } from '../reference/load-reference.ts';
import { launchBrowser, type BrowserSession } from './browser.ts';
import { type HarnessPage, openHarness, waitForHarness } from './harness/open.ts';
import { fromBase64, fromWire, toBase64, toWire, type Harness, type WireRun, type WireTensor } from './harness/wire.ts';

let harness: HarnessPage;
let session: BrowserSession;

beforeAll(async () => {
  harness = await openHarness({ webgpu: true });
  session = harness.session;
}, 180_000);

afterAll(async () => {
  await harness?.close();
});

const call: HarnessPage['call'] = (method, ...args) => harness.call(method, ...args);

/** Nodes a WebGPU session places on onnxruntime's CPU EP (Memcpy nodes left out). */
export async function cpuNodesOf(model: Uint8Array): Promise<PlacedNode[]> {
  return (await call('placement', toBase64(model))).cpu;
}

const floats = (t: WireTensor) => Array.from(fromWire(t).data as Float32Array);

function maxRelDiff(a: number[], b: number[], floor = 1e-3): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]) / Math.max(floor, Math.abs(b[i]))), 0);
}

async function runBoth(model: Uint8Array, feeds: Record<string, HostTensor>) {
  const wire = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toWire(v)]));
  const out = {} as Record<RuntimeKind, WireRun>;
  for (const kind of ['wasm', 'webgpu'] as const) {
    const id = await call('load', kind, toBase64(model));
    out[kind] = await call('run', id, wire);
    await call('release', id);
  }
  return out;
}

function opTrainingGraph(): Uint8Array {
  const g = new Graph('ops');
  const ids = g.input('ids', 'int64', ['B', 'T', 1]);
  const table = g.input('table', 'float32', [11, 8]);
  const w = g.input('w', 'float32', [8, 8]);
  const b = g.input('b', 'float32', [8]);
  const gamma = g.input('gamma', 'float32', [8]);
  const beta = g.input('beta', 'float32', [8]);
  const seed = g.input('seed', 'float32', []);
  const h = dropout(gelu(linear(gather(table, ids), w, b)), 0.1, seed, 0); // [B,T,8]
  const n = layerNorm(h, gamma, beta, 1e-12);
  const ctx = matmul(softmax(matmul(n, transpose(n, [0, 2, 1]))), n);
  const lp = logSoftmax(ctx);
  const loss = neg(reduceMean(reduceSum(mul(lp, lp), [2]), [0, 1]));
  g.output(loss, 'loss');
  for (const dw of gradients(g, loss, [table, w, b, gamma, beta])) g.output(dw);
  return toOnnx(g);
}

const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + k) * 0.5);

describe('op-level training graph (gather, linear, gelu, dropout, layerNorm, softmax, logSoftmax + gradients)', () => {
  const model = opTrainingGraph();

  it('places no node on the CPU in a WebGPU session', async () => {
    const cpu = await cpuNodesOf(model);
    console.log('op graph CPU nodes:', JSON.stringify(cpu));
    expect(cpu).toEqual([]);
  });

  it('gives the same loss and gradients on WASM and WebGPU (1e-4 relative)', async () => {
    const out = await runBoth(model, {
      ids: { dtype: 'int64', dims: [2, 5, 1], data: BigInt64Array.from({ length: 10 }, (_, i) => BigInt((i * 7) % 11)) },
      table: { dtype: 'float32', dims: [11, 8], data: wave(88, 1) },
      w: { dtype: 'float32', dims: [8, 8], data: wave(64, 2) },
      b: { dtype: 'float32', dims: [8], data: wave(8, 3) },
      gamma: { dtype: 'float32', dims: [8], data: wave(8, 4) },
      beta: { dtype: 'float32', dims: [8], data: wave(8, 5) },
      seed: { dtype: 'float32', dims: [], data: Float32Array.of(1234) },
    });
    const names = Object.keys(out.wasm.host);
    expect(names).toEqual(['loss', 'grad/table', 'grad/w', 'grad/b', 'grad/gamma', 'grad/beta']);
    for (const name of names) {
      const d = maxRelDiff(floats(out.webgpu.host[name]), floats(out.wasm.host[name]));
      console.log(`op graph ${name}: max rel diff WebGPU vs WASM ${d.toExponential(2)}`);
      expect(d, name).toBeLessThan(1e-4);
    }
    // ScatterND-add touched only the rows of ids that occur.
    const dtable = floats(out.webgpu.host['grad/table']);
    const used = new Set(Array.from({ length: 10 }, (_, i) => (i * 7) % 11));
    const unused = [...Array(11).keys()].find((r) => !used.has(r))!;
    expect(dtable.slice(unused * 8, unused * 8 + 8)).toEqual(Array(8).fill(0));
  });
});

describe('tiny BERT graphs (fixture tiny-bge) on WASM and WebGPU', () => {
  let model: SentenceModel;
  let ref: Reference;
  let feeds: Record<string, HostTensor>;
  let spec: Parameters<typeof buildEncodeGraph>[0];

  beforeAll(() => {
    model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
    ref = loadReference('tiny-bge');
    spec = { config: model.config, pooling: model.pooling, normalize: model.normalize, parameters: parameterSet(model.config) };
    const { batch: B, tokens: T } = ref;
    feeds = {
      input_ids: { dtype: 'int64', dims: [B, T, 1], data: ref.inputIds },
      attention_mask: { dtype: 'float32', dims: [B, T], data: ref.attentionMask },
      position_ids: { dtype: 'int64', dims: [1, T, 1], data: BigInt64Array.from({ length: T }, (_, i) => BigInt(i)) },
    };
  });

  const weightFeeds = () =>
    Object.fromEntries(spec.parameters.inputs.map((p) => {
      const w = model.weights.get(p.name)!;
      return [p.name, { dtype: 'float32', dims: w.shape, data: w.data } as HostTensor];
    }));

  it('places no node of encode, encode_grad (train mode) or the fused train step on the CPU', async () => {
    const graphs = {
      encode: buildEncodeGraph(spec, { train: true }),
      encode_grad: buildEncodeGradGraph(spec, { train: true }),
      train_step: buildTrainStepGraph(spec, (e, g) => reduceSum(mul(e, g.input('r', 'float32', ['B', spec.config.hiddenSize])), [0, 1]), { train: true }),
      // LoRA on every linear layer, with the adapters' input dropout.
      lora_encode_grad: buildEncodeGradGraph({ ...spec, parameters: parameterSet(model.config, { mode: 'lora', r: 4, alpha: 8, dropout: 0.1, targetModules: 'all-linear' }) }, { train: true }),
    };
    const cpu: Record<string, PlacedNode[]> = {};
    for (const [name, g] of Object.entries(graphs)) {
      cpu[name] = await cpuNodesOf(toOnnx(g));
      console.log(`${name} (${g.nodes.length} nodes) CPU nodes:`, JSON.stringify(cpu[name]));
    }
    expect(cpu).toEqual({ encode: [], encode_grad: [], train_step: [], lora_encode_grad: [] });
  });

  it('encode: embeddings equal on WASM and WebGPU (1e-4 relative) and to PyTorch (1e-4 absolute)', async () => {
    const out = await runBoth(toOnnx(buildEncodeGraph(spec)), { ...feeds, ...weightFeeds() });
    const gpu = floats(out.webgpu.host.embeddings);
    const d = maxRelDiff(gpu, floats(out.wasm.host.embeddings));
    console.log(`encode embeddings: max rel diff WebGPU vs WASM ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-4);
    const vsRef = compareTensors({ shape: out.webgpu.host.embeddings.dims, data: gpu }, ref.get('embeddings'), { rtol: 0, atol: 1e-4 });
    console.log(formatDiff('WebGPU embeddings vs PyTorch', vsRef));
    expect(vsRef.ok).toBe(true);
  });

  it('encode_grad: every weight gradient equal on WASM and WebGPU and to PyTorch; weights stay on the GPU', async () => {
    const model_ = toOnnx(buildEncodeGradGraph(spec));
    const upstream: HostTensor = { dtype: 'float32', dims: [ref.batch, ref.hidden], data: ref.upstream };
    const wasm = await call('load', 'wasm', toBase64(model_));
    const wasmOut = await call('run', wasm, Object.fromEntries(Object.entries({ ...feeds, ...weightFeeds(), upstream }).map(([k, v]) => [k, toWire(v)])));
    await call('release', wasm);

    // WebGPU: weights uploaded once; each run sends only ids, mask, positions and upstream.
    const before = await call('uploadedBytes', 'webgpu');
    const weightIds: Record<string, string> = {};
    let weightBytes = 0;
    for (const [name, t] of Object.entries(weightFeeds())) {
      weightIds[name] = await call('upload', 'webgpu', toWire(t));
      weightBytes += t.data.byteLength;
    }
    expect((await call('uploadedBytes', 'webgpu')) - before).toBe(weightBytes);
    const gpu = await call('load', 'webgpu', toBase64(model_));
    const hostFeeds = Object.fromEntries(Object.entries({ ...feeds, upstream }).map(([k, v]) => [k, toWire(v)]));
    const gradNames = ref.gradNames.map((p) => `grad/${p}`);
    const first = await call('run', gpu, { ...hostFeeds, ...weightIds }, gradNames, gradNames);
    const second = await call('run', gpu, { ...hostFeeds, ...weightIds }, gradNames, gradNames);
    expect((await call('uploadedBytes', 'webgpu')) - before).toBe(weightBytes); // no re-upload
    expect(Object.keys(first.host)).toEqual([]); // gradients stayed on the device
    expect(Object.keys(second.device).sort()).toEqual([...gradNames].sort());
    console.log(`encode_grad on WebGPU: first run ${first.ms.toFixed(0)} ms, second ${second.ms.toFixed(0)} ms`);

    // Tolerance per gradient tensor, as src/lib/models/bert.test.ts: max|ours − ref| ≤ 1e-4 · scale,
    // scale = max(max|ref|, 1e-3 · G), G the largest |ref| of all gradients (the floor covers the
    // attention key biases, zero analytically, where float32 leaves ~1e-8 of noise).
    const maxAbs = (x: ArrayLike<number>) => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const G = Math.max(...gradNames.map((n) => maxAbs(ref.get(n).data as Float32Array)));
    let worstVsWasm = { name: '', d: 0 };
    for (const name of gradNames) {
      const a = floats(await call('download', 'webgpu', first.device[name]));
      const b = floats(await call('download', 'webgpu', second.device[name]));
      expect(b, `${name}: second run differs`).toEqual(a);
      const r = ref.get(name);
      const scale = Math.max(maxAbs(r.data as Float32Array), 1e-3 * G);
      const w = floats(wasmOut.host[name]);
      const d = a.reduce((m, x, i) => Math.max(m, Math.abs(x - w[i])), 0) / scale;
      if (d > worstVsWasm.d) worstVsWasm = { name, d };
      const vsRef = compareTensors({ shape: r.shape, data: a }, r as { shape: number[]; data: Float32Array }, { rtol: 0, atol: 1e-4 * scale });
      expect(vsRef.ok, formatDiff(`${name} WebGPU vs PyTorch`, vsRef)).toBe(true);
      await call('dispose', 'webgpu', first.device[name]);
      await call('dispose', 'webgpu', second.device[name]);
    }
    console.log(`encode_grad: largest scaled diff WebGPU vs WASM ${worstVsWasm.d.toExponential(2)} (${worstVsWasm.name})`);
    expect(worstVsWasm.d).toBeLessThan(1e-4);
    await call('release', gpu);
    for (const id of Object.values(weightIds)) await call('dispose', 'webgpu', id);
  });
});

describe('training on WebGPU (SwiftShader) with the optimizer on the device', () => {
  let files: Record<string, string>;
  let examples: { anchor: string; positive: string; row: number }[];
  // 48 rows, batch 8: 3 updates an epoch of 2 micro-batches; maxGradNorm 0.5 clips every update.
  const config = {
    model: { id: 'tiny' }, data: { source: 'qa-tiny' }, batchSize: 8, accumulation: 2, maxSteps: 5, lr: 1e-3, warmupSteps: 1, weightDecay: 0.01,
    maxGradNorm: 0.5, dropout: false, gradCache: 'off', loss: { type: 'mnrl', matryoshka: { dims: [32, 16] } }, seed: 3, sampler: 'batch',
  };

  beforeAll(() => {
    const f = ensureFixtures();
    files = {};
    for (const name of readdirSync(f.tinyBge, { recursive: true }) as string[]) {
      const p = join(f.tinyBge, name);
      if (statSync(p).isFile()) files[name.split(sep).join('/')] = toBase64(new Uint8Array(readFileSync(p)));
    }
    examples = readFileSync(join(f.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').slice(0, 48)
      .map((l, row) => ({ anchor: JSON.parse(l).question, positive: JSON.parse(l).doc, row }));
  });

  /** The worst per-tensor max|Δ| / max|host| (the zero-gradient key biases held absolutely, as updater.test.ts). */
  function worstWeight(host: Record<string, string>, device: Record<string, string>) {
    let worst = { name: '', err: 0 };
    for (const [name, b64] of Object.entries(host)) {
      const a = new Float32Array(fromBase64(b64).buffer);
      const b = new Float32Array(fromBase64(device[name]).buffer);
      let d = 0;
      let m = 0;
      for (let i = 0; i < a.length; i++) (d = Math.max(d, Math.abs(a[i] - b[i]))), (m = Math.max(m, Math.abs(a[i])));
      if (/attention\.self\.key\.bias$/.test(name)) expect(d, name).toBeLessThanOrEqual(0.5 * 1e-3);
      else if (d / m > worst.err) worst = { name, err: d / m };
    }
    return worst;
  }

  it('the device update (our WGSL AdamW) equals the host AdamW (1e-6 per tensor, 5 updates, accumulation 2, clipping) and moves only scalars', async () => {
    const host = await call('train', files, examples, config, 'webgpu', 'host');
    const device = await call('train', files, examples, config, 'webgpu', 'device');
    expect([host.updater, device.updater]).toEqual(['host', 'device']);
    expect(host.steps.every((s) => s.gradNorm > 0.5)).toBe(true);
    for (let i = 0; i < 5; i++) expect(Math.abs(device.steps[i].gradNorm - host.steps[i].gradNorm)).toBeLessThanOrEqual(1e-6 * host.steps[i].gradNorm);
    const weightBytes = Object.values(host.weights).reduce((n, b64) => n + fromBase64(b64).byteLength, 0);
    const worst = worstWeight(host.weights, device.weights);
    console.log(`WebGPU: device vs host AdamW after 5 updates, worst ${worst.name} ${worst.err.toExponential(2)}; per update the host path moved ${JSON.stringify(host.steps[0].updateTraffic)} bytes, the device path ${JSON.stringify(device.steps[0].updateTraffic)} (weights ${weightBytes} bytes)`);
    expect(worst.err).toBeLessThanOrEqual(1e-6);
    // The 48-byte uniform in (AdamW's scalars, seed, step), one Σg² out; the host path moves every gradient and weight.
    for (const s of device.steps) expect(s.updateTraffic).toEqual({ toDevice: 48, toHost: 4 });
    for (const s of host.steps) expect(s.updateTraffic).toEqual({ toDevice: weightBytes, toHost: 0 });
  }, 300_000);

  it('LoRA (all-linear, r 4, with its dropout): the device update equals the host one (1e-6 of each tensor’s scale; one element per tensor within 1e-5), updates only the adapters and moves only scalars; the frozen model is never re-uploaded', async () => {
    const lora = { ...config, dropout: true, trainable: { mode: 'lora', r: 4, alpha: 8, dropout: 0.1, targetModules: 'all-linear' } };
    const host = await call('train', files, examples, lora, 'webgpu', 'host');
    const device = await call('train', files, examples, lora, 'webgpu', 'device');
    expect([host.updater, device.updater]).toEqual(['host', 'device']);
    // Only the encoder layers' adapters train (2 layers × 6 linear layers × A, B); the pooler's get no gradient.
    expect(Object.keys(device.weights).sort()).toEqual(Object.keys(host.weights).sort());
    expect(Object.keys(device.weights)).toHaveLength(2 * 6 * 2);
    expect(Object.keys(device.weights).every((n) => /^encoder\.layer\.\d\..*\.lora_[AB]\.weight$/.test(n))).toBe(true);
    for (let i = 0; i < 5; i++) expect(Math.abs(device.steps[i].gradNorm - host.steps[i].gradNorm)).toBeLessThanOrEqual(1e-6 * host.steps[i].gradNorm);
    const adapterBytes = Object.values(host.weights).reduce((n, b64) => n + fromBase64(b64).byteLength, 0);
    // B starts at zero, so its scale after 5 updates is only ~2.5·lr and a few float32 ulps of an
    // element read as 1e-6 of it: measured, one element per B tensor (a near-zero gradient, where
    // Adam's m/√v is most sensitive to the updaters' rounding) sits at up to 1.3e-6. At most one
    // element per tensor may exceed 1e-6 of the tensor's scale, within 1e-5; everything else ≤ 1e-6.
    let worst = { name: '', err: 0 };
    const off: string[] = [];
    for (const [name, b64] of Object.entries(host.weights)) {
      const a = new Float32Array(fromBase64(b64).buffer);
      const b = new Float32Array(fromBase64(device.weights[name]).buffer);
      const m = Math.max(...a.map(Math.abs));
      const rel = [...a.keys()].map((i) => Math.abs(a[i] - b[i]) / m).sort((x, y) => y - x);
      if (rel[0] > 1e-6) off.push(`${name} ${rel[0].toExponential(2)}`);
      expect(rel[0], name).toBeLessThanOrEqual(1e-5);
      if (rel[1] > worst.err) worst = { name, err: rel[1] };
    }
    console.log(`WebGPU LoRA: device vs host AdamW after 5 updates, worst ${worst.name} ${worst.err.toExponential(2)} (one element per tensor over 1e-6: ${off.join(', ') || 'none'}); per update the host path moved ${JSON.stringify(host.steps[0].updateTraffic)} bytes (the adapters, ${adapterBytes} bytes), the device path ${JSON.stringify(device.steps[0].updateTraffic)}`);
    expect(worst.err).toBeLessThanOrEqual(1e-6);
    for (const s of device.steps) expect(s.updateTraffic).toEqual({ toDevice: 48, toHost: 4 });
    // The host path uploads the new adapters and nothing else: the frozen weights stay where they were uploaded once.
    for (const s of host.steps) expect(s.updateTraffic).toEqual({ toDevice: adapterBytes, toHost: 0 });
  }, 300_000);

  it('the GPU updater equals the host one on a tensor past a 1-D dispatch (17 M elements), odd and one-element tensors, float32 and bfloat16 moments', async () => {
    // 65,535 workgroups × 256 = 16,776,960 elements is the most a 1-D grid reaches: the first tensor takes the 2-D grid.
    const sizes = [17_000_001, 33, 1];
    for (const moments of ['float32', 'bfloat16'] as const) {
      const r = await call('updaterParity', { sizes, moments, updates: 3 });
      console.log(`GPU vs host updater, ${moments} moments, 3 updates: norms ${JSON.stringify(r.norms)}; tensors ${JSON.stringify(r.tensors)}`);
      for (const { host, gpu } of r.norms) {
        expect(host).toBeGreaterThan(0.5); // clipping active
        expect(Math.abs(gpu - host)).toBeLessThanOrEqual(1e-5 * host); // Σg² in float32 partial sums on the GPU, double on the host
      }
      for (const t of r.tensors) {
        if (moments === 'float32') {
          expect(t.weightErr, `weights of ${t.n}`).toBeLessThanOrEqual(1e-6);
          expect(t.momentErr, `moments of ${t.n}`).toBeLessThanOrEqual(1e-5);
        } else {
          // A moment one float32 ulp off may round to the other bfloat16 (0.4 % away) and move its
          // weight's next step by that much of lr: 1e-4 of max|w| bounds a few such elements.
          expect(t.momentsIdentical, `moments of ${t.n}`).toBeGreaterThanOrEqual(0.99);
          expect(t.weightErr, `weights of ${t.n}`).toBeLessThanOrEqual(1e-4);
        }
      }
    }
  }, 300_000);

  it('bfloat16 moments on the GPU round as the host does (the same hash): nearly every moment bit-identical to the host bfloat16 run', async () => {
    const bf16 = { ...config, adamMoments: 'bfloat16' };
    const host = await call('train', files, examples, bf16, 'webgpu', 'host');
    const device = await call('train', files, examples, bf16, 'webgpu', 'device');
    // Stochastic rounding: a moment one float32 ulp off may round the other way, so count bit-identical bfloat16 moments.
    const identical = (a: Record<string, string>, b: Record<string, string>) => {
      let same = 0;
      let all = 0;
      for (const [name, b64] of Object.entries(a)) {
        const x = new Uint16Array(fromBase64(b64).buffer);
        const y = new Uint16Array(fromBase64(b[name]).buffer);
        expect(y.length, name).toBe(x.length);
        for (let i = 0; i < x.length; i++) same += x[i] === y[i] ? 1 : 0;
        all += x.length;
      }
      return same / all;
    };
    // The share can tell: the host run with seed 4 (another rounding hash) had 54.9 % alike when this was written.
    const devShare = identical(host.moments, device.moments);
    const worst = worstWeight(host.weights, device.weights);
    console.log(`WebGPU bfloat16 moments after 5 updates: ${(100 * devShare).toFixed(2)} % bit-identical to the host's; worst weight ${worst.name} ${worst.err.toExponential(2)}`);
    expect(Object.keys(device.moments).length).toBe(2 * Object.keys(device.weights).length);
    expect(devShare).toBeGreaterThanOrEqual(0.99);
    expect(worst.err).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});

describe("the WebGPU bench's page side (npm run bench -- --webgpu)", () => {
  it('counts the GPU buffers of a train step (weights, moments and gradient sum at least) and the bytes each step and update move', async () => {
    const config = { ...BGE_SMALL_CONFIG, numLayers: 1, hiddenSize: 32, numHeads: 2, intermediateSize: 64, vocabSize: 200 };
    const P = parameterSet(config).trainedSize;
    const r = await call('benchTrainStep', { kind: 'webgpu', config, path: 'fused', mini: 2, batch: 2, seq: 8, warmup: 1, repeats: 1 });
    console.log(`bench train step on SwiftShader: ${JSON.stringify({ ...r, P })}`);
    expect(r.stepS).toHaveLength(1);
    expect(r.stepS[0]).toBeGreaterThan(0);
    // The device updater keeps the weights (4P), both AdamW moments (8P) and the gradient sum (4P) on the GPU.
    expect(r.gpuPeakBytes).toBeGreaterThanOrEqual(16 * P);
    expect(r.gpuPeakBytes).toBeGreaterThanOrEqual(r.gpuAfterBytes!);
    expect(r.updateTraffic).toEqual({ toDevice: 48, toHost: 4 });
    // A step also feeds the token ids of 2 + 2 texts × 8 tokens (int64) and their masks, and reads the loss.
    expect(r.stepTraffic!.toDevice).toBeGreaterThanOrEqual(40 + 4 * 8 * 8);
    expect(r.stepTraffic!.toHost).toBeGreaterThanOrEqual(4 + 4);
    const enc = await call('benchEncode', { kind: 'webgpu', config, batch: 2, seq: 8, warmup: 1, repeats: 2 });
    expect(enc.runMs).toHaveLength(2);
    expect(enc.runMs.every((ms) => ms > 0)).toBe(true);
  }, 300_000);
});

describe('IndexedDB store', () => {
  it('stores a value given in parts as 32 MiB chunks, reads it back whole, and deletes every chunk', async () => {
    // 70 MiB in three parts that straddle chunk edges: chunks of 32, 32 and 6 MiB.
    const MiB = 2 ** 20;
    const r = await call('storeRoundTrip', 'run/x/checkpoints/c.safetensors', [8, 40 * MiB - 8, 30 * MiB]);
    expect(r).toEqual({ equal: true, size: 70 * MiB, listed: [70 * MiB], rawValues: 3, afterDelete: 0 });
    // A small value of one part is one value, as before.
    expect(await call('storeRoundTrip', 'model/a@main/config.json', [100])).toEqual({ equal: true, size: 100, listed: [100], rawValues: 1, afterDelete: 0 });
  }, 120_000);

  it('an overwrite interrupted at any step leaves the old value (or, once committed, the new one); what it left is counted, then swept at the next start', async () => {
    const chunkBytes = 1000;
    const chunksOf = (parts: number[]) => {
      const total = parts.reduce((a, b) => a + b, 0);
      if (parts.length === 1 && total <= chunkBytes) return [total];
      return Array.from({ length: Math.ceil(total / chunkBytes) }, (_, i) => Math.min(chunkBytes, total - i * chunkBytes));
    };
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    // Multi-chunk over multi-chunk, single over multi, multi over single.
    for (const [oldParts, newParts] of [[[2500], [1200, 2300]], [[500], [2500]], [[2500], [500]]]) {
      const oldChunks = chunksOf(oldParts);
      const newChunks = chunksOf(newParts);
      const commitAt = newChunks.length;
      const allSteps = [...newChunks.map((_, i) => `data${i}`), 'commit', 'drop'];
      for (let failFrom = 0; failFrom <= allSteps.length; failFrom++) {
        const r = await call('storeInterrupt', { chunkBytes, oldParts, newParts, failFrom });
        const what = `${oldParts} -> ${newParts}, failing from step ${failFrom}`;
        expect(r.steps, what).toEqual(allSteps.slice(0, failFrom));
        const committed = failFrom > commitAt;
        expect(r.reads, what).toBe(committed ? 'new' : 'old');
        // Before the commit the write fails (and says why); after it, a failed drop of the old bytes is the sweep's.
        if (committed) expect(r.error, what).toBeNull();
        else expect(r.error, what).toMatch(/injected: the tab closed before (data|commit)/);
        const left = committed ? (failFrom === commitAt + 1 ? sum(oldChunks) : 0) : sum(newChunks.slice(0, failFrom));
        expect(r.counted, what).toEqual(left ? [1, left] : null);
        expect(r.swept, what).toEqual(left ? [1, left] : [0, 0]);
        expect(r.countedAfter, what).toBeNull();
        expect(r.rawKeysAfter, what).toBe(committed ? newChunks.length : oldChunks.length);
      }
    }
  }, 120_000);

  it("a sweep in another tab leaves a write in progress alone (its Web Lock), and the write commits whole", async () => {
    expect(await call('storeSweepBesideWrite')).toEqual({
      countedDuringWrite: 0, sweptDuringWrite: 0, value: [2, 2, 2, 2, 2, 2, 2, 2, 2], unreferencedAfter: 0, rawKeysAfter: 3,
    });
  });
});

describe('the engine worker', () => {
  it('runs its self-test on WebGPU when an adapter exists and says which EP and adapter', async () => {
    const report = await call('workerSelfTest');
    console.log('worker self-test:', JSON.stringify(report));
    expect(report).toMatchObject({ kind: 'webgpu', fallbackReason: null, ok: true, expected: [9, 14, 21, 30] });
    expect(report.backend).toContain('WebGPU EP (native C++ EP)');
    expect(report.adapter).toContain('swiftshader');
  });

  it('falls back to threaded WASM without an adapter, and says why', async () => {
    const plain = await launchBrowser({ webgpu: false });
    try {
      await waitForHarness(plain, harness.server.url);
      const report = (await plain.page.evaluate(() =>
        (globalThis as unknown as { harness: Harness }).harness.workerSelfTest(),
      )) as Awaited<ReturnType<Harness['workerSelfTest']>>;
      console.log('worker self-test without WebGPU:', JSON.stringify(report));
      expect(report).toMatchObject({ kind: 'wasm', ok: true, result: [9, 14, 21, 30] });
      expect(report.fallbackReason).toMatch(/requestAdapter\(\) returned null/);
      expect(report.threads).toBeGreaterThan(1);
      expect(plain.errors).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});

it('the build holds one onnxruntime-web wasm binary of the WebGPU build, which the WASM kind also uses', async () => {
  const files = await readdir(join(harness.dir, 'assets'));
  expect(files.filter((f) => /^ort-wasm.*\.wasm$/.test(f)).map((f) => f.replace(/-[\w-]{8}\.wasm$/, '.wasm'))).toEqual([
    'ort-wasm-simd-threaded.asyncify.wasm',
  ]);
});

it('the page saw no console errors (not even onnxruntime\'s notice of nodes placed on the CPU)', () => {
  expect(session.errors).toEqual([]);
});

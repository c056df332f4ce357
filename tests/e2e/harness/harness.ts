// The engine test page's script: exposes `window.harness`, through which the browser tests (Node
// side, Playwright) create runtimes with the app's own createRuntime, run serialized graphs built
// in Node, list the nodes a WebGPU session places on the CPU, start the app's engine worker, and
// time the WebGPU bench's train steps and encodes with the page's GPU buffer bytes counted
// (tests/bench/webgpu-bench.ts, memory-fit.ts). Tensors cross page.evaluate as base64 strings.
// Not part of the app: built into a temp folder by tests/e2e/harness/build.ts.

import { createRuntime, isDeviceTensor, type DeviceTensor, type HostTensor, type Runtime, type RuntimeKind } from '../../../src/lib/runtime/index.ts';
import * as Comlink from 'comlink';
import { createStore, keys } from 'idb-keyval';
import { IdbStore } from '../../../src/lib/store/idb-store.ts';
import { storeSummary, UNREFERENCED_GROUP } from '../../../src/lib/store/store.ts';
import type { Example } from '../../../src/lib/data/validate.ts';
import { loadSentenceModel } from '../../../src/lib/models/sentence-model.ts';
import { loadTokenizer, tokenizerFilesFromMap } from '../../../src/lib/tokenize/tokenizer.ts';
import { parseRunConfig } from '../../../src/lib/train/run-config.ts';
import { readCheckpoint } from '../../../src/lib/train/checkpoint.ts';
import { Trainer } from '../../../src/lib/train/trainer.ts';
import { GpuUpdater } from '../../../src/lib/train/gpu-updater.ts';
import type { MomentData } from '../../../src/lib/train/optimizer.ts';
import { bf16BitsToF32 } from '../../../src/lib/models/safetensors.ts';
import { HostUpdater, type Updater, type UpdaterOptions } from '../../../src/lib/train/updater.ts';
import type { EngineWorkerApi, WorkerRunEvent } from '../../../workers/api.ts';
import type { GpuBufferCacheMode, WebGpuRuntime } from '../../../src/lib/runtime/webgpu-runtime.ts';
import type { WireTensor, Harness, WireRun } from './wire.ts';
import { installGpuMemoryCounter } from '../../../src/lib/runtime/gpu-memory.ts';
import { probeBackend, probeEnvFromGlobals } from '../../../workers/backend-probe.ts';
import { measureEncode, measureTrainStep } from '../../bench/webgpu-steps.ts';
import { fromWire, toWire, fromBase64, toBase64 } from './wire.ts';

// Before any runtime makes a GPU buffer, so the WebGPU bench's peak counts every one of them.
const gpuMemory = 'GPUDevice' in globalThis ? installGpuMemoryCounter() : null;

const runtimes = new Map<string, Runtime>();
const device = new Map<string, DeviceTensor>();
let nextId = 0;

const runtimeKey = (kind: RuntimeKind, threads?: number, gpuBufferCache?: GpuBufferCacheMode) => `${kind}/${threads ?? ''}/${gpuBufferCache ?? ''}`;

async function runtime(kind: RuntimeKind, threads?: number, gpuBufferCache?: GpuBufferCacheMode): Promise<Runtime> {
  const key = runtimeKey(kind, threads, gpuBufferCache);
  let r = runtimes.get(key);
  if (!r) {
    r = await createRuntime(kind, { ...(threads === undefined ? {} : { threads }), ...(gpuBufferCache ? { gpuBufferCache } : {}) });
    runtimes.set(key, r);
  }
  return r;
}

const sessions = new Map<string, Awaited<ReturnType<Runtime['load']>>>();

const harness: Harness = {
  workerSelfTest: () => Promise.reject(new Error('set below')),
  storeRoundTrip: () => Promise.reject(new Error('set below')),
  storeInterrupt: () => Promise.reject(new Error('set below')),
  storeSweepBesideWrite: () => Promise.reject(new Error('set below')),
  train: () => Promise.reject(new Error('set below')),
  workerCall: () => Promise.reject(new Error('set below')),
  workerTrain: () => Promise.reject(new Error('set below')),
  probe: () => Promise.reject(new Error('set below')),
  benchTrainStep: () => Promise.reject(new Error('set below')),
  benchEncode: () => Promise.reject(new Error('set below')),
  updaterParity: () => Promise.reject(new Error('set below')),
  async describe(kind, threads) {
    return (await runtime(kind, threads)).describe();
  },
  async load(kind, modelB64, threads) {
    const r = await runtime(kind, threads);
    const id = `s${nextId++}`;
    sessions.set(id, await r.load(fromBase64(modelB64)));
    return id;
  },
  async upload(kind, t, threads) {
    const r = await runtime(kind, threads);
    const id = `d${nextId++}`;
    device.set(id, await r.upload(fromWire(t)));
    return id;
  },
  async run(sessionId, feeds, outputs, keepOnDevice = []) {
    const session = sessions.get(sessionId)!;
    const actual: Record<string, HostTensor | DeviceTensor> = {};
    for (const [k, v] of Object.entries(feeds)) actual[k] = typeof v === 'string' ? device.get(v)! : fromWire(v);
    const t0 = performance.now();
    const out = await session.run(actual, outputs, { keepOnDevice });
    const ms = performance.now() - t0;
    const result: WireRun = { ms, host: {}, device: {} };
    for (const [k, v] of Object.entries(out)) {
      if (isDeviceTensor(v)) {
        const id = `d${nextId++}`;
        device.set(id, v);
        result.device[k] = id;
      } else result.host[k] = toWire(v);
    }
    return result;
  },
  async download(kind, id, threads) {
    return toWire(await (await runtime(kind, threads)).download(device.get(id)!));
  },
  async dispose(kind, id, threads) {
    (await runtime(kind, threads)).dispose(device.get(id)!);
    device.delete(id);
  },
  async uploadedBytes(kind) {
    return (runtimes.get(runtimeKey(kind)) as unknown as { uploadedBytes?: number })?.uploadedBytes ?? -1;
  },
  async placement(modelB64) {
    const r = (await runtime('webgpu')) as unknown as WebGpuRuntime;
    return r.placement(fromBase64(modelB64));
  },
  async release(sessionId) {
    await sessions.get(sessionId)?.release();
    sessions.delete(sessionId);
  },
};

harness.train = async (files, examples, config, kind, updater) => {
  const map = new Map(Object.entries(files).map(([p, b64]) => [p, fromBase64(b64)]));
  const model = loadSentenceModel(map);
  const tokenizer = loadTokenizer(tokenizerFilesFromMap(map, 'model'));
  const t = new Trainer({ runtime: await runtime(kind), model, tokenizer, config: parseRunConfig(config), train: examples as Example[], updater });
  await t.run();
  const b64 = (w: ArrayBufferView) => toBase64(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  const weights = Object.fromEntries([...(await t.weights())].map(([n, w]) => [n, b64(w)]));
  const moments = Object.fromEntries([...readCheckpoint(await t.checkpoint()).optimizer.tensors].map(([n, m]) => [n, b64(m)]));
  const steps = t.events.filter((e) => e.type === 'step').map((e) => ({ loss: e.loss, gradNorm: e.gradNorm, updateTraffic: e.updateTraffic }));
  const used = t.updaterKind;
  await t.dispose();
  return { weights, moments, steps, updater: used! };
};

harness.updaterParity = async ({ sizes, moments, updates }) => {
  const rt = await runtime('webgpu');
  // Distinct smooth values per tensor and call, a decade apart in scale across elements.
  const wave = (n: number, k: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.sin(i * 0.37 + k * 1.3) * (1 + (i % 7)) * 1e-2;
    return a;
  };
  // One decayed weight, the rest in the no-decay group.
  const params = sizes.map((n, i) => ({ name: i === 0 ? 'w0.weight' : `p${i}.bias`, shape: [n], decay: i === 0, data: wave(n, 100 + i) }));
  const train = async (make: (o: UpdaterOptions) => Updater | Promise<Updater>) => {
    const slots = new Map<string, DeviceTensor>();
    for (const p of params) slots.set(p.name, await rt.upload({ dtype: 'float32', dims: p.shape, data: p.data }));
    const encoder = { weight: (n: string) => slots.get(n)!, setWeight: (n: string, t: DeviceTensor) => void slots.set(n, t) };
    const u = await make({ runtime: rt, encoder, params: params.map((p) => ({ ...p, data: p.data.slice() })), weightDecay: 0.01, moments, seed: 5 });
    const norms: number[] = [];
    for (let s = 0; s < updates; s++) {
      // Fresh arrays per updater: the host one frees what it has added (releaseArray).
      for (let micro = 0; micro < 2; micro++) {
        await u.accumulate(new Map(params.map((p, i) => [p.name, { dtype: 'float32' as const, dims: p.shape, data: wave(p.data.length, 2 * s + micro + 7 * i) }])), 0.5);
      }
      norms.push((await u.update(1e-3, 0.5)).gradNorm);
    }
    const weights = new Map([...(await u.weights())].map(([n, w]) => [n, w.slice()]));
    const state = await u.state();
    await u.dispose();
    for (const t of slots.values()) rt.dispose(t);
    return { norms, weights, moments: state.tensors };
  };
  const host = await train((o) => new HostUpdater(o));
  const gpu = await train((o) => GpuUpdater.create(o));
  const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let d = 0;
    let m = 0;
    for (let i = 0; i < a.length; i++) (d = Math.max(d, Math.abs(a[i] - b[i]))), (m = Math.max(m, Math.abs(a[i])));
    return m > 0 ? d / m : d;
  };
  const f32 = (t: MomentData) => (t instanceof Float32Array ? t : bf16BitsToF32(t));
  return {
    norms: host.norms.map((h, i) => ({ host: h, gpu: gpu.norms[i] })),
    tensors: params.map((p) => {
      let same = 0;
      let momentErr = 0;
      for (const k of ['adam.m', 'adam.v']) {
        const a = host.moments.get(`${k}/${p.name}`)!;
        const b = gpu.moments.get(`${k}/${p.name}`)!;
        for (let i = 0; i < a.length; i++) same += a[i] === b[i] ? 1 : 0;
        momentErr = Math.max(momentErr, relErr(f32(a), f32(b)));
      }
      return { n: p.data.length, weightErr: relErr(host.weights.get(p.name)!, gpu.weights.get(p.name)!), momentsIdentical: same / (2 * p.data.length), momentErr };
    }),
  };
};

harness.probe = () => probeBackend(probeEnvFromGlobals());

harness.benchTrainStep = async (o) => measureTrainStep(await runtime(o.kind, undefined, o.gpuBufferCache), gpuMemory, o);
harness.benchEncode = async (o) => measureEncode(await runtime(o.kind), o);

let worker: Comlink.Remote<EngineWorkerApi> | null = null;
const engineWorker = () =>
  (worker ??= Comlink.wrap<EngineWorkerApi>(new Worker(new URL('../../../workers/engine.worker.ts', import.meta.url), { type: 'module' })));

harness.workerSelfTest = () => engineWorker().selfTest();
harness.storeRoundTrip = async (key, partSizes) => {
  const store = new IdbStore({ name: 'harness' });
  let i = 0;
  const parts = partSizes.map((n) => {
    const p = new Uint8Array(n);
    for (let k = 0; k < n; k++, i++) p[k] = (i * 31) % 251;
    return p;
  });
  await store.set(key, parts);
  const back = await store.get(key);
  let equal = !!back && back.byteLength === i;
  for (let k = 0; equal && k < i; k++) if (back![k] !== (k * 31) % 251) equal = false;
  const listed = (await store.entries()).map((e) => e.size);
  const raw = () => keys(createStore('harness-data', 'values')).then((k) => k.length);
  const rawValues = await raw();
  await store.del(key);
  return { equal, size: back?.byteLength ?? -1, listed, rawValues, afterDelete: await raw() };
};
let interruptDb = 0;
/** A value of parts of these sizes, every byte `fill`. */
const valueOf = (sizes: number[], fill: number) => sizes.map((n) => new Uint8Array(n).fill(fill));
harness.storeInterrupt = async ({ chunkBytes, oldParts, newParts, failFrom }) => {
  const name = `interrupt-${interruptDb++}`;
  const steps: string[] = [];
  let failing = false;
  const first = new IdbStore({
    name, chunkBytes,
    beforeWriteStep: (s) => {
      if (!failing) return;
      if (steps.length >= failFrom) throw new Error(`injected: the tab closed before ${s.op}`);
      steps.push(s.op === 'data' ? `data${s.index}` : s.op);
    },
  });
  await first.set('k', valueOf(oldParts, 1));
  failing = true;
  const error = await first.set('k', valueOf(newParts, 2)).then(() => null, (e: Error) => e.message);
  // The next start-up: a new store over the same databases.
  const next = new IdbStore({ name, chunkBytes });
  const back = await next.get('k');
  const total = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);
  const reads = !back ? 'neither'
    : back.byteLength === total(oldParts) && back.every((b) => b === 1) ? 'old'
    : back.byteLength === total(newParts) && back.every((b) => b === 2) ? 'new' : 'neither';
  const line = async (): Promise<[number, number] | null> => {
    const g = (await storeSummary(next)).find((x) => x.group === UNREFERENCED_GROUP);
    return g ? [g.entries, g.size] : null;
  };
  const counted = await line();
  const swept = await next.sweep();
  return {
    steps, error, reads, counted, swept: [swept.entries, swept.size], countedAfter: await line(),
    rawKeysAfter: (await keys(createStore(`${name}-data`, 'values'))).length,
  };
};
harness.storeSweepBesideWrite = async () => {
  const name = 'beside-write';
  let release!: () => void;
  const atCommit = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const waiting = new Promise<void>((r) => (reached = r));
  const writer = new IdbStore({ name, chunkBytes: 4, beforeWriteStep: async (s) => { if (s.op === 'commit') { reached(); await atCommit; } } });
  const otherTab = new IdbStore({ name, chunkBytes: 4 });
  await otherTab.set('k', new Uint8Array([1, 1, 1, 1, 1]));
  const write = writer.set('k', [new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2, 2])]);
  await waiting;
  const countedDuringWrite = (await otherTab.unreferenced()).entries;
  const sweptDuringWrite = (await otherTab.sweep()).entries;
  release();
  await write;
  return {
    countedDuringWrite, sweptDuringWrite, value: [...((await otherTab.get('k')) ?? [])],
    unreferencedAfter: (await otherTab.unreferenced()).entries, rawKeysAfter: (await keys(createStore(`${name}-data`, 'values'))).length,
  };
};
harness.workerCall = async (method, args) => {
  const out = await (engineWorker()[method] as unknown as (...a: unknown[]) => Promise<unknown>)(...args);
  return out instanceof Uint8Array ? { b64: toBase64(out) } : out;
};
harness.workerTrain = async (req, cancelAt, loseDeviceAfter) => {
  const w = engineWorker();
  const events: WorkerRunEvent[] = [];
  let lost = false;
  const onEvent = Comlink.proxy((e: WorkerRunEvent) => {
    events.push(e);
    // The page's Cancel button does exactly this: one message to the worker.
    if (cancelAt && e.type === 'micro-batch' && e.step === cancelAt.step && e.microBatch === cancelAt.microBatch) void w.cancel();
    if (loseDeviceAfter !== undefined && !lost && e.type === 'checkpoint' && e.step >= loseDeviceAfter) {
      lost = true;
      void w.simulateDeviceLoss();
    }
  });
  try {
    const summary = await w.train(req, onEvent);
    return { summary, error: null, events: events.filter((e) => e.type !== 'eval-progress' && e.type !== 'start') };
  } catch (e) {
    return { summary: null, error: (e as Error).message, events: events.filter((e) => e.type !== 'eval-progress' && e.type !== 'start') };
  }
};

(globalThis as unknown as { harness: Harness }).harness = harness;
document.title = 'harness ready';

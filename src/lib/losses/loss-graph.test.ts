import { beforeAll, describe, expect, it } from 'vitest';
import { gradients } from '../autodiff/grad.ts';
import { dumpGraph } from '../graph/dump.ts';
import { Graph, type Value } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { tanh } from '../ops/elementwise.ts';
import { linear } from '../ops/matmul.ts';
import { createRuntime, type HostTensor, type Runtime, type Session } from '../runtime/index.ts';
import { Rng } from '../util/rng.ts';
import { buildLossGraph, EMBEDDINGS_GRAD_OUTPUT, embeddingLoss, LOSS_OUTPUT, SCORES_INPUT } from './loss-graph.ts';
import type { LossSpec } from './spec.ts';

let wasm: Runtime;
beforeAll(async () => {
  wasm = await createRuntime('wasm', { threads: 1 });
});

const CASES: [LossSpec, number][] = [
  [{ type: 'mnrl' }, 2],
  [{ type: 'mnrl', scale: 50 }, 4],
  [{ type: 'mnrl_symmetric' }, 3],
  [{ type: 'triplet' }, 3],
  [{ type: 'triplet', distance: 'manhattan' }, 3],
  [{ type: 'triplet', distance: 'cosine', margin: 0.3 }, 3],
  [{ type: 'cosent' }, 2],
  [{ type: 'mnrl', matryoshka: { dims: [4, 16, 8] } }, 3],
  [{ type: 'cosent', matryoshka: { dims: [16, 8], weights: [1, 0.5] } }, 2],
  [{ type: 'triplet', matryoshka: { dims: [16, 4] } }, 3],
];

/** Ops onnxruntime's WebGPU EPs place on the CPU (DESIGN: never emitted in training graphs). */
const CPU_ONLY = ['LogSoftmax', 'Sum', 'Range', 'Shape', 'Max', 'Min', 'Identity', 'Trilu', 'ScatterElements', 'Dropout', 'RandomUniformLike', 'NonZero'];

describe('buildLossGraph', () => {
  for (const [spec, k] of CASES) {
    it(`${JSON.stringify(spec)} with ${k} columns: embeddings [N,16] → loss [], grad/embeddings [N,16]; GPU-only ops, no int64 arithmetic`, () => {
      const g = buildLossGraph(spec, { columns: k, hidden: 16 });
      expect(g.inputs.map(String)).toEqual(['embeddings: f32[N,16]', ...(spec.type === 'cosent' ? ['scores: f32[N/2]'] : [])]);
      expect(g.outputs.map(String)).toEqual(['loss: f32[]', 'grad/embeddings: f32[N,16]']);
      for (const node of g.live().nodes) {
        expect(CPU_ONLY).not.toContain(node.op.type);
        for (const x of node.inputs) {
          if (x?.dtype === 'int64') expect(x.kind, `${node.name} takes a computed int64 ${x.name}`).toBe('constant');
        }
        if (node.op.type === 'Cast') expect(node.attrs.to.value, node.name).not.toBe(7);
      }
    });
  }

  it('text snapshots of two graphs', async () => {
    await expect(dumpGraph(buildLossGraph({ type: 'mnrl' }, { columns: 3, hidden: 8 }))).toMatchFileSnapshot('__snapshots__/loss_mnrl_hard_negative.txt');
    await expect(dumpGraph(buildLossGraph({ type: 'cosent', matryoshka: { dims: [8, 4] } }, { columns: 2, hidden: 8 }))).toMatchFileSnapshot(
      '__snapshots__/loss_cosent_matryoshka.txt',
    );
  });

  it('one session serves every batch size', async () => {
    const session = await wasm.load(toOnnx(buildLossGraph({ type: 'mnrl' }, { columns: 3, hidden: 4 })));
    for (const b of [2, 7]) {
      const data = Float32Array.from({ length: 3 * b * 4 }, (_, i) => Math.sin(i));
      const out = await session.run({ embeddings: { dtype: 'float32', dims: [3 * b, 4], data } });
      expect((out[EMBEDDINGS_GRAD_OUTPUT] as HostTensor).dims).toEqual([3 * b, 4]);
      expect(Number.isFinite((out[LOSS_OUTPUT] as HostTensor).data[0] as number)).toBe(true);
    }
    await session.release();
  });

  it('checks the column count against the loss type', () => {
    expect(() => buildLossGraph({ type: 'triplet' }, { columns: 2, hidden: 8 })).toThrow('triplet: takes 3 text columns, the data has 2');
    expect(() => buildLossGraph({ type: 'cosent' }, { columns: 3, hidden: 8 })).toThrow('cosent: takes 2 text columns, the data has 3');
    expect(() => buildLossGraph({ type: 'mnrl' }, { columns: 1, hidden: 8 })).toThrow('mnrl: takes 2 or more text columns, the data has 1');
    expect(() => buildLossGraph({ type: 'mnrl', matryoshka: { dims: [32] } }, { columns: 2, hidden: 8 })).toThrow(
      'loss.matryoshka.dims[0]: 32 exceeds the embedding size 8',
    );
  });
});

describe('GradCache contract: dL/dE from the loss graph, pushed through the encoder, equals the fused gradient', () => {
  // A stand-in encoder E = tanh(x·wᵀ), x [N, D], w [C, D].
  const D = 5;
  const C = 16;
  const encoder = (x: Value, w: Value) => tanh(linear(x, w));

  const cases: [LossSpec, number, number[] | null][] = [
    [{ type: 'mnrl', matryoshka: { dims: [16, 8, 4] } }, 3, null],
    [{ type: 'cosent', matryoshka: { dims: [8, 16], weights: [2, 1] } }, 2, [0.1, 0.9, 0.1, 0.4, 1]],
    [{ type: 'triplet' }, 3, null],
  ];
  for (const [spec, k, scores] of cases) {
    it(`${JSON.stringify(spec)}: fused vs loss graph + two encoder mini-batches (WASM, float32)`, async () => {
      const b = 5;
      const n = k * b;
      const rng = new Rng(7);
      const x: HostTensor = { dtype: 'float32', dims: [n, D], data: Float32Array.from({ length: n * D }, () => rng.normal()) };
      const w: HostTensor = { dtype: 'float32', dims: [C, D], data: Float32Array.from({ length: C * D }, () => rng.normal() * 0.5) };
      const extra: Record<string, HostTensor> = scores ? { [SCORES_INPUT]: { dtype: 'float32', dims: [b], data: Float32Array.from(scores) } } : {};

      // Fused: encoder → loss → dL/dw in one graph (the train_step shape).
      const fused = new Graph('fused');
      const fx = fused.input('x', 'float32', ['N', D]);
      const fw = fused.input('w', 'float32', [C, D]);
      const loss = embeddingLoss(spec, k)(encoder(fx, fw), fused);
      fused.output(loss, 'loss');
      fused.output(gradients(fused, loss, [fw])[0]);
      const sessions: Session[] = [];
      const load = async (graph: Graph) => {
        const session = await wasm.load(toOnnx(graph));
        sessions.push(session);
        return session;
      };
      const fusedOut = await (await load(fused)).run({ x, w, ...extra });

      // Cached: encode (no grad) → loss graph → encode_grad per mini-batch with upstream G, summed.
      const enc = new Graph('encode');
      enc.output(encoder(enc.input('x', 'float32', ['N', D]), enc.input('w', 'float32', [C, D])), 'embeddings');
      const e = (await (await load(enc)).run({ x, w })).embeddings as HostTensor;
      const lossOut = await (await load(buildLossGraph(spec, { columns: k, hidden: C }))).run({ embeddings: e, ...extra });
      const G = (lossOut[EMBEDDINGS_GRAD_OUTPUT] as HostTensor).data as Float32Array;
      const back = new Graph('encode_grad');
      const bw = back.input('w', 'float32', [C, D]);
      const be = encoder(back.input('x', 'float32', ['M', D]), bw);
      back.output(gradients(back, be, [bw], back.input('upstream', 'float32', ['M', C]))[0]);
      const backSession = await load(back);
      const dw = new Float64Array(C * D);
      for (const [lo, hi] of [[0, 4], [4, n]]) {
        const part = await backSession.run({
          x: { dtype: 'float32', dims: [hi - lo, D], data: (x.data as Float32Array).slice(lo * D, hi * D) },
          w,
          upstream: { dtype: 'float32', dims: [hi - lo, C], data: G.slice(lo * C, hi * C) },
        });
        ((part['grad/w'] as HostTensor).data as Float32Array).forEach((v, i) => (dw[i] += v));
      }

      const fusedLoss = Number((fusedOut.loss as HostTensor).data[0]);
      expect(Number((lossOut[LOSS_OUTPUT] as HostTensor).data[0])).toBeCloseTo(fusedLoss, 5);
      const fusedDw = (fusedOut['grad/w'] as HostTensor).data as Float32Array;
      const scale = Math.max(...fusedDw.map(Math.abs));
      const worst = Math.max(...Array.from(fusedDw, (v, i) => Math.abs(v - dw[i])));
      expect(scale).toBeGreaterThan(1e-3);
      expect(worst / scale).toBeLessThan(1e-5);
      for (const session of sessions) await session.release();
    });
  }
});

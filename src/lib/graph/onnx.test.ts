// onnx.ts's hand-written encoder against protobufjs (onnx-protobufjs.ts) as the independent
// reference: for the same ModelProto object both must give the same bytes, for a tiny graph, the
// tiny BERT's training step, every attribute type and an export with baked weights. Plus the
// wire-format corners of protobuf-writer.ts with bytes worked out by hand.
import { describe, expect, it, vi } from 'vitest';
import { ensureFixtures } from '../../../tests/fixtures/fixtures.ts';
import { gradients } from '../autodiff/grad.ts';
import { exportOnnx } from '../export/onnx-model.ts';
import { embeddingLoss } from '../losses/loss-graph.ts';
import { buildTrainStepGraph } from '../models/graphs.ts';
import { parameterSet } from '../models/parameter-set.ts';
import { loadSentenceModelFromDir } from '../models/sentence-model-node.ts';
import { Graph } from './graph.ts';
import { tinyDenseGraph } from '../ops/testing.ts';
import { toModelObject, toOnnx, type ToOnnxOptions } from './onnx.ts';
import { encodeWithProtobufjs, fromOnnxBytes } from './onnx-protobufjs.ts';
import { ProtobufWriter } from './protobuf-writer.ts';
import { attr } from './types.ts';

// Records what exportOnnx hands toOnnx, so the test can encode the same model with protobufjs.
const calls = vi.hoisted(() => [] as unknown[][]);
vi.mock('./onnx.ts', async (importOriginal) => {
  const m = await importOriginal<typeof import('./onnx.ts')>();
  return {
    ...m,
    toOnnx: (...args: Parameters<typeof m.toOnnx>) => {
      calls.push(args);
      return m.toOnnx(...args);
    },
  };
});

/** Equal bytes, or the length of each and the offset of the first difference. */
function expectEqualBytes(ours: Uint8Array, theirs: Uint8Array): void {
  let at = ours.findIndex((b, i) => b !== theirs[i]);
  if (at === -1 && ours.length !== theirs.length) at = Math.min(ours.length, theirs.length);
  expect({ length: ours.length, firstDifference: at }).toEqual({ length: theirs.length, firstDifference: -1 });
}

/** Both encoders on the same model object. */
function expectSameBytes(graph: Graph, opts: ToOnnxOptions = {}): Uint8Array {
  const ours = toOnnx(graph, opts);
  expectEqualBytes(ours, encodeWithProtobufjs(toModelObject(graph, opts)));
  return ours;
}


describe('ProtobufWriter', () => {
  const bytes = (w: ProtobufWriter) => [...w.finish()];

  it('writes varints, negative ones as ten bytes of two\'s complement, and floats little-endian', () => {
    expect(bytes(new ProtobufWriter().int(1, 0).int(1, 300).int(2, 2 ** 32).int(3, -1))).toEqual([
      0x08, 0x00, 0x08, 0xac, 0x02, 0x10, 0x80, 0x80, 0x80, 0x80, 0x10,
      0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    expect(bytes(new ProtobufWriter().int(20, -(2 ** 53) + 1))).toEqual([0xa0, 0x01, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0xf0, 0xff, 0x01]);
    expect(bytes(new ProtobufWriter().float(2, 1.5))).toEqual([0x15, 0x00, 0x00, 0xc0, 0x3f]);
    expect(() => new ProtobufWriter().int(1, 0.5)).toThrow(/not an integer/);
    expect(() => new ProtobufWriter().int(1, 2 ** 60)).toThrow(/not an integer/);
  });

  it('puts each embedded message\'s length in front of it, nested and over 127 bytes', () => {
    const w = new ProtobufWriter().begin(1).begin(2).string(3, 'x'.repeat(200)).end().int(4, 1).end();
    expect(bytes(w).slice(0, 8)).toEqual([0x0a, 0xd0, 0x01, 0x12, 0xcb, 0x01, 0x1a, 0xc8]);
    expect(() => new ProtobufWriter().begin(1).finish()).toThrow(/still open/);
    expect(() => new ProtobufWriter().end()).toThrow(/without begin/);
  });

  it('copies large byte fields once, at finish(): until then it holds the caller\'s array', () => {
    const big = new Uint8Array(5000).fill(7);
    const w = new ProtobufWriter().bytes(9, big);
    big[0] = 42; // seen in the output: nothing was copied before finish()
    const out = w.finish();
    expect([...out.subarray(0, 4)]).toEqual([0x4a, 0x88, 0x27, 42]);
    expect(out.length).toBe(3 + 5000);
    expect(out.buffer).not.toBe(big.buffer);
  });
});

describe('toOnnx writes the bytes protobufjs writes', () => {
  it('a tiny graph with its gradients, and what protobufjs decodes from them', () => {
    const bytes = expectSameBytes(tinyDenseGraph());
    const model = fromOnnxBytes(bytes) as any;
    expect(model.opset_import).toEqual([{ domain: '', version: 17 }]);
    expect(model.graph.input[0].type.tensor_type.shape.dim).toEqual([{ dim_param: 'B' }, { dim_value: 2 }]);
  });

  it('every attribute type: int, float, ints (negative, large), floats, string; options and metadata', () => {
    const g = new Graph('attrs');
    const x = g.input('x', 'float32', ['B', 'T', 4]);
    const op = { type: 'Custom', infer: () => [{ dtype: 'float32' as const, shape: [1] }] };
    const [y] = g.apply(op, [x, null], {
      axis: attr.int(-1),
      big: attr.int(-(2 ** 53) + 1),
      zero: attr.int(0),
      alpha: attr.float(0.1),
      neg: attr.float(-1e-12),
      perm: attr.ints([0, -2, 1, 2 ** 40, -(2 ** 35)]),
      empty: attr.ints([]),
      scales: attr.floats([1, -0.5, 3.4e38, Number.NaN, 1e-45]),
      mode: attr.string('reflect ü — 模式'),
      blank: attr.string(''),
    });
    g.output(y, 'y');
    expectSameBytes(g, { opset: 18, producer: 'ünïcode', metadata: { pooling: 'cls', normalize: 'true', '': '' } });
  });

  it('the tiny BERT\'s fused training step (train mode, MNRL with a hard negative)', () => {
    const model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
    const spec = { config: model.config, pooling: 'mean' as const, normalize: true, parameters: parameterSet(model.config) };
    const g = buildTrainStepGraph(spec, embeddingLoss({ type: 'mnrl' }, 3), { train: true });
    expect(expectSameBytes(g).length).toBeGreaterThan(10_000);
  });

  it('the exported encoder with its weights baked in, float32 and int8', () => {
    const model = loadSentenceModelFromDir(ensureFixtures().tinyBge);
    for (const quantize of [false, true]) {
      calls.length = 0;
      const bytes = exportOnnx(model, { quantize });
      expect(calls).toHaveLength(1);
      const [graph, opts] = calls[0] as [Graph, ToOnnxOptions];
      expect(opts.initializers!.size).toBeGreaterThan(10);
      expectEqualBytes(bytes, encodeWithProtobufjs(toModelObject(graph, opts)));
    }
  });
});

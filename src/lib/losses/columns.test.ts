import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { mul, sub } from '../ops/elementwise.ts';
import { reduceSum } from '../ops/reduce.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { columnDim, splitColumns, stackColumns } from './columns.ts';

let node: Runtime;
let wasm: Runtime;
beforeAll(async () => {
  node = await createRuntime('node', { threads: 1 });
  wasm = await createRuntime('wasm', { threads: 1 });
});

describe('splitColumns', () => {
  it('splits [K·B, C] into K row blocks for any B, in one session', async () => {
    const g = new Graph();
    const e = g.input('e', 'float32', ['N', 2]);
    const [a, p, n] = splitColumns(e, 3);
    expect(a.shape).toEqual(['N/3', 2]);
    g.output(sub(n, p), 'n_minus_p');
    g.output(a, 'a');
    const session = await wasm.load(toOnnx(g));
    for (const b of [1, 4]) {
      const rows = Float32Array.from({ length: 3 * b * 2 }, (_, i) => i * i);
      const out = await session.run({ e: { dtype: 'float32', dims: [3 * b, 2], data: rows } });
      const y = out.n_minus_p as HostTensor;
      expect(y.dims).toEqual([b, 2]);
      expect(Array.from(y.data as Float32Array)).toEqual(Array.from({ length: 2 * b }, (_, i) => rows[4 * b + i] - rows[2 * b + i]));
      expect(Array.from((out.a as HostTensor).data as Float32Array)).toEqual(Array.from(rows.slice(0, 2 * b)));
    }
    await session.release();
  });

  it('passes gradients back to the right rows (float64 finite differences)', async () => {
    const r = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [{ name: 'e', dims: [6, 3], shape: ['N', 3] }],
      elementwiseUpTo: 18,
      build: ({ e }) => {
        const [a, b, c] = splitColumns(e, 3);
        return reduceSum(mul(mul(a, b), stackColumns([c, a])), [0, 1, 2]);
      },
    });
    expect(r.inputs.e.mode).toBe('elements');
    expect(r.maxRelError).toBeLessThan(1e-7);
  });

  it('static row counts, one column, and errors', () => {
    const g = new Graph();
    expect(splitColumns(g.input('s', 'float32', [6, 4]), 2).map((v) => v.shape)).toEqual([[3, 4], [3, 4]]);
    const e = g.input('e', 'float32', ['N', 4]);
    expect(splitColumns(e, 1)).toEqual([e]);
    expect(columnDim('N', 4)).toBe('N/4');
    expect(() => splitColumns(g.input('odd', 'float32', [7, 4]), 2)).toThrow('7 rows do not split into 2 columns');
    expect(() => splitColumns(g.input('w', 'float32', ['N', 'C']), 2)).toThrow('the embedding width must be static');
    expect(() => splitColumns(e, 0)).toThrow('column count 0 must be a positive integer');
  });
});

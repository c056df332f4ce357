import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { gradients } from '../autodiff/grad.ts';
import { Graph } from '../graph/graph.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { mul } from './elementwise.ts';
import { reduceMax, reduceMean, reduceSum } from './reduce.ts';
import { concat, END, expand, gather, reshape, slice, squeeze, transpose, unsqueeze } from './shape.ts';
import { linear, matmul } from './matmul.ts';
import { evaluate, expectClose } from './testing.ts';

let wasm: Runtime;
let node: Runtime;
beforeAll(async () => {
  wasm = await createRuntime('wasm', { threads: 1 });
  node = await createRuntime('node', { threads: 1 });
});

const x23 = [1, 2, 3, 4, 5, 6];
const input = { name: 'x', dims: [2, 3], shape: ['B', 3], data: x23 };

describe('shape, reduce and matmul forward (onnxruntime-web WASM)', () => {
  const cases: [string, Parameters<typeof evaluate>[2], number[], number[]][] = [
    ['reshape [0,-1,1] keeps B', ({ x }) => reshape(x, [0, -1, 1]), [2, 3, 1], x23],
    ['transpose', ({ x }) => transpose(x, [1, 0]), [3, 2], [1, 4, 2, 5, 3, 6]],
    ['unsqueeze/squeeze', ({ x }) => squeeze(unsqueeze(x, [1]), [1]), [2, 3], x23],
    ['slice columns 1:3', ({ x }) => slice(x, [1], [END], [1]), [2, 2], [2, 3, 5, 6]],
    ['slice negative start', ({ x }) => slice(x, [-1], [END], [1]), [2, 1], [3, 6]],
    ['slice rows 0:1 of B', ({ x }) => slice(x, [0], [1], [0]), [1, 3], [1, 2, 3]],
    ['concat', ({ x }) => concat([x, slice(x, [0], [1], [1])], 1), [2, 4], [1, 2, 3, 1, 4, 5, 6, 4]],
    ['expand', ({ x }) => expand(slice(x, [0], [1], [1]), [1, 3]), [2, 3], [1, 1, 1, 4, 4, 4]],
    ['reduceSum axis 1', ({ x }) => reduceSum(x, [1]), [2], [6, 15]],
    ['reduceSum keepdims', ({ x }) => reduceSum(x, [0], true), [1, 3], [5, 7, 9]],
    ['reduceMean', ({ x }) => reduceMean(x, [-1]), [2], [2, 5]],
    ['reduceMax', ({ x }) => reduceMax(x, [0, 1]), [], [6]],
    ['matmul [B,3]·[3,2]', ({ x }) => matmul(x, reshape(slice(x, [0], [1], [0]), [3, 1])), [2, 1], [14, 32]],
  ];
  it.each(cases)('%s', async (_, build, dims, expected) => {
    const y = await evaluate(wasm, [input], build);
    expect(y.dims).toEqual(dims);
    expectClose(y.data, expected);
  });

  it('gather looks up rows by int64 ids [B,T,1]', async () => {
    const y = await evaluate(
      wasm,
      [{ name: 'table', dims: [3, 2], data: [0, 1, 10, 11, 20, 21] }, { name: 'ids', dims: [2, 2, 1], shape: ['B', 'T', 1], dtype: 'int64', data: [2, 0, 2, 1] }],
      ({ table, ids }) => gather(table, ids),
    );
    expect(y.dims).toEqual([2, 2, 2]);
    expectClose(y.data, [20, 21, 0, 1, 20, 21, 10, 11]);
  });

  it('gather refuses ids without a trailing axis of 1, and non-int64 ids', async () => {
    const table = { name: 'table', dims: [3, 2], data: [0, 1, 10, 11, 20, 21] };
    await expect(() => evaluate(wasm, [table, { name: 'ids', dims: [2, 2], dtype: 'int64', data: [2, 0, 2, 1] }], ({ table, ids }) => gather(table, ids))).rejects.toThrow(/trailing axis of 1/);
    await expect(() => evaluate(wasm, [table, { name: 'ids', dims: [2, 1], data: [2, 0] }], ({ table, ids }) => gather(table, ids))).rejects.toThrow(/must be int64/);
  });

  it('batched matmul broadcasts the batch axes, linear uses [Out, In] weights', async () => {
    const y = await evaluate(
      wasm,
      [{ name: 'a', dims: [2, 1, 2], data: [1, 2, 3, 4] }, { name: 'w', dims: [3, 2], data: [1, 0, 0, 1, 1, 1] }],
      ({ a, w }) => linear(a, w),
    );
    expect(y.dims).toEqual([2, 1, 3]);
    expectClose(y.data, [1, 2, 3, 3, 4, 7]);
  });

  it('infers reshape -1 over symbolic dims and rejects undecidable broadcasts', async () => {
    const { Graph } = await import('../graph/graph.ts');
    const g = new Graph();
    const h = g.input('h', 'float32', ['B', 'T', 8]);
    expect(reshape(h, [-1, 8]).shape).toEqual(['B*T', 8]);
    expect(reshape(h, [0, 0, 2, 4]).shape).toEqual(['B', 'T', 2, 4]);
    expect(() => mul(h, g.input('u', 'float32', ['T', 'B', 8]))).toThrow(/broadcast/);
  });
});

describe('shape, reduce and matmul gradients (finite differences, float64)', () => {
  const cases: [string, Parameters<typeof fdCheck>[0]['inputs'], Parameters<typeof fdCheck>[0]['build']][] = [
    ['reshape with symbolic B (0 and -1)', [{ name: 'x', dims: [2, 3, 4], shape: ['B', 'T', 4] }], ({ x }) => mul(reshape(x, [0, 0, 2, 2]), reshape(x, [0, -1, 2, 2]))],
    ['reshape [B,3,4] → [B,12] (0 and -1)', [{ name: 'x', dims: [2, 3, 4], shape: ['B', 3, 4] }], ({ x }) => reshape(x, [0, -1])],
    ['transpose', [{ name: 'x', dims: [2, 3, 4] }], ({ x }) => transpose(x, [2, 0, 1])],
    ['unsqueeze/squeeze', [{ name: 'x', dims: [2, 3] }], ({ x }) => mul(unsqueeze(x, [0, 2]), squeeze(unsqueeze(x, [1]), [1]))],
    ['slice middle of static axis', [{ name: 'x', dims: [2, 5] }], ({ x }) => slice(x, [1], [3], [1])],
    ['slice CLS of symbolic T', [{ name: 'x', dims: [2, 4, 3], shape: ['B', 'T', 3] }], ({ x }) => slice(x, [0], [1], [1])],
    ['slice tail of symbolic T', [{ name: 'x', dims: [2, 4, 3], shape: ['B', 'T', 3] }], ({ x }) => slice(x, [2, 1], [END, 3], [1, 2])],
    ['concat', [{ name: 'x', dims: [2, 3], shape: ['B', 3] }, { name: 'z', dims: [2, 2], shape: ['B', 2] }], ({ x, z }) => concat([z, x, z], 1)],
    ['expand', [{ name: 'x', dims: [3, 1] }], ({ x }) => expand(x, [2, 3, 4])],
    ['reduceSum over symbolic axis', [{ name: 'x', dims: [2, 3, 4], shape: ['B', 'T', 4] }], ({ x }) => reduceSum(x, [1])],
    ['reduceSum keepdims', [{ name: 'x', dims: [2, 3, 4] }], ({ x }) => reduceSum(x, [0, 2], true)],
    ['reduceMean', [{ name: 'x', dims: [2, 3, 4], shape: ['B', 3, 4] }], ({ x }) => reduceMean(x, [-1])],
    ['reduceMean over symbolic B', [{ name: 'x', dims: [3, 2, 4], shape: ['B', 2, 4] }], ({ x }) => reduceMean(x, [0, 2])],
    ['reduceMax', [{ name: 'x', dims: [3, 4] }], ({ x }) => reduceMax(x, [1], true)],
    ['matmul batched, broadcast', [{ name: 'a', dims: [2, 3, 4], shape: ['B', 3, 4] }, { name: 'b', dims: [4, 5] }], ({ a, b }) => matmul(a, b)],
    ['matmul both batched', [{ name: 'a', dims: [2, 1, 3, 4] }, { name: 'b', dims: [1, 2, 4, 2] }], ({ a, b }) => matmul(a, b)],
    ['linear', [{ name: 'x', dims: [2, 3, 4], shape: ['B', 'T', 4] }, { name: 'w', dims: [5, 4] }, { name: 'b', dims: [5] }], ({ x, w, b }) => linear(x, w, b)],
  ];
  it.each(cases)('%s', async (_, inputs, build) => {
    const report = await fdCheck({ runtime: node, dtype: 'float64', inputs, build });
    expect(report.maxRelError).toBeLessThan(1e-6);
  });

  it('refuses a reshape gradient that would need a Shape op', async () => {
    const run = fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [{ name: 'x', dims: [2, 3, 4], shape: ['B', 'T', 4] }],
      build: ({ x }) => reshape(x, [-1, 4]),
    });
    await expect(run).rejects.toThrow(/cannot reshape \[B\*T,4\] to \[B,T,4\] without Shape ops/);
  });

  it('gather with repeated ids accumulates with ScatterND add', async () => {
    const report = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [
        { name: 'table', dims: [4, 3] },
        { name: 'ids', dims: [2, 3, 1], shape: ['B', 'T', 1], dtype: 'int64', data: BigInt64Array.from([1n, 3n, 1n, 1n, 0n, 3n]) },
      ],
      build: ({ table, ids }) => gather(table, ids),
    });
    expect(report.inputs.table.mode).toBe('elements');
    expect(report.maxRelError).toBeLessThan(1e-6);
  });

  it("gather's gradient feeds the ids input itself to ScatterND: no int64 node in between", () => {
    const g = new Graph('gather');
    const table = g.input('table', 'float32', [4, 3]);
    const ids = g.input('ids', 'int64', ['B', 'T', 1]);
    const [dtable] = gradients(g, reduceSum(gather(table, ids), [0, 1, 2]), [table]);
    g.output(dtable);
    const nodes = g.live().nodes;
    expect(nodes.filter((n) => n.outputs.some((o) => o.dtype === 'int64'))).toEqual([]);
    const scatter = nodes.find((n) => n.op.type === 'ScatterND')!;
    expect(scatter.inputs[1]).toBe(ids);
    expect(scatter.attrs.reduction.value).toBe('add');
  });
});

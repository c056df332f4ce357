import { beforeAll, describe, expect, it } from 'vitest';
import { Graph } from '../graph/graph.ts';
import { add, mul, neg, relu, tanh } from '../ops/elementwise.ts';
import { linear } from '../ops/matmul.ts';
import { logSoftmax } from '../ops/nn.ts';
import { reduceMean, reduceSum } from '../ops/reduce.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { fdCheck } from './fd-check.ts';
import { gradients } from './grad.ts';

let node: Runtime;
let wasm: Runtime;
beforeAll(async () => {
  node = await createRuntime('node', { threads: 1 });
  wasm = await createRuntime('wasm', { threads: 1 });
});

describe('gradients', () => {
  it('2-layer MLP + logSoftmax cross-entropy: every parameter matches finite differences (float64)', async () => {
    const onehot = Float64Array.from([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0]); // [B=5, 3]
    const report = await fdCheck({
      runtime: node,
      dtype: 'float64',
      inputs: [
        { name: 'x', dims: [5, 4], shape: ['B', 4], wrt: false, data: Float64Array.from({ length: 20 }, (_, i) => Math.cos(i)) },
        { name: 'labels', dims: [5, 3], shape: ['B', 3], data: onehot },
        { name: 'fc1.weight', dims: [6, 4] },
        { name: 'fc1.bias', dims: [6] },
        { name: 'fc2.weight', dims: [3, 6] },
        { name: 'fc2.bias', dims: [3] },
      ],
      build: (v) => {
        const h = tanh(linear(v.x, v['fc1.weight'], v['fc1.bias']));
        const logits = linear(h, v['fc2.weight'], v['fc2.bias']);
        return reduceMean(neg(reduceSum(mul(logSoftmax(logits), v.labels), [1])), [0]);
      },
      directions: 4,
    });
    expect(Object.keys(report.inputs).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    expect(report.maxRelError).toBeLessThan(1e-6);
  });

  it('the same check passes in float32 on the WASM runtime within its tolerance', async () => {
    const report = await fdCheck({
      runtime: wasm,
      dtype: 'float32',
      inputs: [{ name: 'x', dims: [3, 4] }, { name: 'w', dims: [2, 4] }],
      build: ({ x, w }) => relu(linear(x, w)),
    });
    expect(report.maxRelError).toBeLessThan(1e-2);
  });

  it('sums fan-out with Add, names results grad/<name>, and walks only the needed path', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const unrelated = g.input('u', 'float32', [2]);
    const side = tanh(unrelated);
    const y = reduceSum(add(mul(x, x), x), [0]);
    const before = g.nodes.length;
    const [dx, du] = gradients(g, y, [x, unrelated]);
    expect(dx.name).toBe('grad/x');
    expect(du.name).toBe('grad/u');
    const added = g.nodes.slice(before);
    expect(added.some((n) => n.op.type === 'Sum')).toBe(false);
    expect(added.some((n) => n.inputs.includes(side))).toBe(false);
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { fdCheck } from '../autodiff/fd-check.ts';
import { Graph } from '../graph/graph.ts';
import { createRuntime, type Runtime } from '../runtime/index.ts';
import { evaluate } from '../ops/testing.ts';
import { splitColumns } from './columns.ts';
import { mnrl } from './mnrl.ts';

let node: Runtime;
let wasm: Runtime;
beforeAll(async () => {
  node = await createRuntime('node', { threads: 1 });
  wasm = await createRuntime('wasm', { threads: 1 });
});

const B = 4;
const C = 6;
const E = (k: number) => ({ name: 'e', dims: [k * B, C], shape: ['N', C] });

/** Plain-JS MNRL over rows (anchors, then column-major candidates), for a hand-made case. */
function mnrlJs(rows: number[][], k: number, scale: number): number {
  const unit = rows.map((r) => {
    const n = Math.hypot(...r);
    return r.map((x) => x / n);
  });
  const b = rows.length / k;
  let total = 0;
  for (let i = 0; i < b; i++) {
    const logits = unit.slice(b).map((c) => scale * c.reduce((s, x, j) => s + x * unit[i][j], 0));
    const m = Math.max(...logits);
    total += m + Math.log(logits.reduce((s, l) => s + Math.exp(l - m), 0)) - logits[i];
  }
  return total / b;
}

describe('mnrl', () => {
  it('ranks every column-major candidate, hard negatives included (value vs plain JS)', async () => {
    // B=2, M=1: a hard negative identical to anchor 0 must raise the loss.
    const rows = [[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0], [0.1, 0.9, 0.2], [1, 0, 0], [0, 0, 1]];
    const y = await evaluate(wasm, [{ name: 'e', dims: [6, 3], shape: ['N', 3], data: rows.flat() }], ({ e }) => mnrl(splitColumns(e, 3), { scale: 20 }));
    expect(y.data[0]).toBeCloseTo(mnrlJs(rows, 3, 20), 5);
    // Row 0's hard negative (cos 1) outscores its positive (cos 0.994): the mean rises by > 0.3.
    expect(mnrlJs(rows, 3, 20)).toBeGreaterThan(mnrlJs(rows.slice(0, 4), 2, 20) + 0.3);
  });

  for (const k of [2, 3, 4]) {
    it(`gradient matches finite differences with M = ${k - 2} negatives (float64)`, async () => {
      const r = await fdCheck({ runtime: node, dtype: 'float64', inputs: [E(k)], directions: 8, build: ({ e }) => mnrl(splitColumns(e, k)) });
      expect(r.maxRelError).toBeLessThan(1e-6);
    });
  }

  it('symmetric variant with hard negatives: gradient matches finite differences (float64)', async () => {
    const r = await fdCheck({ runtime: node, dtype: 'float64', inputs: [E(4)], directions: 8, build: ({ e }) => mnrl(splitColumns(e, 4), { symmetric: true, scale: 7 }) });
    expect(r.maxRelError).toBeLessThan(1e-6);
  });

  it('float32 on WASM passes finite differences at its tolerance', async () => {
    const r = await fdCheck({ runtime: wasm, dtype: 'float32', inputs: [E(3)], build: ({ e }) => mnrl(splitColumns(e, 3), { scale: 2 }) });
    expect(r.maxRelError).toBeLessThan(2e-2);
  });

  it('rejects a single column and a non-positive scale', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', ['B', 4]);
    expect(() => mnrl([a])).toThrow('mnrl: expects at least 2 columns, got 1');
    expect(() => mnrl([a, a], { scale: 0 })).toThrow('mnrl: scale must be a finite number > 0, got 0');
    expect(() => mnrl([a, g.input('p', 'float32', ['B', 5])])).toThrow(/every column must be \[B,4\]/);
  });
});

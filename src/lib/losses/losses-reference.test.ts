// Parity of every loss graph (value and dL/dE) with the independent PyTorch reference written by
// tests/reference/losses_reference.py (float64): float32 on onnxruntime-web WASM (the browser's
// CPU path) and float64 on onnxruntime-node. Prints the largest differences.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOnnx } from '../graph/onnx.ts';
import { createRuntime, type HostTensor, type Runtime } from '../runtime/index.ts';
import { buildLossGraph, EMBEDDINGS_GRAD_OUTPUT, LOSS_OUTPUT, SCORES_INPUT } from './loss-graph.ts';
import type { LossSpec } from './spec.ts';

interface ReferenceCase {
  name: string;
  spec: LossSpec;
  embeddings: string;
  columns: number;
  scores: string | null;
  loss: number;
  grad: number[];
}
interface ReferenceFile {
  format_version: string;
  batch: number;
  hidden: number;
  inputs: { embeddings: Record<string, { dims: number[]; data: number[] }>; scores: Record<string, number[]> };
  cases: ReferenceCase[];
}

const PATH = join(import.meta.dirname, '../../../tests/reference/data/losses.json');
const ref = JSON.parse(readFileSync(PATH, 'utf8')) as ReferenceFile;

let wasm: Runtime;
let node: Runtime;
beforeAll(async () => {
  wasm = await createRuntime('wasm', { threads: 1 });
  node = await createRuntime('node', { threads: 1 });
});

interface Result {
  loss: number;
  grad: Float32Array | Float64Array;
}

async function run(runtime: Runtime, dtype: 'float32' | 'float64', c: ReferenceCase): Promise<Result> {
  const { batch: b, hidden } = ref;
  const rows = c.columns * b;
  const g = buildLossGraph(c.spec, { columns: c.columns, hidden, dtype });
  const Arr = dtype === 'float64' ? Float64Array : Float32Array;
  const feeds: Record<string, HostTensor> = {
    embeddings: { dtype, dims: [rows, hidden], data: Arr.from(ref.inputs.embeddings[c.embeddings].data.slice(0, rows * hidden)) },
  };
  if (c.scores) feeds[SCORES_INPUT] = { dtype, dims: [b], data: Arr.from(ref.inputs.scores[c.scores]) };
  const session = await runtime.load(toOnnx(g));
  try {
    const out = await session.run(feeds);
    const loss = Number((out[LOSS_OUTPUT] as HostTensor).data[0]);
    return { loss, grad: (out[EMBEDDINGS_GRAD_OUTPUT] as HostTensor).data as Float32Array | Float64Array };
  } finally {
    await session.release();
  }
}

/** |ours − ref| / |ref| for the loss; max|ours − ref| / max|ref| for the gradient (normwise). */
function compare(ours: Result, c: ReferenceCase) {
  const lossRel = Math.abs(ours.loss - c.loss) / Math.abs(c.loss);
  let diff = 0;
  let scale = 0;
  let worst = 0;
  c.grad.forEach((r, i) => {
    const d = Math.abs(ours.grad[i] - r);
    if (d > diff) [diff, worst] = [d, i];
    scale = Math.max(scale, Math.abs(r));
  });
  return { lossRel, gradRel: diff / scale, worst };
}

const report: string[] = [];
afterAll(() => {
  console.log(`loss parity vs PyTorch (${PATH}):\n${report.join('\n')}`);
});

describe('losses vs the PyTorch reference', () => {
  it('reads format_version 1 with B=5, C=16 and every kind of case', () => {
    expect(ref.format_version).toBe('1');
    expect([ref.batch, ref.hidden]).toEqual([5, 16]);
    const kinds = new Set(ref.cases.map((c) => `${c.spec.matryoshka ? 'matryoshka/' : ''}${c.spec.type}`));
    expect([...kinds].sort()).toEqual([
      'cosent', 'matryoshka/cosent', 'matryoshka/mnrl', 'matryoshka/mnrl_symmetric', 'matryoshka/triplet',
      'mnrl', 'mnrl_symmetric', 'triplet',
    ]);
    expect(new Set(ref.cases.map((c) => c.columns))).toEqual(new Set([2, 3, 4]));
  });

  for (const c of ref.cases) {
    it(`${c.name}: float32 on WASM within 1e-5 (loss) / 1e-4 (dL/dE)`, async () => {
      const r = compare(await run(wasm, 'float32', c), c);
      report.push(`  wasm f32  ${c.name.padEnd(40)} loss rel ${r.lossRel.toExponential(2)}  grad rel ${r.gradRel.toExponential(2)} (element ${r.worst})`);
      expect(r.lossRel).toBeLessThan(1e-5);
      expect(r.gradRel).toBeLessThan(1e-4);
    });
    it(`${c.name}: float64 on node within 1e-10`, async () => {
      const r = compare(await run(node, 'float64', c), c);
      report.push(`  node f64  ${c.name.padEnd(40)} loss rel ${r.lossRel.toExponential(2)}  grad rel ${r.gradRel.toExponential(2)} (element ${r.worst})`);
      expect(r.lossRel).toBeLessThan(1e-10);
      expect(r.gradRel).toBeLessThan(1e-10);
    });
  }
});

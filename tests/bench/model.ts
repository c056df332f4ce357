// The benchmark's model and feeds: bge-small's shape (BGE_SMALL_CONFIG: 12 layers, C 384, 12 heads,
// F 1536) with random weights, CLS pooling + normalize, batch B × T tokens with a full attention
// mask. `encode` runs in eval mode; `grad` is encode_grad in train mode (dropout from a seed) with
// an upstream R [B,C], i.e. the gradients of sum(E ⊙ R), as tests/bench/torch_bench.py times.
// Not timing (child.ts) and not a correctness check of the graphs (src/lib/models/*.test.ts).

import { toOnnx } from '../../src/lib/graph/onnx.ts';
import { BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { parameterSet } from '../../src/lib/models/parameter-set.ts';
import { buildEncodeGradGraph, buildEncodeGraph, SEED_INPUT } from '../../src/lib/models/graphs.ts';
import { randomBertWeights } from '../../src/lib/models/sentence-model.ts';
import type { HostTensor } from '../../src/lib/runtime/index.ts';
import { Rng } from '../../src/lib/util/rng.ts';

/** grad_nodrop: encode_grad in eval mode (no dropout), to separate dropout's cost from the rest. */
export type BenchGraphName = 'encode' | 'grad' | 'grad_nodrop';

export interface BenchGraph {
  name: BenchGraphName;
  bytes: Uint8Array;
  /** Nodes the outputs depend on (what toOnnx serializes). */
  nodes: number;
  feeds: Record<string, HostTensor>;
  /** Outputs to fetch (all of them). */
  outputs?: string[];
  /** Values of the symbolic axes, for a static-shape session (freeDimensionOverrides). */
  dims: Record<string, number>;
}

const SMALL_MODEL = { config: BGE_SMALL_CONFIG, pooling: 'cls' as const, normalize: true, parameters: parameterSet(BGE_SMALL_CONFIG) };

/** Builds the requested graphs (B × T tokens) and their feeds, weights from `seed`. */
export function buildBenchGraphs(which: readonly BenchGraphName[], B: number, T: number, seed = 0): BenchGraph[] {
  const c = BGE_SMALL_CONFIG;
  const weights = randomBertWeights(c, seed);
  const rng = new Rng(seed + 1);
  const ids = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) ids[b * T + t] = BigInt(t === 0 ? 101 : t === T - 1 ? 102 : 1000 + rng.int(c.vocabSize - 1000));
  }
  const common: Record<string, HostTensor> = {
    input_ids: { dtype: 'int64', dims: [B, T, 1], data: ids },
    attention_mask: { dtype: 'float32', dims: [B, T], data: new Float32Array(B * T).fill(1) },
    position_ids: { dtype: 'int64', dims: [1, T, 1], data: BigInt64Array.from({ length: T }, (_, t) => BigInt(t)) },
  };
  for (const p of SMALL_MODEL.parameters.inputs) {
    const w = weights.get(p.name)!;
    common[p.name] = { dtype: 'float32', dims: w.shape, data: w.data };
  }
  const out: BenchGraph[] = [];
  for (const name of which) {
    const g = name === 'encode' ? buildEncodeGraph(SMALL_MODEL) : buildEncodeGradGraph(SMALL_MODEL, { train: name === 'grad' });
    const bytes = toOnnx(g);
    const feeds: Record<string, HostTensor> = {};
    for (const v of g.inputs) {
      if (v.name === SEED_INPUT) feeds[v.name] = { dtype: 'float32', dims: [], data: Float32Array.of(12345) };
      else if (v.name === 'upstream') feeds[v.name] = { dtype: 'float32', dims: [B, c.hiddenSize], data: Float32Array.from({ length: B * c.hiddenSize }, () => rng.normal()) };
      else if (common[v.name]) feeds[v.name] = common[v.name];
      else throw new Error(`bench: no feed for graph input ${v.name}`);
    }
    out.push({ name, bytes, nodes: g.live().nodes.length, feeds, dims: { B, T }, outputs: g.outputs.map((o) => o.name) });
  }
  return out;
}

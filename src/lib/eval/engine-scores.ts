// The evaluator's similarity matrix on the engine's runtime: a ScoreBackend whose scores are one
// ONNX graph, scores = Q · Cᵀ (MatMul of a Transpose; onnxruntime's CPU/WASM optimizer fuses the
// two into one FusedMatMul with transB), so on a WebGPU runtime the product runs on the GPU.
// One session for every chunk shape and every Matryoshka dim: nq, nc and d are symbolic (per-d
// static sessions measured no faster: 75–128 ms either way for 128×10,000×768 on WASM, on a
// loaded 2-core machine). The corpus block is uploaded once and reused while the evaluator passes
// the same block with each query chunk (runtime.upload keeps it resident on WebGPU).
//
// Exact top of each row. A float32 GEMM does not score a pair the same wherever it sits in the
// matrix (MLAS's edge tiles and packed panels sum in another order: measured, 1 ulp), so exact
// ties between duplicate documents, and the order of near-ties, would depend on the chunk sizes
// and differ from JsScoreBackend. So each row's best `exactTopK` scores, and every score within
// twice the GEMM's error bound of the k-th, are recomputed on the host exactly as
// JsScoreBackend computes them (float64 sum in index order, rounded once). Any pair that could
// reach a row's top k therefore carries its exact score, and the evaluator's rankings up to
// depth exactTopK are bit-identical to the JS backend's, whatever the chunking. Error bound:
// |fl(q·c) − q·c| ≤ γ_d Σ|q_k c_k| ≤ γ_d ‖q‖‖c‖ with γ_d ≈ d·2⁻²⁴ (Higham, Accuracy and
// Stability of Numerical Algorithms, §3.1); we take (d+2)·2⁻²³, twice that.
//
// Top-k stays in JS (ir-metrics.ts), by choice: ONNX TopK returns int64 indices, and int64
// outputs are among what the WebGPU EP hands back to the CPU; its tie order among equal scores
// is unspecified, where sentence-transformers v6 breaks exact ties by corpus id; and the running
// top-max_k merge across corpus chunks has to happen on the host anyway. What the GPU saves is
// the nq·nc·d multiply-adds, which is the cost; the heap pass is nq·nc comparisons.
// Not the metrics (ir-metrics.ts) and not the embedding of texts (evaluate-model.ts).
//
// Shape letters: nq query rows, nc corpus rows, d the (truncated) embedding size.

import { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { matmul } from '../ops/matmul.ts';
import { transpose } from '../ops/shape.ts';
import type { DeviceTensor, HostTensor, Runtime, Session } from '../runtime/types.ts';
import type { ScoreBackend } from './ir-metrics.ts';

/** scores [nq, nc] = q [nq, d] · c [nc, d]ᵀ, every dim symbolic. */
export function buildScoreGraph(): Graph {
  const g = new Graph('ir_scores');
  const q = g.input('queries', 'float32', ['nq', 'd']);
  const c = g.input('corpus', 'float32', ['nc', 'd']);
  g.output(matmul(q, transpose(c, [1, 0])), 'scores');
  return g;
}

/** A typed-array view as its own array (onnxruntime tensors want the whole buffer from offset 0). */
function exact(x: Float32Array, n: number): Float32Array {
  return x.byteOffset === 0 && x.length === n && x.buffer.byteLength === n * 4 ? x : x.slice(0, n);
}

/** An upper bound on |GEMM score − exact score| for rows of norms qNorm and cNorm at size d. */
export function scoreErrorBound(d: number, qNorm: number, cNorm: number): number {
  return (d + 2) * 2 ** -23 * qNorm * cNorm;
}

export interface EngineScoreOptions {
  /** Rank depth recomputed exactly per row; ≥ the evaluator's max_k (100 with its defaults). */
  exactTopK?: number;
}

export class EngineScoreBackend implements ScoreBackend {
  readonly name: string;
  readonly exactTopK: number;
  private session: Promise<Session> | null = null;
  /** The last corpus block and its uploaded tensor, keyed by array identity and shape. */
  private corpus: { array: Float32Array; nc: number; d: number; tensor: DeviceTensor; maxNorm: number } | null = null;
  /** Host-side exact recomputations in the last scores() call (for tests and the log). */
  lastRecomputed = 0;

  constructor(
    readonly runtime: Runtime,
    options: EngineScoreOptions = {},
  ) {
    this.name = `engine (${runtime.describe().backend})`;
    this.exactTopK = options.exactTopK ?? 100;
    if (!Number.isInteger(this.exactTopK) || this.exactTopK < 0) throw new Error(`exactTopK must be an integer ≥ 0, got ${this.exactTopK}`);
  }

  /**
   * q: [nq, d], c: [nc, d] → [nq, nc]. A corpus block is recognised by identity: the caller must
   * not change a block's values between calls that pass the same array (evaluateIr never does).
   */
  async scores(q: Float32Array, c: Float32Array, nq: number, nc: number, d: number): Promise<Float32Array> {
    if (q.length < nq * d || c.length < nc * d) throw new Error('EngineScoreBackend: input shorter than its shape');
    this.session ??= this.runtime.load(toOnnx(buildScoreGraph()));
    const session = await this.session;
    const corpus = await this.corpusTensor(c, nc, d);
    const out = await session.run({
      queries: { dtype: 'float32', dims: [nq, d], data: exact(q, nq * d) },
      corpus: corpus.tensor,
    });
    const s = (out.scores as HostTensor).data as Float32Array;
    if (s.length !== nq * nc) throw new Error(`EngineScoreBackend: the graph returned ${s.length} scores for ${nq}×${nc}`);
    this.lastRecomputed = this.exactTopK > 0 ? refineTop(s, q, c, nq, nc, d, Math.min(this.exactTopK, nc), corpus.maxNorm) : 0;
    return s;
  }

  private async corpusTensor(c: Float32Array, nc: number, d: number) {
    const cur = this.corpus;
    if (cur && cur.array === c && cur.nc === nc && cur.d === d) return cur;
    this.corpus = null;
    if (cur) this.runtime.dispose(cur.tensor);
    const tensor = await this.runtime.upload({ dtype: 'float32', dims: [nc, d], data: exact(c, nc * d) });
    let maxNorm = 0;
    for (let j = 0; j < nc; j++) maxNorm = Math.max(maxNorm, norm(c, j * d, d));
    this.corpus = { array: c, nc, d, tensor, maxNorm };
    return this.corpus;
  }

  /** Frees the corpus tensor and the session. */
  async dispose(): Promise<void> {
    if (this.corpus) this.runtime.dispose(this.corpus.tensor);
    this.corpus = null;
    const s = this.session;
    this.session = null;
    if (s) await (await s).release();
  }
}

function norm(x: Float32Array, o: number, d: number): number {
  let ss = 0;
  for (let k = 0; k < d; k++) ss += x[o + k] * x[o + k];
  return Math.sqrt(ss);
}

/**
 * s: [nq, nc] GEMM scores, rewritten in place: per row, every entry that could be among the k
 * best (approx ≥ k-th best approx − 2·bound) gets JsScoreBackend's exact value. Returns how many.
 */
function refineTop(s: Float32Array, q: Float32Array, c: Float32Array, nq: number, nc: number, d: number, k: number, cMaxNorm: number): number {
  const heap = new Float32Array(k);
  let count = 0;
  for (let i = 0; i < nq; i++) {
    const row = i * nc;
    let threshold = -Infinity;
    if (k < nc) {
      // k-th largest of the row: a min-heap of the k best.
      for (let j = 0; j < k; j++) heapUp(heap, j, s[row + j]);
      for (let j = k; j < nc; j++) {
        const v = s[row + j];
        if (v > heap[0]) {
          heap[0] = v;
          heapDown(heap, k);
        }
      }
      threshold = heap[0] - 2 * scoreErrorBound(d, norm(q, i * d, d), cMaxNorm);
    }
    const qo = i * d;
    for (let j = 0; j < nc; j++) {
      if (!(s[row + j] >= threshold)) continue;
      const co = j * d;
      let dot = 0;
      for (let t = 0; t < d; t++) dot += q[qo + t] * c[co + t];
      s[row + j] = dot;
      count++;
    }
  }
  return count;
}

function heapUp(h: Float32Array, n: number, v: number): void {
  let t = n;
  h[t] = v;
  while (t > 0) {
    const p = (t - 1) >> 1;
    if (h[p] <= h[t]) break;
    const x = h[p];
    h[p] = h[t];
    h[t] = x;
    t = p;
  }
}

function heapDown(h: Float32Array, n: number): void {
  let t = 0;
  for (;;) {
    const l = 2 * t + 1;
    if (l >= n) return;
    const r = l + 1;
    const m = r < n && h[r] < h[l] ? r : l;
    if (h[t] <= h[m]) return;
    const x = h[m];
    h[m] = h[t];
    h[t] = x;
    t = m;
  }
}

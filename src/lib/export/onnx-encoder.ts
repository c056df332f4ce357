// Runs an exported transformers.js ONNX file (onnx-model.ts: ids, mask, token types if any →
// last_hidden_state) as a BatchEncoder, pooling and normalizing on the host as
// `pipeline('feature-extraction', …, { pooling, normalize: true })` does, so the model card's int8
// numbers are those of the file people download, run by onnxruntime with its own graph
// optimizations (which fuse DequantizeLinear into quantized MatMuls), not a float re-creation.
// Not the training encoder (src/lib/models/encoder.ts).

import type { BatchEncoder } from '../models/embed-texts.ts';
import type { PoolingMode } from '../models/pooling.ts';
import type { Feed, HostTensor, Runtime, Session } from '../runtime/types.ts';
import type { TokenizedBatch } from '../tokenize/tokenizer.ts';

export class OnnxFileEncoder implements BatchEncoder {
  private constructor(
    private readonly session: Session,
    readonly dim: number,
    private readonly pooling: PoolingMode,
    private readonly normalize: boolean,
    private readonly name: string,
  ) {}

  static async create(runtime: Runtime, bytes: Uint8Array, o: { dim: number; pooling: PoolingMode; normalize: boolean; name: string }): Promise<OnnxFileEncoder> {
    return new OnnxFileEncoder(await runtime.load(bytes), o.dim, o.pooling, o.normalize, `${o.name} on ${runtime.describe().backend}`);
  }

  async encode(batch: TokenizedBatch): Promise<Float32Array> {
    const { batch: B, tokens: T } = batch;
    const dims = [B, T];
    const mask = BigInt64Array.from(batch.attentionMask, (m) => BigInt(m));
    const feeds: Record<string, Feed> = {
      input_ids: { dtype: 'int64', dims, data: batch.inputIds },
      attention_mask: { dtype: 'int64', dims, data: mask },
    };
    // As transformers.js: token types only for a model that declares them (XLM-RoBERTa's has none).
    if (this.session.inputNames.includes('token_type_ids')) feeds.token_type_ids = { dtype: 'int64', dims, data: batch.tokenTypeIds ?? new BigInt64Array(B * T) };
    const out = await this.session.run(feeds);
    const h = (out.last_hidden_state as HostTensor).data as Float32Array; // [B,T,C]
    const C = this.dim;
    const y = new Float32Array(B * C);
    for (let b = 0; b < B; b++) {
      const row = y.subarray(b * C, (b + 1) * C);
      if (this.pooling === 'cls') row.set(h.subarray(b * T * C, b * T * C + C));
      else {
        let n = 0;
        for (let t = 0; t < T; t++) {
          if (batch.attentionMask[b * T + t] === 0) continue;
          n++;
          for (let c = 0; c < C; c++) row[c] += h[(b * T + t) * C + c];
        }
        for (let c = 0; c < C; c++) row[c] /= Math.max(n, 1e-9);
      }
      if (this.normalize) {
        let s = 0;
        for (let c = 0; c < C; c++) s += row[c] * row[c];
        const norm = Math.max(Math.sqrt(s), 1e-12);
        for (let c = 0; c < C; c++) row[c] /= norm;
      }
    }
    return y;
  }

  describe(): string {
    return this.name;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

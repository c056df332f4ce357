// The fine-tuned encoder as the `onnx/model.onnx` transformers.js loads for a feature-extraction
// model: inputs `input_ids`, `attention_mask` and, for families with token types (BERT, not
// XLM-RoBERTa: architectures.ts), `token_type_ids` (int64 [B,T]); position ids made inside from
// the family's offset; output `last_hidden_state` [B,T,C]; pooling and normalization stay with
// the caller (`pipeline('feature-extraction', …)` with `{ pooling, normalize: true }`), as in the
// Hub's ONNX exports. Built by the same graph IR as training (bert.ts, eval mode), the trained weights baked
// in as initializers: the model's parameter set's `inputs` (parameter-set.ts; no pooler).
// `onnx/model_quantized.onnx` stores the weights of every linear layer as int8
// (symmetric, one scale per output row) behind a DequantizeLinear; the embedding tables stay
// float32, so bge-base's file is ~180 MB instead of 440 MB (onnxruntime fuses the dequantization into its quantized MatMul kernels when it optimizes the
// graph; onnx-encoder.ts runs the file itself for the card's int8 numbers).
// Not the sentence-transformers folder (st-folder.ts) and not a general ONNX exporter.
//
// Shape letters as in src/lib/models/bert.ts.

import { Graph, type OpDef, type Value } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import { attr, type ConstData } from '../graph/types.ts';
import { cast } from '../ops/elementwise.ts';
import { unsqueeze } from '../ops/shape.ts';
import { bertEncoder, type BertInputs } from '../models/bert.ts';
import { architecture } from '../models/architectures.ts';
import { type Parameter, parameterSet } from '../models/parameter-set.ts';
import type { SentenceModel } from '../models/sentence-model.ts';

export const ONNX_MODEL_PATH = 'onnx/model.onnx';
export const ONNX_QUANTIZED_PATH = 'onnx/model_quantized.onnx';

/** The encoder layers' linear weights ([out, in], used as MatMul operands): what the int8 model quantizes. */
export const isQuantizedWeight = (p: Parameter) => (p.role === 'attention' || p.role === 'ffn') && p.shape.length === 2;

// Export-only ops (inference graphs: no gradient rules).
const Shape: OpDef = { type: 'Shape', infer: (x) => [{ dtype: 'int64', shape: [x[0]!.rank] }] };
const GatherScalar: OpDef = { type: 'Gather', name: 'GatherScalar', infer: () => [{ dtype: 'int64', shape: [] }] };
const Range: OpDef = { type: 'Range', infer: () => [{ dtype: 'int64', shape: ['T'] }] };
const AddScalar: OpDef = { type: 'Add', name: 'AddScalar', infer: () => [{ dtype: 'int64', shape: [] }] };
const DequantizeLinear: OpDef = { type: 'DequantizeLinear', infer: (x) => [{ dtype: 'float32', shape: x[0]!.shape }] };

/** Symmetric int8 per output row: scale = max|w_row| / 127, q = round(w / scale). */
export function quantizeRows(w: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const s = (scale[r] = m > 0 ? m / 127 : 1);
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
  }
  return { q, scale };
}

/** model.onnx (float32) or model_quantized.onnx (int8 linear weights) of a sentence model's encoder. */
export function exportOnnx(model: SentenceModel, opts: { quantize?: boolean } = {}): Uint8Array {
  const arch = architecture(model.config.family);
  const g = new Graph(opts.quantize ? 'bert_int8' : 'bert');
  const ids = g.input('input_ids', 'int64', ['B', 'T']);
  const mask = g.input('attention_mask', 'int64', ['B', 'T']);
  // transformers.js feeds token_type_ids only to a model that declares them (zeros when its tokenizer makes none).
  const types = arch.tokenTypes ? g.input('token_type_ids', 'int64', ['B', 'T']) : null;
  const baked = new Map<string, { dims: number[]; data: ConstData }>();
  const weights = new Map<string, Value>();
  for (const p of parameterSet(model.config).inputs) {
    const t = model.weights.get(p.name);
    if (!t) throw new Error(`export: the model has no ${p.name}`);
    if (opts.quantize && isQuantizedWeight(p)) {
      const [rows, cols] = p.shape;
      const { q, scale } = quantizeRows(t.data, rows, cols);
      const qv = g.input(`${p.name}_quantized`, 'int8', p.shape);
      const sv = g.input(`${p.name}_scale`, 'float32', [rows]);
      const zv = g.input(`${p.name}_zero_point`, 'int8', [rows]);
      baked.set(qv.name, { dims: [...p.shape], data: q });
      baked.set(sv.name, { dims: [rows], data: scale });
      baked.set(zv.name, { dims: [rows], data: new Int8Array(rows) });
      weights.set(p.name, g.apply(DequantizeLinear, [qv, sv, zv], { axis: attr.int(0) })[0]);
    } else {
      weights.set(p.name, g.input(p.name, 'float32', p.shape));
      baked.set(p.name, { dims: [...p.shape], data: t.data });
    }
  }
  const T = g.apply(GatherScalar, [g.apply(Shape, [ids])[0], g.constant('int64', 1)], { axis: attr.int(0) })[0];
  // offset … offset + T − 1, as the encoder feeds them (encoder.ts): padding rows are masked, so
  // numbering them on rather than at transformers' pad id changes no pooled output.
  const offset = arch.positionOffset(model.config);
  const start = g.constant('int64', offset);
  const limit = offset === 0 ? T : g.apply(AddScalar, [T, start])[0];
  const positions = g.apply(Range, [start, limit, g.constant('int64', 1)])[0]; // [T]
  const inputs: BertInputs = {
    inputIds: unsqueeze(ids, [2]), // [B,T,1]
    attentionMask: cast(mask, 'float32'),
    positionIds: unsqueeze(positions, [0, 2]), // [1,T,1]
    ...(types ? { tokenTypeIds: unsqueeze(types, [2]) } : {}),
  };
  g.output(bertEncoder(model.config, weights, inputs, { train: false }), 'last_hidden_state');
  return toOnnx(g, { initializers: baked, producer: 'tabtune', metadata: { pooling: model.pooling, normalize: String(model.normalize) } });
}

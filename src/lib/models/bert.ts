// The BERT encoder as a graph (docs/encoder.md#forward-pass, post-LN BERT as in transformers'
// modeling_bert.py), from weight Values named as in model.safetensors, followed by
// sentence-transformers pooling and the optional L2 normalization. Dropout (rates from config.json)
// only in train mode, its masks a pure function of the `dropout_seed` input and a fixed stream
// number per site. A linear layer the run's parameter set gives LoRA adapters computes
// x·Wᵀ + b + (α/r)·dropout(x)·Aᵀ·Bᵀ (docs/lora.md#the-lora-linear); frozen weights are inputs like
// any other, the graphs just ask for no gradient of them (graphs.ts).
// Not the graph boundaries (graphs.ts: which inputs/outputs, gradients) and not weight loading.
//
// Shape letters, used in every shape comment of src/lib/models/:
//   B batch, T tokens (symbolic), C hidden size, H attention heads, D = C/H head size,
//   F intermediate (FFN) size, V vocabulary, P max positions.

import type { Graph, Value } from '../graph/graph.ts';
import { add, cast, less, mul, sub, where, zerosLike } from '../ops/elementwise.ts';
import { linear, matmul } from '../ops/matmul.ts';
import { applyDropout, dropout, dropped, gelu, hashColumnKeys, hashRowKeys, l2Normalize, layerNorm, softmax } from '../ops/nn.ts';
import { expand, gather, reshape, slice, squeeze, transpose, unsqueeze } from '../ops/shape.ts';
import type { BertConfig } from './bert-config.ts';
import type { ParameterSet } from './parameter-set.ts';
import { type TableLookup, WORD_ROWS_INPUT } from './table-lookup.ts';
import { pool, type PoolingMode } from './pooling.ts';

/** What the graphs need to know about a sentence model besides its weights. */
export interface SentenceSpec {
  config: BertConfig;
  pooling: PoolingMode;
  normalize: boolean;
  /** The run's parameters: the graphs declare its `inputs` and differentiate its `trained`. */
  parameters: ParameterSet;
  /** How its frozen tensors are fed: float32, or float16 cast to float32 in the graph (default float32). */
  frozenDtype?: FrozenDtype;
  /** Where word embedding rows are looked up (table-lookup.ts; default in the graph). */
  wordLookup?: TableLookup;
}

/** How frozen weights are held and fed (docs/memory.md#float16-frozen-weights); trained ones are always float32. */
export type FrozenDtype = 'float32' | 'float16';

/**
 * The id inputs carry a trailing axis of 1, the index form GatherND and ScatterND take (ops/shape.ts
 * gather): the embedding gradient then scatters by the input itself, where ids [B,T] would need an
 * int64 Unsqueeze that WebGPU sessions run on the CPU. The host feeds its [B,T] ids as [B,T,1].
 */
export interface BertInputs {
  /** [B,T,1] int64 token ids. */
  inputIds: Value;
  /** [B,T] float32, 1 for real tokens, 0 for padding. */
  attentionMask: Value;
  /** [1,T,1] int64 from the family's position offset up (architectures.ts); an input: Range runs on the CPU in WebGPU sessions. */
  positionIds: Value;
  /** [B,T,1] int64 segment ids; absent: 0 for every token (single texts, what training feeds). */
  tokenTypeIds?: Value;
  /** [B,T,C] float32 word embedding rows the host looked up (a frozen table too large for the device, table-lookup.ts); absent: gathered in the graph. */
  wordRows?: Value;
}

/** Train mode turns dropout on; `seed` is a float32 scalar input holding an integer in [0, 2²⁴). */
export type ForwardMode = { train: false } | { train: true; seed: Value };

/** The additive attention mask value for padding keys: (1 − m)·finfo(float32).min, as transformers. */
export const MASK_VALUE = -3.4028234663852886e38;

/**
 * The dropout masks of a whole encoder from two row-key hashes instead of one hash per site:
 * hidden sites (the embeddings, then 2 per layer) share row keys [B,T,S,4] with S = 1 + 2·layers,
 * the attention probabilities of all layers row keys [B,L,H,T,4]; each site slices its rows
 * (small) and expands them against the column keys into its own mask (one MatMul, frac,
 * threshold), so no full-size uniform tensor is built and sliced. A whole hash per site would cost
 * ~150 graph nodes (37 sites in bge-small; onnxruntime's session creation grows faster than
 * linearly in the node count). Stream numbers 0 (hidden) and 1 (attention) are shared by every
 * graph built here; a site's mask equals hashUniform's over [B,T,S,C] / [B,L,H,T,T], sliced.
 */
class DropoutMasks {
  private readonly hiddenRows: Value; // [B,T,S,4]
  private readonly hiddenCols: Value; // [4,C]
  private readonly attentionRows: Value; // [B,L,H,T,4]
  private readonly attentionCols: Value; // [4,T]

  constructor(config: BertConfig, mask: Value /* [B,T] */, seed: Value) {
    const S = 1 + 2 * config.numLayers;
    const g = mask.graph;
    [this.hiddenRows, this.hiddenCols, this.attentionRows, this.attentionCols] = g.scope('dropout', () => {
      const hiddenRowShape = expand(zerosLike(unsqueeze(mask, [2, 3])), [1, 1, S, 1]); // [B,T,S,1]
      const hiddenColShape = expand(zerosLike(unsqueeze(mask, [2])), [1, 1, config.hiddenSize]); // [B,T,C]: static C, a constant (this node is dead)
      const attnRowShape = expand(zerosLike(unsqueeze(mask, [1, 2, 4])), [1, config.numLayers, config.numHeads, 1, 1]); // [B,L,H,T,1]
      return [
        hashRowKeys(hiddenRowShape, seed, 0),
        hashColumnKeys(hiddenColShape),
        hashRowKeys(attnRowShape, seed, 1),
        hashColumnKeys(zerosLike(mask)),
      ];
    });
  }

  /** Site 0: embeddings; 1 + 2l: layer l's attention output; 2 + 2l: layer l's FFN output. */
  hiddenSite(x: Value /* [B,T,C] */, p: number, site: number): Value {
    if (p === 0) return x;
    const g = x.graph;
    return g.scope('dropout', () => applyDropout(x, dropped(squeeze(slice(this.hiddenRows, [site], [site + 1], [2]), [2]), this.hiddenCols, p), p));
  }

  attentionSite(x: Value /* [B,H,T,T] */, p: number, layer: number): Value {
    if (p === 0) return x;
    const g = x.graph;
    return g.scope('dropout', () => applyDropout(x, dropped(squeeze(slice(this.attentionRows, [layer], [layer + 1], [1]), [1]), this.attentionCols, p), p));
  }
}

/** Declares the standard inputs: input_ids [B,T,1], attention_mask [B,T], position_ids [1,T,1] (B and T symbolic). */
export function declareBertInputs(g: Graph, spec?: Pick<SentenceSpec, 'config' | 'wordLookup'>): BertInputs {
  return {
    inputIds: g.input('input_ids', 'int64', ['B', 'T', 1]),
    attentionMask: g.input('attention_mask', 'float32', ['B', 'T']),
    positionIds: g.input('position_ids', 'int64', [1, 'T', 1]),
    ...(spec?.wordLookup === 'host' ? { wordRows: g.input(WORD_ROWS_INPUT, 'float32', ['B', 'T', spec.config.hiddenSize]) } : {}),
  };
}

/**
 * Declares every weight the set's graphs read (`inputs`: no pooler; frozen and adapter tensors
 * included) as a graph input with its HF name: float32, frozen ones as `frozenDtype`.
 */
export function declareBertWeights(g: Graph, parameters: ParameterSet, frozenDtype: FrozenDtype = 'float32', wordLookup: TableLookup = 'graph'): Map<string, Value> {
  const w = new Map<string, Value>();
  for (const p of parameters.inputs) {
    if (wordLookup === 'host' && p.name === WORD_TABLE) continue; // its rows come as the word_rows input
    w.set(p.name, g.input(p.name, p.use === 'frozen' ? frozenDtype : 'float32', p.shape));
  }
  return w;
}

const WORD_TABLE = 'embeddings.word_embeddings.weight';

/** A weight as float32: a float16 frozen one through a Cast that feeds the op reading it. */
function weight(w: Map<string, Value>, name: string): Value {
  const v = w.get(name);
  if (!v) throw new Error(`bert: no weight ${name}`);
  return v.dtype === 'float16' ? cast(v, 'float32') : v;
}

/** Rows of an embedding table: a float16 table is gathered as it is and only its rows are cast (no float32 table is built). */
function tableRows(w: Map<string, Value>, name: string, ids: Value): Value {
  const t = w.get(name);
  if (!t) throw new Error(`bert: no weight ${name}`);
  return t.dtype === 'float16' ? cast(gather(t, ids), 'float32') : gather(t, ids);
}

/**
 * The first dropout stream of the LoRA adapters' input dropout (the encoder's hidden and attention
 * sites use 0 and 1): the adapter of linear layer k of layer l (k in query, key, value,
 * attention.output.dense, intermediate.dense, output.dense) uses LORA_DROPOUT_STREAM + 6·l + k, so
 * each adapted layer draws its own mask, as each PEFT lora.Linear has its own nn.Dropout.
 */
export const LORA_DROPOUT_STREAM = 2;
const LINEARS_PER_LAYER = ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense'];

/**
 * The encoder's last hidden state [B,T,C]. `parameters` gives the LoRA adapters (none when left
 * out, as for the export's plain model); their tensors must be in `w`.
 */
export function bertEncoder(config: BertConfig, w: Map<string, Value>, x: BertInputs, mode: ForwardMode, parameters?: ParameterSet): Value {
  const g = x.inputIds.graph;
  const C = config.hiddenSize;
  const H = config.numHeads;
  const D = C / H;
  const masks = mode.train && (config.hiddenDropout > 0 || config.attentionDropout > 0) ? new DropoutMasks(config, x.attentionMask, mode.seed) : null;
  const dropHidden = (v: Value, site: number) => (masks ? masks.hiddenSite(v, config.hiddenDropout, site) : v);
  const W = (name: string) => weight(w, name);
  // nn.Linear of layer l's module `m` ([..., in] → [..., out]), with its LoRA path when adapted.
  const dense = (input: Value, l: number, m: string): Value => {
    const module = `encoder.layer.${l}.${m}`;
    const y = linear(input, W(`${module}.weight`), W(`${module}.bias`));
    const adapter = parameters?.loraOf(module);
    if (!adapter) return y;
    const { scale, dropout: p } = parameters!.lora!;
    return g.scope('lora', () => {
      const xd = mode.train && p > 0 ? dropout(input, p, mode.seed, LORA_DROPOUT_STREAM + LINEARS_PER_LAYER.length * l + LINEARS_PER_LAYER.indexOf(m)) : input;
      // (α/r) on the [..., r] middle: r ≪ out, the cheapest place for the scale.
      return add(y, linear(mul(linear(xd, W(adapter.a.name)), scale), W(adapter.b.name)));
    });
  };

  let h = g.scope('embeddings', () => {
    const words = x.wordRows ?? tableRows(w, WORD_TABLE, x.inputIds); // [B,T,C]
    const positions = tableRows(w, 'embeddings.position_embeddings.weight', x.positionIds); // [1,T,C]
    const types = x.tokenTypeIds
      ? tableRows(w, 'embeddings.token_type_embeddings.weight', x.tokenTypeIds) // [B,T,C]
      : slice(W('embeddings.token_type_embeddings.weight'), [0], [1], [0]); // [1,C]
    const sum = add(add(words, positions), types);
    const normed = layerNorm(sum, W('embeddings.LayerNorm.weight'), W('embeddings.LayerNorm.bias'), config.layerNormEps);
    return dropHidden(normed, 0);
  });

  // [B,1,1,T]: 0 for real keys, MASK_VALUE for padding.
  const maskBias = g.scope('mask', () => mul(sub(1, unsqueeze(x.attentionMask, [1, 2])), MASK_VALUE));

  for (let l = 0; l < config.numLayers; l++) {
    const L = `encoder.layer.${l}`;
    h = g.scope(L, () => {
      const input = h; // [B,T,C]
      const ctx = g.scope('attention.self', () => {
        const heads = (name: string) => reshape(dense(input, l, `attention.self.${name}`), [0, 0, H, D]); // [B,T,H,D]
        const q = transpose(heads('query'), [0, 2, 1, 3]); // [B,H,T,D]
        const kT = transpose(heads('key'), [0, 2, 3, 1]); // [B,H,D,T]
        const v = transpose(heads('value'), [0, 2, 1, 3]); // [B,H,T,D]
        const scores = add(mul(matmul(q, kT), 1 / Math.sqrt(D)), maskBias); // [B,H,T,T]
        const probs = masks ? masks.attentionSite(softmax(scores, -1), config.attentionDropout, l) : softmax(scores, -1);
        const c = transpose(matmul(probs, v), [0, 2, 1, 3]); // [B,T,H,D]
        return reshape(c, [0, 0, C]); // [B,T,C]
      });
      const attn = g.scope('attention.output', () => {
        const o = dropHidden(dense(ctx, l, 'attention.output.dense'), 1 + 2 * l);
        return layerNorm(add(o, input), W(`${L}.attention.output.LayerNorm.weight`), W(`${L}.attention.output.LayerNorm.bias`), config.layerNormEps);
      });
      const inter = g.scope('intermediate', () => gelu(dense(attn, l, 'intermediate.dense'))); // [B,T,F]
      return g.scope('output', () => {
        const o = dropHidden(dense(inter, l, 'output.dense'), 2 + 2 * l);
        return layerNorm(add(o, attn), W(`${L}.output.LayerNorm.weight`), W(`${L}.output.LayerNorm.bias`), config.layerNormEps);
      });
    });
  }
  return h;
}

/** Encoder → pooling → optional Normalize: sentence embeddings [B,C] and the last hidden state [B,T,C]. */
export function sentenceEmbedding(spec: SentenceSpec, w: Map<string, Value>, x: BertInputs, mode: ForwardMode): { embeddings: Value; lastHiddenState: Value } {
  const g = x.inputIds.graph;
  const lastHiddenState = bertEncoder(spec.config, w, x, mode, spec.parameters);
  const embeddings = g.scope('pooling', () => {
    const pooled = pool(lastHiddenState, x.attentionMask, spec.pooling); // [B,C]
    return spec.normalize ? l2Normalize(pooled, -1, 1e-12) : pooled;
  });
  return { embeddings, lastHiddenState };
}

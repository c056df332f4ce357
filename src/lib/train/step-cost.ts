// The expected speed of a training mode beside the others, for the page's "What to train"
// control: a count of the encoder's matrix-multiply work in one update, relative to full
// fine-tuning of the same model (docs/what-to-train.md#expected-speed). An estimate, not a
// measurement — it leaves out attention's T-dependent products, the embeddings' gathers,
// LayerNorms and the optimizer — so the page says "≈" and `npm run bench` has the measured rows.
// Not the memory account (memory.ts) and not the trainer.

import { loraTargets, type Trainable } from '../models/trainable.ts';
import type { BertConfig } from '../models/bert-config.ts';
import type { ModelShape } from './memory.ts';

/** The shape fields the estimate reads. */
export type CostShape = Pick<ModelShape, 'hiddenSize' | 'numLayers' | 'intermediateSize'>;

/** A BertConfig with the shape's sizes, enough for the linear layers' names and sizes. */
function shapeConfig(s: CostShape): BertConfig {
  return {
    family: 'bert', vocabSize: 1, hiddenSize: s.hiddenSize, numLayers: s.numLayers, numHeads: 1, intermediateSize: s.intermediateSize,
    maxPositions: 1, typeVocabSize: 1, layerNormEps: 1e-12, hiddenDropout: 0, attentionDropout: 0, padTokenId: 0,
  };
}

export interface StepCost {
  /** Multiply-adds per token of one update, in units of one layer's forward linear work (4C² + 2CF). */
  units: number;
  /** Full fine-tuning's units ÷ this mode's: > 1 is faster. */
  speedup: number;
}

/**
 * Per token and layer, a forward pass costs f = 4C² + 2CF multiply-adds; its backward costs f for
 * the input gradient (needed in every layer above the lowest one that trains anything, and in
 * every layer when the embeddings train) and f for the weight gradient (in a layer whose weights
 * train). A LoRA module adds r·(in + out) forward and about twice that backward. Full: 3·L·f.
 */
export function stepCost(t: Trainable, shape: CostShape): StepCost {
  const { hiddenSize: C, numLayers: L, intermediateSize: F } = shape;
  const f = 4 * C * C + 2 * C * F;
  const full = 3 * L;
  let units: number;
  switch (t.mode) {
    case 'full':
      units = full;
      break;
    case 'freeze': {
      const trainedLayers = L - Math.min(t.layers, L);
      const inputGradLayers = t.embeddings ? trainedLayers : L;
      units = L + inputGradLayers + trainedLayers;
      break;
    }
    case 'lora': {
      const targets = loraTargets(shapeConfig(shape), t).filter((m) => m.layer !== null);
      const lowest = Math.min(...targets.map((m) => m.layer!));
      const adapterWork = targets.reduce((s, m) => s + 3 * t.r * (m.in + m.out), 0) / f;
      units = L + (L - lowest) + adapterWork;
      break;
    }
  }
  return { units, speedup: full / units };
}


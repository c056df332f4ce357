// The losses' public surface: builders on embedding columns, the run-config loss spec, and the
// loss graphs the trainer runs. Not the trainer.

export { checkColumns, columnDim, splitColumns, stackColumns } from './columns.ts';
export { cosentLoss, type CosentOptions } from './cosent.ts';
export type { EmbeddingLoss } from '../models/graphs.ts';
export {
  buildLossGraph, EMBEDDINGS_GRAD_OUTPUT, EMBEDDINGS_INPUT, embeddingLoss, LOSS_OUTPUT, type LossGraphOptions, SCORES_INPUT,
} from './loss-graph.ts';
export { matryoshka, matryoshkaPlan, type MatryoshkaOptions, type MatryoshkaTerm, shrink } from './matryoshka.ts';
export { mnrl, type MnrlOptions } from './mnrl.ts';
export {
  buildLoss, columnRange, LOSS_TYPES, type LossSpec, LossSpecError, type LossType, needsScores, validateLossSpec,
} from './spec.ts';
export { TRIPLET_DISTANCES, type TripletDistance, tripletLoss, type TripletOptions } from './triplet.ts';

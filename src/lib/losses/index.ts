// The losses' public surface: builders on embedding columns, the loss records, the run-config loss
// spec, and the loss graphs the trainer runs. Not the trainer.

export { checkColumns, columnDim, splitColumns, stackColumns } from './columns.ts';
export { cosentLoss, type CosentOptions } from './cosent.ts';
export type { EmbeddingLoss } from '../models/graphs.ts';
export {
  buildLossGraph, EMBEDDINGS_GRAD_OUTPUT, EMBEDDINGS_INPUT, embeddingLoss, LOSS_OUTPUT, type LossGraphOptions, SCORES_INPUT,
} from './loss-graph.ts';
export { matryoshka, matryoshkaPlan, type MatryoshkaOptions, type MatryoshkaTerm, shrink } from './matryoshka.ts';
export { mnrl, type MnrlOptions } from './mnrl.ts';
export {
  columnRange, describeColumns, isLossType, LOSS_PARAMS, LOSS_RECORDS, LOSS_TYPES, type LossColumns, type LossParam, type LossParams,
  type LossRecord, type LossType, needsScores,
} from './records.ts';
export {
  buildLoss, lossCardText, type LossSpec, LossSpecError, pythonLossConstants, pythonLossLines, validateLossSpec, withLossDefaults,
} from './spec.ts';
export { TRIPLET_DISTANCES, type TripletDistance, tripletLoss, type TripletOptions } from './triplet.ts';

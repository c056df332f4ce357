// A run as it is kept in its store (`run.json` beside its checkpoints and, once finished, its
// model): config, provenance, status, progress, evaluations and losses. The page lists these as
// "runs" (Resume) and "My models" (finished runs); the CLI keeps one in its output folder.
// The layout of a run's store, the same in a CLI output folder and under `run/{runId}/` in
// IndexedDB:
//   run.json                              this record
//   checkpoints/checkpoint-{step}.safetensors   the two newest checkpoints (older ones are deleted)
//   kept/update-{step}.safetensors        the trained weights of the best evaluation so far, outside
//                                         checkpoints/ so their pruning never takes them; once
//                                         finished, of the best or the last: whichever the model does not hold
//   model.safetensors, config.json, …     the trained sentence-transformers model (finished runs)
//   train_log.jsonl, eval_results.json, run_config.json
// Not the orchestration (run.ts) and not the Store implementations.

import type { IrResult } from '../eval/ir-metrics.ts';
import type { RunEvaluation } from '../eval/report.ts';
import type { Store } from '../store/store.ts';
import type { FaultKind, TrainPath } from '../train/trainer.ts';
import type { RunConfig } from '../train/run-config.ts';
import type { GeneratedOrigin } from '../generate/generated-set.ts';
import type { Provenance } from './identity.ts';

export const RUN_RECORD_KEY = 'run.json';
export const RUN_RECORD_FORMAT = 'tabtune-run';
export const CHECKPOINTS_PREFIX = 'checkpoints/';
export const checkpointKey = (step: number) => `${CHECKPOINTS_PREFIX}checkpoint-${step}.safetensors`;
export const KEPT_PREFIX = 'kept/';
/** The trained weights (bare names, F32) of update `step`: the best checkpoint, or the last update's beside it. */
export const keptKey = (step: number) => `${KEPT_PREFIX}update-${step}.safetensors`;
export { RUN_OUTPUT_EXTRAS } from '../export/st-folder.ts';

export type { RunEvaluation };

export type RunStatus = 'running' | 'stopped' | 'done' | 'failed';

export interface EpochEval {
  /** HF style: epochs done (1 after the first), or the fraction reached at the plan's last update. */
  epoch: number;
  step: number;
  result: RunEvaluation;
  /** Why it ran: at an epoch's end (eval.everyEpoch) or every N updates (eval.everyUpdates); absent in older records: 'epoch'. */
  at?: 'epoch' | 'updates';
  /** Wall seconds the evaluation took (encoding the test queries and corpus, scoring). */
  seconds?: number;
}

/** The best evaluation during training by the run's metric (eval.best, default 'mean'), and where its weights are. */
export interface BestRecord {
  metric: string;
  step: number;
  value: number;
  /** Evaluations since it without improvement (early stopping's count). */
  since: number;
}

/** Which weights the finished run's model holds, and why (the card, My models and the export say so). */
export interface KeptRecord {
  choice: 'best' | 'last';
  /** The update whose weights the model holds. */
  step: number;
  /** The best and the last update; when they differ, the one the model does not hold has its weights under kept/. */
  best: number;
  last: number;
  why: string;
}

/** How often the run evaluates during training and what it costs, measured. */
export interface EvalCostRecord {
  /** Updates between evaluations (eval.everyUpdates, or what 'auto' chose). */
  every: number | null;
  /** How `every` was chosen, in words. */
  why: string;
  /** Seconds spent in evaluations during training and in training itself (updates, checkpoints), so far. */
  evalS: number;
  trainS: number;
  /** Measured (or, before the first evaluation, estimated) seconds per evaluation and per update: the figures N is derived from. */
  evalEachS?: number | null;
  updateEachS?: number | null;
}

export interface RunRecord {
  format: typeof RUN_RECORD_FORMAT;
  version: 1;
  runId: string;
  /** What the page lists the trained model as (renamable). */
  name: string;
  status: RunStatus;
  config: RunConfig;
  /** The base model (as the user named it) and the data set. */
  baseModel: string;
  dataSource: string;
  /** What made the data set when it is a generated set (the model card names it); absent or null otherwise. */
  generated?: GeneratedOrigin | null;
  provenance: Provenance;
  step: number;
  maxSteps: number;
  /** Step of the stored checkpoint; null when there is none. */
  checkpointStep: number | null;
  path: { path: TrainPath; miniBatchSize: number | null; why: string } | null;
  before: RunEvaluation | null;
  after: RunEvaluation | null;
  evals: EpochEval[];
  /** The best evaluation during training (absent or null when nothing was evaluated during training). */
  best?: BestRecord | null;
  /** Which weights the model holds (a finished run that evaluated during training). */
  kept?: KeptRecord | null;
  /** Evaluation during training: how often and its measured cost. */
  evalCost?: EvalCostRecord | null;
  /** True when early stopping ended training before the plan's end. */
  earlyStopped?: boolean;
  /** Loss per update so far. */
  losses: number[];
  error: string | null;
  /** What stopped a failed run (faults.ts TrainingFault), for the page's "continue on WASM". */
  fault: { kind: FaultKind; failedStep: number; lastGoodStep: number } | null;
  started: number;
  updated: number;
  /** When the trained model was written (a finished run); null before. */
  finished: number | null;
  /** Bytes of the trained model's files (a finished run). */
  modelBytes: number | null;
}

const dec = new TextDecoder();

export async function readRunRecord(store: Store): Promise<RunRecord | null> {
  const bytes = await store.get(RUN_RECORD_KEY);
  if (!bytes) return null;
  const r = JSON.parse(dec.decode(bytes)) as RunRecord;
  if (r.format !== RUN_RECORD_FORMAT) throw new Error(`${RUN_RECORD_KEY} in ${store.description} is not a tabtune run record`);
  return r;
}

export async function writeRunRecord(store: Store, r: RunRecord): Promise<void> {
  r.updated = Date.now();
  await store.set(RUN_RECORD_KEY, new TextEncoder().encode(JSON.stringify(r)));
}

/** Steps of the checkpoints in a run's store, newest first. */
export async function checkpointSteps(store: Store): Promise<number[]> {
  return (await store.keys(CHECKPOINTS_PREFIX))
    .map((k) => /^checkpoints\/checkpoint-(\d+)\.safetensors$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
}

/**
 * The record as a resume will see it. A checkpoint is committed before the record that names it
 * is rewritten, so a run stopped in between (a closed tab) has a newer checkpoint than its
 * `checkpointStep`; resuming reads the newest one (run.ts, readNewestCheckpoint), so this names
 * that one too, and the update it was made at.
 */
export async function withNewestCheckpoint(store: Store, r: RunRecord): Promise<RunRecord> {
  if (r.status === 'done') return r;
  const [newest] = await checkpointSteps(store);
  if (newest === undefined || (r.checkpointStep !== null && newest <= r.checkpointStep)) return r;
  return { ...r, checkpointStep: newest, step: Math.max(r.step, newest) };
}

/** The run config's model id for a model trained in this browser (run `runId`'s output). */
export const storedModelId = (runId: string) => `stored:${runId}`;
/** The run id a `stored:` model id names, or null for a Hub id or a folder. */
export const storedRunId = (modelId: string) => (modelId.startsWith('stored:') ? modelId.slice('stored:'.length) : null);

/** nDCG@10 (cosine) per Matryoshka dim of an evaluation: what lists and cards show. */
export function ndcgByDim(r: IrResult | null): { dim: number; ndcg: number }[] {
  if (!r) return [];
  return r.evaluators.map((e) => ({ dim: e.dim, ndcg: e.metrics[`${e.name}_cosine_ndcg@10`] }));
}

// "Outgrow the browser": a run config as a Python script that repeats the run with
// sentence-transformers (v3+ SentenceTransformerTrainer) on one GPU (`python train.py`) or several
// (`accelerate launch train.py`, `torchrun --nproc_per_node N train.py`): the same model and
// revision, data set and column mapping, loss (inside MatryoshkaLoss with the same dims), batch
// size, epochs or max steps, lr, scheduler, warmup, weight decay, clipping, accumulation, seed,
// the NO_DUPLICATES sampler, the data hygiene remedies (docs/data.md#data-hygiene), the query and document prompts (per column for the trainer,
// query_prompt / corpus_prompt for the evaluator), evaluation during training as the HF Trainer has it
// (eval_steps, load_best_model_at_end by eval.best, EarlyStoppingCallback), and one InformationRetrievalEvaluator per
// dimension built as our evaluator builds its set (src/lib/eval/ir-set.ts). Every hyperparameter is a module-level
// constant, so the script reads as a config and a test can read them back with Python's `ast`.
// What trains is the run's mode (models/trainable.ts): a LoRA run adds the adapter with
// `model.add_adapter(LoraConfig(...))` (peft; the saved folder is then the adapter, as tabtune's
// adapter form), a freeze run calls `requires_grad_(False)` on the frozen embeddings and layers.
// Differences it cannot remove are said in its docstring (data order: torch's RNG, not ours).
// Not run here: this machine has no GPU and no sentence-transformers.

import { pythonLossConstants, pythonLossLines } from '../losses/spec.ts';
import { recordedPrompts } from '../models/prompts.ts';
import { FULL, type Trainable } from '../models/trainable.ts';
import type { RunConfig } from '../train/run-config.ts';
import { isHubId } from './model-card.ts';
import { publicConfig } from './public-names.ts';

/** A Python literal for a JSON-like value (str, int, float, bool, None, list, dict). */
export function pyLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v); // JS prints 2e-5 as 0.00002, 1e-7 as 1e-7: both Python floats
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(', ')}}`;
}

const float = (x: number) => (Number.isInteger(x) ? `${x}.0` : String(x));

function dataLoader(source: string, revision: string): string[] {
  if (isHubId(source)) return [`    return load_dataset(DATASET_ID, revision=DATASET_REVISION)`];
  const ext = source.split('.').pop()?.toLowerCase();
  const format = ext === 'jsonl' || ext === 'json' ? 'json' : ext === 'csv' || ext === 'tsv' ? 'csv' : ext === 'parquet' ? 'parquet' : null;
  if (!format) {
    return [
      `    # DATASET_ID is a local folder: load its split files (train.*, test.*) with the matching builder, e.g.`,
      `    # load_dataset("json", data_files={"train": f"{DATASET_ID}/train.jsonl", "test": f"{DATASET_ID}/test.jsonl"})`,
      `    return load_dataset(DATASET_ID)`,
    ];
  }
  return [`    return load_dataset(${JSON.stringify(format)}, data_files={"train": DATASET_ID}${ext === 'tsv' ? ', delimiter="\\t"' : ''})`];
}

/** The loss from its record (src/lib/losses/records.ts): its class, Cached form and Matryoshka wrapper. */
const lossLines = (config: RunConfig): string[] =>
  pythonLossLines(config.loss, { gradCacheMiniBatch: typeof config.gradCache === 'object' }).map((line) => `    ${line}`);

/** The mode's constants: TRAINABLE plus the mode's own settings. */
function trainableConstants(t: Trainable): [string, unknown, string?][] {
  const mode: [string, unknown, string?] = ['TRAINABLE', t.mode, 'what trains: "full", "freeze" (lowest layers frozen) or "lora" (PEFT adapters)'];
  if (t.mode === 'freeze') return [mode, ['FREEZE_EMBEDDINGS', t.embeddings], ['FREEZE_LAYERS', t.layers, 'encoder layers 0 … FREEZE_LAYERS − 1 get no gradient']];
  if (t.mode === 'lora') {
    return [
      mode, ['LORA_R', t.r], ['LORA_ALPHA', t.alpha, 'the adapter output is scaled by LORA_ALPHA / LORA_R'], ['LORA_DROPOUT', t.dropout],
      ['LORA_TARGET_MODULES', t.targetModules, 'PEFT matches a module whose path equals a name or ends with "." + it'],
    ];
  }
  return [mode];
}

/** The lines in main() that make the model train as the run did (nothing for full fine-tuning). */
function trainableLines(t: Trainable): string[] {
  if (t.mode === 'freeze') {
    return [
      '    # Frozen as the run froze them: no gradient, no optimizer state for these weights.',
      '    encoder = model[0].auto_model',
      '    if FREEZE_EMBEDDINGS:',
      '        encoder.embeddings.requires_grad_(False)',
      '    for layer in encoder.encoder.layer[:FREEZE_LAYERS]:',
      '        layer.requires_grad_(False)',
    ];
  }
  if (t.mode === 'lora') {
    return [
      '    # LoRA as the run trained it (pip install peft): the base weights frozen, adapters A (Kaiming-uniform) and B (zeros).',
      '    from peft import LoraConfig, TaskType',
      '',
      '    model.add_adapter(LoraConfig(',
      '        task_type=TaskType.FEATURE_EXTRACTION, r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT,',
      '        target_modules=LORA_TARGET_MODULES, bias="none",',
      '    ))',
    ];
  }
  return [];
}

/** train.py for `config` (a parsed run config). */
export function trainScript(config: RunConfig): string {
  // Local model folders and data files by name: the script runs from the folder that holds them.
  const c = publicConfig(config);
  const l = c.loss;
  // The prompt texts the run trained with (a run records them resolved): a column → prompt dict
  // for the trainer, query_prompt / corpus_prompt for the evaluator, as tabtune applies them.
  const prompts = recordedPrompts(c.prompts);
  const columns = c.data.columns ? Object.fromEntries(Object.entries(c.data.columns).filter(([role]) => role !== 'id' && role !== 'score').map(([role, col]) => [col, role])) : null;
  const constants: [string, unknown, string?][] = [
    ['MODEL_ID', c.model.id],
    ['MODEL_REVISION', c.model.revision],
    ['DATASET_ID', c.data.source],
    ['DATASET_REVISION', c.data.revision],
    ['COLUMNS', columns, 'data column → role; None: the columns are already named anchor/positive/negative (or question/doc as in the seed)'],
    ['ID_COLUMN', c.data.columns?.id ?? null],
    ['SCORE_COLUMN', c.data.columns?.score ?? null],
    ['TRAIN_SPLIT', c.data.trainSplit],
    ['TEST_SPLIT', c.data.testSplit],
    ['TEST_FRACTION', c.data.testFraction],
    ['SPLIT_SEED', c.data.splitSeed],
    ['DROP_DUPLICATES', c.data.dropDuplicates, 'drop rows equal to an earlier row of their split (texts compared as .join(t.split()))'],
    ['MOVE_LEAKED_TEST', c.data.moveLeakedTest, 'move test rows whose positive is a training positive into train'],
    ['LOSS', l.type],
    ...pythonLossConstants(l),
    ['MATRYOSHKA_DIMS', l.matryoshka?.dims ?? null],
    ['MATRYOSHKA_WEIGHTS', l.matryoshka?.weights ?? null],
    ['QUERY_PROMPT', prompts.query, 'prepended to the anchor column and to the evaluator\'s queries; "" for none'],
    ['DOCUMENT_PROMPT', prompts.document, 'prepended to the positive and negative columns and to the evaluator\'s corpus; "" for none'],
    ...trainableConstants(c.trainable ?? FULL),
    ['GRADCACHE_MINI_BATCH', typeof c.gradCache === 'object' ? c.gradCache.miniBatchSize : null],
    ['BATCH_SIZE', c.batchSize, 'per device: on N GPUs each in-batch softmax still sees BATCH_SIZE rows'],
    ['EPOCHS', c.epochs],
    ['MAX_STEPS', c.maxSteps ?? -1],
    ['LEARNING_RATE', c.lr],
    ['LR_SCHEDULER', c.scheduler],
    ['WARMUP_RATIO', c.warmupRatio],
    ['WARMUP_STEPS', c.warmupSteps],
    ['WEIGHT_DECAY', c.weightDecay],
    ['ADAM_MOMENTS', c.adamMoments, "tabtune's bfloat16 moments have no TrainingArguments twin; torch's AdamW keeps float32 (optim='adamw_bnb_8bit' is the nearest memory saver)"],
    ['MAX_GRAD_NORM', c.maxGradNorm],
    ['GRADIENT_ACCUMULATION', c.accumulation],
    ['SEED', c.seed],
    ['SHUFFLE', c.shuffle, 'the samplers of sentence-transformers >= 3.4 always reshuffle each epoch'],
    ['BATCH_SAMPLER', c.sampler],
    ['DROP_LAST', c.dropLast],
    ['DROPOUT', c.dropout],
    ['MAX_SEQ_LENGTH', c.maxSeqLength],
    ['EVAL_BEFORE', c.eval.before],
    ['EVAL_EVERY_EPOCH', c.eval.everyEpoch],
    ['EVAL_EVERY_UPDATES', c.eval.everyUpdates === 'auto' ? null : c.eval.everyUpdates, c.eval.everyUpdates === 'auto' ? "tabtune's 'auto' chose N from measured costs (docs/training.md#evaluation-during-training); set a number to evaluate every N steps" : 'evaluate every N optimizer steps (eval_strategy="steps")'],
    ['EVAL_BEST', c.eval.best, '"mean" (nDCG@10 averaged over the dims), "dim_768" or a metric key: load_best_model_at_end by it; None: the last'],
    ['EVAL_PATIENCE', c.eval.patience, 'EarlyStoppingCallback: stop after this many evaluations without improvement'],
    ['EVAL_AFTER', c.eval.after],
    ['RECIPE_COMPATIBLE_EVAL', c.eval.recipeCompatible],
    ['OUTPUT_DIR', 'tabtune-output'],
  ];
  const floats = new Set([...pythonLossConstants(l).map(([k]) => k), 'LEARNING_RATE', 'WARMUP_RATIO', 'WEIGHT_DECAY', 'MAX_GRAD_NORM', 'TEST_FRACTION']);
  const constLines = constants.map(([k, v, note]) => {
    const lit = floats.has(k) && typeof v === 'number' ? float(v) : pyLiteral(v);
    return `${k} = ${lit}${note ? `  # ${note}` : ''}`;
  });

  return `"""Repeats a tabtune run with sentence-transformers (>= 3) — written by \`tabtune script\`.

One GPU:       python train.py
Several GPUs:  accelerate launch train.py
               torchrun --nproc_per_node 4 train.py

Needs: pip install "sentence-transformers>=3" datasets accelerate
The hyperparameters below are the run config's (run_config.json). What cannot be the same: the
order of the batches (torch's RNG shuffles, not tabtune's) and dropout masks, so numbers agree
in distribution, not bit for bit. With several GPUs each device takes BATCH_SIZE rows per step
(the in-batch negatives of MultipleNegativesRankingLoss stay per device).
"""

import torch
from datasets import DatasetDict, concatenate_datasets, load_dataset
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    losses,
)
from sentence_transformers.evaluation import InformationRetrievalEvaluator, SequentialEvaluator
from sentence_transformers.training_args import BatchSamplers
from sentence_transformers.util import cos_sim
from transformers import EarlyStoppingCallback

${constLines.join('\n')}

ROLES = ["anchor", "positive", "negative"]
SEED_COLUMNS = {"question": "anchor", "doc": "positive"}  # the seed data set's names


def load_splits() -> DatasetDict:
${dataLoader(c.data.source, c.data.revision).join('\n')}


def prepare(splits: DatasetDict) -> tuple:
    """Columns renamed to their roles and put in role order (column 0 is the anchor)."""
    mapping = COLUMNS or {k: v for k, v in SEED_COLUMNS.items() if k in splits[TRAIN_SPLIT].column_names}
    splits = splits.rename_columns({k: v for k, v in mapping.items() if k != v})
    if TEST_SPLIT is not None and TEST_SPLIT in splits:
        train, test = splits[TRAIN_SPLIT], splits[TEST_SPLIT]
    else:
        parts = splits[TRAIN_SPLIT].train_test_split(test_size=TEST_FRACTION, seed=SPLIT_SEED)
        train, test = parts["train"], parts["test"]
    train, test = hygiene_remedies(train, test)
    keep = [r for r in ROLES if r in train.column_names] + ([SCORE_COLUMN] if SCORE_COLUMN else [])
    ids = {"train": train[ID_COLUMN] if ID_COLUMN else None, "test": test[ID_COLUMN] if ID_COLUMN else None}
    return train.select_columns(keep), test.select_columns(keep), ids


def hygiene_key(text: str) -> str:
    """Texts compared as tabtune's data hygiene compares them: each run of whitespace one space."""
    return " ".join(text.split())


def drop_duplicates(data):
    """The first of each group of rows equal on every text column the loss sees and the score."""
    texts = [c for c in data.column_names if c in ROLES or c.startswith("negative")]
    seen, keep = set(), []
    for i, row in enumerate(data):
        key = tuple(hygiene_key(row[c]) for c in texts) + ((row[SCORE_COLUMN],) if SCORE_COLUMN else ())
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return data.select(keep)


def hygiene_remedies(train, test) -> tuple:
    """tabtune's remedies, in its order: leaked test rows into train (unless none would be left), then duplicates out."""
    if MOVE_LEAKED_TEST:
        positives = {hygiene_key(p) for p in train["positive"]}
        leaked = [i for i, p in enumerate(test["positive"]) if hygiene_key(p) in positives]
        if 0 < len(leaked) < len(test):
            moved = set(leaked)
            train = concatenate_datasets([train, test.select(leaked)])
            test = test.select([i for i in range(len(test)) if i not in moved])
    if DROP_DUPLICATES:
        train, test = drop_duplicates(train), drop_duplicates(test)
    return train, test


def ir_evaluator(train, test, ids, dim: int) -> InformationRetrievalEvaluator:
    """tabtune's IR set: corpus = every distinct document of both splits, queries = the test
    anchors, relevant = the query's own document (by text; by the id column when it names documents).
    RECIPE_COMPATIBLE_EVAL rebuilds the seed's set instead (row-index ids per split, test over train)."""
    if RECIPE_COMPATIBLE_EVAL:
        corpus = {i: d for i, d in enumerate(train["positive"])}
        corpus.update({i: d for i, d in enumerate(test["positive"])})
        queries = {i: q for i, q in enumerate(test["anchor"])}
        relevant = {i: [i] for i in queries}
    else:
        doc_id = {}
        for split in ("train", "test"):
            data = train if split == "train" else test
            for k, d in enumerate(data["positive"]):
                key = ids[split][k] if ids[split] is not None else d
                doc_id.setdefault(d, f"d{key}" if ids[split] is not None else f"d{len(doc_id)}")
        corpus = {i: d for d, i in doc_id.items()}
        queries = {f"q{k}": q for k, q in enumerate(test["anchor"])}
        relevant = {f"q{k}": {doc_id[d]} for k, d in enumerate(test["positive"])}
    return InformationRetrievalEvaluator(
        queries, corpus, relevant, name=f"dim_{dim}", truncate_dim=dim, score_functions={"cosine": cos_sim},
        query_prompt=QUERY_PROMPT, corpus_prompt=DOCUMENT_PROMPT,
    )


def column_prompts(columns: list) -> dict:
    """The prompt of each text column: the query prompt on the anchor, the document prompt on the rest."""
    prompts = {col: QUERY_PROMPT if col == "anchor" else DOCUMENT_PROMPT for col in columns if col != SCORE_COLUMN}
    return {col: p for col, p in prompts.items() if p}


def main() -> None:
    model = SentenceTransformer(MODEL_ID, revision=MODEL_REVISION)
    if MAX_SEQ_LENGTH is not None:
        model.max_seq_length = MAX_SEQ_LENGTH
    if not DROPOUT:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
${[...trainableLines(c.trainable ?? FULL), ''].join('\n')}    train, test, ids = prepare(load_splits())
    hidden = model.get_sentence_embedding_dimension()
    dims = MATRYOSHKA_DIMS or [d for d in [768, 512, 256, 128, 64] if d <= hidden]
    # The sequential score is the mean of the dims' nDCG@10, what EVAL_BEST = "mean" compares.
    evaluator = SequentialEvaluator([ir_evaluator(train, test, ids, d) for d in dims], main_score_function=lambda s: sum(s) / len(s)) if len(test) else None
    during = evaluator is not None and (EVAL_EVERY_EPOCH or EVAL_EVERY_UPDATES is not None)
    best = EVAL_BEST if during else None
    best_metric = None if best is None else "eval_sequential_score" if best == "mean" else f"eval_{best}_cosine_ndcg@10" if best.count("_") == 1 else f"eval_{best}"

${lossLines(c).join('\n')}

    args = SentenceTransformerTrainingArguments(
        output_dir=OUTPUT_DIR,
        num_train_epochs=EPOCHS,
        max_steps=MAX_STEPS,
        per_device_train_batch_size=BATCH_SIZE,
        gradient_accumulation_steps=GRADIENT_ACCUMULATION,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type=LR_SCHEDULER,
        warmup_ratio=WARMUP_RATIO,
        warmup_steps=WARMUP_STEPS,
        weight_decay=WEIGHT_DECAY,
        max_grad_norm=MAX_GRAD_NORM,
        seed=SEED,
        batch_sampler=BatchSamplers.NO_DUPLICATES if BATCH_SAMPLER == "no_duplicates" else BatchSamplers.BATCH_SAMPLER,
        dataloader_drop_last=DROP_LAST,
        eval_strategy="steps" if (EVAL_EVERY_UPDATES and evaluator) else "epoch" if (EVAL_EVERY_EPOCH and evaluator) else "no",
        eval_steps=EVAL_EVERY_UPDATES,
        # load_best_model_at_end needs a checkpoint at every evaluation
        save_strategy="steps" if (EVAL_EVERY_UPDATES and evaluator) else "epoch",
        save_steps=EVAL_EVERY_UPDATES or 500,
        load_best_model_at_end=best is not None or (during and EVAL_PATIENCE is not None),
        metric_for_best_model=best_metric or ("eval_sequential_score" if during and EVAL_PATIENCE is not None else None),
        greater_is_better=True,
        save_total_limit=2,
        logging_steps=10,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        prompts=column_prompts(train.column_names) or None,
    )
    if evaluator and EVAL_BEFORE:
        print("before:", evaluator(model))
    callbacks = [EarlyStoppingCallback(early_stopping_patience=EVAL_PATIENCE)] if (during and EVAL_PATIENCE is not None) else None
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train, loss=loss, evaluator=evaluator, callbacks=callbacks)
    trainer.train()
    if evaluator and EVAL_AFTER:
        print("after:", evaluator(model))
    if trainer.is_world_process_zero():
        if QUERY_PROMPT or DOCUMENT_PROMPT:
            # saved as tabtune's export names them, for encode(prompt_name="query" / "document")
            model.prompts.update({"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT})
        # With LoRA this saves the adapter (adapter_config.json, adapter_model.safetensors) and the
        # module files, as tabtune's adapter form (tabtune's default export merges W + (α/r)·B·A instead).
        model.save_pretrained(f"{OUTPUT_DIR}/final")


if __name__ == "__main__":
    main()
`;
}

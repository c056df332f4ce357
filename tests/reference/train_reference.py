#!/usr/bin/python3
"""Independent PyTorch reference for tabtune's trainer: three AdamW steps on the fixture model.

What it is: the training loop of sentence-transformers + the HF Trainer as docs/training.md
describes it, written with torch: batches from the NO_DUPLICATES sampler in file order (shuffle
off, docs/training.md#samplers), each text column tokenized on its own (basic BERT tokenization +
greedy WordPiece over the fixture's vocab.txt, [CLS] … [SEP], padding to the column's longest:
docs/encoder.md#tokenization) and embedded by the float64 BERT of bert_reference.py (eval mode:
dropout off), the loss of losses_reference.py, backward, torch.nn.utils.clip_grad_norm_(1.0),
torch.optim.AdamW (two groups: no decay for biases and LayerNorm weights,
docs/optimizer.md#parameter-groups), constant learning rate 1e-3, weight decay 0.01, batch 8,
accumulation 1. Computed in float64; the final weights are stored as float32.

Cases (qa-tiny's train.jsonl, file order; the TS test builds the same rows):
  mnrl_matryoshka  (question, doc), MNRL scale 20 inside Matryoshka dims [32, 16, 8], weights 1
  mnrl_hard_neg    (question, doc, negative), MNRL scale 20; negative = the doc of the next id:
                   ids sorted ascending, the next larger id than the row's own (the largest wraps
                   to the smallest), its doc (the first row's doc with that id)
  cosent           (question, text, score): even rows (0-based) pair the question with its own
                   doc, score 1; odd rows with the next id's doc (rule above), score 0; scale 20
  mnrl_two_neg_matryoshka  (question, doc, negative 1, negative 2): the docs of the next and the
                   second next larger ids (cyclic, as above); MNRL scale 20 inside Matryoshka
                   dims [32, 16, 8]
  triplet_matryoshka  (question, doc, negative 1): TripletLoss, euclidean, margin 5, inside
                   Matryoshka dims [32, 16, 8]

What trains (docs/lora.md), with the mnrl_matryoshka rows and loss:
  freeze_mnrl_matryoshka  embeddings (tables and LayerNorm) and encoder layer 0 frozen by
                   requires_grad_(False); layer 1 trains
  lora_mnrl_matryoshka    LoRA r 4, alpha 8 on "all-linear" (bert_reference.add_lora: every linear
                   layer, pooler included; the pooler's adapters get no gradient and are not
                   stored); every base tensor frozen
  lora_qv_hard_neg        LoRA r 8, alpha 16 on PEFT's BERT default ["query", "value"], the
                   mnrl_hard_neg rows and loss
  A is drawn as tabtune draws it (src/lib/models/trainable.ts initAdapterWeights): xoshiro128**
  seeded by SplitMix32 from seed 42 XOR 0x4c6f5241, adapters in named_modules() order, each A
  row-major, (2u − 1)/√in with u = next32 / 2³², rounded to float32; B zeros. Only trained tensors
  are stored (`<case>/weights/<name>`, the adapters as `<module>.lora_A.weight` /
  `.lora_B.weight`).

XLM-RoBERTa cases (--family xlm-roberta): mnrl_matryoshka on each of the fixtures tiny-xlmr (CLS +
Normalize) and tiny-xlmr-mean (mean pooling), the case names prefixed with the model's
(`tiny-xlmr/mnrl_matryoshka/…`), written to data/train-xlmr.safetensors, together with
`unigram/ids` and `unigram/offsets` (I64: text k's ids are ids[offsets[k]:offsets[k+1]]), every
distinct text of the file (metadata `unigram_texts`, file order) as the tokenizer below encodes it. Their texts are tokenized
by our own SentencePiece Unigram encoder over the tokenizer.json vocabulary: strip, runs of spaces
to one, spaces to `▁` with one prepended, a split before every `▁`, and per word the Viterbi
segmentation of highest total score (every character is a piece of the fixture vocabulary, so no
unknowns), then `<s> … </s>`. Position ids as bert_reference.py gives them for XLM-R (from pad + 1).

Output: tests/reference/data/train.safetensors — `<case>/losses` F64 [3] (the loss of each step,
before its update) and `<case>/weights/<name>` F32 for every trained parameter after step 3
(HF names; the pooler is not trained and not stored); __metadata__ format_version "1", the
model's and data's sha256, the rules above, and each case's batches (row indices).

Tokenization is our own (not the TS tokenizer, not transformers): the fixture texts are ASCII, so
BERT's basic tokenizer is: strip, lowercase, split on whitespace, every ASCII punctuation character
a token of its own; then greedy longest-match WordPiece with `##` continuations.

Run: /usr/bin/python3 tests/reference/train_reference.py [--fixtures tests/.fixtures] [--out tests/reference/data/train.safetensors]
     /usr/bin/python3 tests/reference/train_reference.py --family xlm-roberta [--out tests/reference/data/train-xlmr.safetensors]
"""
import argparse
import hashlib
import json
import math
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_reference as br  # noqa: E402
import losses_reference as lr_  # noqa: E402

FORMAT_VERSION = "1"
BATCH, STEPS, LR, WD, MAX_NORM = 8, 3, 1e-3, 0.01, 1.0


# ---- tokenization --------------------------------------------------------------------------

def load_vocab(folder):
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


def basic_tokens(text):
    if any(ord(ch) > 127 for ch in text):
        raise ValueError(f"non-ASCII text not supported by this reference tokenizer: {text!r}")
    return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.strip().lower())


def word_piece(word, vocab):
    out, start = [], 0
    while start < len(word):
        end, piece = len(word), None
        while start < end:
            sub = ("##" if start > 0 else "") + word[start:end]
            if sub in vocab:
                piece = sub
                break
            end -= 1
        if piece is None:
            return ["[UNK]"]
        out.append(piece)
        start = end
    return out


class Unigram:
    """SentencePiece Unigram over tokenizer.json's `model.vocab` ([piece, log prob] in id order)."""

    def __init__(self, folder):
        model = br.read_json(os.path.join(folder, "tokenizer.json"))["model"]
        if model["type"] != "Unigram":
            raise ValueError(f"{folder}: tokenizer.json model is {model['type']}, not Unigram")
        self.pieces = {p: (i, float(score)) for i, (p, score) in enumerate(model["vocab"])}
        self.longest = max(len(p) for p in self.pieces)

    def words(self, text):
        s = re.sub(" {2,}", " ", text.strip()).replace(" ", "\u2581")
        if not s.startswith("\u2581"):
            s = "\u2581" + s
        return ["\u2581" + w for w in s.split("\u2581") if w]

    def viterbi(self, word):
        # best[i]: (score, ids) of the best segmentation of word[:i].
        best = [(0.0, [])] + [None] * len(word)
        for end in range(1, len(word) + 1):
            for start in range(max(0, end - self.longest), end):
                piece = self.pieces.get(word[start:end])
                if piece is None or best[start] is None:
                    continue
                cand = (best[start][0] + piece[1], best[start][1] + [piece[0]])
                if best[end] is None or cand[0] > best[end][0]:
                    best[end] = cand
            if best[end] is None and end == len(word):
                raise ValueError(f"no segmentation of {word!r} (a character outside the vocabulary)")
        return best[len(word)][1]

    def encode(self, text):
        return [i for w in self.words(text) for i in self.viterbi(w)]


def encode_column(texts, vocab, max_len, specials=("[CLS]", "[SEP]", "[PAD]"), unigram=None):
    """texts -> input_ids [B,T] int64, attention_mask [B,T] float64 (padded to the longest)."""
    cls, sep, pad = specials
    rows = []
    for t in texts:
        ids = unigram.encode(t) if unigram else [vocab[p] for w in basic_tokens(t) for p in word_piece(w, vocab)]
        ids = [vocab[cls]] + ids[: max_len - 2] + [vocab[sep]]
        rows.append(ids)
    T = max(len(r) for r in rows)
    input_ids = np.full((len(rows), T), vocab[pad], dtype=np.int64)
    mask = np.zeros((len(rows), T))
    for i, r in enumerate(rows):
        input_ids[i, : len(r)] = r
        mask[i, : len(r)] = 1.0
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


# ---- data ----------------------------------------------------------------------------------

def read_rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def next_id_doc(rows, ahead=1):
    doc_of = {}
    for r in rows:
        doc_of.setdefault(r["id"], r["doc"])
    ids = sorted(doc_of)
    nxt = {a: ids[(i + ahead) % len(ids)] for i, a in enumerate(ids)}
    return lambda r: doc_of[nxt[r["id"]]]


def case_examples(case, rows):
    """Each example: (texts per column, score or None)."""
    other = next_id_doc(rows)
    if case == "mnrl_matryoshka":
        return [((r["question"], r["doc"]), None) for r in rows]
    if case == "mnrl_hard_neg":
        return [((r["question"], r["doc"], other(r)), None) for r in rows]
    if case == "cosent":
        return [((r["question"], r["doc"] if i % 2 == 0 else other(r)), 1.0 if i % 2 == 0 else 0.0) for i, r in enumerate(rows)]
    if case == "mnrl_two_neg_matryoshka":
        other2 = next_id_doc(rows, ahead=2)
        return [((r["question"], r["doc"], other(r), other2(r)), None) for r in rows]
    if case == "triplet_matryoshka":
        return [((r["question"], r["doc"], other(r)), None) for r in rows]
    raise ValueError(case)


def no_duplicates_batches(examples, batch_size):
    """NoDuplicatesBatchSampler over file order, drop_last False (docs/training.md#samplers)."""
    remaining = list(range(len(examples)))
    out = []
    while remaining:
        values, batch = set(), []
        for i in remaining:
            texts = examples[i][0]
            if any(t in values for t in texts):
                continue
            batch.append(i)
            if len(batch) == batch_size:
                break
            values.update(texts)
        out.append(batch)
        taken = set(batch)
        remaining = [i for i in remaining if i not in taken]
    return out


# ---- training ------------------------------------------------------------------------------

def loss_of(case, cols, scores):
    if case == "mnrl_matryoshka":
        return lr_.matryoshka(lambda c: lr_.mnrl(c, scale=20.0), cols, [32, 16, 8])
    if case == "mnrl_hard_neg":
        return lr_.mnrl(cols, scale=20.0)
    if case == "mnrl_two_neg_matryoshka":
        return lr_.matryoshka(lambda c: lr_.mnrl(c, scale=20.0), cols, [32, 16, 8])
    if case == "triplet_matryoshka":
        return lr_.matryoshka(lambda c: lr_.triplet(c, margin=5.0, distance="euclidean"), cols, [32, 16, 8])
    return lr_.cosent(cols, scores, scale=20.0)


class Rng:
    """tabtune's src/lib/util/rng.ts re-implemented: SplitMix32 seeding, xoshiro128** (32-bit)."""

    M = 0xFFFFFFFF

    def __init__(self, seed):
        x = seed & self.M

        def nxt():
            nonlocal x
            x = (x + 0x9E3779B9) & self.M
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & self.M
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & self.M
            return (z ^ (z >> 16)) & self.M

        self.s = [nxt() for _ in range(4)]

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (32 - k))) & Rng.M

    def next32(self):
        s0, s1, s2, s3 = self.s
        result = (self.rotl((s1 * 5) & self.M, 7) * 9) & self.M
        t = (s1 << 9) & self.M
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self.rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self):
        return self.next32() / 4294967296.0


LORA_INIT_STREAM = 0x4C6F5241
SEED = 42  # the run config's default seed


def kaiming_a(rng):
    """torch's kaiming_uniform_(a=√5) bound, 1/√in, with tabtune's stream; float32 values."""
    def init(r, n_in):
        bound = 1.0 / math.sqrt(n_in)
        vals = [(2.0 * rng.uniform() - 1.0) * bound for _ in range(r * n_in)]
        return np.array(vals, dtype=np.float32).reshape(r, n_in).astype(np.float64)
    return init


# case → (rows and loss of, what trains)
TRAINABLE_CASES = {
    "freeze_mnrl_matryoshka": ("mnrl_matryoshka", {"mode": "freeze", "embeddings": True, "layers": 1}),
    "lora_mnrl_matryoshka": ("mnrl_matryoshka", {"mode": "lora", "r": 4, "alpha": 8, "dropout": 0, "targetModules": "all-linear"}),
    "lora_qv_hard_neg": ("mnrl_hard_neg", {"mode": "lora", "r": 8, "alpha": 16, "dropout": 0, "targetModules": ["query", "value"]}),
}


def apply_trainable(model, trainable):
    """Freezes with requires_grad_(False) what the mode freezes; adds LoRA adapters."""
    if trainable["mode"] == "freeze":
        k = trainable["layers"]
        for n, p in model.named_parameters():
            layer = re.match(r"encoder\.layer\.(\d+)\.", n)
            if (n.startswith("embeddings.") and trainable["embeddings"]) or (layer and int(layer.group(1)) < k):
                p.requires_grad_(False)
    elif trainable["mode"] == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        br.add_lora(model, trainable["r"], trainable["alpha"], trainable["targetModules"], kaiming_a(Rng(SEED ^ LORA_INIT_STREAM)))


def no_decay(name):
    return "bias" in name or re.search(r"(^|\.)LayerNorm\.[^.]+$", name) is not None


def run_case(case, folder, rows, vocab, max_len, specials=("[CLS]", "[SEP]", "[PAD]"), unigram=None, trainable=None, name=None):
    config = br.read_json(os.path.join(folder, "config.json"))
    pooling, normalize = br.read_st_pipeline(folder)
    weights, _ = br.read_safetensors(os.path.join(folder, "model.safetensors"))
    model = br.Bert(config, pooling, normalize).to(torch.float64)
    model.load_weights(weights)
    model.eval()  # dropout off
    if trainable:
        apply_trainable(model, trainable)
    for n, p in model.named_parameters():
        if n.startswith("pooler."):
            p.requires_grad_(False)
    # What trains: what still requires a gradient (the HF Trainer's optimizer takes only those).
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": WD},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.999), eps=1e-8)
    examples = case_examples(case, rows)
    batches = no_duplicates_batches(examples, BATCH)[:STEPS]
    losses = []
    for batch in batches:
        k = len(examples[batch[0]][0])
        cols = []
        for c in range(k):
            ids, mask = encode_column([examples[i][0][c] for i in batch], vocab, max_len, specials, unigram)
            emb, _ = model(ids, mask, torch.zeros_like(ids))
            cols.append(emb)
        scores = torch.tensor([examples[i][1] for i in batch], dtype=torch.float64) if case == "cosent" else None
        loss = loss_of(case, cols, scores)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in named], MAX_NORM)
        opt.step()
        losses.append(loss.item())
    name = name or case
    out = {f"{name}/losses": np.array(losses, dtype=np.float64)}
    for n, p in named:
        out[f"{name}/weights/{n}"] = p.detach().numpy().astype(np.float32)
    return out, batches


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main_xlmr(args):
    data_path = os.path.join(args.fixtures, "qa-tiny", "train.jsonl")
    rows = read_rows(data_path)
    tensors, batches, shas = {}, {}, {}
    # The tokenizer on its own: every distinct text of the file, in file order, as this script's
    # Viterbi encodes it (with <s> … </s>, no truncation), so the TS test compares ids directly.
    texts = list(dict.fromkeys(t for r in rows for t in (r["question"], r["doc"])))
    unigram = Unigram(os.path.join(args.fixtures, "tiny-xlmr"))
    bos, eos = unigram.pieces["<s>"][0], unigram.pieces["</s>"][0]
    encoded = [[bos] + unigram.encode(t) + [eos] for t in texts]
    tensors["unigram/ids"] = np.array([i for e in encoded for i in e], dtype=np.int64)
    tensors["unigram/offsets"] = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
    for name in ["tiny-xlmr", "tiny-xlmr-mean"]:
        folder = os.path.join(args.fixtures, name)
        unigram = Unigram(folder)
        vocab = {p: i for p, (i, _) in unigram.pieces.items()}
        max_len = int(br.read_json(os.path.join(folder, "sentence_bert_config.json"))["max_seq_length"])
        t, b = run_case("mnrl_matryoshka", folder, rows, vocab, max_len, ("<s>", "</s>", "<pad>"), unigram)
        for k, v in t.items():
            tensors[f"{name}/{k}"] = v
        batches[name] = b
        shas[name] = sha256(os.path.join(folder, "model.safetensors"))
        print(name, "mnrl_matryoshka losses", [round(x, 6) for x in t["mnrl_matryoshka/losses"]])
    meta = {
        "format_version": FORMAT_VERSION,
        "script": "tests/reference/train_reference.py --family xlm-roberta",
        "torch": torch.__version__,
        "compute_dtype": "float64",
        "stored_dtype": "float32 weights, float64 losses",
        "model_sha256": json.dumps(shas),
        "data_sha256": sha256(data_path),
        "config": json.dumps({"batch": BATCH, "steps": STEPS, "lr": LR, "weight_decay": WD, "max_grad_norm": MAX_NORM,
                              "scheduler": "constant", "warmup": 0, "accumulation": 1, "shuffle": False,
                              "sampler": "no_duplicates", "dropout": False}),
        "tokenizer": "SentencePiece Unigram Viterbi over tokenizer.json, <s> ... </s>",
        "unigram_texts": json.dumps(texts),
        "batches": json.dumps(batches),
    }
    br.write_safetensors(args.out, tensors, meta)
    print("wrote", args.out)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--fixtures", default=os.path.join(here, "..", ".fixtures"))
    ap.add_argument("--family", default="bert", choices=["bert", "xlm-roberta"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.family == "xlm-roberta":
        args.out = args.out or os.path.join(here, "data", "train-xlmr.safetensors")
        return main_xlmr(args)
    args.out = args.out or os.path.join(here, "data", "train.safetensors")
    model_dir = os.path.join(args.fixtures, "tiny-bge")
    data_path = os.path.join(args.fixtures, "qa-tiny", "train.jsonl")
    vocab = load_vocab(model_dir)
    max_len = int(br.read_json(os.path.join(model_dir, "sentence_bert_config.json"))["max_seq_length"])
    rows = read_rows(data_path)
    tensors, batches = {}, {}
    for case in ["mnrl_matryoshka", "mnrl_hard_neg", "cosent", "mnrl_two_neg_matryoshka", "triplet_matryoshka"]:
        t, b = run_case(case, model_dir, rows, vocab, max_len)
        tensors.update(t)
        batches[case] = b
        print(case, "losses", [round(x, 6) for x in t[f"{case}/losses"]])
    for case, (rows_of, trainable) in TRAINABLE_CASES.items():
        t, b = run_case(rows_of, model_dir, rows, vocab, max_len, trainable=trainable, name=case)
        tensors.update(t)
        batches[case] = b
        print(case, "losses", [round(x, 6) for x in t[f"{case}/losses"]], "trained", sum(1 for k in t if "/weights/" in k))
    meta = {
        "format_version": FORMAT_VERSION,
        "script": "tests/reference/train_reference.py",
        "torch": torch.__version__,
        "compute_dtype": "float64",
        "stored_dtype": "float32 weights, float64 losses",
        "model_sha256": sha256(os.path.join(model_dir, "model.safetensors")),
        "data_sha256": sha256(data_path),
        "config": json.dumps({"batch": BATCH, "steps": STEPS, "lr": LR, "weight_decay": WD, "max_grad_norm": MAX_NORM,
                              "scheduler": "constant", "warmup": 0, "accumulation": 1, "shuffle": False,
                              "sampler": "no_duplicates", "dropout": False}),
        "negative_rule": "doc of the next larger id (cyclic over the sorted distinct ids); a second negative: of the second next",
        "cosent_rule": "even rows: own doc, score 1; odd rows: next id's doc, score 0",
        "trainable": json.dumps({k: v[1] for k, v in TRAINABLE_CASES.items()}),
        "lora_init": "A: xoshiro128** (SplitMix32 seeding) from seed 42 XOR 0x4c6f5241, (2u-1)/sqrt(in) row-major in named_modules() order, float32; B zeros",
        "batches": json.dumps(batches),
    }
    br.write_safetensors(args.out, tensors, meta)
    print("wrote", args.out)


if __name__ == "__main__":
    main()

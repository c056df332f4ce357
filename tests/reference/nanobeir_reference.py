"""Golden data for the general-retrieval guard (src/lib/eval/nanobeir.ts).

An independent reading of sentence-transformers' NanoBEIREvaluator (evaluation/NanoBEIREvaluator.py,
as docs/evaluation.md#the-general-retrieval-guard-nanobeir states it), on fixed embeddings:
  - `_load_dataset`: corpus_dict = {_id: text for rows if len(text) > 0}, the same for queries,
    qrels_dict[query-id] = set of corpus-id;
  - each subset is an InformationRetrievalEvaluator named f"Nano{Name}_{truncate_dim}" (queries
    kept only when they have a non-empty qrels set; the metrics come from ir_reference.py, the
    numpy port of that evaluator, with sets as the relevant collections);
  - `__call__`: every returned key is split with maxsplit = the number of underscores in
    f"NanoBEIR_mean_{truncate_dim}", the last part is the metric; the mean is np.mean over the
    subsets in order; the mean keys are prefixed f"NanoBEIR_mean_{truncate_dim}_"; the primary
    metric is f"{fn}_ndcg@{max ndcg_at_k}" for the score function with the highest mean (or the
    given main one);
  - one such evaluator per Matryoshka dim, results merged in the dims' order.
The tables are written out as rows (the loader's view of the Parquet configs) with the cases the
loading rules are about: empty corpus and query texts, duplicate qrels rows, a query without
qrels, a qrel whose document is not in the corpus, a repeated corpus _id (the dict keeps its first
place and its last text). Embeddings are multiples of 1/16 so exact score ties occur.

Run: /usr/bin/python3 tests/reference/nanobeir_reference.py   (numpy only)
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ir_reference import DEFAULT_KS, ir_metrics, score_matrix, truncated_rows  # noqa: E402

FORMAT_VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nanobeir.json")
D = 12
DIMS = [12, 8, 4]
SCORE_FUNCTIONS = ["cosine", "dot"]


def make_subset(rng, name, n_docs, n_queries):
    tag = name[4:7].lower()
    corpus = [{"_id": f"{tag}-d{i}", "text": f"{name} document {i}"} for i in range(n_docs)]
    corpus.insert(2, {"_id": f"{tag}-d-empty", "text": ""})
    corpus.append({"_id": f"{tag}-d1", "text": f"{name} document 1, second version"})
    queries = [{"_id": f"{tag}-q{i}", "text": f"{name} question {i}"} for i in range(n_queries)]
    queries.insert(1, {"_id": f"{tag}-q-empty", "text": ""})
    queries.append({"_id": f"{tag}-q-unjudged", "text": f"{name} question without qrels"})
    qrels = []
    for i in range(n_queries):
        for j in rng.choice(n_docs, size=int(rng.integers(1, 4)), replace=False):
            qrels.append({"query-id": f"{tag}-q{i}", "corpus-id": f"{tag}-d{int(j)}"})
    qrels.append(dict(qrels[0]))  # a repeated row: one member of the set
    qrels.append({"query-id": f"{tag}-q0", "corpus-id": f"{tag}-d-missing"})
    qrels.append({"query-id": f"{tag}-q-empty", "corpus-id": f"{tag}-d0"})
    rng.shuffle(qrels)
    ids = sorted({r["_id"] for r in corpus}) + sorted({r["_id"] for r in queries})
    emb = {i: [float(x) for x in (rng.integers(-64, 65, size=D) / 16.0).astype(np.float32)] for i in ids}
    # Two documents with one vector: an exact tie that the id order breaks.
    emb[f"{tag}-d3"] = list(emb[f"{tag}-d4"])
    return {"name": name, "corpus": corpus, "queries": queries, "qrels": qrels, "embeddings": emb}


def subset_metrics(sub, dim):
    """The subset's InformationRetrievalEvaluator (truncate_dim=dim) → its returned dict."""
    corpus = {r["_id"]: r["text"] for r in sub["corpus"] if len(r["text"]) > 0}
    queries = {r["_id"]: r["text"] for r in sub["queries"] if len(r["text"]) > 0}
    qrels = {}
    for r in sub["qrels"]:
        qrels.setdefault(r["query-id"], set()).add(r["corpus-id"])
    kept = [q for q in queries if q in qrels and len(qrels[q]) > 0]
    cids = list(corpus.keys())
    Q = np.array([sub["embeddings"][q] for q in kept], dtype=np.float32)
    C = np.array([sub["embeddings"][c] for c in cids], dtype=np.float32)
    max_k = max(max(v) for v in DEFAULT_KS.values())
    name = f"{sub['name']}_{dim}"
    out = {}
    for fn in SCORE_FUNCTIONS:
        S = score_matrix(truncated_rows(Q, dim, fn), truncated_rows(C, dim, fn))
        ranked = []
        for i in range(len(kept)):
            order = sorted(range(len(cids)), key=lambda j: (-float(S[i, j]), cids[j]))
            ranked.append([cids[j] for j in order[:max_k]])
        for metric, values in ir_metrics(ranked, kept, qrels, DEFAULT_KS).items():
            for k, v in values.items():
                out[f"{name}_{fn}_{metric}@{k}"] = float(v)
    return out, len(kept), len(cids)


def nanobeir(subsets, dim):
    """NanoBEIREvaluator(truncate_dim=dim).__call__ on the subsets, in order."""
    name = f"NanoBEIR_mean_{dim}"
    n_us = name.count("_")
    per_metric, per_dataset, sizes = {}, {}, []
    for sub in subsets:
        evaluation, nq, nc = subset_metrics(sub, dim)
        sizes.append([sub["name"], nq, nc])
        for full_key, value in evaluation.items():
            metric = full_key.split("_", maxsplit=n_us)[-1]
            per_metric.setdefault(metric, []).append(value)
            per_dataset[full_key] = value
    agg = {metric: float(np.mean(values)) for metric, values in per_metric.items()}
    kn = max(DEFAULT_KS["ndcg_at_k"])
    fn = max([(f, agg[f"{f}_ndcg@{kn}"]) for f in sorted(SCORE_FUNCTIONS)], key=lambda x: x[1])[0]
    per_dataset.update({f"{name}_{k}": v for k, v in agg.items()})
    return per_dataset, f"{name}_{fn}_ndcg@{kn}", sizes


def main():
    rng = np.random.default_rng(20261206)
    subsets = [make_subset(rng, n, nd, nq) for n, nd, nq in (("NanoSciFact", 14, 6), ("NanoNFCorpus", 11, 5), ("NanoArguAna", 16, 7))]
    metrics, primaries, sizes = [], {}, {}
    for dim in DIMS:
        values, primary, s = nanobeir(subsets, dim)
        metrics += [[k, v] for k, v in values.items()]
        primaries[str(dim)] = primary
        sizes[str(dim)] = s
    doc = {
        "format_version": FORMAT_VERSION,
        "script": "tests/reference/nanobeir_reference.py",
        "numpy": np.__version__,
        "semantics": "sentence-transformers NanoBEIREvaluator (docs/evaluation.md#the-general-retrieval-guard-nanobeir)",
        "D": D,
        "dims": DIMS,
        "score_functions": SCORE_FUNCTIONS,
        "subsets": subsets,
        "expected": {"metrics": metrics, "primary_metrics": primaries, "sizes": sizes},
        # np.mean's own rounding (pairwise sum), on lists as long as 13 subsets and longer.
        "np_mean_cases": [[xs, float(np.mean(xs))] for xs in ([float(x) for x in rng.random(n)] for n in (3, 8, 13, 17, 200))],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("keys", len(metrics), "primary", primaries, file=sys.stderr)


if __name__ == "__main__":
    main()

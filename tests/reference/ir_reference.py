"""Golden data for the Matryoshka information-retrieval evaluator (src/lib/eval/ir-metrics.ts).

An independent numpy implementation of sentence-transformers' InformationRetrievalEvaluator as
docs/evaluation.md describes it (v6.0.0 semantics: final order (-score, corpus_id), ties broken by
ascending corpus id in Python's own ordering of the id type; keys in the order accuracy,
precision, recall, ndcg, mrr, map; primary metric "{fn}_ndcg@{max k}"; SequentialEvaluator's
"sequential_score" = primary metric of the last evaluator). It writes fixed inputs (embeddings,
ids, relevance) and every expected metric to tests/reference/data/ir-golden.json.

It is not sentence-transformers (not installed here, and this is deliberately a second reading of
the definitions), it runs no model, and it does no chunking: it scores the whole corpus at once
and sorts, which is exactly what a chunk-independent evaluator must agree with.

Scores: the embeddings are float32 multiples of 1/16, truncated to the first d components; for
cosine each truncated row is L2-normalised in float64 and rounded to float32 (as the TS side
stores it), every score is a float64 sum of float32 products rounded once to float32. Each row's
sum is a per-row reduction, so identical document vectors give bit-identical scores and the
tie-break by id is really exercised (dot scores of these vectors are exact).

Run: /usr/bin/python3 tests/reference/ir_reference.py   (numpy only)
"""

import json
import math
import os
import sys

import numpy as np

FORMAT_VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ir-golden.json")

DEFAULT_KS = {
    "accuracy_at_k": [1, 3, 5, 10],
    "precision_recall_at_k": [1, 3, 5, 10],
    "mrr_at_k": [10],
    "ndcg_at_k": [10],
    "map_at_k": [100],
}


def truncated_rows(x, d, fn):
    """x: [n, D] float32 -> [n, d] float64 holding float32 values, normalised for cosine."""
    t = x[:, :d].astype(np.float64)
    if fn == "cosine":
        norms = np.sqrt((t * t).sum(axis=1))
        t = (t / np.maximum(norms, 1e-12)[:, None]).astype(np.float32).astype(np.float64)
    return t


def score_matrix(q, c):
    """q: [nq, d], c: [nc, d] float64 -> [nq, nc] float32 scores, one row reduction per pair."""
    out = np.empty((q.shape[0], c.shape[0]), dtype=np.float32)
    for i in range(q.shape[0]):
        out[i] = (c * q[i]).sum(axis=1).astype(np.float32)
    return out


def dcg(relevances, k):
    return sum(relevances[i] / math.log2(i + 2) for i in range(min(len(relevances), k)))


def ir_metrics(ranked_lists, query_ids, relevant, ks):
    """ranked_lists: per kept query, corpus ids best first (already cut to max_k)."""
    n = len(query_ids)
    acc = {k: 0 for k in ks["accuracy_at_k"]}
    prec = {k: [] for k in ks["precision_recall_at_k"]}
    rec = {k: [] for k in ks["precision_recall_at_k"]}
    mrr = {k: 0.0 for k in ks["mrr_at_k"]}
    ndcg = {k: [] for k in ks["ndcg_at_k"]}
    ap = {k: [] for k in ks["map_at_k"]}
    for qid, ranked in zip(query_ids, ranked_lists):
        rel = relevant[qid]  # a list: membership by ==, size counts repeats
        hits = [1 if cid in rel else 0 for cid in ranked]
        for k in acc:
            if any(hits[:k]):
                acc[k] += 1
        for k in prec:
            prec[k].append(sum(hits[:k]) / k)
            rec[k].append(sum(hits[:k]) / len(rel))
        for k in mrr:
            first = next((r for r, h in enumerate(hits[:k]) if h), None)
            if first is not None:
                mrr[k] += 1.0 / (first + 1)
        for k in ndcg:
            ndcg[k].append(dcg(hits[:k], k) / dcg([1] * len(rel), k))
        for k in ap:
            found, total = 0, 0.0
            for r, h in enumerate(hits[:k]):
                if h:
                    found += 1
                    total += found / (r + 1)
            ap[k].append(total / min(k, len(rel)))
    return {
        "accuracy": {k: v / n for k, v in acc.items()},
        "precision": {k: float(np.mean(v)) for k, v in prec.items()},
        "recall": {k: float(np.mean(v)) for k, v in rec.items()},
        "ndcg": {k: float(np.mean(v)) for k, v in ndcg.items()},
        "mrr": {k: v / n for k, v in mrr.items()},
        "map": {k: float(np.mean(v)) for k, v in ap.items()},
    }


def evaluate(case):
    ks = case["ks"]
    max_k = max(max(v) for v in ks.values())
    queries = case["query_ids"]
    relevant = dict(case["relevant"])
    kept = [i for i, q in enumerate(queries) if q in relevant and len(relevant[q]) > 0]
    kept_ids = [queries[i] for i in kept]
    Q = np.array(case["query_emb"], dtype=np.float32).reshape(len(queries), case["D"])[kept]
    C = np.array(case["corpus_emb"], dtype=np.float32).reshape(len(case["corpus_ids"]), case["D"])
    cids = case["corpus_ids"]
    metrics, primaries, rankings = [], {}, {}
    for d in case["dims"]:
        name = f"dim_{d}"
        per_fn = {}
        for fn in case["score_functions"]:
            S = score_matrix(truncated_rows(Q, d, fn), truncated_rows(C, d, fn))
            ranked = []
            for i in range(len(kept)):
                order = sorted(range(len(cids)), key=lambda j: (-float(S[i, j]), cids[j]))
                ranked.append([cids[j] for j in order[:max_k]])
            rankings[f"{name}_{fn}"] = [r[:10] for r in ranked]
            per_fn[fn] = ir_metrics(ranked, kept_ids, relevant, ks)
            for metric, values in per_fn[fn].items():
                for k, v in values.items():
                    metrics.append([f"{name}_{fn}_{metric}@{k}", float(v)])
        kn = max(ks["ndcg_at_k"])
        if case.get("main_score_function"):
            best = case["main_score_function"]
        else:
            best = max([(fn, per_fn[fn]["ndcg"][kn]) for fn in sorted(per_fn)], key=lambda x: x[1])[0]
        primaries[name] = f"{name}_{best}_ndcg@{kn}"
    values = dict(metrics)
    last = primaries[f"dim_{case['dims'][-1]}"]
    return {
        "kept_query_ids": kept_ids,
        "metrics": metrics,
        "primary_metrics": primaries,
        "sequential_score": values[last],
        "rankings_top10": rankings,
    }


def grid(rng, n, D):
    """n float32 vectors of D entries, each a multiple of 1/16 in [-4, 4]."""
    return (rng.integers(-64, 65, size=(n, D)) / 16.0).astype(np.float32)


def case_int_ids(rng):
    """Int ids, cosine, default ks: duplicates, multi-relevant, missing ids, a far relevant doc."""
    D, nc, nq = 32, 220, 30
    C = grid(rng, nc, D)
    Q = grid(rng, nq, D)
    # Corpus ids: shuffled ints (insertion order != id order), with gaps.
    cids = [int(x) for x in rng.permutation(np.arange(1000, 1000 + 3 * nc, 3))]
    qids = list(range(nq))
    relevant = {}
    for q in range(nq):
        relevant[q] = [cids[int(rng.integers(nc))]]
    # Near-copies of each query so relevant docs land in the top 10 for several queries.
    for q in range(0, 20):
        j = 5 * q
        C[j] = np.round((Q[q] + grid(rng, 1, D)[0] * 0.25) * 16) / 16
        relevant[q] = [cids[j]]
    # Exact duplicates of relevant docs at other positions; some get a smaller id (tie won by the
    # duplicate), some a larger one (tie won by the relevant doc).
    for q in range(0, 8):
        j = 5 * q
        dup = 5 * q + 1
        C[dup] = C[j]
        if q % 2 == 0:
            cids[dup], cids[j] = min(cids[dup], cids[j]), max(cids[dup], cids[j])
        else:
            cids[dup], cids[j] = max(cids[dup], cids[j]), min(cids[dup], cids[j])
    # A triple tie where the relevant doc is the middle id.
    C[101] = C[100] = C[5 * 9]
    # Several relevant docs, one listed twice (counts twice in nR).
    relevant[10] = [cids[50], cids[51], cids[52], cids[50]]
    C[51] = np.round((Q[10] + grid(rng, 1, D)[0] * 0.3) * 16) / 16
    # Relevant ids missing from the corpus still count in nR.
    relevant[11] = [cids[55], 999999]
    relevant[12] = [424242]
    # A relevant doc far outside the top 100: the opposite vector of the query.
    C[150] = -Q[13]
    relevant[13] = [cids[150]]
    # Queries dropped: empty relevant list, and no entry at all.
    relevant[14] = []
    del relevant[15]
    rel_items = [[q, relevant[q]] for q in qids if q in relevant]
    return {
        "name": "int-ids-cosine-default-ks",
        "D": D,
        "dims": [32, 16, 8, 4],
        "score_functions": ["cosine"],
        "ks": DEFAULT_KS,
        "query_ids": qids,
        "query_emb": Q,
        "corpus_ids": cids,
        "corpus_emb": C,
        "relevant": rel_items,
    }


def case_str_ids(rng):
    """String ids (lexicographic ties: 'e10' < 'e9'), cosine and dot, small corpus (< max_k)."""
    D, nc, nq = 24, 60, 12
    C = grid(rng, nc, D)
    Q = grid(rng, nq, D)
    cids = [f"d{i}" for i in range(nc)]
    order = rng.permutation(nc)
    cids = [cids[i] for i in order]
    qids = [f"q{i}" for i in range(nq)]
    relevant = {}
    for q in range(nq):
        j = 4 * q
        C[j] = np.round((Q[q] + grid(rng, 1, D)[0] * 0.2) * 16) / 16
        relevant[qids[q]] = [cids[j]]
    # Duplicates whose ids sort differently as strings and as numbers.
    for q, (a, b) in enumerate([("e9", "e10"), ("e2", "e100"), ("e7", "e70"), ("f1", "f01")]):
        j, dup = 4 * q, 4 * q + 1
        C[dup] = C[j]
        cids[j], cids[dup] = a, b
        relevant[qids[q]] = [a]
    assert len(set(cids)) == nc, "corpus ids must be unique"
    relevant[qids[5]] = [cids[20], cids[21], cids[22]]
    relevant[qids[6]] = ["nope"]
    C[40] = -2 * Q[7]
    relevant[qids[7]] = [cids[40]]
    relevant[qids[8]] = []
    rel_items = [[q, relevant[q]] for q in qids]
    return {
        "name": "str-ids-cosine-dot-small-corpus",
        "D": D,
        "dims": [24, 12, 6],
        "score_functions": ["cosine", "dot"],
        "ks": {
            "accuracy_at_k": [1, 3, 5, 10],
            "precision_recall_at_k": [1, 3, 5, 10, 100],
            "mrr_at_k": [10, 100],
            "ndcg_at_k": [3, 10, 100],
            "map_at_k": [100],
        },
        "query_ids": qids,
        "query_emb": Q,
        "corpus_ids": cids,
        "corpus_emb": C,
        "relevant": rel_items,
    }


def case_cutoff_ties(rng):
    """Ties straddling the top-k cut-off (max_k = 5): which tied docs are kept depends on ids only."""
    D, nq = 8, 4
    base = grid(rng, 1, D)[0]
    Q = np.stack([base, base, -base, base * 0 + 1]).astype(np.float32)
    others = grid(rng, 6, D)
    tied = np.stack([base * 0.5] * 7)  # seven identical docs
    C = np.concatenate([others, tied, np.stack([base])]).astype(np.float32)
    cids = [50, 3, 77, 12, 8, 41] + [30, 5, 90, 11, 64, 2, 45] + [99]
    qids = [1, 2, 3, 4]
    relevant = [
        [1, [45, 64]],  # tied docs with large ids: cut off under the id order
        [2, [2, 5, 99]],  # tied docs with the smallest ids and the exact copy of the query
        [3, [90]],
        [4, [11, 12, 30]],
    ]
    return {
        "name": "int-ids-cutoff-ties-dot-cosine",
        "D": D,
        "dims": [8, 4],
        "score_functions": ["dot", "cosine"],
        "main_score_function": "dot",
        "ks": {
            "accuracy_at_k": [1, 3],
            "precision_recall_at_k": [2, 5],
            "mrr_at_k": [5],
            "ndcg_at_k": [5],
            "map_at_k": [5],
        },
        "query_ids": qids,
        "query_emb": Q,
        "corpus_ids": cids,
        "corpus_emb": C,
        "relevant": relevant,
    }


def serialise(case):
    out = dict(case)
    out["query_emb"] = [float(x) for x in np.asarray(case["query_emb"], dtype=np.float32).ravel()]
    out["corpus_emb"] = [float(x) for x in np.asarray(case["corpus_emb"], dtype=np.float32).ravel()]
    return out


def main():
    rng = np.random.default_rng(20240604)
    cases = [serialise(c) for c in (case_int_ids(rng), case_str_ids(rng), case_cutoff_ties(rng))]
    for c in cases:
        c["expected"] = evaluate(c)
    doc = {
        "format_version": FORMAT_VERSION,
        "script": "tests/reference/ir_reference.py",
        "numpy": np.__version__,
        "semantics": "sentence-transformers v6.0.0 InformationRetrievalEvaluator (docs/evaluation.md)",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        m = dict(c["expected"]["metrics"])
        print(c["name"], "kept", len(c["expected"]["kept_query_ids"]), "keys", len(m),
              "sequential_score", c["expected"]["sequential_score"], file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Independent reference for tabtune's triplet evaluator (src/lib/eval/triplet-eval.ts).

Written from sentence-transformers' TripletEvaluator (v6.0.0): embeddings truncated to each
Matryoshka dim (after the model's own normalization), cosine on re-normalized truncated vectors
(F.normalize: x / max(||x||, 1e-12)), dot on the raw truncated vectors, euclidean and manhattan as
negated distances; accuracy = mean(positive_score > negative_score + margin) (strict), reported as
float32; keys dim_{d}_{fn}_accuracy and dim_{d}_max_accuracy when several functions are asked for.
Computed in float64 with numpy (no torch, no sentence-transformers). Inputs are generated here:
40 triplets of 12-dimensional unit vectors (seeded), including 3 exact ties (negative == positive),
which count as wrong. The script checks that no other triplet is within 1e-6 of a tie, so float32
and float64 scores decide every triplet the same way.

Output: tests/reference/data/triplet.json (embeddings, dims, functions, margins, accuracies).
Run: /usr/bin/python3 tests/reference/triplet_reference.py
"""
import json
import os

import numpy as np

FNS = ["cosine", "dot", "euclidean", "manhattan"]


def score(fn, a, b):
    if fn == "cosine":
        na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return (na * nb).sum(1)
    if fn == "dot":
        return (a * b).sum(1)
    if fn == "euclidean":
        return -np.sqrt(((a - b) ** 2).sum(1))
    return -np.abs(a - b).sum(1)


def main():
    rng = np.random.default_rng(7)
    n, D = 40, 12
    def unit(m):
        x = rng.normal(size=(m, D)).astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    anchors, positives, negatives = unit(n), unit(n), unit(n)
    positives[:10] = (0.7 * anchors[:10] + 0.3 * positives[:10]).astype(np.float32)
    negatives[5:8] = positives[5:8]  # exact ties: wrong
    a, p, ng = (x.astype(np.float64) for x in (anchors, positives, negatives))
    cases = []
    for dims, margin in [([12, 8, 4], 0.0), ([6], 0.05)]:
        acc = {}
        for d in dims:
            for fn in FNS:
                ps, ns = score(fn, a[:, :d], p[:, :d]), score(fn, a[:, :d], ng[:, :d])
                close = np.abs(ps - ns - margin)
                close[5:8] = np.inf
                assert close.min() > 1e-6, (d, fn, close.min())
                acc[f"dim_{d}_{fn}_accuracy"] = float(np.float32((ps > ns + margin).mean()))
            acc[f"dim_{d}_max_accuracy"] = max(acc[f"dim_{d}_{fn}_accuracy"] for fn in FNS)
        cases.append({"dims": dims, "margin": margin, "similarities": FNS, "metrics": acc})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "triplet.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"format_version": "1", "script": "tests/reference/triplet_reference.py", "D": D,
                   "anchors": anchors.tolist(), "positives": positives.tolist(), "negatives": negatives.tolist(),
                   "cases": cases}, f)
        f.write("\n")
    print("wrote", out, json.dumps(cases[0]["metrics"])[:200])


if __name__ == "__main__":
    main()

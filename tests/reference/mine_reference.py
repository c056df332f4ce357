#!/usr/bin/python3
"""Independent reference for tabtune's hard-negative mining (src/lib/mine/hard-negatives.ts).

Written from the documented semantics of sentence-transformers' `util.mine_hard_negatives`
(v6.0.0, sentence_transformers/util/hard_negatives.py), not from the TypeScript:
  - anchors deduplicated by text, first occurrence first; each anchor's positives pooled over its
    rows, deduplicated; corpus = given corpus (if any) + all positives, deduplicated by text;
  - max_positives = the most rows of any anchor; range_max defaults to range_min + num_negatives +
    max_positives, or range_min + 10*num_negatives + max_positives when a margin or max_score is set;
  - per anchor: pool = its top (range_max + max_positives) documents by dot product (the embeddings
    are given, already "normalized"), padded with empty slots; its own positives removed; then
    absolute margin (remove score + m > min_pos), relative margin (remove score > min_pos -
    |min_pos| * r), max_score (remove score > max), min_score (remove score < min); ranks counted
    after removal, [range_min, range_max) kept; top: the first num_negatives; random: num_negatives
    of range(max(#finite, num_negatives)) without replacement, then sorted by score;
  - triplet: one row per (anchor, positive, finite negative); n-tuple: one row per (anchor, positive)
    only when all num_negatives are finite.
tabtune's documented choices that sentence-transformers leaves open are reproduced: ties broken by
corpus index (torch's topk order is unspecified), float32 scores, and random sampling from a seeded
xoshiro128** (SplitMix32 seeding, as src/lib/util/rng.ts) with a partial Fisher-Yates.

Inputs are generated here (seeded numpy): 14 rows over 10 distinct anchors (one anchor with two
positives, one row repeated), a given corpus of 6 extra documents, 8-dimensional embeddings whose
entries are multiples of 1/16 in [-0.5, 0.5], so every dot product is exact in float32 and ties
are common. Output: tests/reference/data/mine.json with the inputs and, per option set, the rows
(anchor, positive, negatives, scores) and the skip / missing counts.

Run: /usr/bin/python3 tests/reference/mine_reference.py [--out tests/reference/data/mine.json]
"""
import argparse
import json
import os

import numpy as np

MASK32 = 0xFFFFFFFF


class Rng:
    """xoshiro128** with SplitMix32-style seeding: the same stream as src/lib/util/rng.ts."""

    def __init__(self, seed):
        x = seed & MASK32

        def nxt():
            nonlocal x
            x = (x + 0x9E3779B9) & MASK32
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & MASK32
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & MASK32
            return (z ^ (z >> 16)) & MASK32

        self.s = [nxt(), nxt(), nxt(), nxt()]

    @staticmethod
    def _rotl(v, k):
        return ((v << k) | (v >> (32 - k))) & MASK32

    def next_uint32(self):
        s0, s1, s2, s3 = self.s
        result = (self._rotl((s1 * 5) & MASK32, 7) * 9) & MASK32
        t = (s1 << 9) & MASK32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self._rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def int(self, n):
        return int(np.floor(self.next_uint32() / 4294967296 * n))


def sample_indices(rng, n, k):
    a = list(range(n))
    for i in range(k):
        j = i + rng.int(n - i)
        a[i], a[j] = a[j], a[i]
    return a[:k]


def f32(x):
    return float(np.float32(x))


def mine(pairs, given_corpus, emb_of, opts):
    queries, positives = [], {}
    rows_per_anchor = {}
    for a, p in pairs:
        rows_per_anchor[a] = rows_per_anchor.get(a, 0) + 1
        if a not in positives:
            queries.append(a)
            positives[a] = []
    corpus = list(dict.fromkeys((given_corpus or [p for _, p in pairs]) + [p for _, p in pairs]))
    cidx = {d: i for i, d in enumerate(corpus)}
    for a, p in pairs:
        if cidx[p] not in positives[a]:
            positives[a].append(cidx[p])
    max_pos = max(rows_per_anchor.values())

    n_neg = opts.get("numNegatives", 3)
    rmin = opts.get("rangeMin", 0)
    widened = any(opts.get(k) is not None for k in ("absoluteMargin", "relativeMargin", "maxScore"))
    rmax = opts.get("rangeMax")
    if rmax is None:
        rmax = rmin + (10 if widened else 1) * n_neg + max_pos
    pool_size = rmax + max_pos
    rng = Rng(opts.get("seed", 42))
    sampling = opts.get("sampling", "top")
    fmt = opts.get("format", "triplet")

    C = np.array([emb_of[d] for d in corpus], dtype=np.float64)
    skipped = {"absoluteMargin": 0, "relativeMargin": 0, "maxScore": 0, "minScore": 0}
    out, missing, possible = [], 0, 0
    for a in queries:
        s = np.array([f32(v) for v in C @ np.array(emb_of[a], dtype=np.float64)])
        order = np.lexsort((np.arange(len(corpus)), -s))  # score desc, then index asc
        pool = [(int(c), float(s[c])) for c in order[:pool_size]]
        pool += [(-1, -np.inf)] * (pool_size - len(pool))
        own = set(positives[a])
        pos_scores = [float(s[c]) for c in positives[a]]
        min_pos = min(pos_scores)
        pool = [(c, -np.inf if (c < 0 or c in own) else v) for c, v in pool]

        def drop(name, test):
            nonlocal pool
            kept = []
            for c, v in pool:
                if test(v):
                    skipped[name] += 1
                    kept.append((c, -np.inf))
                else:
                    kept.append((c, v))
            pool = kept

        if opts.get("absoluteMargin") is not None:
            m = f32(opts["absoluteMargin"])
            drop("absoluteMargin", lambda v: f32(v + m) > min_pos)
        if opts.get("relativeMargin") is not None:
            thr = f32(min_pos - f32(abs(min_pos) * f32(opts["relativeMargin"])))
            drop("relativeMargin", lambda v: v > thr)
        if opts.get("maxScore") is not None:
            mx = f32(opts["maxScore"])
            drop("maxScore", lambda v: v > mx)
        if opts.get("minScore") is not None:
            mn = f32(opts["minScore"])
            drop("minScore", lambda v: v < mn)
        ranked = sorted(range(len(pool)), key=lambda i: (-pool[i][1], i))
        ranked = [pool[i] for i in ranked][:rmax][rmin:]
        if sampling == "top":
            chosen = ranked[:n_neg]
        else:
            options = max(sum(1 for _, v in ranked if np.isfinite(v)), n_neg)
            picks = sample_indices(rng, options, n_neg)
            chosen = [ranked[k] for k in sorted(picks, key=lambda k: (-ranked[k][1], k))]
        found = [(c, v) for c, v in chosen if np.isfinite(v)]
        for p, ps in zip(positives[a], pos_scores):
            if fmt == "triplet":
                possible += n_neg
                missing += n_neg - len(found)
                for c, v in found:
                    out.append({"anchor": a, "positive": corpus[p], "negatives": [corpus[c]], "scores": [ps, v]})
            else:
                possible += 1
                if len(found) < n_neg:
                    missing += 1
                    continue
                out.append({"anchor": a, "positive": corpus[p], "negatives": [corpus[c] for c, _ in found], "scores": [ps] + [v for _, v in found]})
    return {
        "rows": out,
        "skipped": {k: v for k, v in skipped.items() if opts.get(k) is not None and v},
        "missing": missing,
        "possible": possible,
        "rangeMax": rmax,
        "corpus_list": corpus,
        "queries": queries,
    }


OPTION_SETS = [
    {},
    {"rangeMin": 1, "rangeMax": 8, "numNegatives": 2, "format": "n-tuple"},
    {"absoluteMargin": 0.0625, "maxScore": 0.0625, "numNegatives": 2},
    {"relativeMargin": 0.25, "minScore": -0.25, "numNegatives": 2, "format": "n-tuple"},
    {"sampling": "random", "seed": 7, "numNegatives": 3, "rangeMax": 10},
    {"sampling": "random", "seed": 11, "numNegatives": 2, "rangeMin": 2, "format": "n-tuple", "corpus": True},
    {"numNegatives": 4, "corpus": True},
]


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "data", "mine.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(20261129)
    anchors = [f"question {i}" for i in range(10)]
    pairs = [(a, f"document {i}") for i, a in enumerate(anchors)]
    pairs += [("question 3", "document 11"), ("question 5", "document 5"), ("question 7", "document 2"), ("question 0", "document 12")]
    extra = [f"extra {i}" for i in range(6)] + ["document 4"]
    texts = sorted(set(anchors) | {p for _, p in pairs} | set(extra))
    emb_of = {t: [int(v) / 16 for v in rng.integers(-8, 9, size=8)] for t in texts}
    cases = []
    for opts in OPTION_SETS:
        o = {k: v for k, v in opts.items() if k != "corpus"}
        res = mine(pairs, extra if opts.get("corpus") else None, emb_of, o)
        cases.append({"options": o, "with_corpus": bool(opts.get("corpus")), **res})
    data = {
        "format_version": "1",
        "script": "tests/reference/mine_reference.py",
        "pairs": [{"anchor": a, "positive": p} for a, p in pairs],
        "given_corpus": extra,
        "embeddings": emb_of,
        "cases": cases,
    }
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    for c in cases:
        print(json.dumps(c["options"]), "rows", len(c["rows"]), "missing", c["missing"], "skipped", c["skipped"])
    print("wrote", args.out)


if __name__ == "__main__":
    main()

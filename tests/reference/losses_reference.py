#!/usr/bin/python3
"""Independent PyTorch reference for the contrastive losses (docs/losses.md), float64.

Writes tests/reference/data/losses.json: fixed random embedding matrices E [K·B, C] (rows
column-major: all anchors, then all positives, then each negative column), gold scores for
CoSENT (with ties), and for every case the loss value and dL/dE. The TypeScript losses are
checked against it in src/lib/losses/losses-reference.test.ts.

Each loss is written the way sentence-transformers computes it (cos_sim matrix + cross_entropy
to arange(B) for MNRL; ST3's transposed anchor×positive block for the symmetric variant;
F.pairwise_distance / F.cosine_similarity + relu for TripletLoss; ST's LSE over
[0, masked differences] for CoSENTLoss; MatryoshkaLoss shrinking the already-shrunk embeddings
dim after dim, as its forward decorator does), not the way the TS graphs do. No
sentence-transformers import: the formulas are docs/losses.md's. Before writing, every case is
checked with torch.autograd.gradcheck and against a second, loop-based formulation.

Run: /usr/bin/python3 tests/reference/losses_reference.py [--out tests/reference/data/losses.json]
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

FORMAT_VERSION = "1"
B, C, K_MAX = 5, 16, 4
SEED = 20240604


# ---- inputs --------------------------------------------------------------------------------

def make_inputs():
    rng = np.random.RandomState(SEED)
    raw = rng.standard_normal((K_MAX * B, C)) * rng.uniform(0.5, 3.0, size=(K_MAX * B, 1))
    unit = rng.standard_normal((K_MAX * B, C))
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    # Rounded to float32 so that the float32 engine and this float64 reference see the same numbers.
    sets = {"unit": unit.astype(np.float32).astype(np.float64), "raw": raw.astype(np.float32).astype(np.float64)}
    scores = {
        "ties": np.array([0.2, 0.8, 0.2, 1.0, 0.5], dtype=np.float32).astype(np.float64),
        "graded": np.array([0.0, 0.25, 1.0, 0.75, 0.5], dtype=np.float32).astype(np.float64),
    }
    return sets, scores


# ---- losses, as sentence-transformers computes them ----------------------------------------

def cos_sim(a, b):
    return F.normalize(a, p=2, dim=1) @ F.normalize(b, p=2, dim=1).T


def pairwise_cos_sim(a, b):
    return (F.normalize(a, p=2, dim=1) * F.normalize(b, p=2, dim=1)).sum(dim=-1)


def mnrl(cols, scale=20.0, **_):
    anchors, candidates = cols[0], torch.cat(cols[1:])
    scores = cos_sim(anchors, candidates) * scale
    return F.cross_entropy(scores, torch.arange(len(anchors)))


def mnrl_symmetric(cols, scale=20.0, **_):
    anchors, candidates = cols[0], torch.cat(cols[1:])
    scores = cos_sim(anchors, candidates) * scale
    labels = torch.arange(len(anchors))
    forward = F.cross_entropy(scores, labels)
    backward = F.cross_entropy(scores[:, : len(anchors)].transpose(0, 1), labels)
    return (forward + backward) / 2


DISTANCES = {
    "euclidean": lambda x, y: F.pairwise_distance(x, y, p=2),
    "manhattan": lambda x, y: F.pairwise_distance(x, y, p=1),
    "cosine": lambda x, y: 1 - F.cosine_similarity(x, y),
}


def triplet(cols, margin=5.0, distance="euclidean", **_):
    a, p, n = cols
    d = DISTANCES[distance]
    return F.relu(d(a, p) - d(a, n) + margin).mean()


def cosent(cols, labels, scale=20.0, **_):
    scores = pairwise_cos_sim(cols[0], cols[1]) * scale
    scores = scores[:, None] - scores[None, :]
    keep = (labels[:, None] < labels[None, :]).to(scores.dtype)
    scores = scores - (1 - keep) * 1e12
    scores = torch.cat((torch.zeros(1, dtype=scores.dtype), scores.view(-1)), dim=0)
    return torch.logsumexp(scores, dim=0)


def matryoshka(inner, cols, dims, weights=None):
    weights = weights or [1.0] * len(dims)
    order = sorted(zip(dims, weights), key=lambda t: t[0], reverse=True)
    total = 0.0
    current = cols
    for d, w in order:
        # MatryoshkaLoss shrinks its cached outputs in place: dim k is cut from dim k−1's result.
        current = [F.normalize(c[..., :d], p=2, dim=-1) for c in current]
        total = total + w * inner(current)
    return total


INNER = {"mnrl": mnrl, "mnrl_symmetric": mnrl_symmetric, "triplet": triplet, "cosent": cosent}


def loss_fn(spec, k, labels):
    params = {key: spec[key] for key in ("scale", "margin", "distance") if key in spec}
    base = INNER[spec["type"]]

    def inner(cols):
        return base(cols, labels, **params) if spec["type"] == "cosent" else base(cols, **params)

    def f(e):
        cols = list(e.split(B))
        assert len(cols) == k
        if "matryoshka" in spec:
            return matryoshka(inner, cols, spec["matryoshka"]["dims"], spec["matryoshka"].get("weights"))
        return inner(cols)

    return f


# ---- second formulation (loops), for the self-check ----------------------------------------

def alt_inner(spec, cols, labels):
    t = spec["type"]
    scale = spec.get("scale", 20.0)
    if t in ("mnrl", "mnrl_symmetric"):
        a = cols[0]
        cand = [c for col in cols[1:] for c in col]  # column-major candidates
        def cos(x, y):
            return (x @ y) / (x.norm() * y.norm())
        fwd = []
        for i in range(B):
            logits = torch.stack([scale * cos(a[i], c) for c in cand])
            fwd.append(-logits[i] + torch.log(torch.exp(logits).sum()))
        loss = torch.stack(fwd).mean()
        if t == "mnrl":
            return loss
        bwd = []
        for j in range(B):
            logits = torch.stack([scale * cos(a[i], cols[1][j]) for i in range(B)])
            bwd.append(-logits[j] + torch.log(torch.exp(logits).sum()))
        return (loss + torch.stack(bwd).mean()) / 2
    if t == "triplet":
        margin, dist = spec.get("margin", 5.0), spec.get("distance", "euclidean")
        a, p, n = cols
        def d(x, y):
            if dist == "euclidean":
                return torch.sqrt(((x - y + 1e-6) ** 2).sum())
            if dist == "manhattan":
                return (x - y + 1e-6).abs().sum()
            return 1 - (x @ y) / (x.norm() * y.norm())
        return torch.stack([torch.clamp(d(a[i], p[i]) - d(a[i], n[i]) + margin, min=0) for i in range(B)]).mean()
    if t == "cosent":
        u, v = cols
        s = [scale * (u[k] @ v[k]) / (u[k].norm() * v[k].norm()) for k in range(B)]
        total = torch.ones((), dtype=u.dtype)
        for k in range(B):
            for l in range(B):
                if labels[k] < labels[l]:
                    total = total + torch.exp(s[k] - s[l])
        return torch.log(total)
    raise ValueError(t)


def alt_loss(spec, e, labels):
    cols = list(e.split(B))
    if "matryoshka" not in spec:
        return alt_inner(spec, cols, labels)
    m = spec["matryoshka"]
    weights = m.get("weights") or [1.0] * len(m["dims"])
    total = 0.0
    for d, w in zip(m["dims"], weights):  # unsorted, each cut from the full embedding
        total = total + w * alt_inner(spec, [c[:, :d] / c[:, :d].norm(dim=1, keepdim=True) for c in cols], labels)
    return total


# ---- cases ---------------------------------------------------------------------------------

CASES = [
    ("mnrl/unit/M0", {"type": "mnrl"}, "unit", 2, None),
    ("mnrl/raw/M0", {"type": "mnrl"}, "raw", 2, None),
    ("mnrl/unit/M1", {"type": "mnrl"}, "unit", 3, None),
    ("mnrl/raw/M2", {"type": "mnrl"}, "raw", 4, None),
    ("mnrl/unit/M2/scale50", {"type": "mnrl", "scale": 50.0}, "unit", 4, None),
    ("mnrl_symmetric/unit/M0", {"type": "mnrl_symmetric"}, "unit", 2, None),
    ("mnrl_symmetric/raw/M1", {"type": "mnrl_symmetric"}, "raw", 3, None),
    ("mnrl_symmetric/unit/M2", {"type": "mnrl_symmetric"}, "unit", 4, None),
    ("triplet/unit/euclidean", {"type": "triplet"}, "unit", 3, None),
    ("triplet/raw/euclidean/margin1", {"type": "triplet", "margin": 1.0}, "raw", 3, None),
    ("triplet/raw/cosine/margin0.5", {"type": "triplet", "distance": "cosine", "margin": 0.5}, "raw", 3, None),
    ("triplet/raw/manhattan", {"type": "triplet", "distance": "manhattan"}, "raw", 3, None),
    ("cosent/unit/ties", {"type": "cosent"}, "unit", 2, "ties"),
    ("cosent/raw/graded", {"type": "cosent"}, "raw", 2, "graded"),
    ("cosent/raw/ties/scale5", {"type": "cosent", "scale": 5.0}, "raw", 2, "ties"),
    ("matryoshka/mnrl/unit/M0", {"type": "mnrl", "matryoshka": {"dims": [16, 8, 4]}}, "unit", 2, None),
    ("matryoshka/mnrl/raw/M1/weights",
     {"type": "mnrl", "matryoshka": {"dims": [4, 16, 8], "weights": [0.5, 1.0, 2.0]}}, "raw", 3, None),
    ("matryoshka/mnrl_symmetric/raw/M0", {"type": "mnrl_symmetric", "matryoshka": {"dims": [16, 8, 4]}}, "raw", 2, None),
    ("matryoshka/cosent/raw/ties", {"type": "cosent", "matryoshka": {"dims": [16, 8, 4]}}, "raw", 2, "ties"),
    ("matryoshka/cosent/unit/graded/weights",
     {"type": "cosent", "matryoshka": {"dims": [8, 16, 4], "weights": [2.0, 0.25, 1.5]}}, "unit", 2, "graded"),
    ("matryoshka/triplet/raw/euclidean", {"type": "triplet", "matryoshka": {"dims": [16, 8, 4]}}, "raw", 3, None),
]


def check_triplet_margins(spec, e):
    """Keep every hinge away from its kink, so finite differences in the TS tests are clean."""
    if spec["type"] != "triplet":
        return
    m = spec.get("matryoshka")
    dims = m["dims"] if m else [C]
    for d in dims:
        cols = list(e.split(B))
        if m:
            cols = [F.normalize(c[:, :d], dim=-1) for c in cols]
        a, p, n = cols
        dist = DISTANCES[spec.get("distance", "euclidean")]
        arg = dist(a, p) - dist(a, n) + spec.get("margin", 5.0)
        assert arg.abs().min() > 1e-2, f"a triplet hinge sits at its kink: {arg}"


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "data", "losses.json"))
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)

    sets, scores = make_inputs()
    cases = []
    for name, spec, set_name, k, score_name in CASES:
        e0 = torch.tensor(sets[set_name][: k * B])
        labels = torch.tensor(scores[score_name]) if score_name else None
        f = loss_fn(spec, k, labels)
        e = e0.clone().requires_grad_(True)
        loss = f(e)
        (grad,) = torch.autograd.grad(loss, e)
        assert torch.autograd.gradcheck(f, (e0.clone().requires_grad_(True),), eps=1e-6, atol=1e-7, rtol=1e-5), name
        e2 = e0.clone().requires_grad_(True)
        alt = alt_loss(spec, e2, labels)
        (alt_grad,) = torch.autograd.grad(alt, e2)
        assert abs(alt.item() - loss.item()) <= 1e-12 * max(1.0, abs(loss.item())), (name, alt.item(), loss.item())
        assert (alt_grad - grad).abs().max().item() <= 1e-11 * max(1.0, grad.abs().max().item()), name
        check_triplet_margins(spec, e0)
        cases.append({
            "name": name,
            "spec": spec,
            "embeddings": set_name,
            "columns": k,
            "scores": score_name,
            "loss": loss.item(),
            "grad": [float(x) for x in grad.reshape(-1).tolist()],
        })
        print(f"{name:40s} loss {loss.item():.10f}  |grad|max {grad.abs().max().item():.3e}")

    out = {
        "format_version": FORMAT_VERSION,
        "script": "tests/reference/losses_reference.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "compute_dtype": "float64",
        "seed": SEED,
        "batch": B,
        "hidden": C,
        "layout": "embeddings [K*B, C] row-major, rows column-major: anchors, positives, negative_1, ...; "
                  "a case with K columns uses the first K*B rows of its set; grad is dL/dE, same layout",
        "inputs": {
            "embeddings": {k: {"dims": [K_MAX * B, C], "data": v.reshape(-1).tolist()} for k, v in sets.items()},
            "scores": {k: v.tolist() for k, v in scores.items()},
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print(f"wrote {args.out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()

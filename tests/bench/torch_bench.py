#!/usr/bin/python3
"""PyTorch CPU baseline for `npm run bench`: how fast plain PyTorch encodes and trains a
bge-small-shaped BERT on this machine, so the onnxruntime numbers have something to stand beside.

What it is: the independent BERT of tests/reference/bert_reference.py at bge-small's shape
(12 layers, hidden 384, 12 heads, FFN 1536, vocab 30522, 512 positions; random weights, CLS
pooling + L2 normalize), batch 32 x 128 tokens with a full attention mask, fp32. It measures
  - encode: eval mode under torch.no_grad();
  - train: train mode (dropout 0.1), loss sum(E * R), backward and one AdamW step;
  - fwd_bwd: the forward+backward part of those same steps, timed on its own;
  - mnrl (--parts mnrl): a full MultipleNegativesRankingLoss training step as sentence-transformers
    takes it and as the bench's "train step" rows take it: --batch anchors and --batch positives
    (2·B sequences of T tokens), one forward per column, CLS + normalize, cross-entropy of
    20·cos(anchor_i, positive_j) against j = i, backward, grad-norm clipping at 1.0 and an AdamW
    step (lr 2e-5, no weight decay: the Trainer's defaults in tests/bench/train-step-bench.ts);
each as the median of --iters timed runs after --warmup untimed ones, and prints one JSON line
to stdout (progress and the BLAS report go to stderr).

What it is not: a measurement of sentence-transformers itself (no tokenizer, no data loader, no
Trainer), nor a GPU benchmark. Without OpenBLAS, Debian's torch silently falls back to the
reference BLAS (~3 GFLOP/s); the JSON then carries a "warning".

Run: /usr/bin/python3 tests/bench/torch_bench.py [--threads N] [--iters 3] [--warmup 1] [--parts base,mnrl]
(--parts base: encode, train, fwd_bwd; mnrl: the MNRL step; default both.)
Shape letters: B batch, T tokens, C hidden, V vocab.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from bert_reference import Bert  # noqa: E402

BGE_SMALL = {
    "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536,
    "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def blas_report() -> dict:
    """Which BLAS library the process actually mapped (torch's config only says 'generic' on
    Debian, where libblas.so.3 is chosen by update-alternatives), plus a GEMM speed probe."""
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    torch.matmul(a, b)
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if "/" in line else ""
            if re.search(r"lib(open)?blas|libmkl|libblis", path):
                libs.add(os.path.realpath(path))
    if any("openblas" in p for p in libs):
        kind = "openblas"
    elif any("mkl" in p for p in libs):
        kind = "mkl"
    elif any("blis" in p for p in libs):
        kind = "blis"
    elif libs:
        kind = "reference"
    else:
        kind = "unknown"
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        torch.matmul(a, b)
    gflops = reps * 2 * 1024 ** 3 / (time.perf_counter() - t0) / 1e9
    blas_threads = None
    for p in libs:
        if "openblas" in p:
            try:
                blas_threads = int(ctypes.CDLL(p).openblas_get_num_threads())
            except (OSError, AttributeError):
                pass
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    return {"blas": kind, "blas_libs": sorted(libs), "blas_info": m.group(1) if m else None,
            "blas_threads": blas_threads, "gemm_gflops_1024": round(gflops, 2)}


def make_mnrl_step(model, opt, anchors, positives, mask, tt):
    """One MNRL update as tabtune's bench step: in-batch negatives, scale 20, clip 1.0, AdamW.
    anchors, positives: [B,T] ids; mask: [B,T]; tt: [B,T] token types. Also torch_gpu_bench.py's."""
    labels = torch.arange(anchors.shape[0], device=anchors.device)  # [B]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        a, _ = model(anchors, mask, tt)  # [B,C], normalized
        p, _ = model(positives, mask, tt)  # [B,C]
        loss = torch.nn.functional.cross_entropy(20.0 * a @ p.T, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def timed(fn, warmup: int, iters: int) -> list:
    for i in range(warmup):
        t0 = time.perf_counter()
        fn()
        log(f"  warm-up {i + 1}/{warmup}: {time.perf_counter() - t0:.2f} s")
    out = []
    for i in range(iters):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        log(f"  run {i + 1}/{iters}: {out[-1]:.2f} s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="PyTorch CPU baseline (bge-small shape)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--parts", default="base,mnrl", help="comma list of base (encode, train, fwd_bwd) and mnrl")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= {"base", "mnrl"}:
        ap.error(f"--parts: unknown {sorted(parts - {'base', 'mnrl'})}")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]

    blas = blas_report()
    # OpenBLAS keeps its own pool (OPENBLAS_NUM_THREADS, default all cores); Debian's torch does
    # not resize it in set_num_threads, so both counts are reported.
    log(f"torch {torch.__version__}, threads {threads}, BLAS {blas['blas']} x{blas['blas_threads']} {blas['blas_libs']} "
        f"(BLAS_INFO={blas['blas_info']}), 1024^3 GEMM {blas['gemm_gflops_1024']} GFLOP/s")
    if blas["blas"] in ("reference", "unknown"):
        log("WARNING: torch is not using an optimized BLAS; install libopenblas0-pthread. Figures are meaningless.")

    b, t = args.batch, args.seq
    model = Bert(BGE_SMALL, "cls", True)
    ids = torch.randint(1000, BGE_SMALL["vocab_size"], (b, t))  # [B,T]
    ids[:, 0] = 101
    ids[:, -1] = 102
    mask = torch.ones(b, t)  # [B,T]
    tt = torch.zeros(b, t, dtype=torch.long)  # [B,T]
    r = torch.randn(b, BGE_SMALL["hidden_size"])  # [B,C]
    tokens = b * t

    med = statistics.median
    result: dict = {}
    if "base" in parts:
        model.eval()

        def encode():
            with torch.no_grad():
                model(ids, mask, tt)

        log(f"encode: eval, no_grad, {b} x {t}")
        enc = timed(encode, args.warmup, args.iters)

        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)

        fb: list = []

        def train_step():
            t0 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            emb, _ = model(ids, mask, tt)
            (emb * r).sum().backward()
            fb.append(time.perf_counter() - t0)
            opt.step()

        log(f"train step: train mode (dropout 0.1), fwd+bwd then AdamW, {b} x {t}")
        tr = timed(train_step, args.warmup, args.iters)
        fb = fb[args.warmup:]  # the fwd+bwd part of the timed steps
        result.update({
            "encode_tokens_per_s": round(tokens / med(enc), 1),
            "train_tokens_per_s": round(tokens / med(tr), 1),
            "fwd_bwd_tokens_per_s": round(tokens / med(fb), 1),
            "encode_s": round(med(enc), 3),
            "train_step_s": round(med(tr), 3),
            "fwd_bwd_s": round(med(fb), 3),
        })

    if "mnrl" in parts:
        mnrl = Bert(BGE_SMALL, "cls", True)
        mnrl.train()
        mopt = torch.optim.AdamW(mnrl.parameters(), lr=2e-5, weight_decay=0.0)
        pos = torch.randint(1000, BGE_SMALL["vocab_size"], (b, t))  # [B,T] the positives
        pos[:, 0] = 101
        pos[:, -1] = 102
        mnrl_step = make_mnrl_step(mnrl, mopt, ids, pos, mask, tt)

        log(f"MNRL step: train mode, {b} anchors + {b} positives x {t}, scale 20, clip 1.0, AdamW")
        ms = timed(mnrl_step, args.warmup, args.iters)
        result.update({
            "mnrl_step_s": round(med(ms), 3),
            "mnrl_steps_per_s": round(1 / med(ms), 4),
            "mnrl_tokens_per_s": round(2 * tokens / med(ms), 1),
            "mnrl_step_runs_s": [round(x, 3) for x in ms],
            "mnrl_optimizer": "torch.optim.AdamW (lr 2e-5, weight_decay 0), clip_grad_norm_ 1.0",
        })

    result.update({
        "batch": b, "seq": t, "iters": args.iters, "warmup": args.warmup,
        "threads": threads,
        "torch": torch.__version__,
        **blas,
        "model": "bge-small shape, random init, fp32, CLS + normalize",
        # 1-minute load average before/after: other processes on the machine skew the figures.
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "optimizer": "torch.optim.AdamW (lr 2e-5, weight_decay 0.01)",
        "parts": sorted(parts),
        # ru_maxrss is KiB on Linux: this process's peak resident memory.
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })
    if blas["blas"] in ("reference", "unknown"):
        result["warning"] = ("torch is NOT using an optimized BLAS (found: %s); install libopenblas0-pthread"
                             % (blas["blas_libs"] or "none"))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

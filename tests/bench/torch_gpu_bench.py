#!/usr/bin/python3
"""PyTorch baseline for `npm run bench -- --webgpu`: the MultipleNegativesRankingLoss step the
WebGPU rows take, on CUDA, so our figures have the same step on the same GPU beside them.

What it is: the independent BERT of tests/reference/bert_reference.py at the bge-small or
bge-base shape (random weights, CLS pooling + L2 normalize, fp32), --batch anchors and --batch
positives of --seq tokens with a full mask, train mode (dropout 0.1), one forward per column,
cross-entropy of 20·cos(anchor_i, positive_j) against j = i, backward, clip_grad_norm_ 1.0 and
torch.optim.AdamW (lr 2e-5, weight decay 0): the step of tests/bench/torch_bench.py's "mnrl" part.
It reports the median step time of --iters runs after --warmup, tokens/s and the peak memory
PyTorch allocated on the device (torch.cuda.max_memory_allocated; the CUDA context itself and the
caching allocator's slack are not in it). One JSON line on stdout; progress on stderr.

When CUDA is not available it prints {"available": false, "reason": ...} and exits 0: the WebGPU
bench then says so. --device cpu runs the same step on the CPU (a check of this script on a
machine without a GPU; its memory figure is then the process's peak RSS).

What it is not: GradCache (sentence-transformers' CachedMultipleNegativesRankingLoss); the WebGPU
bench sets its GradCache rows beside this same full step.

Run: /usr/bin/python3 tests/bench/torch_gpu_bench.py [--model small|base] [--batch 32] [--seq 128]
     [--iters 3] [--warmup 1] [--device cuda|cpu] [--layers N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from bert_reference import Bert  # noqa: E402
from torch_bench import make_mnrl_step  # noqa: E402

SHAPES = {
    "small": {"hidden_size": 384, "num_attention_heads": 12, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
}
COMMON = {
    "num_hidden_layers": 12, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
}


def main() -> int:
    ap = argparse.ArgumentParser(description="PyTorch MNRL step on CUDA (bge-small / bge-base shape)")
    ap.add_argument("--model", choices=sorted(SHAPES), default="small")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--layers", type=int, default=None, help="fewer layers (a quick check of the script)")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print(json.dumps({"available": False, "reason": f"torch {torch.__version__}: torch.cuda.is_available() is False"}), flush=True)
        return 0
    dev = torch.device(args.device)
    cfg = {**COMMON, **SHAPES[args.model]}
    if args.layers:
        cfg["num_hidden_layers"] = args.layers
    torch.manual_seed(0)
    b, t = args.batch, args.seq
    model = Bert(cfg, "cls", True).to(dev)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0)

    def texts() -> torch.Tensor:
        ids = torch.randint(1000, cfg["vocab_size"], (b, t))  # [B,T]
        ids[:, 0] = 101
        ids[:, -1] = 102
        return ids.to(dev)

    anchors, positives = texts(), texts()
    mask = torch.ones(b, t, device=dev)  # [B,T]
    tt = torch.zeros(b, t, dtype=torch.long, device=dev)  # [B,T]
    step = make_mnrl_step(model, opt, anchors, positives, mask, tt)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    runs = []
    for i in range(args.warmup + args.iters):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        s = time.perf_counter() - t0
        print(f"  {'warm-up' if i < args.warmup else 'run'} {i + 1}: {s:.3f} s", file=sys.stderr, flush=True)
        if i >= args.warmup:
            runs.append(s)
    med = statistics.median(runs)
    out = {
        "available": True, "device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
        "model": args.model, "layers": cfg["num_hidden_layers"], "batch": b, "seq": t,
        "step_s": round(med, 4), "tokens_per_s": round(2 * b * t / med, 1), "runs_s": [round(x, 4) for x in runs],
        # On CUDA: what PyTorch allocated at most (tensors, not the context); on the CPU: peak RSS.
        "peak_mib": round((torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20, 1),
        "peak_measure": "torch.cuda.max_memory_allocated" if cuda else "process peak RSS",
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

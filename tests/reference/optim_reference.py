"""Reference for src/lib/train/optimizer.ts and schedule.ts: torch.optim.AdamW with the HF
Trainer's two parameter groups, torch.nn.utils.clip_grad_norm_, and the transformers learning-rate
schedules, over a few small float32 tensors for 5 updates with given gradients.

transformers is not installed here, so the schedule lambdas are re-implemented from
docs/optimizer.md#learning-rate-schedules (`get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup`,
`get_cosine_schedule_with_warmup`, num_cycles 0.5) and driven through torch's own
`torch.optim.lr_scheduler.LambdaLR`, stepped once after every optimizer update as the Trainer does.
The parameter groups follow transformers' `get_decay_parameter_names` (no decay on names containing
"bias" and on LayerNorm parameters). Everything else is torch 1.13's own code (single-tensor AdamW,
foreach=False, on the CPU in float32).

Writes tests/reference/data/optim.json (format_version 1). Run with Debian's /usr/bin/python3:
    /usr/bin/python3 tests/reference/optim_reference.py
The output is deterministic (inputs from numpy.random.RandomState seeds).
"""

import json
import math
import os
import sys

import numpy as np
import torch

FORMAT_VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "optim.json")

# name -> shape; names as in a BERT checkpoint so the grouping rule is exercised.
PARAMS = {
    "embeddings.word_embeddings.weight": [6, 4],
    "embeddings.LayerNorm.weight": [4],
    "embeddings.LayerNorm.bias": [4],
    "encoder.layer.0.attention.self.query.weight": [4, 4],
    "encoder.layer.0.attention.self.query.bias": [4],
}


def no_decay(name):
    return "bias" in name or "LayerNorm" in name


def schedule_lambda(kind, warmup, total):
    def lam(k):
        if k < warmup:
            return float(k) / float(max(1, warmup))
        if kind == "constant":
            return 1.0
        if kind == "linear":
            return max(0.0, float(total - k) / float(max(1, total - warmup)))
        if kind == "cosine":
            progress = float(k - warmup) / float(max(1, total - warmup))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 2.0 * 0.5 * progress)))
        raise ValueError(kind)

    return lam


def run_case(case):
    rs = np.random.RandomState(case["seed"])
    init = {n: rs.standard_normal(s).astype(np.float32) for n, s in PARAMS.items()}
    steps = case["steps"]
    # Gradients per step; scaled so some steps clip and others do not.
    grads = [
        {n: (rs.standard_normal(s) * case["grad_scale"][t]).astype(np.float32) for n, s in PARAMS.items()}
        for t in range(steps)
    ]
    params = {n: torch.nn.Parameter(torch.from_numpy(init[n].copy())) for n in PARAMS}
    groups = [
        {"params": [params[n] for n in PARAMS if not no_decay(n)], "weight_decay": case["weight_decay"]},
        {"params": [params[n] for n in PARAMS if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=case["lr"], betas=(0.9, 0.999), eps=1e-8, foreach=False)
    warmup = case["warmup_steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule_lambda(case["scheduler"], warmup, case["max_steps"]))
    per_step = []
    for t in range(steps):
        lr_used = opt.param_groups[0]["lr"]
        for n in PARAMS:
            params[n].grad = torch.from_numpy(grads[t][n].copy())
        if case["max_grad_norm"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_([params[n] for n in PARAMS], case["max_grad_norm"]))
        else:
            norm = float(torch.norm(torch.stack([torch.norm(params[n].grad) for n in PARAMS])))
        opt.step()
        sched.step()
        per_step.append(
            {
                "lr": lr_used,
                "grad_norm": norm,
                "params": {n: params[n].detach().numpy().astype(np.float64).tolist() for n in PARAMS},
            }
        )
    state = opt.state
    final_m = {n: state[params[n]]["exp_avg"].numpy().astype(np.float64).tolist() for n in PARAMS}
    final_v = {n: state[params[n]]["exp_avg_sq"].numpy().astype(np.float64).tolist() for n in PARAMS}
    return {
        **case,
        "shapes": PARAMS,
        "init": {n: init[n].astype(np.float64).ravel().tolist() for n in PARAMS},
        "grads": [{n: g[n].astype(np.float64).ravel().tolist() for n in PARAMS} for g in grads],
        "per_step": [
            {"lr": s["lr"], "grad_norm": s["grad_norm"], "params": {n: np.ravel(v).tolist() for n, v in s["params"].items()}}
            for s in per_step
        ],
        "final_m": {n: np.ravel(v).tolist() for n, v in final_m.items()},
        "final_v": {n: np.ravel(v).tolist() for n, v in final_v.items()},
    }


CASES = [
    # lr 1e-3, wd 0.01, clip 1.0 (the parity setting), cosine with 2 warmup steps of 5.
    {"name": "cosine_wd_clip", "seed": 1, "steps": 5, "lr": 1e-3, "weight_decay": 0.01, "max_grad_norm": 1.0,
     "scheduler": "cosine", "warmup_steps": 2, "max_steps": 5, "grad_scale": [0.05, 1.0, 0.2, 3.0, 0.01]},
    # linear, no warmup, large decay, no clipping.
    {"name": "linear_wd_noclip", "seed": 2, "steps": 5, "lr": 5e-2, "weight_decay": 0.1, "max_grad_norm": 0.0,
     "scheduler": "linear", "warmup_steps": 0, "max_steps": 6, "grad_scale": [1.0, 0.5, 2.0, 0.1, 1.0]},
    # constant with warmup, no decay, clipping always active.
    {"name": "constant_clip", "seed": 3, "steps": 5, "lr": 2e-5, "weight_decay": 0.0, "max_grad_norm": 0.5,
     "scheduler": "constant", "warmup_steps": 3, "max_steps": 5, "grad_scale": [2.0, 2.0, 2.0, 2.0, 2.0]},
]


def main():
    torch.manual_seed(0)
    out = {
        "format_version": FORMAT_VERSION,
        "script": "tests/reference/optim_reference.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "adamw": {"betas": [0.9, 0.999], "eps": 1e-8, "foreach": False, "dtype": "float32"},
        "cases": [run_case(c) for c in CASES],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(out, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {OUT} ({len(CASES)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Independent plain-PyTorch BERT used as the numerical reference for tabtune's BERT engine.

XLM-RoBERTa (config.json model_type "xlm-roberta") is the same network with two differences this
script implements from transformers' description of RobertaEmbeddings, not from tabtune: position
ids are `cumsum(ids != pad) * (ids != pad) + pad` (real tokens from pad + 1 on, padding at pad),
and one token type (type_vocab_size 1); checkpoints may prefix names with `roberta.`.

What it is: a BertModel forward pass written from docs/encoder.md#forward-pass with torch functional
ops (post-LN, exact-erf GELU, additive attention mask (1 - m) * finfo(float32).min as current
transformers), sentence-transformers pooling (CLS or masked mean, per `1_Pooling/config.json`) and
optional L2 normalize (when `modules.json` lists Normalize). For each fixture model it writes
`<out>/<model>.safetensors` holding fixed inputs, the embeddings, the last hidden state, the loss
`sum(embeddings * upstream)` and `grad/<param>` for every parameter that receives a gradient, all
computed in float64 and stored as float32 (ids as I64). See tests/reference/README.md.

What it is not: it does not use `transformers`, `sentence-transformers` or `safetensors` (none is
installed, and the point is an implementation independent of the TS engine and of the fixture
generator); it does not tokenize text (ids are chosen directly); it has no train-mode case yet.

Adding a case: write another entry in `CASES` (its name becomes a tensor-name prefix only if you
add one; keep format_version "1" if existing names keep their meaning, bump it otherwise) and
document it in README.md. A train-mode case would need dropout masks stored as inputs, since
torch's RNG stream cannot be reproduced in TypeScript.

Run:  /usr/bin/python3 tests/reference/bert_reference.py [--fixtures tests/.fixtures] [--out tests/reference/data]
Shape letters: B batch, T tokens, C hidden, H heads, V vocab, I intermediate (FFN).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import struct
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = "1"
SCRIPT_PATH = "tests/reference/bert_reference.py"
MODELS = ["tiny-bge", "tiny-mean", "tiny-xlmr", "tiny-xlmr-mean"]
# Checkpoint name prefixes (task heads' base_model_prefix) stripped on load.
WEIGHT_PREFIXES = ("bert.", "roberta.")
# Real lengths of the 3 rows (CLS + words + SEP), padded to T = 9.
LENGTHS = [9, 6, 3]
SEQ_LEN = 9
INPUT_SEED = 20240607
MASK_VALUE = float(torch.finfo(torch.float32).min)

# ---------------------------------------------------------------------------------------------
# safetensors, read and written by hand (https://github.com/huggingface/safetensors#format):
# u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
# "__metadata__": {str: str}}, then the raw little-endian tensor bytes.
# ---------------------------------------------------------------------------------------------

_NP_OF = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_ST_OF = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64", np.dtype("<f8"): "F64"}


def read_safetensors(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {}) or {}
    out: Dict[str, np.ndarray] = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        buf = raw[base + start:base + end]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if dt == "BF16":
            # bfloat16 is the top half of a float32.
            u16 = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dt in _NP_OF:
            arr = np.frombuffer(buf, dtype=_NP_OF[dt])
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        out[name] = arr.reshape(shape).copy()
    return out, meta


def write_safetensors(path: str, tensors: Dict[str, np.ndarray], metadata: Dict[str, str]) -> None:
    header: Dict[str, object] = {"__metadata__": metadata}
    blobs: List[bytes] = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])  # not ascontiguousarray: it turns a 0-d scalar into shape [1]
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in _ST_OF:
            raise ValueError(f"tensor {name}: cannot store dtype {arr.dtype}")
        b = arr.astype(dt.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _ST_OF[dt], "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # keep the data 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# The model. Submodule names mirror Hugging Face's BertModel so that `named_parameters()` yields
# exactly the safetensors names of docs/encoder.md#parameters; the forward pass below is our own.
# ---------------------------------------------------------------------------------------------


class _LN(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))


class _Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        # nn.Linear layout: weight [out, in], y = x·Wᵀ + b.
        self.weight = nn.Parameter(torch.empty(n_out, n_in).normal_(0.0, 0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))
        # LoRA factors (add_lora): none unless the module is adapted.
        self.lora_A = None
        self.lora_B = None
        self.lora_scale = 0.0


class _Factor(nn.Module):
    """One LoRA factor as a module holding `weight`, so its parameter is named `<module>.lora_A.weight`."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(w)


class _Embeddings(nn.Module):
    def __init__(self, v: int, p: int, tv: int, c: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(v, c)
        self.position_embeddings = nn.Embedding(p, c)
        self.token_type_embeddings = nn.Embedding(tv, c)
        self.LayerNorm = _LN(c)


class _SelfAttn(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.query, self.key, self.value = _Dense(c, c), _Dense(c, c), _Dense(c, c)


class _DenseLN(nn.Module):
    def __init__(self, n_in: int, c: int):
        super().__init__()
        self.dense = _Dense(n_in, c)
        self.LayerNorm = _LN(c)


class _Attention(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.self = _SelfAttn(c)
        self.output = _DenseLN(c, c)


class _Intermediate(nn.Module):
    def __init__(self, c: int, i: int):
        super().__init__()
        self.dense = _Dense(c, i)


class _Layer(nn.Module):
    def __init__(self, c: int, i: int):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c, i)
        self.output = _DenseLN(i, c)


class _Encoder(nn.Module):
    def __init__(self, n: int, c: int, i: int):
        super().__init__()
        self.layer = nn.ModuleList([_Layer(c, i) for _ in range(n)])


class _Pooler(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dense = _Dense(c, c)


def _linear(x: torch.Tensor, d: _Dense) -> torch.Tensor:
    y = torch.matmul(x, d.weight.t()) + d.bias
    if d.lora_A is not None:
        # LoRA (docs/lora.md#the-lora-linear): y + (alpha/r)·x·Aᵀ·Bᵀ, A [r,in], B [out,r]; eval
        # mode only here, so the adapter's input dropout is the identity.
        y = y + torch.matmul(torch.matmul(x, d.lora_A.weight.t()), d.lora_B.weight.t()) * d.lora_scale
    return y


def add_lora(model: nn.Module, r: int, alpha: float, targets, init_a) -> List[str]:
    """Adapts the linear layers PEFT would for `targets` (a list of names: a module whose path equals
    one or ends with "." + it; or "all-linear": every linear layer, the pooler's included) with
    A = init_a(r, in) [r,in] and B = zeros [out,r], scale alpha/r, in named_modules() order.
    Returns the adapted module paths."""
    chosen = [(n, m) for n, m in model.named_modules() if isinstance(m, _Dense)
              and (targets == "all-linear" or any(n == t or n.endswith("." + t) for t in targets))]
    for _, m in chosen:
        n_out, n_in = m.weight.shape
        m.lora_A = _Factor(torch.as_tensor(init_a(r, n_in), dtype=m.weight.dtype))
        m.lora_B = _Factor(torch.zeros(n_out, r, dtype=m.weight.dtype))
        m.lora_scale = alpha / r
    return [n for n, _ in chosen]


def _layer_norm(x: torch.Tensor, ln: _LN, eps: float) -> torch.Tensor:
    # Biased variance over the hidden axis (docs/encoder.md#forward-pass).
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * ln.weight + ln.bias


def _gelu(x: torch.Tensor) -> torch.Tensor:
    # Exact erf form, as transformers' GELUActivation (not the tanh approximation).
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Bert(nn.Module):
    """BertModel + sentence-transformers Pooling (+ Normalize).

    config: the HF config.json dict; pooling: "cls" or "mean"; normalize: L2-normalize the output.
    """

    def __init__(self, config: dict, pooling: str = "cls", normalize: bool = True):
        super().__init__()
        c = int(config["hidden_size"])
        self.c = c
        self.h = int(config["num_attention_heads"])
        if c % self.h:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.p_hidden = float(config.get("hidden_dropout_prob", 0.1))
        self.p_attn = float(config.get("attention_probs_dropout_prob", 0.1))
        act = config.get("hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"hidden_act {act!r} not supported (only exact 'gelu')")
        pet = config.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ValueError(f"position_embedding_type {pet!r} not supported")
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling {pooling!r} not supported")
        self.pooling = pooling
        self.normalize = normalize
        self.model_type = config.get("model_type", "bert")
        if self.model_type not in ("bert", "xlm-roberta"):
            raise ValueError(f"model_type {self.model_type!r} not supported")
        self.pad = int(config.get("pad_token_id", 1 if self.model_type == "xlm-roberta" else 0))
        self.embeddings = _Embeddings(int(config["vocab_size"]), int(config["max_position_embeddings"]),
                                      int(config.get("type_vocab_size", 2)), c)
        self.encoder = _Encoder(int(config["num_hidden_layers"]), c, int(config["intermediate_size"]))
        self.pooler = _Pooler(c)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      token_type_ids: torch.Tensor) -> torch.Tensor:
        """input_ids [B,T] int64, attention_mask [B,T] float (1 real, 0 pad), token_type_ids [B,T]
        int64 -> last_hidden_state [B,T,C]."""
        b, t = input_ids.shape
        e = self.embeddings
        x = e.word_embeddings.weight[input_ids] + e.position_embeddings.weight[self.position_ids(input_ids)] \
            + e.token_type_embeddings.weight[token_type_ids]
        x = F.dropout(_layer_norm(x, e.LayerNorm, self.eps), self.p_hidden, self.training)
        dh = self.c // self.h
        # [B,1,1,T]: 0 for real keys, float32 min for padding keys.
        bias = ((1.0 - attention_mask.to(x.dtype)) * MASK_VALUE)[:, None, None, :]
        for layer in self.encoder.layer:
            sa = layer.attention.self

            def heads(y: torch.Tensor) -> torch.Tensor:  # [B,T,C] -> [B,H,T,dh]
                return y.view(b, t, self.h, dh).permute(0, 2, 1, 3)

            q, k, v = heads(_linear(x, sa.query)), heads(_linear(x, sa.key)), heads(_linear(x, sa.value))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + bias  # [B,H,T,T]
            probs = F.dropout(torch.softmax(scores, dim=-1), self.p_attn, self.training)
            ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(b, t, self.c)
            ao = layer.attention.output
            x = _layer_norm(x + F.dropout(_linear(ctx, ao.dense), self.p_hidden, self.training), ao.LayerNorm, self.eps)
            inter = _gelu(_linear(x, layer.intermediate.dense))
            oo = layer.output
            x = _layer_norm(x + F.dropout(_linear(inter, oo.dense), self.p_hidden, self.training), oo.LayerNorm, self.eps)
        return x

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Position ids: [1,T] 0..T-1 for BERT; [B,T] for XLM-RoBERTa, each real token's count of
        real tokens up to it, plus pad (so the first is pad + 1), and pad itself for padding tokens."""
        b, t = input_ids.shape
        if self.model_type == "bert":
            return torch.arange(t, dtype=torch.long)[None]
        real = (input_ids != self.pad).long()
        return torch.cumsum(real, dim=1) * real + self.pad

    def pool(self, hs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """hs [B,T,C], attention_mask [B,T] -> embeddings [B,C]."""
        if self.pooling == "cls":
            emb = hs[:, 0]
        else:
            m = attention_mask.to(hs.dtype)[:, :, None]
            emb = (hs * m).sum(dim=1) / torch.clamp(m.sum(dim=1), min=1e-9)
        if self.normalize:
            emb = F.normalize(emb, p=2.0, dim=1, eps=1e-12)
        return emb

    def forward(self, input_ids, attention_mask, token_type_ids):
        hs = self.hidden_states(input_ids, attention_mask, token_type_ids)
        return self.pool(hs, attention_mask), hs

    def load_weights(self, weights: Dict[str, np.ndarray]) -> List[str]:
        """Copies HF BertModel tensors (optional `bert.`/`roberta.` prefix; `embeddings.position_ids` ignored)
        into the parameters; returns the names of tensors that were ignored."""
        own = dict(self.named_parameters())
        seen = set()
        ignored = []
        for name, arr in weights.items():
            key = next((name[len(p):] for p in WEIGHT_PREFIXES if name.startswith(p)), name)
            if key not in own:
                ignored.append(name)
                continue
            p = own[key]
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"{name}: shape {arr.shape} in file, model expects {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(torch.from_numpy(arr.astype(np.float64)).to(p.dtype))
            seen.add(key)
        missing = sorted(set(own) - seen)
        if missing:
            raise ValueError(f"missing tensors: {missing}")
        return ignored


# ---------------------------------------------------------------------------------------------
# Reading a sentence-transformers model folder.
# ---------------------------------------------------------------------------------------------


def read_json(path: str):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def read_st_pipeline(folder: str) -> Tuple[str, bool]:
    """Returns (pooling, normalize) from modules.json and the Pooling module's config.json."""
    modules = read_json(os.path.join(folder, "modules.json"))
    pooling: Optional[str] = None
    normalize = False
    for m in modules:
        kind = m["type"].rsplit(".", 1)[-1]
        if kind == "Pooling":
            cfg = read_json(os.path.join(folder, m["path"], "config.json"))
            modes = [k for k in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
                                 "weightedmean_tokens", "lasttoken") if cfg.get("pooling_mode_" + k)]
            if modes == ["cls_token"]:
                pooling = "cls"
            elif modes == ["mean_tokens"]:
                pooling = "mean"
            else:
                raise ValueError(f"{folder}: unsupported pooling modes {modes}")
        elif kind == "Normalize":
            normalize = True
    if pooling is None:
        raise ValueError(f"{folder}: modules.json has no Pooling module")
    return pooling, normalize


def special_ids(folder: str, config: dict) -> Dict[str, int]:
    """[CLS]/[SEP]/[PAD] ids from vocab.txt, or from tokenizer.json's Unigram vocabulary when there is
    no vocab.txt (token names from tokenizer_config.json when given)."""
    names = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"}
    tc_path = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(tc_path):
        tc = read_json(tc_path)
        for k in names:
            tok = tc.get(f"{k}_token")
            if isinstance(tok, dict):
                tok = tok.get("content")
            if isinstance(tok, str):
                names[k] = tok
    ids: Dict[str, int] = {}
    vocab_path = os.path.join(folder, "vocab.txt")
    vocab = None
    if os.path.exists(vocab_path):
        with open(vocab_path, "r", encoding="utf-8") as f:
            vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    elif os.path.exists(os.path.join(folder, "tokenizer.json")):
        model = read_json(os.path.join(folder, "tokenizer.json"))["model"]
        if model["type"] == "Unigram":
            vocab = {piece: i for i, (piece, _) in enumerate(model["vocab"])}
    if vocab is not None:
        for k, tok in names.items():
            if tok in vocab:
                ids[k] = vocab[tok]
    v = int(config["vocab_size"])
    defaults = {"pad": int(config.get("pad_token_id", 0)), "cls": 101, "sep": 102}
    for k, d in defaults.items():
        if k not in ids:
            if d >= v:
                raise ValueError(f"{folder}: no {names[k]} in vocab.txt and default id {d} >= vocab {v}")
            ids[k] = d
    return ids


def make_inputs(config: dict, ids: Dict[str, int]) -> Dict[str, np.ndarray]:
    """input_ids [B,T] I64, attention_mask [B,T] F32, token_type_ids [B,T] I64, upstream [B,C] F32.
    numpy's legacy RandomState is used because its streams are frozen across numpy versions."""
    rs = np.random.RandomState(INPUT_SEED)
    v, c = int(config["vocab_size"]), int(config["hidden_size"])
    reserved = set(ids.values())
    words = np.array([i for i in range(5, v) if i not in reserved], dtype=np.int64)
    b, t = len(LENGTHS), SEQ_LEN
    input_ids = np.full((b, t), ids["pad"], dtype=np.int64)
    mask = np.zeros((b, t), dtype=np.float32)
    for r, n in enumerate(LENGTHS):
        input_ids[r, 0] = ids["cls"]
        input_ids[r, 1:n - 1] = words[rs.randint(0, len(words), size=n - 2)]
        input_ids[r, n - 1] = ids["sep"]
        mask[r, :n] = 1.0
    upstream = rs.standard_normal((b, c)).astype(np.float32)
    return {"input_ids": input_ids, "attention_mask": mask,
            "token_type_ids": np.zeros((b, t), dtype=np.int64), "upstream": upstream}


def reference_for_model(folder: str, name: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    config = read_json(os.path.join(folder, "config.json"))
    pooling, normalize = read_st_pipeline(folder)
    weights_path = os.path.join(folder, "model.safetensors")
    weights, _ = read_safetensors(weights_path)
    model = Bert(config, pooling, normalize).to(torch.float64)
    ignored = model.load_weights(weights)
    model.eval()  # no dropout
    inputs = make_inputs(config, special_ids(folder, config))

    ids = torch.from_numpy(inputs["input_ids"])
    mask = torch.from_numpy(inputs["attention_mask"]).to(torch.float64)
    tt = torch.from_numpy(inputs["token_type_ids"])
    up = torch.from_numpy(inputs["upstream"]).to(torch.float64)
    model.zero_grad(set_to_none=True)
    emb, hs = model(ids, mask, tt)
    loss = (emb * up).sum()
    loss.backward()

    out: Dict[str, np.ndarray] = dict(inputs)
    out["embeddings"] = emb.detach().numpy().astype(np.float32)
    out["last_hidden_state"] = hs.detach().numpy().astype(np.float32)
    out["loss"] = np.array(loss.item(), dtype=np.float32)
    with_grad, without_grad = [], []
    for pname, p in model.named_parameters():
        if p.grad is None:
            without_grad.append(pname)
        else:
            with_grad.append(pname)
            out["grad/" + pname] = p.grad.numpy().astype(np.float32)
    meta = {
        "format_version": FORMAT_VERSION,
        "script": SCRIPT_PATH,
        "model": name,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "model_sha256": sha256_file(weights_path),
        "compute_dtype": "float64",
        "stored_dtype": "float32",
        "mode": "eval",
        "pooling": pooling,
        "normalize": "true" if normalize else "false",
        "mask_value": repr(MASK_VALUE),
        "loss": "sum(embeddings * upstream)",
        "input_seed": str(INPUT_SEED),
        "lengths": json.dumps(LENGTHS),
        # Parameters without a gradient (the pooler: sentence-transformers never uses it) are
        # omitted from the file, not stored as zeros.
        "grad_params": json.dumps(with_grad),
        "no_grad_params": json.dumps(without_grad),
        "ignored_tensors": json.dumps(sorted(ignored)),
    }
    if model.model_type != "bert":
        # Only for other families, so that the BERT files regenerate byte for byte.
        meta["model_type"] = model.model_type
        meta["position_ids"] = json.dumps(model.position_ids(ids).tolist())
    return out, meta


# ---------------------------------------------------------------------------------------------
# Self-check: finite differences through the same code on a 1-layer float64 toy.
# ---------------------------------------------------------------------------------------------


def self_check() -> None:
    torch.manual_seed(0)
    cfg = {"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 12,
           "vocab_size": 11, "max_position_embeddings": 6, "type_vocab_size": 2, "layer_norm_eps": 1e-12}
    ids = torch.tensor([[1, 5, 7, 2, 0], [1, 9, 2, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float64)
    tt = torch.zeros_like(ids)
    for pooling, normalize in (("cls", True), ("mean", False)):
        m = Bert(cfg, pooling, normalize).to(torch.float64).eval()
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.5)
        up = torch.randn(2, 8, dtype=torch.float64)
        names = [n for n, _ in m.named_parameters() if not n.startswith("pooler.")]
        params = [dict(m.named_parameters())[n].detach().clone().requires_grad_(True) for n in names]

        def f(*ps):
            emb, _ = torch.nn.utils.stateless.functional_call(m, dict(zip(names, ps)), (ids, mask, tt))
            return (emb * up).sum()

        if not torch.autograd.gradcheck(f, tuple(params), eps=1e-6, atol=1e-6, rtol=1e-5):
            raise AssertionError(f"gradcheck failed ({pooling})")
        # Second path for the encoder: torch's own post-LN nn.TransformerEncoderLayer with the
        # same weights (it masks padding keys with -inf instead of finfo.min).
        e = m.embeddings
        x = e.word_embeddings.weight[ids] + e.position_embeddings.weight[:ids.shape[1]][None] \
            + e.token_type_embeddings.weight[tt]
        x = F.layer_norm(x, (8,), e.LayerNorm.weight, e.LayerNorm.bias, 1e-12)
        for lay in m.encoder.layer:
            tl = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, activation="gelu", layer_norm_eps=1e-12,
                                            batch_first=True, norm_first=False).to(torch.float64)
            sa, ao = lay.attention.self, lay.attention.output
            with torch.no_grad():
                tl.self_attn.in_proj_weight.copy_(torch.cat([sa.query.weight, sa.key.weight, sa.value.weight]))
                tl.self_attn.in_proj_bias.copy_(torch.cat([sa.query.bias, sa.key.bias, sa.value.bias]))
                tl.self_attn.out_proj.weight.copy_(ao.dense.weight)
                tl.self_attn.out_proj.bias.copy_(ao.dense.bias)
                tl.norm1.weight.copy_(ao.LayerNorm.weight)
                tl.norm1.bias.copy_(ao.LayerNorm.bias)
                tl.linear1.weight.copy_(lay.intermediate.dense.weight)
                tl.linear1.bias.copy_(lay.intermediate.dense.bias)
                tl.linear2.weight.copy_(lay.output.dense.weight)
                tl.linear2.bias.copy_(lay.output.dense.bias)
                tl.norm2.weight.copy_(lay.output.LayerNorm.weight)
                tl.norm2.bias.copy_(lay.output.LayerNorm.bias)
            x = tl(x, src_key_padding_mask=mask == 0)
        _, hs = m(ids, mask, tt)
        diff = (x - hs)[mask.bool()].abs().max().item()
        if diff > 1e-10:
            raise AssertionError(f"hidden states differ from nn.TransformerEncoderLayer by {diff}")
        # Padding must not leak: changing a padded id changes nothing.
        ids2 = ids.clone()
        ids2[1, 4] = 3
        with torch.no_grad():
            a, _ = m(ids, mask, tt)
            b, _ = m(ids2, mask, tt)
        if not torch.equal(a, b):
            raise AssertionError("padding token changed the embeddings")
    # XLM-RoBERTa's position ids, worked out by hand (pad 1): real tokens count from 2, padding is 1.
    xcfg = dict(cfg, model_type="xlm-roberta", pad_token_id=1, max_position_embeddings=8, type_vocab_size=1)
    got = Bert(xcfg).position_ids(torch.tensor([[0, 5, 7, 2, 1], [0, 9, 2, 1, 1]])).tolist()
    if got != [[2, 3, 4, 5, 1], [2, 3, 4, 1, 1]]:
        raise AssertionError(f"XLM-R position ids {got}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", default="tests/.fixtures", help="folder holding the fixture models (tiny-bge/, tiny-mean/, tiny-xlmr/, tiny-xlmr-mean/)")
    ap.add_argument("--out", default="tests/reference/data", help="where <model>.safetensors are written")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model folder names")
    ap.add_argument("--skip-self-check", action="store_true")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # summation order fixed; the models are tiny
    if not args.skip_self_check:
        self_check()
        print("self-check passed: gradcheck and nn.TransformerEncoderLayer agree on a 1-layer float64 toy (cls+normalize, mean)")
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        folder = os.path.join(args.fixtures, name)
        if not os.path.isdir(folder):
            print(f"error: {folder} not found; run `npm run fixtures` first", file=sys.stderr)
            return 1
        tensors, meta = reference_for_model(folder, name)
        path = os.path.join(args.out, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        n_grad = sum(1 for k in tensors if k.startswith("grad/"))
        print(f"{path}: loss {float(tensors['loss']):.9g}, {n_grad} gradients, "
              f"pooling {meta['pooling']}, normalize {meta['normalize']}, model sha256 {meta['model_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

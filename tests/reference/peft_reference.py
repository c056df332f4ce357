"""The PEFT adapter folder a LoRA run must export, as PEFT documents it — written to
data/peft-adapter.json for src/lib/export/lora-export.test.ts.

Made from PEFT's own documentation, not from tabtune's code:
  - docs/source/developer_guides/checkpoint.md (huggingface/peft): a LoRA state dict of a BERT
    model has keys `base_model.model.encoder.layer.0.attention.self.query.lora_A.weight` …
    (PeftModel → LoraModel → the model: "base_model.model." before the module path; the adapter
    name `default` stripped on save; lora_A / lora_B are nn.Linear, so `.weight`), and the
    example adapter_config.json of a LoRA on BERT, whose field names are listed below.
  - PEFT's LoraConfig docs: target_modules given as a list matches a module whose name equals
    an entry or ends with "." + the entry; "all-linear" every linear layer but the output layer
    (BertModel has none); lora_A.weight is [r, in_features], lora_B.weight [out_features, r].
  - sentence-transformers' PEFT guide: LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, …),
    model.add_adapter(config); SentenceTransformer wraps the bare transformers model (BertModel,
    XLMRobertaModel), whose linear modules are the ones below — the same names for both.
The module tree of the bare model is transformers' BertModel (encoder.layer.N.attention.self.
{query,key,value}, attention.output.dense, intermediate.dense, output.dense; pooler.dense).
Standard library only.

    /usr/bin/python3 tests/reference/peft_reference.py [--out tests/reference/data/peft-adapter.json]
"""

import argparse
import json

# The LoRA-on-BERT adapter_config.json of checkpoint.md, field by field (values: those a trained
# LoRA of this form has; null where the example has null).
DOC_CONFIG = {
    "alpha_pattern": {},
    "auto_mapping": None,  # the example shows a mapping; PEFT fills it only for AutoPeftModel of a custom class
    "base_model_name_or_path": None,  # the base model's id; set per run
    "bias": "none",
    "fan_in_fan_out": False,
    "inference_mode": True,
    "init_lora_weights": True,
    "layer_replication": None,
    "layers_pattern": None,
    "layers_to_transform": None,
    "loftq_config": {},
    "lora_alpha": None,  # the run's
    "lora_dropout": None,  # the run's
    "megatron_config": None,
    "megatron_core": "megatron.core",
    "modules_to_save": None,
    "peft_type": "LORA",
    "r": None,  # the run's
    "rank_pattern": {},
    "revision": None,
    "target_modules": None,  # the run's
    "task_type": "FEATURE_EXTRACTION",  # sentence-transformers' guide
    "use_dora": False,
    "use_rslora": False,
}
RUN_FIELDS = ["base_model_name_or_path", "lora_alpha", "lora_dropout", "r", "target_modules"]


def linear_modules(layers, hidden, intermediate):
    """(path, in_features, out_features) of every nn.Linear of a bare BertModel, in module order."""
    out = []
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            out.append((p + "attention.self." + name, hidden, hidden))
        out.append((p + "attention.output.dense", hidden, hidden))
        out.append((p + "intermediate.dense", hidden, intermediate))
        out.append((p + "output.dense", intermediate, hidden))
    out.append(("pooler.dense", hidden, hidden))
    return out


def matches(path, targets):
    if targets == "all-linear":
        return True
    return any(path == t or path.endswith("." + t) for t in targets)


def keys(modules, targets, r):
    out = {}
    for path, fan_in, fan_out in modules:
        if matches(path, targets):
            out[f"base_model.model.{path}.lora_A.weight"] = [r, fan_in]
            out[f"base_model.model.{path}.lora_B.weight"] = [fan_out, r]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/reference/data/peft-adapter.json")
    args = ap.parse_args()
    # The fixture models (tests/fixtures): tiny-bge and tiny-xlmr are 2 layers, hidden 32, FFN 64.
    tiny = linear_modules(2, 32, 64)
    cases = []
    for model, targets, r in [
        ("tiny-bge", ["query", "value"], 4),  # PEFT's default targets for BERT
        ("tiny-bge", ["output.dense"], 2),  # the attention output and the FFN output
        ("tiny-bge", ["dense"], 2),  # every dense layer, the pooler's too
        ("tiny-bge", "all-linear", 8),
        ("tiny-xlmr", ["query", "key", "value"], 4),
    ]:
        cases.append({"model": model, "target_modules": targets, "r": r, "keys": keys(tiny, targets, r)})
    ref = {
        "format_version": "1",
        "made_by": "tests/reference/peft_reference.py from PEFT's docs/source/developer_guides/checkpoint.md",
        "config": DOC_CONFIG,
        "run_fields": RUN_FIELDS,
        "files": ["adapter_config.json", "adapter_model.safetensors"],
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}: {len(cases)} cases")


if __name__ == "__main__":
    main()

// The two ways a LoRA run leaves tabtune (docs/export-forms.md#merged, docs/export-forms.md#peft-adapter): merged — each adapted weight
// becomes W + (α/r)·B·A, so the sentence-transformers folder, ONNX and int8 files are a plain
// model — and as a PEFT adapter folder — `adapter_config.json` plus `adapter_model.safetensors`
// with the keys PEFT writes for the bare transformers model sentence-transformers wraps
// (`base_model.model.<module path>.lora_A.weight`), which `SentenceTransformer(folder)`,
// `model.load_adapter(folder)` and `PeftModel.from_pretrained` read.
// The adapter tensors come in by the run's names (`<module path>.lora_A.weight` [r, in],
// `.lora_B.weight` [out, r], no model prefix: models/trainable.ts).
// Not the training of the adapters, not the target matching (trainable.ts), not the packaging
// of the other files (package.ts, st-folder.ts).

import type { ParameterSet } from '../models/parameter-set.ts';
import { writeSafetensors, type TensorToWrite } from '../models/safetensors.ts';
import { initAdapterWeights } from '../models/trainable.ts';

/** What the export needs of a run's LoRA settings (the run config's `trainable` section in lora mode). */
export interface LoraExportSpec {
  r: number;
  alpha: number;
  dropout: number;
  /** PEFT's `target_modules`: module names matched by path suffix, or PEFT's special `all-linear`. */
  targetModules: readonly string[] | string;
}

/** What a package holds (docs/export-forms.md): the plain model, or a LoRA run's PEFT adapter folder. */
export type ExportForm = 'merged' | 'adapter';
export const EXPORT_FORMS: readonly ExportForm[] = ['merged', 'adapter'];

export const LORA_A = '.lora_A.weight';
export const LORA_B = '.lora_B.weight';
/** The prefix PEFT's state dict puts before every key: its PeftModel wraps a LoraModel that wraps the model. */
export const PEFT_KEY_PREFIX = 'base_model.model.';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** The files of the adapter form, beside the sentence-transformers module files. */
export const ADAPTER_FILES: readonly string[] = [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE];

/** α/r: the factor on B·A in the adapted layer's output (PEFT's `scaling`). */
export const loraScale = (s: Pick<LoraExportSpec, 'r' | 'alpha'>) => s.alpha / s.r;

/** Whether a tensor name is a LoRA adapter's (A or B). */
export const isLoraName = (name: string) => name.endsWith(LORA_A) || name.endsWith(LORA_B);

/** The adapted module paths (`encoder.layer.0.attention.self.query`), in the order their A tensors come. */
export function loraModules(tensors: Iterable<string>): string[] {
  const names = new Set(tensors);
  const out: string[] = [];
  for (const n of names) {
    if (!n.endsWith(LORA_A)) continue;
    const module = n.slice(0, -LORA_A.length);
    if (!names.has(module + LORA_B)) throw new Error(`LoRA: ${n} has no ${module + LORA_B}`);
    out.push(module);
  }
  for (const n of names) if (n.endsWith(LORA_B) && !names.has(n.slice(0, -LORA_B.length) + LORA_A)) throw new Error(`LoRA: ${n} has no ${n.slice(0, -LORA_B.length) + LORA_A}`);
  return out;
}

/**
 * The merged weights: for each adapted module, `<module>.weight` [out, in] + (α/r)·B·A, summed in
 * float64 and rounded once; every other tensor of `weights` as it is, and no adapter tensor.
 * `weights` holds the base (or trained) tensors by bare name; `adapters` the A/B pairs.
 * `inPlace`: add into the given weight arrays instead of new ones (the same values) — for a caller
 * that owns them and reads the base again afterwards (a run that trained the model's own arrays):
 * bge-large's adapted weights are 1.2 GB that the save would otherwise hold twice.
 */
export function mergeLora(weights: ReadonlyMap<string, Float32Array>, adapters: ReadonlyMap<string, Float32Array>, spec: Pick<LoraExportSpec, 'r' | 'alpha'>, o: { inPlace?: boolean } = {}): Map<string, Float32Array> {
  const { r } = spec;
  if (!Number.isInteger(r) || r < 1) throw new Error(`LoRA: rank ${r} is not a positive integer`);
  const scale = loraScale(spec);
  const out = new Map<string, Float32Array>();
  for (const [name, w] of weights) if (!isLoraName(name)) out.set(name, w);
  for (const module of loraModules(adapters.keys())) {
    const a = adapters.get(module + LORA_A)!; // [r, in]
    const b = adapters.get(module + LORA_B)!; // [out, r]
    const w = weights.get(module + '.weight'); // [out, in]
    if (!w) throw new Error(`LoRA: the model has no ${module}.weight to merge ${module}${LORA_A} into`);
    const inDim = a.length / r;
    const outDim = b.length / r;
    if (!Number.isInteger(inDim) || !Number.isInteger(outDim) || outDim * inDim !== w.length) {
      throw new Error(`LoRA: ${module}: A has ${a.length} values, B ${b.length}, the weight ${w.length}; with r = ${r} they do not make [out, r]·[r, in] = [out, in]`);
    }
    const merged = o.inPlace ? w : new Float32Array(w.length);
    const row = new Float64Array(inDim);
    for (let o = 0; o < outDim; o++) {
      row.fill(0);
      for (let k = 0; k < r; k++) {
        const bk = b[o * r + k];
        if (bk === 0) continue;
        const aRow = k * inDim;
        for (let i = 0; i < inDim; i++) row[i] += bk * a[aRow + i];
      }
      const base = o * inDim;
      for (let i = 0; i < inDim; i++) merged[base + i] = w[base + i] + scale * row[i];
    }
    out.set(module + '.weight', merged);
  }
  return out;
}

export interface AdapterFolderInput {
  spec: LoraExportSpec;
  /** A/B tensors by the run's names (no model prefix). */
  adapters: ReadonlyMap<string, Float32Array>;
  /** The base model as PEFT and sentence-transformers load it: a Hub id (public name, no local path). */
  baseModel: string;
  /** The base model's revision, when the run pinned one (PEFT's `revision`). */
  revision?: string | null;
}

/**
 * adapter_config.json's fields: LoraConfig's, with the values this run trained with and PEFT's
 * defaults for what tabtune does not offer (no DoRA, no rsLoRA, no bias training, no extra
 * trained modules). `task_type` is FEATURE_EXTRACTION, as sentence-transformers' PEFT guide
 * writes it; `inference_mode` true, as PEFT saves a trained adapter.
 */
export function adapterConfig(o: Pick<AdapterFolderInput, 'spec' | 'baseModel' | 'revision'>): Record<string, unknown> {
  const { spec } = o;
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: o.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.r,
    rank_pattern: {},
    revision: o.revision ?? null,
    // A list matches by path suffix, as the run matched; a string is PEFT's regex or `all-linear`.
    target_modules: peftTargets(spec.targetModules),
    task_type: 'FEATURE_EXTRACTION',
    use_dora: false,
    use_rslora: false,
  };
}

/** target_modules as PEFT reads them: `all-linear` stays the special string (in a list it would name a module). */
export function peftTargets(t: LoraExportSpec['targetModules']): string | string[] {
  if (typeof t === 'string') return t;
  return t.length === 1 && t[0] === 'all-linear' ? 'all-linear' : [...t];
}

/** The PEFT key of one of the run's adapter tensors. */
export const peftKey = (name: string) => PEFT_KEY_PREFIX + name;

/** adapter_config.json and adapter_model.safetensors (float32, PEFT's keys, `format: pt`). */
export function adapterFolderFiles(o: AdapterFolderInput): Map<string, Uint8Array> {
  const { r } = o.spec;
  const tensors = new Map<string, TensorToWrite>();
  for (const module of loraModules(o.adapters.keys())) {
    const a = o.adapters.get(module + LORA_A)!;
    const b = o.adapters.get(module + LORA_B)!;
    tensors.set(peftKey(module + LORA_A), { shape: [r, a.length / r], data: a, dtype: 'F32' });
    tensors.set(peftKey(module + LORA_B), { shape: [b.length / r, r], data: b, dtype: 'F32' });
  }
  if (tensors.size === 0) throw new Error('LoRA: the run has no adapter tensors to export');
  return new Map([
    [ADAPTER_CONFIG_FILE, new TextEncoder().encode(JSON.stringify(adapterConfig(o), null, 2) + '\n')],
    [ADAPTER_WEIGHTS_FILE, writeSafetensors(tensors, { format: 'pt' })],
  ]);
}

/** The run's adapter tensors back from an adapter_model.safetensors' parsed tensors (PEFT keys → run names). */
export function adaptersFromPeft(tensors: ReadonlyMap<string, { data: unknown }>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [key, t] of tensors) {
    if (!key.startsWith(PEFT_KEY_PREFIX) || !isLoraName(key)) throw new Error(`${ADAPTER_WEIGHTS_FILE}: ${key} is not a LoRA tensor of PEFT's form (${PEFT_KEY_PREFIX}<module>${LORA_A})`);
    if (!(t.data instanceof Float32Array)) throw new Error(`${ADAPTER_WEIGHTS_FILE}: ${key} is not float32`);
    out.set(key.slice(PEFT_KEY_PREFIX.length), t.data);
  }
  loraModules(out.keys());
  return out;
}

/**
 * A finished run's weights as the sentence-transformers folder takes them, and for a LoRA run its
 * adapter folder's files (written beside the merged model so either form can be packaged later).
 * `trained`: the trainer's tensors by bare name (base tensors it trained; for LoRA, the adapters);
 * `base`: the model's own values (frozen tensors, and the W that adapters merge into). The
 * pooler's adapters, which PEFT adds and no graph reads, keep their initial values
 * (trainable.ts initAdapterWeights: A from the run's seed, B zeros), as PEFT would save them.
 */
export function runExportWeights(o: {
  set: ParameterSet;
  trained: ReadonlyMap<string, Float32Array>;
  base: ReadonlyMap<string, { data: Float32Array }>;
  seed: number;
  baseModel: string;
  revision: string | null;
  /** Merge into the base arrays themselves (mergeLora's inPlace): the caller reads the base model again afterwards. */
  mergeInPlace?: boolean;
}): { weights: Map<string, Float32Array>; adapterFiles: Map<string, Uint8Array> | null } {
  const { set, trained } = o;
  const lora = set.trainable.mode === 'lora' ? set.trainable : null;
  if (!lora || !set.lora) return { weights: new Map(trained), adapterFiles: null };
  const missing = set.adapters.filter((p) => !trained.has(p.name));
  const initial = missing.length ? initAdapterWeights(missing, o.seed) : new Map<string, Float32Array>();
  const adapters = new Map<string, Float32Array>();
  for (const p of set.adapters) adapters.set(p.name, trained.get(p.name) ?? initial.get(p.name)!);
  // The base weights of the adapted modules, to merge into; any base tensor the run trained as well.
  const weights = new Map<string, Float32Array>();
  for (const [name, w] of trained) if (!isLoraName(name)) weights.set(name, w);
  for (const module of loraModules(adapters.keys())) {
    const name = module + '.weight';
    if (weights.has(name)) continue;
    const w = o.base.get(name);
    if (!w) throw new Error(`LoRA export: the model has no ${name}`);
    weights.set(name, w.data);
  }
  return {
    weights: mergeLora(weights, adapters, set.lora, { inPlace: o.mergeInPlace }),
    adapterFiles: adapterFolderFiles({ spec: lora, adapters, baseModel: o.baseModel, revision: o.revision }),
  };
}

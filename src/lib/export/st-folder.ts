// The fine-tuned model as a sentence-transformers folder (SPEC §6.3), as a map of path → bytes so
// a run's Store writes it (a folder on disk, IndexedDB): `model.safetensors` with the input file's own
// tensor names and order of everything it held (trained tensors replaced, float32; the untouched
// pooler and any extra tensor such as `embeddings.position_ids` copied as they were), `config.json`,
// the tokenizer files and sentence-transformers module files carried over unchanged, and a
// README.md model card with the evaluation table. sentence-transformers, transformers.js and our
// own loader read it like the input model.
// Not the ONNX export for transformers.js' onnx/ folder, and no zip or upload.

import { architectureOfType, bareWeightName } from '../models/architectures.ts';
import { parseSafetensors, safetensorsParts, type TensorToWrite } from '../models/safetensors.ts';
import type { StoreValue } from '../store/store.ts';

/**
 * Files a finished run writes beside the model folder itself (run/record.ts has the layout): kept
 * here, below the run, so the packager (package.ts) can tell them from the model's own files.
 */
export const RUN_OUTPUT_EXTRAS: ReadonlySet<string> = new Set(['train_log.jsonl', 'eval_results.json', 'run_config.json']);

export interface ExportInput {
  /** The input model's files (path → bytes), as read from its folder or IndexedDB. */
  sourceFiles: ReadonlyMap<string, Uint8Array>;
  /** Trained tensors by bare Hugging Face name (no family prefix such as `bert.` or `roberta.`). */
  weights: ReadonlyMap<string, Float32Array>;
  /** README.md text (model-card.ts builds one). */
  readme: string;
  /** Extra files (train_log.jsonl, eval_results.json …). */
  extra?: ReadonlyMap<string, Uint8Array>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Files copied as they are: everything but the weights, README and files we do not use. */
const SKIP = /^(model\.safetensors|pytorch_model\.bin|README\.md|onnx\/.*|\.fixture-version|\.gitattributes)$/;

/** The folder's files; model.safetensors in parts (safetensorsParts: the trained tensors are views, not copies), for a Store to write. */
export function exportSentenceTransformers(o: ExportInput): Map<string, StoreValue> {
  const src = o.sourceFiles.get('model.safetensors');
  if (!src) throw new Error('export: the source model has no model.safetensors');
  const configBytes = o.sourceFiles.get('config.json');
  if (!configBytes) throw new Error('export: the source model has no config.json');
  const config = JSON.parse(dec.decode(configBytes)) as Record<string, unknown>;
  const arch = architectureOfType(config.model_type);
  if (!arch) throw new Error(`export: the source config.json names model_type ${JSON.stringify(config.model_type)}, which no family builds`);
  const parsed = parseSafetensors(src, { view: true }); // views: the trained tensors replace most of them
  const tensors = new Map<string, TensorToWrite>();
  const used = new Set<string>();
  for (const [name, t] of parsed.tensors) {
    const bare = bareWeightName(arch, name);
    const w = o.weights.get(bare);
    if (w) {
      if (w.length !== t.data.length) throw new Error(`export: ${bare} has ${w.length} values, the source tensor ${t.shape.join('×')}`);
      tensors.set(name, { shape: t.shape, data: w, dtype: 'F32' });
      used.add(bare);
    } else {
      tensors.set(name, { shape: t.shape, data: t.data, dtype: t.dtype });
    }
  }
  for (const name of o.weights.keys()) if (!used.has(name)) throw new Error(`export: the source model.safetensors has no tensor ${name}`);
  const out = new Map<string, StoreValue>();
  out.set('model.safetensors', safetensorsParts(tensors, { ...parsed.metadata, format: parsed.metadata.format ?? 'pt' }));
  for (const [path, bytes] of o.sourceFiles) {
    if (SKIP.test(path) || out.has(path)) continue;
    if (path === 'config.json') {
      const c = { ...config };
      if (c.torch_dtype !== undefined) c.torch_dtype = 'float32'; // the trained weights are written as F32
      // The folder holds the bare encoder (the task head's tensors, if any, are copied but unused):
      // transformers and transformers.js build it from model_type and this class.
      c.architectures = [arch.modelClass];
      out.set(path, enc.encode(JSON.stringify(c, null, 2) + '\n'));
    } else out.set(path, bytes);
  }
  out.set('README.md', enc.encode(o.readme));
  for (const [path, bytes] of o.extra ?? []) out.set(path, bytes);
  return out;
}

// What a run trains, in a form a checkpoint can record and a resume can compare: the base model's
// identity (a Hub repo at a commit, or the SHA-256 of its files for a folder or a model
// stored in the browser) and a fingerprint of the mapped training rows (count + SHA-256 of their
// texts and scores in order). `provenanceDifference` says in words what differs, so a refused
// resume names it. Pure TypeScript over WebCrypto (global in browsers, workers and Node ≥ 20).
// Not the checkpoint format (src/lib/train/checkpoint.ts) and not the run (run.ts).

import type { Example } from '../data/validate.ts';

export type ModelIdentity =
  | { kind: 'hub'; repo: string; revision: string; commit: string }
  | { kind: 'weights'; name: string; sha256: string };

export interface DataFingerprint {
  /** The data set's name as the user gave it (Hub id, file or folder). */
  source: string;
  rows: number;
  sha256: string;
}

export interface Provenance {
  model: ModelIdentity;
  data: DataFingerprint;
}

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** Files that do not change what the model computes (cards, repo metadata, other formats). */
const NOT_THE_MODEL = /^(README\.md|\.gitattributes|\.fixture-version|onnx\/.*|pytorch_model\.bin|.*\.(png|jpg|gif))$/;

/**
 * A model's identity. A Hub model at a known commit is that commit; anything else (a folder, a
 * model trained in the page) is the hash of its files — weights, configs (pooling, normalization)
 * and tokenizer — so a copied or renamed folder with the same model still resumes.
 */
export async function modelIdentity(
  name: string,
  files: ReadonlyMap<string, Uint8Array>,
  hub?: { repo: string; revision: string; commit: string } | null,
): Promise<ModelIdentity> {
  if (hub?.commit) return { kind: 'hub', repo: hub.repo, revision: hub.revision, commit: hub.commit };
  const paths = [...files.keys()].filter((p) => !NOT_THE_MODEL.test(p)).sort();
  if (!paths.some((p) => p.endsWith('.safetensors'))) throw new Error(`${name}: no safetensors weights to identify the model by`);
  const lines = await Promise.all(paths.map(async (p) => `${p}:${await sha256Hex(files.get(p)!)}`));
  return { kind: 'weights', name, sha256: await sha256Hex(new TextEncoder().encode(lines.join('\n'))) };
}

/** Rows as the trainer reads them: the texts of each role and the score, in order. */
export async function dataFingerprint(source: string, train: readonly Example[]): Promise<DataFingerprint> {
  const canonical = train.map((e) => [e.anchor, e.positive, e.negatives ?? null, e.score ?? null]);
  return { source, rows: train.length, sha256: await sha256Hex(new TextEncoder().encode(JSON.stringify(canonical))) };
}

export function describeModel(m: ModelIdentity): string {
  return m.kind === 'hub' ? `${m.repo}@${m.revision} (commit ${m.commit.slice(0, 12)})` : `${m.name} (files sha256 ${m.sha256.slice(0, 12)})`;
}

const describeData = (d: DataFingerprint) => `${d.rows} rows of ${d.source} (sha256 ${d.sha256.slice(0, 12)})`;

/** null when `now` is the run that `saved` was made by; else what differs, in words. */
export function provenanceDifference(saved: Provenance, now: Provenance): string | null {
  const diffs: string[] = [];
  const sameModel =
    saved.model.kind === now.model.kind &&
    (saved.model.kind === 'hub'
      ? saved.model.repo === (now.model as typeof saved.model).repo && saved.model.commit === (now.model as typeof saved.model).commit
      : saved.model.sha256 === (now.model as typeof saved.model).sha256);
  if (!sameModel) diffs.push(`the base model differs: the checkpoint was made from ${describeModel(saved.model)}, this run has ${describeModel(now.model)}`);
  if (saved.data.sha256 !== now.data.sha256 || saved.data.rows !== now.data.rows) {
    diffs.push(`the training data differs: the checkpoint was trained on ${describeData(saved.data)}, this run has ${describeData(now.data)}`);
  }
  return diffs.length ? diffs.join('; ') : null;
}

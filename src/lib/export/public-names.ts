// What the files that leave this machine — the model card, run_config.json, train.py, a push's
// commit message — call the base model and the data set: a Hub id (with its @revision) or a
// model trained in the browser (`stored:…`) as it is; a local path by its last segment only
// (`/home/me/data/train.jsonl` → `train.jsonl`), so a user's folders never reach the Hub. Run
// the config again from the folder that holds the file, or give `--data PATH`.
// Not what the run keeps for itself: run.json and checkpoints keep the path (they stay home, and
// `export --quantize` and `--resume` need it).

import type { RunConfig } from '../train/run-config.ts';

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(@[\w./-]+)?$/;

/** A Hub id, a `stored:` model, or a relative `dir/name` as given; anything else by its last path segment. */
export function publicName(name: string): string {
  if (name.startsWith('stored:') || (HUB_ID.test(name) && !name.startsWith('.') && !name.includes('//'))) return name;
  const last = name.split(/[\\/]+/).filter(Boolean).at(-1);
  return last ?? 'local';
}

/** The run config as the world sees it: model and data by public name, no output folder. */
export function publicConfig(config: RunConfig): RunConfig {
  return { ...config, model: { ...config.model, id: publicName(config.model.id) }, data: { ...config.data, source: publicName(config.data.source) }, output: null };
}

/**
 * A run_config.json as read from a folder (any JSON): model.id and data.source by public name,
 * output dropped; null when it is not a JSON object (then it is not packed).
 */
export function publicConfigJson(bytes: Uint8Array): Uint8Array | null {
  let c: unknown;
  try {
    c = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return null;
  const o = { ...(c as Record<string, unknown>) };
  for (const [section, key] of [['model', 'id'], ['data', 'source']] as const) {
    const s = o[section];
    if (typeof s === 'object' && s !== null && typeof (s as Record<string, unknown>)[key] === 'string') {
      o[section] = { ...(s as Record<string, unknown>), [key]: publicName((s as Record<string, string>)[key]) };
    }
  }
  if ('output' in o) o.output = null;
  return new TextEncoder().encode(JSON.stringify(o, null, 2) + '\n');
}

/** `text` (a run's name such as "BASE · DATA") with each of `names` replaced by its public name. */
export function publicText(text: string, names: readonly string[]): string {
  let out = text;
  // Longest first, so a path is replaced before a shorter path inside it.
  for (const n of [...new Set(names)].filter(Boolean).sort((a, b) => b.length - a.length)) {
    const p = publicName(n);
    if (p !== n) out = out.split(n).join(p);
  }
  return out;
}

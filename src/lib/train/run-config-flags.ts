// The command line's run-config flags: `--lr 1e-5 --loss.scale 30 --no-shuffle --dropout=false`
// (or a record of dotted path → value, as a share link gives) applied over a config and checked
// again by parseRunConfig, so a flag is held to the same rules as the JSON file. Values are read as
// numbers, booleans, null or JSON, except for string fields (ids, revisions, paths, column names).
// Not the schema or its defaults (run-config.ts), not the CLI's own options (src/cli/).

import { COLUMN_ROLES, isObj, type Json, type Obj, parseRunConfig, type RunConfig, RunConfigError } from './run-config.ts';

/** Fields whose values stay strings even when they look like numbers (ids, revisions, paths). */
const STRING_PATHS = new Set([
  'model.id', 'model.revision', 'data.source', 'data.revision', 'data.trainSplit', 'data.testSplit', 'output',
  'prompts.query.text', 'prompts.document.text', 'prompts.query.name', 'prompts.document.name',
  ...COLUMN_ROLES.map((r) => `data.columns.${r}`),
]);
const ARRAY_PATHS = new Set(['loss.matryoshka.dims', 'loss.matryoshka.weights']);

function coerce(path: string, text: string): Json {
  if (STRING_PATHS.has(path)) return text === 'null' ? null : text;
  const t = text.trim();
  // `--trainable.targetModules query,value` or `all-linear`: module names, never numbers.
  if (path === 'trainable.targetModules' && !t.startsWith('[')) return t === 'all-linear' ? t : t.split(',').map((s) => s.trim());
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t === 'null') return null;
  if (t.startsWith('{') || t.startsWith('[') || t.startsWith('"')) {
    try {
      return JSON.parse(t);
    } catch {
      throw new RunConfigError(path, `could not read ${JSON.stringify(text)} as JSON`);
    }
  }
  if (ARRAY_PATHS.has(path)) {
    return t.split(',').map((s) => {
      const n = Number(s);
      if (s.trim() === '' || !Number.isFinite(n)) throw new RunConfigError(path, `must be a comma-separated list of numbers, got ${JSON.stringify(text)}`);
      return n;
    });
  }
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  return text;
}

function setPath(root: Obj, path: string, value: Json): void {
  const parts = path.split('.');
  if (parts.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
    throw new RunConfigError(path, 'is not a field name');
  }
  let o = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = o[parts[i]];
    if (!isObj(next)) o[parts[i]] = {};
    o = o[parts[i]] as Obj;
  }
  o[parts[parts.length - 1]] = value;
}

/**
 * Applies flags to a config and re-validates. Accepts argv-style `['--lr', '1e-5', '--loss.scale',
 * '30', '--no-shuffle', '--dropout=false', '--gradCache.miniBatchSize', '8']` or a record of path
 * → value. A flag without a value (or `--no-x`) sets a boolean. Values are read as numbers,
 * booleans, null or JSON except for string fields (ids, revisions, paths, column names).
 */
export function overrideFromFlags(config: RunConfig, flags: readonly string[] | Record<string, string | number | boolean | null>, opts: { hidden?: number } = {}): RunConfig {
  const json = JSON.parse(JSON.stringify(config)) as Obj;
  const apply = (path: string, value: Json) => {
    if (path === 'config') throw new RunConfigError('--config', 'is read by the CLI, not an override');
    setPath(json, path, typeof value === 'string' ? coerce(path, value) : value);
  };
  const entries: [string, Json][] = [];
  if (Array.isArray(flags)) {
    for (let i = 0; i < flags.length; i++) {
      const a = flags[i];
      if (!a.startsWith('--')) throw new RunConfigError(a, 'expected a flag like --lr 1e-5');
      const body = a.slice(2);
      const eq = body.indexOf('=');
      if (eq >= 0) entries.push([body.slice(0, eq), body.slice(eq + 1)]);
      else if (body.startsWith('no-')) entries.push([body.slice(3), false]);
      else if (i + 1 < flags.length && !flags[i + 1].startsWith('--')) entries.push([body, flags[++i]]);
      else entries.push([body, true]);
    }
  } else {
    entries.push(...Object.entries(flags as Record<string, Json>));
  }
  // A new loss type starts from that type's defaults (scale does not carry over to triplet), so
  // `--loss.type triplet --loss.margin 1` works in either order; Matryoshka stays. The same for a
  // new trainable mode (`--trainable.mode lora --trainable.r 16`).
  const first = (k: string) => k === 'loss.type' || k === 'trainable.mode';
  const byTypeFirst = [...entries.filter(([k]) => first(k)), ...entries.filter(([k]) => !first(k))];
  for (const [k, v] of byTypeFirst) {
    if (k === 'loss.type' && isObj(json.loss) && json.loss.type !== v) {
      const { matryoshka } = json.loss;
      json.loss = matryoshka === undefined ? {} : { matryoshka };
    }
    if (k === 'trainable.mode' && isObj(json.trainable) && json.trainable.mode !== v) json.trainable = {};
    // A prompt is a name or a text, never both: either flag replaces what the config had.
    const prompt = /^prompts\.(query|document)\.(name|text)$/.exec(k);
    if (prompt && isObj(json.prompts)) json.prompts[prompt[1]] = {};
    apply(k, v);
  }
  return parseRunConfig(json, opts);
}

// The run config as a share link: only the fields that differ from the defaults, as dotted paths
// in a URL's query (objects such as `loss` as one JSON value), and back — read like flags
// (run-config-flags.ts), so a link is held to the same rules. A link is untrusted input: unknown
// fields are errors unless the page names them as its own.
// Not the schema (run-config.ts) and not the page's URL handling (src/ui/).

import { overrideFromFlags } from './run-config-flags.ts';
import { defaultRunConfig, isObj, type Json, type Obj, type RunConfig } from './run-config.ts';

/** Fields compared and written as one JSON value in share links (their inner fields come and go together). */
const ATOMIC_PATHS = ['loss', 'data.columns', 'gradCache', 'prompts.query', 'prompts.document', 'trainable'];

function getPath(o: Json, path: string): Json {
  let x = o;
  for (const p of path.split('.')) x = isObj(x) ? x[p] : undefined;
  return x;
}

function leafPaths(o: Obj, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (ATOMIC_PATHS.includes(p) || !isObj(v)) out.push(p);
    else out.push(...leafPaths(v, p));
  }
  return out;
}

const sameJson = (a: Json, b: Json): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Only the fields that differ from the defaults, as dotted paths; objects like `loss` as one JSON value. */
export function toSearchParams(config: RunConfig): URLSearchParams {
  const d = defaultRunConfig() as unknown as Obj;
  const params = new URLSearchParams();
  for (const path of leafPaths(config as unknown as Obj)) {
    const v = getPath(config, path);
    if (sameJson(v, getPath(d, path))) continue;
    params.set(path, typeof v === 'string' ? v : JSON.stringify(v));
  }
  return params;
}

/** The config a share link describes: defaults + its fields. Unknown keys are errors, as in flags. */
export function fromSearchParams(params: URLSearchParams, opts: { ignore?: readonly string[] } = {}): RunConfig {
  const record: Record<string, string> = {};
  for (const [k, v] of params) if (!opts.ignore?.includes(k)) record[k] = v;
  return overrideFromFlags(defaultRunConfig(), record);
}

// Which way the layers point, checked on the source: `src/lib/run` (one run from config to
// outputs) writes the model through `src/lib/export`, so export must never import run — a reverse
// import makes the two one tangle again. And nothing under `src/lib` imports the adapters above it
// (the worker, the page, the CLI). Reads the import statements of the files as text; it does not
// resolve bare package names or check the other layers' order. The foundation folders (graph, util,
// progress, store) import nothing else in src/lib, and only run sits above train, losses, models,
// eval, data, hub and mine.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** Folder (from the repository root) → folders its source files must not import. */
const LIB_FOLDERS = readdirSync(join(ROOT, 'src/lib'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `src/lib/${e.name}`);
/** The foundation: the graph IR, byte/number helpers, progress arithmetic and storage import no other part of src/lib. */
const LEAVES = ['src/lib/graph', 'src/lib/util', 'src/lib/progress', 'src/lib/store'];
const RULES: { from: string; notInto: string[] }[] = [
  { from: 'src/lib/export', notInto: ['src/lib/run'] },
  ...['train', 'losses', 'models', 'eval', 'data', 'hub', 'mine'].map((d) => ({ from: `src/lib/${d}`, notInto: ['src/lib/run'] })),
  ...LEAVES.map((from) => ({ from, notInto: LIB_FOLDERS.filter((d) => d !== from) })),
  { from: 'src/lib', notInto: ['workers', 'src/ui', 'src/cli'] },
];

/** Module specifiers of every static import, re-export, side-effect import and dynamic import. */
function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [/\b(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === '__snapshots__' ? [] : sourceFiles(p);
    return /\.(ts|js|svelte)$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [p] : [];
  });
}

/** `file:specifier` for each relative import of a file under `from` that lands in one of `notInto`. */
function reverseImports(from: string, notInto: readonly string[]): string[] {
  const bad: string[] = [];
  for (const file of sourceFiles(join(ROOT, from))) {
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = relative(ROOT, resolve(dirname(file), spec)).split(sep).join('/');
      if (notInto.some((d) => target === d || target.startsWith(`${d}/`))) bad.push(`${relative(ROOT, file)}: ${spec}`);
    }
  }
  return bad;
}

describe('layers point one way', () => {
  it('reads every form of import statement', () => {
    const src = [
      "import type { RunRecord } from '../run/record.ts';",
      'import {\n  a,\n  b,\n} from "../run/run.ts";',
      "export { x } from '../run/identity.ts';",
      "export * from './local.ts';",
      "import './side-effect.ts';",
      "const m = await import('../run/lazy.ts');",
      "const s = 'from here'; // no import",
    ].join('\n');
    expect(importSpecifiers(src)).toEqual(['../run/record.ts', '../run/run.ts', '../run/identity.ts', './local.ts', './side-effect.ts', '../run/lazy.ts']);
  });

  it('finds the imports it checks (the scan is not empty)', () => {
    const files = sourceFiles(join(ROOT, 'src/lib/export'));
    expect(files.length).toBeGreaterThan(3);
    // run imports export (the folder writer, the card): the scan must see a forward import.
    expect(reverseImports('src/lib/run', ['src/lib/export']).length).toBeGreaterThan(0);
  });

  for (const { from, notInto } of RULES) {
    it(`${from} imports nothing from ${notInto.join(', ')}`, () => {
      expect(reverseImports(from, notInto)).toEqual([]);
    });
  }
});

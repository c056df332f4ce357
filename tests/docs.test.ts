// The docs/ pages as code comments use them: every `docs/<page>.md#section` a source file cites,
// and every link between the pages, must name a page that exists and a heading on it; and no file
// cites a document outside the repository (the design notes the code once cited by section), since
// a reader of the code could not follow it. Reads the repository's own files (tracked or new, not
// ignored); no network.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const TEXT = /\.(ts|js|svelte|py|md|sh|json|html)$|^\.ci\/run$/;

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && TEXT.test(f) && existsSync(join(ROOT, f)) && !f.startsWith('node_modules/'));

/** GitHub's heading anchor: lowercase, punctuation dropped (letters, digits, `-`, `_` kept), spaces to `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(page: string): Set<string> {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])));
}

/** References `docs/<page>.md#<section>` anywhere, and relative `](<page>.md#<section>)` links inside docs/. */
function references(): { from: string; page: string; anchor: string | null }[] {
  const out: { from: string; page: string; anchor: string | null }[] = [];
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/\bdocs\/([\w-]+\.md)(?:#([\w-]+))?/g)) out.push({ from: f, page: `docs/${m[1]}`, anchor: m[2] ?? null });
    if (f.startsWith('docs/')) {
      for (const m of text.matchAll(/\]\((?!https?:)([^)#\s]*\.md)?(?:#([\w-]+))?\)/g)) {
        const page = m[1] ? normalize(join(dirname(f), m[1])) : f;
        out.push({ from: f, page, anchor: m[2] ?? null });
      }
    }
  }
  return out;
}

describe('docs/', () => {
  it('has the index, the formula pages and the extension page', () => {
    for (const p of ['README', 'encoder', 'losses', 'optimizer', 'training', 'evaluation', 'mining', 'extending']) {
      expect(existsSync(join(ROOT, 'docs', `${p}.md`)), p).toBe(true);
    }
  });

  it('every cited page and section exists', () => {
    const refs = references();
    expect(refs.filter((r) => r.from.startsWith('src/')).length).toBeGreaterThan(10);
    const broken = refs
      .filter((r) => !existsSync(join(ROOT, r.page)) || (r.anchor !== null && !anchorsOf(r.page).has(r.anchor)))
      .map((r) => `${r.from} → ${relative(ROOT, join(ROOT, r.page))}${r.anchor ? `#${r.anchor}` : ''}`);
    expect(broken).toEqual([]);
  });

  it('no file cites a design document outside the repository', () => {
    // Written in two pieces so that this line does not match itself.
    const cites = new RegExp('\\bS' + 'PEC(\\.md|\\s*§|\\s+section|\\s*["“]|’s|\'s|-style)');
    const found = files.flatMap((f) =>
      readFileSync(join(ROOT, f), 'utf8')
        .split('\n')
        .flatMap((line, i) => (cites.test(line) ? [`${f}:${i + 1}: ${line.trim().slice(0, 100)}`] : [])),
    );
    expect(found).toEqual([]);
  });

  it('the anchor rule matches GitHub on the headings these pages use', () => {
    expect(slug('MultipleNegativesRankingLoss')).toBe('multiplenegativesrankingloss');
    expect(slug("The seed's IR set")).toBe('the-seeds-ir-set');
    expect(slug('Columns and the embedding matrix')).toBe('columns-and-the-embedding-matrix');
    expect(slug('Optimizer, learning-rate schedules and step arithmetic')).toBe('optimizer-learning-rate-schedules-and-step-arithmetic');
  });
});

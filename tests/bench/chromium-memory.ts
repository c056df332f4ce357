// The memory of one headless Chromium, as the page benches measure it: every process of the
// browser started with a given profile (--user-data-dir) and their descendants, PSS and RSS summed
// from /proc/<pid>/smaps_rollup (Linux only). PSS splits shared pages among the processes that map
// them, so the sum counts each page once. Not a profiler: a sample is a snapshot; the benches
// sample every 200 ms and keep the peak.

import { readdirSync, readFileSync } from 'node:fs';

/** The processes of the Chromium whose profile is `profile`: its browser process and every descendant. */
export function chromiumPids(profile: string): number[] {
  const parent = new Map<number, number>();
  const roots: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`--user-data-dir=${profile}`)) roots.push(pid);
    } catch { /* the process ended */ }
  }
  const all = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) if (!all.has(pid) && all.has(ppid)) { all.add(pid); grew = true; }
  }
  return [...all];
}

/** PSS and RSS (bytes) summed over the processes. */
export function memoryOf(pids: number[]): { pss: number; rss: number } {
  let pss = 0;
  let rss = 0;
  for (const pid of pids) {
    try {
      const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += 1024 * Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      rss += 1024 * Number(/^Rss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch { /* the process ended */ }
  }
  return { pss, rss };
}

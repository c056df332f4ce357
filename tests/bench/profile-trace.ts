// Summarizes an onnxruntime profiler trace (the JSON file a session writes with `enableProfiling`,
// Chrome trace-event format) into time per op type and per node, for `npm run bench --profile`.
// It only reads the trace; it does not run or profile anything itself (child.ts does).
//
// Trace events used: `cat: "Node"` events named `<node>_kernel_time` (one per kernel execution,
// `dur` in µs, `args.op_name`, `args.provider`) and `cat: "Session"` events named `model_run`
// (one per session.run, the wall time the kernels sit in). `_fence_before` / `_fence_after`
// events are ignored.

export interface TraceEvent {
  cat?: string;
  name?: string;
  /** Start, µs. */
  ts?: number;
  dur?: number;
  args?: { op_name?: string; provider?: string; [k: string]: unknown };
}

export interface OpTypeTime {
  opType: string;
  /** Kernel time per run, ms. */
  ms: number;
  /** Kernel executions per run. */
  calls: number;
  /** Share of all kernel time. */
  share: number;
}

export interface NodeTime {
  node: string;
  opType: string;
  ms: number;
  share: number;
}

export interface TraceSummary {
  runs: number;
  /** Median model_run wall time, ms. */
  runMs: number;
  /** Sum of kernel times per run, ms (below runMs by the executor's own overhead). */
  kernelMs: number;
  byOpType: OpTypeTime[];
  topNodes: NodeTime[];
  providers: string[];
}

/**
 * events: the parsed trace; topNodes: how many single nodes to keep; skipRuns: leading model_run
 * events (warm-up runs) whose kernels are left out.
 */
export function summarizeTrace(events: readonly TraceEvent[], topNodes = 15, skipRuns = 0): TraceSummary {
  const allRuns = events.filter((e) => e.cat === 'Session' && e.name === 'model_run' && typeof e.dur === 'number');
  const skipped = allRuns.slice(0, skipRuns);
  const after = skipped.length ? Math.max(...skipped.map((e) => (e.ts ?? 0) + e.dur!)) : -Infinity;
  const runDurs: number[] = [];
  const byType = new Map<string, { us: number; calls: number }>();
  const byNode = new Map<string, { us: number; opType: string }>();
  const providers = new Set<string>();
  let totalUs = 0;
  for (const e of events) {
    if (skipped.length && (e.ts ?? 0) < after) continue;
    if (e.cat === 'Session' && e.name === 'model_run' && typeof e.dur === 'number') runDurs.push(e.dur);
    if (e.cat !== 'Node' || typeof e.dur !== 'number' || !e.name?.endsWith('_kernel_time')) continue;
    const opType = e.args?.op_name ?? '?';
    const node = e.name.slice(0, -'_kernel_time'.length);
    if (e.args?.provider) providers.add(e.args.provider);
    const t = byType.get(opType) ?? { us: 0, calls: 0 };
    t.us += e.dur;
    t.calls += 1;
    byType.set(opType, t);
    const n = byNode.get(node) ?? { us: 0, opType };
    n.us += e.dur;
    byNode.set(node, n);
    totalUs += e.dur;
  }
  const runs = Math.max(1, runDurs.length);
  const per = (us: number) => us / runs / 1000;
  const share = (us: number) => (totalUs > 0 ? us / totalUs : 0);
  return {
    runs: runDurs.length,
    runMs: runDurs.length ? median(runDurs) / 1000 : 0,
    kernelMs: per(totalUs),
    byOpType: [...byType]
      .map(([opType, t]) => ({ opType, ms: per(t.us), calls: t.calls / runs, share: share(t.us) }))
      .sort((a, b) => b.ms - a.ms),
    topNodes: [...byNode]
      .map(([node, n]) => ({ node, opType: n.opType, ms: per(n.us), share: share(n.us) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, topNodes),
    providers: [...providers].sort(),
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

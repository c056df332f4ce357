// Reads onnxruntime's "Node placements" report (verbose session log, written by
// VerifyEachNodeIsAssignedToAnEp in session_state.cc) into execution provider → nodes.
// Pure text parsing, so it is unit-tested in Node on captured logs; capturing the log is
// WebGpuRuntime.placement's job.

export interface PlacedNode {
  opType: string;
  name: string;
}

export interface NodePlacement {
  /** Execution provider name (e.g. 'WebGpuExecutionProvider', 'CPUExecutionProvider') → nodes. */
  byProvider: Record<string, PlacedNode[]>;
  /** Node counts as onnxruntime reported them (checks that no node line was lost). */
  counts: Record<string, number>;
  /** Nodes on the CPU EP, minus the MemcpyFromHost/MemcpyToHost copies onnxruntime inserts. */
  cpu: PlacedNode[];
}

const ALL = /All nodes placed on \[(\w+)\]\. Number of nodes: (\d+)/;
const SOME = /Node\(s\) placed on \[(\w+)\]\. Number of nodes: (\d+)/;
// "  OpType (node name)" after the logger's "[V:onnxruntime:, file:line Function]" prefix.
const NODE = /\]\s{2,}(\S+) \((.*)\)\s*$|^\s{2,}(\S+) \((.*)\)\s*$/;

const COPIES = new Set(['MemcpyFromHost', 'MemcpyToHost']);

export function parsePlacement(lines: readonly string[]): NodePlacement {
  const byProvider: Record<string, PlacedNode[]> = {};
  const counts: Record<string, number> = {};
  let current: string | null = null;
  let seen = false;
  for (const text of lines.flatMap((l) => l.split('\n'))) {
    const all = ALL.exec(text);
    if (all) {
      counts[all[1]] = Number(all[2]);
      byProvider[all[1]] ??= [];
      current = null;
      seen = true;
      continue;
    }
    const some = SOME.exec(text);
    if (some) {
      counts[some[1]] = Number(some[2]);
      current = some[1];
      byProvider[current] ??= [];
      seen = true;
      continue;
    }
    if (!current) continue;
    const node = NODE.exec(text);
    if (node && text.includes('VerifyEachNodeIsAssignedToAnEp')) {
      byProvider[current].push({ opType: node[1] ?? node[3], name: node[2] ?? node[4] });
    } else if (node && !text.includes('[')) {
      byProvider[current].push({ opType: node[3] ?? node[1], name: node[4] ?? node[2] });
    } else {
      current = null;
    }
  }
  if (!seen) throw new Error('no "Node placements" report in the session log (was verbose logging on?)');
  const cpu = (byProvider.CPUExecutionProvider ?? []).filter((n) => !COPIES.has(n.opType));
  return { byProvider, counts, cpu };
}

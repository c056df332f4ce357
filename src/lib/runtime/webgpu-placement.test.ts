import { describe, expect, it } from 'vitest';
import { parsePlacement } from './webgpu-placement.ts';

// Lines as onnxruntime-web 1.30 writes them to the console (one console call per line).
const P = '2026-11-29 03:27:45.132075 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]';

describe('parsePlacement', () => {
  it('lists CPU nodes (Memcpy copies left out) and keeps the counts', () => {
    const p = parsePlacement([
      `${P} Node placements`,
      `${P}  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1`,
      `${P}   Unsqueeze (grad/gather/unsqueeze)`,
      `${P}  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 3`,
      `${P}   Mul (grad/erf/mul)`,
      `${P}   Transpose (Transpose_token_2)`,
      `${P}   MemcpyFromHost (Memcpy)`,
      '2026-11-29 03:27:45.18 [V:onnxruntime:, session_state.cc:186 CreateGraphInfo] SaveMLValueNameIndexMapping',
    ]);
    expect(p.cpu).toEqual([{ opType: 'Unsqueeze', name: 'grad/gather/unsqueeze' }]);
    expect(p.counts).toEqual({ CPUExecutionProvider: 1, WebGpuExecutionProvider: 3 });
    expect(p.byProvider.WebGpuExecutionProvider.map((n) => n.opType)).toEqual(['Mul', 'Transpose', 'MemcpyFromHost']);
  });

  it('reads the single-provider form and multi-line messages', () => {
    expect(parsePlacement([`${P} All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 928`]).cpu).toEqual([]);
    const p = parsePlacement([`${P}  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2\n  Range (r)\n  Cast (c)\n`]);
    expect(p.cpu.map((n) => n.opType)).toEqual(['Range', 'Cast']);
  });

  it('refuses a log without the report', () => {
    expect(() => parsePlacement(['nothing here'])).toThrow(/verbose logging/);
  });
});

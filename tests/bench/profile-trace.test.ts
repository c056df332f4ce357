import { describe, expect, it } from 'vitest';
import { median, summarizeTrace, type TraceEvent } from './profile-trace.ts';

const kernel = (name: string, op: string, dur: number): TraceEvent => ({
  cat: 'Node', name: `${name}_kernel_time`, dur, args: { op_name: op, provider: 'CPUExecutionProvider' },
});

describe('summarizeTrace', () => {
  it('sums kernel time per op type and node, per run, ignoring fences and other events', () => {
    const run = (scale: number): TraceEvent[] => [
      { cat: 'Session', name: 'model_run', dur: 10_000 * scale },
      kernel('mm1', 'MatMul', 4000 * scale),
      kernel('mm2', 'MatMul', 2000 * scale),
      kernel('sm', 'Softmax', 3000 * scale),
      { cat: 'Node', name: 'mm1_fence_before', dur: 999 },
      { cat: 'Session', name: 'session_initialization', dur: 123_456 },
    ];
    const s = summarizeTrace([...run(1), ...run(2), ...run(3)], 2);
    expect(s.runs).toBe(3);
    expect(s.runMs).toBe(20);
    expect(s.kernelMs).toBeCloseTo((9 + 18 + 27) / 3, 9);
    expect(s.byOpType.map((t) => t.opType)).toEqual(['MatMul', 'Softmax']);
    expect(s.byOpType[0].ms).toBeCloseTo(12, 9);
    expect(s.byOpType[0].calls).toBe(2);
    expect(s.byOpType[0].share).toBeCloseTo(2 / 3, 9);
    expect(s.topNodes.map((n) => n.node)).toEqual(['mm1', 'sm']);
    expect(s.topNodes[1]).toMatchObject({ opType: 'Softmax', ms: 6 });
    expect(s.providers).toEqual(['CPUExecutionProvider']);
  });

  it('leaves out the kernels of the first skipRuns runs (warm-up)', () => {
    const events: TraceEvent[] = [
      { cat: 'Session', name: 'model_run', ts: 0, dur: 100_000 },
      { ...kernel('mm', 'MatMul', 90_000), ts: 10 },
      { cat: 'Session', name: 'model_run', ts: 200_000, dur: 10_000 },
      { ...kernel('mm', 'MatMul', 8000), ts: 200_010 },
    ];
    const s = summarizeTrace(events, 5, 1);
    expect(s.runs).toBe(1);
    expect(s.runMs).toBe(10);
    expect(s.byOpType[0]).toMatchObject({ opType: 'MatMul', ms: 8, calls: 1 });
  });

  it('median of odd and even lengths', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

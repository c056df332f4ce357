// Where a run looks up word embedding rows (docs/memory.md#large-frozen-tables-on-webgpu): in the
// graph, from the table on the runtime's device, or — on WebGPU, when a frozen table is larger
// than the device's largest buffer binding (bge-m3's 250,002 × 1,024 floats: 1 GB, past a default
// 128 MiB binding) — on the host, which feeds the gathered rows [B,T,C] with each batch as the
// graph's `word_rows` input. The encoder and the memory account both ask `wordTableLookup`, so the
// account names the path that runs.
// Not the gather itself (encoder.ts on the host, bert.ts in the graph).

import type { FrozenDtype } from './bert.ts';

export type TableLookup = 'graph' | 'host';

/** The graph input that carries host-gathered word rows [B,T,C], float32. */
export const WORD_ROWS_INPUT = 'word_rows';

export interface TableDevice {
  runtimeKind: string;
  /** The device's largest buffer binding in bytes (WebGPU: min of maxBufferSize and maxStorageBufferBindingSize); absent: no limit known. */
  maxBindingBytes?: number;
  /** The device holds float16 tensors (WebGPU: shader-f16). */
  float16?: boolean;
}

/** Bytes a frozen element takes on the device: float16 only where the device holds it, else float32. */
export function frozenBytesPerElement(d: Pick<TableDevice, 'runtimeKind' | 'float16'>, frozenDtype: FrozenDtype): number {
  if (frozenDtype !== 'float16') return 4;
  return d.runtimeKind !== 'webgpu' || d.float16 ? 2 : 4;
}

/** 'host' for a frozen word table past a WebGPU device's binding limit; 'graph' otherwise (a trained table must be bound: the account refuses one that cannot). */
export function wordTableLookup(d: TableDevice, table: { elements: number; trained: boolean }, frozenDtype: FrozenDtype): TableLookup {
  if (d.runtimeKind !== 'webgpu' || !d.maxBindingBytes || table.trained) return 'graph';
  return frozenBytesPerElement(d, frozenDtype) * table.elements > d.maxBindingBytes ? 'host' : 'graph';
}

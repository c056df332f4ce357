// Hands an array buffer's memory back now instead of at V8's next collection, which comes late
// for large buffers: in GradCache runs the whole gradients of earlier mini-batches were still
// resident when the next one arrived (bge-small, WASM: +2 weight-sized blocks, 242 MiB; README).
// `ArrayBuffer.prototype.transfer(0)` detaches a buffer and drops its store at once: built into
// Chromium 114+ and Node 22+; Node 20 has it behind a V8 flag (release-buffer-node.ts turns it on).

type Transfer = (this: ArrayBuffer, length: number) => ArrayBuffer;

let transfer = (ArrayBuffer.prototype as { transfer?: Transfer }).transfer;

/** Where ArrayBuffer.prototype lacks transfer: one from another context (release-buffer-node.ts). */
export function useTransfer(fn: Transfer): void {
  transfer ??= fn;
}

/**
 * Whether releaseArray frees memory here. The memory account assumes it does (the page, the CLI
 * and the tests all can); without it a GradCache run holds ~2 more gradients than accounted.
 */
export function canReleaseBuffers(): boolean {
  return transfer !== undefined;
}

/**
 * Frees `a`'s memory now and leaves it empty (length 0), when it is its whole buffer and the
 * runtime can; otherwise does nothing. Only for arrays no one else reads afterwards.
 */
export function releaseArray(a: Float32Array): void {
  const buffer = a.buffer;
  if (!transfer || !(buffer instanceof ArrayBuffer) || a.byteOffset !== 0 || a.byteLength !== buffer.byteLength) return;
  try {
    transfer.call(buffer, 0);
  } catch {
    // A buffer that cannot be detached (memory another library owns) waits for the collector.
  }
}

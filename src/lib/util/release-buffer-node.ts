// Node 20's ArrayBuffer.prototype.transfer is behind a V8 flag that only applies to contexts made
// after it is set: set it, make one, and lend its transfer to release-buffer.ts (a builtin takes
// any context's buffers). Node 22+ has it built in, and this does nothing.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { canReleaseBuffers, useTransfer } from './release-buffer.ts';

export function enableBufferRelease(): void {
  if (canReleaseBuffers()) return;
  setFlagsFromString('--harmony-rab-gsab-transfer');
  const fn = runInNewContext('ArrayBuffer.prototype.transfer');
  if (typeof fn === 'function') useTransfer(fn);
}

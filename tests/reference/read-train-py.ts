// Reads generated train.py scripts back through read_train_py.py (Python's `ast`, never executed):
// the export tests check what the script would construct without running PyTorch.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A call as the reader reports it: dotted callee, positional and keyword values (constants substituted). */
export interface PyCall { func: string; args: unknown[]; kwargs: Record<string, unknown> }
export interface TrainScriptRead {
  consts: Record<string, unknown>;
  /** Every call inside main(), in source order. */
  calls: PyCall[];
  /** Calls assigned to one name inside main() (`loss = losses.X(...)`), in source order. */
  assignments: { target: string; call: PyCall }[];
  /** main()'s for-loop iterables, dotted. */
  loops: string[];
}

const READER = fileURLToPath(new URL('./read_train_py.py', import.meta.url));

export function readTrainScripts(paths: string[]): TrainScriptRead[] {
  return JSON.parse(execFileSync('/usr/bin/python3', [READER, ...paths], { encoding: 'utf8' })) as TrainScriptRead[];
}

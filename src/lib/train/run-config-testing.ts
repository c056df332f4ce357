// Test helper shared by the run-config tests (schema, CLI flags, share link): the RunConfigError a
// call throws, so each test can check the field it names. Imported by tests only.

import { expect } from 'vitest';
import { RunConfigError } from './run-config.ts';

/** The RunConfigError `f` throws; fails the test when it throws something else or nothing. */
export function errorOf(f: () => unknown): RunConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RunConfigError);
    return e as RunConfigError;
  }
  throw new Error('expected a RunConfigError');
}

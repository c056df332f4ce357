// The seeded train/test split used when a data set has only one split (the recipe's
// `train_test_split(test_size=0.1)`, but reproducible: the seed is part of the run's settings).
// Not stratified, and not aware of duplicate documents.

import { Rng } from '../util/rng.ts';

/** Shuffles a copy with `seed`, puts round(n · testFraction) items (at least 1 when n ≥ 2) in test. */
export function splitTrainTest<T>(items: readonly T[], testFraction = 0.1, seed = 42): { train: T[]; test: T[] } {
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`testFraction must be in (0, 1), got ${testFraction}`);
  const shuffled = new Rng(seed).shuffle([...items]);
  const n = shuffled.length;
  const nTest = n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * testFraction)));
  return { test: shuffled.slice(0, nTest), train: shuffled.slice(nTest) };
}

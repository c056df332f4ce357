import { expect, it } from 'vitest';
import { formatBytes } from './format.ts';

it('formats byte counts in binary units', () => {
  expect(formatBytes(0)).toBe('0 B');
  expect(formatBytes(1536)).toBe('1.5 KiB');
  expect(formatBytes(32768)).toBe('32 KiB');
  expect(formatBytes(2 ** 30)).toBe('1 GiB');
  expect(formatBytes(268_435_456 * 3)).toBe('768 MiB');
  expect(formatBytes(123_456_789_012)).toBe('115 GiB');
});

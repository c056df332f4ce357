// The page's default generator is the generator module's: one idea, kept in two modules only so
// that the main thread does not load transformers.js.

import { expect, it } from 'vitest';
import { DEFAULT_GENERATOR_MODEL } from '../lib/generate/generator.ts';
import { DEFAULT_GENERATOR_ID } from './generate-defaults.ts';

it('the page offers the generator module default', () => {
  expect(DEFAULT_GENERATOR_ID).toBe(DEFAULT_GENERATOR_MODEL);
});

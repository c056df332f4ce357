#!/usr/bin/env node
// `npx tabtune …`: runs the TypeScript command line (src/cli/main.ts) through tsx, so that it
// works right after `npm ci` with no build step, from any working directory.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

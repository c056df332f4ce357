#!/usr/bin/env node
// `npx tabtune …`: runs the TypeScript command line (src/cli/main.ts) through tsx, so that it
// works right after `npm ci` with no build step, from any working directory.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// GOTCHA: imported through tsx's loader, transformers.js (one large .mjs) takes 3–4× longer to
// load (~1 s more here, seconds on a busy machine). Loaded first, without the loader, it is in the
// module cache when the tokenizer asks for it. Only for commands, not for --help.
const args = process.argv.slice(2);
if (args.length > 0 && !args[0].startsWith('-') && args[0] !== 'help') await import('@huggingface/transformers');

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(args);

// The command line's entry: subcommand dispatch, --help, and the mapping of failures to exit
// codes (0 ok, 1 failure, 2 usage). Each command lives in its own file and is listed here only
// once it works. bin/tabtune.js calls main(); tests call it directly or through a child process.

import { readFileSync } from 'node:fs';
import type { CliIo } from './embed.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.ts';
import { enableBufferRelease } from '../lib/util/release-buffer-node.ts';

interface CommandModule {
  help: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

interface Command {
  summary: string;
  /** Loaded on use: the tokenizer and onnxruntime take ~1 s to import, --help should not wait. */
  load(): Promise<CommandModule>;
}

const COMMANDS: Record<string, Command> = {
  embed: {
    summary: 'compute sentence embeddings for one text per line',
    load: async () => {
      const m = await import('./embed.ts');
      return { help: m.EMBED_HELP, run: m.embedCommand };
    },
  },
  eval: {
    summary: 'evaluate a model on a retrieval data set (Matryoshka nDCG@10 and more, per dimension)',
    load: async () => {
      const m = await import('./eval.ts');
      return { help: m.EVAL_HELP, run: m.evalCommand };
    },
  },
  train: {
    summary: 'fine-tune a model with a contrastive loss and write a sentence-transformers folder',
    load: async () => {
      const m = await import('./train.ts');
      return { help: m.TRAIN_HELP, run: m.trainCommand };
    },
  },
  mine: {
    summary: 'mine hard negatives for (anchor, positive) pairs with a model, as sentence-transformers does',
    load: async () => {
      const m = await import('./mine.ts');
      return { help: m.MINE_HELP, run: m.mineCommand };
    },
  },
  generate: {
    summary: 'write (question, document) pairs from documents with a small language model, optionally filtered',
    load: async () => {
      const m = await import('./generate.ts');
      return { help: m.GENERATE_HELP, run: (argv, io) => m.generateCommand(argv, io) };
    },
  },
  export: {
    summary: 'package a trained model: the folder with its card, ONNX for transformers.js (fp32, int8), a zip',
    load: async () => {
      const m = await import('./export.ts');
      return { help: m.EXPORT_HELP, run: m.exportCommand };
    },
  },
  push: {
    summary: 'upload a trained model to the Hub (token from HF_TOKEN)',
    load: async () => {
      const m = await import('./push.ts');
      return { help: m.PUSH_HELP, run: m.pushCommand };
    },
  },
  script: {
    summary: 'write a sentence-transformers train.py that repeats a run on GPUs',
    load: async () => {
      const m = await import('./export.ts');
      return { help: m.SCRIPT_HELP, run: m.scriptCommand };
    },
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const list = Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `Usage: tabtune <command> [options]

Fine-tune and run BGE embedding models with onnxruntime (see README.md).

Commands:
${list}

Run "tabtune <command> --help" for a command's options.
Options: -h, --help (this help), --version.
Exit status: 0 success, 1 failure, 2 bad arguments.`;
}

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [first, ...rest] = argv;
  enableBufferRelease();
  try {
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      const topic = first === 'help' ? rest[0] : undefined;
      if (topic !== undefined && !(topic in COMMANDS)) throw new UsageError(`unknown command "${topic}"`);
      const text = topic ? (await COMMANDS[topic].load()).help : topHelp();
      // Bare `tabtune` is a usage error: the help goes to stderr.
      (first === undefined ? io.stderr : io.stdout).write(text + '\n');
      return first === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (first === '--version' || first === '-v') {
      io.stdout.write(version() + '\n');
      return EXIT_OK;
    }
    const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    if (!command) throw new UsageError(first.startsWith('-') ? `unknown option "${first}" (a command comes first)` : `unknown command "${first}"`);
    try {
      return await (await command.load()).run(rest, io);
    } catch (e) {
      // util.parseArgs reports unknown or malformed options with these codes.
      const code = (e as { code?: string }).code;
      if (code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(errorMessage(e), first);
      throw e;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      const hint = e.command ? `tabtune ${e.command} --help` : 'tabtune --help';
      io.stderr.write(`tabtune: ${e.message}\nSee "${hint}".\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`tabtune: error: ${errorMessage(e)}\n`);
    if (process.env.TABTUNE_DEBUG && e instanceof Error && e.stack) io.stderr.write(e.stack + '\n');
    return EXIT_FAILURE;
  }
}

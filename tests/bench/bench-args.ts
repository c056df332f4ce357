// The command lines of the bench and experiment scripts: node:util's parseArgs with `-h`/`--help`,
// which prints the script's usage and every option with its default, then exits 0 (before the
// script builds, launches or measures anything). Not a CLI framework: one function.

import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The help text: `usage`, then one line per option (`--name VALUE  (default …)`). */
export function benchHelp(usage: string, options: Options): string {
  const lines = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' VALUE' : ''}`;
    const d = o.default === undefined || o.default === false ? '' : `(default ${JSON.stringify(o.default)})`;
    return `  ${flag.padEnd(30)} ${d}`.trimEnd();
  });
  return `${usage.trim()}\n\nOptions:\n${lines.join('\n')}\n  ${'-h, --help'.padEnd(30)} show this help\n`;
}

/**
 * parseArgs over `argv` (default: this process's arguments); with -h/--help, prints the help and
 * exits 0. Positional arguments only where `positionals` says the script takes them.
 */
export function benchArgs<const O extends Options>(usage: string, options: O, argv: string[] = process.argv.slice(2), positionals = false) {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(benchHelp(usage, options));
    process.exit(0);
  }
  return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
}

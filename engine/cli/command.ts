// A CLI command is a plain object, registered in main.ts; each lives in its own file.

export interface Command {
  /** `validate`, `replay`, `archive`, ... */
  name: string;
  /** One line for `loflow --help`. */
  summary: string;
  /** The full `--help` text of the command. */
  usage: string;
  /** Run with the arguments after the command name; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Parse `--flag value`, `--flag=value` and boolean `--flag` options; the rest are positionals. */
export function parseArgs(
  argv: string[],
  booleans: readonly string[] = [],
): { positionals: string[]; options: Record<string, string | boolean> } {
  const positionals: string[] = [];
  const options: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) options[name] = a.slice(eq + 1);
      else if (booleans.includes(name) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) options[name] = true;
      else options[name] = argv[++i];
    } else if (a === '-h') {
      options.help = true;
    } else {
      positionals.push(a);
    }
  }
  return { positionals, options };
}

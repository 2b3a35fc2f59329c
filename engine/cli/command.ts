// A CLI command is a plain object, registered in main.ts; each lives in its own file.

export interface Args {
  positionals: string[];
  /** The last value of each option (repeated options: read `argv`). */
  options: Record<string, string | boolean>;
  /** The arguments as given. */
  argv: string[];
}

export interface Command {
  /** `validate`, `replay`, `archive`, ... */
  name: string;
  /** One line for `loflow --help`. */
  summary: string;
  /** The full `--help` text of the command; main prints it for --help or -h. */
  usage: string;
  /** Options that take no value (`--json`); every other `--name` takes the next argument. */
  flags?: readonly string[];
  /** Positionals that must be there, by name (`<pipeline.yaml>`); main refuses the call without them. */
  requires?: readonly string[];
  /** Run with the parsed arguments after the command name; resolves to the process exit code. */
  run(args: Args): Promise<number>;
}

/** Parse, answer --help, check the required positionals, then run: the same door for every command. */
export async function invoke(command: Command, argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['help', ...(command.flags ?? [])]);
  if (args.options.help) {
    console.log(command.usage);
    return 0;
  }
  const missing = (command.requires ?? []).slice(args.positionals.length);
  if (missing.length) {
    console.error(`missing ${missing.join(' ')}\n\n${command.usage}`);
    return 2;
  }
  return command.run(args);
}

/** Parse `--flag value`, `--flag=value` and boolean `--flag` options; the rest are positionals. */
export function parseArgs(argv: string[], booleans: readonly string[] = []): Args {
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
  return { positionals, options, argv };
}

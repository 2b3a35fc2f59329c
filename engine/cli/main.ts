// `loflow <command>`: the commands are a table (commands.ts), each imported only when it runs, so --help and
// every command start fast (a command pays only for its own dependencies).
import { didYouMean } from '../did-you-mean.js';
import { invoke } from './command.js';
import { commands } from './commands.js';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'loflow: a YAML pipeline engine for live learning-analytics dataflows',
    '',
    'Usage: loflow <command> [options]     (loflow <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  if (name === '--version') {
    const { version } = await import('../version.js');
    console.log(version);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    const hint = didYouMean(name, commands.map((c) => c.name));
    console.error(`unknown command '${name}'${hint.startsWith('did you') ? `: ${hint}` : ''}\n\n${help()}`);
    return 2;
  }
  return invoke(await entry.load(), rest);
}

/**
 * Every error ends the command as one line on stderr and exit code 1: the message (its first line), not a
 * stack trace (LOFLOW_DEBUG=1 prints the stack, for a bug report). The process exits at once: an error
 * mid-command can leave sockets or timers open that would otherwise keep it alive.
 */
function fail(err: unknown): never {
  if (process.env.LOFLOW_DEBUG) console.error(err);
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n').find((l) => l.trim() !== '') ?? 'failed';
  console.error(`loflow: ${line.trim()}`);
  process.exit(1);
}

/** A closed stdout (`loflow ... | head`): the reader has what it wanted, so exit quietly (code 0). */
function isBrokenPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'EPIPE';
}
process.stdout.on('error', (err) => (isBrokenPipe(err) ? process.exit(0) : fail(err)));
process.on('uncaughtException', (err) => (isBrokenPipe(err) ? process.exit(0) : fail(err)));
process.on('unhandledRejection', (err) => (isBrokenPipe(err) ? process.exit(0) : fail(err)));

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => (isBrokenPipe(err) ? process.exit(0) : fail(err)),
);

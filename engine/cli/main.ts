// `loflow <command>`: commands are plain objects registered here, each in its own file.
import { archiveCommand } from './archive-command.js';
import { auditCommand } from './audit-command.js';
import { benchCommand } from './bench-command.js';
import { invoke, type Command } from './command.js';
import { deadletterCommand } from './deadletter-command.js';
import { demoCommand } from './demo-command.js';
import { diffCommand } from './diff-command.js';
import { generateCommand } from './generate-command.js';
import { planCommand } from './plan-command.js';
import { replayCommand } from './replay-command.js';
import { rosterCommand } from './roster-command.js';
import { runCommand, serveCommand } from './serve-command.js';
import { stateCommand } from './state-command.js';
import { tapCommand } from './tap-command.js';
import { testCommand } from './test-command.js';
import { tokenCommand } from './token-command.js';
import { validateCommand } from './validate-command.js';

const commands: Command[] = [demoCommand, validateCommand, testCommand, planCommand, diffCommand, replayCommand, serveCommand, runCommand, rosterCommand, archiveCommand, auditCommand, stateCommand, tapCommand, tokenCommand, deadletterCommand, benchCommand, generateCommand];

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
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  return invoke(command, rest);
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

// `loflow <command>`: commands are plain objects registered here, each in its own file.
import { archiveCommand } from './archive-command.js';
import { benchCommand } from './bench-command.js';
import { invoke, type Command } from './command.js';
import { deadletterCommand } from './deadletter-command.js';
import { demoCommand } from './demo-command.js';
import { diffCommand } from './diff-command.js';
import { generateCommand } from './generate-command.js';
import { planCommand } from './plan-command.js';
import { replayCommand } from './replay-command.js';
import { runCommand, serveCommand } from './serve-command.js';
import { stateCommand } from './state-command.js';
import { tapCommand } from './tap-command.js';
import { testCommand } from './test-command.js';
import { validateCommand } from './validate-command.js';

const commands: Command[] = [demoCommand, validateCommand, testCommand, planCommand, diffCommand, replayCommand, serveCommand, runCommand, archiveCommand, stateCommand, tapCommand, deadletterCommand, benchCommand, generateCommand];

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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);

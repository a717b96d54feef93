/** The command tree: every command and its options. */
import { Command } from 'commander';
import { demoCommand } from './commands/demo.js';
import { compareCommand, sweepCommand } from './commands/grid.js';
import { mergeCommand } from './commands/merge.js';
import { postcopyCommand } from './commands/postcopy.js';
import { runCommand } from './commands/run-file.js';
import { VERSION } from './version.js';

/**
 * Commander's messages as the command line's own: `freehint: …` on one line, its suggestion
 * ("Did you mean --guest?", which it puts on a line of its own) folded into that line.
 */
function oneLine(text: string): string {
  return `freehint: ${text
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
    .trim()}\n`;
}

/** The command tree. Its actions throw UsageError or ScenarioError for bad input (see main). */
export function program(): Command {
  const cli = new Command('freehint')
    .description('Compare live-migration strategies (zero pages, free page hints, free page reporting) on simulated Linux guests with a virtio-balloon device')
    .version(VERSION, '-V, --version', 'print the version')
    .showSuggestionAfterError()
    .configureOutput({ outputError: (text, write) => write(oneLine(text)) })
    .exitOverride();
  // Commands added from here on inherit the error style and the exit handling.
  compareCommand(cli);
  runCommand(cli);
  sweepCommand(cli);
  mergeCommand(cli);
  postcopyCommand(cli);
  demoCommand(cli);
  return cli;
}

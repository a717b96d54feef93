/** The command line's entry: parse, run, and turn bad input into one line and exit code 2. */
import { CommanderError } from 'commander';
import { ScenarioError } from 'freehint';
import { program } from './program.js';
import { didYouMean } from './suggest.js';
import { UsageError } from './usage-error.js';

/**
 * A first word that is neither an option nor a command would otherwise reach the default
 * command (compare) as an argument; it is a mistyped command far more often.
 */
function checkCommandName(argv: readonly string[], commands: readonly string[]): void {
  const first = argv[0];
  if (first === undefined || first.startsWith('-') || commands.includes(first)) return;
  throw new UsageError(`unknown command '${first}'${didYouMean(first, commands)}; the commands are ${commands.join(', ')}`);
}

/** Run the command line; bad input prints one line and sets exit code 2. */
export async function main(argv: readonly string[]): Promise<void> {
  const cli = program();
  try {
    checkCommandName(argv, [...cli.commands.map((c) => c.name()), 'help']);
    await cli.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help, or the version).
      process.exitCode = error.exitCode === 0 ? 0 : 2;
    } else if (error instanceof UsageError || error instanceof ScenarioError) {
      console.error(`freehint: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(`freehint: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  }
}

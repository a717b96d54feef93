/** `freehint demo`: a balloon session on a simulated idle guest, told line by line. */
import type { Command } from 'commander';
import { runBalloonDemo } from 'freehint';
import { parseSeed } from '../input/numbers.js';

export function demoCommand(cli: Command): void {
  cli
    .command('demo')
    .description('a balloon session on a simulated idle 8 GiB guest: probe, a free page hint round, inflate, deflate, stats')
    .option('--seed <n>', 'seed of the guest', '1')
    .action((options: { seed: string }) => {
      for (const line of runBalloonDemo(parseSeed(options.seed))) console.log(line);
    });
}

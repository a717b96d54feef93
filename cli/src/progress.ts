/** Progress on stderr: a bar on a terminal, a line per finished run elsewhere, or nothing. */
import { SingleBar } from 'cli-progress';

/**
 * What a command tells about its runs while they go. A sequential loop or a pool of workers
 * drives it alike: each finished run is one `onRunDone`, in whatever order runs finish.
 */
export interface Progress {
  /** Something is happening within a run (a round, a boot), for displays that show it. */
  onActivity(text: string): void;
  /** `done` of `total` runs have finished; `label` names the last one. */
  onRunDone(done: number, total: number, label: string): void;
  /** The command is over (or failed): release the terminal. */
  stop(): void;
}

/** Nothing at all (`--no-progress`). */
export const silentProgress: Progress = { onActivity: () => undefined, onRunDone: () => undefined, stop: () => undefined };

/** A bar redrawn in place, for a terminal. */
export function barProgress(stream: NodeJS.WriteStream, total: number): Progress {
  const bar = new SingleBar({ stream, noTTYOutput: true, notTTYSchedule: 1000, format: ' {bar} {value}/{total} runs | {what}', hideCursor: true });
  bar.start(total, 0, { what: 'booting' });
  return {
    onActivity: (what) => bar.update({ what }),
    onRunDone: (done, _total, label) => bar.update(done, { what: `${label}: done` }),
    stop: () => bar.stop(),
  };
}

/**
 * One line per finished run, for logs and pipes where a redrawn bar would be noise. Each line
 * says how long the run took on this machine: wall time belongs here, not in the results.
 */
export function lineProgress(stream: NodeJS.WritableStream, command: string): Progress {
  let last = performance.now();
  return {
    onActivity: () => undefined,
    onRunDone: (done, total, label) => {
      const now = performance.now();
      stream.write(`freehint ${command}: [${done}/${total}] ${label} (${((now - last) / 1000).toFixed(1)} s)\n`);
      last = now;
    },
    stop: () => undefined,
  };
}

/**
 * The progress a command shows on stderr: a bar on a terminal, a line per run elsewhere;
 * `--progress` asks for the bar anyway, `--no-progress` for nothing. Stdout is left alone,
 * so that `--json` output stays pure JSON.
 */
export function progressFor(option: boolean | undefined, command: string, total: number): Progress {
  if (option === false) return silentProgress;
  if (option === true || process.stderr.isTTY) return barProgress(process.stderr, total);
  return lineProgress(process.stderr, command);
}

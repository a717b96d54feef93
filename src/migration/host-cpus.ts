/**
 * The host's cores, shared by everything that runs on them during a migration: the migration
 * thread, whatever consumes its stream on the same host (a pipe to `cat`, say), and the
 * guest's vCPUs. While more of them run than there are cores, each gets an equal share (the
 * scheduler's fair share), and does its work that much slower.
 */
export class HostCpus {
  /** Migration threads running now: the thread itself and the stream's consumer. */
  migrationThreads = 0;
  /** The guest's vCPUs running guest code now. */
  busyVcpus = 0;

  constructor(readonly cores: number) {
    if (!Number.isInteger(cores) || cores < 1) throw new RangeError(`${cores} host cores: expected a whole number from 1`);
  }

  /** The share of a core each running thread gets: a whole one unless the cores are oversubscribed. */
  get share(): number {
    const running = this.migrationThreads + this.busyVcpus;
    return running <= this.cores ? 1 : this.cores / running;
  }
}

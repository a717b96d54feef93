/**
 * Free page hint rounds as a precopy drives them (QEMU's order): stop hinting, sync the bitmap,
 * start a round with a new command id; the driver answers with the id, its free 4 MiB blocks
 * and a STOP. Each hint clears its pages from the map as it arrives.
 */
import type { BalloonDevice, HintState } from 'freehint';
import type { PageMap } from './page-map.js';

export interface Round {
  readonly index: number;
  readonly cmdId: number;
  /** Pages the sync found dirty (every RAM page in the first round). */
  readonly dirtyAtSync: number;
  blocks: number;
  hintedBytes: number;
  /** Dirty pages the hints cleared: what this round's migration would not send. */
  clearedPages: number;
  /** Wall time from the start of the round to the driver's STOP, ms; undefined while it runs. */
  ms?: number;
}

export class HintRounds {
  readonly rounds: Round[] = [];
  #current: Round | undefined;
  #started = 0;
  #finish: (() => void) | undefined;

  constructor(
    private readonly device: BalloonDevice,
    private readonly map: PageMap,
    private readonly ram: () => Uint8Array,
    private readonly changed: () => void,
  ) {
    device.hints$.subscribe(({ cmdId, ranges }) => {
      const round = this.#current;
      if (round === undefined || cmdId !== round.cmdId) return;
      round.blocks += ranges.length;
      round.hintedBytes += ranges.reduce((n, r) => n + r.length, 0);
      round.clearedPages += map.hint(ranges);
      changed();
    });
    let previous: HintState = device.hintState;
    device.hintState$.subscribe((state) => {
      // START then STOP without the host asking: the driver's STOP ended the round.
      if (previous === 'start' && state === 'stop' && this.#finish) this.#finish();
      previous = state;
    });
  }

  get running(): boolean {
    return this.#current !== undefined && this.#current.ms === undefined;
  }

  /** One round: sync, then hints until the driver's STOP. */
  async run(): Promise<Round> {
    // Before the sync, as QEMU does: no hint of the previous round may clear the new bitmap.
    this.device.stopHinting();
    const dirtyAtSync = await this.map.sync(this.ram);
    this.changed();
    const finished = new Promise<void>((resolve) => (this.#finish = resolve));
    const cmdId = this.device.startHinting();
    if (cmdId === undefined) throw new Error('the device cannot start hinting (FREE_PAGE_HINT not negotiated, or the driver is not live)');
    const round: Round = { index: this.rounds.length + 1, cmdId, dirtyAtSync, blocks: 0, hintedBytes: 0, clearedPages: 0 };
    this.#current = round;
    this.#started = performance.now();
    this.rounds.push(round);
    this.changed();
    await finished;
    this.#finish = undefined;
    round.ms = performance.now() - this.#started;
    this.changed();
    return round;
  }

  /** The migration is over: the driver frees the blocks it held. */
  done(): void {
    this.device.doneHinting();
    this.map.released();
    this.changed();
  }
}

import { CMD_ID_DONE, CMD_ID_STOP } from './constants.js';

/** QEMU's hint states. */
export type HintState = 'stop' | 'requested' | 'start' | 'done';

/** QEMU's first command id is one above this; ids wrap from 0xffffffff back to it. */
export const CMD_ID_MIN = 0x80000000;
export const CMD_ID_MAX = 0xffffffff;

/** What the hint state machine did with a driver's 4-byte command buffer. */
export type CommandOutcome = 'started' | 'stopped' | 'ignored';

/** Plain state for save/restore. */
export interface HintSnapshot {
  readonly state: HintState;
  readonly cmdId: number;
}

/**
 * The free-page-hint protocol state machine of the device (virtio 1.2 §5.5.6.5, QEMU's
 * STOP/REQUESTED/START/DONE). Pure: no queues, no memory. The device feeds it host requests
 * and the driver's command buffers and asks it whether page hints count right now.
 *
 * Command ids never take the reserved values 0 and 1, and an id is not issued again while
 * the driver may still be using it: from the driver's START with it until its STOP (H7).
 */
export class FreePageHint {
  #state: HintState = 'stop';
  #cmdId: number;
  /** Ids a driver started a round with and has not yet sent its STOP for. */
  readonly #awaitingStop = new Set<number>();

  constructor(
    /** Ids are issued from min + 1 up to max, then wrap to min. Tests shrink the range. */
    private readonly idRange: { readonly min: number; readonly max: number } = { min: CMD_ID_MIN, max: CMD_ID_MAX },
  ) {
    if (idRange.min <= CMD_ID_DONE || idRange.max < idRange.min) throw new RangeError('command ids must lie above the reserved 0 and 1');
    this.#cmdId = idRange.min;
  }

  get state(): HintState {
    return this.#state;
  }

  /** The id of the current (or last) round. */
  get cmdId(): number {
    return this.#cmdId;
  }

  /** Page hints count only in START: the driver started the current id and has not stopped. */
  get acceptsHints(): boolean {
    return this.#state === 'start';
  }

  /**
   * What the driver reads as free_page_hint_cmd_id. Unlike QEMU, START reads the current id
   * (QEMU reads 0 there, which makes Linux end a round whenever it re-reads config for any
   * other reason, such as a balloon resize).
   */
  get configValue(): number {
    switch (this.#state) {
      case 'requested':
      case 'start':
        return this.#cmdId;
      case 'stop':
        return CMD_ID_STOP;
      case 'done':
        return CMD_ID_DONE;
    }
  }

  /**
   * The host asks for a new round: next id, REQUESTED. Returns the id, or undefined when every
   * id in the range is still awaiting the driver's STOP (never in the real 2^31-id range).
   */
  start(): number | undefined {
    const span = this.idRange.max - this.idRange.min + 1;
    let id = this.#cmdId;
    for (let tries = 0; tries < span; tries++) {
      id = id >= this.idRange.max ? this.idRange.min : id + 1;
      if (!this.#awaitingStop.has(id)) {
        this.#cmdId = id;
        this.#state = 'requested';
        return id;
      }
    }
    return undefined;
  }

  /** The host ends the round (before a bitmap sync). Returns whether the state changed. */
  stop(): boolean {
    if (this.#state === 'stop') return false;
    this.#state = 'stop';
    return true;
  }

  /** The host no longer needs hints: the driver may release every held page. */
  done(): boolean {
    if (this.#state === 'done') return false;
    this.#state = 'done';
    return true;
  }

  /**
   * A driver's command buffer (QEMU's rules): the current id in REQUESTED starts the round;
   * any command in START ends it; anything else is stale and ignored (H6b, H6c). A STOP value
   * also releases the id the driver was using, so it may be issued again one day.
   */
  command(id: number): CommandOutcome {
    let outcome: CommandOutcome = 'ignored';
    if (this.#state === 'requested' && id === this.#cmdId) {
      this.#state = 'start';
      this.#awaitingStop.add(id);
      outcome = 'started';
    } else if (this.#state === 'start') {
      this.#state = 'stop';
      outcome = 'stopped';
    }
    // The driver sends STOP once per round it started, after its last hint for that round.
    if (id === CMD_ID_STOP) this.#awaitingStop.clear();
    return outcome;
  }

  /** Device reset: QEMU stops hinting; the driver forgets its rounds. The id counter goes on. */
  reset(): void {
    this.#state = 'stop';
    this.#awaitingStop.clear();
  }

  save(): HintSnapshot {
    return { state: this.#state, cmdId: this.#cmdId };
  }

  /**
   * Resume on a migration destination. The state becomes DONE whatever it was: the source
   * published DONE before saving, and a destination guest must release its held pages.
   */
  restore(snapshot: HintSnapshot): void {
    this.#cmdId = snapshot.cmdId >= this.idRange.min && snapshot.cmdId <= this.idRange.max ? snapshot.cmdId : this.idRange.min;
    this.#state = 'done';
    this.#awaitingStop.clear();
  }
}

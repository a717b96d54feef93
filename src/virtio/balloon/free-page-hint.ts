/** The free-page-hint state machine (QEMU's hint states and command ids), pure and testable alone. */
import { CMD_ID_DONE, CMD_ID_STOP } from './constants.js';

/** QEMU's hint states. */
export type HintState = 'stop' | 'requested' | 'start' | 'done';

/** QEMU's first command id is one above this; ids wrap from 0xffffffff back to it. */
export const CMD_ID_MIN = 0x80000000;
export const CMD_ID_MAX = 0xffffffff;

/** What the hint state machine did with a driver's 4-byte command buffer. */
export type CommandOutcome = 'started' | 'stopped' | 'ignored';

/** An id range: ids are issued from min + 1 up to max, then wrap to min. */
export interface IdRange {
  readonly min: number;
  readonly max: number;
}

/** Picks the next command id after `current`, skipping ids for which `inUse` is true. */
export type NextCommandId = (current: number, range: IdRange, inUse: (id: number) => boolean) => number | undefined;

/**
 * QEMU's order (one up, wrapping from max to min), skipping ids a driver may still be using.
 * Undefined when every id is in use — never, in the real 2^31-id range.
 */
export const nextCommandId: NextCommandId = (current, range, inUse) => {
  let id = current;
  for (let tries = range.max - range.min + 1; tries > 0; tries--) {
    id = id >= range.max ? range.min : id + 1;
    if (!inUse(id)) return id;
  }
  return undefined;
};

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

  /** The ids this machine issues (a saved id outside it was not issued by it). */
  readonly idRange: IdRange;
  private readonly nextId: NextCommandId;

  /** Tests shrink the id range to make wraps frequent, or substitute a broken `nextId`. */
  constructor(options: { readonly idRange?: IdRange; readonly nextId?: NextCommandId } = {}) {
    this.idRange = options.idRange ?? { min: CMD_ID_MIN, max: CMD_ID_MAX };
    this.nextId = options.nextId ?? nextCommandId;
    if (this.idRange.min <= CMD_ID_DONE || this.idRange.max < this.idRange.min) {
      throw new RangeError('command ids must lie above the reserved 0 and 1');
    }
    this.#cmdId = this.idRange.min;
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
    const id = this.nextId(this.#cmdId, this.idRange, (candidate) => this.#awaitingStop.has(candidate));
    if (id === undefined) return undefined;
    this.#cmdId = id;
    this.#state = 'requested';
    return id;
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
   * published DONE before saving, and a destination guest must release its held pages. An id
   * outside the range was never issued here: the device checks saved ids before it restores.
   */
  restore(snapshot: HintSnapshot): void {
    if (!Number.isInteger(snapshot.cmdId) || snapshot.cmdId < this.idRange.min || snapshot.cmdId > this.idRange.max) {
      throw new RangeError(`command id ${snapshot.cmdId} is outside ${this.idRange.min}..${this.idRange.max}`);
    }
    this.#cmdId = snapshot.cmdId;
    this.#state = 'done';
    this.#awaitingStop.clear();
  }
}

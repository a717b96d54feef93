/**
 * The driver side of the free-page-hint protocol, as Linux keeps it (cmd_id_received_cache,
 * cmd_id_active, the config_read_bitmap bit): the mirror of the device's FreePageHint. Pure:
 * the driver reads the config and sends the buffers; this says what the ids mean.
 */
import { CMD_ID_DONE, CMD_ID_STOP } from '../virtio/balloon/constants.js';

/** What the hint work does on the command id it received, when no round runs. */
export type HintCommand = { readonly kind: 'done' } | { readonly kind: 'none' } | { readonly kind: 'start'; readonly cmdId: number };

export class DriverHintState {
  #received = CMD_ID_STOP;
  #active = CMD_ID_STOP;
  #reread = false;
  #running = false;

  /** Whether a round runs (its STOP not sent yet). */
  get running(): boolean {
    return this.#running;
  }

  /** The id of the running round, or of the last one (STOP before any). */
  get active(): number {
    return this.#active;
  }

  /**
   * The config changed (virtballoon_changed): the id must be read again at the next look.
   * Returns whether the hint work must be queued for it (not when a re-read is pending already).
   */
  configChanged(): boolean {
    if (this.#reread) return false;
    this.#reread = true;
    return true;
  }

  /** virtio_balloon_cmd_id_received: the host's id, read from the config only after a config change. */
  received(readConfig: () => number): number {
    if (this.#reread) {
      this.#reread = false;
      this.#received = readConfig();
    }
    return this.#received;
  }

  /**
   * With no round running: DONE gives the held blocks back, STOP or the id of the last round
   * does nothing, and any other id starts a round with it.
   */
  command(readConfig: () => number): HintCommand {
    const id = this.received(readConfig);
    if (id === CMD_ID_DONE) return { kind: 'done' };
    if (id === CMD_ID_STOP || id === this.#active) return { kind: 'none' };
    return { kind: 'start', cmdId: id };
  }

  /** A round with `cmdId` starts (its id buffer went to the device). */
  start(cmdId: number): void {
    this.#active = cmdId;
    this.#running = true;
  }

  /** Whether the host still asks for the running round (the id it sent is the round's). */
  current(readConfig: () => number): boolean {
    return this.received(readConfig) === this.#active;
  }

  /** The round ended (its STOP went to the device). */
  stop(): void {
    this.#running = false;
  }

  /** The driver was removed: everything forgotten. */
  reset(): void {
    this.#received = this.#active = CMD_ID_STOP;
    this.#reread = this.#running = false;
  }
}

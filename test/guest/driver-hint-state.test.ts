import { describe, expect, it } from 'vitest';
import { DriverHintState } from '../../src/guest/driver-hint-state.js';
import { readConfigConsistently } from '../../src/guest/transport-driver.js';
import { CMD_ID_DONE, CMD_ID_STOP } from '../../src/virtio/balloon/constants.js';

describe("the driver's hint state (Linux's cmd_id_received_cache and cmd_id_active)", () => {
  it('reads the command id only after a config change, and starts a round once per id', () => {
    const state = new DriverHintState();
    let config = 0x80000001;
    let reads = 0;
    const read = (): number => (reads++, config);
    expect(state.command(read)).toEqual({ kind: 'none' }); // no config change yet: STOP cached
    expect(reads).toBe(0);
    expect(state.configChanged()).toBe(true);
    expect(state.configChanged()).toBe(false); // a re-read is pending already
    expect(state.command(read)).toEqual({ kind: 'start', cmdId: 0x80000001 });
    state.start(0x80000001);
    expect(state.running).toBe(true);
    expect(state.current(read)).toBe(true);
    config = 0x80000002;
    expect(state.current(read)).toBe(true); // not re-read without a config change
    state.configChanged();
    expect(state.current(read)).toBe(false);
    state.stop();
    expect(reads).toBe(2);
    // The same id again does not start another round; STOP does nothing; DONE returns the blocks.
    state.start(0x80000002);
    state.stop();
    expect(state.command(read)).toEqual({ kind: 'none' });
    config = CMD_ID_STOP;
    state.configChanged();
    expect(state.command(read)).toEqual({ kind: 'none' });
    config = CMD_ID_DONE;
    state.configChanged();
    expect(state.command(read)).toEqual({ kind: 'done' });
  });

  it('forgets everything on reset', () => {
    const state = new DriverHintState();
    state.configChanged();
    state.start(0x80000005);
    state.reset();
    expect([state.running, state.active]).toEqual([false, CMD_ID_STOP]);
    expect(state.command(() => 0x80000005)).toEqual({ kind: 'none' });
  });
});

describe('a consistent config read', () => {
  it('retries while the generation changes under it, and gives up on a device that never settles', () => {
    let generation = 0;
    let changes = 5;
    const value = readConfigConsistently(
      () => generation,
      () => (changes-- > 0 ? (generation++, 0xffffffff) : 0xffffffff),
    );
    expect(value).toBe(0xffffffff);
    expect(generation).toBe(5);
    expect(() =>
      readConfigConsistently(
        () => generation++,
        () => 1,
      ),
    ).toThrow(/never settled/);
  });
});

/** The transports' saved state and its checks before a restore. */
import { StateError } from '../state-error.js';
import { format, integer, record, u16, u32 } from '../state-fields.js';

/** What a virtio-mmio register file remembers between accesses: its selectors. */
export interface MmioTransportState {
  readonly format: 'virtio-mmio';
  readonly version: 1;
  readonly deviceFeaturesSel: number;
  readonly driverFeaturesSel: number;
  readonly queueSel: number;
}

/** What a virtio-pci function remembers: its selectors and the writable configuration registers. */
export interface PciTransportState {
  readonly format: 'virtio-pci';
  readonly version: 1;
  readonly deviceFeatureSelect: number;
  readonly driverFeatureSelect: number;
  readonly queueSelect: number;
  /** The PCI command register (only its I/O, bus master and INTx-disable bits are writable). */
  readonly command: number;
  /** BAR 0 as the guest programmed it (an I/O BAR: bit 0 set, the low 8 bits fixed). */
  readonly bar: number;
  readonly interruptLine: number;
}

/** Command register bits a guest can set: I/O space, bus master, INTx disable. */
export const PCI_COMMAND_WRITABLE = 0x0001 | 0x0004 | 0x0400;

/** Check a saved mmio transport (any u32 selector is reachable: the registers take any value). */
export function parseMmioState(value: unknown): MmioTransportState {
  const v = record(value, 'state');
  format(v, '', 'format', 'virtio-mmio', 1);
  return {
    format: 'virtio-mmio',
    version: 1,
    deviceFeaturesSel: u32(v['deviceFeaturesSel'], 'deviceFeaturesSel'),
    driverFeaturesSel: u32(v['driverFeaturesSel'], 'driverFeaturesSel'),
    queueSel: u32(v['queueSel'], 'queueSel'),
  };
}

/** Check a saved pci transport: only values its registers can hold. */
export function parsePciState(value: unknown): PciTransportState {
  const v = record(value, 'state');
  format(v, '', 'format', 'virtio-pci', 1);
  const command = u16(v['command'], 'command');
  if ((command & ~PCI_COMMAND_WRITABLE) !== 0) throw new StateError('command', `0x${command.toString(16)} sets bits the command register does not keep`);
  const bar = u32(v['bar'], 'bar');
  if ((bar & 0xff) !== 1) throw new StateError('bar', `0x${bar.toString(16)} is not a 256-byte I/O BAR (low byte 0x01)`);
  return {
    format: 'virtio-pci',
    version: 1,
    deviceFeatureSelect: u32(v['deviceFeatureSelect'], 'deviceFeatureSelect'),
    driverFeatureSelect: u32(v['driverFeatureSelect'], 'driverFeatureSelect'),
    queueSelect: u16(v['queueSelect'], 'queueSelect'),
    command,
    bar,
    interruptLine: integer(v['interruptLine'], 'interruptLine', 0, 0xff),
  };
}

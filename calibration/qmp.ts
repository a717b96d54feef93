/**
 * A small QMP client: one unix socket, one command at a time, events kept aside. Every command
 * sent is logged verbatim (as the JSON text written to the socket), so the calibration can
 * record exactly what it asked QEMU to do.
 */
import { connect, type Socket } from 'node:net';

export interface QmpReply {
  /** The reply's `return` value, parsed (large integers lose precision: see `raw`). */
  readonly value: unknown;
  /** The reply line as QEMU wrote it. */
  readonly raw: string;
}

export class Qmp {
  private buffer = '';
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  readonly events: unknown[] = [];
  /** Every command text written to the socket, in order. */
  readonly sent: string[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, end).trim();
        this.buffer = this.buffer.slice(end + 1);
        if (line !== '') this.lines.push(line);
      }
      this.wake?.();
    });
    const close = (): void => {
      this.closed = true;
      this.wake?.();
    };
    socket.on('close', close);
    socket.on('error', close);
  }

  /** Connect to a QMP socket (retrying until it exists) and leave capabilities negotiation done. */
  static async connect(path: string, ms: number): Promise<Qmp> {
    const deadline = performance.now() + ms;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect({ path });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new Qmp(socket);
        const greeting = await qmp.nextLine(ms);
        if (!('QMP' in (JSON.parse(greeting) as object))) throw new Error(`not a QMP greeting: ${greeting}`);
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (error) {
        if (performance.now() > deadline) throw new Error(`cannot connect to QMP at ${path}: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private async nextLine(ms: number): Promise<string> {
    const deadline = performance.now() + ms;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error('QMP socket closed');
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no QMP reply within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.lines.shift()!;
  }

  /**
   * Send a command. `argumentsText`, when given, is written verbatim as the arguments object
   * (for integers beyond 2^53, which JSON.stringify cannot write exactly).
   */
  async execute(command: string, args?: Record<string, unknown>, argumentsText?: string, ms = 30_000): Promise<QmpReply> {
    const argText = argumentsText ?? (args === undefined ? undefined : JSON.stringify(args));
    const text = argText === undefined ? `{"execute":${JSON.stringify(command)}}` : `{"execute":${JSON.stringify(command)},"arguments":${argText}}`;
    this.sent.push(text);
    this.socket.write(`${text}\n`);
    for (;;) {
      const line = await this.nextLine(ms);
      const reply = JSON.parse(line) as { return?: unknown; error?: { class: string; desc: string }; event?: string };
      if (reply.event !== undefined) {
        this.events.push(reply);
        continue;
      }
      if (reply.error !== undefined) throw new Error(`QMP ${command} failed: ${reply.error.class}: ${reply.error.desc}`);
      return { value: reply.return, raw: line };
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

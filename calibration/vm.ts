/**
 * One QEMU process running the calibration guest: its serial line on QEMU's stdio (the guest's
 * /init runs each line it reads as a shell command and ends the output with a marker), and QMP
 * on a unix socket. Every wait has a hard time limit; a timeout fails with what the guest
 * printed last.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Qmp } from './qmp.js';

export class Vm {
  private output = '';
  private errors = '';
  private commands = 0;
  private exited: number | string | undefined;
  readonly started = performance.now();

  private constructor(
    private readonly child: ChildProcess,
    readonly qmp: Qmp,
  ) {}

  /** Start QEMU with `argv` in `runDir` (where its QMP socket `qmp.sock` lives) and connect to QMP. */
  static async start(binary: string, argv: readonly string[], runDir: string, env: NodeJS.ProcessEnv): Promise<Vm> {
    const child = spawn(binary, argv, { cwd: runDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let vm: Vm | undefined;
    let early = '';
    let exitedEarly: string | undefined;
    child.stdout!.setEncoding('latin1');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (vm) vm.output += chunk;
      else early += chunk;
    });
    child.stderr!.on('data', (chunk: string) => {
      if (vm) vm.errors += chunk;
      else early += chunk;
    });
    child.on('exit', (code, signal) => {
      if (vm) vm.exited = code ?? signal ?? 'unknown';
      else exitedEarly = String(code ?? signal);
    });
    try {
      const qmp = await Qmp.connect(join(runDir, 'qmp.sock'), 20_000);
      vm = new Vm(child, qmp);
      vm.output = early;
      if (exitedEarly !== undefined) vm.exited = exitedEarly;
      return vm;
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`QEMU did not start (${String(error)}); it printed:\n${early.slice(-2000)}`);
    }
  }

  get console(): string {
    return this.output;
  }

  private tail(): string {
    return `the guest printed last:\n${this.output.slice(-1500)}${this.errors ? `\nQEMU's stderr:\n${this.errors.slice(-1500)}` : ''}`;
  }

  /** Wait until `test()` holds; fail with the console tail after `ms`. */
  async until(what: string, test: () => boolean, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (!test()) {
      if (this.exited !== undefined) throw new Error(`QEMU exited (${this.exited}) while waiting for ${what}; ${this.tail()}`);
      if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; ${this.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Run a shell command in the guest; its output (without the marker) and exit status. */
  async run(command: string, ms = 60_000): Promise<{ output: string; status: number }> {
    const n = ++this.commands;
    const from = this.output.length;
    const marker = new RegExp(`@@FH-END-${n} (\\d+)\\r?\\n`);
    this.child.stdin!.write(`${command}\n`);
    await this.until(`the guest to run: ${command}`, () => marker.test(this.output.slice(from)), ms);
    const text = this.output.slice(from);
    const match = marker.exec(text)!;
    return { output: text.slice(0, match.index).replace(/\r/g, ''), status: Number(match[1]) };
  }

  /** Run a command that must succeed; its output. */
  async check(command: string, ms = 60_000): Promise<string> {
    const { output, status } = await this.run(command, ms);
    if (status !== 0) throw new Error(`guest command failed (${status}): ${command}\n${output}`);
    return output;
  }

  /** Kill QEMU at once (on an interrupted run). */
  kill(): void {
    if (this.exited === undefined) this.child.kill('SIGKILL');
  }

  /** Quit QEMU (QMP `quit`, then SIGKILL if it lingers). */
  async stop(): Promise<void> {
    if (this.exited === undefined) {
      try {
        await this.qmp.execute('quit', undefined, undefined, 5_000);
      } catch {
        // the socket closes as QEMU quits; a reply may never come
      }
      const deadline = performance.now() + 10_000;
      while (this.exited === undefined && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      if (this.exited === undefined) this.child.kill('SIGKILL');
    }
    this.qmp.close();
  }
}

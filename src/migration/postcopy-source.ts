/** The paused source of a postcopy migration: its two channels, the precopy channel's huge page in flight, and a huge page sent on request. */
import type { GuestMemory } from '../memory/guest-memory.js';
import type { SimClock } from './cost-model.js';
import { PageSender, type ZeroPolicy } from './page-sender.js';
import type { HugePages } from './postcopy-huge-pages.js';
import { StreamWriter } from './stream.js';

/** The two channels after the switchover: the precopy channel streams in the background; the postcopy (preempt) channel carries requested pages. */
export type Channel = 'precopy' | 'postcopy';

/**
 * The source's side: its pages no longer change. Each channel is a stream of its own, whose
 * bytes go to `deliver`. Pages travel huge page by huge page, zero pages as zero records.
 */
export class PostcopySource {
  private readonly senders: Record<Channel, PageSender>;
  /** The precopy channel's huge page in flight and its next page. */
  private flight: { huge: number; next: number } | undefined;
  private readonly policy: ZeroPolicy = { detectZero: true, skipZero: false };

  constructor(
    memory: GuestMemory,
    private readonly huge: HugePages,
    clock: SimClock,
    deliver: (channel: Channel, chunk: Uint8Array) => void,
  ) {
    const sender = (channel: Channel): PageSender => {
      const writer = new StreamWriter((chunk) => deliver(channel, chunk));
      writer.header(memory.end);
      return new PageSender(memory, writer, clock, undefined);
    };
    this.senders = { precopy: sender('precopy'), postcopy: sender('postcopy') };
  }

  /** The huge page the precopy channel is sending, if any. */
  get inFlight(): number | undefined {
    return this.flight?.huge;
  }

  /** Bytes `channel` carried since the switchover. */
  channelBytes(channel: Channel): number {
    return this.senders[channel].wireBytes;
  }

  /** The precopy channel starts on huge page `h`. */
  startInFlight(h: number): void {
    this.flight = { huge: h, next: h * this.huge.pagesPerHuge };
  }

  /**
   * Send the precopy channel's huge page in flight for up to `budgetMs`; returns the time used.
   * In the background that time runs alongside the guest; the caller counts it.
   */
  sendInFlight(budgetMs: number): number {
    const flight = this.flight!;
    const end = this.huge.end(flight.huge);
    const run = this.huge.ramRun(flight.next, end);
    let ms = 0;
    // Stryker disable next-line ConditionalExpression: a missing huge page always has RAM pages left while it is in flight
    if (run !== undefined) {
      const sent = this.senders.precopy.send(run.first, run.end, this.policy, budgetMs);
      this.senders.precopy.flush();
      flight.next = sent.next;
      ms = sent.ms;
    }
    if (this.huge.ramRun(flight.next, end) === undefined) this.flight = undefined;
    return ms;
  }

  /**
   * A request for huge page `h`: send it on `channel`, from where the precopy channel stopped
   * if it was sending it; `elapse` is told the time of each run as it goes.
   */
  sendRequested(h: number, channel: Channel, elapse: (ms: number) => void): void {
    const sender = this.senders[channel];
    const from = this.flight?.huge === h ? this.flight.next : h * this.huge.pagesPerHuge;
    const end = this.huge.end(h);
    for (let run = this.huge.ramRun(from, end); run !== undefined; run = this.huge.ramRun(run.end, end)) {
      elapse(sender.send(run.first, run.end, this.policy, Number.POSITIVE_INFINITY).ms);
    }
    sender.flush();
    if (this.flight?.huge === h) this.flight = undefined;
  }
}

// The Redis side of the local registry: one Redis subscription per topic that has local
// subscribers. The registry says what it wants (want/drop); this keeps Redis in step, with
// at most one SUBSCRIBE/UNSUBSCRIBE in flight per channel, retries what failed once the
// subscriber connection is ready again (resync), and tells waiters when all is settled.
import { within } from './clients';
import type { RedisClientLike } from './types';

/** node-redis's pub/sub listener, called with the raw message (buffers mode). */
export type ChannelListener = (message: Buffer, channel: Buffer | string) => void;

interface Entry {
  topic: string;
  channel: string;
  /** Local subscribers exist. */
  want: boolean;
  /** Subscribed in Redis, as far as we know. */
  have: boolean;
  /** A SUBSCRIBE/UNSUBSCRIBE for this channel awaits its reply. */
  busy: boolean;
  /** The last attempt failed: retried when the subscriber is ready again, not at once. */
  failed: boolean;
}

export class Subscriptions {
  private readonly entries = new Map<string, Entry>();
  private settleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly subscriber: RedisClientLike,
    private readonly prefix: string,
    private readonly sharded: boolean,
    private readonly listener: ChannelListener,
    /** A (un)subscription failed; it is retried at the next resync(). */
    private readonly onFailure: (err: Error) => void,
  ) {}

  /** The topic has local subscribers: subscribe its channel in Redis. */
  want(topic: string): void {
    if (this.closed) return;
    const channel = this.prefix + topic;
    let e = this.entries.get(channel);
    if (!e) this.entries.set(channel, (e = { topic, channel, want: true, have: false, busy: false, failed: false }));
    e.want = true;
    e.failed = false;
    this.pump(e);
  }

  /** The topic has no local subscribers left: unsubscribe its channel. */
  drop(topic: string): void {
    const e = this.entries.get(this.prefix + topic);
    if (!e || this.closed) return;
    e.want = false;
    e.failed = false;
    this.pump(e);
  }

  /** The topic of a channel that still has local subscribers; undefined otherwise. */
  wantedTopic(channel: Buffer | string): string | undefined {
    const e = this.entries.get(typeof channel === 'string' ? channel : channel.toString());
    return e?.want ? e.topic : undefined;
  }

  /** Channels subscribed in Redis, as far as we know. */
  count(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.have) n++;
    return n;
  }

  /** Resolves when every pending SUBSCRIBE/UNSUBSCRIBE has had its reply. */
  settled(): Promise<void> {
    if (!this.pending()) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /**
   * After a reconnection: node-redis resubscribes the channels it knows itself; anything it
   * lost (a SUBSCRIBE in flight when the connection died, a failed UNSUBSCRIBE) is redone
   * here. Re-issuing subscribe() for a channel node-redis already holds sends no command.
   */
  resync(): void {
    for (const e of this.entries.values()) {
      if (e.busy) continue;
      e.failed = false;
      if (e.want) e.have = false;
      this.pump(e);
    }
  }

  /**
   * Forgets every entry at once (waiters are woken) and unsubscribes what Redis may hold,
   * bounded to 1 s when Redis is away or going away.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const channels = [...this.entries.values()].filter((e) => e.have || e.busy).map((e) => e.channel);
    this.entries.clear();
    this.wakeSettled();
    if (channels.length === 0 || !this.subscriber.isReady) return;
    const unsub = this.sharded
      ? Promise.all(channels.map((c) => this.subscriber.sUnsubscribe!(c)))
      : this.subscriber.unsubscribe(channels);
    await within(unsub, 1000);
  }

  /** One command at a time per channel, until Redis matches what the local registry wants. */
  private pump(e: Entry): void {
    if (e.busy || this.closed) return;
    if (e.want === e.have) {
      if (!e.want) this.entries.delete(e.channel);
      this.wakeSettled();
      return;
    }
    e.busy = true;
    const subscribing = e.want;
    let op: Promise<unknown>;
    try {
      op = subscribing
        ? this.sharded
          ? this.subscriber.sSubscribe!(e.channel, this.listener, true)
          : this.subscriber.subscribe(e.channel, this.listener, true)
        : this.sharded
          ? this.subscriber.sUnsubscribe!(e.channel, this.listener, true)
          : this.subscriber.unsubscribe(e.channel, this.listener, true);
    } catch (err) {
      op = Promise.reject(err);
    }
    op.then(
      () => {
        e.have = subscribing;
        e.failed = false;
      },
      (err: unknown) => {
        // Left as it was; tried again when the subscriber connection is ready again.
        e.failed = true;
        if (this.closed) return;
        this.onFailure(new Error(`${subscribing ? 'subscribe' : 'unsubscribe'} ${e.channel} failed: ${(err as Error)?.message ?? err}`));
      },
    ).finally(() => {
      e.busy = false;
      if (this.closed) return;
      if (!e.failed) this.pump(e);
      else this.wakeSettled();
    });
  }

  private pending(): boolean {
    for (const e of this.entries.values()) if (e.busy || (e.want !== e.have && !e.failed)) return true;
    return false;
  }

  private wakeSettled(): void {
    if (this.settleWaiters.length === 0 || (this.pending() && !this.closed)) return;
    for (const resolve of this.settleWaiters.splice(0)) resolve();
  }
}

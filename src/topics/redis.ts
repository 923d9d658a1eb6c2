// Topics across instances on Redis pub/sub (node-redis). Each instance keeps its own local
// registry (LocalTopics) and holds one Redis subscription per topic that has at least one
// local subscriber. A publish is delivered locally by the endpoint and sent to Redis in a
// small binary envelope tagged with this instance's id, so that the copy Redis echoes back
// here is ignored. Nothing of `redis` loads unless this module's redisTopics() is called.
//
// Envelope (every message on a wsgate channel):
//   byte 0      (VERSION << 1) | binary      VERSION = 1: 0x02 text, 0x03 binary
//   bytes 1..8  the publishing instance's id (8 random bytes)
//   bytes 9..   the message's bytes, unchanged (UTF-8 for text)
//
// Outage policy: drop and count. A publish made while the publishing connection is not ready
// (or when more than `maxPendingBytes` of publishes await Redis's reply) is not queued: its
// promise rejects with RedisTopicsError code 'UNAVAILABLE' / 'OVERLOADED' and `dropped`
// counts it. Local delivery is not affected. Messages other instances publish while this
// instance's subscriber connection is down are lost (Redis pub/sub keeps nothing). On
// reconnection every topic with local subscribers is subscribed again.
import { randomBytes } from 'node:crypto';
import type { WebSocket } from '../io/connection';
import { LocalTopics, type TopicWatcher } from './local';
import type { Topics, TopicSink } from './topics';

/**
 * The part of a node-redis client (v5/v6 `createClient()`, or `createCluster()` for sharded
 * pub/sub) that redisTopics uses. Kept structural and loose so that any configuration of the
 * client (modules, scripts, RESP3) is accepted.
 */
export interface RedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options?: any;
  duplicate(overrides?: any): RedisClientLike;
  connect(): Promise<unknown>;
  publish(channel: string, message: Buffer): Promise<unknown>;
  sPublish?(channel: string, message: Buffer): Promise<unknown>;
  subscribe(...args: any[]): Promise<unknown>;
  unsubscribe(...args: any[]): Promise<unknown>;
  sSubscribe?(...args: any[]): Promise<unknown>;
  sUnsubscribe?(...args: any[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off?(event: string, listener: (...args: any[]) => void): unknown;
  removeListener?(event: string, listener: (...args: any[]) => void): unknown;
  close?(): Promise<unknown>;
  destroy(): unknown;
}

export interface RedisTopicsOptions {
  /** `redis://[[user]:password@]host[:port][/db]`; redisTopics makes and owns two connections. */
  url?: string;
  /**
   * An existing node-redis client, connected (or connecting). It publishes; a `duplicate()`
   * of it subscribes. redisTopics never closes it, only the duplicate.
   */
  client?: RedisClientLike;
  /** Prepended to every topic to make its Redis channel name. Default `'wsgate:'`. */
  prefix?: string;
  /** Redis 7 sharded pub/sub (SSUBSCRIBE/SPUBLISH), for Redis Cluster. Default false. */
  sharded?: boolean;
  /** How long redisTopics() waits for Redis at start before failing with CONNECT_TIMEOUT. Default 5000 ms. */
  connectTimeout?: number;
  /** Upper bound of the delay between reconnection attempts (exponential from 100 ms). Default 2000 ms. */
  maxReconnectDelay?: number;
  /** Bytes of publishes sent to Redis and not yet acknowledged beyond which publishes are dropped. Default 16 MiB. */
  maxPendingBytes?: number;
  /** Connection errors and failed (un)subscriptions. Default: one console.warn per outage. */
  onError?: (err: Error) => void;
}

export type RedisTopicsErrorCode =
  /** The `redis` package is not installed. */
  | 'REDIS_MISSING'
  /** Redis did not answer within `connectTimeout` at start. */
  | 'CONNECT_TIMEOUT'
  /** Invalid options. */
  | 'BAD_OPTIONS'
  /** Publish dropped: no connection to Redis at the moment (or lost before Redis replied). */
  | 'UNAVAILABLE'
  /** Publish dropped: more than `maxPendingBytes` awaiting Redis. */
  | 'OVERLOADED'
  /** Publish after close(). */
  | 'CLOSED';

export class RedisTopicsError extends Error {
  override name = 'RedisTopicsError';
  constructor(
    readonly code: RedisTopicsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RedisTopicsStats {
  /** Publishes Redis accepted. */
  published: number;
  /** Messages from other instances handed to the endpoint. */
  received: number;
  /** Publishes not sent (outage or overload); see the outage policy. */
  dropped: number;
  /** Connection errors, failed (un)subscriptions, malformed envelopes. */
  errors: number;
  /** Times a connection was ready again after it had been lost. */
  reconnects: number;
  /** This instance's own messages echoed by Redis and ignored. */
  echoes: number;
  /** Topics currently subscribed in Redis. */
  subscriptions: number;
  /** Bytes of publishes awaiting Redis's reply. */
  pendingBytes: number;
  /** 1 while both connections are ready. */
  connected: number;
}

const VERSION = 1;
const HEADER = 9;
const ID_BYTES = 8;

/** Wraps a message in the envelope. Exported for tests. */
export function encodeEnvelope(instanceId: Buffer, data: Buffer, binary: boolean): Buffer {
  const out = Buffer.allocUnsafe(HEADER + data.length);
  out[0] = (VERSION << 1) | (binary ? 1 : 0);
  instanceId.copy(out, 1, 0, ID_BYTES);
  data.copy(out, HEADER);
  return out;
}

/** Unwraps a message; null when it is not a version-1 envelope. Exported for tests. */
export function decodeEnvelope(message: Buffer): { instanceId: Buffer; data: Buffer; binary: boolean } | null {
  if (message.length < HEADER || message[0] >> 1 !== VERSION) return null;
  return {
    instanceId: message.subarray(1, HEADER),
    data: message.subarray(HEADER),
    binary: (message[0] & 1) === 1,
  };
}

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

export class RedisTopics implements Topics, TopicWatcher {
  /** This instance's id in envelopes (8 random bytes). */
  readonly instanceId: Buffer = randomBytes(ID_BYTES);
  readonly prefix: string;
  readonly sharded: boolean;

  private readonly local: LocalTopics;
  private readonly entries = new Map<string, Entry>();
  private sink: TopicSink | null = null;
  private closed = false;
  private settleWaiters: (() => void)[] = [];
  private readonly maxPendingBytes: number;
  private readonly onError: (err: Error) => void;
  private readonly counters = {
    published: 0,
    received: 0,
    dropped: 0,
    errors: 0,
    reconnects: 0,
    echoes: 0,
    pendingBytes: 0,
  };
  private readonly listener = (message: Buffer, channel: Buffer | string): void => this.onMessage(message, channel);
  private readonly detach: (() => void)[] = [];

  /** Use redisTopics(): it connects first. */
  constructor(
    private readonly publisher: RedisClientLike,
    private readonly subscriber: RedisClientLike,
    private readonly ownsPublisher: boolean,
    options: RedisTopicsOptions,
  ) {
    this.prefix = options.prefix ?? 'wsgate:';
    this.sharded = options.sharded ?? false;
    this.maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024;
    this.local = new LocalTopics(this);
    let warned = false;
    this.onError =
      options.onError ??
      ((err) => {
        if (warned) return;
        warned = true;
        console.warn(`wsgate/redis: ${err.message} (further errors are counted in stats().topics until the connection is back)`);
      });

    const watch = (client: RedisClientLike, isSubscriber: boolean) => {
      let lost = false;
      const onError = (err: Error) => {
        if (this.closed) return;
        this.counters.errors++;
        lost = true;
        this.onError(err);
      };
      const onReady = () => {
        if (this.closed) return;
        if (lost) {
          this.counters.reconnects++;
          warned = false;
        }
        lost = false;
        if (isSubscriber) this.resync();
      };
      const onEnd = () => {
        if (!this.closed) lost = true;
      };
      client.on('error', onError);
      client.on('ready', onReady);
      client.on('end', onEnd);
      this.detach.push(() => {
        const off = (client.off ?? client.removeListener)?.bind(client);
        if (!off) return;
        // The error listener stays on connections we own, so that a late socket error
        // after close() cannot become an uncaught 'error' event.
        if (client !== this.subscriber && !this.ownsPublisher) off('error', onError);
        off('ready', onReady);
        off('end', onEnd);
      });
    };
    watch(subscriber, true);
    // The user's client: we listen, and stop listening at close().
    watch(publisher, false);
  }

  // --- Topics -------------------------------------------------------------------------

  subscribe(socket: WebSocket, topic: string): void {
    this.local.subscribe(socket, topic);
  }

  unsubscribe(socket: WebSocket, topic: string): void {
    this.local.unsubscribe(socket, topic);
  }

  subscribers(topic: string): Iterable<WebSocket> {
    return this.local.subscribers(topic);
  }

  subscriberCount(topic: string): number {
    return this.local.subscriberCount(topic);
  }

  topics(): Iterable<string> {
    return this.local.topics();
  }

  bind(sink: TopicSink): void {
    this.sink = sink;
  }

  /**
   * Sends a message to the other instances. Resolves when Redis accepted it; rejects with a
   * RedisTopicsError ('UNAVAILABLE', 'OVERLOADED', 'CLOSED') when it was dropped.
   */
  publish(topic: string, data: Buffer, binary: boolean): Promise<void> {
    if (this.closed) {
      this.counters.dropped++;
      return Promise.reject(new RedisTopicsError('CLOSED', 'redis topics are closed'));
    }
    if (!this.publisher.isReady) {
      this.counters.dropped++;
      return Promise.reject(new RedisTopicsError('UNAVAILABLE', 'no connection to Redis: message dropped'));
    }
    const size = data.length + HEADER;
    if (this.counters.pendingBytes + size > this.maxPendingBytes && this.counters.pendingBytes > 0) {
      this.counters.dropped++;
      return Promise.reject(new RedisTopicsError('OVERLOADED', `more than ${this.maxPendingBytes} bytes await Redis: message dropped`));
    }
    const envelope = encodeEnvelope(this.instanceId, data, binary);
    const channel = this.prefix + topic;
    this.counters.pendingBytes += size;
    let sent: Promise<unknown>;
    try {
      sent = this.sharded ? this.publisher.sPublish!(channel, envelope) : this.publisher.publish(channel, envelope);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.then(
      () => {
        this.counters.pendingBytes -= size;
        this.counters.published++;
      },
      (err: unknown) => {
        this.counters.pendingBytes -= size;
        this.counters.dropped++;
        throw new RedisTopicsError('UNAVAILABLE', `publish failed: ${(err as Error)?.message ?? err}`, { cause: err });
      },
    );
  }

  stats(): Readonly<Record<string, number>> & RedisTopicsStats {
    let subscriptions = 0;
    for (const e of this.entries.values()) if (e.have) subscriptions++;
    return {
      ...this.counters,
      subscriptions,
      connected: this.publisher.isReady && this.subscriber.isReady ? 1 : 0,
    };
  }

  /**
   * Resolves when every pending SUBSCRIBE/UNSUBSCRIBE has had its reply (subscriptions made
   * by socket.subscribe() are asynchronous: a message another instance publishes before
   * the SUBSCRIBE reached Redis is not received).
   */
  settled(): Promise<void> {
    if (!this.pending()) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /** Unsubscribes, and closes the connections redisTopics made (never the user's client). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const channels = [...this.entries.values()].filter((e) => e.have || e.busy).map((e) => e.channel);
    this.entries.clear();
    this.wakeSettled();
    for (const undo of this.detach.splice(0)) undo();
    const within = <T>(p: Promise<T>, ms: number) =>
      Promise.race([p.then(() => true, () => false), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
    // Bounded: with Redis away (or going away), neither step waits for long.
    if (channels.length && this.subscriber.isReady) {
      const unsub = this.sharded
        ? Promise.all(channels.map((c) => this.subscriber.sUnsubscribe!(c)))
        : this.subscriber.unsubscribe(channels);
      await within(unsub, 1000);
    }
    const owned = this.ownsPublisher ? [this.subscriber, this.publisher] : [this.subscriber];
    await Promise.all(
      owned.map(async (client) => {
        const ok = client.isReady && client.close ? await within(client.close(), 1000) : false;
        if (!ok) {
          try {
            client.destroy();
          } catch {
            // already closed
          }
        }
      }),
    );
  }

  // --- TopicWatcher: the local registry tells us when a topic needs Redis -------------

  first(topic: string): void {
    if (this.closed) return;
    const channel = this.prefix + topic;
    let e = this.entries.get(channel);
    if (!e) this.entries.set(channel, (e = { topic, channel, want: true, have: false, busy: false, failed: false }));
    e.want = true;
    e.failed = false;
    this.pump(e);
  }

  last(topic: string): void {
    const e = this.entries.get(this.prefix + topic);
    if (!e || this.closed) return;
    e.want = false;
    e.failed = false;
    this.pump(e);
  }

  // --- internals ----------------------------------------------------------------------

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
        this.counters.errors++;
        this.onError(new Error(`${subscribing ? 'subscribe' : 'unsubscribe'} ${e.channel} failed: ${(err as Error)?.message ?? err}`));
      },
    ).finally(() => {
      e.busy = false;
      if (this.closed) return;
      if (!e.failed) this.pump(e);
      else this.wakeSettled();
    });
  }

  /**
   * After a reconnection: node-redis resubscribes the channels it knows itself; anything it
   * lost (a SUBSCRIBE in flight when the connection died, a failed UNSUBSCRIBE) is redone
   * here. Re-issuing subscribe() for a channel node-redis already holds sends no command.
   */
  private resync(): void {
    for (const e of this.entries.values()) {
      if (e.busy) continue;
      e.failed = false;
      if (e.want) e.have = false;
      this.pump(e);
    }
  }

  private pending(): boolean {
    for (const e of this.entries.values()) if (e.busy || (e.want !== e.have && !e.failed)) return true;
    return false;
  }

  private wakeSettled(): void {
    if (this.settleWaiters.length === 0 || (this.pending() && !this.closed)) return;
    for (const resolve of this.settleWaiters.splice(0)) resolve();
  }

  private onMessage(message: Buffer, channel: Buffer | string): void {
    if (this.closed) return;
    const env = Buffer.isBuffer(message) ? decodeEnvelope(message) : null;
    if (!env) {
      this.counters.errors++;
      return;
    }
    if (env.instanceId.equals(this.instanceId)) {
      this.counters.echoes++;
      return;
    }
    const name = typeof channel === 'string' ? channel : channel.toString();
    const e = this.entries.get(name);
    if (!e || !e.want) return; // a message still in flight after our last subscriber left
    this.counters.received++;
    this.sink?.deliver(e.topic, env.data, env.binary);
  }
}

function loadRedis(): { createClient(options: any): RedisClientLike } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('redis');
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND') {
      throw new RedisTopicsError('REDIS_MISSING', "wsgate/redis needs the 'redis' package (node-redis v5 or v6): npm install redis", {
        cause: err,
      });
    }
    throw err;
  }
}

/** Waits for `client` to be ready, failing with CONNECT_TIMEOUT after `ms`. */
async function ready(client: RedisClientLike, connect: boolean, ms: number): Promise<void> {
  if (client.isReady) return;
  let timer: NodeJS.Timeout | undefined;
  let lastError: unknown;
  const onError = (err: unknown) => (lastError = err);
  client.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RedisTopicsError(
              'CONNECT_TIMEOUT',
              `Redis did not answer within ${ms} ms${lastError ? `: ${(lastError as Error).message ?? lastError}` : ''}`,
              { cause: lastError },
            ),
          ),
        ms,
      );
      if (connect) client.connect().then(() => resolve(), reject);
      else client.on('ready', () => resolve());
    });
  } finally {
    clearTimeout(timer);
    (client.off ?? client.removeListener)?.call(client, 'error', onError);
  }
}

/**
 * Topics shared by every instance connected to the same Redis. Connects before it resolves:
 * fails with RedisTopicsError 'CONNECT_TIMEOUT' when Redis does not answer in time.
 */
export async function redisTopics(options: RedisTopicsOptions): Promise<RedisTopics> {
  if (!options || (options.url === undefined) === (options.client === undefined)) {
    throw new RedisTopicsError('BAD_OPTIONS', 'redisTopics needs exactly one of { url } or { client }');
  }
  const connectTimeout = options.connectTimeout ?? 5000;
  const maxDelay = options.maxReconnectDelay ?? 2000;
  const reconnectStrategy = (retries: number) => Math.min(100 * 2 ** Math.min(retries, 10), maxDelay);
  // Until the first ready, errors are collected by ready(); afterwards RedisTopics counts them.
  const quiet = () => {};

  let publisher: RedisClientLike;
  let subscriber: RedisClientLike;
  let owns: boolean;
  if (options.url !== undefined) {
    const { createClient } = loadRedis();
    publisher = createClient({
      url: options.url,
      // Drop, do not queue, while Redis is away (the outage policy).
      disableOfflineQueue: true,
      socket: { connectTimeout, reconnectStrategy },
    });
    subscriber = publisher.duplicate({ disableOfflineQueue: false });
    owns = true;
  } else {
    publisher = options.client!;
    if (!publisher.isOpen) {
      throw new RedisTopicsError('BAD_OPTIONS', 'the client passed to redisTopics must be connected (await client.connect() first)');
    }
    const base = publisher.options;
    // A standalone client: keep the user's socket options, make sure the subscriber reconnects.
    subscriber =
      base && typeof base === 'object' && !('rootNodes' in base)
        ? publisher.duplicate({ socket: { ...(base.socket ?? {}), reconnectStrategy }, disableOfflineQueue: false })
        : publisher.duplicate();
    owns = false;
  }
  subscriber.on('error', quiet);
  if (owns) publisher.on('error', quiet);
  try {
    await Promise.all([ready(publisher, owns, connectTimeout), ready(subscriber, true, connectTimeout)]);
  } catch (err) {
    for (const c of owns ? [subscriber, publisher] : [subscriber]) {
      try {
        c.destroy();
      } catch {
        // never connected
      }
    }
    throw err;
  }
  if (options.sharded && (typeof publisher.sPublish !== 'function' || typeof subscriber.sSubscribe !== 'function')) {
    await Promise.allSettled((owns ? [subscriber, publisher] : [subscriber]).map((c) => c.close?.()));
    throw new RedisTopicsError('BAD_OPTIONS', 'sharded: true needs a node-redis client with sPublish/sSubscribe (v4.6 or newer)');
  }
  return new RedisTopics(publisher, subscriber, owns, options);
}

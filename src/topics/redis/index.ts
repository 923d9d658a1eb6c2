// Topics across instances on Redis pub/sub (node-redis). Each instance keeps its own local
// registry (LocalTopics) and holds one Redis subscription per topic that has at least one
// local subscriber (subscriptions.ts). A publish is delivered locally by the endpoint and
// sent to Redis in a small binary envelope (envelope.ts) tagged with this instance's id, so
// that the copy Redis echoes back here is ignored. Nothing of `redis` loads unless
// redisTopics() is called (clients.ts).
//
// Outage policy: drop and count. A publish made while the publishing connection is not ready
// (or when more than `maxPendingBytes` of publishes await Redis's reply) is not queued: its
// promise rejects with RedisTopicsError code 'UNAVAILABLE' / 'OVERLOADED' and `dropped`
// counts it. Local delivery is not affected. Messages other instances publish while this
// instance's subscriber connection is down are lost (Redis pub/sub keeps nothing). On
// reconnection every topic with local subscribers is subscribed again.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { WebSocket } from '../../io/websocket';
import { LocalTopics, type TopicWatcher } from '../local';
import type { Topics, TopicSink } from '../topics';
import { closeClients, connect, owned, watchConnection } from './clients';
import { decodeEnvelope, encodeEnvelope, HEADER, ID_BYTES } from './envelope';
import { Subscriptions } from './subscriptions';
import { type RedisClientLike, RedisTopicsError, type RedisTopicsOptions, type RedisTopicsStats } from './types';

export { decodeEnvelope, encodeEnvelope } from './envelope';
export { RedisTopicsError } from './types';
export type { RedisClientLike, RedisTopicsErrorCode, RedisTopicsOptions, RedisTopicsStats } from './types';

export class RedisTopics implements Topics, TopicWatcher {
  /** This instance's id in envelopes (8 random bytes). */
  readonly instanceId: Buffer = randomBytes(ID_BYTES);
  readonly prefix: string;
  readonly sharded: boolean;

  private readonly local: LocalTopics;
  private readonly subscriptions: Subscriptions;
  private sink: TopicSink | null = null;
  private closed = false;
  private readonly maxPendingBytes: number;
  private readonly onError: (err: Error) => void;
  /** The default onError has warned in this outage. */
  private warned = false;
  private readonly counters = {
    published: 0,
    received: 0,
    dropped: 0,
    errors: 0,
    reconnects: 0,
    echoes: 0,
    pendingBytes: 0,
  };
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
    this.onError =
      options.onError ??
      ((err) => {
        if (this.warned) return;
        this.warned = true;
        console.warn(`wsgate/redis: ${err.message} (further errors are counted in stats().topics until the connection is back)`);
      });
    this.subscriptions = new Subscriptions(
      subscriber,
      this.prefix,
      this.sharded,
      (message, channel) => this.onMessage(message, channel),
      (err) => this.fail(err),
    );

    const watch = (client: RedisClientLike, isSubscriber: boolean) =>
      this.detach.push(
        watchConnection(
          client,
          {
            error: (err) => this.fail(err),
            ready: (reconnected) => {
              if (reconnected) {
                this.counters.reconnects++;
                this.warned = false;
              }
              if (isSubscriber) this.subscriptions.resync();
            },
            closed: () => this.closed,
          },
          // We stop listening for errors only on the user's client.
          isSubscriber || ownsPublisher,
        ),
      );
    watch(subscriber, true);
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
    return {
      ...this.counters,
      subscriptions: this.subscriptions.count(),
      connected: this.publisher.isReady && this.subscriber.isReady ? 1 : 0,
    };
  }

  /**
   * Resolves when every pending SUBSCRIBE/UNSUBSCRIBE has had its reply (subscriptions made
   * by socket.subscribe() are asynchronous: a message another instance publishes before
   * the SUBSCRIBE reached Redis is not received).
   */
  settled(): Promise<void> {
    return this.subscriptions.settled();
  }

  /** Unsubscribes, and closes the connections redisTopics made (never the user's client). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const unsubscribed = this.subscriptions.close();
    for (const undo of this.detach.splice(0)) undo();
    await unsubscribed;
    await closeClients(owned({ publisher: this.publisher, subscriber: this.subscriber, owns: this.ownsPublisher }));
  }

  // --- TopicWatcher: the local registry tells us when a topic needs Redis -------------

  first(topic: string): void {
    if (!this.closed) this.subscriptions.want(topic);
  }

  last(topic: string): void {
    if (!this.closed) this.subscriptions.drop(topic);
  }

  // --- internals ----------------------------------------------------------------------

  private fail(err: Error): void {
    this.counters.errors++;
    this.onError(err);
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
    const topic = this.subscriptions.wantedTopic(channel);
    if (topic === undefined) return; // a message still in flight after our last subscriber left
    this.counters.received++;
    this.sink?.deliver(topic, env.data, env.binary);
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
  const { publisher, subscriber, owns } = await connect(options);
  return new RedisTopics(publisher, subscriber, owns, options);
}

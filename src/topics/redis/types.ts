// The public types of `wsgate/redis`: the part of a node-redis client it uses, its options,
// its error (with a code for each way a call can fail) and its counters.

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

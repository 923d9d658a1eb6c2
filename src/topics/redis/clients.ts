// The two Redis connections behind RedisTopics: a publisher and a subscriber (pub/sub needs a
// connection of its own). Loads node-redis only when asked to, connects with a timeout, makes
// the subscriber a duplicate of a user's client, watches connection state, and closes what
// wsgate made.
import type { RedisClientLike, RedisTopicsOptions } from './types';
import { RedisTopicsError } from './types';

export interface Connections {
  publisher: RedisClientLike;
  subscriber: RedisClientLike;
  /** The publisher was made here (from `url`), not passed in by the user. */
  owns: boolean;
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

function off(client: RedisClientLike, event: string, listener: (...args: any[]) => void): void {
  (client.off ?? client.removeListener)?.call(client, event, listener);
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
    off(client, 'error', onError);
  }
}

/** The connections wsgate made and must close: the subscriber always, the publisher when owned. */
export function owned({ publisher, subscriber, owns }: Connections): RedisClientLike[] {
  return owns ? [subscriber, publisher] : [subscriber];
}

/**
 * Makes (from `url`) or adopts (`client`) the publisher, duplicates it into the subscriber,
 * and waits until both are ready: CONNECT_TIMEOUT after `connectTimeout`.
 */
export async function connect(options: RedisTopicsOptions): Promise<Connections> {
  const connectTimeout = options.connectTimeout ?? 5000;
  const maxDelay = options.maxReconnectDelay ?? 2000;
  const reconnectStrategy = (retries: number) => Math.min(100 * 2 ** Math.min(retries, 10), maxDelay);
  // Until the first ready, errors are collected by ready(); afterwards RedisTopics counts them.
  const quiet = () => {};

  let conns: Connections;
  if (options.url !== undefined) {
    const { createClient } = loadRedis();
    const publisher = createClient({
      url: options.url,
      // Drop, do not queue, while Redis is away (the outage policy).
      disableOfflineQueue: true,
      socket: { connectTimeout, reconnectStrategy },
    });
    conns = { publisher, subscriber: publisher.duplicate({ disableOfflineQueue: false }), owns: true };
  } else {
    const publisher = options.client!;
    if (!publisher.isOpen) {
      throw new RedisTopicsError('BAD_OPTIONS', 'the client passed to redisTopics must be connected (await client.connect() first)');
    }
    const base = publisher.options;
    // A standalone client: keep the user's socket options, make sure the subscriber reconnects.
    const subscriber =
      base && typeof base === 'object' && !('rootNodes' in base)
        ? publisher.duplicate({ socket: { ...(base.socket ?? {}), reconnectStrategy }, disableOfflineQueue: false })
        : publisher.duplicate();
    conns = { publisher, subscriber, owns: false };
  }
  const { publisher, subscriber, owns } = conns;
  subscriber.on('error', quiet);
  if (owns) publisher.on('error', quiet);
  try {
    await Promise.all([ready(publisher, owns, connectTimeout), ready(subscriber, true, connectTimeout)]);
  } catch (err) {
    for (const c of owned(conns)) {
      try {
        c.destroy();
      } catch {
        // never connected
      }
    }
    throw err;
  }
  if (options.sharded && (typeof publisher.sPublish !== 'function' || typeof subscriber.sSubscribe !== 'function')) {
    await Promise.allSettled(owned(conns).map((c) => c.close?.()));
    throw new RedisTopicsError('BAD_OPTIONS', 'sharded: true needs a node-redis client with sPublish/sSubscribe (v4.6 or newer)');
  }
  return conns;
}

/** Connection events RedisTopics reacts to. */
export interface ConnectionWatcher {
  error(err: Error): void;
  /** Ready (again); `reconnected` when it had been lost since the last ready. */
  ready(reconnected: boolean): void;
  /** Ignore events from now on (after close()). */
  closed(): boolean;
}

/**
 * Listens to a client's 'error', 'ready' and 'end'. Returns the undo. `keepErrorListener`:
 * the error listener stays after undo, so that a late socket error on a connection we own
 * cannot become an uncaught 'error' event.
 */
export function watchConnection(client: RedisClientLike, watcher: ConnectionWatcher, keepErrorListener: boolean): () => void {
  let lost = false;
  const onError = (err: Error) => {
    if (watcher.closed()) return;
    lost = true;
    watcher.error(err);
  };
  const onReady = () => {
    if (watcher.closed()) return;
    const reconnected = lost;
    lost = false;
    watcher.ready(reconnected);
  };
  const onEnd = () => {
    if (!watcher.closed()) lost = true;
  };
  client.on('error', onError);
  client.on('ready', onReady);
  client.on('end', onEnd);
  return () => {
    if (!keepErrorListener) off(client, 'error', onError);
    off(client, 'ready', onReady);
    off(client, 'end', onEnd);
  };
}

/** Resolves true when `p` settles successfully within `ms`, false otherwise (never rejects). */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true, () => false), new Promise<boolean>((r) => setTimeout(r, ms, false).unref())]);
}

/** Closes each client gracefully (bounded to 1 s), destroying it when that does not work. */
export async function closeClients(clients: RedisClientLike[]): Promise<void> {
  await Promise.all(
    clients.map(async (client) => {
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

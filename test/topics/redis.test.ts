// RedisTopics against a real redis-server (no mock), with a recording sink in place of the
// endpoint: one Redis subscription per topic, the envelope, own-message suppression,
// reconnection, start-up failure, a thousand topics, close, sharded pub/sub.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createClient } from 'redis';
import type { WebSocket } from '../../src/io/websocket';
import { decodeEnvelope, encodeEnvelope, RedisTopics, RedisTopicsError, redisTopics } from '../../src/topics/redis';
import { describeRedis, freePort, type RedisServer, startRedis } from '../helpers/redis-server';

jest.setTimeout(30000);

type Delivery = { topic: string; data: Buffer; binary: boolean };

/** A stand-in for a socket: the registry only needs object identity. */
const fakeSocket = (n: number) => ({ id: n }) as unknown as WebSocket;

function recorder(topics: RedisTopics): Delivery[] {
  const got: Delivery[] = [];
  topics.bind({ deliver: (topic, data, binary) => got.push({ topic, data: Buffer.from(data), binary }) });
  return got;
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('envelope', () => {
  const id = Buffer.from('0123456789abcdef', 'hex');
  test.each([
    ['text', Buffer.from('héllo ☃', 'utf8'), false],
    ['empty text', Buffer.alloc(0), false],
    ['binary, not UTF-8', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]), true],
    ['empty binary', Buffer.alloc(0), true],
  ])('%s round-trips with its type and instance id', (_name, data, binary) => {
    const env = encodeEnvelope(id, data, binary);
    expect(env.length).toBe(9 + data.length);
    expect(env[0]).toBe(binary ? 0x03 : 0x02);
    const back = decodeEnvelope(env)!;
    expect(back.binary).toBe(binary);
    expect(back.instanceId.equals(id)).toBe(true);
    expect(back.data.equals(data)).toBe(true);
  });

  test('anything else is refused', () => {
    expect(decodeEnvelope(Buffer.from('hello'))).toBeNull(); // too short
    expect(decodeEnvelope(Buffer.from([0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9]))).toBeNull(); // version 2
  });
});

describe('redis package missing', () => {
  test("redisTopics fails with REDIS_MISSING naming 'npm install redis'", async () => {
    await jest.isolateModulesAsync(async () => {
      jest.doMock('redis', () => {
        const err = new Error("Cannot find module 'redis'") as NodeJS.ErrnoException;
        err.code = 'MODULE_NOT_FOUND';
        throw err;
      });
      const mod: typeof import('../../src/topics/redis') = require('../../src/topics/redis');
      const err = await mod.redisTopics({ url: 'redis://127.0.0.1:1' }).catch((e) => e);
      expect(err).toBeInstanceOf(mod.RedisTopicsError);
      expect(err.code).toBe('REDIS_MISSING');
      expect(err.message).toMatch(/npm install redis/);
    });
    jest.dontMock('redis');
  });

  test('importing wsgate/redis does not load redis (a fresh process)', () => {
    const script = [
      "require('./src/redis');",
      "const loaded = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](redis|@redis)[\\\\/]/.test(k));",
      'console.log(JSON.stringify(loaded));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: path.join(__dirname, '..', '..'),
      encoding: 'utf8',
      timeout: 20000,
    });
    expect(JSON.parse(out.trim())).toEqual([]);
  });
});

describe('unreachable at start', () => {
  test('a refused port: CONNECT_TIMEOUT after connectTimeout, no hang', async () => {
    const port = await freePort(); // nothing listens there
    const t0 = Date.now();
    const err = await redisTopics({ url: `redis://127.0.0.1:${port}`, connectTimeout: 500 }).catch((e) => e);
    expect(err).toBeInstanceOf(RedisTopicsError);
    expect(err.code).toBe('CONNECT_TIMEOUT');
    expect(err.message).toMatch(/500 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test('a server that accepts and never answers: CONNECT_TIMEOUT too', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const t0 = Date.now();
      const err = await redisTopics({ url: `redis://127.0.0.1:${port}`, connectTimeout: 500 }).catch((e) => e);
      expect(err).toBeInstanceOf(RedisTopicsError);
      expect(err.code).toBe('CONNECT_TIMEOUT');
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test('options: exactly one of url or client', async () => {
    await expect(redisTopics({} as never)).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
  });
});

describeRedis('RedisTopics on a real redis-server', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const open: RedisTopics[] = [];

  async function instance(extra: Partial<Parameters<typeof redisTopics>[0]> = {}): Promise<RedisTopics> {
    const t = await redisTopics({ url: redis.url, connectTimeout: 3000, maxReconnectDelay: 200, onError: () => {}, ...extra });
    open.push(t);
    return t;
  }

  const numsub = async (...topics: string[]): Promise<number[]> => {
    const reply = (await admin.sendCommand(['PUBSUB', 'NUMSUB', ...topics.map((t) => `wsgate:${t}`)])) as unknown[];
    const out: number[] = [];
    for (let i = 1; i < reply.length; i += 2) out.push(Number(reply[i]));
    return out;
  };
  const channels = async (pattern = 'wsgate:*') =>
    ((await admin.sendCommand(['PUBSUB', 'CHANNELS', pattern])) as Buffer[]).map(String).sort();

  beforeAll(async () => {
    redis = await startRedis();
    admin = createClient({ url: redis.url, socket: { reconnectStrategy: 100 } });
    admin.on('error', () => {});
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  afterAll(async () => {
    admin?.destroy();
    await redis?.stop();
  });

  test('one Redis subscription per topic per instance, made on the first subscriber, dropped after the last', async () => {
    const a = await instance();
    const s = [1, 2, 3].map(fakeSocket);
    for (const x of s) a.subscribe(x, 'room');
    a.subscribe(s[0], 'other');
    await a.settled();
    expect(await numsub('room', 'other')).toEqual([1, 1]);
    expect(await channels()).toEqual(['wsgate:other', 'wsgate:room']);
    expect(a.stats().subscriptions).toBe(2);

    a.unsubscribe(s[0], 'room');
    a.unsubscribe(s[1], 'room');
    await a.settled();
    expect(await numsub('room')).toEqual([1]);
    a.unsubscribe(s[2], 'room');
    a.unsubscribe(s[0], 'other');
    await a.settled();
    expect(await numsub('room', 'other')).toEqual([0, 0]);
    expect(await channels()).toEqual([]);
    expect([...a.topics()]).toEqual([]);
    expect(a.stats().subscriptions).toBe(0);
  });

  test('a second instance has its own subscription (NUMSUB counts instances, not sockets)', async () => {
    const a = await instance();
    const b = await instance();
    for (let i = 0; i < 10; i++) a.subscribe(fakeSocket(i), 't');
    for (let i = 0; i < 7; i++) b.subscribe(fakeSocket(i), 't');
    await Promise.all([a.settled(), b.settled()]);
    expect(await numsub('t')).toEqual([2]);
  });

  test('messages cross instances with their type, byte for byte; own messages are not delivered again', async () => {
    const a = await instance();
    const b = await instance();
    const gotA = recorder(a);
    const gotB = recorder(b);
    a.subscribe(fakeSocket(1), 'x');
    b.subscribe(fakeSocket(2), 'x');
    await Promise.all([a.settled(), b.settled()]);

    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
    const sent: Delivery[] = [
      { topic: 'x', data: Buffer.from('héllo ☃'), binary: false },
      { topic: 'x', data: Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]), binary: true },
      { topic: 'x', data: Buffer.alloc(0), binary: false },
      { topic: 'x', data: Buffer.alloc(0), binary: true },
      { topic: 'x', data: big, binary: true },
      { topic: 'x', data: Buffer.from('text that looks binary'), binary: true },
    ];
    for (const m of sent) await a.publish(m.topic, m.data, m.binary);
    await until(() => gotB.length === sent.length, 5000, 'B received all');
    expect(gotB.map((d) => [d.topic, d.binary, d.data.length])).toEqual(sent.map((d) => [d.topic, d.binary, d.data.length]));
    for (let i = 0; i < sent.length; i++) expect(gotB[i].data.equals(sent[i].data)).toBe(true);

    // A is subscribed too: Redis echoed every message to it, and it delivered none of them.
    await until(() => a.stats().echoes === sent.length, 5000, 'A saw its echoes');
    expect(gotA).toEqual([]);
    expect(a.stats()).toMatchObject({ published: sent.length, echoes: sent.length, received: 0, dropped: 0 });
    expect(b.stats()).toMatchObject({ received: sent.length, echoes: 0, published: 0 });
  });

  test('a topic nobody here subscribes to is not delivered; prefixes keep deployments apart', async () => {
    const a = await instance();
    const b = await instance();
    const other = await instance({ prefix: 'other-app:' });
    const gotB = recorder(b);
    const gotOther = recorder(other);
    b.subscribe(fakeSocket(1), 'wanted');
    other.subscribe(fakeSocket(1), 'wanted');
    await Promise.all([b.settled(), other.settled()]);
    expect(await channels('*')).toEqual(['other-app:wanted', 'wsgate:wanted']);
    await a.publish('unwanted', Buffer.from('no'), false);
    await a.publish('wanted', Buffer.from('yes'), false);
    await until(() => gotB.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(gotB.map((d) => d.data.toString())).toEqual(['yes']);
    expect(gotOther).toEqual([]);
  });

  test('subscribe/unsubscribe flapping ends with Redis matching the local registry', async () => {
    const a = await instance();
    const s = fakeSocket(1);
    // 101 flips without waiting: ends subscribed.
    for (let i = 0; i < 50; i++) {
      a.subscribe(s, 'flap');
      a.unsubscribe(s, 'flap');
    }
    a.subscribe(s, 'flap');
    await a.settled();
    expect(await numsub('flap')).toEqual([1]);
    // Flips with a turn of the event loop in between, ending unsubscribed.
    for (let i = 0; i < 20; i++) {
      a.unsubscribe(s, 'flap');
      await new Promise((r) => setImmediate(r));
      a.subscribe(s, 'flap');
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    a.unsubscribe(s, 'flap');
    await a.settled();
    expect(await numsub('flap')).toEqual([0]);
    expect(await channels()).toEqual([]);
    // And it still works after all that.
    const b = await instance();
    const got = recorder(a);
    a.subscribe(s, 'flap');
    await a.settled();
    await b.publish('flap', Buffer.from('after'), false);
    await until(() => got.length === 1);
  });

  test('a thousand topics: one subscription each, every one delivers, all released', async () => {
    const a = await instance();
    const b = await instance();
    const got = recorder(a);
    const names = Array.from({ length: 1000 }, (_, i) => `room:${i}`);
    const socks = Array.from({ length: 50 }, (_, i) => fakeSocket(i));
    names.forEach((t, i) => a.subscribe(socks[i % 50], t));
    names.forEach((t, i) => a.subscribe(socks[(i + 1) % 50], t)); // two sockets per topic
    await a.settled();
    const subs = await numsub(...names);
    expect(subs.length).toBe(1000);
    expect(subs.every((n) => n === 1)).toBe(true);
    expect(a.stats().subscriptions).toBe(1000);

    await Promise.all(names.map((t) => b.publish(t, Buffer.from(t), false)));
    await until(() => got.length === 1000, 10000, '1000 deliveries');
    expect(new Set(got.map((d) => d.topic)).size).toBe(1000);
    expect(got.every((d) => d.data.toString() === d.topic)).toBe(true);

    // Every socket leaves every topic: nothing is left in Redis.
    for (const x of socks) for (const t of names) a.unsubscribe(x, t);
    await a.settled();
    expect(await channels()).toEqual([]);
    expect(a.stats().subscriptions).toBe(0);
  });

  test('close() unsubscribes and quits its own connections', async () => {
    const before = await clientIds();
    const a = await instance();
    const own = newIds(before, await clientIds());
    expect(own).toHaveLength(2); // publisher + subscriber
    a.subscribe(fakeSocket(1), 'c1');
    a.subscribe(fakeSocket(1), 'c2');
    await a.settled();
    expect(await channels()).toEqual(['wsgate:c1', 'wsgate:c2']);
    await a.close();
    await until(async () => (await channels()).length === 0, 2000, 'channels released');
    await until(async () => stillOpen(own, await clientIds()) === 0, 2000, 'connections closed');
    await expect(a.publish('c1', Buffer.from('late'), false)).rejects.toMatchObject({ code: 'CLOSED' });
    await a.close(); // twice is fine
  });

  test('{ client }: publishes on it, subscribes on a duplicate, never closes it', async () => {
    const user = createClient({ url: redis.url });
    user.on('error', () => {});
    await user.connect();
    try {
      const before = await clientIds();
      const a = await redisTopics({ client: user, onError: () => {} });
      open.push(a);
      expect(newIds(before, await clientIds())).toHaveLength(1); // only the duplicate
      const b = await instance();
      const gotB = recorder(b);
      const gotA = recorder(a);
      b.subscribe(fakeSocket(1), 'u');
      a.subscribe(fakeSocket(1), 'u');
      await Promise.all([a.settled(), b.settled()]);
      await a.publish('u', Buffer.from('from user client'), false);
      await b.publish('u', Buffer.from([1, 2, 3]), true);
      await until(() => gotB.length === 1 && gotA.length === 1);
      expect(gotA[0]).toEqual({ topic: 'u', data: Buffer.from([1, 2, 3]), binary: true });
      await a.close();
      await until(async () => (await numsub('u'))[0] === 1, 2000, 'a unsubscribed');
      expect(user.isReady).toBe(true);
      expect(await user.ping()).toBe('PONG');
    } finally {
      user.destroy();
    }
  });

  test('a client that is not connected is refused', async () => {
    const user = createClient({ url: redis.url });
    await expect(redisTopics({ client: user })).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
  });

  test('sharded: SSUBSCRIBE/SPUBLISH, one shard subscription per topic, released', async () => {
    const a = await instance({ sharded: true });
    const b = await instance({ sharded: true });
    const gotA = recorder(a);
    const gotB = recorder(b);
    a.subscribe(fakeSocket(1), 's1');
    a.subscribe(fakeSocket(2), 's1');
    b.subscribe(fakeSocket(1), 's1');
    await Promise.all([a.settled(), b.settled()]);
    const shardnumsub = async () => Number(((await admin.sendCommand(['PUBSUB', 'SHARDNUMSUB', 'wsgate:s1'])) as unknown[])[1]);
    expect(await shardnumsub()).toBe(2);
    expect(((await admin.sendCommand(['PUBSUB', 'SHARDCHANNELS'])) as Buffer[]).map(String)).toEqual(['wsgate:s1']);
    expect(await channels()).toEqual([]); // nothing on classic pub/sub
    await a.publish('s1', Buffer.from([0, 255]), true);
    await b.publish('s1', Buffer.from('text'), false);
    await until(() => gotA.length === 1 && gotB.length === 1);
    expect(gotB[0]).toEqual({ topic: 's1', data: Buffer.from([0, 255]), binary: true });
    expect(gotA[0]).toEqual({ topic: 's1', data: Buffer.from('text'), binary: false });
    a.unsubscribe(fakeSocket(1), 's1'); // another object: no-op
    await a.settled();
    expect(await shardnumsub()).toBe(2);
    await a.close();
    await b.close();
    await until(async () => (await shardnumsub()) === 0, 2000, 'shard channels released');
  });

  test('publishes beyond maxPendingBytes are dropped and counted, not queued', async () => {
    const a = await instance({ maxPendingBytes: 64 * 1024 });
    const chunk = Buffer.alloc(30 * 1024);
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(() => a.publish('flood', chunk, true)));
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected.every((r) => r.reason.code === 'OVERLOADED')).toBe(true);
    expect(a.stats()).toMatchObject({ published: 5 - rejected.length, dropped: rejected.length, pendingBytes: 0 });
  });

  // Connections are told apart by their ids, not counted: those of an earlier test's
  // instances may still be leaving the server while this one's arrive.
  async function clientIds(): Promise<number[]> {
    const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
    return [...list.matchAll(/^id=(\d+) /gm)].map((m) => Number(m[1]));
  }
  const newIds = (before: number[], now: number[]) => {
    const last = Math.max(0, ...before);
    return now.filter((id) => id > last);
  };
  const stillOpen = (ids: number[], now: number[]) => ids.filter((id) => now.includes(id)).length;
});

describeRedis('RedisTopics across a Redis outage', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test('killed and restarted: publishes during the outage are dropped and counted, every topic is subscribed again', async () => {
    const opts = { url: redis.url, maxReconnectDelay: 200, onError: () => {} };
    const a = await redisTopics(opts);
    const b = await redisTopics(opts);
    try {
      const gotB = recorder(b);
      const s = fakeSocket(1);
      for (const t of ['k1', 'k2', 'k3', 'gone']) b.subscribe(s, t);
      await b.settled();

      await a.publish('k1', Buffer.from('before'), false);
      await until(() => gotB.length === 1);

      await redis.kill();
      await until(() => a.stats().connected === 0 && b.stats().connected === 0, 3000, 'outage noticed');
      // During the outage: publishes fail fast and are counted; local changes are recorded.
      const err = await a.publish('k1', Buffer.from('during'), false).catch((e) => e);
      expect(err).toBeInstanceOf(RedisTopicsError);
      expect(err.code).toBe('UNAVAILABLE');
      expect(a.stats().dropped).toBe(1);
      b.subscribe(s, 'new-during-outage');
      b.unsubscribe(s, 'gone');

      await redis.restart();
      // The restarted Redis knows nothing: every subscription comes from the instance.
      const admin = createClient({ url: redis.url });
      admin.on('error', () => {});
      await admin.connect();
      try {
        const numsub = async (...t: string[]) => {
          const r = (await admin.sendCommand(['PUBSUB', 'NUMSUB', ...t.map((x) => `wsgate:${x}`)])) as unknown[];
          return t.map((_, i) => Number(r[2 * i + 1]));
        };
        await until(async () => (await numsub('k1', 'k2', 'k3', 'new-during-outage')).every((n) => n === 1), 8000, 'resubscribed');
        await until(() => a.stats().connected === 1, 5000, 'publisher back');
        await b.settled();
        expect(await numsub('gone')).toEqual([0]);
        const chans = ((await admin.sendCommand(['PUBSUB', 'CHANNELS', 'wsgate:*'])) as Buffer[]).map(String).sort();
        expect(chans).toEqual(['wsgate:k1', 'wsgate:k2', 'wsgate:k3', 'wsgate:new-during-outage']);

        for (const t of ['k1', 'k2', 'k3', 'new-during-outage']) await a.publish(t, Buffer.from(`after ${t}`), false);
        await until(() => gotB.length === 5, 5000, 'deliveries after restart');
        expect(gotB.map((d) => d.data.toString())).toEqual(['before', 'after k1', 'after k2', 'after k3', 'after new-during-outage']);
        expect(a.stats().reconnects).toBeGreaterThanOrEqual(1);
        expect(b.stats().reconnects).toBeGreaterThanOrEqual(1);
        expect(b.stats().errors).toBeGreaterThanOrEqual(1);
      } finally {
        admin.destroy();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('node-redis by itself resubscribes a plain client after a restart (the fact RedisTopics builds on)', async () => {
    const sub = createClient({ url: redis.url, socket: { reconnectStrategy: 100 } });
    sub.on('error', () => {});
    await sub.connect();
    const got: string[] = [];
    await sub.subscribe('plain:x', (m) => got.push(m));
    await redis.kill();
    await redis.restart();
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await until(async () => Number(((await admin.sendCommand(['PUBSUB', 'NUMSUB', 'plain:x'])) as unknown[])[1]) === 1, 8000, 'node-redis resubscribed');
      await admin.publish('plain:x', 'hi');
      await until(() => got.length === 1);
    } finally {
      admin.destroy();
      sub.destroy();
    }
  });

  test('a SUBSCRIBE in flight when Redis dies is made once Redis is back', async () => {
    const a = await redisTopics({ url: redis.url, maxReconnectDelay: 200, onError: () => {} });
    const b = await redisTopics({ url: redis.url, maxReconnectDelay: 200, onError: () => {} });
    try {
      const got = recorder(b);
      b.subscribe(fakeSocket(1), 'inflight'); // not awaited
      const killed = redis.kill();
      b.subscribe(fakeSocket(2), 'inflight-2');
      await killed;
      b.subscribe(fakeSocket(3), 'offline');
      await redis.restart();
      await until(() => a.stats().connected === 1 && b.stats().connected === 1, 8000, 'reconnected');
      await until(async () => {
        await b.settled();
        return b.stats().subscriptions === 3;
      }, 8000, 'three subscriptions');
      for (const t of ['inflight', 'inflight-2', 'offline']) await a.publish(t, Buffer.from(t), false);
      await until(() => got.length === 3, 5000, 'three deliveries');
      expect(got.map((d) => d.topic).sort()).toEqual(['inflight', 'inflight-2', 'offline']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('close() during an outage does not hang', async () => {
    const a = await redisTopics({ url: redis.url, maxReconnectDelay: 200, onError: () => {} });
    a.subscribe(fakeSocket(1), 'x');
    await a.settled();
    await redis.kill();
    try {
      const t0 = Date.now();
      await a.close();
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      await redis.restart();
    }
  });
});

// Several wsgate server processes sharing topics through a real redis-server, with real `ws`
// clients on each (test/fixtures/redis-instance.ts is the server): cross-instance publish,
// subscribe/unsubscribe races, Redis killed and restarted, no leaked subscriptions, an
// instance dying, sharded pub/sub and node:cluster.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createClient } from 'redis';
import WsClient from 'ws';
import { describeRedis, type RedisServer, startRedis } from '../helpers/redis-server';

jest.setTimeout(60000);

const ROOT = path.join(__dirname, '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'redis-instance.ts');

interface Instance {
  port: number;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  stats(): Promise<{ pid: number; endpoint: any; topics: Record<string, number> }>;
  /** SIGTERM (graceful), SIGKILL after 8 s. */
  stop(): Promise<void>;
  /** SIGKILL: the instance dies without closing anything. */
  kill(): Promise<void>;
  log(): string;
}

const instances = new Set<Instance>();

async function startInstance(redisUrl: string, env: Record<string, string> = {}): Promise<Instance> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', FIXTURE], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, TS_NODE_TRANSPILE_ONLY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const [port, pid] = await new Promise<[number, number]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance did not start in 30 s: ${err}`)), 30000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /READY (\d+) (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve([Number(m[1]), Number(m[2])]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited (${code}) before READY: ${err}`));
    });
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, sig);
      const force = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, 'SIGKILL'), 8000);
      await exited;
      clearTimeout(force);
    }
    instances.delete(inst);
  };
  const inst: Instance = {
    port,
    pid,
    child,
    exited,
    stats: async () => (await fetch(`http://127.0.0.1:${port}/stats`)).json() as never,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    log: () => err,
  };
  instances.add(inst);
  return inst;
}

type Msg = { data: Buffer; binary: boolean };

interface Client {
  ws: WsClient;
  /** Messages after the hello, acks excluded. */
  got: Msg[];
  /** The pid of the process that serves this socket. */
  pid: number;
  /** Sends a sub:/unsub: command; resolves when its answer came (wait = false: at once). */
  command(cmd: string, wait?: boolean): Promise<void>;
  closed: Promise<number>;
}

const clients = new Set<Client>();

async function connect(inst: Instance, query: Record<string, string> = {}): Promise<Client> {
  const qs = new URLSearchParams(query).toString();
  const ws = new WsClient(`ws://127.0.0.1:${inst.port}/ws${qs ? `?${qs}` : ''}`);
  const got: Msg[] = [];
  const acks: string[] = [];
  const waiting = new Map<string, () => void>();
  let seq = 0;
  let hello: (pid: number) => void;
  const helloP = new Promise<number>((r) => (hello = r));
  let greeted = false;
  ws.on('message', (data: Buffer, binary) => {
    const text = binary ? '' : data.toString();
    if (!greeted) {
      greeted = true;
      hello(Number(/^hello:(\d+)$/.exec(text)?.[1] ?? NaN));
      return;
    }
    if (!binary && text.startsWith('ok:')) {
      acks.push(text);
      waiting.get(text)?.();
      return;
    }
    got.push({ data: Buffer.from(data), binary });
  });
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  const pid = await withTimeout(helloP, 10000, 'hello');
  const client: Client = {
    ws,
    got,
    pid,
    closed,
    command: (cmd, wait = true) => {
      const ack = `ok:${++seq}:${cmd}`;
      ws.send(cmd);
      if (!wait) return Promise.resolve();
      const p = new Promise<void>((r) => waiting.set(ack, r));
      return withTimeout(p, 10000, ack);
    },
  };
  clients.add(client);
  return client;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

async function until(check: () => boolean | Promise<boolean>, ms = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function closeClient(c: Client): Promise<number> {
  c.ws.close(1000);
  clients.delete(c);
  return withTimeout(c.closed, 5000, 'client close');
}

afterEach(async () => {
  for (const c of clients) c.ws.terminate();
  clients.clear();
});

afterAll(async () => {
  await Promise.all([...instances].map((i) => i.stop()));
});

function adminFor(redis: RedisServer) {
  const admin = createClient({ url: redis.url, socket: { reconnectStrategy: 100 } });
  admin.on('error', () => {});
  return {
    client: admin,
    numsub: async (...topics: string[]): Promise<number[]> => {
      const r = (await admin.sendCommand(['PUBSUB', 'NUMSUB', ...topics.map((t) => `wsgate:${t}`)])) as unknown[];
      return topics.map((_, i) => Number(r[2 * i + 1]));
    },
    channels: async (): Promise<string[]> =>
      ((await admin.sendCommand(['PUBSUB', 'CHANNELS', 'wsgate:*'])) as Buffer[]).map(String).sort(),
  };
}

describeRedis('two server processes on one Redis', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof adminFor>;
  let A: Instance;
  let B: Instance;

  beforeAll(async () => {
    redis = await startRedis();
    admin = adminFor(redis);
    await admin.client.connect();
    [A, B] = await Promise.all([startInstance(redis.url), startInstance(redis.url)]);
  }, 60000);

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    admin?.client.destroy();
    await redis?.stop();
  });

  test('text, binary (not UTF-8), 1 MiB and empty messages reach every instance once, with their type', async () => {
    const a1 = await connect(A, { sub: 'room' });
    const b1 = await connect(B, { sub: 'room' });
    const b2 = await connect(B, { sub: 'room,other' });
    const other = await connect(A, { sub: 'other' });
    const pub = await connect(A, { pub: 'room' });
    expect(await admin.numsub('room', 'other')).toEqual([2, 2]);

    const mib = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < mib.length; i++) mib[i] = (i * 31 + 7) & 0xff;
    const bigText = 'é☃x'.repeat(Math.ceil((1024 * 1024) / 6)); // over 1 MiB of UTF-8
    const sent: [string | Buffer, boolean][] = [
      ['hello from A', false],
      [Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]), true],
      ['', false],
      [Buffer.alloc(0), true],
      [mib, true],
      [bigText, false],
      ['{"json":"as text"}', false],
    ];
    for (const [data, binary] of sent) pub.ws.send(data, { binary });

    const expected = sent.map(([d, binary]) => ({ data: Buffer.from(d as never), binary }));
    for (const c of [a1, b1, b2]) await until(() => c.got.length >= expected.length, 10000, 'all messages');
    await sleep(200); // nothing more arrives: no duplicates
    for (const c of [a1, b1, b2]) {
      expect(c.got.length).toBe(expected.length);
      c.got.forEach((m, i) => {
        expect(m.binary).toBe(expected[i].binary);
        expect(m.data.equals(expected[i].data)).toBe(true);
      });
    }
    expect(other.got).toEqual([]);
    expect(pub.got).toEqual([]);

    const [sa, sb] = await Promise.all([A.stats(), B.stats()]);
    expect(sa.topics).toMatchObject({ published: sent.length, dropped: 0 });
    expect(sa.topics.echoes).toBe(sent.length); // Redis echoed them to A, which ignored them
    expect(sb.topics.received).toBe(sent.length);
  });

  test('either side publishes; each subscriber gets each message exactly once', async () => {
    const a1 = await connect(A, { sub: 'both' });
    const b1 = await connect(B, { sub: 'both' });
    const pa = await connect(A, { pub: 'both' });
    const pb = await connect(B, { pub: 'both' });
    for (let i = 0; i < 50; i++) {
      pa.ws.send(`a${i}`);
      pb.ws.send(`b${i}`);
    }
    for (const c of [a1, b1]) await until(() => c.got.length >= 100, 10000, '100 messages');
    await sleep(200);
    for (const c of [a1, b1]) {
      const texts = c.got.map((m) => m.data.toString());
      expect(texts.length).toBe(100);
      expect(new Set(texts).size).toBe(100);
      // Per publisher, order is kept.
      expect(texts.filter((t) => t[0] === 'a')).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
      expect(texts.filter((t) => t[0] === 'b')).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`));
    }
  });

  test('subscribe/unsubscribe races: Redis ends matching the sockets, delivery follows', async () => {
    const c = await connect(B);
    // 41 changes sent back to back: the last one (sub) wins.
    for (let i = 0; i < 20; i++) {
      void c.command('sub:race', false);
      void c.command('unsub:race', false);
    }
    await c.command('sub:race');
    expect(await admin.numsub('race')).toEqual([1]);
    const pub = await connect(A, { pub: 'race' });
    pub.ws.send('one');
    await until(() => c.got.length === 1, 5000, "'one' delivered");
    await sleep(150);
    expect(c.got.map((m) => m.data.toString())).toEqual(['one']);

    // Many sockets joining and leaving at once on both instances.
    const joiners = await Promise.all(Array.from({ length: 16 }, (_, i) => connect(i % 2 ? A : B, { sub: 'crowd' })));
    expect(await admin.numsub('crowd')).toEqual([2]);
    await Promise.all(joiners.slice(0, 15).map(closeClient));
    const last = joiners[15]; // on A
    await until(async () => (await admin.numsub('crowd'))[0] === 1, 5000, 'B left crowd');
    await closeClient(last);
    await until(async () => (await admin.numsub('crowd'))[0] === 0, 5000, 'A left crowd');

    await c.command('unsub:race');
    expect(await admin.numsub('race')).toEqual([0]);
  });

  test('no subscriptions leak once the sockets leave', async () => {
    const topics = Array.from({ length: 40 }, (_, i) => `leak:${i}`);
    const cs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => connect(i % 2 ? A : B, { sub: topics.filter((_, j) => j % 20 === i || j % 7 === i % 7).join(',') })),
    );
    expect((await admin.channels()).filter((ch) => ch.startsWith('wsgate:leak:')).length).toBe(40);
    // Half leave politely, half are cut off.
    await Promise.all(cs.map((c, i) => (i % 2 ? closeClient(c) : (c.ws.terminate(), clients.delete(c), c.closed))));
    await until(async () => (await admin.channels()).length === 0, 8000, 'no channels left');
    const [sa, sb] = await Promise.all([A.stats(), B.stats()]);
    expect(sa.topics.subscriptions).toBe(0);
    expect(sb.topics.subscriptions).toBe(0);
  });

  test('a thousand topics across two instances', async () => {
    const topics = Array.from({ length: 1000 }, (_, i) => `k:${i}`);
    // 10 sockets on B, 100 topics each; one publisher on A per topic would be 1000 sockets,
    // so a single A socket publishes to one topic and the others are checked by NUMSUB.
    const subs = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(B, { sub: topics.slice(i * 100, i * 100 + 100).join(',') })));
    const counts = await admin.numsub(...topics);
    expect(counts.every((n) => n === 1)).toBe(true);
    const pubs = await Promise.all([0, 333, 999].map((i) => connect(A, { pub: `k:${i}` })));
    for (const p of pubs) p.ws.send('ping');
    await until(() => subs[0].got.length + subs[3].got.length + subs[9].got.length === 3, 5000, 'three deliveries');
    await Promise.all(subs.map(closeClient));
    await until(async () => (await admin.channels()).length === 0, 8000, 'released');
  });

  test("a socket that stops reading is cut by its instance's backpressure policy; the rest get everything", async () => {
    const D = await startInstance(redis.url, { MAX_BACKPRESSURE: String(2 * 1024 * 1024) });
    try {
      const slow = await connect(D, { sub: 'flood' });
      const fast = await connect(D, { sub: 'flood' });
      slow.ws.pause(); // reads nothing more: D's send buffer for it grows
      const pub = await connect(A, { pub: 'flood' });
      const chunk = Buffer.alloc(256 * 1024, 1);
      // 24 MiB through Redis, paced so that a reading client keeps up: more than the kernel's
      // socket buffers can hide for the paused one.
      for (let i = 0; i < 96; i++) {
        pub.ws.send(chunk);
        await sleep(10);
      }
      await until(() => fast.got.length === 96, 20000, 'fast subscriber got all').catch(async (e) => {
        throw new Error(`${e.message}: fast got ${fast.got.length}, A ${JSON.stringify((await A.stats()).topics)}, D ${JSON.stringify(await D.stats())}`);
      });
      await until(async () => (await D.stats()).endpoint.connections === 1, 10000, 'slow socket cut');
      const d = await D.stats();
      expect(d.endpoint.backpressureEvents).toBeGreaterThanOrEqual(1);
      expect(d.topics.received).toBe(96);
      expect(D.child.exitCode).toBeNull();
      slow.ws.resume();
      await withTimeout(slow.closed, 5000, 'slow client closed');
    } finally {
      await D.stop();
    }
  });

  test('an instance that dies: Redis drops its subscriptions, the others carry on', async () => {
    const C = await startInstance(redis.url);
    const onC = await connect(C, { sub: 'survive' });
    const onA = await connect(A, { sub: 'survive' });
    const pub = await connect(B, { pub: 'survive' });
    expect(await admin.numsub('survive')).toEqual([2]);
    await C.kill();
    expect(await withTimeout(onC.closed, 5000, 'C socket closed')).toBe(1006);
    await until(async () => (await admin.numsub('survive'))[0] === 1, 5000, "C's subscription gone");
    pub.ws.send('still here');
    await until(() => onA.got.length === 1);
    expect(onA.got[0].data.toString()).toBe('still here');
  });
});

describeRedis('Redis killed and restarted under two server processes', () => {
  let redis: RedisServer;
  let A: Instance;
  let B: Instance;

  beforeAll(async () => {
    redis = await startRedis();
    [A, B] = await Promise.all([startInstance(redis.url), startInstance(redis.url)]);
  }, 60000);

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await redis?.stop();
  });

  test('during the outage local delivery goes on and cross-instance publishes are dropped and counted; afterwards all topics work again', async () => {
    const a1 = await connect(A, { sub: 'room,second' });
    const b1 = await connect(B, { sub: 'room' });
    const b2 = await connect(B, { sub: 'second' });
    const pa = await connect(A, { pub: 'room' });
    pa.ws.send('before');
    await until(() => a1.got.length === 1 && b1.got.length === 1);

    await redis.kill();
    await until(async () => (await A.stats()).topics.connected === 0, 5000, 'A noticed the outage');
    pa.ws.send('during');
    await until(() => a1.got.length === 2, 3000, 'local delivery during the outage');
    // A new subscriber on B during the outage: it must be subscribed once Redis is back.
    const b3 = await connect(B, { sub: 'joined-during-outage', nowait: '1' });
    expect(b3.pid).toBe(B.pid);
    await sleep(300);
    expect(b1.got.map((m) => m.data.toString())).toEqual(['before']); // dropped, not delayed
    const sa = await A.stats();
    expect(sa.topics.dropped).toBeGreaterThanOrEqual(1);

    await redis.restart();
    const admin = adminFor(redis);
    await admin.client.connect();
    try {
      await until(async () => {
        const [room, second, joined] = await admin.numsub('room', 'second', 'joined-during-outage');
        return room === 2 && second === 2 && joined === 1;
      }, 10000, 'every topic subscribed again');
      await until(async () => (await A.stats()).topics.connected === 1, 5000, 'A reconnected');
      pa.ws.send('after');
      const pj = await connect(A, { pub: 'joined-during-outage' });
      pj.ws.send('new topic works');
      const pSecond = await connect(B, { pub: 'second' });
      pSecond.ws.send('second works');
      await until(() => b1.got.length === 2 && b3.got.length === 1 && a1.got.length === 4, 5000, 'deliveries after restart');
      await sleep(200);
      expect(b1.got.map((m) => m.data.toString())).toEqual(['before', 'after']);
      expect(a1.got.map((m) => m.data.toString())).toEqual(['before', 'during', 'after', 'second works']);
      expect(b3.got.map((m) => m.data.toString())).toEqual(['new topic works']);
      expect(b2.got.map((m) => m.data.toString())).toEqual(['second works']);
      const [a, b] = await Promise.all([A.stats(), B.stats()]);
      expect(a.topics.reconnects).toBeGreaterThanOrEqual(1);
      expect(b.topics.reconnects).toBeGreaterThanOrEqual(1);
      // Both instances lived through it.
      expect(A.child.exitCode).toBeNull();
      expect(B.child.exitCode).toBeNull();
    } finally {
      admin.client.destroy();
    }
  });
});

describeRedis('sharded pub/sub across processes', () => {
  let redis: RedisServer;
  let A: Instance;
  let B: Instance;

  beforeAll(async () => {
    redis = await startRedis();
    [A, B] = await Promise.all([startInstance(redis.url, { REDIS_SHARDED: '1' }), startInstance(redis.url, { REDIS_SHARDED: '1' })]);
  }, 60000);

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await redis?.stop();
  });

  test('SPUBLISH/SSUBSCRIBE carry messages between instances and are released', async () => {
    const admin = adminFor(redis);
    await admin.client.connect();
    try {
      const b1 = await connect(B, { sub: 'shard' });
      const pa = await connect(A, { pub: 'shard' });
      const shardnumsub = async () => Number(((await admin.client.sendCommand(['PUBSUB', 'SHARDNUMSUB', 'wsgate:shard'])) as unknown[])[1]);
      expect(await shardnumsub()).toBe(1);
      pa.ws.send(Buffer.from([9, 8, 7]));
      pa.ws.send('text');
      await until(() => b1.got.length === 2);
      expect(b1.got[0]).toEqual({ data: Buffer.from([9, 8, 7]), binary: true });
      expect(b1.got[1]).toEqual({ data: Buffer.from('text'), binary: false });
      await closeClient(b1);
      await until(async () => (await shardnumsub()) === 0, 5000, 'shard subscription released');
    } finally {
      admin.client.destroy();
    }
  });
});

describeRedis('node:cluster workers share topics through Redis', () => {
  let redis: RedisServer;
  let P: Instance;

  beforeAll(async () => {
    redis = await startRedis();
    P = await startInstance(redis.url, { CLUSTER_WORKERS: '2' });
  }, 60000);

  afterAll(async () => {
    await P?.stop();
    await redis?.stop();
  });

  test('subscribers on both workers get a message published on one, once each', async () => {
    // The primary spreads connections over the workers: connect until both have some.
    const subs: Client[] = [];
    for (let i = 0; i < 30 && (subs.length < 4 || new Set(subs.map((s) => s.pid)).size < 2); i++) {
      subs.push(await connect(P, { sub: 'cl' }));
    }
    const pids = new Set(subs.map((s) => s.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(P.pid)).toBe(false); // served by workers, not by the primary
    const pub = await connect(P, { pub: 'cl' });
    pub.ws.send('to all workers');
    pub.ws.send(Buffer.from([0xde, 0xad]));
    for (const s of subs) await until(() => s.got.length >= 2, 5000, 'delivery to every worker');
    await sleep(200);
    for (const s of subs) {
      expect(s.got).toEqual([
        { data: Buffer.from('to all workers'), binary: false },
        { data: Buffer.from([0xde, 0xad]), binary: true },
      ]);
    }
    await Promise.all(subs.map(closeClient));
    const admin = adminFor(redis);
    await admin.client.connect();
    try {
      await until(async () => (await admin.channels()).length === 0, 5000, 'released');
    } finally {
      admin.client.destroy();
    }
  });
});

// examples/redis-room: two processes on two ports and a real redis-server; a message sent to
// instance A's room reaches the room's client on instance B, and no other room.
import type WsClient from 'ws';
import { describeRedis, type RedisServer, startRedis } from '../helpers/redis-server';
import { connect, delay, type ExampleProcess, inbox, runExample, until } from './run-example';

describeRedis('examples/redis-room', () => {
  let redis: RedisServer;
  let a: ExampleProcess;
  let b: ExampleProcess;
  const clients: WsClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([
      runExample('redis-room/server.ts', { REDIS_URL: redis.url, NAME: 'a' }),
      runExample('redis-room/server.ts', { REDIS_URL: redis.url, NAME: 'b' }),
    ]);
  }, 40000);

  afterAll(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.stop();
  });

  async function join(instance: ExampleProcess, room: string): Promise<WsClient> {
    const client = await connect(`ws://127.0.0.1:${instance.port}/room/${room}`);
    clients.push(client);
    return client;
  }

  /** Subscribers Redis counts for a topic's channel (one per instance with local subscribers). */
  async function numsub(topic: string): Promise<number> {
    const reply = await redis.command('PUBSUB', 'NUMSUB', `wsgate:${topic}`);
    return Number(/:(\d+)\r\n$/.exec(reply)?.[1] ?? -1);
  }

  async function waitNumsub(topic: string, n: number): Promise<void> {
    for (let i = 0; i < 200 && (await numsub(topic)) !== n; i++) await delay(25);
    expect(await numsub(topic)).toBe(n);
  }

  test('two ports, one room: a message to instance A reaches the client on instance B', async () => {
    expect(a.port).not.toBe(b.port);
    const onA = await join(a, 'lobby');
    const onB = await join(b, 'lobby');
    const elsewhere = await join(b, 'kitchen');
    await waitNumsub('room:lobby', 2); // both instances subscribed in Redis
    await waitNumsub('room:kitchen', 1);
    const [toA, toB, toElsewhere] = [inbox(onA), inbox(onB), inbox(elsewhere)];

    onA.send('hello from a');
    await until(() => toB.length === 1, 5000, 'delivery to instance b');
    expect(JSON.parse(toB[0])).toEqual({ via: 'a', text: 'hello from a' });

    onB.send('hello from b');
    await until(() => toA.length === 1, 5000, 'delivery to instance a');
    expect(JSON.parse(toA[0])).toEqual({ via: 'b', text: 'hello from b' });

    await delay(150);
    expect(toA).toHaveLength(1); // not its own message
    expect(toB).toHaveLength(1);
    expect(toElsewhere).toHaveLength(0); // another room on the same instance
  });

  test('when the sockets leave, the instances drop their Redis subscriptions; SIGTERM exits 0', async () => {
    for (const c of clients.splice(0)) c.close();
    await waitNumsub('room:lobby', 0);
    await waitNumsub('room:kitchen', 0);
    const onB = await join(b, 'lobby');
    const closed = new Promise<number>((resolve) => onB.once('close', (code) => resolve(code)));
    process.kill(a.child.pid!, 'SIGTERM');
    process.kill(b.child.pid!, 'SIGTERM');
    expect(await closed).toBe(1001);
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    expect(await redis.command('PUBSUB', 'CHANNELS', 'wsgate:*')).toBe('*0\r\n');
  }, 30000);
});

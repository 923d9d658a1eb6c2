// examples/chat: cookie auth before the upgrade, rooms by topics, the sender left out, and a
// SIGTERM shutdown of the process running it.
import type { AddressInfo } from 'node:net';
import type WsClient from 'ws';
import { createChat } from '../../examples/chat/server';
import { connect, delay, inbox, runExample, until, type ExampleProcess } from './run-example';

const clients: WsClient[] = [];

/** Logs in and returns the signed cookie. */
async function login(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/login?name=${name}`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const cookie = res.headers.get('set-cookie') ?? '';
  expect(cookie).toMatch(/^user=s%3A/); // signed
  return cookie.split(';')[0];
}

async function join(port: number, room: string, cookie: string): Promise<WsClient> {
  const client = await connect(`ws://127.0.0.1:${port}/chat/${room}`, { headers: { cookie } });
  clients.push(client);
  return client;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});

describe('in process', () => {
  let chat: ReturnType<typeof createChat>;
  let port: number;
  let base: string;

  beforeEach(async () => {
    chat = createChat('test secret');
    await new Promise<void>((resolve) => chat.server.listen(0, '127.0.0.1', resolve));
    port = (chat.server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });

  afterEach(() => chat.shutdown());

  test('without the cookie, or with a forged one, the upgrade gets 401', async () => {
    await expect(connect(`ws://127.0.0.1:${port}/chat/lobby`)).rejects.toMatchObject({ status: 401 });
    const forged = 'user=s%3Amallory.AAAA';
    await expect(connect(`ws://127.0.0.1:${port}/chat/lobby`, { headers: { cookie: forged } })).rejects.toMatchObject({ status: 401 });
    expect(chat.endpoint.stats().rejected).toEqual({ 401: 2 });
  });

  test('two users in a room get each other’s messages, never their own; another room hears nothing', async () => {
    const alice = await join(port, 'lobby', await login(base, 'alice'));
    const bob = await join(port, 'lobby', await login(base, 'bob'));
    const carol = await join(port, 'kitchen', await login(base, 'carol'));
    const [toAlice, toBob, toCarol] = [inbox(alice), inbox(bob), inbox(carol)];

    alice.send('hi bob');
    await until(() => toBob.length === 1);
    expect(JSON.parse(toBob[0])).toEqual({ user: 'alice', text: 'hi bob' });
    bob.send('hi alice');
    await until(() => toAlice.length === 1);
    expect(JSON.parse(toAlice[0])).toEqual({ user: 'bob', text: 'hi alice' });
    carol.send('anyone?');
    await delay(150);
    expect(toAlice).toHaveLength(1); // not her own message, not carol's
    expect(toBob).toHaveLength(1);
    expect(toCarol).toHaveLength(0); // alone in the kitchen, and not her own message either
  });

  test('the page and the login route', async () => {
    const cookie = await login(base, 'dave');
    const page = await fetch(`${base}/`, { headers: { cookie } });
    expect(await page.text()).toContain("'/chat/'");
    expect((await fetch(`${base}/login?name=no%20spaces`)).status).toBe(400);
  });
});

describe('as a process', () => {
  let app: ExampleProcess | undefined;

  afterEach(async () => {
    await app?.kill();
    app = undefined;
  });

  test('SIGTERM: clients get 1001 and the process exits 0', async () => {
    app = await runExample('chat/server.ts', { COOKIE_SECRET: 'process secret' });
    const base = `http://127.0.0.1:${app.port}`;
    const alice = await join(app.port, 'lobby', await login(base, 'alice'));
    const bob = await join(app.port, 'lobby', await login(base, 'bob'));
    const toBob = inbox(bob);
    alice.send('before shutdown');
    await until(() => toBob.length === 1);

    const closes = [alice, bob].map(
      (c) => new Promise<[number, string]>((resolve) => c.once('close', (code, reason) => resolve([code, reason.toString()]))),
    );
    process.kill(app.child.pid!, 'SIGTERM');
    expect(await Promise.all(closes)).toEqual([
      [1001, 'server shutting down'],
      [1001, 'server shutting down'],
    ]);
    expect(await app.exited).toBe(0);
  }, 30000);
});

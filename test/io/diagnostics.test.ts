// Lifecycle events on node:diagnostics_channel: each channel's message, with real clients;
// and without subscribers, no message is ever built.
import diagnostics_channel from 'node:diagnostics_channel';
import WsClient from 'ws';
import { attachWebSocket, channels, type AttachOptions, type Endpoint, type Handler, type WebSocket } from '../../src';
import { build } from '../../src/io/diagnostics';
import { once, startServer, type TestServer } from '../helpers/server';

let srv: TestServer | undefined;
let endpoint: Endpoint | undefined;
const clients: WsClient[] = [];
const subscriptions: [string, (message: unknown) => void][] = [];

afterEach(async () => {
  for (const [name, fn] of subscriptions.splice(0)) diagnostics_channel.unsubscribe(name, fn);
  for (const c of clients.splice(0)) c.terminate();
  await endpoint?.close({ timeout: 100 });
  await srv?.close();
  srv = endpoint = undefined;
  jest.restoreAllMocks();
});

/** Collects what a channel publishes, until the test ends. */
function listen<T = Record<string, unknown>>(name: string): T[] {
  const seen: T[] = [];
  const fn = (message: unknown) => seen.push(message as T);
  diagnostics_channel.subscribe(name, fn);
  subscriptions.push([name, fn]);
  return seen;
}

async function start(handler: Handler = () => {}, options: AttachOptions = {}): Promise<TestServer> {
  srv = await startServer();
  endpoint = attachWebSocket(srv.server, handler, { path: '/diag', heartbeat: false, ...options });
  return srv;
}

function client(path = '/diag', options: WsClient.ClientOptions & { protocols?: string[] } = {}): WsClient {
  const { protocols, ...rest } = options;
  const c = new WsClient(srv!.url(path), protocols, rest);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** Resolves with the HTTP status of a refused handshake. */
function refusedStatus(c: WsClient): Promise<number> {
  return new Promise((resolve, reject) => {
    c.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    c.once('open', () => reject(new Error('the handshake was accepted')));
  });
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('the channel names are a frozen object exported from the package', () => {
  expect(channels).toEqual({
    handshakeAccepted: 'wsgate:handshake:accepted',
    handshakeRefused: 'wsgate:handshake:refused',
    socketOpen: 'wsgate:socket:open',
    socketClose: 'wsgate:socket:close',
    error: 'wsgate:error',
  });
  expect(Object.isFrozen(channels)).toBe(true);
});

test('handshake:accepted carries path (without query), transport, address, protocol, extensions', async () => {
  const accepted = listen(channels.handshakeAccepted);
  await start(() => {}, { protocols: ['chat'], perMessageDeflate: true });
  const c = client('/diag?token=1', { protocols: ['other', 'chat'] });
  await once(c, 'open');
  expect(accepted).toHaveLength(1);
  const msg = accepted[0];
  expect(msg).toMatchObject({ path: '/diag', transport: 'http/1.1', remoteAddress: '127.0.0.1', protocol: 'chat' });
  expect(msg.extensions).toMatch(/^permessage-deflate/);
  expect(msg.extensions).toBe(c.extensions);
  expect((msg.req as { url: string }).url).toBe('/diag?token=1');
});

test('handshake:refused: origin, middleware, verify and shutdown, each with status, reason and cause', async () => {
  const refused = listen(channels.handshakeRefused);
  await start(() => {}, {
    origins: ['http://good.example'],
    use: [
      (req: { headers: Record<string, string | undefined> }, res: { statusCode: number; end(b: string): void }, next: () => void) => {
        if (req.headers['x-user'] === undefined) {
          res.statusCode = 401;
          return res.end('who are you?');
        }
        next();
      },
    ],
    verify: (req) => req.headers['x-user'] !== 'mallory',
  });
  const good = { origin: 'http://good.example' };
  expect(await refusedStatus(client('/diag', { origin: 'http://evil.example', headers: { 'x-user': 'a' } }))).toBe(403);
  expect(await refusedStatus(client('/diag', good))).toBe(401);
  expect(await refusedStatus(client('/diag', { ...good, headers: { 'x-user': 'mallory' } }))).toBe(401);
  await until(() => refused.length === 3);
  expect(refused[0]).toMatchObject({ status: 403, cause: 'origin', path: '/diag', transport: 'http/1.1', remoteAddress: '127.0.0.1' });
  expect(refused[0].reason).toEqual(expect.any(String));
  expect(refused[1]).toMatchObject({ status: 401, cause: 'middleware', reason: 'Unauthorized', path: '/diag' });
  expect(refused[2]).toMatchObject({ status: 401, cause: 'guard', path: '/diag' });

  void endpoint!.close();
  expect(await refusedStatus(client('/diag', { ...good, headers: { 'x-user': 'a' } }))).toBe(503);
  await until(() => refused.length === 4);
  expect(refused[3]).toMatchObject({ status: 503, cause: 'shuttingDown', reason: 'Server is shutting down' });
});

test('handshake:refused for a request that is not a valid handshake has cause "handshake"', async () => {
  const refused = listen(channels.handshakeRefused);
  await start();
  const c = client('/diag', { protocolVersion: 8 });
  expect(await refusedStatus(c)).toBeGreaterThanOrEqual(400);
  await until(() => refused.length === 1);
  expect(refused[0]).toMatchObject({ cause: 'handshake', path: '/diag' });
  expect(Object.keys(endpoint!.stats().rejected)).toEqual([String(refused[0].status)]);
});

test('socket:open gives the socket the handler gets, before the handler runs', async () => {
  const opened = listen<{ socket: WebSocket; transport: string }>(channels.socketOpen);
  let handlerSawOpen = -1;
  let handled: WebSocket | undefined;
  await start((socket) => {
    handlerSawOpen = opened.length;
    handled = socket;
  });
  await once(client(), 'open');
  expect(opened).toHaveLength(1);
  expect(handlerSawOpen).toBe(1);
  expect(opened[0].socket).toBe(handled);
  expect(opened[0].transport).toBe('http/1.1');
});

test('socket:close: code, reason, duration, bytes and messages of that connection', async () => {
  const closed = listen<Record<string, number | string | WebSocket>>(channels.socketClose);
  let server: WebSocket | undefined;
  await start((socket) => {
    server = socket;
    socket.on('message', (data) => socket.send(data));
  });
  const c = client('/diag', { perMessageDeflate: false });
  await once(c, 'open');
  const echoes: string[] = [];
  c.on('message', (d) => echoes.push(d.toString()));
  c.send('hello');
  c.send('world');
  await until(() => echoes.length === 2);
  await new Promise((r) => setTimeout(r, 30));
  c.close(4000, 'bye');
  await once(c, 'close');
  await until(() => closed.length === 1);
  const msg = closed[0];
  expect(msg.socket).toBe(server);
  expect(msg).toMatchObject({ code: 4000, reason: 'bye', messagesIn: 2, messagesOut: 2 });
  // In: two masked 5-byte text frames (2 + 4 + 5 each) and a masked close (2 + 4 + 2 + 3).
  expect(msg.bytesIn).toBe(2 * 11 + 11);
  // Out: two unmasked 5-byte frames (2 + 5 each) and the close echoing the code (2 + 2).
  expect(msg.bytesOut).toBe(2 * 7 + 4);
  expect(msg.durationMs).toBeGreaterThanOrEqual(25);
  expect(msg.durationMs).toBeLessThan(5000);
  // The only connection: the endpoint's totals are the same.
  const stats = endpoint!.stats();
  expect([stats.bytesIn, stats.bytesOut, stats.messagesIn, stats.messagesOut]).toEqual([msg.bytesIn, msg.bytesOut, 2, 2]);
});

test('socket:close per connection: two sockets count apart; a terminated one reports 1006', async () => {
  const closed = listen<Record<string, unknown>>(channels.socketClose);
  const sockets: WebSocket[] = [];
  await start((socket) => {
    sockets.push(socket);
    socket.on('message', (data) => socket.send(data));
  });
  const a = client('/diag', { perMessageDeflate: false });
  const b = client('/diag', { perMessageDeflate: false });
  await Promise.all([once(a, 'open'), once(b, 'open')]);
  let got = 0;
  b.on('message', () => got++);
  for (let i = 0; i < 3; i++) b.send('x');
  await until(() => got === 3);
  a.terminate();
  await until(() => closed.length === 1);
  expect(closed[0]).toMatchObject({ code: 1006, reason: '', messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });
  b.close(1000);
  await until(() => closed.length === 2);
  expect(closed[1]).toMatchObject({ code: 1000, messagesIn: 3, messagesOut: 3, bytesIn: 3 * 7 + 8, bytesOut: 3 * 3 + 4 });
});

test('wsgate:error carries the error, the socket and the request', async () => {
  const errors = listen<{ error: Error; socket?: WebSocket; req?: { url: string } }>(channels.error);
  const reported: unknown[] = [];
  let server: WebSocket | undefined;
  await start(
    (socket) => {
      server = socket;
      throw new Error('handler bug');
    },
    { onError: (err) => reported.push(err) },
  );
  const c = client();
  await once(c, 'close');
  expect(errors).toHaveLength(1);
  expect(errors[0].error.message).toBe('handler bug');
  expect(errors[0].error).toBe(reported[0]);
  expect(errors[0].socket).toBe(server);
  expect(errors[0].req?.url).toBe('/diag');
});

test('wsgate:error from a throwing verify has the request and no socket', async () => {
  const errors = listen<{ error: Error; socket?: WebSocket; req?: unknown }>(channels.error);
  const refused = listen(channels.handshakeRefused);
  await start(() => {}, {
    verify: () => {
      throw new Error('verify bug');
    },
    onError: () => {},
  });
  expect(await refusedStatus(client())).toBe(500);
  await until(() => refused.length === 1);
  expect(errors).toHaveLength(1);
  expect(errors[0].error.message).toBe('verify bug');
  expect('socket' in errors[0]).toBe(false);
  expect(errors[0].req).toBeDefined();
  expect(refused[0]).toMatchObject({ status: 500, cause: 'guard' });
});

describe('without subscribers', () => {
  function spies() {
    return (['accepted', 'refused', 'open', 'close', 'error'] as const).map((name) => jest.spyOn(build, name));
  }

  async function exercise(): Promise<void> {
    await start(
      (socket) => {
        socket.on('message', (data) => {
          if (data === 'boom') throw new Error('listener bug');
          socket.send(data);
        });
      },
      { origins: ['http://good.example'], onError: () => {} },
    );
    expect(await refusedStatus(client('/diag', { origin: 'http://evil.example' }))).toBe(403);
    const c = client('/diag', { origin: 'http://good.example' });
    await once(c, 'open');
    c.send('hi');
    await once(c, 'message');
    c.send('boom');
    c.close();
    await once(c, 'close');
    await until(() => endpoint!.stats().connections === 0);
  }

  test('no message is built for any channel', async () => {
    for (const name of Object.values(channels)) expect(diagnostics_channel.channel(name).hasSubscribers).toBe(false);
    const builders = spies();
    await exercise();
    for (const spy of builders) expect(spy).not.toHaveBeenCalled();
    expect(endpoint!.stats()).toMatchObject({ accepted: 1, rejected: { 403: 1 }, messagesIn: 2, messagesOut: 1 });
  });

  test('(the same run with subscribers builds each message once per event)', async () => {
    for (const name of Object.values(channels)) listen(name);
    const builders = spies();
    await exercise();
    expect(builders.map((spy) => spy.mock.calls.length)).toEqual([1, 1, 1, 1, 1]);
  });
});

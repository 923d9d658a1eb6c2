// Headers a middleware sets before calling next() (a session cookie, a trace id) travel
// on the 101, as they would on an HTTP response; the handshake's own headers cannot be
// overridden that way.
import type { IncomingMessage } from 'node:http';
import cookieParser from 'cookie-parser';
import WebSocketClient from 'ws';
import { attachWebSocket } from '../../src';
import { RawClient, handshakeRequest } from '../helpers/raw-client';
import { once, startServer, type TestServer } from '../helpers/server';

let t: TestServer;
afterEach(() => t.close());

test('Set-Cookie and other headers set by middleware are sent with the 101', async () => {
  t = await startServer();
  attachWebSocket(t.server, (socket) => socket.send('hi'), {
    path: '/ws',
    use: [
      cookieParser(),
      (_req: unknown, res: any, next: () => void) => {
        res.cookie('sid', 'abc123', { httpOnly: true });
        res.cookie('theme', 'dark');
        res.setHeader('X-Trace', 't-1');
        res.setHeader('Sec-WebSocket-Accept', 'forged');
        res.setHeader('Content-Type', 'application/json');
        next();
      },
    ],
  });

  const client = await RawClient.connect(t.port);
  client.write(handshakeRequest('/ws', {}, t.port));
  await client.waitFor(() => client.head !== '');
  expect(client.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  const lines = client.head.split('\r\n');
  expect(lines.filter((l) => l.toLowerCase().startsWith('set-cookie:'))).toEqual([
    'set-cookie: sid=abc123; Path=/; HttpOnly',
    'set-cookie: theme=dark; Path=/',
  ]);
  expect(client.header('x-trace')).toBe('t-1');
  expect(lines.filter((l) => l.toLowerCase().startsWith('sec-websocket-accept:'))).toHaveLength(1);
  expect(client.header('sec-websocket-accept')).not.toBe('forged');
  expect(client.header('content-type')).toBeUndefined();
  await client.waitFor(() => client.frames.length > 0);
  expect(client.frames[0].payload.toString()).toBe('hi');
  client.destroy();
});

test('a real client sees the cookie on the upgrade response', async () => {
  t = await startServer();
  attachWebSocket(t.server, (socket) => socket.close(), {
    path: '/ws',
    use: (_req: unknown, res: any, next: () => void) => {
      res.cookie('sid', 'xyz');
      next();
    },
    verify: () => true,
  });
  const client = new WebSocketClient(t.url('/ws'));
  const [res] = await once<[IncomingMessage]>(client, 'upgrade');
  expect(res.headers['set-cookie']).toEqual(['sid=xyz; Path=/']);
  await once(client, 'close');
});

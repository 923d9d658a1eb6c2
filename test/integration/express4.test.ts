// wsgate declares express >=4.18 as an optional peer. Here the middleware runner itself
// loads Express 4 (the express4 alias), and the scenarios that differ most between Express
// 4 and 5 are checked: prototypes (res.status().json()), params, next(err), and an async
// middleware that rejects, which Express 4 itself would leave hanging.
jest.mock('express', () => jest.requireActual('express4'));

import cookieParser from 'cookie-parser';
import WebSocketClient from 'ws';
import { attachWebSocket, type AttachOptions } from '../../src';
import { handshakeRequest, RawClient } from '../helpers/raw-client';
import { once, startServer, type TestServer } from '../helpers/server';
import { parseRawResponse } from '../helpers/upgrade-clients';

let t: TestServer;
let started = false;
const errors: unknown[] = [];
afterEach(async () => {
  errors.length = 0;
  if (started) await t.close();
  started = false;
});

async function serve(options: AttachOptions): Promise<void> {
  t = await startServer();
  started = true;
  attachWebSocket(t.server, (socket, req) => socket.send(JSON.stringify({ user: (req as any).user, room: req.params.room })), {
    path: '/rooms/:room',
    onError: (err) => errors.push(err),
    ...options,
  });
}

async function refusal(headers: Record<string, string> = {}) {
  const client = await RawClient.connect(t.port);
  client.write(handshakeRequest('/rooms/blue', headers, t.port));
  await client.waitClosed();
  return parseRawResponse(client.received);
}

test('the runner really uses Express 4 here', () => {
  expect(require('express4/package.json').version).toMatch(/^4\./);
  expect(require('express')).toBe(require('express4'));
});

test('cookie auth passes: the handler sees req.user and the route params', async () => {
  await serve({
    use: [
      cookieParser(),
      (req: any, _res: any, next: () => void) => {
        expect(req.params.room).toBe('blue');
        req.user = req.cookies.sid === 'ok' ? 'ann' : undefined;
        next();
      },
    ],
  });
  const client = new WebSocketClient(t.url('/rooms/blue'), { headers: { Cookie: 'sid=ok' } });
  const [data] = await once<[Buffer]>(client, 'message');
  expect(JSON.parse(data.toString())).toEqual({ user: 'ann', room: 'blue' });
  client.close();
});

test('res.status(401).json() reaches the client exactly, with no 101', async () => {
  await serve({ use: (_req: any, res: any) => res.status(401).json({ error: 'log in' }) });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(res.body)).toEqual({ error: 'log in' });
});

test('next(err) with a status answers that status and reports the error', async () => {
  await serve({
    use: (_req: any, _res: any, next: (e: unknown) => void) => next(Object.assign(new Error('teapot'), { status: 418 })),
  });
  const res = await refusal();
  expect(res.statusLine).toBe("HTTP/1.1 418 I'm a Teapot");
  expect(res.body).toBe('teapot');
  expect(errors).toHaveLength(1);
});

test('an async middleware that rejects is a 500, not a hang', async () => {
  await serve({
    verifyTimeout: 60_000,
    use: async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('async boom');
    },
  });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
  expect((errors[0] as Error).message).toBe('async boom');
});

// Express middleware (`use`) before an HTTP/2 extended CONNECT, through the real endpoint.
// Shared by test/io/guards/middleware-h2.test.ts (Express 5) and
// test/integration/express4-h2.test.ts (Express 4 through the express4 alias).
import cookieParser from 'cookie-parser';
import type { AttachOptions } from '../../src';
import { H2WsClient } from './h2-client';
import { delay, type H2Site, startH2Site } from './h2-endpoint';

type Req = { user?: string; cookies?: Record<string, string>; params: Record<string, string> };

function requireUser(req: Req, res: any, next: () => void): void {
  if (req.cookies?.sid !== 'ok') {
    res.status(401).json({ error: 'log in' });
    return;
  }
  req.user = 'ann';
  next();
}

export function middlewareOverH2Cases(expressMajor: 4 | 5): void {
  let site: H2Site | null = null;
  let handled = 0;
  afterEach(async () => {
    await site?.close();
    site = null;
    handled = 0;
  });

  async function serve(options: AttachOptions): Promise<H2Site> {
    site = await startH2Site({ path: '/rooms/:room', ...options }, (socket, req) => {
      handled++;
      const r = req as unknown as Req;
      socket.send(JSON.stringify({ user: r.user, room: r.params.room, transport: socket.transportKind, url: req.url }));
    });
    return site;
  }

  async function request(path: string, headers: Record<string, string> = {}) {
    const { session } = await site!.session();
    const client = await H2WsClient.request(session, path, headers);
    return { client, session };
  }

  test(`Express ${expressMajor}: the runner really uses that Express`, () => {
    const pkg = expressMajor === 4 ? 'express4' : 'express';
    expect(require('express')).toBe(require(pkg));
    expect(require(`${pkg}/package.json`).version.startsWith(`${expressMajor}.`)).toBe(true);
  });

  test('cookie auth passes: the handler sees req.user and the route params, over h2', async () => {
    const seen: unknown[] = [];
    await serve({
      use: [
        cookieParser(),
        (req: Req, _res: unknown, next: () => void) => {
          seen.push({ ...req.params });
          next();
        },
        requireUser,
      ],
    });
    const { client } = await request('/rooms/blue?x=1', { cookie: 'sid=ok' });
    expect(client.status).toBe(200);
    await client.waitFor(() => client.frames.length > 0);
    expect(JSON.parse(client.frames[0].payload.toString())).toEqual({ user: 'ann', room: 'blue', transport: 'h2', url: '/rooms/blue?x=1' });
    expect(seen).toEqual([{ room: 'blue' }]);
    expect(site!.errors).toEqual([]);
  });

  test('no cookie: res.status(401).json() reaches the client as a real HTTP/2 401; the session lives on', async () => {
    await serve({ use: [cookieParser(), requireUser] });
    const { client, session } = await request('/rooms/blue');
    expect(client.status).toBe(401);
    expect(client.response!['content-type']).toMatch(/^application\/json/);
    await client.waitClosed();
    expect(JSON.parse(client.body)).toEqual({ error: 'log in' });
    expect(handled).toBe(0);
    expect(site!.endpoint.stats().rejected).toEqual({ 401: 1 });
    expect(site!.endpoint.stats().connections).toBe(0);
    // The same session still serves a WebSocket.
    const ok = await H2WsClient.open(session, '/rooms/red', { cookie: 'sid=ok' });
    await ok.waitFor(() => ok.frames.length > 0);
    expect(JSON.parse(ok.frames[0].payload.toString()).room).toBe('red');
    expect(session.destroyed).toBe(false);
  });

  test('Set-Cookie set by the middleware is carried onto the 200', async () => {
    await serve({
      use: (_req: unknown, res: any, next: () => void) => {
        res.cookie('seen', '1', { httpOnly: true });
        res.setHeader('x-trace', 'abc');
        next();
      },
    });
    const { client } = await request('/rooms/blue');
    expect(client.status).toBe(200);
    expect(client.response!['set-cookie']).toEqual(['seen=1; Path=/; HttpOnly']);
    expect(client.response!['x-trace']).toBe('abc');
    expect(client.response!['content-type']).toBeUndefined();
    await client.waitFor(() => client.frames.length > 0);
  });

  test('an async middleware that rejects is a 500 (reported), not a hang', async () => {
    await serve({
      verifyTimeout: 60_000,
      use: async () => {
        await delay(5);
        throw new Error('async boom');
      },
    });
    const { client } = await request('/rooms/blue');
    expect(client.status).toBe(500);
    await client.waitClosed();
    expect(client.body).toBe('Internal Server Error');
    expect((site!.errors[0] as Error).message).toBe('async boom');
    expect(handled).toBe(0);
  });

  test('next(err) with a status answers that status', async () => {
    await serve({ use: (_req: unknown, _res: unknown, next: (e: unknown) => void) => next(Object.assign(new Error('teapot'), { status: 418 })) });
    const { client } = await request('/rooms/blue');
    expect(client.status).toBe(418);
    await client.waitClosed();
    expect(client.body).toBe('teapot');
  });

  test('a middleware that never answers: 503 at verifyTimeout', async () => {
    await serve({ verifyTimeout: 200, use: () => {} });
    const started = Date.now();
    const { client } = await request('/rooms/blue');
    expect(client.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await client.waitClosed();
    expect(client.body).toBe('handshake checks timed out');
    expect(site!.endpoint.stats().rejected).toEqual({ 503: 1 });
  });

  test("next('router') cannot skip the remaining checks into an accept: 404", async () => {
    const auth = jest.fn((_req: unknown, res: any) => res.sendStatus(401));
    await serve({ use: [(_req: unknown, _res: unknown, next: (e: string) => void) => next('router'), auth] });
    const { client } = await request('/rooms/blue');
    expect(client.status).toBe(404);
    await client.waitClosed();
    expect(auth).not.toHaveBeenCalled();
    expect(handled).toBe(0);
  });

  test('verify runs after the middleware, in the same budget, and sees what it set', async () => {
    await serve({
      use: [cookieParser(), requireUser],
      verify: (req) => ((req as unknown as Req).user === 'ann' ? true : { status: 403, body: 'not ann' }),
    });
    const { client } = await request('/rooms/blue', { cookie: 'sid=ok' });
    expect(client.status).toBe(200);
  });

  test('a late res.end() after next() never reaches the WebSocket stream', async () => {
    await serve({
      use: (_req: unknown, res: any, next: () => void) => {
        next();
        setTimeout(() => {
          res.end('late');
          res.write('later');
        }, 20);
      },
    });
    const { client } = await request('/rooms/blue');
    expect(client.status).toBe(200);
    await client.waitFor(() => client.frames.length > 0);
    await delay(80);
    expect(client.received.includes('late')).toBe(false);
    expect(client.closed).toBe(false);
    expect(client.frames).toHaveLength(1);
    const socket = site!.endpoint.clients.values().next().value!;
    // The socket still works both ways.
    client.send({ opcode: 0x1, payload: 'ping?' });
    const got = await new Promise<string>((resolve) => socket.once('message', (d) => resolve(String(d))));
    expect(got).toBe('ping?');
  });

  test('a client that resets its stream while the middleware runs: no answer, no socket, nothing pending', async () => {
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      release = resolve;
    });
    await serve({
      use: (_req: unknown, _res: unknown, next: () => void) => {
        release();
        setTimeout(next, 100);
      },
    });
    const { session } = await site!.session();
    const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/rooms/blue', 'sec-websocket-version': '13' });
    stream.on('error', () => {});
    await started;
    stream.close(0x8);
    await delay(200);
    expect(handled).toBe(0);
    expect((site!.endpoint as unknown as { pending: number }).pending).toBe(0);
    expect(site!.endpoint.stats().connections).toBe(0);
    expect(session.destroyed).toBe(false);
  });

  test('app: the middleware sees the user app settings and locals', async () => {
    const express = require('express');
    const parent = express();
    parent.set('trust proxy', true);
    parent.locals.greeting = 'hi';
    parent.request.fromParent = function () {
      return 'parent';
    };
    const seen: unknown[] = [];
    await serve({
      app: parent,
      use: (req: any, res: any, next: () => void) => {
        seen.push({ ip: req.ip, protocol: req.protocol, hostname: req.hostname, locals: req.app.locals.greeting, fromParent: req.fromParent(), method: req.method, h: req.get('x-forwarded-for') });
        res.locals.x = 1;
        next();
      },
    });
    const { client } = await request('/rooms/blue', { 'x-forwarded-for': '203.0.113.9' });
    expect(client.status).toBe(200);
    expect(seen).toEqual([{ ip: '203.0.113.9', protocol: 'https', hostname: 'localhost', locals: 'hi', fromParent: 'parent', method: 'CONNECT', h: '203.0.113.9' }]);
  });
}

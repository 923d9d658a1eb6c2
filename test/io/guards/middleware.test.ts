// Express middleware before the upgrade: real cookie-parser and auth middleware, genuine
// HTTP refusals written by the middleware (status, headers, body, no 101), errors reported
// to onError, async and slow middleware, and a client that leaves while the checks run.
import cookieParser from 'cookie-parser';
import express from 'express';
import request from 'supertest';
import { attachWebSocket, type AttachOptions, type Endpoint, type UpgradeRequest, type WebSocket } from '../../../src';
import { delay, startServer, type TestServer } from '../../helpers/server';
import { parseRawResponse, UpgradeClients } from '../../helpers/upgrade-clients';

type Req = UpgradeRequest & { user?: { name: string }; cookies?: Record<string, string> };

const sessions = new Map([['s3cret', { name: 'ada' }]]);

function requireUser(req: Req, res: express.Response, next: express.NextFunction): void {
  const user = sessions.get(req.cookies?.sid ?? '');
  if (!user) {
    res.status(401).json({ error: 'no' });
    return;
  }
  req.user = user;
  next();
}

let t: TestServer;
let clients: UpgradeClients;
let errors: unknown[];
let handled: string[];
let endpoints: Endpoint[];

/** Attaches an endpoint whose handler reports what it saw and records that it ran. */
function endpoint(path: string, options: AttachOptions): Endpoint {
  const ep = attachWebSocket(
    t.server,
    (socket: WebSocket, req: Req) => {
      handled.push(path);
      socket.send(
        JSON.stringify({ user: req.user, cookies: req.cookies, params: req.params, query: { ...req.query }, url: req.url }),
      );
    },
    { path, heartbeat: false, onError: (err) => errors.push(err), ...options },
  );
  endpoints.push(ep);
  return ep;
}

beforeEach(async () => {
  const app = express();
  app.use(cookieParser());
  app.get('/me', requireUser as express.RequestHandler, (req, res) => {
    res.json({ user: (req as unknown as Req).user });
  });
  t = await startServer(app);
  clients = new UpgradeClients(() => t.port);
  errors = [];
  handled = [];
  endpoints = [];
});

afterEach(async () => {
  clients.closeAll();
  for (const ep of endpoints) for (const s of ep.clients) s.terminate();
  await t.close();
});

/** Asserts the bytes are one complete HTTP response and nothing else, then returns it. */
function onlyResponse(received: Buffer) {
  expect(received.includes('101 Switching')).toBe(false);
  const res = parseRawResponse(received);
  expect(res.rest.length).toBe(0);
  return res;
}

describe('cookie-parser and an auth middleware', () => {
  beforeEach(() => {
    endpoint('/chat/:room', { use: [cookieParser(), requireUser] });
  });

  test('with a session cookie the handler sees req.user, req.cookies, params and query', async () => {
    const { first } = await clients.open('/chat/general?since=5', undefined, { headers: { Cookie: 'sid=s3cret; theme=dark' } });
    expect(first).toEqual({
      user: { name: 'ada' },
      cookies: { sid: 's3cret', theme: 'dark' },
      params: { room: 'general' },
      query: { since: '5' },
      url: '/chat/general?since=5',
    });
  });

  test('the same middleware guards the HTTP route and the socket alike', async () => {
    await request(t.server).get('/me').set('Cookie', 'sid=s3cret').expect(200, { user: { name: 'ada' } });
    await request(t.server).get('/me').expect(401, { error: 'no' });
    const refusal = await clients.refused('/chat/general');
    expect(refusal.status).toBe(401);
    expect(refusal.body).toBe('{"error":"no"}');
  });

  test('without a cookie the client gets exactly the JSON 401, no 101, and the connection ends', async () => {
    const raw = await clients.raw('/chat/general');
    const res = onlyResponse(raw.received);
    expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['content-length']).toBe('14');
    expect(res.headers.connection).toBe('close');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.body).toBe('{"error":"no"}');
    expect(handled).toEqual([]);
    expect(errors).toEqual([]);
    expect(endpoints[0].stats().rejected).toEqual({ 401: 1 });
  });

  test('a refusal does not disturb later connections', async () => {
    expect((await clients.refused('/chat/a')).status).toBe(401);
    const { first } = await clients.open('/chat/b', undefined, { headers: { Cookie: 'sid=s3cret' } });
    expect(first.user).toEqual({ name: 'ada' });
    expect(endpoints[0].stats()).toMatchObject({ accepted: 1, rejected: { 401: 1 } });
  });
});

describe('responses written by middleware', () => {
  test('res.sendStatus(403)', async () => {
    endpoint('/ws', { use: (_req, res) => res.sendStatus(403) });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 403 Forbidden');
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe('Forbidden');
    expect(handled).toEqual([]);
  });

  test('a redirect: 302 with Location', async () => {
    endpoint('/ws', { use: (_req, res) => res.redirect('/login?next=%2Fws') });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 302 Found');
    expect(res.headers.location).toBe('/login?next=%2Fws');
    expect(res.body).toBe('Found. Redirecting to /login?next=%2Fws');
  });

  test('custom headers and a streamed (chunked) body reach the client intact', async () => {
    endpoint('/ws', {
      use: (_req, res) => {
        res.status(429).set('Retry-After', '7');
        res.write('slow ');
        setTimeout(() => res.end('down'), 20);
      },
    });
    const raw = await clients.raw('/ws');
    const text = raw.received.toString();
    expect(text.startsWith('HTTP/1.1 429 Too Many Requests\r\n')).toBe(true);
    expect(raw.header('Retry-After')).toBe('7');
    expect(raw.header('Transfer-Encoding')).toBe('chunked');
    expect(text.endsWith('\r\n\r\n5\r\nslow \r\n4\r\ndown\r\n0\r\n\r\n')).toBe(true);
  });

  test('a middleware that answers and then calls next() sends one response and never upgrades', async () => {
    endpoint('/ws', {
      use: [
        (_req, res, next) => {
          res.status(401).send('nope');
          next();
        },
        // Express goes on to the next middleware, which tries to answer again.
        (_req, res) => res.status(500).send('second'),
      ],
    });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
    expect(res.body).toBe('nope');
    expect(handled).toEqual([]);
    expect(errors).toEqual([]);
  });

  test('a middleware that starts a response and calls next() gets the connection cut, not a 101', async () => {
    endpoint('/ws', {
      use: (_req, res, next) => {
        res.writeHead(200);
        res.write('partial');
        next();
      },
    });
    // As Express's final handler does when headers are out: the connection is destroyed.
    const raw = await clients.raw('/ws');
    expect(raw.received.includes('101')).toBe(false);
    await delay(50);
    expect(handled).toEqual([]);
  });
});

describe('errors', () => {
  test('next(err) with err.status = 418 answers 418 and reports the error, not throws it', async () => {
    const err = Object.assign(new Error("I'm a teapot"), { status: 418 });
    endpoint('/ws', { use: (_req, _res, next) => next(err) });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe("HTTP/1.1 418 I'm a Teapot");
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe("I'm a teapot");
    expect(errors).toEqual([err]);
    expect(handled).toEqual([]);
  });

  test('err.statusCode is used too; a 5xx hides its message', async () => {
    const err = Object.assign(new Error('database password is hunter2'), { statusCode: 503 });
    endpoint('/ws', { use: (_req, _res, next) => next(err) });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(res.body).toBe('Service Unavailable');
    expect(errors).toEqual([err]);
  });

  test('a throwing middleware answers 500 and is reported', async () => {
    const boom = new Error('boom');
    endpoint('/ws', {
      use: () => {
        throw boom;
      },
    });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(res.body).toBe('Internal Server Error');
    expect(errors).toEqual([boom]);
    expect(handled).toEqual([]);
    expect(endpoints[0].stats().rejected).toEqual({ 500: 1 });
  });

  test('a rejected async middleware answers 500 and is reported', async () => {
    const boom = new Error('async boom');
    endpoint('/ws', {
      use: async () => {
        await delay(5);
        throw boom;
      },
    });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(errors).toEqual([boom]);
  });

  test("an Express error handler in the list writes its own answer", async () => {
    const err = Object.assign(new Error('bad token'), { status: 401 });
    endpoint('/ws', {
      use: [
        (_req: unknown, _res: unknown, next: (e?: unknown) => void) => next(err),
        ((e: { status: number; message: string }, _req: unknown, res: express.Response, _next: unknown) => {
          res.status(e.status).json({ error: e.message });
        }) as never,
      ],
    });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
    expect(res.body).toBe('{"error":"bad token"}');
    expect(errors).toEqual([]);
  });

  test('errors go to onError, never to the process', async () => {
    const uncaught = jest.fn();
    process.on('uncaughtException', uncaught);
    process.on('unhandledRejection', uncaught);
    try {
      endpoint('/ws', {
        use: () => {
          throw new Error('x');
        },
      });
      await clients.raw('/ws');
      await delay(20);
      expect(uncaught).not.toHaveBeenCalled();
      expect(errors).toHaveLength(1);
    } finally {
      process.off('uncaughtException', uncaught);
      process.off('unhandledRejection', uncaught);
    }
  });
});

describe('async, slow and stuck middleware', () => {
  test('an async middleware that awaits a timer and calls next() lets the upgrade through', async () => {
    endpoint('/ws', {
      use: async (req: Req, _res, next) => {
        await delay(30);
        req.user = { name: 'async' };
        next();
      },
    });
    const { client, first } = await clients.open('/ws');
    expect(first.user).toEqual({ name: 'async' });
    // Frames the client sends right after the 101 are not lost.
    const [socket] = endpoints[0].clients;
    const got = new Promise<string>((resolve) => socket.once('message', (d) => resolve(String(d))));
    client.send('after');
    expect(await got).toBe('after');
  });

  test('bytes sent right behind the request while middleware runs reach the socket', async () => {
    const messages: string[] = [];
    attachWebSocket(t.server, (socket) => socket.on('message', (d) => messages.push(String(d))), {
      path: '/early',
      heartbeat: false,
      use: async (_req, _res, next) => {
        await delay(30);
        next();
      },
    });
    const { clientFrame } = await import('../../helpers/raw-client');
    const raw = await clients.rawConnect('/early');
    raw.write(clientFrame({ opcode: 1, payload: 'early bird' }));
    await raw.waitFor(() => raw.head !== '');
    expect(raw.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    for (let i = 0; i < 50 && messages.length === 0; i++) await delay(10);
    expect(messages).toEqual(['early bird']);
  });

  test('a middleware that never calls next gets 503 after verifyTimeout, reported', async () => {
    endpoint('/ws', { verifyTimeout: 100, use: () => {} });
    const started = Date.now();
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(res.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(res.body).toBe('handshake checks timed out');
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/100 ms/);
  });

  test('a middleware that answers after the timeout writes nothing more and is harmless', async () => {
    let late!: () => void;
    const wrote = new Promise<void>((resolve) => (late = resolve));
    endpoint('/ws', {
      verifyTimeout: 50,
      use: (_req, res, next) => {
        setTimeout(() => {
          res.status(401).send('too late');
          next();
          late();
        }, 120);
      },
    });
    const raw = await clients.raw('/ws');
    await wrote;
    await delay(20);
    const res = onlyResponse(raw.received);
    expect(res.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(handled).toEqual([]);
  });

  test('a client that leaves during a slow check: no crash, the handler never runs', async () => {
    let started = false;
    let finished = false;
    endpoint('/ws', {
      use: async (_req, _res, next) => {
        started = true;
        await delay(150);
        finished = true;
        next();
      },
    });
    const raw = await clients.rawConnect('/ws');
    for (let i = 0; i < 100 && !started; i++) await delay(5);
    raw.destroy();
    for (let i = 0; i < 100 && !finished; i++) await delay(10);
    expect(finished).toBe(true);
    await delay(50);
    expect(handled).toEqual([]);
    expect(errors).toEqual([]);
    expect(endpoints[0].stats()).toMatchObject({ connections: 0, accepted: 0 });
    // The endpoint still serves the next client.
    expect((await clients.open('/ws')).first.url).toBe('/ws');
  });

  test('a client that leaves while a middleware waits forever: the run ends, later clients are served', async () => {
    let stuck = 0;
    endpoint('/ws', { use: (req, _res, next) => (req.headers['x-stuck'] ? stuck++ : next()) });
    const raw = await clients.rawConnect('/ws', { 'X-Stuck': '1' });
    for (let i = 0; i < 100 && stuck === 0; i++) await delay(5);
    expect(stuck).toBe(1);
    raw.destroy();
    await delay(30);
    expect(endpoints[0].stats().rejected).toEqual({});
    expect((await clients.open('/ws')).first.url).toBe('/ws');
    expect(handled).toEqual(['/ws']);
    expect(errors).toEqual([]);
  });
});

describe('what reaches the handler', () => {
  test('no HTTP bytes leak before the 101 when middleware set headers and passed', async () => {
    endpoint('/ws', {
      use: (_req, res, next) => {
        res.setHeader('X-From-Middleware', 'yes');
        res.status(299);
        next();
      },
    });
    const raw = await clients.rawConnect('/ws');
    await raw.waitFor(() => raw.head !== '');
    expect(raw.received.toString('latin1').startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(raw.header('X-From-Middleware')).toBe('yes'); // carried onto the 101, not sent before it
    await raw.waitFor(() => raw.frames.length === 1);
    expect(JSON.parse(raw.frames[0].payload.toString()).url).toBe('/ws');
    expect(raw.received.toString('latin1').match(/HTTP\/1\.1/g)).toHaveLength(1);
  });

  test('middleware sees the route params and query; the handler gets them after Express ran', async () => {
    const seen: unknown[] = [];
    endpoint('/rooms/:room', {
      use: [
        (req, _res, next) => {
          seen.push({ params: { ...req.params }, query: { ...req.query } });
          req.params.extra = 'mine';
          next();
        },
        express.Router().use((req, _res, next) => {
          seen.push({ router: { ...req.params } });
          next();
        }),
      ],
    });
    const { first } = await clients.open('/rooms/r%201?a=1&a=2&b=x');
    expect(seen).toEqual([{ params: { room: 'r 1' }, query: { a: ['1', '2'], b: 'x' } }, { router: {} }]);
    expect(first.params).toEqual({ room: 'r 1', extra: 'mine' });
    expect(first.query).toEqual({ a: ['1', '2'], b: 'x' });
    expect(first.url).toBe('/rooms/r%201?a=1&a=2&b=x');
  });

  test('middleware can guard by route param', async () => {
    endpoint('/rooms/:room', {
      use: (req, res, next) => (req.params.room === 'secret' ? res.status(403).json({ error: 'members only' }) : next()),
    });
    expect((await clients.open('/rooms/open')).first.params).toEqual({ room: 'open' });
    const refusal = await clients.refused('/rooms/secret');
    expect(refusal).toMatchObject({ status: 403, body: '{"error":"members only"}' });
  });
});

describe("the user's Express app", () => {
  /** A tiny fixed-window rate limiter keyed by req.ip, as express-rate-limit does. */
  function rateLimit(max: number): express.RequestHandler {
    const hits = new Map<string, number>();
    return (req, res, next) => {
      const n = (hits.get(req.ip ?? '') ?? 0) + 1;
      hits.set(req.ip ?? '', n);
      if (n > max) {
        res.set('Retry-After', '60').status(429).send('Too many connections from this address');
        return;
      }
      next();
    };
  }

  test('with `app`, middleware sees its trust proxy setting and app.locals', async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    app.locals.greeting = 'hi';
    const seen: unknown[] = [];
    endpoint('/ws', {
      app,
      use: [
        (req, _res, next) => {
          seen.push({ ip: req.ip, greeting: req.app.locals.greeting, protocol: req.protocol });
          next();
        },
        rateLimit(1),
      ],
    });
    const xff = (ip: string) => ({ headers: { 'X-Forwarded-For': ip, 'X-Forwarded-Proto': 'https' } });
    await clients.open('/ws', undefined, xff('203.0.113.7'));
    await clients.open('/ws', undefined, xff('203.0.113.8'));
    const refusal = await clients.refused('/ws', undefined, xff('203.0.113.7'));
    expect(refusal).toMatchObject({ status: 429, body: 'Too many connections from this address' });
    expect(refusal.headers['retry-after']).toBe('60');
    expect(seen).toEqual([
      { ip: '203.0.113.7', greeting: 'hi', protocol: 'https' },
      { ip: '203.0.113.8', greeting: 'hi', protocol: 'https' },
      { ip: '203.0.113.7', greeting: 'hi', protocol: 'https' },
    ]);
  });

  test('without `app`, Express defaults apply: X-Forwarded-For is not trusted', async () => {
    const ips: unknown[] = [];
    endpoint('/ws', {
      use: (req, _res, next) => {
        ips.push(req.ip);
        next();
      },
    });
    await clients.open('/ws', undefined, { headers: { 'X-Forwarded-For': '203.0.113.7' } });
    expect(ips).toEqual(['127.0.0.1']);
  });

  test('`app` must be an Express app', () => {
    expect(() => attachWebSocket(t.server, () => {}, { use: (_q, _s, n) => n(), app: {} })).toThrow(TypeError);
  });
});

describe('the socket after the checks', () => {
  test('a large response is delivered in full before the connection ends', async () => {
    const body = 'x'.repeat(3 * 1024 * 1024);
    endpoint('/ws', { use: (_req, res) => res.status(401).type('text/plain').send(body) });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
    expect(res.body.length).toBe(body.length);
  });

  test('after acceptance the checks leave nothing behind on the socket', async () => {
    const counts = (s: import('node:net').Socket) =>
      Object.fromEntries(['data', 'end', 'close', 'error', 'drain', 'timeout'].map((e) => [e, s.listenerCount(e)]));
    const sockets = new Map<string, import('node:net').Socket>();
    t.server.on('upgrade', (req, socket) => sockets.set(req.url ?? '', socket as import('node:net').Socket));
    endpoint('/plain', {});
    endpoint('/checked', {
      use: [
        cookieParser(),
        async (_req, _res, next) => {
          await delay(5);
          next();
        },
      ],
      verify: () => true,
    });
    await clients.open('/plain');
    await clients.open('/checked');
    const plain = sockets.get('/plain')!;
    const checked = sockets.get('/checked')!;
    expect(counts(checked)).toEqual(counts(plain));
    expect((checked as unknown as { _httpMessage: unknown })._httpMessage).toBeNull();
  });
});

describe("next('route') and next('router')", () => {
  test("next('route') goes on to the next middleware, as in Express", async () => {
    const after = jest.fn((_req, _res, next) => next());
    endpoint('/ws', { use: [(_req, _res, next) => next('route'), after] });
    await clients.open('/ws');
    expect(after).toHaveBeenCalledTimes(1);
  });

  test("next('router') cannot skip the remaining checks into an accept: 404, as Express's final handler", async () => {
    const auth = jest.fn((_req, res) => res.sendStatus(401));
    endpoint('/ws', { use: [(_req, _res, next) => next('router'), auth] });
    const res = onlyResponse((await clients.raw('/ws')).received);
    expect(res.statusLine).toBe('HTTP/1.1 404 Not Found');
    expect(auth).not.toHaveBeenCalled();
    expect(handled).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe('a confused middleware after acceptance', () => {
  test('writing to the response after next() neither reaches nor breaks the open socket', async () => {
    endpoint('/ws', {
      use: (_req, res, next) => {
        next();
        setTimeout(() => {
          res.end('late');
          res.write('later'); // write after end: an error on res, which must stay contained
        }, 20);
      },
    });
    const raw = await clients.rawConnect('/ws');
    await raw.waitFor(() => raw.frames.length === 1);
    await delay(60);
    expect(raw.closed).toBe(false);
    expect(raw.received.includes('late')).toBe(false);
    expect(endpoints[0].clients.size).toBe(1);
    raw.send({ opcode: 0x9, payload: 'still there?' });
    await raw.waitFor(() => raw.frames.some((f) => f.opcode === 0xa));
  });
});

describe('pending handshakes', () => {
  test('a client that leaves during the checks frees its maxConnections slot at once', async () => {
    let started = 0;
    endpoint('/ws', {
      maxConnections: 1,
      use: (req, _res, next) => {
        started++;
        if (!req.headers['x-stuck']) next();
      },
    });
    const raw = await clients.rawConnect('/ws', { 'X-Stuck': '1' });
    for (let i = 0; i < 100 && started === 0; i++) await delay(5);
    expect((await clients.refused('/ws')).status).toBe(503); // the stuck handshake holds the only slot
    raw.destroy();
    await delay(30);
    expect((await clients.open('/ws')).first.url).toBe('/ws');
  });
});

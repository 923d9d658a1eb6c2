// The verify(req) hook for non-Express users: true, false, a rejection object, async,
// throwing, timing out; and how it combines with Express middleware.
import { attachWebSocket, type AttachOptions, type Endpoint, type UpgradeRequest } from '../../../src';
import { delay, startServer, type TestServer } from '../../helpers/server';
import { parseRawResponse, UpgradeClients } from '../../helpers/upgrade-clients';

let t: TestServer;
let clients: UpgradeClients;
let errors: unknown[];
let handled: number;
let endpoint: Endpoint;

async function serve(options: AttachOptions): Promise<void> {
  t = await startServer();
  clients = new UpgradeClients(() => t.port);
  errors = [];
  handled = 0;
  endpoint = attachWebSocket(
    t.server,
    (socket, req: UpgradeRequest & { user?: string }) => {
      handled++;
      socket.send(JSON.stringify({ user: req.user ?? null }));
    },
    { path: '/ws', heartbeat: false, onError: (err) => errors.push(err), ...options },
  );
}

afterEach(async () => {
  clients.closeAll();
  for (const s of endpoint.clients) s.terminate();
  await t.close();
});

async function refusal(path = '/ws', headers: Record<string, string> = {}) {
  const raw = await clients.raw(path, headers);
  expect(raw.received.includes('101 Switching')).toBe(false);
  const res = parseRawResponse(raw.received);
  expect(res.rest.length).toBe(0);
  return res;
}

test('true accepts', async () => {
  await serve({ verify: () => true });
  expect((await clients.open('/ws')).first).toEqual({ user: null });
});

test('false answers 401', async () => {
  await serve({ verify: () => false });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
  expect(res.headers.connection).toBe('close');
  expect(res.body).toBe('Unauthorized');
  expect(handled).toBe(0);
  expect(errors).toEqual([]);
  expect(endpoint.stats().rejected).toEqual({ 401: 1 });
});

test('a rejection object is sent exactly: status, headers, body', async () => {
  await serve({ verify: () => ({ status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' }) });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 429 Too Many Requests');
  expect(res.headers).toEqual({
    'retry-after': '1',
    'content-type': 'text/plain; charset=utf-8',
    connection: 'close',
    'content-length': '9',
  });
  expect(res.body).toBe('slow down');
});

test("a rejection's own Content-Type wins; its framing headers cannot contradict the body", async () => {
  await serve({
    verify: () => ({
      status: 401,
      headers: { 'content-type': 'application/json', 'Content-Length': '999', 'WWW-Authenticate': 'Bearer' },
      body: '{"error":"token expired"}',
    }),
  });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 401 Unauthorized');
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers['content-length']).toBe('25');
  expect(res.headers['www-authenticate']).toBe('Bearer');
  expect(res.body).toBe('{"error":"token expired"}');
});

test('a rejection without a body gets the status text; a UTF-8 body is counted in bytes', async () => {
  await serve({ verify: (req) => (req.url === '/ws?empty' ? { status: 403 } : { status: 451, body: 'indisponible à cause de…' }) });
  expect((await refusal('/ws?empty')).body).toBe('Forbidden');
  const res = await refusal('/ws');
  expect(res.statusLine).toBe('HTTP/1.1 451 Unavailable For Legal Reasons');
  expect(res.body).toBe('indisponible à cause de…');
});

test('async verify: resolves true after a wait, sees headers and the parsed request', async () => {
  const seen: unknown[] = [];
  await serve({
    verify: async (req) => {
      await delay(20);
      const r = req as UpgradeRequest;
      seen.push({ auth: req.headers.authorization, params: r.params, query: { ...r.query } });
      return req.headers.authorization === 'Bearer ok';
    },
  });
  expect((await clients.open('/ws?x=1', undefined, { headers: { Authorization: 'Bearer ok' } })).first).toEqual({ user: null });
  expect((await refusal('/ws', { Authorization: 'Bearer nope' })).statusLine).toBe('HTTP/1.1 401 Unauthorized');
  expect(seen).toEqual([
    { auth: 'Bearer ok', params: {}, query: { x: '1' } },
    { auth: 'Bearer nope', params: {}, query: {} },
  ]);
});

test('a throwing verify answers 500 and reports the error', async () => {
  const boom = new Error('verify blew up');
  await serve({
    verify: () => {
      throw boom;
    },
  });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
  expect(res.body).toBe('Internal Server Error');
  expect(errors).toEqual([boom]);
  expect(handled).toBe(0);
});

test('a rejected promise answers 500 and reports the error', async () => {
  const boom = new Error('async blew up');
  await serve({ verify: () => Promise.reject(boom) });
  expect((await refusal()).statusLine).toBe('HTTP/1.1 500 Internal Server Error');
  expect(errors).toEqual([boom]);
});

test('an unusable result (a 200, a header with CR LF) is a reported 500, never a crash', async () => {
  const results: unknown[] = [{ status: 200 }, 'yes', { status: 401, headers: { 'X-Evil': 'a\r\nSet-Cookie: x=1' } }];
  let i = 0;
  await serve({ verify: () => results[i++] as never });
  for (let n = 0; n < results.length; n++) {
    const res = await refusal();
    expect(res.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(res.headers['set-cookie']).toBeUndefined();
  }
  expect(errors).toHaveLength(3);
  for (const err of errors) expect(err).toBeInstanceOf(TypeError);
});

test('a verify slower than verifyTimeout answers 503 and is reported', async () => {
  let resolveLate!: (v: boolean) => void;
  await serve({ verifyTimeout: 80, verify: () => new Promise<boolean>((resolve) => (resolveLate = resolve)) });
  const res = await refusal();
  expect(res.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
  expect(res.body).toBe('handshake checks timed out');
  expect(errors).toHaveLength(1);
  resolveLate(true); // too late: nothing happens
  await delay(20);
  expect(handled).toBe(0);
});

test('verify runs after the middleware and sees what it attached', async () => {
  const calls: string[] = [];
  await serve({
    use: (req, _res, next) => {
      calls.push('use');
      req.user = req.headers['x-user'];
      next();
    },
    verify: (req) => {
      calls.push('verify');
      return (req as { user?: string }).user === 'ada';
    },
  });
  expect((await clients.open('/ws', undefined, { headers: { 'X-User': 'ada' } })).first).toEqual({ user: 'ada' });
  expect((await refusal('/ws', { 'X-User': 'bob' })).statusLine).toBe('HTTP/1.1 401 Unauthorized');
  expect(calls).toEqual(['use', 'verify', 'use', 'verify']);
});

test('verify is not called when the middleware refused', async () => {
  const verify = jest.fn(() => true);
  await serve({ use: (_req, res) => res.sendStatus(401), verify });
  expect((await refusal()).statusLine).toBe('HTTP/1.1 401 Unauthorized');
  expect(verify).not.toHaveBeenCalled();
});

test('verify is not called for a request the handshake already refused', async () => {
  const verify = jest.fn(() => true);
  await serve({ verify, origins: ['https://good.example'] });
  expect((await refusal('/ws', { Origin: 'https://evil.example' })).statusLine).toBe('HTTP/1.1 403 Forbidden');
  expect(verify).not.toHaveBeenCalled();
});

test('a client that leaves during a slow verify never reaches the handler', async () => {
  let calls = 0;
  let finished = 0;
  await serve({
    verify: async () => {
      calls++;
      await delay(100);
      finished++;
      return true;
    },
  });
  const raw = await clients.rawConnect('/ws');
  for (let i = 0; i < 50 && calls === 0; i++) await delay(10);
  raw.destroy();
  for (let i = 0; i < 50 && finished === 0; i++) await delay(10);
  await delay(30);
  expect(finished).toBe(1);
  expect(handled).toBe(0);
  expect(errors).toEqual([]);
  expect(endpoint.stats()).toMatchObject({ connections: 0, accepted: 0 });
});

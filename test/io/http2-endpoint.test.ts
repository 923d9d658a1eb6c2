// attachWebSocket on HTTP/2 servers, through the real endpoint: many WebSockets on one
// session, HTTP/2 and HTTP/1.1 WebSockets and ordinary requests on one port at once, the
// endpoint handle over both transports, the guards over HTTP/2, stream ends (END_STREAM,
// RST_STREAM CANCEL, a peer's reset), h2c, `http2: false`, and undici with allowH2.
import http2 from 'node:http2';
import https from 'node:https';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import WebSocketClient from 'ws';
import { attachWebSocket, type WebSocket } from '../../src';
import { closePayload, H2WsClient } from '../helpers/h2-client';
import { delay, type H2Site, startH2Site, until } from '../helpers/h2-endpoint';

const TEXT = 0x1;
const CLOSE = 0x8;
const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

let site: H2Site | null = null;
afterEach(async () => {
  await site?.close();
  site = null;
});

function echo(socket: WebSocket): void {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
}

/** A ws client (HTTP/1.1 upgrade over TLS) on the site's port. */
async function wsClient(s: H2Site, path: string, options: WebSocketClient.ClientOptions = {}): Promise<WebSocketClient> {
  const client = new WebSocketClient(`wss://127.0.0.1:${s.port}${path}`, { ca: s.cert, ...options });
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('open', resolve);
    client.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    client.once('error', reject);
  });
  return client;
}

function h1Get(s: H2Site, path: string): Promise<{ status: number; body: string; version: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: s.port, path, ca: s.cert, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, version: res.httpVersion }));
    });
    req.on('error', reject);
  });
}

function h2Get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
}

const versionApp = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => res.end(`http ${req.httpVersion} ${req.url}`);

describe('many streams, both transports, one port', () => {
  test('120 WebSockets multiplexed on one HTTP/2 session, each with its own echo', async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const { session } = await site.session();
    const clients = await Promise.all(Array.from({ length: 120 }, () => H2WsClient.open(session, '/ws')));
    expect(site.endpoint.stats().byTransport).toEqual({ 'http/1.1': 0, h2: 120 });
    expect(new Set(clients.map((c) => c.stream.id)).size).toBe(120);
    clients.forEach((c, i) => c.send({ opcode: TEXT, payload: `n${i}` }));
    await Promise.all(clients.map((c) => c.waitFor(() => c.frames.length > 0)));
    clients.forEach((c, i) => expect(c.frames[0].payload.toString()).toBe(`n${i}`));
    // One TCP connection carried all of them.
    expect(site.endpoint.stats().connections).toBe(120);
    // Half close politely; the other half and the session are untouched.
    const half = clients.slice(0, 60);
    for (const c of half) c.send({ opcode: CLOSE, payload: closePayload(1000) });
    await Promise.all(half.map((c) => c.waitClosed()));
    await until(() => site!.endpoint.stats().connections === 60);
    for (const c of clients.slice(60)) expect(c.closed).toBe(false);
    expect(session.destroyed).toBe(false);
    const last = clients[119];
    last.send({ opcode: TEXT, payload: 'after' });
    await last.waitFor(() => last.frames.length > 1);
    expect(last.frames[1].payload.toString()).toBe('after');
  }, 30000);

  test('HTTP/2 and HTTP/1.1 WebSockets and ordinary HTTP/2 and HTTP/1.1 requests at the same time', async () => {
    site = await startH2Site({ path: '/ws' }, echo, { app: versionApp });
    const s = site;
    const { session } = await s.session();
    const work = async (i: number) => {
      const [h2ws, h1ws, h2req, h1req] = await Promise.all([
        H2WsClient.open(session, '/ws'),
        wsClient(s, '/ws'),
        h2Get(session, `/page/${i}`),
        h1Get(s, `/page/${i}`),
      ]);
      h2ws.send({ opcode: TEXT, payload: `h2-${i}` });
      const h1echo = new Promise<string>((resolve) => h1ws.once('message', (d) => resolve(String(d))));
      h1ws.send(`h1-${i}`);
      await h2ws.waitFor(() => h2ws.frames.length > 0);
      expect(h2ws.frames[0].payload.toString()).toBe(`h2-${i}`);
      expect(await h1echo).toBe(`h1-${i}`);
      expect(h2req).toEqual({ status: 200, body: `http 2.0 /page/${i}` });
      expect(h1req).toEqual({ status: 200, body: `http 1.1 /page/${i}`, version: '1.1' });
      return { h2ws, h1ws };
    };
    const pairs = await Promise.all(Array.from({ length: 10 }, (_, i) => work(i)));
    expect(s.endpoint.stats().byTransport).toEqual({ 'http/1.1': 10, h2: 10 });
    const kinds = [...s.endpoint.clients].map((c) => c.transportKind).sort();
    expect(kinds.filter((k) => k === 'h2')).toHaveLength(10);
    for (const { h1ws } of pairs) h1ws.terminate();
  }, 30000);

  test('clients, broadcast and publish reach both transports; stats tell them apart', async () => {
    site = await startH2Site({ path: '/ws' }, (socket) => {
      socket.subscribe('room');
      socket.send(`hello ${socket.transportKind}`);
    });
    const { session } = await site.session();
    const h2a = await H2WsClient.open(session, '/ws');
    const h2b = await H2WsClient.open(session, '/ws');
    const h1 = await wsClient(site, '/ws');
    const h1got: string[] = [];
    h1.on('message', (d) => h1got.push(String(d)));
    await until(() => site!.endpoint.clients.size === 3);
    expect(site.endpoint.stats()).toMatchObject({ connections: 3, byTransport: { 'http/1.1': 1, h2: 2 }, accepted: 3 });
    expect(site.endpoint.broadcast('to all')).toBe(3);
    expect(site.endpoint.publish('room', 'to room')).toBe(3);
    for (const c of [h2a, h2b]) await c.waitFor(() => c.frames.length === 3);
    expect(h2a.frames.map((f) => f.payload.toString())).toEqual(['hello h2', 'to all', 'to room']);
    await until(() => h1got.length === 3);
    expect(h1got).toEqual(['hello http/1.1', 'to all', 'to room']);
    h1.close();
    await until(() => site!.endpoint.stats().byTransport['http/1.1'] === 0);
    expect(site.endpoint.stats().byTransport).toEqual({ 'http/1.1': 0, h2: 2 });
  });
});

describe('the guards over HTTP/2', () => {
  test('origins: a foreign Origin gets a real HTTP/2 403 with a body', async () => {
    site = await startH2Site({ path: '/ws', origins: ['https://good.example'] }, echo);
    const { session } = await site.session();
    const bad = await H2WsClient.request(session, '/ws', { origin: 'https://evil.example' });
    expect(bad.status).toBe(403);
    await bad.waitClosed();
    expect(bad.body.length).toBeGreaterThan(0);
    const good = await H2WsClient.open(session, '/ws', { origin: 'https://good.example' });
    expect(good.status).toBe(200);
    expect(site.endpoint.stats().rejected).toEqual({ 403: 1 });
  });

  test('protocols: the server picks by preference; requireProtocol refuses with 400', async () => {
    site = await startH2Site({ path: '/ws', protocols: ['v2', 'v1'], requireProtocol: true }, (socket) => socket.send(socket.protocol));
    const { session } = await site.session();
    const ok = await H2WsClient.open(session, '/ws', { 'sec-websocket-protocol': 'v1, v2' });
    expect(ok.response!['sec-websocket-protocol']).toBe('v2');
    await ok.waitFor(() => ok.frames.length > 0);
    expect(ok.frames[0].payload.toString()).toBe('v2');
    const none = await H2WsClient.request(session, '/ws', { 'sec-websocket-protocol': 'v9' });
    expect(none.status).toBe(400);
  });

  test('verify: false is 401, an object is that response, async true accepts', async () => {
    site = await startH2Site(
      {
        path: '/ws',
        verify: async (req) => {
          await delay(5);
          const who = req.headers['x-who'];
          if (who === 'ann') return true;
          if (who === 'bob') return { status: 429, headers: { 'retry-after': '7' }, body: 'slow down' };
          return false;
        },
      },
      echo,
    );
    const { session } = await site.session();
    expect((await H2WsClient.request(session, '/ws')).status).toBe(401);
    const bob = await H2WsClient.request(session, '/ws', { 'x-who': 'bob' });
    expect(bob.status).toBe(429);
    expect(bob.response!['retry-after']).toBe('7');
    await bob.waitClosed();
    expect(bob.body).toBe('slow down');
    expect((await H2WsClient.request(session, '/ws', { 'x-who': 'ann' })).status).toBe(200);
  });

  test('maxConnections counts both transports: the next CONNECT gets 503 with Retry-After', async () => {
    site = await startH2Site({ path: '/ws', maxConnections: 2 }, echo);
    const { session } = await site.session();
    await H2WsClient.open(session, '/ws');
    const h1 = await wsClient(site, '/ws');
    const third = await H2WsClient.request(session, '/ws');
    expect(third.status).toBe(503);
    expect(third.response!['retry-after']).toBeDefined();
    h1.terminate();
    await until(() => site!.endpoint.clients.size === 1);
    expect((await H2WsClient.request(session, '/ws')).status).toBe(200);
  });

  test('path patterns: params and query reach the handler; other paths are 404', async () => {
    site = await startH2Site({ path: '/rooms/:room' }, (socket, req) => socket.send(JSON.stringify({ params: req.params, query: { ...req.query } })));
    const { session } = await site.session();
    const c = await H2WsClient.open(session, '/rooms/blue%20sky?since=5');
    await c.waitFor(() => c.frames.length > 0);
    expect(JSON.parse(c.frames[0].payload.toString())).toEqual({ params: { room: 'blue sky' }, query: { since: '5' } });
    const other = await H2WsClient.request(session, '/elsewhere');
    expect(other.status).toBe(404);
  });
});

describe('stream ends', () => {
  test('a close handshake ends our side with END_STREAM; the session and other streams live on', async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const { session } = await site.session();
    const a = await H2WsClient.open(session, '/ws');
    const sa = await site.nextSocket();
    const b = await H2WsClient.open(session, '/ws');
    await site.nextSocket();
    const closed = new Promise<[number, string]>((resolve) => sa.once('close', (code, reason) => resolve([code, String(reason)])));
    sa.close(4000, 'bye');
    await a.waitFor(() => a.closeFrame !== undefined);
    expect(a.closeFrame).toEqual({ code: 4000, reason: 'bye' });
    a.send({ opcode: CLOSE, payload: closePayload(4000, 'bye') });
    await a.waitClosed();
    expect(a.ended).toBe(true);
    expect(await closed).toEqual([4000, 'bye']);
    b.send({ opcode: TEXT, payload: 'still' });
    await b.waitFor(() => b.frames.length > 0);
    expect(session.destroyed).toBe(false);
  });

  test('terminate() resets the stream with RST_STREAM CANCEL, nothing else', async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const { session } = await site.session();
    const a = await H2WsClient.open(session, '/ws');
    const sa = await site.nextSocket();
    const b = await H2WsClient.open(session, '/ws');
    const codes: number[] = [];
    sa.on('close', (code) => codes.push(code));
    sa.terminate();
    await a.waitClosed();
    expect(a.rstCode).toBe(NGHTTP2_CANCEL);
    expect(a.frames).toEqual([]);
    await until(() => codes.length === 1);
    expect(codes).toEqual([1006]);
    b.send({ opcode: TEXT, payload: 'alive' });
    await b.waitFor(() => b.frames.length > 0);
    expect(b.frames[0].payload.toString()).toBe('alive');
  });

  test("the peer's RST_STREAM is an abnormal closure (1006) for that socket only", async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const { session } = await site.session();
    const a = await H2WsClient.open(session, '/ws');
    const sa = await site.nextSocket();
    const b = await H2WsClient.open(session, '/ws');
    const sb = await site.nextSocket();
    const closed = new Promise<number>((resolve) => sa.once('close', (code) => resolve(code)));
    a.reset(NGHTTP2_CANCEL);
    expect(await closed).toBe(1006);
    expect(sb.readyState).toBe(sb.OPEN);
    b.send({ opcode: TEXT, payload: 'alive' });
    await b.waitFor(() => b.frames.length > 0);
    await until(() => site!.endpoint.clients.size === 1);
  });

  test("the peer's END_STREAM without a close frame is 1006 too; its session carries on", async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const { session } = await site.session();
    const a = await H2WsClient.open(session, '/ws');
    const sa = await site.nextSocket();
    const closed = new Promise<number>((resolve) => sa.once('close', (code) => resolve(code)));
    a.end();
    expect(await closed).toBe(1006);
    await a.waitClosed();
    expect(a.rstCode === NGHTTP2_NO_ERROR || a.rstCode === NGHTTP2_CANCEL).toBe(true);
    const b = await H2WsClient.open(session, '/ws');
    expect(b.status).toBe(200);
  });

  test('the whole session dying closes its WebSockets with 1006, not those of another session', async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const one = await site.session();
    const two = await site.session();
    await H2WsClient.open(one.session, '/ws');
    const s1 = await site.nextSocket();
    const other = await H2WsClient.open(two.session, '/ws');
    const s2 = await site.nextSocket();
    const closed = new Promise<number>((resolve) => s1.once('close', (code) => resolve(code)));
    const port = one.session.socket.localPort;
    const serverSide = [...site.tcp].find((t) => t.remotePort === port)!;
    serverSide.destroy();
    expect(await closed).toBe(1006);
    expect(s2.readyState).toBe(s2.OPEN);
    other.send({ opcode: TEXT, payload: 'fine' });
    await other.waitFor(() => other.frames.length > 0);
  });
});

describe('server kinds and the switch', () => {
  test('h2c (http2.createServer, cleartext) works', async () => {
    site = await startH2Site({ path: '/ws' }, echo, { cleartext: true });
    const { session, firstSettings } = await site.session();
    expect(firstSettings.enableConnectProtocol).toBe(true);
    const c = await H2WsClient.open(session, '/ws', { 'sec-websocket-key': H2WsClient.key() });
    expect(c.response!['sec-websocket-accept']).toBeDefined();
    c.send({ opcode: TEXT, payload: 'plain' });
    await c.waitFor(() => c.frames.length > 0);
    expect(c.frames[0].payload.toString()).toBe('plain');
    expect(site.endpoint.stats().byTransport.h2).toBe(1);
  });

  test('an HTTP/2-only TLS server (no allowHTTP1) works', async () => {
    site = await startH2Site({ path: '/ws' }, echo, { allowHTTP1: false });
    const c = await site.open('/ws');
    c.client.send({ opcode: TEXT, payload: 'only h2' });
    await c.client.waitFor(() => c.client.frames.length > 0);
    expect(c.socket.transportKind).toBe('h2');
  });

  test('http2: false leaves CONNECTs to the server and does not advertise the setting; HTTP/1.1 still works', async () => {
    site = await startH2Site({ path: '/ws', http2: false }, echo);
    const { session, firstSettings } = await site.session();
    expect(firstSettings.enableConnectProtocol).toBeFalsy();
    // Without the setting the client's own nghttp2 refuses to send :protocol at all.
    const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws' });
    const failed = await new Promise<string>((resolve) => {
      stream.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
      stream.on('response', (h) => resolve(`status ${h[':status']}`));
    });
    expect(failed).toMatch(/ERR_HTTP2|status 40/);
    expect(site.endpoint.stats().accepted).toBe(0);
    const h1 = await wsClient(site, '/ws');
    expect([...site.endpoint.clients][0].transportKind).toBe('http/1.1');
    h1.terminate();
  });

  test('a second endpoint with http2: false on the same server does not take HTTP/2 paths', async () => {
    site = await startH2Site({ path: '/a' }, echo);
    const got: string[] = [];
    attachWebSocket(site.server, (s) => got.push(s.transportKind), { path: '/b', http2: false, heartbeat: false });
    const { session, firstSettings } = await site.session();
    expect(firstSettings.enableConnectProtocol).toBe(true);
    expect((await H2WsClient.request(session, '/a')).status).toBe(200);
    expect((await H2WsClient.request(session, '/b')).status).toBe(404);
    const h1 = await wsClient(site, '/b');
    await until(() => got.length === 1);
    expect(got).toEqual(['http/1.1']);
    h1.terminate();
  });

  test('undici WebSocket with allowH2: opens over HTTP/2, echoes, closes cleanly', async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const agent = new Agent({ allowH2: true, connect: { ca: site.cert, servername: 'localhost' } });
    try {
      const ws = new UndiciWebSocket(`wss://127.0.0.1:${site.port}/ws`, { dispatcher: agent } as never);
      const got = await new Promise<string>((resolve, reject) => {
        ws.onopen = () => ws.send('héllo');
        ws.onmessage = (e) => resolve(String(e.data));
        ws.onerror = () => reject(new Error('undici error'));
      });
      expect(got).toBe('héllo');
      const socket = [...site.endpoint.clients][0];
      expect(socket.transportKind).toBe('h2');
      const serverClose = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      const clientClose = new Promise<{ code: number; wasClean: boolean }>((resolve) => {
        ws.onclose = (e) => resolve({ code: e.code, wasClean: e.wasClean });
      });
      ws.close(1000, 'done');
      expect(await serverClose).toBe(1000);
      expect(await clientClose).toEqual({ code: 1000, wasClean: true });
    } finally {
      await agent.close();
    }
  });
});

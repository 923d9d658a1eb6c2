// listenHttp2 on real servers: the setting in each session's first SETTINGS frame, the
// dispatch of WebSocket CONNECT streams next to the user's handlers (Express through Node's
// compat layer, HTTP/1.1 on the same port), real HTTP/2 refusals, many streams on one
// session, cleartext h2c, and undici's WebSocket over HTTP/2.
import https from 'node:https';
import http2 from 'node:http2';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { computeAcceptKey } from '../../src/core/handshake';
import { listenHttp2 } from '../../src/io/http2-listen';
import { connectSession, H2WsClient } from '../helpers/h2-client';
import { testCert } from '../helpers/tls';
import { type EchoServer, runEcho, startEchoServer } from '../transport/h2-echo';

const { cert } = testCert();
const open: { close(): Promise<void> }[] = [];
const sessions: http2.ClientHttp2Session[] = [];

async function serve(options: Parameters<typeof startEchoServer>[0] = {}): Promise<EchoServer> {
  const s = await startEchoServer(options);
  open.push(s);
  return s;
}
async function session(origin: string) {
  const c = await connectSession(origin, { ca: origin.startsWith('https') ? cert : undefined });
  sessions.push(c.session);
  return c;
}

function responseOf(stream: http2.ClientHttp2Stream): Promise<http2.IncomingHttpHeaders> {
  stream.on('error', () => {});
  return new Promise((resolve) => stream.once('response', (headers) => resolve(headers)));
}

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const s of open.splice(0)) await s.close();
});

describe('SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 section 3)', () => {
  test('is 1 in the first SETTINGS frame of every session, over TLS and over h2c', async () => {
    for (const tls of [true, false]) {
      const server = await serve({ tls });
      for (let i = 0; i < 2; i++) {
        const { firstSettings } = await session(server.origin);
        expect(firstSettings.enableConnectProtocol).toBe(true);
      }
    }
  });

  test('is not advertised by a server wsgate is not attached to, nor by another server in the process', async () => {
    const attached = await serve();
    const plain = await serve({ noListen: true });
    expect((await session(plain.origin)).firstSettings.enableConnectProtocol).toBe(false);
    expect((await session(attached.origin)).firstSettings.enableConnectProtocol).toBe(true);
  });

  test('listenHttp2 on a running server: sessions from then on advertise it; close() stops that for new sessions', async () => {
    const server = await serve({ noListen: true });
    const before = await session(server.origin);
    expect(before.firstSettings.enableConnectProtocol).toBe(false);
    const connections: Parameters<typeof runEcho>[2] = [];
    const listening = listenHttp2(server.server, (attempt) => runEcho(attempt, {}, connections));
    expect((await session(server.origin)).firstSettings.enableConnectProtocol).toBe(true);
    listening.close();
    expect((await session(server.origin)).firstSettings.enableConnectProtocol).toBe(false);
  });
});

describe('the extended CONNECT', () => {
  test('gets :status 200 with the accept key for a sent key, the chosen subprotocol, and no END_STREAM', async () => {
    const server = await serve({ handshake: { protocols: ['chat'] } });
    const { session: s } = await session(server.origin);
    const key = H2WsClient.key();
    const ws = await H2WsClient.open(s, '/ws?x=1', { 'sec-websocket-key': key, 'sec-websocket-protocol': 'other, chat' });
    expect(ws.response).toMatchObject({ ':status': 200, 'sec-websocket-accept': computeAcceptKey(key), 'sec-websocket-protocol': 'chat' });
    expect(ws.response!['content-length']).toBeUndefined();
    expect(ws.ended).toBe(false);
    expect(server.connections[0].attempt).toMatchObject({ form: 'h2', url: '/ws?x=1', method: 'CONNECT', httpVersion: '2.0', remoteAddress: '127.0.0.1' });
    // The request object for guards and handlers: Node's compat request, plus host from :authority.
    const req = server.connections[0].attempt.req;
    expect(req.url).toBe('/ws?x=1');
    expect(req.headers.host).toBe(server.connections[0].attempt.headers[':authority']);
    expect(req.socket.remoteAddress).toBe('127.0.0.1');
    const noKey = await H2WsClient.open(s, '/ws');
    expect(noKey.response!['sec-websocket-accept']).toBeUndefined();
  });

  test.each([
    ['an unsupported version', { 'sec-websocket-version': '8' }, 426, /version/],
    ['a foreign origin', { origin: 'https://evil.test' }, 403, /Origin/],
    ['a malformed key', { 'sec-websocket-key': 'nope' }, 400, /Key/],
  ])('%s gets a real HTTP/2 response with a body', async (_name, headers, status, body) => {
    const server = await serve({ handshake: { origins: ['https://example.com'] } });
    const { session: s } = await session(server.origin);
    const ws = await H2WsClient.request(s, '/ws', headers as Record<string, string>);
    await ws.waitFor(() => ws.ended);
    expect(ws.status).toBe(status);
    expect(ws.response!['content-type']).toBe('text/plain; charset=utf-8');
    expect(Number(ws.response!['content-length'])).toBe(Buffer.byteLength(ws.body));
    expect(ws.body).toMatch(body);
    if (status === 426) expect(ws.response!['sec-websocket-version']).toBe('13');
    // The client's side was still open: after the complete response, RST_STREAM NO_ERROR.
    await ws.waitClosed();
    expect(ws.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(server.connections).toHaveLength(0);
    expect(s.destroyed).toBe(false);
  });

  test('a missing Sec-WebSocket-Version is 400', async () => {
    const server = await serve();
    const { session: s } = await session(server.origin);
    const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws' }, { endStream: false });
    const headers = await responseOf(stream);
    expect(headers[':status']).toBe(400);
    stream.close();
  });

  test('raw frames both ways, malformed ones included: an unmasked client frame gets the stand-in\'s 1002', async () => {
    const server = await serve();
    const { session: s } = await session(server.origin);
    const ws = await H2WsClient.open(s, '/ws');
    ws.send({ opcode: 0x9, payload: 'p' });
    await ws.waitFor(() => ws.frames.length === 1);
    expect(ws.frames[0]).toMatchObject({ opcode: 0xa });
    ws.send({ opcode: 0x1, payload: 'bad', masked: false });
    await ws.waitFor(() => ws.ended);
    expect(ws.closeFrame?.code).toBe(1002);
  });

  test('100 WebSockets on one session each echo their own messages', async () => {
    const server = await serve();
    const { session: s } = await session(server.origin);
    const clients = await Promise.all(Array.from({ length: 100 }, () => H2WsClient.open(s, '/ws')));
    clients.forEach((c, i) => c.send({ opcode: 0x1, payload: `stream ${i}` }));
    await Promise.all(clients.map((c) => c.waitFor(() => c.frames.length === 1)));
    clients.forEach((c, i) => expect(c.frames[0].payload.toString()).toBe(`stream ${i}`));
    expect(new Set(server.connections.map((c) => (c.transport as unknown as { id: number }).id)).size).toBe(100);
    expect(server.connections.every((c) => c.transport.kind === 'h2')).toBe(true);
  });

  test('a CONNECT whose HEADERS end the stream is refused with 400', async () => {
    const server = await serve();
    const { session: s } = await session(server.origin);
    const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws', 'sec-websocket-version': '13' }, { endStream: true });
    const headers = await responseOf(stream);
    expect(headers[':status']).toBe(400);
  });
});

describe('dispatch next to the server\'s own handlers', () => {
  // A plain compat-layer handler. (Express itself cannot serve HTTP/2 requests through
  // Node's compat objects: its app.handle swaps req/res prototypes for IncomingMessage and
  // ServerResponse ones and loses the Http2ServerRequest getters; see the report.)
  function app() {
    const seen: string[] = [];
    const handler = (req: http2.Http2ServerRequest | import('node:http').IncomingMessage, res: http2.Http2ServerResponse | import('node:http').ServerResponse) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/health') res.end('ok');
      else {
        res.statusCode = 404;
        res.end();
      }
    };
    return { app: handler, seen };
  }

  test('a request handler on createSecureServer({ allowHTTP1 }): h2 and HTTP/1.1 requests reach it, the CONNECT does not, and the compat layer does not answer it', async () => {
    const { app: a, seen } = app();
    const server = await serve({ allowHTTP1: true, requestListener: a as unknown as Parameters<typeof http2.createSecureServer>[1] });
    const { session: s } = await session(server.origin);
    const ws = await H2WsClient.open(s, '/ws');
    // Ordinary h2 request on the same session, at the same time.
    const get = s.request({ ':path': '/health' });
    const body = await new Promise<string>((resolve) => {
      let text = '';
      get.setEncoding('utf8');
      get.on('data', (d) => (text += d));
      get.on('end', () => resolve(text));
    });
    expect(body).toBe('ok');
    // HTTP/1.1 on the same port (ALPN http/1.1).
    const h1 = await new Promise<string>((resolve, reject) => {
      https
        .get(`${server.origin}/health`, { ca: cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] } as https.RequestOptions, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(`${res.httpVersion} ${text}`));
        })
        .on('error', reject);
    });
    expect(h1).toBe('1.1 ok');
    ws.send({ opcode: 0x1, payload: 'still open' });
    await ws.waitFor(() => ws.frames.length === 1);
    expect(ws.ended).toBe(false);
    expect(seen).toEqual(['GET /health', 'GET /health']);
  });

  test('a CONNECT no listener claims is 404 when nothing else handles CONNECT; with a "connect" listener it is left to it', async () => {
    const server = await serve({ listen: { claims: (h) => String(h[':path']).startsWith('/ws') } });
    const { session: s } = await session(server.origin);
    const unclaimed = await H2WsClient.request(s, '/other');
    expect(unclaimed.status).toBe(404);
    server.server.on('connect', (_req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      res.writeHead(418);
      res.end('mine');
    });
    server.server.on('request', () => {}); // turns on the compat layer, which emits 'connect'
    const left = await H2WsClient.request(s, '/other');
    expect(left.status).toBe(418);
    const claimed = await H2WsClient.open(s, '/ws');
    expect(claimed.status).toBe(200);
  });

  test('a CONNECT with another :protocol is not ours: the compat layer answers it (405)', async () => {
    const { app: a } = app();
    const server = await serve({ requestListener: a as unknown as Parameters<typeof http2.createSecureServer>[1] });
    const { session: s } = await session(server.origin);
    const ws = await H2WsClient.request(s, '/x', {}).catch(() => undefined);
    expect(ws?.status).toBe(200);
    const stream = s.request({ ':method': 'CONNECT', ':protocol': 'connect-udp', ':path': '/x' }, { endStream: false });
    const headers = await responseOf(stream);
    expect(headers[':status']).toBe(405);
    expect(server.connections).toHaveLength(1);
  });

  test('two listeners on one server, each claiming its own paths', async () => {
    const server = await serve({ listen: { claims: (h) => h[':path'] === '/a' } });
    const b: Parameters<typeof runEcho>[2] = [];
    listenHttp2(server.server, (attempt) => runEcho(attempt, {}, b), { claims: (h) => h[':path'] === '/b' });
    const { session: s } = await session(server.origin);
    await H2WsClient.open(s, '/a');
    await H2WsClient.open(s, '/b');
    await H2WsClient.open(s, '/b');
    expect(server.connections).toHaveLength(1);
    expect(b).toHaveLength(2);
  });
});

describe('undici WebSocket over HTTP/2', () => {
  test('connects with Agent({ allowH2: true }) over TLS, arrives as an h2 stream, echoes and closes cleanly', async () => {
    const server = await serve({ handshake: { protocols: ['chat'] } });
    const dispatcher = new Agent({ allowH2: true, connect: { ca: cert, servername: 'localhost' } });
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const ws = new UndiciWebSocket(`wss://127.0.0.1:${server.port}/ws`, { dispatcher, protocols: ['chat'] } as never);
      ws.binaryType = 'arraybuffer';
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (e) => reject(new Error(`undici error: ${String((e as { message?: string }).message)}`));
      });
      expect(ws.protocol).toBe('chat');
      const got = new Promise<string>((resolve) => (ws.onmessage = (e) => resolve(String(e.data))));
      ws.send('hello from undici');
      expect(await got).toBe('hello from undici');
      expect(server.connections).toHaveLength(1);
      expect(server.connections[0].transport.kind).toBe('h2');
      expect(server.connections[0].attempt.headers['sec-websocket-key']).toBeDefined();
      const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
      ws.close(1000, 'done');
      expect(await closed).toBe(1000);
    } finally {
      warn.mockRestore();
      await dispatcher.close().catch(() => undefined);
    }
  });
});

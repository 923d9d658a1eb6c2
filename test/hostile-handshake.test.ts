// Hostile handshakes over raw TCP against a real http.Server: every handshake rule broken in
// turn, header injection, oversized and numerous headers, byte-at-a-time writes, garbage.
// Each case asserts the exact outcome; none may get a 101, and the server keeps serving.
import { randomBytes } from 'node:crypto';
import WS from 'ws';
import { attachWebSocket, type Endpoint } from '../src';
import { clientFrame, RawClient } from './helpers/raw-client';
import { delay, once, startServer, type TestServer } from './helpers/server';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** A request built from lines; the header block ends with an empty line. */
function request(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** The lines of a valid handshake for /ws, with some replaced or removed. */
function handshake(overrides: Record<string, string | null> = {}, requestLine = 'GET /ws HTTP/1.1'): string[] {
  const headers: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...overrides,
  };
  const lines = [requestLine];
  for (const [name, value] of Object.entries(headers)) if (value !== null) lines.push(`${name}: ${value}`);
  return lines;
}

// Node's own parser answers malformed HTTP with exactly these bytes and closes.
const NODE_400 = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const NODE_431 = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';

let srv: TestServer;
let endpoint: Endpoint;
const errors: unknown[] = [];
const raws: RawClient[] = [];

beforeAll(async () => {
  srv = await startServer();
  endpoint = attachWebSocket(
    srv.server,
    (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    },
    { path: '/ws', perMessageDeflate: true, onError: (err) => errors.push(err) },
  );
});

afterEach(() => {
  for (const c of raws.splice(0)) c.destroy();
});

afterAll(async () => {
  await endpoint.close({ timeout: 500 });
  await srv.close();
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(srv.port);
  raws.push(c);
  return c;
}

/** Writes the bytes and waits for the server to answer and end the connection. */
async function exchange(bytes: string | Buffer): Promise<RawClient> {
  const c = await connect();
  c.write(bytes);
  await c.waitClosed();
  return c;
}

/** A normal client still gets through and its message comes back. */
async function echoWorks(): Promise<void> {
  const ws = new WS(srv.url('/ws'));
  await once(ws, 'open');
  const text = `still up ${randomBytes(4).toString('hex')}`;
  ws.send(text);
  const [data] = await once<[Buffer]>(ws, 'message');
  expect(data.toString()).toBe(text);
  ws.close();
  await once(ws, 'close');
}

interface Case {
  name: string;
  bytes: string | Buffer;
  status: string;
  headers?: Record<string, string>;
  /** The whole response must be exactly this (Node's bodiless rejections). */
  exact?: string;
  body?: string;
}

// Rules the handshake module enforces: wsgate answers, with a text body, and ends the socket.
const handshakeRules: Case[] = [
  {
    name: 'POST',
    bytes: request(handshake({}, 'POST /ws HTTP/1.1')),
    status: 'HTTP/1.1 405 Method Not Allowed',
    headers: { Allow: 'GET', Connection: 'close' },
    body: 'Method POST is not allowed for a WebSocket handshake; use GET\n',
  },
  {
    name: 'PUT with a body',
    bytes: request(handshake({ 'Content-Length': '5' }, 'PUT /ws HTTP/1.1'), 'hello'),
    status: 'HTTP/1.1 405 Method Not Allowed',
    headers: { Allow: 'GET' },
  },
  {
    name: 'DELETE',
    bytes: request(handshake({}, 'DELETE /ws HTTP/1.1')),
    status: 'HTTP/1.1 405 Method Not Allowed',
    headers: { Allow: 'GET' },
  },
  {
    name: 'HTTP/1.0',
    bytes: request(handshake({}, 'GET /ws HTTP/1.0')),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'HTTP/1.0 cannot carry a WebSocket handshake; HTTP/1.1 or newer is required\n',
  },
  {
    name: 'no Host',
    bytes: request(handshake({ Host: null })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Missing Host header\n',
  },
  {
    name: 'Upgrade: h2c (not websocket)',
    bytes: request(handshake({ Upgrade: 'h2c' })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Upgrade header must contain "websocket"\n',
  },
  {
    name: 'no Sec-WebSocket-Key',
    bytes: request(handshake({ 'Sec-WebSocket-Key': null })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Missing Sec-WebSocket-Key header\n',
  },
  {
    name: 'key of 15 bytes',
    bytes: request(handshake({ 'Sec-WebSocket-Key': randomBytes(15).toString('base64') })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes\n',
  },
  {
    name: 'key that is not base64',
    bytes: request(handshake({ 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes\n',
  },
  {
    name: 'key sent twice',
    bytes: request([...handshake(), `Sec-WebSocket-Key: ${KEY}`]),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes\n',
  },
  {
    name: 'an 8 KiB key',
    bytes: request(handshake({ 'Sec-WebSocket-Key': 'A'.repeat(8192) })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes\n',
  },
  {
    name: 'no Sec-WebSocket-Version',
    bytes: request(handshake({ 'Sec-WebSocket-Version': null })),
    status: 'HTTP/1.1 400 Bad Request',
    headers: { 'Sec-WebSocket-Version': '13' },
    body: 'Missing Sec-WebSocket-Version header\n',
  },
  {
    name: 'version 8',
    bytes: request(handshake({ 'Sec-WebSocket-Version': '8' })),
    status: 'HTTP/1.1 426 Upgrade Required',
    headers: { 'Sec-WebSocket-Version': '13' },
    body: 'Unsupported WebSocket version "8"; this server speaks 13\n',
  },
  {
    name: 'malformed Sec-WebSocket-Protocol',
    bytes: request(handshake({ 'Sec-WebSocket-Protocol': 'chat,,chat' })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Malformed Sec-WebSocket-Protocol header\n',
  },
  {
    name: 'subprotocol with a separator character',
    bytes: request(handshake({ 'Sec-WebSocket-Protocol': 'chat; X-Injected=1' })),
    status: 'HTTP/1.1 400 Bad Request',
    body: 'Malformed Sec-WebSocket-Protocol header\n',
  },
  {
    name: 'malformed Sec-WebSocket-Extensions',
    bytes: request(handshake({ 'Sec-WebSocket-Extensions': 'permessage-deflate; ="' })),
    status: 'HTTP/1.1 400 Bad Request',
  },
  {
    name: 'unknown path',
    bytes: request(handshake({}, 'GET /nope HTTP/1.1')),
    status: 'HTTP/1.1 404 Not Found',
    body: 'No WebSocket endpoint at /nope\n',
  },
  {
    name: 'encoded CR LF in the path',
    bytes: request(handshake({}, 'GET /ws%0d%0aX-Injected:%201 HTTP/1.1')),
    status: 'HTTP/1.1 404 Not Found',
    body: 'No WebSocket endpoint at /ws%0d%0aX-Injected:%201\n',
  },
];

// Broken HTTP never reaches wsgate: Node's parser rejects it with a bare 400 (or 431).
const httpParserRules: Case[] = [
  {
    name: 'CR inside a header value',
    bytes: request(handshake({ 'Sec-WebSocket-Protocol': 'chat\rX-Injected: 1' })),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'LF inside a header value',
    bytes: request(handshake({ 'Sec-WebSocket-Protocol': 'chat\nX-Injected: 1' })),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'obsolete line folding',
    bytes: request(handshake({ 'Sec-WebSocket-Protocol': 'chat\r\n X-Injected: 1' })),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'NUL inside a header value',
    bytes: request(handshake({ 'Sec-WebSocket-Protocol': 'ch\0at' })),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'space before the colon',
    bytes: request([...handshake({ Upgrade: null }), 'Upgrade : websocket']),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'a 20 KB header (over maxHeaderSize, 16 KiB)',
    bytes: request(handshake({ 'X-Big': 'a'.repeat(20000) })),
    status: 'HTTP/1.1 431 Request Header Fields Too Large',
    exact: NODE_431,
  },
  {
    name: 'a 20 KB request target',
    bytes: request(handshake({}, `GET /ws?${'q'.repeat(20000)} HTTP/1.1`)),
    status: 'HTTP/1.1 431 Request Header Fields Too Large',
    exact: NODE_431,
  },
  {
    name: '3000 headers (over maxHeaderSize)',
    bytes: request([...handshake(), ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`)]),
    status: 'HTTP/1.1 431 Request Header Fields Too Large',
    exact: NODE_431,
  },
  {
    name: 'TLS ClientHello bytes',
    bytes: Buffer.from('16030100a5010000a10303', 'hex'),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'binary garbage',
    bytes: Buffer.from([0x00, 0xff, 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, 0x0d, 0x0a, 0x0d, 0x0a]),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'the HTTP/2 connection preface',
    bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'lower-case method',
    bytes: request(handshake({}, 'get /ws HTTP/1.1')),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
  {
    name: 'HTTP/1.1 with a missing version digit',
    bytes: request(handshake({}, 'GET /ws HTTP/1.')),
    status: 'HTTP/1.1 400 Bad Request',
    exact: NODE_400,
  },
];

describe('malformed handshakes get the exact refusal and a closed socket', () => {
  test.each([...handshakeRules, ...httpParserRules].map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const client = await exchange(c.bytes);
    expect(client.statusLine).toBe(c.status);
    if (c.exact !== undefined) expect(client.received.toString('latin1')).toBe(c.exact);
    for (const [name, value] of Object.entries(c.headers ?? {})) expect(client.header(name)).toBe(value);
    if (c.body !== undefined) expect(client.body).toBe(c.body);
    expect(client.header('X-Injected')).toBeUndefined();
    expect(client.header('Sec-WebSocket-Accept')).toBeUndefined();
  });

  test('CONNECT: Node drops the connection without answering', async () => {
    const client = await exchange(request(handshake({}, 'CONNECT 127.0.0.1:80 HTTP/1.1')));
    expect(client.received.length).toBe(0);
  });

  test('counts its refusals by status', () => {
    // Only the endpoint's own refusals count: Node's 400/431 never reach wsgate, and a 404
    // (no endpoint matched) belongs to no endpoint.
    const expected: Record<number, number> = {};
    for (const c of handshakeRules) {
      const status = Number(c.status.split(' ')[1]);
      if (status !== 404) expected[status] = (expected[status] ?? 0) + 1;
    }
    expect(expected).toEqual({ 400: 12, 405: 3, 426: 1 });
    expect(endpoint.stats().rejected).toEqual(expected);
    expect(endpoint.stats().accepted).toBe(0);
  });

  test('no error was reported and normal clients are still served', async () => {
    expect(errors).toEqual([]);
    await echoWorks();
  });
});

describe('requests that are not WebSocket handshakes go to the HTTP handler', () => {
  // Without both Upgrade and "Connection: upgrade", Node treats it as a plain request.
  test.each([
    ['no Upgrade header', request(handshake({ Upgrade: null }))],
    ['no upgrade token in Connection', request(handshake({ Connection: 'keep-alive' }))],
    ['no Connection header', request(handshake({ Connection: null }))],
  ])('%s: 200 from the app, no 101', async (_name, bytes) => {
    const client = await connect();
    client.write(bytes);
    await client.waitFor(() => client.body === 'http ok');
    expect(client.statusLine).toBe('HTTP/1.1 200 OK');
    expect(client.header('Upgrade')).toBeUndefined();
  });
});

describe('odd but valid requests', () => {
  async function expectAcceptedAndEcho(client: RawClient): Promise<void> {
    await client.waitFor(() => client.head !== '');
    expect(client.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(client.header('Sec-WebSocket-Accept')).toBe(ACCEPT);
    client.send({ opcode: 0x1, payload: 'after all that' });
    await client.waitFor(() => client.frames.length > 0);
    expect(client.frames[0].opcode).toBe(0x1);
    expect(client.frames[0].payload.toString()).toBe('after all that');
  }

  test('a handshake written one byte at a time is accepted', async () => {
    const client = await connect();
    client.socket.setNoDelay(true);
    const bytes = Buffer.from(request(handshake()));
    for (const byte of bytes) {
      client.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expectAcceptedAndEcho(client);
  });

  test('a bad handshake written one byte at a time is still refused', async () => {
    const client = await connect();
    client.socket.setNoDelay(true);
    for (const byte of Buffer.from(request(handshake({ 'Sec-WebSocket-Version': '8' })))) {
      client.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await client.waitClosed();
    expect(client.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
  });

  test('empty lines alone get no answer; a request after them is served', async () => {
    // RFC 9112 2.2: a server should ignore empty lines before the request line.
    const client = await connect();
    client.write('\r\n\r\n\r\n');
    await delay(100);
    expect(client.received.length).toBe(0);
    expect(client.closed).toBe(false);
    client.write(request(handshake()));
    await expectAcceptedAndEcho(client);
  });

  // Numerous headers are Node's to handle, and Node changed: http.Server's limit
  // (maxHeadersCount, 2000 names and values, so 1000 header lines) makes Node 20 drop the lines
  // past it and pass the request on, while Node 22 and later answer such a request with their
  // own bare 431 before 'upgrade' is emitted, so wsgate never sees it (measured on 20.20,
  // 22.23 and 24.22: 1000 lines pass, 1001 get the 431). Only here does a test expect a
  // different outcome per Node version.
  const nodeRefusesManyHeaders = Number(process.versions.node.split('.')[0]) >= 22;
  const junk = Array.from({ length: 2500 }, (_, i) => `a:${i % 10}`);

  test('2500 small headers before the handshake: refused (Node 20: the handshake headers are dropped, so 400; 22+: Node\'s 431)', async () => {
    const client = await exchange(request(['GET /ws HTTP/1.1', ...junk, ...handshake().slice(1)]));
    if (nodeRefusesManyHeaders) {
      expect(client.received.toString('latin1')).toBe(NODE_431);
    } else {
      expect(client.statusLine).toBe('HTTP/1.1 400 Bad Request');
      expect(client.body).toBe('Missing Host header\n');
    }
  });

  test('2500 small headers after the handshake headers: Node 20 drops them and the handshake succeeds; 22+ answers 431', async () => {
    const client = await connect();
    client.write(request([...handshake(), ...junk]));
    if (nodeRefusesManyHeaders) {
      await client.waitClosed();
      expect(client.received.toString('latin1')).toBe(NODE_431);
    } else {
      await expectAcceptedAndEcho(client);
    }
  });

  test('frame bytes in the same packet as the handshake are not lost', async () => {
    const client = await connect();
    client.write(Buffer.concat([Buffer.from(request(handshake())), clientFrame({ opcode: 0x1, payload: 'early' })]));
    await client.waitFor(() => client.frames.length > 0);
    expect(client.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(client.frames[0].payload.toString()).toBe('early');
  });

  test('many hostile connections at once, then normal service', async () => {
    const all = [...handshakeRules, ...httpParserRules];
    const clients = await Promise.all(all.map((c) => exchange(c.bytes)));
    clients.forEach((client, i) => expect(client.statusLine).toBe(all[i].status));
    expect(errors).toEqual([]);
    await echoWorks();
  });
});

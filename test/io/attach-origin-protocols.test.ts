// Origin policy (cross-site WebSocket hijacking) and subprotocol negotiation, end to end.
import cookieParser from 'cookie-parser';
import express from 'express';
import { attachWebSocket, type AttachOptions, type Endpoint } from '../../src';
import { handshakeRequest, RawClient } from '../helpers/raw-client';
import { startServer, type TestServer } from '../helpers/server';
import { parseRawResponse, UpgradeClients } from '../helpers/upgrade-clients';

let t: TestServer;
let clients: UpgradeClients;
let errors: unknown[];
let handled: number;
let endpoint: Endpoint;

async function serve(options: AttachOptions): Promise<void> {
  t = await startServer(express());
  clients = new UpgradeClients(() => t.port);
  errors = [];
  handled = 0;
  endpoint = attachWebSocket(
    t.server,
    (socket, req) => {
      handled++;
      socket.send(JSON.stringify({ protocol: socket.protocol, origin: req.headers.origin ?? null }));
    },
    { path: '/ws', heartbeat: false, onError: (err) => errors.push(err), ...options },
  );
}

afterEach(async () => {
  clients.closeAll();
  for (const s of endpoint.clients) s.terminate();
  await t.close();
});

/** A raw handshake that was refused: the one response it got, with nothing after it. */
async function refused(headers: Record<string, string>) {
  const raw = await clients.raw('/ws', headers);
  expect(raw.received.includes('101 Switching')).toBe(false);
  const res = parseRawResponse(raw.received);
  expect(res.rest.length).toBe(0);
  return res;
}

/** A raw handshake that was accepted: its 101 head. */
async function accepted(headers: Record<string, string>): Promise<RawClient> {
  const raw = await clients.rawConnect('/ws', headers);
  await raw.waitFor(() => raw.head !== '');
  expect(raw.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  return raw;
}

describe('origins', () => {
  test('an allowed Origin connects; others get 403 and no 101; no Origin is allowed', async () => {
    await serve({ origins: ['https://app.example', 'http://localhost:3000'] });
    expect((await clients.open('/ws', undefined, { origin: 'https://app.example' })).first.origin).toBe('https://app.example');
    expect((await clients.open('/ws', undefined, { origin: 'http://localhost:3000' })).first.origin).toBe('http://localhost:3000');
    expect((await clients.open('/ws')).first.origin).toBeNull();

    const res = await refused({ Origin: 'https://evil.example' });
    expect(res.statusLine).toBe('HTTP/1.1 403 Forbidden');
    expect(res.headers.connection).toBe('close');
    expect(res.body).toBe('Origin "https://evil.example" is not allowed\n');
    for (const origin of ['http://app.example', 'https://app.example:8443', 'https://app.example.evil.example', 'null']) {
      expect({ origin, status: (await refused({ Origin: origin })).statusLine }).toEqual({ origin, status: 'HTTP/1.1 403 Forbidden' });
    }
    expect(handled).toBe(3);
    expect(endpoint.stats().rejected).toEqual({ 403: 5 });
  });

  test('the `ws` client sees the 403 as a refusal', async () => {
    await serve({ origins: 'https://app.example' });
    expect((await clients.refused('/ws', undefined, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await clients.open('/ws', undefined, { origin: 'https://app.example' })).first.origin).toBe('https://app.example');
  });

  test('RegExp and function rules', async () => {
    await serve({ origins: [/^https:\/\/[a-z]+\.app\.example$/, (o) => o.endsWith(':5173')] });
    await accepted({ Origin: 'https://eu.app.example' });
    await accepted({ Origin: 'http://localhost:5173' });
    expect((await refused({ Origin: 'https://app.example' })).statusLine).toBe('HTTP/1.1 403 Forbidden');
  });

  test('requireOrigin refuses a request without Origin', async () => {
    await serve({ origins: ['https://app.example'], requireOrigin: true });
    const res = await refused({});
    expect(res.statusLine).toBe('HTTP/1.1 403 Forbidden');
    expect(res.body).toBe('An Origin header is required\n');
    await accepted({ Origin: 'https://app.example' });
  });

  test('a throwing origin function answers 500 and is reported, not thrown', async () => {
    const boom = new Error('origin check broke');
    await serve({
      origins: () => {
        throw boom;
      },
    });
    expect((await refused({ Origin: 'https://app.example' })).statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(errors).toEqual([boom]);
  });

  test('a cookie-authenticated endpoint refuses a cross-site page before its middleware runs', async () => {
    const auth = jest.fn((req, res, next) => (req.cookies.sid === 'ok' ? next() : res.sendStatus(401)));
    await serve({ origins: ['https://app.example'], use: [cookieParser(), auth] });
    // The browser attaches the victim's cookie to a socket opened by a page on another site.
    expect((await refused({ Origin: 'https://evil.example', Cookie: 'sid=ok' })).statusLine).toBe('HTTP/1.1 403 Forbidden');
    expect(auth).not.toHaveBeenCalled();
    await accepted({ Origin: 'https://app.example', Cookie: 'sid=ok' });
    expect(auth).toHaveBeenCalledTimes(1);
  });
});

describe('subprotocols', () => {
  test("the server's preference wins among those offered; socket.protocol matches", async () => {
    await serve({ protocols: ['a', 'b'] });
    const { client, first } = await clients.open('/ws', ['b', 'a']);
    expect(client.protocol).toBe('a');
    expect(first.protocol).toBe('a');
    expect((await clients.open('/ws', ['c', 'b'])).first.protocol).toBe('b');

    const raw = await accepted({ 'Sec-WebSocket-Protocol': 'b, a' });
    expect(raw.header('Sec-WebSocket-Protocol')).toBe('a');
    expect(raw.head.match(/sec-websocket-protocol/gi)).toHaveLength(1);
  });

  test('protocol names are compared exactly (case-sensitive)', async () => {
    await serve({ protocols: ['graphql-ws'] });
    const raw = await accepted({ 'Sec-WebSocket-Protocol': 'GRAPHQL-WS' });
    expect(raw.header('Sec-WebSocket-Protocol')).toBeUndefined();
  });

  test('a selector gets the offered list and the request', async () => {
    const calls: unknown[] = [];
    await serve({
      path: '/ws',
      protocols: (offered, req) => {
        calls.push({ offered, url: req.url, agent: req.headers['user-agent'] });
        return offered.includes('v2.chat') && req.url?.endsWith('beta=1') ? 'v2.chat' : offered.includes('v1.chat') ? 'v1.chat' : false;
      },
    });
    const { client, first } = await clients.open('/ws?beta=1', ['v1.chat', 'v2.chat'], { headers: { 'User-Agent': 'tester' } });
    expect(client.protocol).toBe('v2.chat');
    expect(first.protocol).toBe('v2.chat');
    expect((await clients.open('/ws', ['v1.chat', 'v2.chat'], { headers: { 'User-Agent': 'tester' } })).first.protocol).toBe('v1.chat');
    expect(calls).toEqual([
      { offered: ['v1.chat', 'v2.chat'], url: '/ws?beta=1', agent: 'tester' },
      { offered: ['v1.chat', 'v2.chat'], url: '/ws', agent: 'tester' },
    ]);
  });

  test('a selector choosing something not offered, or false, means no protocol', async () => {
    await serve({ protocols: (offered) => (offered.includes('x') ? 'not-offered' : false) });
    expect((await accepted({ 'Sec-WebSocket-Protocol': 'x' })).header('Sec-WebSocket-Protocol')).toBeUndefined();
    expect((await accepted({ 'Sec-WebSocket-Protocol': 'y' })).header('Sec-WebSocket-Protocol')).toBeUndefined();
  });

  test('no match: the connection opens without a protocol', async () => {
    await serve({ protocols: ['a', 'b'] });
    const raw = await accepted({ 'Sec-WebSocket-Protocol': 'c, d' });
    expect(raw.header('Sec-WebSocket-Protocol')).toBeUndefined();
    await raw.waitFor(() => raw.frames.length === 1);
    expect(JSON.parse(raw.frames[0].payload.toString()).protocol).toBe('');
    // A client that offers nothing gets nothing.
    expect((await clients.open('/ws')).first.protocol).toBe('');
  });

  test('without a protocols option, offers are ignored', async () => {
    await serve({});
    expect((await accepted({ 'Sec-WebSocket-Protocol': 'a' })).header('Sec-WebSocket-Protocol')).toBeUndefined();
  });

  test('requireProtocol: no acceptable offer is a 400', async () => {
    await serve({ protocols: ['a', 'b'], requireProtocol: true });
    const res = await refused({ 'Sec-WebSocket-Protocol': 'c' });
    expect(res.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(res.body).toBe('No acceptable subprotocol offered: expected one of a, b\n');
    expect((await refused({})).statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect((await clients.open('/ws', ['b'])).first.protocol).toBe('b');
    expect(handled).toBe(1);
  });

  test.each([
    ['a duplicate', 'a, a'],
    ['a space inside a token', 'a b'],
    ['a separator character', 'a;b'],
    ['a quoted string', '"a"'],
    ['an empty value', ''],
  ])('a malformed header (%s) is a 400', async (_name, value) => {
    await serve({ protocols: ['a', 'b'] });
    const res = await refused({ 'Sec-WebSocket-Protocol': value });
    expect(res.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(res.body).toBe('Malformed Sec-WebSocket-Protocol header\n');
    expect(handled).toBe(0);
  });

  test('the same protocol on two header lines is a duplicate too; distinct lines are one list', async () => {
    await serve({ protocols: ['b', 'a'] });
    const send = async (lines: string[]) => {
      const raw = await RawClient.connect(t.port);
      const request = handshakeRequest('/ws', {}, t.port).replace(/\r\n\r\n$/, '\r\n');
      raw.write(`${request}${lines.map((l) => `Sec-WebSocket-Protocol: ${l}\r\n`).join('')}\r\n`);
      await raw.waitFor(() => raw.head !== '');
      raw.destroy();
      return raw;
    };
    expect((await send(['a', 'a'])).statusLine).toBe('HTTP/1.1 400 Bad Request');
    const ok = await send(['a', 'b']);
    expect(ok.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(ok.header('Sec-WebSocket-Protocol')).toBe('b');
  });

  test('a throwing selector answers 500 and is reported, not thrown', async () => {
    const boom = new Error('selector broke');
    await serve({
      protocols: () => {
        throw boom;
      },
    });
    expect((await refused({ 'Sec-WebSocket-Protocol': 'a' })).statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(errors).toEqual([boom]);
    expect(handled).toBe(0);
  });
});

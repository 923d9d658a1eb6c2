// Foundation: HTTP routes and WebSocket endpoints on one port, rejections as real HTTP
// responses, bytes sent with the upgrade request, and the same over https (wss).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import WebSocketClient from 'ws';
import { attachWebSocket, type Endpoint } from '../../src';
import { clientFrame, handshakeRequest, RawClient } from '../helpers/raw-client';
import { once, startServer, type TestServer } from '../helpers/server';

function echo(endpointSocket: import('../../src').WebSocket): void {
  endpointSocket.on('message', (data, isBinary) => endpointSocket.send(data, { binary: isBinary }));
}

async function roundTrip(url: string, message: string, options?: WebSocketClient.ClientOptions): Promise<string> {
  const client = new WebSocketClient(url, options);
  await once(client, 'open');
  client.send(message);
  const [data] = await once<[Buffer]>(client, 'message');
  client.close();
  await once(client, 'close');
  return data.toString();
}

describe('attachWebSocket on an Express app', () => {
  let t: TestServer;
  let endpoint: Endpoint;

  beforeEach(async () => {
    const app = express();
    app.get('/health', (_req, res) => res.send('ok'));
    t = await startServer(app);
    endpoint = attachWebSocket(t.server, (socket) => echo(socket), { path: '/ws' });
  });
  afterEach(() => t.close());

  test('HTTP routes and the WebSocket endpoint share one host and port', async () => {
    await request(t.server).get('/health').expect(200, 'ok');
    expect(await roundTrip(t.url('/ws'), 'hello')).toBe('hello');
    await request(t.server).get('/health').expect(200, 'ok');
  });

  test('a plain GET to the WebSocket path is left to Express', async () => {
    await request(t.server).get('/ws').expect(404);
  });

  test('the endpoint handle lists open sockets and close() closes them', async () => {
    const client = new WebSocketClient(t.url('/ws'));
    await once(client, 'open');
    expect(endpoint.clients.size).toBe(1);
    const closed = once<[number, Buffer]>(client, 'close');
    await endpoint.close();
    const [code] = await closed;
    expect(code).toBe(1001);
    expect(endpoint.clients.size).toBe(0);
  });

  test('the handler receives the socket and the original IncomingMessage', async () => {
    const seen: { url?: string; header?: string; state?: number }[] = [];
    attachWebSocket(t.server, (socket, req) => {
      seen.push({ url: req.url, header: req.headers['x-test'] as string, state: socket.readyState });
      socket.close();
    }, { path: '/req' });
    const client = new WebSocketClient(t.url('/req?x=1'), { headers: { 'X-Test': 'yes' } });
    await once(client, 'close');
    expect(seen).toEqual([{ url: '/req?x=1', header: 'yes', state: 1 }]);
  });
});

describe('rejections are real HTTP responses', () => {
  let t: TestServer;
  let handled = 0;

  beforeEach(async () => {
    handled = 0;
    t = await startServer();
    attachWebSocket(t.server, (socket) => {
      handled++;
      echo(socket);
    }, { path: '/ws' });
  });
  afterEach(() => t.close());

  const cases: [string, Record<string, string>, string, number][] = [
    ['bad key', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }, '/ws', 400],
    ['old version', { 'Sec-WebSocket-Version': '8' }, '/ws', 426],
    ['an upgrade to another protocol', { Upgrade: 'h2c' }, '/ws', 400],
    ['unclaimed path', {}, '/elsewhere', 404],
  ];
  test.each(cases)('%s', async (_name, headers, path, status) => {
    const client = await RawClient.connect(t.port);
    client.write(handshakeRequest(path, headers, t.port));
    await client.waitClosed();
    expect(client.statusLine).toBe(`HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : status === 404 ? 'Not Found' : 'Upgrade Required'}`);
    expect(client.header('connection')).toBe('close');
    expect(client.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(Number(client.header('content-length'))).toBe(Buffer.byteLength(client.body));
    expect(client.body.length).toBeGreaterThan(0);
    expect(client.received.toString('latin1')).not.toContain('101 Switching');
    if (status === 426) expect(client.header('sec-websocket-version')).toBe('13');
    expect(handled).toBe(0);
  });

  test('a non-GET upgrade gets 405 with Allow: GET', async () => {
    const client = await RawClient.connect(t.port);
    client.write(handshakeRequest('/ws', {}, t.port).replace(/^GET/, 'POST'));
    await client.waitClosed();
    expect(client.statusLine).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(client.header('allow')).toBe('GET');
    expect(handled).toBe(0);
  });

  test('bytes sent together with the upgrade request are the first frames', async () => {
    const client = await RawClient.connect(t.port);
    const frame = clientFrame({ opcode: 1, payload: 'early bird' });
    client.write(Buffer.concat([Buffer.from(handshakeRequest('/ws', {}, t.port)), frame]));
    await client.waitFor(() => client.frames.length > 0);
    expect(client.frames[0].opcode).toBe(1);
    expect(client.frames[0].payload.toString()).toBe('early bird');
    client.destroy();
  });
});

describe('several endpoints and other upgrade listeners', () => {
  let t: TestServer;
  afterEach(() => t.close());

  test('two endpoints on one server each get their own path', async () => {
    t = await startServer();
    attachWebSocket(t.server, (s) => s.send('one'), { path: '/one' });
    attachWebSocket(t.server, (s) => s.send('two'), { path: '/two' });
    for (const name of ['one', 'two']) {
      const client = new WebSocketClient(t.url(`/${name}`));
      const [data] = await once<[Buffer]>(client, 'message');
      expect(data.toString()).toBe(name);
      client.close();
    }
  });

  test('an unclaimed upgrade is left to another library listening on the server', async () => {
    t = await startServer();
    attachWebSocket(t.server, (s) => s.send('wsgate'), { path: '/mine' });
    const other = new WebSocketClient.Server({ noServer: true });
    t.server.on('upgrade', (req, socket, head) => {
      if (req.url !== '/theirs') return;
      other.handleUpgrade(req, socket, head, (ws) => ws.send('other library'));
    });
    for (const [p, expected] of [['/mine', 'wsgate'], ['/theirs', 'other library']]) {
      const client = new WebSocketClient(t.url(p));
      const [data] = await once<[Buffer]>(client, 'message');
      expect(data.toString()).toBe(expected);
      client.close();
    }
    other.close();
  });
});

describe('wss on an https.Server', () => {
  let dir: string;
  let server: https.Server;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'wsgate-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    server = https.createServer({
      key: readFileSync(path.join(dir, 'key.pem')),
      cert: readFileSync(path.join(dir, 'cert.pem')),
    }, (_req, res) => res.end('secure ok'));
    attachWebSocket(server, (socket) => echo(socket), { path: '/ws' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('echoes over TLS', async () => {
    const { port } = server.address() as AddressInfo;
    const ca = readFileSync(path.join(dir, 'cert.pem'));
    expect(await roundTrip(`wss://localhost:${port}/ws`, 'über tls', { ca })).toBe('über tls');
  });
});

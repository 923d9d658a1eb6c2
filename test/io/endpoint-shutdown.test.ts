// Graceful shutdown: endpoint.close({ code, reason, timeout }) refuses new upgrades with 503,
// closes every socket, waits (bounded) for the peers' answers, then terminates the rest.
//
// The SIGTERM pattern these tests exercise (last test):
//
//   process.once('SIGTERM', async () => {
//     server.close();                          // stop accepting TCP connections
//     await endpoint.close({ timeout: 5000 }); // 503 to upgrades, 1001 to clients, then terminate
//     // server.close()'s callback fires once the last (keep-alive) HTTP connection ends;
//     // server.closeAllConnections() ends those at once if waiting is not wanted.
//   });
import http from 'node:http';
import WsClient from 'ws';
import { attachWebSocket, type Endpoint, type WebSocket } from '../../src';
import { handshakeRequest, RawClient } from '../helpers/raw-client';
import { delay, once, startServer } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

let srv: WsServer;

afterEach(async () => {
  await srv?.close();
});

/** A raw upgrade attempt; resolves with the client once the response head arrived. */
async function tryUpgrade(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  client.write(handshakeRequest('/', {}, port));
  await client.waitFor(() => client.head !== '');
  return client;
}

async function wsClients(n: number): Promise<{ client: WsClient; socket: WebSocket }[]> {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ client: await srv.wsClient(), socket: await srv.nextSocket() });
  return out;
}

test('with no clients it resolves at once, and new upgrades get 503', async () => {
  srv = await startWsServer();
  await srv.endpoint.close();
  const refused = await tryUpgrade(srv.port);
  expect(refused.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
  expect(refused.body).toBe('Server is shutting down\n');
  await refused.waitClosed();
  refused.destroy();
  expect(srv.endpoint.stats().rejected).toEqual({ 503: 1 });
  // Plain HTTP on the same server is not affected.
  const res = await fetch(`http://127.0.0.1:${srv.port}/`);
  expect(await res.text()).toBe('http ok');
});

test('polite clients get 1001 and the promise resolves without waiting for the timeout', async () => {
  srv = await startWsServer();
  const s = await wsClients(3);
  const clientCloses = s.map(({ client }) => once<[number, Buffer]>(client, 'close'));
  const serverCloses = s.map(({ socket }) => once<[number, string]>(socket, 'close'));
  const started = Date.now();
  await srv.endpoint.close({ timeout: 10_000 });
  expect(Date.now() - started).toBeLessThan(5000); // did not sit out the timeout
  for (const c of await Promise.all(clientCloses)) expect([c[0], c[1].toString()]).toEqual([1001, '']);
  for (const c of await Promise.all(serverCloses)) expect(c).toEqual([1001, '']);
  expect(srv.endpoint.clients.size).toBe(0);
  for (const { client } of s) expect(client.readyState).toBe(WsClient.CLOSED);
});

test('code and reason are passed on', async () => {
  srv = await startWsServer();
  const [{ client }] = await wsClients(1);
  const closed = once<[number, Buffer]>(client, 'close');
  await srv.endpoint.close({ code: 4000, reason: 'maintenance' });
  const [code, reason] = await closed;
  expect([code, reason.toString()]).toEqual([4000, 'maintenance']);
});

test('a client that never answers the close is terminated at the timeout', async () => {
  srv = await startWsServer();
  const raw = await srv.rawClient(); // never answers anything
  const rawSocket = await srv.nextSocket();
  const [{ client, socket }] = await wsClients(1);
  const rawClosed = once<[number, string]>(rawSocket, 'close', 5000);
  const politeClosed = once<[number, string]>(socket, 'close', 5000);
  const started = Date.now();
  let resolvedAt = 0;
  const done = srv.endpoint.close({ timeout: 300 }).then(() => (resolvedAt = Date.now()));
  expect(await politeClosed).toEqual([1001, '']); // the polite one is done well before
  expect(resolvedAt).toBe(0);
  await raw.waitFor(() => raw.closeFrame !== undefined);
  expect(raw.closeFrame).toEqual({ code: 1001, reason: '' });
  expect(await rawClosed).toEqual([1006, '']); // no close frame from the peer
  await done;
  expect(resolvedAt - started).toBeGreaterThanOrEqual(290);
  expect(resolvedAt - started).toBeLessThan(4000); // not the socket's own 5 s closeTimeout
  await raw.waitClosed();
  expect(client.readyState).toBe(WsClient.CLOSED);
  expect(srv.endpoint.clients.size).toBe(0);
});

test('sockets already closing are waited for, not closed twice', async () => {
  srv = await startWsServer({ closeTimeout: 10_000 });
  const raw = await srv.rawClient();
  const socket = await srv.nextSocket();
  socket.close(4001, 'app closed it'); // the peer never answers: stays CLOSING
  expect(socket.readyState).toBe(2);
  const closed = once<[number, string]>(socket, 'close', 5000);
  await srv.endpoint.close({ timeout: 200 });
  expect(await closed).toEqual([1006, '']);
  await raw.waitClosed();
  const closeFrames = raw.frames.filter((f) => f.opcode === 0x8);
  expect(closeFrames.length).toBe(1);
  expect(raw.closeFrame).toEqual({ code: 4001, reason: 'app closed it' });
});

test('calling close() twice is harmless', async () => {
  srv = await startWsServer();
  await wsClients(2);
  const a = srv.endpoint.close({ timeout: 2000 });
  const b = srv.endpoint.close({ timeout: 2000 });
  await Promise.all([a, b]);
  expect(srv.endpoint.clients.size).toBe(0);
  await expect(srv.endpoint.close()).resolves.toBeUndefined();
});

test('an invalid code or reason rejects before anything is closed', async () => {
  srv = await startWsServer();
  const [{ socket }] = await wsClients(1);
  await expect(srv.endpoint.close({ code: 1005 })).rejects.toThrow(RangeError);
  await expect(srv.endpoint.close({ code: 1000.5 })).rejects.toThrow(RangeError);
  await expect(srv.endpoint.close({ reason: 'x'.repeat(124) })).rejects.toThrow(RangeError);
  expect(socket.readyState).toBe(1);
  // Still accepting: the failed calls did not start a shutdown.
  const second = await srv.rawClient();
  expect(second.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
});

test('an upgrade still in verify() when close() is called gets 503', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  srv = await startWsServer({ verify: () => gate.then(() => true) });
  const pending = await RawClient.connect(srv.port);
  pending.write(handshakeRequest('/', {}, srv.port));
  await delay(50); // in verify()
  await srv.endpoint.close();
  release();
  await pending.waitFor(() => pending.head !== '');
  expect(pending.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
  pending.destroy();
});

test('SIGTERM pattern: server.close() + endpoint.close() let the server close completely', async () => {
  const t = await startServer();
  const endpoint: Endpoint = attachWebSocket(t.server, () => {}, { heartbeat: false });
  const polite = new WsClient(t.url());
  await once(polite, 'open');
  const silent = await RawClient.open(t.port); // answers nothing
  // A keep-alive HTTP connection left open by an earlier request.
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: t.port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });

  let serverClosed = false;
  t.server.close(() => (serverClosed = true));
  await endpoint.close({ timeout: 300 });
  expect(endpoint.clients.size).toBe(0);
  for (let i = 0; i < 300 && !serverClosed; i++) await delay(10);
  expect(serverClosed).toBe(true);
  expect(polite.readyState).toBe(WsClient.CLOSED);
  await silent.waitClosed();
  agent.destroy();
});

test('a closed endpoint is replaced by attaching again on the same server and path (hot reload)', async () => {
  srv = await startWsServer();
  await srv.endpoint.close();
  expect((await tryUpgrade(srv.port)).statusLine).toBe('HTTP/1.1 503 Service Unavailable');
  const fresh = attachWebSocket(srv.server, (socket) => socket.send('fresh'), { heartbeat: false });
  const client = new WsClient(`ws://127.0.0.1:${srv.port}/`);
  const [first] = await once<[Buffer]>(client, 'message');
  expect(first.toString()).toBe('fresh');
  expect(fresh.stats().accepted).toBe(1);
  client.close();
  await fresh.close();
});

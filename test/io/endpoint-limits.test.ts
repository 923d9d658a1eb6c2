// maxConnections (503 + Retry-After past the limit) and the endpoint's counters, checked
// with exact numbers for a scripted exchange of known frames.
import { attachWebSocket } from '../../src';
import { handshakeRequest, RawClient } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

let srv: WsServer;
const raws: RawClient[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await srv?.close();
});

/** An upgrade attempt that may be refused; resolves once the response head arrived. */
async function attempt(headers: Record<string, string> = {}): Promise<RawClient> {
  const client = await RawClient.connect(srv.port);
  raws.push(client);
  client.write(handshakeRequest('/', headers, srv.port));
  await client.waitFor(() => client.head !== '');
  return client;
}

describe('maxConnections', () => {
  test('the N+1-th upgrade gets 503 with Retry-After; after one closes a new one is accepted', async () => {
    srv = await startWsServer({ maxConnections: 2 });
    const a = await attempt();
    const b = await attempt();
    expect(a.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(b.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    const sa = await srv.nextSocket();
    await srv.nextSocket();

    const c = await attempt();
    expect(c.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(c.header('Retry-After')).toBe('5');
    expect(c.body).toBe('Too many connections\n');
    await c.waitClosed();
    expect(srv.endpoint.clients.size).toBe(2);

    // A closes (close handshake); once its socket is gone there is room again.
    const closed = once<[number, string]>(sa, 'close');
    a.send({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) });
    expect(await closed).toEqual([1000, '']);
    const d = await attempt();
    expect(d.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    const e = await attempt();
    expect(e.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    const stats = srv.endpoint.stats();
    expect(stats.connections).toBe(2);
    expect(stats.accepted).toBe(3);
    expect(stats.rejected).toEqual({ 503: 2 });
  });

  test('upgrades still being verified count toward the limit', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    srv = await startWsServer({ maxConnections: 1, verify: () => gate.then(() => true) });
    const first = await RawClient.connect(srv.port);
    raws.push(first);
    first.write(handshakeRequest('/', {}, srv.port));
    await delay(50); // waiting in verify()
    const second = await attempt();
    expect(second.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    release();
    await first.waitFor(() => first.head !== '');
    expect(first.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  });

  test('maxConnections: 0 refuses every upgrade; a negative value is an error', async () => {
    srv = await startWsServer({ maxConnections: 0 });
    expect((await attempt()).statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(() => attachWebSocket(srv.server, () => {}, { maxConnections: -1 })).toThrow(RangeError);
  });
});

describe('stats()', () => {
  test('exact counts for a scripted exchange', async () => {
    // Echoes every message back as it came.
    srv = await startWsServer({}, (socket) => {
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    expect(srv.endpoint.stats()).toEqual({
      connections: 0,
      accepted: 0,
      rejected: {},
      byTransport: { 'http/1.1': 0, h2: 0 },
      refusedBy: { origin: 0, perClient: 0, maxConnections: 0, shuttingDown: 0 },
      closedBy: { backpressure: 0, payloadSize: 0, rateLimit: 0 },
      topics: {},
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      backpressureEvents: 0,
    });

    const a = await RawClient.open(srv.port);
    const b = await RawClient.open(srv.port);
    raws.push(a, b);
    const sa = await srv.nextSocket();
    await srv.nextSocket();

    // In: client frames are masked, so header + 4 mask bytes + payload.
    a.send({ opcode: 0x1, payload: 'hello' }); // 2 + 4 + 5 = 11 in; echo 2 + 5 = 7 out
    a.send({ opcode: 0x2, payload: Buffer.alloc(200, 1) }); // 4 + 4 + 200 = 208 in; echo 4 + 200 = 204 out
    a.send({ opcode: 0x9, payload: 'p' }); // 2 + 4 + 1 = 7 in; pong 2 + 1 = 3 out; not a message
    a.send({ opcode: 0x1, payload: 'ab', fin: false }); // 2 + 4 + 2 = 8 in
    a.send({ opcode: 0x0, payload: 'cd' }); // 8 in; one message "abcd", echo 2 + 4 = 6 out
    await a.waitFor(() => a.frames.length === 4);
    expect(a.frames.map((f) => [f.opcode, f.payload.length])).toEqual([
      [0x1, 5],
      [0x2, 200],
      [0xa, 1],
      [0x1, 4],
    ]);

    expect(srv.endpoint.broadcast('x')).toBe(2); // 2 messages, 3 bytes each
    await b.waitFor(() => b.frames.length === 1);
    await a.waitFor(() => a.frames.length === 5);

    // Refused handshakes, by status.
    expect((await attempt({ 'Sec-WebSocket-Version': '8' })).statusLine).toBe('HTTP/1.1 426 Upgrade Required');
    expect((await attempt({ 'Sec-WebSocket-Key': 'short' })).statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect((await attempt({ 'Sec-WebSocket-Key': '' })).statusLine).toBe('HTTP/1.1 400 Bad Request');

    // A closes: close frame 2 + 4 + 2 = 8 in, the answer 2 + 2 = 4 out.
    const closed = once(sa, 'close');
    a.send({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) });
    await closed;

    expect(srv.endpoint.stats()).toEqual({
      connections: 1,
      accepted: 2,
      rejected: { 400: 2, 426: 1 },
      byTransport: { 'http/1.1': 1, h2: 0 },
      refusedBy: { origin: 0, perClient: 0, maxConnections: 0, shuttingDown: 0 },
      closedBy: { backpressure: 0, payloadSize: 0, rateLimit: 0 },
      topics: {},
      messagesIn: 3,
      messagesOut: 3 + 2,
      bytesIn: 11 + 208 + 7 + 8 + 8 + 8,
      bytesOut: 7 + 204 + 3 + 6 + 3 * 2 + 4,
      backpressureEvents: 0,
    });
  });

  test('stats() is a snapshot, not a live view', async () => {
    srv = await startWsServer({ maxConnections: 0 });
    const before = srv.endpoint.stats();
    await attempt();
    expect(before.rejected).toEqual({});
    expect(srv.endpoint.stats().rejected).toEqual({ 503: 1 });
  });
});

// Slow peers. Before the 101 the request belongs to Node's HTTP server, so a half-sent
// handshake is bounded by its headersTimeout/requestTimeout, checked every
// connectionsCheckingInterval (all configurable on http.createServer). After the 101 the
// WebSocket's liveness rules apply: the heartbeat and idleTimeout.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachWebSocket, type AttachOptions, type Endpoint, type WebSocket } from '../../src';
import { clientFrame, handshakeRequest, RawClient } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';

let server: http.Server;
let endpoint: Endpoint;
let port: number;
let accepted: WebSocket[];
const raws: RawClient[] = [];

async function start(options: AttachOptions, httpOptions: http.ServerOptions = {}): Promise<void> {
  server = http.createServer(httpOptions, (_req, res) => res.end('http ok'));
  accepted = [];
  endpoint = attachWebSocket(server, (ws) => void accepted.push(ws), options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(port);
  raws.push(c);
  return c;
}

afterEach(async () => {
  for (const c of raws.splice(0)) c.destroy();
  await endpoint.close({ timeout: 100 });
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('a half-sent handshake', () => {
  // Node checks pending requests every connectionsCheckingInterval; one whose headers are
  // not complete after headersTimeout gets 408 and is closed. Node buffers at most
  // maxHeaderSize (16 KiB) of an unfinished head, so a stalled request costs little.
  const httpOptions = { connectionsCheckingInterval: 50, headersTimeout: 300, requestTimeout: 300 };

  test('that stalls is answered 408 and closed within headersTimeout', async () => {
    await start({ path: '/ws' }, httpOptions);
    const client = await connect();
    const started = Date.now();
    client.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConn');
    await client.waitClosed(5000);
    const elapsed = Date.now() - started;
    expect(client.received.toString()).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    // Bounded by headersTimeout plus a check interval; generous for a loaded machine.
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    expect(accepted).toHaveLength(0);
  });

  test('that trickles one byte at a time is still closed: the timeout is for the whole head', async () => {
    await start({ path: '/ws' }, httpOptions);
    const client = await connect();
    const bytes = Buffer.from(handshakeRequest('/ws', {}, port));
    const started = Date.now();
    for (let i = 0; i < bytes.length - 1 && !client.closed && Date.now() - started < 5000; i++) {
      client.write(bytes.subarray(i, i + 1));
      await delay(20);
    }
    await client.waitClosed(5000);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(client.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(accepted).toHaveLength(0);
  });

  test('other clients are served while one stalls', async () => {
    await start({ path: '/ws' }, httpOptions);
    const staller = await connect();
    staller.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const normal = await RawClient.open(port, '/ws');
    raws.push(normal);
    expect(normal.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    await staller.waitClosed(5000);
    expect(staller.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    // The upgraded socket is no longer Node's request: requestTimeout does not touch it.
    await delay(400);
    expect(normal.closed).toBe(false);
    expect(accepted[0].readyState).toBe(1);
  });
});

describe('a frame that never finishes', () => {
  test('a frame header declaring 1000 bytes, then silence: the heartbeat ends it with 1006', async () => {
    await start({ heartbeat: { interval: 100, timeout: 100 } });
    const client = await RawClient.open(port);
    raws.push(client);
    const ws = accepted[0];
    const closed = once<[number, string]>(ws, 'close', 5000);
    const frame = clientFrame({ opcode: 0x2, payload: Buffer.alloc(1000, 7) });
    // Header (2 + 2 length + 4 mask) and 10 payload bytes: the parser holds only these.
    client.write(frame.subarray(0, 18));
    const started = Date.now();
    const [code] = await closed;
    // The partial frame counted as activity when it arrived; after that the server's ping
    // went unanswered (the peer is stuck), so the socket was terminated.
    expect(code).toBe(1006);
    expect(client.frames.map((f) => f.opcode)).toEqual([0x9]);
    expect(Date.now() - started).toBeLessThan(3000);
    await client.waitClosed();
    expect(endpoint.clients.size).toBe(0);
  });

  test('declaring more than maxPayload fails at once with 1009, before any payload is held', async () => {
    await start({ maxPayload: 1024, heartbeat: false });
    const client = await RawClient.open(port);
    raws.push(client);
    const closed = once<[number, string]>(accepted[0], 'close');
    // A 64-bit length of 2^40: only the 14-byte header is sent.
    client.write(clientFrame({ opcode: 0x2, length: 2 ** 40 }));
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(1009);
    expect((await closed)[0]).toBe(1009);
  });

  test('a frame trickled one byte at a time stays alive for the heartbeat, but idleTimeout ends it', async () => {
    // Each byte is activity, so the heartbeat is satisfied; idleTimeout counts whole messages.
    await start({ heartbeat: { interval: 100, timeout: 100 }, idleTimeout: 400, closeTimeout: 100 });
    const client = await RawClient.open(port);
    raws.push(client);
    const ws = accepted[0];
    const closed = once<[number, string]>(ws, 'close', 5000);
    const frame = clientFrame({ opcode: 0x2, payload: Buffer.alloc(1000, 7) });
    const started = Date.now();
    for (let i = 0; i < frame.length && !client.closed && Date.now() - started < 5000; i++) {
      client.write(frame.subarray(i, i + 1));
      await delay(20);
    }
    const [code, reason] = await closed;
    expect(client.closeFrame).toEqual({ code: 1000, reason: 'idle timeout' });
    // Not before idleTimeout (the endpoint's clock is fresh for its first socket too).
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(3000);
    // The peer never answered the close frame, so the socket was destroyed after closeTimeout.
    expect(code).toBe(1006);
    expect(reason).toBe('');
  });
});

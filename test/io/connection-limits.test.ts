// Limits and flow control over real sockets: maxPayload, messages of very many fragments,
// bytes that came with the handshake, backpressure and drain, maxBackpressure policies.
import net from 'node:net';
import { type WebSocket, WebSocketError } from '../../src';
import { clientFrame, handshakeRequest, RawClient } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

const MiB = 1024 * 1024;

/**
 * One binary message as `payload.length / size` fragments of `size` bytes, masked with a
 * fixed key, built in one buffer (far faster than a frame object per fragment).
 */
function fragmentedMessage(payload: Buffer, size: number, opcode = 0x2): Buffer {
  const count = Math.ceil(payload.length / size);
  const header = size < 126 ? 6 : 8;
  const out = Buffer.allocUnsafe(count * header + payload.length);
  const mask = [0x12, 0x34, 0x56, 0x78];
  let at = 0;
  for (let n = 0; n < count; n++) {
    const start = n * size;
    const len = Math.min(size, payload.length - start);
    out[at++] = (n === count - 1 ? 0x80 : 0) | (n === 0 ? opcode : 0x0);
    if (len < 126) out[at++] = 0x80 | len;
    else {
      out[at++] = 0x80 | 126;
      out.writeUInt16BE(len, at);
      at += 2;
    }
    for (let k = 0; k < 4; k++) out[at++] = mask[k];
    for (let i = 0; i < len; i++) out[at + i] = payload[start + i] ^ mask[i & 3];
    at += len;
  }
  return out.subarray(0, at);
}

function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >>> 8)) & 0xff;
  return b;
}

/** Writes a big stream in a few large writes. */
function writeInPieces(client: RawClient, stream: Buffer, pieces = 8): void {
  const step = Math.ceil(stream.length / pieces);
  for (let at = 0; at < stream.length; at += step) client.write(stream.subarray(at, at + step));
}

describe('maxPayload', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('defaults to 1 MiB: exactly 1 MiB is accepted, one byte more is refused with 1009', async () => {
    const sizes: number[] = [];
    s = await startWsServer({}, (socket) => socket.on('message', (d) => sizes.push(d.length)));
    const ok = await s.rawClient();
    ok.write(clientFrame({ opcode: 0x2, payload: Buffer.alloc(MiB, 1) }));
    const tooBig = await s.rawClient();
    tooBig.write(clientFrame({ opcode: 0x2, length: MiB + 1 })); // header only
    await tooBig.waitClosed();
    expect(tooBig.closeFrame?.code).toBe(1009);
    for (let i = 0; i < 200 && sizes.length === 0; i++) await delay(10);
    expect(sizes).toEqual([MiB]);
    expect(ok.frames).toEqual([]);
  });

  test('a 1 MiB message sent as 1,048,576 one-byte fragments is accepted', async () => {
    s = await startWsServer({}, (socket) => socket.on('message', (d) => socket.send(d)));
    const client = await s.rawClient();
    const payload = pattern(MiB);
    writeInPieces(client, fragmentedMessage(payload, 1));
    await client.waitFor(() => client.frames.length > 0, 30000);
    expect(client.frames[0].opcode).toBe(0x2);
    expect(client.frames[0].payload.equals(payload)).toBe(true);
  }, 60000);

  test('1 MiB of text in one-byte fragments, every code point split, is accepted', async () => {
    let received: string | null = null;
    s = await startWsServer({}, (socket) => socket.on('message', (d) => (received = d as string)));
    const client = await s.rawClient();
    const text = `a${'€'.repeat((MiB - 1) / 3)}`;
    expect(Buffer.byteLength(text)).toBe(MiB);
    writeInPieces(client, fragmentedMessage(Buffer.from(text), 1, 0x1));
    for (let i = 0; i < 3000 && received === null; i++) await delay(10);
    expect(received === text).toBe(true);
  }, 60000);

  test('one fragment more than 1 MiB of one-byte fragments is refused with 1009', async () => {
    s = await startWsServer({}, (socket) => socket.on('message', (d) => socket.send(d)));
    const client = await s.rawClient();
    const stream = fragmentedMessage(pattern(MiB + 1), 1);
    // The last one-byte fragment takes the message one byte past the limit.
    writeInPieces(client, stream);
    await client.waitClosed(30000);
    expect(client.closeFrame?.code).toBe(1009);
    expect(client.frames.map((f) => f.opcode)).toEqual([0x8]);
  }, 60000);

  test('4 MiB in 64-byte fragments is accepted with maxPayload 4 MiB', async () => {
    s = await startWsServer({ maxPayload: 4 * MiB }, (socket) => socket.on('message', (d) => socket.send(d)));
    const client = await s.rawClient();
    const payload = pattern(4 * MiB);
    writeInPieces(client, fragmentedMessage(payload, 64));
    await client.waitFor(() => client.frames.length > 0, 30000);
    expect(client.frames[0].payload.length).toBe(4 * MiB);
    expect(client.frames[0].payload.equals(payload)).toBe(true);
  }, 60000);
});

describe('bytes that arrive with the handshake', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('a frame in the same write as the upgrade request is not lost', async () => {
    s = await startWsServer({}, (socket) => socket.on('message', (d) => socket.send(d)));
    const client = await RawClient.connect(s.port);
    client.write(
      Buffer.concat([
        Buffer.from(handshakeRequest('/', {}, s.port)),
        clientFrame({ opcode: 0x1, payload: 'early bird' }),
        clientFrame({ opcode: 0x2, payload: Buffer.from([1, 2, 3]), fin: false }),
      ]),
    );
    client.write(clientFrame({ opcode: 0x0, payload: Buffer.from([4]) }));
    await client.waitFor(() => client.frames.length >= 2);
    expect(client.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(client.frames.map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
      [0x1, Buffer.from('early bird').toString('hex')],
      [0x2, '01020304'],
    ]);
    client.destroy();
  });
});

/** A raw TCP WebSocket client that can stop reading; it counts frame bytes instead of keeping them. */
async function slowReader(port: number): Promise<{ socket: net.Socket; bytes: () => number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(handshakeRequest('/', {}, port));
  let received = 0;
  const [first] = await once<[Buffer]>(socket, 'data');
  expect(first.toString('latin1').startsWith('HTTP/1.1 101')).toBe(true);
  received += first.length;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.pause();
  return { socket, bytes: () => received };
}

describe('backpressure', () => {
  let s: WsServer;
  let clientSocket: net.Socket | null = null;
  afterEach(async () => {
    clientSocket?.destroy();
    clientSocket = null;
    await s.close();
  });

  test("send() returns false when the peer does not read, and 'drain' fires once it does", async () => {
    s = await startWsServer({ maxBackpressure: 128 * MiB });
    const reader = await slowReader(s.port);
    clientSocket = reader.socket;
    const socket = await s.nextSocket();
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    const results: boolean[] = [];
    for (let i = 0; i < 1000; i++) results.push(socket.send(chunk));
    expect(results.indexOf(false)).toBeGreaterThanOrEqual(0);
    // Once refused, it stays refused until the queue drains.
    expect(results.slice(results.indexOf(false)).every((r) => r === false)).toBe(true);
    await delay(50);
    expect(socket.bufferedAmount).toBeGreaterThan(0);
    expect(socket.readyState).toBe(socket.OPEN);
    const drained = once(socket, 'drain', 10000);
    reader.socket.resume();
    await drained;
    expect(socket.bufferedAmount).toBeLessThan(64 * 1024);
    // Everything that was accepted arrives.
    const total = 1000 * (chunk.length + 10);
    for (let i = 0; i < 500 && reader.bytes() < total; i++) await delay(10);
    expect(reader.bytes()).toBeGreaterThanOrEqual(total);
  }, 30000);

  test("maxBackpressure with 'drop': sends past the limit fail with BACKPRESSURE, the socket stays open", async () => {
    const limit = 1 * MiB;
    s = await startWsServer({ maxBackpressure: limit, backpressurePolicy: 'drop' });
    const reader = await slowReader(s.port);
    clientSocket = reader.socket;
    const socket = await s.nextSocket();
    const chunk = Buffer.alloc(64 * 1024, 1);
    let error: Error | undefined;
    let maxBuffered = 0;
    for (let i = 0; i < 2000 && error === undefined; i++) {
      const before = socket.bufferedAmount;
      const result = socket.send(chunk, (err) => {
        if (err) error ??= err;
      });
      maxBuffered = Math.max(maxBuffered, socket.bufferedAmount);
      if (before > limit) expect(result).toBe(false);
      if (i % 50 === 49) await delay(1); // let callbacks run
    }
    for (let i = 0; i < 100 && error === undefined; i++) await delay(10);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).code).toBe('BACKPRESSURE');
    expect(socket.bufferedAmount).toBeGreaterThan(limit);
    // Bounded: at most one message past the limit is ever queued.
    expect(maxBuffered).toBeLessThanOrEqual(limit + chunk.length + 16);
    expect(socket.readyState).toBe(socket.OPEN);
    expect(s.endpoint.stats().backpressureEvents).toBeGreaterThan(0);
  }, 30000);

  test("maxBackpressure with 'close' (default): the socket is terminated and close reports 1008", async () => {
    const limit = 1 * MiB;
    s = await startWsServer({ maxBackpressure: limit });
    const reader = await slowReader(s.port);
    clientSocket = reader.socket;
    const socket = await s.nextSocket();
    const closes: [number, string][] = [];
    socket.on('close', (c, r) => closes.push([c, r]));
    const chunk = Buffer.alloc(64 * 1024, 1);
    let maxBuffered = 0;
    let refused: Error | undefined;
    for (let i = 0; i < 2000 && socket.readyState === socket.OPEN; i++) {
      socket.send(chunk, (err) => (refused ??= err ?? undefined));
      maxBuffered = Math.max(maxBuffered, socket.bufferedAmount);
      if (i % 50 === 49) await delay(1);
    }
    expect(socket.readyState).not.toBe(socket.OPEN);
    expect(maxBuffered).toBeLessThanOrEqual(limit + chunk.length + 16);
    for (let i = 0; i < 200 && closes.length === 0; i++) await delay(10);
    expect(closes).toHaveLength(1);
    expect(closes[0][0]).toBe(1008);
    expect(refused).toBeInstanceOf(WebSocketError);
    // Later sends are refused as NOT_OPEN.
    const late = await new Promise<Error | undefined>((resolve) => socket.send('x', resolve));
    expect((late as WebSocketError).code).toBe('NOT_OPEN');
  }, 30000);

  test('a fast reader never hits maxBackpressure', async () => {
    s = await startWsServer({ maxBackpressure: 256 * 1024 });
    const client = await s.wsClient();
    const socket: WebSocket = await s.nextSocket();
    let received = 0;
    client.on('message', () => received++);
    const chunk = Buffer.alloc(16 * 1024, 2);
    // A producer that respects backpressure: wait for 'drain' whenever send() says so.
    for (let i = 0; i < 200; i++) {
      if (!socket.send(chunk)) await once(socket, 'drain');
    }
    for (let i = 0; i < 500 && received < 200; i++) await delay(10);
    expect(received).toBe(200);
    expect(socket.readyState).toBe(socket.OPEN);
    expect(s.endpoint.stats().backpressureEvents).toBe(0);
  });
});

describe('control frames from a peer that does not read', () => {
  let s: WsServer;
  let clientSocket: net.Socket | null = null;
  afterEach(async () => {
    clientSocket?.destroy();
    clientSocket = null;
    await s.close();
  });

  /** `count` masked 125-byte pings in one buffer. */
  function pings(count: number): Buffer {
    const one = clientFrame({ opcode: 0x9, payload: Buffer.alloc(125, 0x70), mask: Buffer.from([1, 2, 3, 4]) });
    const out = Buffer.allocUnsafe(one.length * count);
    for (let i = 0; i < count; i++) one.copy(out, i * one.length);
    return out;
  }

  async function flood(policy: 'close' | 'drop') {
    const limit = 256 * 1024;
    s = await startWsServer({ maxBackpressure: limit, backpressurePolicy: policy });
    const reader = await slowReader(s.port);
    clientSocket = reader.socket;
    const socket = await s.nextSocket();
    let seen = 0;
    let maxBuffered = 0;
    socket.on('ping', () => {
      seen++;
      maxBuffered = Math.max(maxBuffered, socket.bufferedAmount);
    });
    const closes: number[] = [];
    socket.on('close', (c) => closes.push(c));
    const count = 200_000; // ~26 MB: far more than the kernel buffers hold
    const stream = pings(count);
    for (let at = 0; at < stream.length; at += MiB) reader.socket.write(stream.subarray(at, at + MiB));
    return { socket, limit, closes, seen: () => seen, maxBuffered: () => maxBuffered, count };
  }

  test("a ping flood is answered only up to maxBackpressure ('close': terminated with 1008)", async () => {
    const f = await flood('close');
    for (let i = 0; i < 1000 && f.closes.length === 0; i++) await delay(10);
    expect(f.closes).toEqual([1008]);
    expect(f.maxBuffered()).toBeLessThanOrEqual(f.limit + 64 * 1024);
  }, 30000);

  test("a ping flood is answered only up to maxBackpressure ('drop': pongs dropped, memory bounded)", async () => {
    const f = await flood('drop');
    for (let i = 0; i < 1000 && f.seen() < f.count; i++) await delay(10);
    expect(f.seen()).toBe(f.count);
    expect(f.socket.readyState).toBe(f.socket.OPEN);
    expect(f.maxBuffered()).toBeLessThanOrEqual(f.limit + 64 * 1024);
    expect(f.socket.bufferedAmount).toBeLessThanOrEqual(f.limit + 64 * 1024);
  }, 30000);
});

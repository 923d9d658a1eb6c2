// Floods: pings that are never read back, maxPayload-sized messages over and over, and a peer
// that never reads while the server writes. The server's send buffer must stay within
// maxBackpressure (asserted exactly, from bufferedAmount), its memory must stay bounded
// (measured after a forced GC, with generous limits explained below), and other clients
// must keep being served.
import v8 from 'node:v8';
import vm from 'node:vm';
import WS from 'ws';
import { attachWebSocket, type AttachOptions, type Endpoint, type WebSocket, type WebSocketError } from '../src';
import { clientFrame, RawClient } from './helpers/raw-client';
import { delay, once, startServer, type TestServer } from './helpers/server';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * Memory still held once garbage is collected. Queued frames and received messages are
 * Buffers, so `buffers` is the figure that would grow; the JS heap of a jest worker moves by
 * 10-20 MB on its own (compiled modules, caches), so its limits are loose.
 */
function held(): { buffers: number; heap: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { buffers: m.arrayBuffers, heap: m.heapUsed };
}

function grownSince(before: { buffers: number; heap: number }): { buffers: number; heap: number } {
  const now = held();
  return { buffers: now.buffers - before.buffers, heap: now.heap - before.heap };
}

const MiB = 1024 * 1024;

let srv: TestServer;
let endpoint: Endpoint;
let sockets: WebSocket[];
const clients: { terminate(): void }[] = [];

async function start(options: AttachOptions, onSocket: (ws: WebSocket) => void = () => {}): Promise<void> {
  srv = await startServer();
  sockets = [];
  endpoint = attachWebSocket(
    srv.server,
    (ws) => {
      sockets.push(ws);
      // Text comes back ("echo?" as "echo!"); binary is only counted by the tests.
      ws.on('message', (data, isBinary) => {
        if (!isBinary && data !== 'flood') ws.send(data === 'echo?' ? 'echo!' : data);
      });
      onSocket(ws);
    },
    { heartbeat: false, ...options },
  );
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const s of endpoint.clients) s.terminate();
  await srv.close();
});

async function raw(): Promise<RawClient> {
  const c = await RawClient.open(srv.port);
  clients.push({ terminate: () => c.destroy() });
  return c;
}

async function wsClient(): Promise<WS> {
  const ws = new WS(srv.url());
  ws.on('error', () => {});
  clients.push(ws);
  await once(ws, 'open');
  return ws;
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !condition(); await delay(10)) {
    if (Date.now() > end) throw new Error('condition not met in time');
  }
}

/** A round trip on a well-behaved client. */
async function echo(ws: WS): Promise<void> {
  const reply = once<[Buffer]>(ws, 'message');
  ws.send('echo?');
  expect((await reply)[0].toString()).toBe('echo!');
}

/** Writes `bytes` in 1 MiB chunks, waiting for drain; stops if the server hangs up. */
async function writeAll(client: RawClient, bytes: Buffer, onHalfway?: () => Promise<void>): Promise<void> {
  for (let at = 0; at < bytes.length && !client.closed; at += MiB) {
    if (onHalfway && at >= bytes.length / 2) {
      await onHalfway();
      onHalfway = undefined;
    }
    if (!client.socket.write(bytes.subarray(at, at + MiB))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          client.socket.off('drain', done).off('close', done);
          resolve();
        };
        client.socket.on('drain', done).on('close', done);
      });
    }
  }
}

// 100,000 pings with 125-byte payloads: 13.1 MB in, and 12.7 MB of pongs if all answered.
// Loopback kernel buffers absorb about 4 MB, so without a bound ~8.5 MB of pongs would
// queue in the server.
const PINGS = 100_000;
function pingFlood(): Buffer {
  const one = clientFrame({ opcode: 0x9, payload: Buffer.alloc(125, 0x61), mask: Buffer.from([1, 2, 3, 4]) });
  const all = Buffer.allocUnsafe(one.length * PINGS);
  for (let i = 0; i < PINGS; i++) one.copy(all, i * one.length);
  return all;
}
const PONG_FRAME = 127;

describe('100,000 pings from a client that never reads the pongs', () => {
  test("policy 'close': the pong queue stops at maxBackpressure and the socket is dropped with 1008", async () => {
    const maxBackpressure = 512 * 1024;
    let maxBuffered = 0;
    await start({ maxBackpressure }, (ws) => ws.on('ping', () => (maxBuffered = Math.max(maxBuffered, ws.bufferedAmount))));
    const normal = await wsClient();
    const attacker = await raw();
    const victim = sockets[1];
    const closed = once<[number, string]>(victim, 'close', 15_000);
    attacker.socket.pause(); // never reads
    await writeAll(attacker, pingFlood(), () => echo(normal));

    expect(await closed).toEqual([1008, 'send buffer limit exceeded']);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(maxBackpressure + PONG_FRAME);
    expect(endpoint.stats().backpressureEvents).toBeGreaterThanOrEqual(1);
    await echo(normal);
    expect(endpoint.clients.size).toBe(1);
  });

  test("policy 'drop': pongs past maxBackpressure are dropped, memory stays bounded, the socket keeps working", async () => {
    const maxBackpressure = 512 * 1024;
    let maxBuffered = 0;
    let pings = 0;
    await start({ maxBackpressure, backpressurePolicy: 'drop' }, (ws) =>
      ws.on('ping', () => {
        pings++;
        maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
      }),
    );
    const normal = await wsClient();
    const attacker = await raw();
    attacker.socket.pause();
    const flood = pingFlood();
    const before = held();
    await writeAll(attacker, flood, () => echo(normal));
    await until(() => pings === PINGS);

    // Measured while the attacker is still connected and still not reading. The server may
    // hold maxBackpressure (0.5 MiB) of pongs; 4 MiB leaves room for noise and is under
    // half of what an unbounded queue held here (~8.5 MB).
    const grown = grownSince(before);
    expect(grown.buffers).toBeLessThan(4 * MiB);
    expect(grown.heap).toBeLessThan(32 * MiB);
    expect(maxBuffered).toBeLessThanOrEqual(maxBackpressure + PONG_FRAME);
    expect(sockets[1].readyState).toBe(1);
    await echo(normal);

    // Once the attacker reads, it gets the pongs that were queued; once they are out
    // (until then 'drop' would drop the reply too), its message is answered.
    attacker.socket.resume();
    await until(() => sockets[1].bufferedAmount === 0);
    attacker.send({ opcode: 0x1, payload: 'still here' });
    await attacker.waitFor(() => attacker.frames.some((f) => f.opcode === 0x1), 10_000);
    const pongs = attacker.frames.filter((f) => f.opcode === 0xa);
    expect(pongs.length).toBeGreaterThan(0);
    expect(pongs.length).toBeLessThan(PINGS);
    expect(pongs.every((f) => f.payload.equals(Buffer.alloc(125, 0x61)))).toBe(true);
    expect(attacker.frames[attacker.frames.length - 1].payload.toString()).toBe('still here');
    expect(endpoint.stats().backpressureEvents).toBe(PINGS - pongs.length);
  });
});

describe('messages of exactly maxPayload, over and over', () => {
  test('200 messages of 256 KiB are all delivered, nothing accumulates, one byte more is 1009', async () => {
    const maxPayload = 256 * 1024;
    const sizes: number[] = [];
    await start({ maxPayload }, (ws) =>
      ws.on('message', (data) => {
        if (typeof data !== 'string') sizes.push(data.length);
      }),
    );
    const normal = await wsClient();
    const attacker = await raw();
    const payload = Buffer.alloc(maxPayload, 0x5a);
    const frame = clientFrame({ opcode: 0x2, payload, mask: Buffer.from([9, 8, 7, 6]) });
    const before = held();
    for (let i = 0; i < 200; i++) {
      if (i === 100) await echo(normal);
      if (!attacker.socket.write(frame)) await once(attacker.socket, 'drain', 10_000);
    }
    await until(() => sizes.length === 200);
    expect(sizes).toEqual(Array(200).fill(maxPayload));

    // 51 MB went through; each message is garbage once handled. 8 MiB is far below the
    // traffic and well above noise plus a few in-flight 256 KiB buffers.
    const grown = grownSince(before);
    expect(grown.buffers).toBeLessThan(8 * MiB);
    expect(grown.heap).toBeLessThan(32 * MiB);
    expect(sockets[1].readyState).toBe(1);

    const closed = once<[number, string]>(sockets[1], 'close');
    attacker.write(clientFrame({ opcode: 0x2, payload: Buffer.alloc(maxPayload + 1) }));
    expect((await closed)[0]).toBe(1009);
    await echo(normal);
  });
});

describe('a client that never reads while the server writes', () => {
  const CHUNK = Buffer.alloc(64 * 1024, 0x42);
  const SENDS = 2000; // 128 MiB if nothing stopped it
  const maxBackpressure = 4 * MiB;
  const frameOverhead = 10;

  /** The handler's loop: send, ignoring every return value. */
  interface Report {
    maxBuffered: number;
    errors: string[];
    ok: number;
  }
  function floodOn(ws: WebSocket, report: Report): void {
    ws.on('message', (data) => {
      if (data !== 'flood') return;
      for (let i = 0; i < SENDS; i++) {
        ws.send(CHUNK, (err) => {
          if (err) report.errors.push((err as WebSocketError).code);
          else report.ok++;
        });
        report.maxBuffered = Math.max(report.maxBuffered, ws.bufferedAmount);
      }
    });
  }

  test("policy 'close': the socket is dropped with 1008 once past maxBackpressure", async () => {
    const report: Report = { maxBuffered: 0, errors: [], ok: 0 };
    await start({ maxBackpressure }, (ws) => floodOn(ws, report));
    const normal = await wsClient();
    const slow = await wsClient();
    slow.pause(); // stops reading its socket
    const closed = once<[number, string]>(sockets[1], 'close', 10_000);
    slow.send('flood');
    expect(await closed).toEqual([1008, 'send buffer limit exceeded']);
    // Checked before each send, so at most one message over the limit.
    expect(report.maxBuffered).toBeLessThanOrEqual(maxBackpressure + CHUNK.length + frameOverhead);
    // Every send's callback ran: written, discarded with the socket, or refused (the one
    // that hit the limit, and every later one since the socket was no longer open).
    await until(() => report.ok + report.errors.length === SENDS);
    expect(report.errors.filter((e) => e === 'BACKPRESSURE')).toHaveLength(1);
    expect(report.errors.filter((e) => e === 'NOT_OPEN').length).toBeGreaterThan(SENDS / 2);
    expect(report.errors.every((e) => ['BACKPRESSURE', 'NOT_OPEN'].includes(e))).toBe(true);
    await echo(normal);
  });

  test("policy 'drop': sends past the limit are refused; the reader later gets exactly the rest, in order", async () => {
    const report: Report = { maxBuffered: 0, errors: [], ok: 0 };
    await start({ maxBackpressure, backpressurePolicy: 'drop' }, (ws) => floodOn(ws, report));
    const normal = await wsClient();
    const slow = await wsClient();
    slow.pause();
    const before = held();
    slow.send('flood');
    await echo(normal); // the flood ran inside the server's message handler before this reply
    await delay(10);
    const dropped = report.errors.length;
    expect(new Set(report.errors)).toEqual(new Set(['BACKPRESSURE']));
    expect(dropped).toBeGreaterThan(SENDS / 2);
    expect(report.maxBuffered).toBeLessThanOrEqual(maxBackpressure + CHUNK.length + frameOverhead);
    // Held: up to maxBackpressure of queued frames (the 64 KiB payload is shared, so less).
    // 8 MiB is generous, and far below the 128 MiB an unbounded queue of copies would hold.
    const grown = grownSince(before);
    expect(grown.buffers).toBeLessThan(8 * MiB);
    expect(grown.heap).toBeLessThan(32 * MiB);
    expect(sockets[1].readyState).toBe(1);

    let received = 0;
    slow.on('message', (data: Buffer) => {
      if (data.length === CHUNK.length) received++;
    });
    const last = new Promise<string>((resolve) => slow.on('message', (d: Buffer) => d.length < 100 && resolve(d.toString())));
    slow.resume();
    await until(() => sockets[1].bufferedAmount === 0);
    slow.send('echo?');
    expect(await last).toBe('echo!');
    expect(received).toBe(SENDS - dropped);
    expect(report.ok).toBe(SENDS - dropped);
  });
});

// The slow consumer: a raw client that stops reading while publish/broadcast keep sending.
// maxBackpressure bounds what the server buffers for it; the policy drops or closes.
import WsClient from 'ws';
import type { WebSocket, WebSocketError } from '../../src';
import { RawClient } from '../helpers/raw-client';
import { delay } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

const LIMIT = 256 * 1024;
const SIZE = 64 * 1024;
const FRAME = SIZE + 4; // 16-bit length header

let srv: WsServer;

afterEach(async () => {
  await srv?.close();
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await delay(2);
  }
}

interface Fast {
  client: WsClient;
  socket: WebSocket;
  got: Buffer[];
}

/** Two reading `ws` subscribers and one raw subscriber that has stopped reading. */
async function setup(policy: 'drop' | 'close') {
  srv = await startWsServer({ maxBackpressure: LIMIT, backpressurePolicy: policy });
  const fast: Fast[] = [];
  for (let i = 0; i < 2; i++) {
    const client = await srv.wsClient();
    const socket = await srv.nextSocket();
    const got: Buffer[] = [];
    client.on('message', (data) => got.push(data as Buffer));
    socket.subscribe('feed');
    fast.push({ client, socket, got });
  }
  const raw = await srv.rawClient();
  const slow = await srv.nextSocket();
  slow.subscribe('feed');
  raw.socket.pause(); // stops reading: the kernel buffers fill, then the server's
  return { fast, raw, slow };
}

/** A message whose first 4 bytes carry its sequence number. */
function message(i: number): Buffer {
  const b = Buffer.alloc(SIZE, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

/**
 * Publishes one message at a time, waiting for the fast subscribers to have it (so only the
 * slow one falls behind), until `enough` says stop; bounded by 600 messages (~38 MB).
 */
async function publishUntil(fast: Fast[], slow: WebSocket, enough: (results: number[]) => boolean) {
  const results: number[] = [];
  let maxBuffered = 0;
  for (let i = 0; i < 600 && !enough(results); i++) {
    results.push(srv.endpoint.publish('feed', message(i)));
    maxBuffered = Math.max(maxBuffered, slow.bufferedAmount);
    await until(() => fast.every((f) => f.got.length === i + 1));
  }
  return { results, maxBuffered };
}

test("'drop': the slow consumer misses messages, the fast ones get all, memory stays bounded", async () => {
  const { fast, raw, slow } = await setup('drop');
  // Stop after 20 publishes that skipped the slow socket.
  const { results, maxBuffered } = await publishUntil(fast, slow, (r) => r.filter((n) => n === 2).length >= 20);
  const taken = results.filter((n) => n === 3).length;
  expect(results.filter((n) => n === 2).length).toBe(20);
  expect(results.every((n) => n === 2 || n === 3)).toBe(true);
  expect(taken).toBeGreaterThan(0);
  // Once over the limit, publish stops counting the slow socket (it never reads meanwhile).
  expect(results.slice(results.indexOf(2))).toEqual(Array(20).fill(2));
  // Bounded: the buffer passes the limit by at most the message that crossed it.
  expect(maxBuffered).toBeGreaterThan(LIMIT);
  expect(maxBuffered).toBeLessThanOrEqual(LIMIT + FRAME);
  expect(slow.readyState).toBe(1);
  expect(srv.endpoint.stats().backpressureEvents).toBe(20);

  // Every fast subscriber got every message, in order.
  for (const f of fast) {
    expect(f.got.length).toBe(results.length);
    expect(f.got.map((b) => b.readUInt32BE(0))).toEqual(results.map((_, i) => i));
  }

  // The slow one, reading again, gets exactly the messages that counted it: the first `taken`.
  raw.socket.resume();
  await raw.waitFor(() => raw.frames.length >= taken, 10000);
  await delay(50);
  expect(raw.frames.length).toBe(taken);
  expect(raw.frames.map((f) => f.payload.readUInt32BE(0))).toEqual(results.slice(0, taken).map((_, i) => i));
  // Drained, it is counted again.
  await until(() => slow.bufferedAmount === 0);
  expect(srv.endpoint.publish('feed', message(9999))).toBe(3);
});

test("'close': the slow consumer is terminated with 1008, the fast ones carry on", async () => {
  const { fast, raw, slow } = await setup('close');
  let closed: [number, string] | null = null;
  slow.on('close', (code, reason) => (closed = [code, reason]));
  const { results, maxBuffered } = await publishUntil(fast, slow, (r) => r.includes(2));
  expect(results[results.length - 1]).toBe(2);
  expect(maxBuffered).toBeLessThanOrEqual(LIMIT + FRAME);
  await until(() => closed !== null);
  expect(closed).toEqual([1008, 'send buffer limit exceeded']);
  expect(srv.endpoint.topics.subscriberCount('feed')).toBe(2);
  expect(srv.endpoint.clients.has(slow)).toBe(false);
  raw.socket.resume(); // reads what the kernel held, then the end: no close frame (terminated)
  await raw.waitClosed(10000);
  expect(raw.closeFrame).toBeUndefined();
  // The fast ones still get everything.
  expect(srv.endpoint.publish('feed', message(7777))).toBe(2);
  await until(() => fast.every((f) => f.got.length === results.length + 1));
  for (const f of fast) expect(f.got[f.got.length - 1].readUInt32BE(0)).toBe(7777);
});

test("broadcast respects the policy per socket too ('drop')", async () => {
  const { fast, slow } = await setup('drop');
  let sent = 0;
  for (let i = 0; i < 600 && slow.bufferedAmount <= LIMIT; i++) {
    expect(srv.endpoint.broadcast(message(i))).toBe(3);
    sent++;
    await until(() => fast.every((f) => f.got.length === sent));
  }
  expect(slow.bufferedAmount).toBeGreaterThan(LIMIT);
  expect(srv.endpoint.broadcast(message(0), { except: fast[0].socket })).toBe(1);
  expect(srv.endpoint.broadcast(message(0))).toBe(2);
  expect(slow.bufferedAmount).toBeLessThanOrEqual(LIMIT + FRAME);
});

test("socket.send past the limit: 'drop' fails the callback with BACKPRESSURE", async () => {
  srv = await startWsServer({ maxBackpressure: LIMIT, backpressurePolicy: 'drop' });
  const raw: RawClient = await srv.rawClient();
  const socket = await srv.nextSocket();
  raw.socket.pause();
  let i = 0;
  for (; i < 2000 && socket.bufferedAmount <= LIMIT; i++) {
    socket.send(message(i));
    if (socket.bufferedAmount <= LIMIT) await delay(1); // let the kernel take what it will
  }
  expect(socket.bufferedAmount).toBeGreaterThan(LIMIT);
  const buffered = socket.bufferedAmount;
  const errors: (Error | undefined)[] = [];
  expect(socket.send(message(0), (err) => errors.push(err))).toBe(false);
  await until(() => errors.length === 1);
  expect((errors[0] as WebSocketError).code).toBe('BACKPRESSURE');
  expect(socket.bufferedAmount).toBe(buffered);
  await delay(100);
  expect(socket.readyState).toBe(1); // dropped, not closed
  expect(srv.endpoint.stats().backpressureEvents).toBe(1);
});

// Per-stream flow and lifetime through the real endpoint over HTTP/2: a stalled stream is
// backpressure for that socket only (bufferedAmount, 'drain', maxBackpressure 'close' with
// 1008) while the other streams of the same session keep flowing; heartbeat, idleTimeout
// and a graceful endpoint.close() act stream by stream and never on the session.
import http2 from 'node:http2';
import type { WebSocket } from '../../src';
import { closePayload, H2WsClient } from '../helpers/h2-client';
import { delay, type H2Site, startH2Site, until } from '../helpers/h2-endpoint';

const TEXT = 0x1;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;
const { NGHTTP2_CANCEL } = http2.constants;

let site: H2Site | null = null;
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  await site?.close();
  site = null;
});

function echo(socket: WebSocket): void {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
}

/** Answers every ping the client receives (what a live browser does). */
function autoPong(client: H2WsClient): void {
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < client.frames.length; seen++) {
      const f = client.frames[seen];
      if (f.opcode === PING && !client.closed) client.send({ opcode: PONG, payload: f.payload });
    }
  }, 10);
  timers.push(timer);
}

async function expectFlowing(client: H2WsClient, text: string): Promise<void> {
  const before = client.frames.length;
  client.send({ opcode: TEXT, payload: text });
  await client.waitFor(() => client.frames.slice(before).some((f) => f.opcode === TEXT && f.payload.toString() === text));
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/**
 * Sends CHUNKs on `socket` until send() returns false (at most `max` of them), and at least
 * `min`: more than the peer's stream window and the socket buffers can swallow, since with
 * Node 22's 64 KiB default high-water mark the first chunk already says false.
 */
function fillUntilFull(socket: WebSocket, max = 200, min = 8): number {
  for (let i = 1; i <= max; i++) if (!socket.send(CHUNK) && i >= min) return i;
  throw new Error('send() never returned false');
}

describe('backpressure per stream', () => {
  test("a stalled stream shows bufferedAmount and 'drain'; its neighbours on the session keep flowing", async () => {
    site = await startH2Site({ path: '/ws', maxBackpressure: 64 * 1024 * 1024 }, echo);
    const { session } = await site.session();
    const stalled = await site.open('/ws', {}, { session, paused: true });
    const other = await site.open('/ws', {}, { session });
    const sent = fillUntilFull(stalled.socket);
    expect(stalled.socket.bufferedAmount).toBeGreaterThan(0);
    // The stall holds: the peer's window is shut and nothing drains.
    await delay(100);
    expect(stalled.socket.bufferedAmount).toBeGreaterThan(0);
    // Another stream of the same session is not blocked behind it, both ways.
    for (let i = 0; i < 5; i++) await expectFlowing(other.client, `other ${i}`);
    const bigEcho = Buffer.alloc(200 * 1024, 0x62);
    other.client.send({ opcode: 0x2, payload: bigEcho });
    await other.client.waitFor(() => other.client.frames.some((f) => f.payload.length === bigEcho.length), 10000);
    // The stalled client reads again: 'drain', then everything arrives.
    const drained = new Promise<void>((resolve) => stalled.socket.once('drain', () => resolve()));
    stalled.client.stream.resume();
    await drained;
    await stalled.client.waitFor(() => stalled.client.frames.length === sent, 15000);
    expect(stalled.client.frames.every((f) => f.payload.length === CHUNK.length)).toBe(true);
    await until(() => stalled.socket.bufferedAmount === 0);
    expect(site.endpoint.stats().connections).toBe(2);
  }, 30000);

  test("maxBackpressure 'close': the stalled socket is terminated with 1008, the others live on", async () => {
    site = await startH2Site({ path: '/ws', maxBackpressure: 512 * 1024 }, echo);
    const { session } = await site.session();
    const stalled = await site.open('/ws', {}, { session, paused: true });
    const other = await site.open('/ws', {}, { session });
    const closed = new Promise<number>((resolve) => stalled.socket.once('close', (code) => resolve(code)));
    for (let i = 0; i < 200 && stalled.socket.readyState === stalled.socket.OPEN; i++) {
      stalled.socket.send(CHUNK);
      if (i % 8 === 7) await delay(1);
    }
    expect(await closed).toBe(1008);
    await stalled.client.waitClosed();
    expect(stalled.client.rstCode).toBe(NGHTTP2_CANCEL);
    expect(site.endpoint.stats().backpressureEvents).toBeGreaterThan(0);
    await expectFlowing(other.client, 'still here');
    expect(session.destroyed).toBe(false);
  }, 30000);

  test("backpressurePolicy 'drop' refuses messages for the stalled socket only", async () => {
    site = await startH2Site({ path: '/ws', maxBackpressure: 512 * 1024, backpressurePolicy: 'drop' }, echo);
    const { session } = await site.session();
    const stalled = await site.open('/ws', {}, { session, paused: true });
    const other = await site.open('/ws', {}, { session });
    let refused: Error | null | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      stalled.socket.send(CHUNK, (err) => {
        if (err && refused === undefined) refused = err;
      });
      await delay(1);
    }
    await until(() => refused !== undefined);
    expect((refused as Error & { code?: string }).code).toBe('BACKPRESSURE');
    expect(stalled.socket.readyState).toBe(stalled.socket.OPEN);
    await expectFlowing(other.client, 'unaffected');
  }, 30000);
});

describe('liveness per stream', () => {
  test('heartbeat: a client that stops answering pings is terminated (its stream reset); a live one stays', async () => {
    site = await startH2Site({ path: '/ws', heartbeat: { interval: 100, timeout: 100 } }, echo);
    const { session } = await site.session();
    const dead = await site.open('/ws', {}, { session });
    const live = await site.open('/ws', {}, { session });
    autoPong(live.client);
    const codes: number[] = [];
    dead.socket.on('close', (code) => codes.push(code));
    await dead.client.waitClosed(5000);
    expect(dead.client.frames.some((f) => f.opcode === PING)).toBe(true);
    expect(dead.client.rstCode).toBe(NGHTTP2_CANCEL);
    await until(() => codes.length === 1);
    expect(codes).toEqual([1006]);
    await delay(400);
    expect(live.client.closed).toBe(false);
    expect(live.client.frames.filter((f) => f.opcode === PING).length).toBeGreaterThan(0);
    await expectFlowing(live.client, 'alive');
  }, 20000);

  test('idleTimeout: a silent socket gets 1000 "idle timeout" and its stream ends; a chatty one stays', async () => {
    site = await startH2Site({ path: '/ws', idleTimeout: 300 }, echo);
    const { session } = await site.session();
    const quiet = await site.open('/ws', {}, { session });
    const chatty = await site.open('/ws', {}, { session });
    const chat = setInterval(() => chatty.client.send({ opcode: TEXT, payload: 'hi' }), 50);
    timers.push(chat);
    await quiet.client.waitFor(() => quiet.client.closeFrame !== undefined, 5000);
    expect(quiet.client.closeFrame).toEqual({ code: 1000, reason: 'idle timeout' });
    quiet.client.send({ opcode: CLOSE, payload: closePayload(1000) });
    await quiet.client.waitClosed();
    expect(quiet.client.ended).toBe(true);
    expect(chatty.client.closed).toBe(false);
    clearInterval(chat);
  }, 20000);
});

describe('graceful endpoint.close() over HTTP/2', () => {
  test('503 to new CONNECTs, close frames to all, laggards terminated (RST_STREAM CANCEL); the session survives', async () => {
    site = await startH2Site({ path: '/ws' }, echo);
    const { session } = await site.session();
    const polite = await site.open('/ws', {}, { session });
    const laggard = await site.open('/ws', {}, { session });
    const codes = new Map<string, number>();
    polite.socket.on('close', (c) => codes.set('polite', c));
    laggard.socket.on('close', (c) => codes.set('laggard', c));
    const started = Date.now();
    const closing = site.endpoint.close({ code: 1001, reason: 'restarting', timeout: 400 });
    await polite.client.waitFor(() => polite.client.closeFrame !== undefined);
    await laggard.client.waitFor(() => laggard.client.closeFrame !== undefined);
    expect(polite.client.closeFrame).toEqual({ code: 1001, reason: 'restarting' });
    expect(laggard.client.closeFrame).toEqual({ code: 1001, reason: 'restarting' });
    const late = await H2WsClient.request(session, '/ws');
    expect(late.status).toBe(503);
    polite.client.send({ opcode: CLOSE, payload: closePayload(1001) });
    await polite.client.waitClosed();
    expect(polite.client.ended).toBe(true);
    await closing;
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    await laggard.client.waitClosed();
    expect(laggard.client.rstCode).toBe(NGHTTP2_CANCEL);
    expect(codes.get('polite')).toBe(1001);
    expect(codes.get('laggard')).toBe(1006);
    // The HTTP/2 session itself is fine: an ordinary request still goes through.
    expect(session.destroyed).toBe(false);
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
    expect(site.endpoint.stats().rejected[503]).toBe(1);
  }, 20000);
});

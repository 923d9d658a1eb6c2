// Http2StreamTransport on real streams: a Node http2 client over TLS on 127.0.0.1, the
// server side through listenHttp2 and the echo stand-in (test/transport/h2-echo.ts).
import http2, { type ClientHttp2Session } from 'node:http2';
import { closePayload, connectSession, H2WsClient } from '../helpers/h2-client';
import { testCert } from '../helpers/tls';
import { type EchoServer, startEchoServer } from './h2-echo';

let echo: EchoServer;
let session: ClientHttp2Session;
const { cert } = testCert();

beforeEach(async () => {
  echo = await startEchoServer();
  ({ session } = await connectSession(echo.origin, { ca: cert }));
});

afterEach(async () => {
  session?.destroy();
  await echo?.close();
});

const last = () => echo.connections[echo.connections.length - 1];
const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('text and binary messages echo through the transport; kind, address and id are the stream\'s', async () => {
  const ws = await H2WsClient.open(session, '/ws');
  ws.send({ opcode: 0x1, payload: 'hello over h2' });
  ws.send({ opcode: 0x2, payload: Buffer.from([0, 1, 2, 255]) });
  await ws.waitFor(() => ws.frames.length >= 2);
  expect(ws.frames[0]).toMatchObject({ opcode: 0x1, fin: true });
  expect(ws.frames[0].payload.toString()).toBe('hello over h2');
  expect([...ws.frames[1].payload]).toEqual([0, 1, 2, 255]);
  const t = last().transport as import('../../src/transport/http2-stream').Http2StreamTransport;
  expect(t.kind).toBe('h2');
  expect(t.remoteAddress).toBe('127.0.0.1');
  expect(t.id).toBe(ws.stream.id);
  expect(t.ended).toBe(false);
});

test('a frame split over many DATA frames arrives whole; 1 MiB echoes intact', async () => {
  const ws = await H2WsClient.open(session, '/ws');
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  ws.send({ opcode: 0x2, payload: big });
  await ws.waitFor(() => ws.frames.length >= 1, 10000);
  expect(ws.frames[0].payload.equals(big)).toBe(true);
});

test('the close handshake ends the stream with END_STREAM both ways; the session stays up', async () => {
  const ws = await H2WsClient.open(session, '/ws');
  ws.send({ opcode: 0x8, payload: closePayload(1000, 'bye') });
  await ws.waitFor(() => ws.ended);
  expect(ws.closeFrame).toEqual({ code: 1000, reason: 'bye' });
  expect(last().transport.ended).toBe(true);
  ws.end(); // our END_STREAM: now the stream is closed on both sides, without a reset
  await ws.waitClosed();
  expect(ws.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  await until(() => last().events.includes('close'));
  // Our END_STREAM is followed by RST_STREAM NO_ERROR unless the client ended first.
  expect(last().events[0]).toBe('close-frame');
  expect(last().events[last().events.length - 1]).toBe('close');
  expect(last().events.filter((e) => e.startsWith('error'))).toEqual([]);
  const again = await H2WsClient.open(session, '/ws');
  again.send({ opcode: 0x1, payload: 'still here' });
  await again.waitFor(() => again.frames.length === 1);
});

test("the client's END_STREAM maps to onEnd; the server may still write (half-open), then end", async () => {
  const ws = await H2WsClient.open(session, '/ws');
  ws.send({ opcode: 0x1, payload: 'before end' });
  ws.end();
  await until(() => echo.connections.length === 1 && last().events.includes('end'));
  expect(last().events).toEqual(['end']);
  const t = last().transport;
  t.write(Buffer.from([0x81, 0x05, ...Buffer.from('after')]));
  await ws.waitFor(() => ws.frames.length === 2);
  expect(ws.frames.map((f) => f.payload.toString())).toEqual(['before end', 'after']);
  t.end();
  await ws.waitClosed();
  await until(() => last().events.includes('close'));
  expect(ws.rstCode).toBe(0);
});

test('RST_STREAM CANCEL from the client maps to onClose, with no error; the other streams live on', async () => {
  const a = await H2WsClient.open(session, '/ws');
  const b = await H2WsClient.open(session, '/ws');
  const serverA = echo.connections[0];
  a.reset(http2.constants.NGHTTP2_CANCEL);
  await until(() => serverA.events.includes('close'));
  expect(serverA.events).toEqual(['close']);
  expect(serverA.transport.ended).toBe(true);
  b.send({ opcode: 0x1, payload: 'b lives' });
  await b.waitFor(() => b.frames.length === 1);
  expect(echo.connections[1].events).toEqual([]);
});

test('a reset with an error code maps to onError then onClose', async () => {
  await H2WsClient.open(session, '/ws').then((ws) => ws.reset(http2.constants.NGHTTP2_INTERNAL_ERROR));
  await until(() => echo.connections.length === 1 && echo.connections[0].events.includes('close'));
  expect(echo.connections[0].events).toEqual(['error:ERR_HTTP2_STREAM_ERROR', 'close']);
});

test('destroy() resets the stream with CANCEL; the session and its other streams stay up', async () => {
  const a = await H2WsClient.open(session, '/ws');
  const b = await H2WsClient.open(session, '/ws');
  echo.connections[0].transport.destroy();
  await a.waitClosed();
  expect(a.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  expect(echo.connections[0].transport.ended).toBe(true);
  await until(() => echo.connections[0].events.includes('close'));
  expect(session.destroyed).toBe(false);
  b.send({ opcode: 0x1, payload: 'b' });
  await b.waitFor(() => b.frames.length === 1);
});

test('a dead session closes every stream on it (onClose for each)', async () => {
  const clients = await Promise.all([1, 2, 3].map(() => H2WsClient.open(session, '/ws')));
  expect(clients).toHaveLength(3);
  session.destroy();
  await until(() => echo.connections.length === 3 && echo.connections.every((c) => c.events.includes('close')));
});

test('a client that stops reading shows as writableLength and needDrain on its stream only; drain comes when it reads', async () => {
  const stalled = await H2WsClient.open(session, '/ws', {}, { paused: true });
  const other = await H2WsClient.open(session, '/ws');
  const s = echo.connections[0];
  stalled.send({ opcode: 0x1, payload: 'blast:1048576' });
  await until(() => s.events.some((e) => e.startsWith('blasted')));
  expect(s.events).toContain('blasted needDrain=true');
  await new Promise((r) => setTimeout(r, 200));
  // The client's stream window (65535 bytes) is all that left; the rest waits in the stream.
  const t = s.transport;
  expect(t.needDrain).toBe(true);
  expect(t.writableLength).toBeGreaterThan(1048576 - 200000);
  expect(t.writableLength).toBeGreaterThan(t.writableHighWaterMark);
  expect(t.queuedBelow()).toBeGreaterThanOrEqual(0);
  // The other stream on the same session is not held up, in either direction.
  for (let i = 0; i < 20; i++) other.send({ opcode: 0x1, payload: `m${i}` });
  other.send({ opcode: 0x2, payload: Buffer.alloc(200000, 1) });
  await other.waitFor(() => other.frames.length === 21, 5000);
  expect(echo.connections[1].transport.writableLength).toBe(0);
  expect(t.needDrain).toBe(true);
  // The stalled client reads again: everything arrives and the transport drains.
  stalled.stream.resume();
  await stalled.waitFor(() => stalled.frames.reduce((n, f) => n + f.payload.length, 0) === 1048576, 10000);
  await until(() => s.events.includes('drain'));
  expect(t.writableLength).toBe(0);
  expect(t.needDrain).toBe(false);
  expect(t.queuedBelow()).toBe(0);
});

test('pause() stops reading: the peer is held at its stream window, other streams flow; resume() delivers the rest', async () => {
  const a = await H2WsClient.open(session, '/ws');
  const b = await H2WsClient.open(session, '/ws');
  const ta = echo.connections[0].transport;
  ta.pause();
  const chunk = Buffer.alloc(16384, 7);
  let accepted = 0;
  let refusedAt = -1;
  for (let i = 0; i < 64; i++) {
    if (!a.send({ opcode: 0x2, payload: chunk }) && refusedAt < 0) refusedAt = i;
    accepted++;
  }
  await new Promise((r) => setTimeout(r, 300));
  // Nothing echoed while paused; the client's writes back up behind the window.
  expect(a.frames).toHaveLength(0);
  expect(a.stream.writableLength).toBeGreaterThan(0);
  b.send({ opcode: 0x1, payload: 'b flows' });
  await b.waitFor(() => b.frames.length === 1);
  ta.resume();
  await a.waitFor(() => a.frames.length === accepted, 10000);
  expect(refusedAt).toBeGreaterThanOrEqual(0);
});

test('write after end reports an error to the callback and returns false', async () => {
  await H2WsClient.open(session, '/ws');
  const t = last().transport;
  t.end();
  const err = await new Promise<Error | null | undefined>((resolve) => expect(t.write(Buffer.from('x'), resolve)).toBe(false));
  expect(err).toBeInstanceOf(Error);
  expect(t.writeMany([Buffer.from('y')])).toBe(false);
});

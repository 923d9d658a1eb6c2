// src/io/fanout.ts through an attached endpoint and real clients: one message framed once for
// many sockets, compressed once per window size when contexts are not kept, per socket when
// they are; skip/except; the count of takers.
import WebSocketClient from 'ws';
import * as encoder from '../../src/core/encoder';
import * as textPath from '../../src/io/text';
import { WebSocket } from '../../src/io/websocket';
import { DeflateCodec } from '../../src/io/deflate';
import { Outbox } from '../../src/io/outbox';
import type { AttachOptions } from '../../src';
import { closeAndSettle, startWsServer, type WsServer } from '../helpers/ws-server';

let srv: WsServer | null = null;

afterEach(async () => {
  jest.restoreAllMocks();
  await closeAndSettle(srv);
  srv = null;
});

interface Peer {
  client: WebSocketClient;
  socket: WebSocket;
  messages: { data: string; binary: boolean }[];
}

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function serve(options: AttachOptions = {}): Promise<WsServer> {
  srv = await startWsServer(options);
  return srv;
}

async function peer(s: WsServer, clientOptions?: WebSocketClient.ClientOptions, path = '/'): Promise<Peer> {
  const client = await s.wsClient(path, clientOptions);
  const socket = await s.nextSocket();
  const p: Peer = { client, socket, messages: [] };
  client.on('message', (data, isBinary) => p.messages.push({ data: data.toString(), binary: isBinary }));
  return p;
}

async function peers(s: WsServer, n: number, clientOptions?: WebSocketClient.ClientOptions): Promise<Peer[]> {
  const out: Peer[] = [];
  for (let i = 0; i < n; i++) out.push(await peer(s, clientOptions));
  return out;
}

const received = (ps: Peer[], count: number) => ps.every((p) => p.messages.length >= count);

describe('framed once', () => {
  test('broadcast encodes once and hands the same Buffer to every socket', async () => {
    const s = await serve();
    const ps = await peers(s, 4);
    const text = jest.spyOn(textPath, 'encodeText');
    const binary = jest.spyOn(encoder, 'encodeFrame');
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(s.endpoint.broadcast('hello all')).toBe(4);
    expect(text).toHaveBeenCalledTimes(1);
    expect(binary).not.toHaveBeenCalled();
    expect(sendEncoded).toHaveBeenCalledTimes(4);
    const frames = sendEncoded.mock.calls.map((c) => c[0]);
    for (const f of frames) expect(f).toBe(frames[0]);
    // The receivers are the four sockets, each once.
    expect(new Set(sendEncoded.mock.contexts)).toEqual(new Set(ps.map((p) => p.socket)));
    await until(() => received(ps, 1), 5000, 'delivery');
    for (const p of ps) expect(p.messages).toEqual([{ data: 'hello all', binary: false }]);
  });

  test('binary data: one encodeFrame for all sockets, delivered as binary', async () => {
    const s = await serve();
    const ps = await peers(s, 3);
    const binary = jest.spyOn(encoder, 'encodeFrame');
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(s.endpoint.broadcast(Buffer.from('bin'))).toBe(3);
    expect(binary).toHaveBeenCalledTimes(1);
    const frames = sendEncoded.mock.calls.map((c) => c[0]);
    expect(frames).toHaveLength(3);
    for (const f of frames) expect(f).toBe(frames[0]);
    await until(() => received(ps, 1), 5000, 'delivery');
    for (const p of ps) expect(p.messages).toEqual([{ data: 'bin', binary: true }]);
  });

  test('publish frames once for the topic\'s subscribers only', async () => {
    const s = await serve();
    const ps = await peers(s, 3);
    ps[0].socket.subscribe('t');
    ps[2].socket.subscribe('t');
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    const text = jest.spyOn(textPath, 'encodeText');
    expect(s.endpoint.publish('t', 'topic msg')).toBe(2);
    expect(text).toHaveBeenCalledTimes(1);
    expect(new Set(sendEncoded.mock.contexts)).toEqual(new Set([ps[0].socket, ps[2].socket]));
    await until(() => received([ps[0], ps[2]], 1), 5000, 'delivery');
    // Give the non-subscriber the same chance to (wrongly) get it: a later broadcast arrives after.
    s.endpoint.broadcast('marker');
    await until(() => ps[1].messages.length >= 1, 5000, 'marker');
    expect(ps[1].messages).toEqual([{ data: 'marker', binary: false }]);
  });

  test('with deflate on, a message below the threshold is framed once, uncompressed', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 1024, serverNoContextTakeover: true } });
    const ps = await peers(s, 3, { perMessageDeflate: true });
    expect(ps[0].socket.extensions).toMatch(/permessage-deflate/);
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(s.endpoint.broadcast('small')).toBe(3);
    expect(compress).not.toHaveBeenCalled();
    expect(sendEncoded).toHaveBeenCalledTimes(3);
    await until(() => received(ps, 1), 5000, 'delivery');
  });

  test('sockets without deflate get the frame-once path even when others compress', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } });
    const plain = await peer(s, { perMessageDeflate: false });
    const squeezed = await peer(s, { perMessageDeflate: true });
    expect(plain.socket.extensions).toBe('');
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    const reserve = jest.spyOn(WebSocket.prototype, 'reserve');
    expect(s.endpoint.broadcast('x'.repeat(2000))).toBe(2);
    expect(sendEncoded.mock.contexts).toEqual([plain.socket]);
    expect(reserve.mock.contexts).toEqual([squeezed.socket]);
    await until(() => received([plain, squeezed], 1), 5000, 'delivery');
    expect(plain.messages[0].data).toBe('x'.repeat(2000));
    expect(squeezed.messages[0].data).toBe('x'.repeat(2000));
  });
});

describe('compressed once', () => {
  test('no context takeover: one compression per window size, the same frame for each socket of a size', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } });
    const wide = await peers(s, 3, { perMessageDeflate: true });
    const narrow = await peers(s, 2, { perMessageDeflate: { serverMaxWindowBits: 10 } });
    expect(wide[0].socket.extensions).not.toMatch(/server_max_window_bits/);
    expect(narrow[0].socket.extensions).toMatch(/server_max_window_bits=10/);
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    const take = jest.spyOn(WebSocket.prototype, 'take');
    const reserve = jest.spyOn(WebSocket.prototype, 'reserve');
    const fill = jest.spyOn(Outbox.prototype, 'fill');
    const message = 'compress me once '.repeat(200);
    expect(s.endpoint.broadcast(message)).toBe(5);
    expect(take).not.toHaveBeenCalled();
    expect(reserve).toHaveBeenCalledTimes(5);
    expect(compress).toHaveBeenCalledTimes(2); // one per window size, not one per socket
    // Every socket of a size gets the identical compressed frame (the fill functions share it).
    const all = [...wide, ...narrow];
    await until(() => received(all, 1), 5000, 'delivery');
    expect(fill).toHaveBeenCalledTimes(5);
    const frames = fill.mock.calls.map((c) => c[2]);
    const distinct = [...new Set(frames)];
    expect(distinct).toHaveLength(2);
    expect(frames.filter((f) => f === distinct[0]).length + frames.filter((f) => f === distinct[1]).length).toBe(5);
    expect(new Set(frames.map((f) => frames.filter((g) => g === f).length))).toEqual(new Set([3, 2]));
    for (const p of all) expect(p.messages).toEqual([{ data: message, binary: false }]);
  });

  test('a second broadcast reuses the shared compressor of each size', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } });
    const ps = await peers(s, 3, { perMessageDeflate: true });
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    s.endpoint.broadcast('one '.repeat(100));
    s.endpoint.broadcast('two '.repeat(100));
    expect(compress).toHaveBeenCalledTimes(2);
    expect(new Set(compress.mock.contexts).size).toBe(1);
    await until(() => received(ps, 2), 5000, 'delivery');
    for (const p of ps) expect(p.messages.map((m) => m.data)).toEqual(['one '.repeat(100), 'two '.repeat(100)]);
  });

  test('the shared frame keeps its place in each socket\'s order', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } });
    const ps = await peers(s, 2, { perMessageDeflate: true });
    const big = 'shared '.repeat(300);
    s.endpoint.broadcast(big);
    for (const p of ps) p.socket.send('after', { compress: false });
    await until(() => received(ps, 2), 5000, 'delivery');
    for (const p of ps) expect(p.messages.map((m) => m.data)).toEqual([big, 'after']);
  });
});

describe('context takeover', () => {
  test('each socket compresses with its own context: take() per socket, one compression each', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0 } });
    const ps = await peers(s, 3, { perMessageDeflate: true });
    expect(ps[0].socket.extensions).not.toMatch(/server_no_context_takeover/);
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    const take = jest.spyOn(WebSocket.prototype, 'take');
    const reserve = jest.spyOn(WebSocket.prototype, 'reserve');
    const message = 'per socket '.repeat(100);
    expect(s.endpoint.broadcast(message)).toBe(3);
    expect(reserve).not.toHaveBeenCalled();
    expect(new Set(take.mock.contexts)).toEqual(new Set(ps.map((p) => p.socket)));
    expect(compress).toHaveBeenCalledTimes(3);
    expect(new Set(compress.mock.contexts).size).toBe(3);
    await until(() => received(ps, 1), 5000, 'delivery');
    for (const p of ps) expect(p.messages[0].data).toBe(message);
  });
});

describe('skip / except', () => {
  test('broadcast except a socket: it gets nothing, the count leaves it out', async () => {
    const s = await serve();
    const ps = await peers(s, 3);
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(s.endpoint.broadcast('not you', { except: ps[1].socket })).toBe(2);
    expect(sendEncoded.mock.contexts).not.toContain(ps[1].socket);
    expect(sendEncoded).toHaveBeenCalledTimes(2);
  });

  test('publish except a predicate', async () => {
    const s = await serve();
    const ps = await peers(s, 4);
    for (const p of ps) p.socket.subscribe('room');
    const skipped = new Set([ps[0].socket, ps[3].socket]);
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(s.endpoint.publish('room', 'hi', { except: (sock) => skipped.has(sock) })).toBe(2);
    expect(new Set(sendEncoded.mock.contexts)).toEqual(new Set([ps[1].socket, ps[2].socket]));
  });

  test('except on the compressed paths too', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } });
    const ps = await peers(s, 3, { perMessageDeflate: true });
    const reserve = jest.spyOn(WebSocket.prototype, 'reserve');
    expect(s.endpoint.broadcast('z'.repeat(500), { except: ps[0].socket })).toBe(2);
    expect(reserve.mock.contexts).not.toContain(ps[0].socket);
  });
});

describe('the count of takers', () => {
  test('closed and closing sockets are not counted and get nothing', async () => {
    const s = await serve();
    const ps = await peers(s, 4);
    ps[0].socket.terminate();
    ps[1].socket.close(1000);
    expect(ps[1].socket.readyState).toBe(2);
    const sendEncoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(s.endpoint.broadcast('left')).toBe(2);
    expect(new Set(sendEncoded.mock.contexts)).toEqual(new Set([ps[2].socket, ps[3].socket]));
  });

  test.each([
    ['uncompressed', {} as AttachOptions, false],
    ['shared compression', { perMessageDeflate: { threshold: 0, serverNoContextTakeover: true } } as AttachOptions, true],
    ['context takeover', { perMessageDeflate: { threshold: 0 } } as AttachOptions, true],
  ])('%s: a socket over maxBackpressure (policy drop) is not counted', async (_name, options, deflate) => {
    const s = await serve({ ...options, maxBackpressure: 64 * 1024, backpressurePolicy: 'drop' });
    const ps = await peers(s, 3, { perMessageDeflate: deflate });
    // The slow one stops reading; a large send then stays in its buffers.
    const slow = ps[1];
    (slow.client as unknown as { _socket: { pause(): void } })._socket.pause();
    slow.socket.send(Buffer.alloc(16 * 1024 * 1024), { compress: false });
    await until(() => slow.socket.bufferedAmount > 64 * 1024, 5000, 'backlog');
    const before = s.endpoint.stats().backpressureEvents;
    expect(s.endpoint.broadcast('y'.repeat(2000))).toBe(2);
    expect(slow.socket.readyState).toBe(1); // 'drop' keeps the socket
    expect(s.endpoint.stats().backpressureEvents).toBe(before + 1);
    await until(() => received([ps[0], ps[2]], 1), 5000, 'delivery to the others');
  });

  test('policy close: the slow socket is closed with 1008 and not counted', async () => {
    const s = await serve({ maxBackpressure: 64 * 1024 });
    const ps = await peers(s, 2);
    const slow = ps[0];
    (slow.client as unknown as { _socket: { pause(): void } })._socket.pause();
    slow.socket.send(Buffer.alloc(16 * 1024 * 1024));
    await until(() => slow.socket.bufferedAmount > 64 * 1024, 5000, 'backlog');
    const closed = new Promise<number>((resolve) => slow.socket.once('close', (code: number) => resolve(code)));
    expect(s.endpoint.broadcast('y')).toBe(1);
    await expect(closed).resolves.toBe(1008);
  });

  test('no sockets: 0, nothing encoded', async () => {
    const s = await serve();
    const text = jest.spyOn(encoder, 'encodeTextFrame');
    expect(s.endpoint.broadcast('nobody')).toBe(0);
    expect(s.endpoint.publish('none', 'nobody')).toBe(0);
    expect(text).not.toHaveBeenCalled();
  });
});

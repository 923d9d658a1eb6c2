// permessage-deflate against hostile or broken peers: decompression bombs, RSV1 where it
// does not belong, corrupt data and text that inflates to invalid UTF-8.
import * as zlib from 'node:zlib';
import type { AttachOptions, WebSocket } from '../../src';
import { zlibContexts } from '../../src/io/deflate';
import { deflateMessage, sampleText, zeroBomb } from '../helpers/compress';
import { RawClient } from '../helpers/raw-client';
import { delay } from '../helpers/server';
import { closeAndSettle, startWsServer, type WsServer } from '../helpers/ws-server';

// Record every inflate stream the server makes, to see how far it got into a bomb.
const inflaters: zlib.InflateRaw[] = [];
jest.mock('node:zlib', () => {
  const actual = jest.requireActual<typeof zlib>('node:zlib');
  return {
    ...actual,
    createInflateRaw: (options?: zlib.ZlibOptions) => {
      const stream = actual.createInflateRaw(options);
      inflaters.push(stream);
      return stream;
    },
  };
});

const DEFLATE = { 'Sec-WebSocket-Extensions': 'permessage-deflate' };

let srv: WsServer | null = null;
const raws: RawClient[] = [];
let errors: unknown[] = [];
let received: { data: string | Buffer; isBinary: boolean }[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await closeAndSettle(srv);
  srv = null;
});

async function start(options: AttachOptions): Promise<WsServer> {
  errors = [];
  received = [];
  srv = await startWsServer({ onError: (err) => errors.push(err), ...options }, (socket: WebSocket) => {
    socket.on('message', (data, isBinary) => {
      received.push({ data, isBinary });
      socket.send(data, { binary: isBinary });
    });
  });
  return srv;
}

async function raw(headers: Record<string, string> = DEFLATE): Promise<RawClient> {
  const client = await RawClient.open(srv!.port, '/', headers);
  raws.push(client);
  return client;
}

/** Waits for the server's close frame and the end of the connection; returns the code. */
async function closedWith(client: RawClient): Promise<number | undefined> {
  await client.waitClosed();
  return client.closeFrame?.code;
}

describe('decompression bomb', () => {
  test('200 MiB of zeros in a ~200 KB frame: 1009, stopped early, memory flat', async () => {
    const bomb = await zeroBomb(200 << 20);
    expect(bomb.length).toBeLessThan(256 * 1024); // under maxPayload, so only inflating can catch it
    await start({ perMessageDeflate: true, maxPayload: 256 * 1024 });
    const client = await raw();
    inflaters.length = 0;
    global.gc?.();
    const before = process.memoryUsage();
    client.send({ opcode: 2, rsv: 0x40, payload: bomb });
    expect(await closedWith(client)).toBe(1009);
    const after = process.memoryUsage();

    // The server made one inflater and fed it only a sliver of the bomb before giving up.
    expect(inflaters.length).toBe(1);
    expect(inflaters[0].bytesWritten).toBeLessThan(bomb.length / 10);
    expect(received).toEqual([]);
    // Nothing like 200 MiB was ever held (allow generous slack for everything else).
    expect(after.rss - before.rss).toBeLessThan(100 << 20);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(50 << 20);
  });

  test('a bomb split over many fragments is stopped the same way', async () => {
    const bomb = await zeroBomb(20 << 20);
    await start({ perMessageDeflate: true, maxPayload: 1 << 20 });
    const client = await raw();
    const step = 1000;
    for (let at = 0; at < bomb.length; at += step) {
      const last = at + step >= bomb.length;
      client.send({ opcode: at === 0 ? 1 : 0, rsv: at === 0 ? 0x40 : 0, fin: last, payload: bomb.subarray(at, at + step) });
    }
    expect(await closedWith(client)).toBe(1009);
    expect(received).toEqual([]);
  });

  test('a message that inflates to exactly maxPayload is delivered; one byte more is 1009', async () => {
    await start({ perMessageDeflate: true, maxPayload: 4096 });
    const ok = await raw();
    ok.send({ opcode: 2, rsv: 0x40, payload: deflateMessage(Buffer.alloc(4096, 7)) });
    await ok.waitFor(() => ok.frames.length === 1);
    expect(received.map((m) => (m.data as Buffer).length)).toEqual([4096]);

    const over = await raw();
    over.send({ opcode: 2, rsv: 0x40, payload: deflateMessage(Buffer.alloc(4097, 7)) });
    expect(await closedWith(over)).toBe(1009);
    expect(received.length).toBe(1);
  });

  test('the compressed size alone past maxPayload is refused by the parser: 1009', async () => {
    await start({ perMessageDeflate: true, maxPayload: 1000 });
    const client = await raw();
    client.send({ opcode: 2, rsv: 0x40, payload: Buffer.alloc(1001) });
    expect(await closedWith(client)).toBe(1009);
  });
});

describe('RSV1 where it does not belong: 1002', () => {
  test.each([
    ['ping', 0x9],
    ['pong', 0xa],
    ['close', 0x8],
  ])('on a %s frame', async (_name, opcode) => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    client.send({ opcode, rsv: 0x40, payload: opcode === 0x8 ? Buffer.from([0x03, 0xe8]) : 'x' });
    expect(await closedWith(client)).toBe(1002);
  });

  test('on a continuation frame', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    const payload = deflateMessage(sampleText(3000));
    client.send({ opcode: 1, rsv: 0x40, fin: false, payload: payload.subarray(0, 10) });
    client.send({ opcode: 0, rsv: 0x40, fin: true, payload: payload.subarray(10) });
    expect(await closedWith(client)).toBe(1002);
    expect(received).toEqual([]);
  });

  test('when the server has compression off', async () => {
    await start({});
    const client = await raw();
    expect(client.header('Sec-WebSocket-Extensions')).toBeUndefined();
    client.send({ opcode: 1, rsv: 0x40, payload: deflateMessage('hello') });
    expect(await closedWith(client)).toBe(1002);
  });

  test('when the client did not offer compression to a server that has it', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw({});
    client.send({ opcode: 1, rsv: 0x40, payload: deflateMessage('hello') });
    expect(await closedWith(client)).toBe(1002);
  });

  test('when the offer was declined', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw({ 'Sec-WebSocket-Extensions': 'permessage-deflate; unknown_param' });
    expect(client.header('Sec-WebSocket-Extensions')).toBeUndefined();
    client.send({ opcode: 2, rsv: 0x40, payload: deflateMessage('hello') });
    expect(await closedWith(client)).toBe(1002);
  });

  test('RSV2 or RSV3 even with compression agreed', async () => {
    await start({ perMessageDeflate: true });
    for (const rsv of [0x20, 0x10]) {
      const client = await raw();
      client.send({ opcode: 1, rsv, payload: 'x' });
      expect(await closedWith(client)).toBe(1002);
    }
  });
});

describe('corrupt compressed data', () => {
  test.each([
    ['a reserved block type', Buffer.from([0xff, 0xff, 0xff])],
    ['a stored block whose length check fails', Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 0x41, 0x41])],
    ['a back-reference before the start', Buffer.from([0x02, 0x04, 0x00])],
  ])('%s: 1007, no crash, and the server keeps serving', async (_name, payload) => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    client.send({ opcode: 2, rsv: 0x40, payload });
    expect(await closedWith(client)).toBe(1007);
    expect(received).toEqual([]);

    const next = await raw();
    next.send({ opcode: 1, rsv: 0x40, payload: deflateMessage('still here') });
    await next.waitFor(() => next.frames.length === 1);
    expect(received.map((m) => m.data)).toEqual(['still here']);
  });

  test('random garbage never crashes the server: every connection ends with 1007 or a delivered message', async () => {
    await start({ perMessageDeflate: true, maxPayload: 64 * 1024 });
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 30; i++) {
      const client = await raw();
      const payload = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
      client.send({ opcode: 2, rsv: 0x40, payload });
      client.send({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
      await client.waitClosed();
      expect([1000, 1007, 1009]).toContain(client.closeFrame?.code);
      client.destroy();
    }
    expect(errors).toEqual([]);
  });

  test('the contexts of failed connections are freed', async () => {
    const base = { ...zlibContexts };
    await start({ perMessageDeflate: true });
    const client = await raw();
    client.send({ opcode: 2, rsv: 0x40, payload: Buffer.from([0xff, 0xff]) });
    await client.waitClosed();
    for (let i = 0; i < 100 && srv!.endpoint.clients.size > 0; i++) await delay(10);
    expect(srv!.endpoint.clients.size).toBe(0);
    expect(zlibContexts).toEqual(base);
  });
});

describe('UTF-8 is checked after inflating', () => {
  test('text that inflates to invalid UTF-8: 1007', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    client.send({ opcode: 1, rsv: 0x40, payload: deflateMessage(Buffer.from([0x68, 0x69, 0xc3, 0x28])) });
    expect(await closedWith(client)).toBe(1007);
    expect(received).toEqual([]);
  });

  test('the same bytes as a binary message are fine', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    const bytes = Buffer.from([0x68, 0x69, 0xc3, 0x28]);
    client.send({ opcode: 2, rsv: 0x40, payload: deflateMessage(bytes) });
    await client.waitFor(() => client.frames.length === 1);
    expect(received).toEqual([{ data: bytes, isBinary: true }]);
  });

  test('a compressed payload need not be UTF-8 itself, and fragments may split characters', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    const text = 'ünïcödé ✓ 😀 '.repeat(200);
    const payload = deflateMessage(text);
    // Split mid-way through the compressed bytes: the fragments are not valid UTF-8 on their own.
    client.send({ opcode: 1, rsv: 0x40, fin: false, payload: payload.subarray(0, 7) });
    client.send({ opcode: 0, fin: true, payload: payload.subarray(7) });
    await client.waitFor(() => client.frames.length === 1);
    expect(received).toEqual([{ data: text, isBinary: false }]);
  });
});

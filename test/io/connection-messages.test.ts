// The connection engine with the `ws` client: message types, send() inputs, sizes,
// ordering, UTF-8, ping/pong, and sending on a socket that is no longer open.
import type { EventEmitter } from 'node:events';
import WebSocketClient from 'ws';
import { type WebSocket, WebSocketError } from '../../src';
import { once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

function echo(socket: WebSocket): void {
  socket.on('message', (data) => socket.send(data));
}

/** Collects the next `count` messages a ws client receives. */
function collect(client: WebSocketClient, count: number, ms = 10000): Promise<[Buffer, boolean][]> {
  return new Promise((resolve, reject) => {
    const got: [Buffer, boolean][] = [];
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count} messages`)), ms);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      got.push([data, isBinary]);
      if (got.length < count) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(got);
    };
    client.on('message', onMessage);
  });
}

describe('messages with the ws client', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('text arrives as a string, binary as a Buffer, and echo keeps the type', async () => {
    const seen: [unknown, boolean][] = [];
    s = await startWsServer({}, (socket) => {
      socket.on('message', (data, isBinary) => seen.push([data, isBinary]));
      echo(socket);
    });
    const client = await s.wsClient();
    const replies = collect(client, 2);
    client.send('hello');
    client.send(Buffer.from([1, 2, 3]));
    const [[text, textIsBinary], [bin, binIsBinary]] = await replies;
    expect(seen).toEqual([
      ['hello', false],
      [Buffer.from([1, 2, 3]), true],
    ]);
    expect(typeof seen[0][0]).toBe('string');
    expect(Buffer.isBuffer(seen[1][0])).toBe(true);
    expect(textIsBinary).toBe(false);
    expect(text.toString()).toBe('hello');
    expect(binIsBinary).toBe(true);
    expect(bin).toEqual(Buffer.from([1, 2, 3]));
  });

  test('send() takes a string, Buffer, ArrayBuffer, Uint8Array, DataView and other views', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const replies = collect(client, 7);
    const backing = new Uint8Array([9, 9, 1, 2, 3, 4, 9, 9]);
    expect(socket.send('text')).toBe(true);
    socket.send(Buffer.from('buffer'));
    socket.send(new Uint8Array([5, 6, 7]).buffer);
    socket.send(backing.subarray(2, 6)); // a view with an offset: only its own bytes go out
    socket.send(new DataView(backing.buffer, 1, 3));
    socket.send(new Uint16Array([0x0102]));
    socket.send(Buffer.alloc(0));
    const got = await replies;
    expect(got.map(([d, b]) => [[...d], b])).toEqual([
      [[...Buffer.from('text')], false],
      [[...Buffer.from('buffer')], true],
      [[5, 6, 7], true],
      [[1, 2, 3, 4], true],
      [[9, 1, 2], true],
      [[...Buffer.from(new Uint16Array([0x0102]).buffer)], true],
      [[], true],
    ]);
  });

  test('the send callback runs without an error once the data is written, in order', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const replies = collect(client, 3);
    const done: [string, Error | undefined][] = [];
    socket.send('small', (err) => done.push(['small', err]));
    socket.send(Buffer.alloc(200000), (err) => done.push(['large', err]));
    socket.ping('p', (err) => done.push(['ping', err]));
    socket.send('last', { binary: false }, (err) => done.push(['last', err]));
    await replies;
    for (let i = 0; i < 100 && done.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(done).toEqual([
      ['small', undefined],
      ['large', undefined],
      ['ping', undefined],
      ['last', undefined],
    ]);
  });

  test('{ binary } overrides the type the data would give', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const replies = collect(client, 4);
    socket.send('as binary', { binary: true });
    socket.send(Buffer.from('as text'), { binary: false });
    socket.send('still text', { binary: false });
    socket.send(Buffer.from('still binary'), { binary: true });
    const got = await replies;
    expect(got.map(([d, b]) => [d.toString(), b])).toEqual([
      ['as binary', true],
      ['as text', false],
      ['still text', false],
      ['still binary', true],
    ]);
  });

  test('1000 messages arrive in order both ways', async () => {
    const received: string[] = [];
    s = await startWsServer({}, (socket) => {
      socket.on('message', (data) => received.push(data as string));
      echo(socket);
    });
    const client = await s.wsClient();
    const replies = collect(client, 1000);
    const sent = Array.from({ length: 1000 }, (_, i) => `message ${i}`);
    for (const m of sent) client.send(m);
    const got = await replies;
    expect(received).toEqual(sent);
    expect(got.map(([d]) => d.toString())).toEqual(sent);
  });

  test.each([0, 1, 125, 126, 127, 65535, 65536, 65537, 5 * 1024 * 1024])(
    'a %d-byte message round-trips as binary and as text',
    async (size) => {
      s = await startWsServer({ maxPayload: 5 * 1024 * 1024 }, echo);
      const client = await s.wsClient();
      const binary = Buffer.alloc(size);
      for (let i = 0; i < size; i++) binary[i] = (i * 31 + 7) & 0xff;
      const text = 'abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(size / 26)).slice(0, size);
      const replies = collect(client, 2, 15000);
      client.send(binary);
      client.send(text);
      const [[b, bIsBinary], [t, tIsBinary]] = await replies;
      expect(bIsBinary).toBe(true);
      expect(b.length).toBe(size);
      expect(b.equals(binary)).toBe(true);
      expect(tIsBinary).toBe(false);
      expect(t.length).toBe(size);
      expect(t.toString() === text).toBe(true);
    },
  );

  test('multi-byte UTF-8 text round-trips unchanged, short and long', async () => {
    const received: string[] = [];
    s = await startWsServer({}, (socket) => {
      socket.on('message', (data) => received.push(data as string));
      echo(socket);
    });
    const client = await s.wsClient();
    const short = 'héllo wörld ☃ 中文 😀 \u{10ffff}';
    const long = '😀é中'.repeat(20000); // past the short-string fast path
    const replies = collect(client, 2);
    client.send(short);
    client.send(long);
    const got = await replies;
    expect(received).toEqual([short, long]);
    expect(got.map(([d]) => d.toString())).toEqual([short, long]);
  });
});

describe('ping and pong with the ws client', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('a server ping is answered by the client, and the server sees the pong', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const clientPing = once<[Buffer]>(client, 'ping');
    const serverPong = once<[Buffer]>(socket, 'pong');
    expect(socket.ping('are you there')).toBe(true);
    expect((await clientPing)[0].toString()).toBe('are you there');
    expect((await serverPong)[0].toString()).toBe('are you there');
  });

  test('a client ping is answered with a pong carrying the same payload', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const serverPing = once<[Buffer]>(socket, 'ping');
    const clientPong = once<[Buffer]>(client, 'pong');
    const payload = Buffer.from([0, 1, 2, 250, 251, 252]);
    client.ping(payload);
    expect((await serverPing)[0]).toEqual(payload);
    expect((await clientPong)[0]).toEqual(payload);
  });

  test('empty pings, unsolicited pongs, and a 125-byte payload', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const pong = once<[Buffer]>(socket, 'pong');
    socket.ping();
    expect((await pong)[0].length).toBe(0);
    const clientPong = once<[Buffer]>(client, 'pong');
    socket.pong(Buffer.alloc(125, 0x61));
    expect((await clientPong)[0]).toEqual(Buffer.alloc(125, 0x61));
  });

  test('a ping payload over 125 bytes is refused without sending anything', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    let clientPinged = false;
    client.on('ping', () => (clientPinged = true));
    const error = new Promise<Error | undefined>((resolve) => {
      expect(socket.ping(Buffer.alloc(126), resolve)).toBe(false);
    });
    expect(await error).toBeInstanceOf(RangeError);
    // The connection is still usable.
    const reply = once<[Buffer]>(client, 'message');
    socket.send('after');
    expect((await reply)[0].toString()).toBe('after');
    expect(clientPinged).toBe(false);
    expect(socket.readyState).toBe(1);
  });
});

describe('sending on a socket that is not open', () => {
  let s: WsServer;
  afterEach(() => s.close());

  function sendFails(socket: WebSocket, call: (cb: (err?: Error) => void) => boolean): Promise<Error | undefined> {
    return new Promise((resolve) => {
      let result: boolean | undefined;
      expect(() => {
        result = call(resolve);
      }).not.toThrow();
      expect(result).toBe(false);
    });
  }

  test('send, ping and pong while closing and after close: false and NOT_OPEN, no throw', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const closed = once<[number, string]>(socket, 'close');
    socket.close(1000);
    expect(socket.readyState).toBe(socket.CLOSING);
    for (const call of [
      (cb: (e?: Error) => void) => socket.send('late', cb),
      (cb: (e?: Error) => void) => socket.send(Buffer.from('late'), { binary: true }, cb),
      (cb: (e?: Error) => void) => socket.ping('late', cb),
      (cb: (e?: Error) => void) => socket.pong('late', cb),
    ]) {
      const err = await sendFails(socket, call);
      expect(err).toBeInstanceOf(WebSocketError);
      expect((err as WebSocketError).code).toBe('NOT_OPEN');
    }
    await closed;
    expect(socket.readyState).toBe(socket.CLOSED);
    const err = await sendFails(socket, (cb) => socket.send('after close', cb));
    expect((err as WebSocketError).code).toBe('NOT_OPEN');
    // Without a callback it just returns false.
    expect(socket.send('no callback')).toBe(false);
    expect(client.readyState).not.toBe(WebSocketClient.OPEN);
  });

  test('send after the peer vanished does not throw or crash', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const closed = once<[number, string]>(socket, 'close');
    client.terminate();
    const [code] = await closed;
    expect(code).toBe(1006);
    const err = await sendFails(socket, (cb) => socket.send('x', cb));
    expect((err as WebSocketError).code).toBe('NOT_OPEN');
  });
});

describe('the socket as an EventEmitter', () => {
  let s: WsServer;
  afterEach(() => s.close());

  // Connections keep their listeners in a table of their own (see fastListeners in
  // connection.ts): it must behave as EventEmitter's own, with no inherited names.
  test('listeners are added, counted, listed and removed; names from Object.prototype are no events', async () => {
    let socket!: WebSocket;
    s = await startWsServer({}, (ws) => void (socket = ws));
    const client = await s.wsClient();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const untyped = socket as unknown as EventEmitter;
    expect(untyped.emit('toString')).toBe(false);
    expect(untyped.emit('constructor')).toBe(false);
    expect(untyped.listenerCount('hasOwnProperty')).toBe(0);
    expect(socket.eventNames()).toEqual([]);
    const seen: string[] = [];
    const first = (data: unknown) => void seen.push(`first ${String(data)}`);
    const second = (data: unknown) => void seen.push(`second ${String(data)}`);
    socket.on('message', first);
    socket.on('message', second);
    socket.once('close', () => seen.push('close'));
    expect(socket.eventNames()).toEqual(['message', 'close']);
    expect(socket.listenerCount('message')).toBe(2);
    client.send('a');
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.off('message', first);
    expect(socket.listenerCount('message')).toBe(1);
    client.send('b');
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.removeAllListeners('message');
    expect(socket.eventNames()).toEqual(['close']);
    client.send('c');
    client.close();
    await once(socket, 'close');
    expect(seen).toEqual(['first a', 'second a', 'second b', 'close']);
  });
});

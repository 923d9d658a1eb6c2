// src/io/http1-attempt.ts over a real http server's 'upgrade' event and a raw TCP client.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { computeAcceptKey } from '../../src/core/handshake';
import { Http1Attempt } from '../../src/io/http1-attempt';
import { NetSocketTransport } from '../../src/transport/net-socket';
import type { TransportSink } from '../../src/transport/transport';

let server: http.Server;
let port: number;
let attempts: Http1Attempt[];
let waiters: ((a: Http1Attempt) => void)[];
const clients: net.Socket[] = [];

beforeEach(async () => {
  attempts = [];
  waiters = [];
  server = http.createServer((_req, res) => res.end('plain http'));
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    const attempt = new Http1Attempt(req, socket, head);
    const waiter = waiters.shift();
    if (waiter) waiter(attempt);
    else attempts.push(attempt);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const a of attempts) a.socket.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function nextAttempt(ms = 5000): Promise<Http1Attempt> {
  const ready = attempts.shift();
  if (ready) return Promise.resolve(ready);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no upgrade request arrived')), ms);
    waiters.push((a) => {
      clearTimeout(timer);
      attempts.push(a); // kept for cleanup
      resolve(a);
    });
  });
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

interface Client {
  socket: net.Socket;
  received: () => Buffer;
  ended: () => boolean;
  closed: () => boolean;
}

/** Connects and sends an upgrade request (plus `extra` bytes in the same write). */
async function connect(extra: Buffer = Buffer.alloc(0), path = '/ws?x=1'): Promise<Client> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  clients.push(socket);
  const chunks: Buffer[] = [];
  let ended = false;
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const head =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  socket.write(Buffer.concat([Buffer.from(head), extra]));
  return { socket, received: () => Buffer.concat(chunks), ended: () => ended, closed: () => closed };
}

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function sink(): TransportSink & { data: Buffer[]; events: string[] } {
  const s = {
    data: [] as Buffer[],
    events: [] as string[],
    onData: (c: Buffer) => void s.data.push(c),
    onEnd: () => void s.events.push('end'),
    onClose: () => void s.events.push('close'),
    onError: () => void s.events.push('error'),
    onDrain: () => void s.events.push('drain'),
  };
  return s;
}

describe('request facts', () => {
  test('method, version, headers, url, remote address, form', async () => {
    await connect(Buffer.alloc(0), '/rooms/1?a=b');
    const a = await nextAttempt();
    expect(a.form).toBe('http/1.1');
    expect(a.method).toBe('GET');
    expect(a.httpVersion).toBe('1.1');
    expect(a.url).toBe('/rooms/1?a=b');
    expect(a.headers['sec-websocket-key']).toBe(KEY);
    expect(a.headers.upgrade).toBe('websocket');
    expect(a.remoteAddress).toBe('127.0.0.1');
    expect(a.gone).toBe(false);
    expect(a.req.url).toBe('/rooms/1?a=b');
  });
});

describe('refuse', () => {
  test('writes a complete response and ends the connection', async () => {
    const c = await connect();
    const a = await nextAttempt();
    a.refuse(403, { 'X-Reason': 'nope' }, 'forbidden here\n');
    await until(() => c.ended(), 5000, 'FIN');
    const text = c.received().toString('latin1');
    const [head, body] = text.split('\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(head).toMatch(/\r\nX-Reason: nope(\r\n|$)/);
    expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect(head).toMatch(/\r\nContent-Length: 15(\r\n|$)/);
    expect(body).toBe('forbidden here\n');
  });

  test('after await: early bytes are dropped and nothing but the response is written', async () => {
    const c = await connect();
    const a = await nextAttempt();
    a.await(1000);
    c.socket.write('early');
    await new Promise((r) => setImmediate(r));
    a.refuse(401, {}, 'no\n');
    await until(() => c.ended(), 5000, 'FIN');
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n[\s\S]*\r\n\r\nno\n$/);
  });
});

describe('accept', () => {
  test('writes the 101 with the given headers and returns a NetSocketTransport', async () => {
    const c = await connect();
    const a = await nextAttempt();
    const opened = a.accept({
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Accept': computeAcceptKey(KEY),
      'Set-Cookie': ['a=1', 'b=2'],
    });
    expect(opened).not.toBeNull();
    expect(opened!.transport).toBeInstanceOf(NetSocketTransport);
    expect(opened!.transport.kind).toBe('http/1.1');
    expect(opened!.head.length).toBe(0);
    await until(() => c.received().includes('\r\n\r\n'), 5000, '101');
    const head = c.received().toString('latin1');
    expect(head).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${computeAcceptKey(KEY)}\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n`,
    );
    expect(computeAcceptKey(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test('bytes sent with the request (head) come back as head', async () => {
    await connect(Buffer.from('frame-bytes'));
    const a = await nextAttempt();
    const opened = a.accept({ Upgrade: 'websocket' });
    expect(opened!.head.toString()).toBe('frame-bytes');
  });

  test('the transport carries the connection after the 101', async () => {
    const c = await connect();
    const a = await nextAttempt();
    const opened = a.accept({ Upgrade: 'websocket' })!;
    const s = sink();
    opened.transport.bind(s);
    opened.transport.resume();
    c.socket.write('after');
    await until(() => Buffer.concat(s.data).toString() === 'after', 5000, 'data');
    opened.transport.write(Buffer.from('reply'));
    await until(() => c.received().toString().endsWith('\r\n\r\nreply'), 5000, 'reply');
  });

  test('bytes that arrive during await() are held and returned as head, in order, after the request\'s own', async () => {
    const c = await connect(Buffer.from('A'));
    const a = await nextAttempt();
    a.await(100);
    c.socket.write('B');
    c.socket.write('C');
    // Wait until every byte the client wrote has been read on the server side.
    await until(() => a.socket.bytesRead > 0 && a.socket.bytesRead >= c.socket.bytesWritten, 5000, 'bytes to arrive');
    const opened = a.accept({ Upgrade: 'websocket' })!;
    expect(opened.head.toString()).toBe('ABC');
    // Reading is paused until the connection starts, so no byte is lost before bind().
    expect(a.socket.isPaused()).toBe(true);
  });

  test('returns null when the peer left during await', async () => {
    const c = await connect();
    const a = await nextAttempt();
    a.await(1000);
    c.socket.destroy();
    await until(() => a.gone, 5000, 'gone');
    expect(a.accept({ Upgrade: 'websocket' })).toBeNull();
  });

  test('returns null when the socket was destroyed', async () => {
    await connect();
    const a = await nextAttempt();
    a.socket.destroy();
    expect(a.gone).toBe(true);
    expect(a.accept({ Upgrade: 'websocket' })).toBeNull();
  });
});

describe('await', () => {
  test('more early bytes than maxBytes destroy the socket', async () => {
    const c = await connect(Buffer.from('12345'));
    const a = await nextAttempt();
    a.await(10); // the head's 5 bytes count
    c.socket.write('123456'); // 11 in all
    await until(() => c.closed(), 5000, 'client closed');
    expect(a.socket.destroyed).toBe(true);
    expect(a.gone).toBe(true);
    expect(c.received().length).toBe(0);
  });

  // BUG (minor, reported): the bytes that came with the request (head) count toward maxBytes,
  // but the limit is only checked when more data arrives; a head already over the limit at
  // await() is kept, and accept() returns it all.
  test('a head already over maxBytes at await() destroys the socket', async () => {
    await connect(Buffer.alloc(20, 1));
    const a = await nextAttempt();
    expect(a.req.socket.bytesRead).toBeGreaterThan(20);
    a.await(10);
    await until(() => a.socket.destroyed, 1000, 'destroyed');
  });

  test('exactly maxBytes is fine', async () => {
    const c = await connect(Buffer.from('12345'));
    const a = await nextAttempt();
    a.await(10);
    c.socket.write('12345');
    await until(() => a.socket.bytesRead >= c.socket.bytesWritten, 5000, 'bytes to arrive');
    await new Promise((r) => setImmediate(r));
    expect(a.socket.destroyed).toBe(false);
    expect(a.accept({ Upgrade: 'websocket' })!.head.toString()).toBe('1234512345');
  });

  test('onGone fires once when the client leaves during await', async () => {
    const c = await connect();
    const a = await nextAttempt();
    const gone = jest.fn();
    a.onGone(gone);
    a.await(1000);
    c.socket.end();
    await until(() => gone.mock.calls.length > 0, 5000, 'onGone');
    await until(() => a.socket.destroyed, 5000, 'destroyed');
    expect(gone).toHaveBeenCalledTimes(1);
    expect(a.gone).toBe(true);
  });

  test('handedOver stops watching: a later departure does not call onGone, early data is not held', async () => {
    const c = await connect();
    const a = await nextAttempt();
    const gone = jest.fn();
    a.onGone(gone);
    a.await(5);
    a.handedOver();
    expect(a.socket.listenerCount('data')).toBe(0);
    let seen = 0;
    a.socket.on('data', (d: Buffer) => (seen += d.length));
    a.socket.resume(); // as a new owner does
    c.socket.write('more than five bytes');
    await until(() => seen === 20, 5000, 'data to the new owner');
    expect(a.socket.destroyed).toBe(false); // the limit no longer applies
    let ended = false;
    a.socket.on('end', () => (ended = true));
    c.socket.destroy();
    await until(() => ended, 5000, 'the client\'s FIN on the server side');
    await new Promise((r) => setImmediate(r));
    expect(gone).not.toHaveBeenCalled();
    expect(a.gone).toBe(false); // nobody but the new owner decides now
  });

  test('without await, a departure is not watched (the caller accepts at once)', async () => {
    const c = await connect();
    const a = await nextAttempt();
    const gone = jest.fn();
    a.onGone(gone);
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(gone).not.toHaveBeenCalled();
  });
});

describe('destroy', () => {
  test('destroys the socket without a response and stops watching', async () => {
    const c = await connect();
    const a = await nextAttempt();
    const gone = jest.fn();
    a.onGone(gone);
    a.await(100);
    a.destroy();
    expect(a.socket.destroyed).toBe(true);
    await until(() => c.closed(), 5000, 'client closed');
    expect(c.received().length).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(gone).not.toHaveBeenCalled();
  });
});

describe('errors before a WebSocket owns the socket', () => {
  test('a socket error during the attempt does not throw (no unhandled error)', async () => {
    await connect();
    const a = await nextAttempt();
    expect(() => a.socket.emit('error', new Error('ECONNRESET'))).not.toThrow();
  });

  test('after accept, the attempt\'s own error swallower is gone', async () => {
    await connect();
    const a = await nextAttempt();
    const before = a.socket.listenerCount('error');
    a.accept({ Upgrade: 'websocket' });
    expect(a.socket.listenerCount('error')).toBe(before - 1);
  });
});

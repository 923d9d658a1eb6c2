// src/transport/net-socket.ts over a real TCP socket pair on 127.0.0.1.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { NetSocketTransport } from '../../src/transport/net-socket';
import type { TransportSink } from '../../src/transport/transport';

interface Pair {
  server: net.Socket; // the side the transport wraps
  client: net.Socket; // the peer
}

let listener: net.Server | null = null;
const opened: net.Socket[] = [];

async function pair(clientOptions: { allowHalfOpen?: boolean } = {}): Promise<Pair> {
  if (!listener) {
    listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve) => listener!.listen(0, '127.0.0.1', resolve));
  }
  const { port } = listener.address() as AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => listener!.once('connection', resolve));
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: clientOptions.allowHalfOpen ?? false });
  client.on('error', () => {});
  opened.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const server = await accepted;
  opened.push(server);
  return { server, client };
}

interface Recorded extends TransportSink {
  events: string[];
  data: Buffer[];
  errors: Error[];
}

function recorder(): Recorded {
  const r: Recorded = {
    events: [],
    data: [],
    errors: [],
    onData: (chunk) => {
      r.events.push('data');
      r.data.push(chunk);
    },
    onEnd: () => void r.events.push('end'),
    onClose: () => void r.events.push('close'),
    onError: (e) => {
      r.events.push('error');
      r.errors.push(e);
    },
    onDrain: () => void r.events.push('drain'),
  };
  return r;
}

/** Polls until `cond` holds, at most `ms`. */
async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function collect(socket: net.Socket): { bytes: () => Buffer; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('end', () => (ended = true));
  return { bytes: () => Buffer.concat(chunks), ended: () => ended };
}

afterEach(() => {
  for (const s of opened.splice(0)) s.destroy();
});

afterAll(async () => {
  if (listener) await new Promise<void>((resolve) => listener!.close(() => resolve()));
  listener = null;
});

describe('NetSocketTransport', () => {
  test('kind, remoteAddress, high-water mark as the socket reports them', async () => {
    const { server } = await pair();
    const t = new NetSocketTransport(server);
    expect(t.kind).toBe('http/1.1');
    expect(t.remoteAddress).toBe('127.0.0.1');
    expect(t.remoteAddress).toBe(server.remoteAddress);
    expect(t.writableHighWaterMark).toBe(server.writableHighWaterMark);
    expect(t.writableLength).toBe(0);
    expect(t.needDrain).toBe(false);
    expect(t.ended).toBe(false);
  });

  test('bind delivers data, then end, then close to the sink', async () => {
    const { server, client } = await pair();
    const t = new NetSocketTransport(server);
    const sink = recorder();
    t.bind(sink);
    t.resume();
    client.write('hello ');
    client.end('world');
    await until(() => sink.events.includes('end'), 5000, 'end');
    expect(Buffer.concat(sink.data).toString()).toBe('hello world');
    // The server side allows half-open; our end() completes the close.
    t.end();
    await until(() => sink.events.includes('close'), 5000, 'close');
    const firstEnd = sink.events.indexOf('end');
    expect(sink.events.slice(0, firstEnd).every((e) => e === 'data')).toBe(true);
    expect(sink.events.filter((e) => e === 'end')).toHaveLength(1);
    expect(sink.events.filter((e) => e === 'close')).toHaveLength(1);
    expect(sink.events[sink.events.length - 1]).toBe('close');
  });

  test('an error reaches the sink, then close', async () => {
    const { server } = await pair();
    const t = new NetSocketTransport(server);
    const sink = recorder();
    t.bind(sink);
    const boom = new Error('boom');
    server.destroy(boom);
    await until(() => sink.events.includes('close'), 5000, 'close');
    expect(sink.errors).toEqual([boom]);
    expect(sink.events.indexOf('error')).toBeLessThan(sink.events.indexOf('close'));
    expect(t.ended).toBe(true);
  });

  test('a peer reset reaches the sink as an error', async () => {
    const { server, client } = await pair();
    const t = new NetSocketTransport(server);
    const sink = recorder();
    t.bind(sink);
    t.resume();
    client.resetAndDestroy();
    await until(() => sink.events.includes('close'), 5000, 'close');
    expect(sink.errors).toHaveLength(1);
    expect((sink.errors[0] as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(sink.events.filter((e) => e === 'close')).toHaveLength(1);
  });

  test('bind sets no-delay and no timeout', async () => {
    const { server } = await pair();
    const noDelay = jest.spyOn(server, 'setNoDelay');
    const timeout = jest.spyOn(server, 'setTimeout');
    new NetSocketTransport(server).bind(recorder());
    expect(noDelay).toHaveBeenCalledWith(true);
    expect(timeout).toHaveBeenCalledWith(0);
  });

  test('several transports share the listener functions: events reach the right sink', async () => {
    const a = await pair();
    const b = await pair();
    const sa = recorder();
    const sb = recorder();
    const ta = new NetSocketTransport(a.server);
    const tb = new NetSocketTransport(b.server);
    ta.bind(sa);
    tb.bind(sb);
    ta.resume();
    tb.resume();
    a.client.write('for a');
    b.client.write('for b');
    await until(() => sa.data.length > 0 && sb.data.length > 0, 5000, 'data on both');
    expect(Buffer.concat(sa.data).toString()).toBe('for a');
    expect(Buffer.concat(sb.data).toString()).toBe('for b');
  });

  test('write sends the bytes and calls back', async () => {
    const { server, client } = await pair();
    const got = collect(client);
    const t = new NetSocketTransport(server);
    t.bind(recorder());
    const cb = jest.fn();
    expect(t.write(Buffer.from('abc'), cb)).toBe(true);
    await until(() => cb.mock.calls.length > 0, 5000, 'callback');
    expect(cb.mock.calls[0][0] ?? undefined).toBeUndefined();
    await until(() => got.bytes().length === 3);
    expect(got.bytes().toString()).toBe('abc');
  });

  test('writeMany corks: the chunks go out together, the callback follows the last only', async () => {
    const { server, client } = await pair();
    const got = collect(client);
    const t = new NetSocketTransport(server);
    t.bind(recorder());
    const cork = jest.spyOn(server, 'cork');
    const uncork = jest.spyOn(server, 'uncork');
    const write = jest.spyOn(server, 'write');
    const cb = jest.fn();
    expect(t.writeMany([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')], cb)).toBe(true);
    expect(cork).toHaveBeenCalledTimes(1);
    expect(uncork).toHaveBeenCalledTimes(1);
    expect(write).toHaveBeenCalledTimes(3);
    // Only the last write carries the callback.
    expect(write.mock.calls[0][1]).toBeUndefined();
    expect(write.mock.calls[1][1]).toBeUndefined();
    expect(write.mock.calls[2][1]).toBe(cb);
    expect(cork.mock.invocationCallOrder[0]).toBeLessThan(write.mock.invocationCallOrder[0]);
    expect(uncork.mock.invocationCallOrder[0]).toBeGreaterThan(write.mock.invocationCallOrder[2]);
    await until(() => cb.mock.calls.length === 1 && got.bytes().length === 11, 5000, 'bytes and callback');
    expect(got.bytes().toString()).toBe('onetwothree');
    expect(cb).toHaveBeenCalledTimes(1);
  });

  test('a write after destroy calls back with an error', async () => {
    const { server } = await pair();
    const t = new NetSocketTransport(server);
    t.bind(recorder());
    t.destroy();
    const cb = jest.fn();
    t.write(Buffer.from('late'), cb);
    await until(() => cb.mock.calls.length > 0, 5000, 'callback');
    // Node's errors come from another realm than Jest's Error: check the shape.
    const err = cb.mock.calls[0][0] as NodeJS.ErrnoException;
    expect(err).toBeTruthy();
    expect(typeof err.message).toBe('string');
    expect(err.code).toBe('ERR_STREAM_DESTROYED');
  });

  test('end() sends FIN once after the buffered bytes; ended becomes true', async () => {
    const { server, client } = await pair({ allowHalfOpen: true });
    const got = collect(client);
    const t = new NetSocketTransport(server);
    t.bind(recorder());
    const end = jest.spyOn(server, 'end');
    t.write(Buffer.from('last words'));
    t.end();
    t.end();
    expect(t.ended).toBe(true);
    expect(end).toHaveBeenCalledTimes(1);
    await until(() => got.ended(), 5000, 'FIN');
    expect(got.bytes().toString()).toBe('last words');
  });

  test('destroy() tears the connection down: the peer sees the close, the sink close', async () => {
    const { server, client } = await pair();
    const t = new NetSocketTransport(server);
    const sink = recorder();
    t.bind(sink);
    let peerClosed = false;
    client.on('close', () => (peerClosed = true));
    t.destroy();
    expect(t.ended).toBe(true);
    await until(() => peerClosed && sink.events.includes('close'), 5000, 'close on both sides');
  });

  test('pause stops data reaching the sink; resume lets it through', async () => {
    const { server, client } = await pair();
    const t = new NetSocketTransport(server);
    const sink = recorder();
    t.bind(sink);
    t.resume();
    client.write('first');
    await until(() => sink.data.length > 0, 5000, 'first');
    t.pause();
    expect(server.isPaused()).toBe(true);
    client.write('second');
    // Absence cannot be polled for: give the bytes 100 ms to arrive; while paused the sink must not see them.
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(sink.data).toString()).toBe('first');
    t.resume();
    expect(server.isPaused()).toBe(false);
    await until(() => Buffer.concat(sink.data).toString() === 'firstsecond', 5000, 'second');
  });

  test('a peer that does not read: writableLength grows, needDrain, queuedBelow > 0; drain once it reads', async () => {
    const { server, client } = await pair();
    client.pause(); // the peer reads nothing
    const t = new NetSocketTransport(server);
    const sink = recorder();
    t.bind(sink);
    const chunk = Buffer.alloc(256 * 1024, 1);
    let accepted = true;
    // Fill the kernel buffers on both sides and then Node's queue (bounded: at most 256 MiB).
    for (let i = 0; i < 1024 && accepted; i++) accepted = t.write(chunk);
    expect(accepted).toBe(false);
    expect(t.needDrain).toBe(true);
    expect(t.writableLength).toBeGreaterThanOrEqual(t.writableHighWaterMark);
    expect(t.writableLength).toBe(server.writableLength);
    // Node hands the queued bytes to libuv; the part the kernel has not taken is queued below.
    await until(() => t.queuedBelow() > 0, 5000, 'queuedBelow > 0');
    const stuck = t.queuedBelow();
    expect(stuck).toBeGreaterThan(0);
    expect(sink.events).not.toContain('drain');
    // The peer starts reading: the queue empties and the sink hears drain.
    client.resume();
    await until(() => sink.events.includes('drain'), 10000, 'drain');
    expect(t.needDrain).toBe(false);
    await until(() => t.queuedBelow() === 0 && t.writableLength === 0, 10000, 'empty queue');
  });

  test('queuedBelow is 0 when idle and after the socket is gone', async () => {
    const { server } = await pair();
    const t = new NetSocketTransport(server);
    t.bind(recorder());
    expect(t.queuedBelow()).toBe(0);
    t.destroy();
    await until(() => server.destroyed && (server as unknown as { _handle: unknown })._handle == null, 5000, 'handle gone');
    expect(t.queuedBelow()).toBe(0);
  });
});

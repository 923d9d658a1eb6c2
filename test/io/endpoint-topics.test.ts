// Topics and broadcast: subscribe/unsubscribe/close bookkeeping, exact delivery, framing
// once for many sockets, `except`, and a replaceable Topics registry.
import zlib from 'node:zlib';
import WsClient from 'ws';
import { DeflateCodec } from '../../src/io/deflate';
import { LocalTopics, type Topics, WebSocket } from '../../src';
import { RawClient } from '../helpers/raw-client';
import { delay } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

let srv: WsServer;
const raws: RawClient[] = [];

afterEach(async () => {
  jest.restoreAllMocks();
  for (const r of raws.splice(0)) r.destroy();
  await srv?.close();
});

type Received = { data: string | Buffer; binary: boolean }[];

/** n `ws` clients and their server sockets, each client recording what it receives. */
async function connect(
  n: number,
  options?: WsClient.ClientOptions,
): Promise<{ client: WsClient; socket: WebSocket; got: Received }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const client = await srv.wsClient('/', options);
    const socket = await srv.nextSocket();
    const got: Received = [];
    client.on('message', (data, binary) => {
      got.push({ data: binary ? (data as Buffer) : (data as Buffer).toString(), binary });
    });
    out.push({ client, socket, got });
  }
  return out;
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await delay(5);
  }
}

describe('subscribe / unsubscribe', () => {
  test('subscribe, isSubscribed, unsubscribe and the registry agree', async () => {
    srv = await startWsServer();
    const [a, b] = await connect(2);
    a.socket.subscribe('news');
    a.socket.subscribe('news'); // twice is once
    a.socket.subscribe('sport');
    b.socket.subscribe('news');
    expect(a.socket.isSubscribed('news')).toBe(true);
    expect(a.socket.isSubscribed('weather')).toBe(false);
    expect(srv.endpoint.topics.subscriberCount('news')).toBe(2);
    expect(srv.endpoint.topics.subscriberCount('sport')).toBe(1);
    expect([...srv.endpoint.topics.topics()].sort()).toEqual(['news', 'sport']);

    a.socket.unsubscribe('news');
    a.socket.unsubscribe('never-joined'); // no-op
    expect(a.socket.isSubscribed('news')).toBe(false);
    expect(srv.endpoint.topics.subscriberCount('news')).toBe(1);
    b.socket.unsubscribe('news');
    expect(srv.endpoint.topics.subscriberCount('news')).toBe(0);
    expect([...srv.endpoint.topics.topics()]).toEqual(['sport']);
  });

  test('a closed socket leaves all its topics', async () => {
    srv = await startWsServer();
    const [a, b] = await connect(2);
    for (const t of ['t1', 't2', 't3']) a.socket.subscribe(t);
    b.socket.subscribe('t1');
    const closed = new Promise((resolve) => a.socket.once('close', resolve));
    a.client.close(1000);
    await closed;
    expect(srv.endpoint.topics.subscriberCount('t1')).toBe(1);
    expect(srv.endpoint.topics.subscriberCount('t2')).toBe(0);
    expect(srv.endpoint.topics.subscriberCount('t3')).toBe(0);
    expect([...srv.endpoint.topics.topics()]).toEqual(['t1']);
    expect(a.socket.isSubscribed('t1')).toBe(false);
    // A closed socket cannot join again.
    a.socket.subscribe('t1');
    expect(srv.endpoint.topics.subscriberCount('t1')).toBe(1);
    expect(srv.endpoint.publish('t2', 'x')).toBe(0);
  });

  test('a terminated socket (no close handshake) leaves its topics too', async () => {
    srv = await startWsServer();
    const [a] = await connect(1);
    a.socket.subscribe('room');
    const closed = new Promise((resolve) => a.socket.once('close', resolve));
    a.client.terminate();
    await closed;
    expect(srv.endpoint.topics.subscriberCount('room')).toBe(0);
  });
});

describe('publish', () => {
  test('reaches exactly the subscribers, text and binary, and returns the count', async () => {
    srv = await startWsServer();
    const s = await connect(4);
    s[0].socket.subscribe('a');
    s[1].socket.subscribe('a');
    s[2].socket.subscribe('b');
    // s[3] subscribes to nothing.
    expect(srv.endpoint.publish('a', 'hello a')).toBe(2);
    expect(srv.endpoint.publish('b', Buffer.from([1, 2, 3]))).toBe(1);
    expect(srv.endpoint.publish('a', 'as binary', { binary: true })).toBe(2);
    expect(srv.endpoint.publish('nobody', 'lost')).toBe(0);
    await until(() => s[0].got.length === 2 && s[1].got.length === 2 && s[2].got.length === 1);
    await delay(50); // nothing else arrives
    for (const i of [0, 1]) {
      expect(s[i].got).toEqual([
        { data: 'hello a', binary: false },
        { data: Buffer.from('as binary'), binary: true },
      ]);
    }
    expect(s[2].got).toEqual([{ data: Buffer.from([1, 2, 3]), binary: true }]);
    expect(s[3].got).toEqual([]);
  });

  test('frames a message once: the same Buffer goes to every subscriber', async () => {
    srv = await startWsServer();
    const s = await connect(5);
    for (const x of s) x.socket.subscribe('t');
    const spy = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    const sendSpy = jest.spyOn(WebSocket.prototype, 'send');
    const payload = 'x'.repeat(300);
    expect(srv.endpoint.publish('t', payload)).toBe(5);
    expect(spy).toHaveBeenCalledTimes(5);
    expect(sendSpy).not.toHaveBeenCalled();
    const frame = spy.mock.calls[0][0];
    for (const call of spy.mock.calls) expect(call[0]).toBe(frame); // one object, not copies
    // The frame is a complete text frame: FIN+TEXT, 16-bit length 300.
    expect([...frame.subarray(0, 4)]).toEqual([0x81, 126, 0x01, 0x2c]);
    expect(frame.length).toBe(4 + 300);
    await until(() => s.every((x) => x.got.length === 1));
    for (const x of s) expect(x.got[0]).toEqual({ data: payload, binary: false });
  });

  test('skips sockets that are closing and counts only those that took it', async () => {
    srv = await startWsServer();
    const s = await connect(3);
    for (const x of s) x.socket.subscribe('t');
    s[1].socket.close(1000, 'bye'); // CLOSING until the peer answers
    expect(s[1].socket.readyState).toBe(2);
    expect(srv.endpoint.publish('t', 'after')).toBe(2);
    await until(() => s[0].got.length === 1 && s[2].got.length === 1);
    expect(s[1].got).toEqual([]);
  });
});

describe('broadcast', () => {
  test('sends to every open socket, framed once, and returns the count', async () => {
    srv = await startWsServer();
    const s = await connect(4);
    const spy = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    expect(srv.endpoint.broadcast('to all')).toBe(4);
    expect(srv.endpoint.broadcast(new Uint8Array([9, 8]))).toBe(4);
    expect(spy).toHaveBeenCalledTimes(8);
    expect(new Set(spy.mock.calls.map((c) => c[0])).size).toBe(2); // two frames in all
    await until(() => s.every((x) => x.got.length === 2));
    for (const x of s) {
      expect(x.got).toEqual([
        { data: 'to all', binary: false },
        { data: Buffer.from([9, 8]), binary: true },
      ]);
    }
  });

  test('except: one socket', async () => {
    srv = await startWsServer();
    const s = await connect(3);
    expect(srv.endpoint.broadcast('not you', { except: s[1].socket })).toBe(2);
    await until(() => s[0].got.length === 1 && s[2].got.length === 1);
    await delay(50);
    expect(s[1].got).toEqual([]);
  });

  test('except: a predicate (true means skip)', async () => {
    srv = await startWsServer();
    const s = await connect(4);
    const skip = new Set([s[0].socket, s[3].socket]);
    const seen: WebSocket[] = [];
    const n = srv.endpoint.broadcast('some', {
      except: (socket) => {
        seen.push(socket);
        return skip.has(socket);
      },
    });
    expect(n).toBe(2);
    expect(seen.length).toBe(4);
    await until(() => s[1].got.length === 1 && s[2].got.length === 1);
    await delay(50);
    expect(s[0].got).toEqual([]);
    expect(s[3].got).toEqual([]);
  });

  test('binary: true sends a string as a binary message', async () => {
    srv = await startWsServer();
    const [a] = await connect(1);
    expect(srv.endpoint.broadcast('bytes', { binary: true })).toBe(1);
    await until(() => a.got.length === 1);
    expect(a.got[0]).toEqual({ data: Buffer.from('bytes'), binary: true });
  });

  test('a message that had to be queued still counts as taken', async () => {
    // socket.write() returns false past the stream's high-water mark, yet the message is
    // accepted and will be delivered: publish/broadcast must count it.
    srv = await startWsServer();
    const slow = [await srv.rawClient(), await srv.rawClient()];
    const sockets = [await srv.nextSocket(), await srv.nextSocket()];
    for (const r of slow) r.socket.pause(); // the kernel buffers fill, then node queues
    for (const x of sockets) x.subscribe('big');
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    expect(srv.endpoint.publish('big', big)).toBe(2);
    expect(srv.endpoint.broadcast(big)).toBe(2);
    for (const x of sockets) expect(x.bufferedAmount).toBeGreaterThan(0);
    const stats = srv.endpoint.stats();
    expect(stats.messagesOut).toBe(4);
  });
});

function inflate(payload: Buffer): Buffer {
  const tail = Buffer.from([0, 0, 0xff, 0xff]);
  return zlib.inflateRawSync(Buffer.concat([payload, tail]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

describe('with permessage-deflate', () => {
  const text = 'compress me '.repeat(200); // 2400 bytes, above the 1024 threshold

  test('server_no_context_takeover: compressed once, the same frame for every subscriber', async () => {
    srv = await startWsServer({ perMessageDeflate: { serverNoContextTakeover: true } });
    const s = await connect(3);
    for (let i = 0; i < 2; i++) {
      raws.push(await RawClient.open(srv.port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
      s.push({ socket: await srv.nextSocket() } as (typeof s)[number]);
    }
    for (const x of s) {
      expect(x.socket.extensions).toContain('server_no_context_takeover');
      x.socket.subscribe('t');
    }
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    expect(srv.endpoint.publish('t', text)).toBe(5);
    expect(srv.endpoint.publish('t', text)).toBe(5);
    expect(compress).toHaveBeenCalledTimes(2); // once per message, not per socket
    await until(() => s.slice(0, 3).every((x) => x.got.length === 2));
    for (const x of s.slice(0, 3)) expect(x.got).toEqual([{ data: text, binary: false }, { data: text, binary: false }]);
    await Promise.all(raws.map((r) => r.waitFor(() => r.frames.length === 2)));
    const [f1, f2] = raws[0].frames;
    expect(f1.rsv1).toBe(true);
    expect(f1.opcode).toBe(0x1);
    expect(f1.payload.length).toBeLessThan(200);
    expect(inflate(f1.payload).toString()).toBe(text);
    // No context takeover: the second message does not refer to the first, so it is identical.
    expect(f2.payload.equals(f1.payload)).toBe(true);
    expect(raws[1].frames[0].payload.equals(f1.payload)).toBe(true);
  });

  test('sockets with different window sizes get one compression per size', async () => {
    srv = await startWsServer({ perMessageDeflate: { serverNoContextTakeover: true } });
    const big = await connect(2);
    const small = await connect(2, { perMessageDeflate: { serverMaxWindowBits: 10 } });
    expect(small[0].socket.extensions).toContain('server_max_window_bits=10');
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    const binary = Buffer.from(text.repeat(10));
    expect(srv.endpoint.broadcast(binary)).toBe(4);
    expect(compress).toHaveBeenCalledTimes(2);
    const all = [...big, ...small];
    await until(() => all.every((x) => x.got.length === 1));
    for (const x of all) expect(x.got[0]).toEqual({ data: binary, binary: true });
  });

  test('with context takeover each socket compresses on its own; back-to-back messages stay intact', async () => {
    srv = await startWsServer({ perMessageDeflate: true });
    const s = await connect(3);
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    const messages = Array.from({ length: 10 }, (_, i) => String.fromCharCode(97 + i).repeat(3000 + i));
    for (const m of messages) expect(srv.endpoint.broadcast(m)).toBe(3);
    expect(compress).toHaveBeenCalledTimes(30);
    await until(() => s.every((x) => x.got.length === 10));
    for (const x of s) expect(x.got.map((g) => g.data)).toEqual(messages);
  });

  test('below the threshold the uncompressed frame is shared with deflate sockets too', async () => {
    srv = await startWsServer({ perMessageDeflate: true });
    const s = await connect(3);
    const encoded = jest.spyOn(WebSocket.prototype, 'sendEncoded');
    const compress = jest.spyOn(DeflateCodec.prototype, 'compress');
    expect(srv.endpoint.broadcast('short')).toBe(3);
    expect(compress).not.toHaveBeenCalled();
    expect(new Set(encoded.mock.calls.map((c) => c[0])).size).toBe(1);
    await until(() => s.every((x) => x.got.length === 1));
  });

  test('a shared compressed message keeps its place among the socket\'s own sends', async () => {
    srv = await startWsServer({ perMessageDeflate: { serverNoContextTakeover: true } });
    const [a, b] = await connect(2);
    a.socket.subscribe('t');
    b.socket.subscribe('t');
    a.socket.send('own 1 ' + text);
    srv.endpoint.publish('t', 'shared ' + text);
    a.socket.send('own 2');
    srv.endpoint.publish('t', 'shared 2');
    a.socket.send('own 3 ' + text);
    await until(() => a.got.length === 5 && b.got.length === 2);
    expect(a.got.map((g) => (g.data as string).slice(0, 8))).toEqual(['own 1 co', 'shared c', 'own 2', 'shared 2', 'own 3 co']);
    expect(b.got.map((g) => g.data)).toEqual(['shared ' + text, 'shared 2']);
  });
});

describe('a custom Topics implementation', () => {
  test('passed as the `topics` option, it is the one the endpoint uses', async () => {
    const calls: string[] = [];
    class Recording extends LocalTopics {
      override subscribe(socket: WebSocket, topic: string): void {
        calls.push(`sub ${topic}`);
        super.subscribe(socket, topic);
      }
      override unsubscribe(socket: WebSocket, topic: string): void {
        calls.push(`unsub ${topic}`);
        super.unsubscribe(socket, topic);
      }
      override subscribers(topic: string): Iterable<WebSocket> {
        calls.push(`subscribers ${topic}`);
        return super.subscribers(topic);
      }
    }
    const topics: Topics = new Recording();
    srv = await startWsServer({ topics });
    expect(srv.endpoint.topics).toBe(topics);
    const [a, b] = await connect(2);
    a.socket.subscribe('x');
    b.socket.subscribe('x');
    b.socket.unsubscribe('x');
    expect(srv.endpoint.publish('x', 'via custom')).toBe(1);
    await until(() => a.got.length === 1);
    expect(a.got[0].data).toBe('via custom');
    const closed = new Promise((resolve) => a.socket.once('close', resolve));
    a.client.close();
    await closed;
    expect(calls).toEqual(['sub x', 'sub x', 'unsub x', 'subscribers x', 'unsub x']);
  });

  test('broker-ready: two instances share a topic through a broker-backed registry', async () => {
    // Stands in for Redis/NATS pub/sub: delivers asynchronously to every subscribed instance.
    const broker = new Map<string, Set<(data: string) => void>>();
    const brokerPublish = (topic: string, data: string) => {
      for (const fn of broker.get(topic) ?? []) setImmediate(fn, data);
    };
    // Joins the broker topic with the first local subscriber and leaves it with the last;
    // what arrives from the broker goes to the local subscribers (endpoint.publish).
    class BrokerTopics extends LocalTopics {
      private readonly handlers = new Map<string, (data: string) => void>();
      deliver: (topic: string, data: string) => void = () => {};
      override subscribe(socket: WebSocket, topic: string): void {
        if (this.subscriberCount(topic) === 0) {
          const fn = (data: string) => this.deliver(topic, data);
          this.handlers.set(topic, fn);
          if (!broker.has(topic)) broker.set(topic, new Set());
          broker.get(topic)!.add(fn);
        }
        super.subscribe(socket, topic);
      }
      override unsubscribe(socket: WebSocket, topic: string): void {
        super.unsubscribe(socket, topic);
        if (this.subscriberCount(topic) === 0 && this.handlers.has(topic)) {
          broker.get(topic)!.delete(this.handlers.get(topic)!);
          this.handlers.delete(topic);
        }
      }
    }
    const topicsA = new BrokerTopics();
    const topicsB = new BrokerTopics();
    const instanceA = await startWsServer({ topics: topicsA });
    srv = await startWsServer({ topics: topicsB });
    topicsA.deliver = (topic, data) => instanceA.endpoint.publish(topic, data);
    topicsB.deliver = (topic, data) => srv.endpoint.publish(topic, data);
    try {
      const onA = await instanceA.wsClient();
      const socketA = await instanceA.nextSocket();
      const [b1, b2] = await connect(2);
      const gotA: string[] = [];
      onA.on('message', (d) => gotA.push(d.toString()));
      socketA.subscribe('room');
      b1.socket.subscribe('room');
      b2.socket.subscribe('room');
      expect(broker.get('room')!.size).toBe(2); // one subscription per instance, not per socket

      brokerPublish('room', 'from anywhere');
      await until(() => gotA.length === 1 && b1.got.length === 1 && b2.got.length === 1);
      expect([gotA[0], b1.got[0].data, b2.got[0].data]).toEqual(['from anywhere', 'from anywhere', 'from anywhere']);

      // When B's last subscriber goes, B leaves the broker topic.
      b1.socket.unsubscribe('room');
      const closed = new Promise((resolve) => b2.socket.once('close', resolve));
      b2.client.close();
      await closed;
      expect(broker.get('room')!.size).toBe(1);
    } finally {
      await instanceA.close();
    }
  });
});

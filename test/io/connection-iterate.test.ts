// Async iteration of incoming messages (order, end on close, reading paused while many
// wait) and socket errors that must never crash the process.
import net from 'node:net';
import { type WebSocket } from '../../src';
import { clientFrame, handshakeRequest } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= ms) throw new Error('condition not met in time');
    await delay(10);
  }
}

describe('for await (const message of socket)', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('yields messages in order, with their types, and ends when the socket closes', async () => {
    let result: (string | Buffer)[] | null = null;
    s = await startWsServer({}, (socket) => {
      void (async () => {
        const got: (string | Buffer)[] = [];
        for await (const message of socket) got.push(message);
        result = got;
      })();
    });
    const client = await s.wsClient();
    const expected: (string | Buffer)[] = [];
    for (let i = 0; i < 300; i++) {
      const m = i % 3 === 0 ? Buffer.from([i & 0xff, i >> 8]) : `text ${i}`;
      expected.push(m);
      client.send(m);
    }
    client.close(1000);
    await until(() => result !== null);
    expect(result).toEqual(expected);
    expect(typeof result![1]).toBe('string');
    expect(Buffer.isBuffer(result![0])).toBe(true);
  });

  test('an iterator made after close ends at once', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const closed = once(socket, 'close');
    client.close();
    await closed;
    const it = socket[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  test('many queued messages pause reading until the loop catches up', async () => {
    let socket!: WebSocket;
    let iterator!: AsyncIterableIterator<string | Buffer>;
    let delivered = 0;
    s = await startWsServer({}, (sock) => {
      socket = sock;
      iterator = sock[Symbol.asyncIterator](); // made at once, but nobody pulls yet
      sock.on('message', () => delivered++);
    });
    const client = await s.wsClient();
    const total = 3000;
    const text = 'x'.repeat(1000);
    for (let i = 0; i < total; i++) client.send(`${i} ${text}`);
    // Give the server ample time to read everything it would read.
    await until(() => delivered > 0);
    await delay(300);
    // Reading stopped after the queue filled up: far fewer messages than sent were taken in.
    expect(delivered).toBeLessThan(total / 4);
    const paused = delivered;
    await delay(100);
    expect(delivered).toBe(paused);
    // Pulling resumes reading; everything arrives in order.
    for (let i = 0; i < total; i++) {
      const { value, done } = await iterator.next();
      expect(done).toBe(false);
      if (value !== `${i} ${text}`) throw new Error(`message ${i} out of order`);
    }
    expect(delivered).toBe(total);
    expect(socket.readyState).toBe(socket.OPEN);
  });

  test('reading stays paused when the bytes sent with the handshake already fill the queue', async () => {
    let iterator!: AsyncIterableIterator<string | Buffer>;
    let delivered = 0;
    s = await startWsServer({}, (sock) => {
      iterator = sock[Symbol.asyncIterator]();
      sock.on('message', () => delivered++);
    });
    const client = net.connect(s.port, '127.0.0.1');
    client.on('error', () => {});
    await once(client, 'connect');
    const frame = (i: number) => clientFrame({ opcode: 0x1, payload: `${i} ${'y'.repeat(1000)}` });
    const early = Array.from({ length: 40 }, (_, i) => frame(i)); // more than the queue holds
    client.write(Buffer.concat([Buffer.from(handshakeRequest('/', {}, s.port)), ...early]));
    await until(() => delivered >= 40);
    const total = 3000;
    const rest: Buffer[] = [];
    for (let i = 40; i < total; i++) rest.push(frame(i));
    client.write(Buffer.concat(rest));
    await delay(300);
    expect(delivered).toBeLessThan(total / 4);
    for (let i = 0; i < total; i++) {
      const { value } = await iterator.next();
      if (value !== `${i} ${'y'.repeat(1000)}`) throw new Error(`message ${i} out of order`);
    }
    client.destroy();
  });

  test('leaving the loop early keeps the socket open and reading', async () => {
    const after: string[] = [];
    s = await startWsServer({}, (socket) => {
      void (async () => {
        for await (const message of socket) {
          if (message === 'stop') break;
        }
        socket.on('message', (m) => {
          after.push(m as string);
          socket.send(`echo ${m as string}`);
        });
      })();
    });
    const client = await s.wsClient();
    for (let i = 0; i < 40; i++) client.send(`before ${i}`);
    client.send('stop');
    await delay(50);
    const reply = once<[Buffer]>(client, 'message');
    client.send('later');
    expect((await reply)[0].toString()).toBe('echo later');
    expect(after).toEqual(['later']);
  });

  test('ending iteration while reading is paused resumes reading', async () => {
    let iterator!: AsyncIterableIterator<string | Buffer>;
    let delivered = 0;
    s = await startWsServer({}, (sock) => {
      iterator = sock[Symbol.asyncIterator]();
      sock.on('message', (m) => {
        delivered++;
        if (m === 'last') sock.send('got last');
      });
    });
    const client = await s.wsClient();
    const total = 3000;
    for (let i = 0; i < total; i++) client.send(`${i} ${'z'.repeat(1000)}`);
    await until(() => delivered > 0);
    await delay(200);
    expect(delivered).toBeLessThan(total);
    expect(await iterator.next()).toEqual({ value: `0 ${'z'.repeat(1000)}`, done: false });
    await iterator.return!();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    const reply = once<[Buffer]>(client, 'message');
    client.send('last');
    expect((await reply)[0].toString()).toBe('got last');
    expect(delivered).toBe(total + 1);
  });

  test('two iterators both see every message', async () => {
    let results: (string | Buffer)[][] = [];
    s = await startWsServer({}, (socket) => {
      const collect = async () => {
        const got: (string | Buffer)[] = [];
        for await (const m of socket) got.push(m);
        return got;
      };
      void Promise.all([collect(), collect()]).then((r) => (results = r));
    });
    const client = await s.wsClient();
    const sent = Array.from({ length: 50 }, (_, i) => `m${i}`);
    for (const m of sent) client.send(m);
    client.close();
    await until(() => results.length === 2);
    expect(results).toEqual([sent, sent]);
  });
});

/** A raw WebSocket connection after its 101, with no data listener of its own. */
async function rawSocket(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(handshakeRequest('/', {}, port));
  const [head] = await once<[Buffer]>(socket, 'data');
  expect(head.toString('latin1').startsWith('HTTP/1.1 101')).toBe(true);
  return socket;
}

describe('socket errors never crash the process', () => {
  let s: WsServer;
  let clients: net.Socket[] = [];
  afterEach(async () => {
    for (const c of clients) c.destroy();
    clients = [];
    await s.close();
  });

  test('a client reset while the server is sending, with no error listener: close 1006', async () => {
    s = await startWsServer({ maxBackpressure: 256 * 1024 * 1024 });
    const client = await rawSocket(s.port);
    clients.push(client);
    const socket = await s.nextSocket();
    expect(socket.listenerCount('error')).toBe(0);
    const closed = once<[number, string]>(socket, 'close');
    const chunk = Buffer.alloc(64 * 1024, 3);
    let callbacks = 0;
    const errors: (Error | undefined)[] = [];
    for (let i = 0; i < 200; i++) {
      socket.send(chunk, (err) => {
        callbacks++;
        if (err) errors.push(err);
      });
    }
    client.resetAndDestroy();
    // Sending keeps being safe while the reset arrives.
    for (let i = 0; i < 50 && socket.readyState === socket.OPEN; i++) {
      socket.send(chunk);
      await delay(5);
    }
    const [code] = await closed;
    expect(code).toBe(1006);
    expect(socket.readyState).toBe(socket.CLOSED);
    expect(() => socket.send('x')).not.toThrow();
    await until(() => callbacks === 200);
  });

  test('an idle socket reset by the client, with no error listener: close 1006', async () => {
    s = await startWsServer();
    const client = await rawSocket(s.port);
    clients.push(client);
    const socket = await s.nextSocket();
    const closed = once<[number, string]>(socket, 'close');
    client.resetAndDestroy();
    expect((await closed)[0]).toBe(1006);
  });

  test("with an 'error' listener the reset is reported, and close still fires once", async () => {
    s = await startWsServer();
    const client = await rawSocket(s.port);
    clients.push(client);
    const socket = await s.nextSocket();
    const errors: Error[] = [];
    const closes: number[] = [];
    socket.on('error', (e) => errors.push(e));
    socket.on('close', (c) => closes.push(c));
    client.resetAndDestroy();
    await until(() => closes.length > 0);
    await delay(50);
    expect(closes).toEqual([1006]);
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ECONNRESET']);
  });

  test("an exception in a 'message' listener goes to onError and the socket keeps working", async () => {
    const reported: unknown[] = [];
    s = await startWsServer({ onError: (e) => reported.push(e) }, (socket) => {
      socket.on('message', (m) => {
        if (m === 'throw') throw new Error('handler bug');
        socket.send(m);
      });
    });
    const client = await s.wsClient();
    client.send('throw');
    const reply = once<[Buffer]>(client, 'message');
    client.send('fine');
    expect((await reply)[0].toString()).toBe('fine');
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toBe('handler bug');
  });

  test("exceptions in 'ping', 'pong', 'error' and 'close' listeners go to onError", async () => {
    const reported: string[] = [];
    s = await startWsServer({ onError: (e) => reported.push((e as Error).message) }, (socket) => {
      socket.on('ping', () => {
        throw new Error('ping listener');
      });
      socket.on('pong', () => {
        throw new Error('pong listener');
      });
      socket.on('error', () => {
        throw new Error('error listener');
      });
      socket.on('close', () => {
        throw new Error('close listener');
      });
    });
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    client.send({ opcode: 0x9, payload: 'a' });
    client.send({ opcode: 0xa, payload: 'b' });
    await client.waitFor(() => client.frames.length > 0);
    expect(client.frames[0].opcode).toBe(0xa); // the pong still went out
    client.send({ opcode: 0x3 }); // a protocol error
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(1002);
    await until(() => socket.readyState === socket.CLOSED);
    await delay(20);
    expect(reported).toEqual(['ping listener', 'pong listener', 'error listener', 'close listener']);
  });
});

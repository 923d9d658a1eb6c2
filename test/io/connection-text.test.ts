// The text path over real sockets: UTF-8 failing fast inside one frame cut by TCP, text
// passed on without encoding again (echo, publish, the same string to many), textAs 'buffer',
// and tick batching (many sends in one tick, one write; order, callbacks and 'drain' kept).
import { getDefaultHighWaterMark } from 'node:stream';
import { createServer } from 'node:http';
import { attachWebSocket, type WebSocket } from '../../src';
import { clientFrame, type RawClient } from '../helpers/raw-client';
import { startWsServer, type WsServer } from '../helpers/ws-server';

const hex = (s: string) => Buffer.from(s, 'hex');
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The raw net.Socket under a wsgate socket (to count writes). */
function netSocket(ws: WebSocket): { write: (...args: unknown[]) => boolean } {
  return (ws as unknown as { transport: { socket: { write: (...args: unknown[]) => boolean } } }).transport.socket;
}

const texts = (c: RawClient) => c.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString());

describe('text over a real socket', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test.each([
    ['cebae1bdb9cf83cebcceb5', 'f4908080', '656469746564'],
    ['cebae1bdb9cf83cebcceb5f4', '90', '8080656469746564'],
  ])('a text frame cut by TCP (%s | %s | ...) is failed with 1007 before the rest is sent', async (a, b, c) => {
    const messages: unknown[] = [];
    s = await startWsServer({}, (socket) => socket.on('message', (d) => messages.push(d)));
    const client = await s.rawClient();
    const payload = Buffer.concat([hex(a), hex(b), hex(c)]);
    const frame = clientFrame({ opcode: 1, payload });
    const head = frame.length - payload.length;
    client.write(frame.subarray(0, head + a.length / 2));
    await delay(50);
    expect(client.closeFrame).toBeUndefined(); // still a valid prefix
    client.write(frame.subarray(head + a.length / 2, head + (a.length + b.length) / 2));
    await client.waitFor(() => client.closeFrame !== undefined);
    expect(client.closeFrame!.code).toBe(1007);
    // The rest of the frame was never sent, and nothing was delivered.
    expect(messages).toEqual([]);
  });

  test('echo and publish of received text: same bytes out, for every size and mix', async () => {
    s = await startWsServer({}, (socket) => {
      socket.subscribe('t');
      socket.on('message', (d) => {
        socket.send(d);
        s.endpoint.publish('t', d);
      });
    });
    const client = await s.rawClient();
    const sent = ['héllo', 'a'.repeat(1000) + '€', 'x', '中文😀'.repeat(3000), 'plain ascii '.repeat(200), 'héllo'];
    for (const t of sent) client.send({ opcode: 1, payload: t });
    await client.waitFor(() => texts(client).length === sent.length * 2);
    expect(texts(client)).toEqual(sent.flatMap((t) => [t, t]));
  });

  test('a different string of the same length after a received one is encoded, not mistaken for it', async () => {
    s = await startWsServer({}, (socket) =>
      socket.on('message', (d) => {
        socket.send(d);
        socket.send(String(d).replace('é', 'è'));
        socket.send(d);
      }),
    );
    const client = await s.rawClient();
    client.send({ opcode: 1, payload: 'café au lait é' });
    await client.waitFor(() => texts(client).length === 3);
    expect(texts(client)).toEqual(['café au lait é', 'cafè au lait é', 'café au lait é']);
  });

  test("textAs 'buffer': validated UTF-8 bytes, isBinary false, sent on as text unchanged", async () => {
    const seen: [unknown, boolean][] = [];
    s = await startWsServer({ textAs: 'buffer' }, (socket) =>
      socket.on('message', (d, isBinary) => {
        seen.push([d, isBinary]);
        socket.send(d, { binary: isBinary });
      }),
    );
    const client = await s.rawClient();
    client.send({ opcode: 1, payload: 'κόσμε €' });
    client.send({ opcode: 2, payload: hex('ff00') });
    await client.waitFor(() => client.frames.length === 2);
    expect(Buffer.isBuffer(seen[0][0])).toBe(true);
    expect((seen[0][0] as Buffer).toString()).toBe('κόσμε €');
    expect(seen[0][1]).toBe(false);
    expect(seen[1][1]).toBe(true);
    expect(client.frames.map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
      [1, Buffer.from('κόσμε €').toString('hex')],
      [2, 'ff00'],
    ]);
    // Invalid UTF-8 is still refused before anything is delivered.
    client.send({ opcode: 1, payload: hex('c0af') });
    await client.waitFor(() => client.closeFrame !== undefined);
    expect(client.closeFrame!.code).toBe(1007);
    expect(seen).toHaveLength(2);
  });

});

test('textAs must be string or buffer', () => {
  expect(() => attachWebSocket(createServer(), () => {}, { textAs: 'utf16' as never })).toThrow(/textAs/);
});

describe('tick batching', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('many sends to one socket from a timer cost one write, in order', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const ws = await s.nextSocket();
    const raw = netSocket(ws);
    const spy = jest.spyOn(raw, 'write');
    setTimeout(() => {
      for (let i = 0; i < 20; i++) ws.send(`m${i} é`);
      ws.send(Buffer.from([1, 2, 3]));
    }, 5);
    await client.waitFor(() => client.frames.length === 21);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(texts(client)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i} é`));
    expect(client.frames[20].opcode).toBe(2);
  });

  test('a send with a callback keeps its place and its callback runs', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const ws = await s.nextSocket();
    const done = jest.fn();
    setTimeout(() => {
      ws.send('a');
      ws.send('b', done);
      ws.send('c');
    }, 5);
    await client.waitFor(() => client.frames.length === 3);
    expect(texts(client)).toEqual(['a', 'b', 'c']);
    await delay(20);
    expect(done).toHaveBeenCalledWith(undefined);
  });

  test("send() says false past the high-water mark, and 'drain' follows once written", async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const ws = await s.nextSocket();
    const big = 'é'.repeat(2000); // 4 KB a message
    // Twice the socket's high-water mark (16 KiB on Node 20, 64 KiB from Node 22).
    const count = Math.ceil((2 * getDefaultHighWaterMark(false)) / 4000);
    const drained = new Promise<void>((resolve) => ws.once('drain', () => resolve()));
    let refused = -1;
    setTimeout(() => {
      for (let i = 0; i < count; i++) if (!ws.send(big) && refused < 0) refused = i;
    }, 5);
    await drained;
    expect(refused).toBeGreaterThanOrEqual(0);
    await client.waitFor(() => client.frames.length === count);
    expect(ws.bufferedAmount).toBe(0);
  });

  test('terminate() after sends in the same tick writes nothing more', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const ws = await s.nextSocket();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    setTimeout(() => {
      ws.send('never');
      ws.terminate();
    }, 5);
    expect(await closed).toBe(1006);
    await delay(20);
    expect(texts(client)).toEqual([]);
  });
});

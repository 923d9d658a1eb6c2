// Protocol rules (RFC 6455 sections 5 to 7) over a raw TCP client sending hand-made frames:
// each violation gets the exact close code, then the server ends the TCP connection, and
// the server goes on serving new clients.
import { ProtocolError, type WebSocket } from '../../src';
import { clientFrame, closePayload, RawClient } from '../helpers/raw-client';
import { violations } from '../helpers/protocol-violations';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

const bytes = (...b: number[]) => Buffer.from(b);


async function expectServesNewClient(s: WsServer): Promise<void> {
  const client = await s.rawClient();
  await s.nextSocket(); // take it off the queue so the next test gets its own socket
  client.send({ opcode: TEXT, payload: 'still here' });
  await client.waitFor(() => client.frames.length > 0);
  expect(client.frames[0].opcode).toBe(TEXT);
  expect(client.frames[0].payload.toString()).toBe('still here');
  client.destroy();
}

describe('protocol violations close the connection with the exact code', () => {
  let s: WsServer;
  const messages: unknown[] = [];
  beforeAll(async () => {
    s = await startWsServer({ maxPayload: 1024 }, (socket) => {
      socket.on('message', (data) => {
        messages.push(data);
        socket.send(data);
      });
    });
  });
  afterAll(() => s.close());
  beforeEach(() => {
    messages.length = 0;
  });

  test.each(violations)('$name: close $code, then TCP end', async ({ frames, code }) => {
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const closes: [number, string][] = [];
    socket.on('close', (c, r) => closes.push([c, r]));
    // No 'error' listener: a protocol error must not crash the process.
    client.write(Buffer.concat(frames.map((f) => (Buffer.isBuffer(f) ? f : clientFrame(f)))));
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(code);
    // The close frame is the last thing sent.
    expect(client.frames[client.frames.length - 1].opcode).toBe(CLOSE);
    expect(client.frames.filter((f) => f.opcode === CLOSE)).toHaveLength(1);
    client.destroy();
    for (let i = 0; i < 100 && closes.length === 0; i++) await delay(10);
    expect(closes).toHaveLength(1);
    expect(socket.readyState).toBe(socket.CLOSED);
    expect(messages.filter((m) => m !== 'whole')).toEqual([]);
    await expectServesNewClient(s);
  });

  test("an 'error' listener receives the ProtocolError with its close code", async () => {
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const error = once<[Error]>(socket, 'error');
    client.send({ opcode: TEXT, payload: 'x', masked: false });
    const [err] = await error;
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).closeCode).toBe(1002);
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(1002);
  });

  test('input after the violation is ignored', async () => {
    const client = await s.rawClient();
    await s.nextSocket();
    client.write(
      Buffer.concat([
        clientFrame({ opcode: 0x3 }),
        clientFrame({ opcode: TEXT, payload: 'after' }),
        clientFrame({ opcode: PING, payload: 'after' }),
      ]),
    );
    await client.waitClosed();
    expect(client.frames.map((f) => f.opcode)).toEqual([CLOSE]);
    expect(messages).toEqual([]);
  });
});

describe('valid edge cases', () => {
  let s: WsServer;
  let socket: WebSocket;
  let client: RawClient;
  const messages: [string | Buffer, boolean][] = [];
  beforeEach(async () => {
    messages.length = 0;
    s = await startWsServer({}, (sock) => {
      sock.on('message', (data, isBinary) => {
        messages.push([data, isBinary]);
        sock.send(data);
      });
    });
    client = await s.rawClient();
    socket = await s.nextSocket();
  });
  afterEach(() => s.close());

  test('a ping between fragments is answered before the message completes', async () => {
    const pings: Buffer[] = [];
    socket.on('ping', (d) => pings.push(Buffer.from(d)));
    client.send({ opcode: TEXT, payload: 'first ', fin: false });
    client.send({ opcode: PING, payload: 'mid' });
    await client.waitFor(() => client.frames.length > 0);
    expect(client.frames).toHaveLength(1);
    expect(client.frames[0].opcode).toBe(PONG);
    expect(client.frames[0].payload.toString()).toBe('mid');
    expect(pings.map(String)).toEqual(['mid']);
    expect(messages).toEqual([]);
    client.send({ opcode: 0x0, payload: 'second ', fin: false });
    client.send({ opcode: PONG, payload: 'unsolicited' });
    client.send({ opcode: 0x0, payload: 'last' });
    await client.waitFor(() => client.frames.length > 1);
    expect(messages).toEqual([['first second last', false]]);
    expect(client.frames[1].opcode).toBe(TEXT);
    expect(client.frames[1].payload.toString()).toBe('first second last');
  });

  test('replies written while one chunk is handled keep their order (pongs, echoes, callbacks)', async () => {
    socket.on('message', (m) => {
      if (m !== 'go') return;
      socket.send('cb-less');
      socket.send('with callback', () => {});
      socket.send(Buffer.alloc(70000, 1)); // large: written without a copy
      socket.ping('srv');
    });
    client.write(
      Buffer.concat([
        clientFrame({ opcode: PING, payload: '1' }),
        clientFrame({ opcode: TEXT, payload: 'go' }),
        clientFrame({ opcode: PING, payload: '2' }),
      ]),
    );
    await client.waitFor(() => client.frames.length >= 7);
    expect(client.frames.map((f) => [f.opcode, f.payload.length > 100 ? f.payload.length : f.payload.toString()])).toEqual([
      [PONG, '1'],
      [TEXT, 'go'], // the echo from beforeEach's listener
      [TEXT, 'cb-less'],
      [TEXT, 'with callback'],
      [BINARY, 70000],
      [PING, 'srv'],
      [PONG, '2'],
    ]);
  });

  test('a code point split between fragments is fine', async () => {
    const snowman = Buffer.from('a☃😀b');
    client.send({ opcode: TEXT, payload: snowman.subarray(0, 2), fin: false }); // 'a' + 1st byte of ☃
    client.send({ opcode: 0x0, payload: snowman.subarray(2, 3), fin: false });
    client.send({ opcode: 0x0, payload: Buffer.alloc(0), fin: false });
    client.send({ opcode: 0x0, payload: snowman.subarray(3, 6), fin: false });
    client.send({ opcode: 0x0, payload: snowman.subarray(6) });
    await client.waitFor(() => client.frames.length > 0);
    expect(messages).toEqual([['a☃😀b', false]]);
  });

  test('frames split into single bytes on the wire give the same messages', async () => {
    const stream = Buffer.concat([
      clientFrame({ opcode: TEXT, payload: 'héllo' }),
      clientFrame({ opcode: BINARY, payload: Buffer.alloc(300, 7), fin: false }),
      clientFrame({ opcode: PING, payload: 'p' }),
      clientFrame({ opcode: 0x0, payload: Buffer.alloc(70000, 8) }),
    ]);
    // The first 200 bytes one by one (with pauses so they arrive as separate segments),
    // the rest in 7000-byte pieces that cut through frame payloads.
    client.socket.setNoDelay(true);
    for (let i = 0; i < 200; i++) {
      client.write(stream.subarray(i, i + 1));
      if (i % 10 === 9) await delay(1);
    }
    for (let at = 200; at < stream.length; at += 7000) client.write(stream.subarray(at, at + 7000));
    await client.waitFor(() => client.frames.filter((f) => f.opcode !== PONG).length === 2);
    expect(messages[0]).toEqual(['héllo', false]);
    expect(messages[1][1]).toBe(true);
    expect(Buffer.concat([Buffer.alloc(300, 7), Buffer.alloc(70000, 8)]).equals(messages[1][0] as Buffer)).toBe(true);
    expect(client.frames.map((f) => f.opcode)).toEqual([TEXT, PONG, BINARY]);
  });

  test('a zero mask key and an empty final fragment are valid', async () => {
    client.send({ opcode: BINARY, payload: bytes(1, 2), fin: false, mask: bytes(0, 0, 0, 0) });
    client.send({ opcode: 0x0, payload: Buffer.alloc(0) });
    await client.waitFor(() => client.frames.length > 0);
    expect(messages).toEqual([[bytes(1, 2), true]]);
  });

  test('a valid close with a UTF-8 reason is echoed with its code', async () => {
    const closed = once<[number, string]>(socket, 'close');
    client.send({ opcode: CLOSE, payload: closePayload(3999, 'ünïcode') });
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(3999);
    client.destroy();
    expect(await closed).toEqual([3999, 'ünïcode']);
  });

  test('data after the close frame is ignored', async () => {
    client.write(
      Buffer.concat([
        clientFrame({ opcode: CLOSE, payload: closePayload(1000) }),
        clientFrame({ opcode: TEXT, payload: 'too late' }),
        clientFrame({ opcode: 0x3 }), // would be a violation if it were read
      ]),
    );
    await client.waitClosed();
    expect(messages).toEqual([]);
    expect(client.frames.map((f) => f.opcode)).toEqual([CLOSE]);
    expect(client.closeFrame?.code).toBe(1000);
  });
});

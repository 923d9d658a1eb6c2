// Protocol rules (RFC 6455 sections 5 to 7) over a raw TCP client sending hand-made frames:
// each violation gets the exact close code, then the server ends the TCP connection, and
// the server goes on serving new clients.
import { ProtocolError, type WebSocket } from '../../src';
import { clientFrame, closePayload, type FrameSpec, RawClient } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

const bytes = (...b: number[]) => Buffer.from(b);

interface Violation {
  name: string;
  frames: (Buffer | FrameSpec)[];
  code: number;
}

const violations: Violation[] = [
  { name: 'an unmasked text frame', frames: [{ opcode: TEXT, payload: 'hi', masked: false }], code: 1002 },
  { name: 'an unmasked ping', frames: [{ opcode: PING, masked: false }], code: 1002 },
  { name: 'RSV1 without a negotiated extension', frames: [{ opcode: TEXT, payload: 'hi', rsv: 0x40 }], code: 1002 },
  { name: 'RSV2', frames: [{ opcode: BINARY, payload: 'hi', rsv: 0x20 }], code: 1002 },
  { name: 'RSV3', frames: [{ opcode: BINARY, payload: 'hi', rsv: 0x10 }], code: 1002 },
  { name: 'RSV1 on a ping', frames: [{ opcode: PING, rsv: 0x40 }], code: 1002 },
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode) => ({
    name: `reserved opcode 0x${opcode.toString(16)}`,
    frames: [{ opcode, payload: 'x' }],
    code: 1002,
  })),
  { name: 'a fragmented ping', frames: [{ opcode: PING, payload: 'a', fin: false }], code: 1002 },
  { name: 'a fragmented close', frames: [{ opcode: CLOSE, payload: closePayload(1000), fin: false }], code: 1002 },
  { name: 'a 126-byte ping', frames: [{ opcode: PING, payload: Buffer.alloc(126) }], code: 1002 },
  { name: 'a 126-byte pong', frames: [{ opcode: PONG, payload: Buffer.alloc(126) }], code: 1002 },
  { name: 'a 126-byte close', frames: [{ opcode: CLOSE, payload: closePayload(1000, 'r'.repeat(124)) }], code: 1002 },
  // Refused from the header alone: the 200 payload bytes are never sent.
  { name: 'a ping declaring 200 bytes (header only)', frames: [{ opcode: PING, length: 200 }], code: 1002 },
  { name: 'a continuation without a message', frames: [{ opcode: 0x0, payload: 'x' }], code: 1002 },
  {
    name: 'a final continuation after the message ended',
    frames: [{ opcode: TEXT, payload: 'whole' }, { opcode: 0x0, payload: 'x' }],
    code: 1002,
  },
  {
    name: 'a new text frame while a message is in progress',
    frames: [
      { opcode: TEXT, payload: 'a', fin: false },
      { opcode: TEXT, payload: 'b' },
    ],
    code: 1002,
  },
  {
    name: 'a new binary frame while a message is in progress',
    frames: [
      { opcode: BINARY, payload: 'a', fin: false },
      { opcode: 0x0, payload: 'b', fin: false },
      { opcode: BINARY, payload: 'c' },
    ],
    code: 1002,
  },
  { name: 'a 64-bit length with the top bit set', frames: [{ opcode: BINARY, length: 2 ** 63 }], code: 1002 },
  {
    name: 'a 64-bit length of 2^63 + 5',
    frames: [Buffer.concat([bytes(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5), bytes(1, 2, 3, 4)])],
    code: 1002,
  },
  { name: 'invalid UTF-8 in a text frame', frames: [{ opcode: TEXT, payload: bytes(0x61, 0xff, 0x62) }], code: 1007 },
  { name: 'an overlong encoding', frames: [{ opcode: TEXT, payload: bytes(0xc0, 0xaf) }], code: 1007 },
  { name: 'a UTF-16 surrogate', frames: [{ opcode: TEXT, payload: bytes(0xed, 0xa0, 0x80) }], code: 1007 },
  { name: 'a code point above U+10FFFF', frames: [{ opcode: TEXT, payload: bytes(0xf4, 0x90, 0x80, 0x80) }], code: 1007 },
  { name: 'text ending inside a code point', frames: [{ opcode: TEXT, payload: bytes(0x61, 0xe2, 0x82) }], code: 1007 },
  {
    name: 'invalid UTF-8 across fragments',
    frames: [
      { opcode: TEXT, payload: bytes(0x61, 0xc3), fin: false },
      { opcode: 0x0, payload: bytes(0x28) },
    ],
    code: 1007,
  },
  {
    name: 'a fragmented text message ending inside a code point',
    frames: [
      { opcode: TEXT, payload: 'ab', fin: false },
      { opcode: 0x0, payload: bytes(0xf0, 0x9f, 0x98) },
    ],
    code: 1007,
  },
  // Only the first fragment is sent: the server must not wait for the rest.
  { name: 'an invalid first fragment (fails early)', frames: [{ opcode: TEXT, payload: bytes(0xff), fin: false }], code: 1007 },
  {
    name: 'a prefix that can never become valid (fails early)',
    frames: [{ opcode: TEXT, payload: bytes(0x61, 0xe0, 0x80), fin: false }],
    code: 1007,
  },
  { name: 'a close frame with a 1-byte payload', frames: [{ opcode: CLOSE, payload: bytes(0x03) }], code: 1002 },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((closeCode) => ({
    name: `a close frame with code ${closeCode}`,
    frames: [{ opcode: CLOSE, payload: closePayload(closeCode) }],
    code: 1002,
  })),
  {
    name: 'a close reason that is not UTF-8',
    frames: [{ opcode: CLOSE, payload: Buffer.concat([closePayload(1000), bytes(0xff, 0xfe)]) }],
    code: 1007,
  },
  { name: 'a frame over maxPayload (header only)', frames: [{ opcode: BINARY, length: 1025 }], code: 1009 },
  { name: 'a 64-bit length over maxPayload (header only)', frames: [{ opcode: TEXT, length: 2 ** 40 }], code: 1009 },
  {
    name: 'fragments that add up to more than maxPayload',
    frames: [
      { opcode: BINARY, payload: Buffer.alloc(600), fin: false },
      { opcode: 0x0, length: 425, fin: false },
    ],
    code: 1009,
  },
];

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

// The close handshake (RFC 6455 section 7) over real sockets: who starts it, the codes each
// side reports, the TCP end, the close timeout, terminate() and argument checks.
import { type WebSocket } from '../../src';
import { clientFrame, closePayload } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

/** Records every 'close' event a server socket emits. */
function closeLog(socket: WebSocket): [number, string][] {
  const log: [number, string][] = [];
  socket.on('close', (code, reason) => log.push([code, reason]));
  return log;
}

async function settled(log: unknown[], count = 1): Promise<void> {
  for (let i = 0; i < 200 && log.length < count; i++) await delay(10);
  await delay(50); // long enough for a duplicate event to show up
}

describe('close handshake', () => {
  let s: WsServer;
  afterEach(() => s.close());

  test('client-initiated (ws): the server echoes the code and fires close once', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    const clientClosed = once<[number, Buffer]>(client, 'close');
    client.close(4001, 'bye');
    const [code] = await clientClosed;
    expect(code).toBe(4001);
    await settled(log);
    expect(log).toEqual([[4001, 'bye']]);
    expect(socket.readyState).toBe(socket.CLOSED);
  });

  test('client-initiated (raw): the server echoes the code and ends the TCP connection', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    client.send({ opcode: 0x8, payload: closePayload(1000, 'done') });
    await client.waitClosed();
    expect(client.ended).toBe(true);
    expect(client.closeFrame).toEqual({ code: 1000, reason: '' });
    expect(client.frames.filter((f) => f.opcode === 0x8)).toHaveLength(1);
    // The TCP end arrives without the client ending its side first.
    client.destroy();
    await settled(log);
    expect(log).toEqual([[1000, 'done']]);
  });

  test('a close frame without a code is reported as 1005 and echoed empty', async () => {
    s = await startWsServer();
    const raw = await s.rawClient();
    const rawSocket = await s.nextSocket();
    const rawLog = closeLog(rawSocket);
    raw.send({ opcode: 0x8 });
    await raw.waitClosed();
    expect(raw.frames.find((f) => f.opcode === 0x8)?.payload.length).toBe(0);
    raw.destroy();
    await settled(rawLog);
    expect(rawLog).toEqual([[1005, '']]);

    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    const clientClosed = once<[number, Buffer]>(client, 'close');
    client.close();
    expect((await clientClosed)[0]).toBe(1005);
    await settled(log);
    expect(log).toEqual([[1005, '']]);
  });

  test('server-initiated: the client sees code and reason, close fires once', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    const clientClosed = once<[number, Buffer]>(client, 'close');
    socket.close(4000, 'going now ☃');
    expect(socket.readyState).toBe(socket.CLOSING);
    const [code, reason] = await clientClosed;
    expect(code).toBe(4000);
    expect(reason.toString()).toBe('going now ☃');
    await settled(log);
    expect(log).toHaveLength(1);
    expect(log[0][0]).toBe(4000); // the code the client answered with
    socket.close(1000); // a second close is a no-op
    await delay(20);
    expect(log).toHaveLength(1);
  });

  test('server-initiated with the default code sends 1000', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    socket.close();
    await client.waitFor(() => client.closeFrame !== undefined);
    expect(client.closeFrame).toEqual({ code: 1000, reason: '' });
    expect(client.ended).toBe(false); // the server waits for the answer
    client.send({ opcode: 0x8, payload: closePayload(1000) });
    await client.waitClosed();
    await settled(log);
    expect(log).toEqual([[1000, '']]);
  });

  test('messages sent before close() arrive before the close frame', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    socket.send('one');
    socket.send(Buffer.alloc(100000, 1));
    socket.close(1000, 'end');
    await client.waitFor(() => client.closeFrame !== undefined);
    expect(client.frames.map((f) => [f.opcode, f.payload.length])).toEqual([
      [0x1, 3],
      [0x2, 100000],
      [0x8, 5],
    ]);
  });

  test('an abrupt TCP end (FIN without a close frame) is reported as 1006', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    client.socket.end();
    await client.waitClosed();
    await settled(log);
    expect(log).toEqual([[1006, '']]);
  });

  test('a destroyed client is reported as 1006', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    client.terminate();
    await settled(log);
    expect(log).toEqual([[1006, '']]);
  });

  test('a peer that never answers the close is destroyed after closeTimeout (1006)', async () => {
    s = await startWsServer({ closeTimeout: 200 });
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    const started = Date.now();
    socket.close(1000, 'bye');
    await client.waitFor(() => client.closeFrame !== undefined);
    expect(client.closeFrame).toEqual({ code: 1000, reason: 'bye' });
    await client.waitClosed(3000);
    await settled(log);
    expect(log).toEqual([[1006, '']]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  test('a peer that keeps its side open after the echo is destroyed after closeTimeout', async () => {
    s = await startWsServer({ closeTimeout: 200 });
    const client = await s.rawClient('/', { allowHalfOpen: true });
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    client.send({ opcode: 0x8, payload: closePayload(1001) });
    await client.waitFor(() => client.ended); // server FIN
    const ended = Date.now();
    expect(log).toEqual([]);
    // The raw client never ends its side; the server must not wait forever.
    await once(socket, 'close', 3000);
    expect(Date.now() - ended).toBeGreaterThanOrEqual(100);
    await settled(log);
    expect(log).toEqual([[1001, '']]);
  });

  test('close() with an invalid code throws RangeError and leaves the socket open', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000.5]) {
      expect(() => socket.close(code)).toThrow(RangeError);
    }
    expect(() => socket.close(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(socket.readyState).toBe(socket.OPEN);
    const reply = once<[Buffer]>(client, 'message');
    socket.send('still open');
    expect((await reply)[0].toString()).toBe('still open');
    // And a valid close still works after the refused ones.
    const clientClosed = once<[number, Buffer]>(client, 'close');
    socket.close(3000, 'x'.repeat(123));
    const [code, reason] = await clientClosed;
    expect(code).toBe(3000);
    expect(reason.toString()).toBe('x'.repeat(123));
  });

  test('terminate() drops the connection at once: the client sees 1006, close fires once', async () => {
    s = await startWsServer();
    const client = await s.wsClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    const clientClosed = once<[number, Buffer]>(client, 'close');
    socket.terminate();
    socket.terminate();
    expect((await clientClosed)[0]).toBe(1006);
    await settled(log);
    expect(log).toEqual([[1006, '']]);
    expect(socket.readyState).toBe(socket.CLOSED);
  });

  test('terminate() in a message listener stops delivery of the rest of the chunk', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const seen: string[] = [];
    const pings: string[] = [];
    socket.on('message', (m) => {
      seen.push(m as string);
      socket.terminate();
    });
    socket.on('ping', (d) => pings.push(d.toString()));
    client.write(
      Buffer.concat([
        clientFrame({ opcode: 0x1, payload: 'one' }),
        clientFrame({ opcode: 0x1, payload: 'two' }),
        clientFrame({ opcode: 0x9, payload: 'ping' }),
      ]),
    );
    await client.waitClosed();
    await delay(20);
    expect(seen).toEqual(['one']);
    expect(pings).toEqual([]);
    expect(client.frames).toEqual([]);
  });

  test('close() in a message listener: later messages of the chunk are not delivered', async () => {
    s = await startWsServer();
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const seen: string[] = [];
    socket.on('message', (m) => {
      seen.push(m as string);
      socket.close(1000);
    });
    client.write(
      Buffer.concat([clientFrame({ opcode: 0x1, payload: 'one' }), clientFrame({ opcode: 0x1, payload: 'two' })]),
    );
    await client.waitFor(() => client.closeFrame !== undefined);
    await delay(20);
    expect(seen).toEqual(['one']);
    expect(client.closeFrame).toEqual({ code: 1000, reason: '' });
  });

  test('terminate() during a close handshake still fires close once', async () => {
    s = await startWsServer({ closeTimeout: 5000 });
    const client = await s.rawClient();
    const socket = await s.nextSocket();
    const log = closeLog(socket);
    socket.close(1000);
    socket.terminate();
    await client.waitClosed();
    await settled(log);
    expect(log).toEqual([[1006, '']]);
  });
});

// The protocol violations of test/io/connection-protocol.test.ts, each sent as raw DATA on an
// HTTP/2 extended CONNECT stream (RFC 8441) to the real endpoint over TLS: the same close
// code as over HTTP/1.1, then the server ends the stream (END_STREAM) while the session
// and the other streams on it carry on. All cases share one session on purpose.
import type { ClientHttp2Session } from 'node:http2';
import { ProtocolError, type WebSocket } from '../../src';
import { clientFrame, H2WsClient } from '../helpers/h2-client';
import { delay, type H2Site, startH2Site } from '../helpers/h2-endpoint';
import { violations } from '../helpers/protocol-violations';

const TEXT = 0x1;
const CLOSE = 0x8;
const PING = 0x9;

let site: H2Site;
let session: ClientHttp2Session;
let bystander: H2WsClient;
const messages: unknown[] = [];

beforeAll(async () => {
  site = await startH2Site({ path: '/ws', maxPayload: 1024 }, (socket) => {
    socket.on('message', (data) => {
      messages.push(data);
      socket.send(data);
    });
  });
  ({ session } = await site.session());
  // A WebSocket on the same session that lives through every violation.
  bystander = await H2WsClient.open(session, '/ws');
  await site.nextSocket();
});
afterAll(() => site.close());
beforeEach(() => {
  messages.length = 0;
});

async function expectBystanderAlive(): Promise<void> {
  const before = bystander.frames.length;
  bystander.send({ opcode: TEXT, payload: 'still here' });
  await bystander.waitFor(() => bystander.frames.length > before);
  const echo = bystander.frames[bystander.frames.length - 1];
  expect(echo.opcode).toBe(TEXT);
  expect(echo.payload.toString()).toBe('still here');
  expect(session.destroyed).toBe(false);
  messages.length = 0;
}

describe('protocol violations over HTTP/2 close the WebSocket with the same code as over HTTP/1.1', () => {
  test.each(violations)('$name: close $code, then the stream ends', async ({ frames, code }) => {
    const client = await H2WsClient.open(session, '/ws');
    const socket: WebSocket = await site.nextSocket();
    expect(socket.transportKind).toBe('h2');
    const closes: [number, string][] = [];
    socket.on('close', (c, r) => closes.push([c, r]));
    // No 'error' listener: a protocol error must not crash the process.
    client.write(Buffer.concat(frames.map((f) => (Buffer.isBuffer(f) ? f : clientFrame(f)))));
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(code);
    expect(client.frames[client.frames.length - 1].opcode).toBe(CLOSE);
    expect(client.frames.filter((f) => f.opcode === CLOSE)).toHaveLength(1);
    // The server ended its side with END_STREAM (then NO_ERROR for our open side), not a reset.
    expect(client.ended).toBe(true);
    expect(client.rstCode).toBe(0);
    for (let i = 0; i < 100 && closes.length === 0; i++) await delay(10);
    expect(closes).toHaveLength(1);
    expect(closes[0][0]).toBe(code);
    expect(socket.readyState).toBe(socket.CLOSED);
    expect(messages.filter((m) => m !== 'whole')).toEqual([]);
    await expectBystanderAlive();
  });

  test("an 'error' listener receives the ProtocolError with its close code", async () => {
    const client = await H2WsClient.open(session, '/ws');
    const socket = await site.nextSocket();
    const error = new Promise<Error>((resolve) => socket.once('error', resolve));
    client.send({ opcode: TEXT, payload: 'x', masked: false });
    const err = await error;
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).closeCode).toBe(1002);
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(1002);
  });

  test('input after the violation is ignored', async () => {
    const client = await H2WsClient.open(session, '/ws');
    await site.nextSocket();
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

  test('frames split across DATA frames at every byte are parsed as over TCP', async () => {
    const client = await H2WsClient.open(session, '/ws');
    await site.nextSocket();
    const bytes = Buffer.concat([clientFrame({ opcode: TEXT, payload: 'abc', fin: false }), clientFrame({ opcode: 0x0, payload: 'déf' })]);
    for (let i = 0; i < bytes.length; i++) client.write(bytes.subarray(i, i + 1));
    await client.waitFor(() => client.frames.length > 0);
    expect(client.frames[0].payload.toString()).toBe('abcdéf');
    client.send({ opcode: CLOSE, payload: Buffer.from([0x03, 0xe8]) });
    await client.waitClosed();
    expect(client.closeFrame?.code).toBe(1000);
  });
});

// Interop with a third, independent client: undici's WHATWG WebSocket (what Node ships as
// globalThis.WebSocket). undici 7 because undici 8 needs Node >= 22.19.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { AttachOptions, WebSocket } from '../../src';
import { once } from '../helpers/server';
import { closeAllUndici, undiciClient } from '../helpers/undici-client';
import { startWsServer, type WsServer } from '../helpers/ws-server';

let srv: WsServer | undefined;
let requests: IncomingMessage[];
const tcp = new Set<Socket>();

/**
 * A server that echoes every message with its type, remembering each upgrade request that
 * passed the handshake checks (through verify: another 'upgrade' listener would make the
 * dispatcher leave unknown paths alone instead of answering 404).
 */
async function serve(options: AttachOptions = {}, onSocket: (s: WebSocket) => void = echo): Promise<WsServer> {
  requests = [];
  const verify = (req: IncomingMessage) => (requests.push(req), true);
  srv = await startWsServer({ verify, ...options }, onSocket);
  srv.server.on('connection', (socket: Socket) => {
    tcp.add(socket);
    socket.once('close', () => tcp.delete(socket));
  });
  return srv;
}

function echo(socket: WebSocket): void {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
}

/** Deterministic pseudo-random bytes (xorshift), so a failure is reproducible. */
function bytes(length: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

afterEach(async () => {
  await closeAllUndici();
  // Anything left (e.g. an upgrade nobody answered) must not keep server.close() waiting.
  for (const socket of tcp) socket.destroy();
  await srv?.close();
  srv = undefined;
});

describe('undici WebSocket client', () => {
  test('opens and sends the handshake we expect (deflate offer, no Origin)', async () => {
    const s = await serve();
    const client = undiciClient(s.url('/'));
    await client.open();
    const socket = await s.nextSocket();
    expect(client.ws.readyState).toBe(1);
    expect(client.ws.protocol).toBe('');
    // permessage-deflate is off by default on the server, so nothing was agreed.
    expect(client.ws.extensions).toBe('');
    expect(socket.extensions).toBe('');
    const { headers } = requests[0];
    expect(headers['sec-websocket-version']).toBe('13');
    expect(headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(headers.origin).toBeUndefined();
    expect(headers['sec-websocket-protocol']).toBeUndefined();
  });

  test('text echo, including multi-byte UTF-8 and the empty string', async () => {
    const s = await serve();
    const client = undiciClient(s.url());
    await client.open();
    const texts = ['hello', 'héllo wörld', '日本語テキスト', 'emoji 😀🎉 mixed', ''];
    for (const t of texts) client.ws.send(t);
    expect(await client.waitMessages(texts.length)).toEqual(texts);
  });

  test('binary echo as ArrayBuffer, exact bytes', async () => {
    const s = await serve();
    const client = undiciClient(s.url());
    await client.open();
    const payloads = [new Uint8Array([0, 1, 2, 253, 254, 255]), bytes(1000), new Uint8Array(0)];
    for (const p of payloads) client.ws.send(p);
    const got = await client.waitMessages(payloads.length);
    got.forEach((m, i) => {
      expect(m).toBeInstanceOf(ArrayBuffer);
      expect(Buffer.from(m as ArrayBuffer).equals(Buffer.from(payloads[i]))).toBe(true);
    });
  });

  test('a 1 MiB message round-trips (exactly the default maxPayload)', async () => {
    const s = await serve();
    const client = undiciClient(s.url());
    await client.open();
    const big = bytes(1024 * 1024, 7);
    client.ws.send(big);
    const [m] = await client.waitMessages(1, 15000);
    expect((m as ArrayBuffer).byteLength).toBe(1024 * 1024);
    expect(Buffer.from(m as ArrayBuffer).equals(Buffer.from(big))).toBe(true);
    expect(client.ws.readyState).toBe(1);
  });

  test('500 messages arrive in order both ways', async () => {
    const received: string[] = [];
    const s = await serve({}, (socket) => {
      socket.on('message', (data) => {
        received.push(data as string);
        socket.send(data);
      });
    });
    const client = undiciClient(s.url());
    await client.open();
    const sent = Array.from({ length: 500 }, (_, i) => `msg-${i}`);
    for (const m of sent) client.ws.send(m);
    expect(await client.waitMessages(500, 15000)).toEqual(sent);
    expect(received).toEqual(sent);
  });

  test('subprotocol: server preference wins', async () => {
    const s = await serve({ protocols: ['a', 'b'] });
    const client = undiciClient(s.url(), ['b', 'a']);
    await client.open();
    const socket = await s.nextSocket();
    expect(requests[0].headers['sec-websocket-protocol']).toBe('b, a');
    expect(client.ws.protocol).toBe('a');
    expect(socket.protocol).toBe('a');
  });

  test('server pushes first, before the client sends anything', async () => {
    const s = await serve({}, (socket) => socket.send('welcome'));
    const client = undiciClient(s.url());
    expect(await client.waitMessages(1)).toEqual(['welcome']);
    expect(client.events).toEqual(['open']);
  });

  test('server ping: undici answers with a pong carrying the same payload', async () => {
    const s = await serve();
    const client = undiciClient(s.url());
    await client.open();
    const socket = await s.nextSocket();
    const pong = once<[Buffer]>(socket, 'pong');
    socket.ping('are you there');
    const [data] = await pong;
    expect(data.toString()).toBe('are you there');
  });
});

describe('permessage-deflate with undici', () => {
  // undici 7 offers "permessage-deflate; client_max_window_bits" and inflates what it
  // receives, but sends its own messages uncompressed (its sender has no deflate).
  test('is agreed, and a compressible message round-trips compressed one way', async () => {
    const s = await serve({ perMessageDeflate: true });
    const client = undiciClient(s.url());
    await client.open();
    const socket = await s.nextSocket();
    expect(client.ws.extensions).toBe(socket.extensions);
    expect(client.ws.extensions).toBe('permessage-deflate');

    const text = 'the quick brown fox jumps over the lazy dog ✓ '.repeat(6000); // ~280 KB
    const size = Buffer.byteLength(text);
    const before = s.endpoint.stats();
    client.ws.send(text);
    expect(await client.waitMessages(1, 15000)).toEqual([text]);
    const after = s.endpoint.stats();
    // The server's copy went out deflated: far fewer bytes on the wire than the text.
    expect(after.bytesOut - before.bytesOut).toBeLessThan(size / 20);
    // undici's copy came in as it was: at least the whole text plus frame header.
    expect(after.bytesIn - before.bytesIn).toBeGreaterThan(size);
  });

  test('small, binary and multi-byte messages also round-trip over the deflate session', async () => {
    const s = await serve({ perMessageDeflate: { threshold: 0 } });
    const client = undiciClient(s.url());
    await client.open();
    const bin = bytes(50000, 3);
    client.ws.send('x');
    client.ws.send('ünïcødé 😀'.repeat(200));
    client.ws.send(bin);
    client.ws.send('');
    const got = await client.waitMessages(4);
    expect(got[0]).toBe('x');
    expect(got[1]).toBe('ünïcødé 😀'.repeat(200));
    expect(Buffer.from(got[2] as ArrayBuffer).equals(Buffer.from(bin))).toBe(true);
    expect(got[3]).toBe('');
  });
});

describe('closing with undici', () => {
  test('client closes with 4001 + reason: the server sees exactly that; clean on both sides', async () => {
    const s = await serve();
    const client = undiciClient(s.url());
    await client.open();
    const socket = await s.nextSocket();
    const serverClose = once<[number, string]>(socket, 'close');
    client.ws.close(4001, 'client done ✓');
    expect(await serverClose).toEqual([4001, 'client done ✓']);
    // The server echoes the code with an empty reason.
    expect(await client.closeEvent()).toEqual({ code: 4001, reason: '', wasClean: true });
    expect(socket.readyState).toBe(3);
  });

  test('server closes with 4002 "bye": the client sees code, reason and a clean close', async () => {
    const s = await serve();
    const client = undiciClient(s.url());
    await client.open();
    const socket = await s.nextSocket();
    const serverClose = once<[number, string]>(socket, 'close');
    socket.close(4002, 'bye');
    expect(await client.closeEvent()).toEqual({ code: 4002, reason: 'bye', wasClean: true });
    const [code] = await serverClose;
    expect(code).toBe(4002); // undici echoes the server's code
    expect(client.ws.readyState).toBe(3);
  });
});

describe('refused handshakes seen by undici', () => {
  test('unknown path (404): error, then close 1006 not clean', async () => {
    const s = await serve({ path: '/ws' });
    const client = undiciClient(s.url('/nope'));
    expect(await client.closeEvent()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(client.events).toEqual(['error', 'close']);
    expect(s.endpoint.stats().accepted).toBe(0);
    expect(requests).toHaveLength(0);
  });

  test('a disallowed Origin (403): error, then close 1006', async () => {
    const s = await serve({ origins: ['https://app.example'] });
    const client = undiciClient(s.url(), { headers: { origin: 'https://evil.example' } });
    expect(await client.closeEvent()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(client.events).toEqual(['error', 'close']);
    expect(s.endpoint.stats().rejected).toEqual({ 403: 1 });
    expect(requests).toHaveLength(0);

    // The allowed Origin gets through; undici's default (no Origin) is allowed too.
    const good = undiciClient(s.url(), { headers: { origin: 'https://app.example' } });
    await good.open();
    const plain = undiciClient(s.url());
    await plain.open();
    expect(s.endpoint.stats().accepted).toBe(2);
    expect(requests.map((r) => r.headers.origin)).toEqual(['https://app.example', undefined]);
  });

  test('requireOrigin refuses undici, which sends no Origin by default (403)', async () => {
    const s = await serve({ requireOrigin: true });
    const client = undiciClient(s.url());
    expect(await client.closeEvent()).toEqual({ code: 1006, reason: '', wasClean: false });
    expect(client.events).toEqual(['error', 'close']);
    expect(s.endpoint.stats().rejected).toEqual({ 403: 1 });
    expect(s.endpoint.stats().accepted).toBe(0);
  });
});

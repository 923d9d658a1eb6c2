// permessage-deflate end to end: the `ws` client with every parameter combination, raw
// clients that look at RSV1 and fragment compressed messages, ordering under load, the
// concurrency limit, backpressure while compressing, and zlib contexts freed on close.
import { getDefaultHighWaterMark } from 'node:stream';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import WebSocketClient from 'ws';
import type { AttachOptions, DeflateOptions, WebSocket } from '../../src';
import { zlibContexts } from '../../src/io/deflate';
import { deflateMessage, inflateMessage, messageInflater, sampleText } from '../helpers/compress';
import { RawClient } from '../helpers/raw-client';
import { delay, once } from '../helpers/server';
import { closeAndSettle, startWsServer, type WsServer } from '../helpers/ws-server';

const DEFLATE = { 'Sec-WebSocket-Extensions': 'permessage-deflate' };

let srv: WsServer | null = null;
const raws: RawClient[] = [];
let errors: unknown[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await closeAndSettle(srv);
  srv = null;
});

const echo = (socket: WebSocket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));

async function start(options: AttachOptions, onSocket: (socket: WebSocket) => void = echo): Promise<WsServer> {
  errors = [];
  srv = await startWsServer({ onError: (err) => errors.push(err), ...options }, onSocket);
  return srv;
}

async function raw(headers: Record<string, string> = DEFLATE): Promise<RawClient> {
  const client = await RawClient.open(srv!.port, '/', headers);
  raws.push(client);
  return client;
}

type Received = { data: Buffer; isBinary: boolean };

/** Resolves with the next `n` messages the client receives. */
function collect(client: WebSocketClient, n: number, ms = 15000): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const got: Received[] = [];
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`got ${got.length} of ${n} messages`));
    }, ms);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      got.push({ data, isBinary });
      if (got.length < n) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(got);
    };
    client.on('message', onMessage);
  });
}

/** Polls (bounded) until the condition holds. */
async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !condition(); await delay(10)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

function expectSame(got: Received[], sent: (string | Buffer)[]): void {
  expect(got.length).toBe(sent.length);
  for (let i = 0; i < sent.length; i++) {
    const want = sent[i];
    expect({ i, isBinary: got[i].isBinary }).toEqual({ i, isBinary: typeof want !== 'string' });
    expect({ i, equal: got[i].data.equals(typeof want === 'string' ? Buffer.from(want) : want) }).toEqual({ i, equal: true });
  }
}

describe('round trips with the ws client', () => {
  type Combo = [name: string, server: DeflateOptions | true, client: WebSocketClient.PerMessageDeflateOptions | true, header: string];
  const combos: Combo[] = [
    ['defaults', true, true, 'permessage-deflate'],
    ['server option serverNoContextTakeover', { serverNoContextTakeover: true }, true, 'permessage-deflate; server_no_context_takeover'],
    ['server option clientNoContextTakeover', { clientNoContextTakeover: true }, true, 'permessage-deflate; client_no_context_takeover'],
    [
      'client asks for no context takeover both ways',
      true,
      { serverNoContextTakeover: true, clientNoContextTakeover: true },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
    ...[8, 9, 10, 11, 12, 13, 14, 15].map(
      (bits): Combo => [
        `client asks for ${bits}-bit windows both ways`,
        true,
        { serverMaxWindowBits: bits, clientMaxWindowBits: bits },
        `permessage-deflate; server_max_window_bits=${bits}${bits < 15 ? `; client_max_window_bits=${bits}` : ''}`,
      ],
    ),
    [
      'server limits both windows',
      { serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
      true,
      'permessage-deflate; server_max_window_bits=10; client_max_window_bits=11',
    ],
    [
      'everything at its smallest, with a low threshold and level 9',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9, threshold: 16, level: 9, memLevel: 1 },
      { threshold: 16 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    ],
  ];

  test.each(combos)('%s', async (_name, serverOptions, clientOptions, header) => {
    await start({ perMessageDeflate: serverOptions });
    const client = await srv!.wsClient('/', { perMessageDeflate: clientOptions });
    const socket = await srv!.nextSocket();
    expect(socket.extensions).toBe(header);
    expect(client.extensions).toBe('permessage-deflate');

    const random = zlib.deflateRawSync(Buffer.from(sampleText(30_000, 7))); // incompressible bytes
    const sent: (string | Buffer)[] = [
      'hi',
      '',
      Buffer.from([1, 2, 3]),
      Buffer.alloc(0),
      sampleText(50_000, 1),
      Buffer.from(sampleText(40_000, 2)),
      random,
      'héllo wörld ✓ 😀 '.repeat(3000),
    ];
    // Many in a row: each depends on the context the earlier ones left (when taken over).
    for (let i = 0; i < 30; i++) {
      const text = sampleText(500 + i * 137, i + 10);
      sent.push(i % 2 === 0 ? text : Buffer.from(text));
    }
    const got = collect(client, sent.length);
    for (const m of sent) client.send(m);
    expectSame(await got, sent);

    // Compression really happened both ways: far fewer bytes than the messages' size crossed.
    const total = sent.reduce((sum, m) => sum + Buffer.byteLength(m), 0);
    const stats = srv!.endpoint.stats();
    expect(stats.bytesIn).toBeLessThan(total * 0.4);
    expect(stats.bytesOut).toBeLessThan(total * 0.4);
    expect(errors).toEqual([]);
  });

  test('a client that offers nothing gets plain frames from a compressing server', async () => {
    await start({ perMessageDeflate: true });
    const client = await srv!.wsClient('/', { perMessageDeflate: false });
    const socket = await srv!.nextSocket();
    expect(socket.extensions).toBe('');
    const text = sampleText(20_000);
    const got = collect(client, 1);
    client.send(text);
    expectSame(await got, [text]);
    expect(srv!.endpoint.stats().bytesOut).toBeGreaterThan(20_000);
  });

  test('a server with compression off ignores the offer', async () => {
    await start({});
    const client = await srv!.wsClient('/', { perMessageDeflate: true });
    expect((await srv!.nextSocket()).extensions).toBe('');
    expect(client.extensions).toBe('');
    const got = collect(client, 1);
    client.send(sampleText(5000));
    expectSame(await got, [sampleText(5000)]);
  });
});

describe('RSV1 and the threshold, seen by a raw client', () => {
  test('below the threshold a message goes out plain; at it, compressed with RSV1 on its only frame', async () => {
    let server!: WebSocket;
    await start({ perMessageDeflate: true }, (s) => (server = s));
    const client = await raw();
    expect(client.header('Sec-WebSocket-Extensions')).toBe('permessage-deflate');
    const small = sampleText(1023);
    const large = sampleText(1024, 2);
    server.send(small);
    server.send(large);
    server.send(Buffer.from(small), { binary: true });
    await client.waitFor(() => client.frames.length === 3);
    const [a, b, c] = client.frames;
    expect([a.rsv1, a.fin, a.opcode, a.payload.toString()]).toEqual([false, true, 1, small]);
    expect([b.rsv1, b.fin, b.opcode]).toEqual([true, true, 1]);
    expect(b.payload.length).toBeLessThan(1024);
    expect(inflateMessage(b.payload).toString()).toBe(large);
    expect([c.rsv1, c.opcode, c.payload.toString()]).toEqual([false, 2, small]);
  });

  test('threshold 0 compresses even one byte; a huge threshold compresses nothing', async () => {
    const sockets: WebSocket[] = [];
    await start({ perMessageDeflate: { threshold: 0 } }, (s) => sockets.push(s));
    const zero = await raw();
    await until(() => sockets.length === 1, 'the socket');
    sockets[0].send('a');
    await zero.waitFor(() => zero.frames.length === 1);
    expect(zero.frames[0].rsv1).toBe(true);
    expect(inflateMessage(zero.frames[0].payload).toString()).toBe('a');
    await srv!.close();

    const huge: WebSocket[] = [];
    await start({ perMessageDeflate: { threshold: 1 << 20 } }, (s) => huge.push(s));
    const client = await raw();
    await until(() => huge.length === 1, 'the socket');
    huge[0].send(sampleText(100_000));
    await client.waitFor(() => client.frames.length === 1);
    expect(client.frames[0].rsv1).toBe(false);
    expect(client.frames[0].payload.toString()).toBe(sampleText(100_000));
  });

  test('send(data, { compress: false }) skips compression', async () => {
    let server!: WebSocket;
    await start({ perMessageDeflate: true }, (s) => (server = s));
    const client = await raw();
    server.send(sampleText(5000), { compress: false });
    await client.waitFor(() => client.frames.length === 1);
    expect(client.frames[0].rsv1).toBe(false);
    expect(client.frames[0].payload.toString()).toBe(sampleText(5000));
  });

  test('with context takeover the server messages inflate in order through one context', async () => {
    const random3000 = randomBytes(2250).toString('base64');
    let server!: WebSocket;
    await start({ perMessageDeflate: true }, (s) => (server = s));
    const client = await raw();
    const texts = Array.from({ length: 10 }, () => random3000); // the same text: later ones tiny
    for (const t of texts) server.send(t);
    await client.waitFor(() => client.frames.length === 10);
    expect(client.frames[9].payload.length).toBeLessThan(client.frames[0].payload.length / 10);
    const inflater = messageInflater();
    try {
      for (let i = 0; i < 10; i++) expect((await inflater.inflate(client.frames[i].payload)).toString()).toBe(texts[i]);
    } finally {
      inflater.close();
    }
  });

  test('a fragmented compressed message (RSV1 on the first frame only, a ping in between) is put together', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    const text = sampleText(6000, 3);
    const payload = deflateMessage(text);
    const third = Math.floor(payload.length / 3);
    client.send({ opcode: 1, rsv: 0x40, fin: false, payload: payload.subarray(0, third) });
    client.send({ opcode: 0, fin: false, payload: payload.subarray(third, 2 * third) });
    client.send({ opcode: 9, payload: 'ping' });
    client.send({ opcode: 0, fin: true, payload: payload.subarray(2 * third) });
    await client.waitFor(() => client.frames.length === 2);
    const [pong, echoed] = client.frames;
    expect([pong.opcode, pong.payload.toString()]).toEqual([10, 'ping']);
    expect([echoed.opcode, echoed.rsv1]).toEqual([1, true]);
    expect(inflateMessage(echoed.payload).toString()).toBe(text);
  });

  test('fragments of one byte each, after a message whose context they use', async () => {
    await start({ perMessageDeflate: true });
    const client = await raw();
    // A client compressor with context takeover: the second message refers into the first.
    const deflater = zlib.createDeflateRaw();
    const next = (data: string) =>
      new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (c: Buffer) => chunks.push(c);
        deflater.on('data', onData);
        deflater.write(data);
        deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          deflater.off('data', onData);
          resolve(Buffer.concat(chunks).subarray(0, -4));
        });
      });
    try {
      const text = sampleText(2000, 9);
      client.send({ opcode: 2, rsv: 0x40, payload: await next(text) });
      const second = await next(text);
      expect(second.length).toBeLessThan(40);
      for (let i = 0; i < second.length; i++) {
        client.send({ opcode: i === 0 ? 2 : 0, rsv: i === 0 ? 0x40 : 0, fin: i === second.length - 1, payload: second.subarray(i, i + 1) });
      }
      await client.waitFor(() => client.frames.length === 2);
      const inflater = messageInflater();
      try {
        for (const frame of client.frames) {
          expect(frame.opcode).toBe(2);
          expect((await inflater.inflate(frame.payload)).toString()).toBe(text);
        }
      } finally {
        inflater.close();
      }
    } finally {
      deflater.close();
    }
  });
});

describe('order under load', () => {
  const message = (i: number): string | Buffer => {
    const body = i % 3 === 0 ? sampleText(1500 + (i % 7) * 400, i) : `#${i}`.repeat(1 + (i % 20));
    return i % 2 === 0 ? `${i}:${body}` : Buffer.from(`${i}:${body}`);
  };

  test('500 mixed messages from the client, echoed in a burst, arrive in order both ways', async () => {
    const serverGot: number[] = [];
    await start({ perMessageDeflate: true }, (socket) => {
      socket.on('message', (data, isBinary) => {
        serverGot.push(Number(data.toString().split(':')[0]));
        socket.send(data, { binary: isBinary });
      });
    });
    const client = await srv!.wsClient('/', { perMessageDeflate: true });
    const sent = Array.from({ length: 500 }, (_, i) => message(i));
    const got = collect(client, 500, 30000);
    for (const m of sent) client.send(m);
    expectSame(await got, sent);
    expect(serverGot).toEqual(sent.map((_, i) => i));
    expect(errors).toEqual([]);
  });

  test('500 mixed messages sent by the server in one loop arrive in order', async () => {
    const sent = Array.from({ length: 500 }, (_, i) => message(i));
    await start({ perMessageDeflate: true }, (socket) => {
      socket.once('message', () => {
        // Some skip compression, and pings may overtake: none of it may reorder messages.
        sent.forEach((m, i) => socket.send(m, { compress: i % 11 !== 0 }));
        socket.ping('p');
      });
    });
    const client = await srv!.wsClient('/', { perMessageDeflate: true });
    const got = collect(client, 500, 30000);
    client.send('go');
    expectSame(await got, sent);
  });

  test('with concurrency 1, several busy clients are all served, each in order', async () => {
    await start({ perMessageDeflate: { concurrency: 1 } });
    const clients = await Promise.all([1, 2, 3, 4].map(() => srv!.wsClient('/', { perMessageDeflate: true })));
    const runs = clients.map(async (client, c) => {
      const sent = Array.from({ length: 25 }, (_, i) => sampleText(4000 + i * 100, c * 100 + i));
      const got = collect(client, sent.length, 30000);
      for (const m of sent) client.send(m);
      expectSame(await got, sent);
    });
    await Promise.all(runs);
    expect(errors).toEqual([]);
  });
});

describe('backpressure while compressing', () => {
  test('send() returns false while a large message is compressing, and drain follows', async () => {
    let server!: WebSocket;
    await start({ perMessageDeflate: true }, (s) => (server = s));
    const client = await srv!.wsClient('/', { perMessageDeflate: true });
    await until(() => server !== undefined, 'the socket');
    const big = sampleText(200_000);
    const got = collect(client, 1);
    const drained = once(server, 'drain');
    expect(server.send(big)).toBe(false);
    expect(server.bufferedAmount).toBeGreaterThanOrEqual(200_000);
    await drained;
    expectSame(await got, [big]);
    await until(() => server.bufferedAmount === 0, 'an empty buffer');
  });

  test('a loop that sends until send() says stop, stops, and every message arrives after drain', async () => {
    let server!: WebSocket;
    await start({ perMessageDeflate: true }, (s) => (server = s));
    const client = await srv!.wsClient('/', { perMessageDeflate: true });
    await until(() => server !== undefined, 'the socket');
    const sent: string[] = [];
    let more = true;
    while (more && sent.length < 1000) {
      const m = sampleText(2000, sent.length);
      sent.push(m);
      more = server.send(m);
    }
    // 2000-byte messages reach the 16 KiB high-water mark after a handful.
    // The socket's own buffer limit decides; Node 22 raised its default from 16 KiB to 64 KiB.
    expect(sent.length).toBeLessThan((20 * getDefaultHighWaterMark(false)) / 16384);
    const got = collect(client, sent.length);
    await once(server, 'drain');
    expectSame(await got, sent);
  });

  test('maxBackpressure counts messages still being compressed', async () => {
    let server!: WebSocket;
    await start({ perMessageDeflate: true, maxBackpressure: 100_000, backpressurePolicy: 'drop' }, (s) => (server = s));
    await srv!.wsClient('/', { perMessageDeflate: true });
    await until(() => server !== undefined, 'the socket');
    const results: (string | undefined)[] = [];
    let done = 0;
    for (let i = 0; i < 5; i++) {
      server.send(sampleText(60_000, i), (err) => {
        results[i] = (err as { code?: string } | undefined)?.code ?? 'sent';
        done++;
      });
    }
    await until(() => done === 5, 'the callbacks');
    // The second is taken at 60 000 buffered (not over 100 000); from the third on, 120 000 is.
    expect(results).toEqual(['sent', 'sent', 'BACKPRESSURE', 'BACKPRESSURE', 'BACKPRESSURE']);
  });
});

describe('zlib contexts are freed when connections end', () => {
  async function exchange(client: WebSocketClient): Promise<void> {
    const got = collect(client, 1);
    client.send(sampleText(10_000));
    await got;
  }

  test('after polite closes, terminations and a server shutdown the counters are back at their baseline', async () => {
    const base = { ...zlibContexts };
    await start({ perMessageDeflate: true });
    const clients = await Promise.all(Array.from({ length: 9 }, () => srv!.wsClient('/', { perMessageDeflate: true })));
    await Promise.all(clients.map(exchange));
    // Each server socket inflated one message and compressed one.
    expect(zlibContexts).toEqual({ ...base, deflate: base.deflate + 9, inflate: base.inflate + 9 });

    for (const c of clients.slice(0, 3)) c.close(1000);
    for (const c of clients.slice(3, 6)) c.terminate();
    await until(() => srv!.endpoint.clients.size === 3, 'six sockets to close');
    expect(zlibContexts).toEqual({ ...base, deflate: base.deflate + 3, inflate: base.inflate + 3 });

    await srv!.endpoint.close({ timeout: 2000 });
    await until(() => srv!.endpoint.clients.size === 0, 'every socket to close');
    expect(zlibContexts).toEqual(base);
    expect(errors).toEqual([]);
  });

  test('a connection dropped while the server compresses frees its contexts and reports no error', async () => {
    const base = { ...zlibContexts };
    let server!: WebSocket;
    await start({ perMessageDeflate: true }, (s) => (server = s));
    const client = await raw();
    await until(() => server !== undefined, 'the socket');
    const callbacks: (Error | undefined)[] = [];
    for (let i = 0; i < 5; i++) server.send(sampleText(500_000, i), (err) => callbacks.push(err));
    client.destroy();
    await until(() => server.readyState === 3, 'the close');
    await until(() => callbacks.length === 5, 'every send callback');
    expect(zlibContexts).toEqual(base);
    expect(errors).toEqual([]);
  });

  test('without context takeover, connections hold no contexts between messages', async () => {
    const held = () => zlibContexts.deflate + zlibContexts.inflate - zlibContexts.pooled;
    const before = held();
    await start({ perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } });
    const clients = await Promise.all(Array.from({ length: 6 }, () => srv!.wsClient('/', { perMessageDeflate: true })));
    await Promise.all(clients.map(exchange));
    expect(held()).toBe(before);
    expect(zlibContexts.pooled).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });

  test('a connection that never compressed anything never made a context', async () => {
    const base = { ...zlibContexts };
    await start({ perMessageDeflate: true });
    // (The ws client compresses even tiny messages unless no_context_takeover was agreed.)
    const client = await raw();
    client.send({ opcode: 1, payload: 'small' });
    await client.waitFor(() => client.frames.length === 1);
    expect([client.frames[0].rsv1, client.frames[0].payload.toString()]).toEqual([false, 'small']);
    expect(zlibContexts).toEqual(base);
  });
});

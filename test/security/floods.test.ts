// Floods over real sockets, each bounded in memory and CPU, with the process still serving.
// Tests marked [wiring] use the `perClient` and `rateLimit` options: they pass once the
// endpoint passes those options to src/io/guards/per-client.ts and src/io/rate-limit.ts.
// Figures are printed with WSGATE_SECURITY_FIGURES=1 (for SECURITY.md).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WS from 'ws';
import { attachWebSocket, type AttachOptions, type Endpoint, type WebSocket } from '../../src';
import { deflateMessage } from '../helpers/compress';
import { clientFrame, handshakeRequest, RawClient } from '../helpers/raw-client';
import { ask, cpuMs, handshakeLines, head, held } from './util';

jest.setTimeout(60_000);
const KiB = 1024;
const MiB = 1024 * 1024;
const figures = (line: string) => {
  if (process.env.WSGATE_SECURITY_FIGURES) console.log(line);
};

interface Live {
  server: http.Server;
  port: number;
  endpoint: Endpoint;
  errors: unknown[];
  messages: number;
  closes: { code: number; reason: string }[];
}

// Options not yet in AttachOptions until the lead wires them; typed loosely on purpose.
type Options = AttachOptions & Record<string, unknown>;

async function live(options: Options = {}): Promise<Live> {
  const server = http.createServer((_req, res) => res.end('http ok'));
  const l = { server, port: 0, errors: [] as unknown[], messages: 0, closes: [] as Live['closes'] } as Live;
  l.endpoint = attachWebSocket(
    server,
    (ws: WebSocket) => {
      ws.on('message', (data) => {
        l.messages++;
        if (data === 'echo?') ws.send('echo!');
      });
      ws.on('close', (code, reason) => l.closes.push({ code, reason: String(reason) }));
    },
    { heartbeat: false, onError: (err: unknown) => l.errors.push(err), ...options } as AttachOptions,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  l.port = (server.address() as AddressInfo).port;
  return l;
}

async function stop(l: Live): Promise<void> {
  for (const s of l.endpoint.clients) s.terminate();
  l.server.closeAllConnections();
  await new Promise((resolve) => l.server.close(resolve));
}

async function echoWorks(port: number): Promise<void> {
  const ws = new WS(`ws://127.0.0.1:${port}/`);
  const reply = await new Promise<string>((resolve, reject) => {
    ws.on('open', () => ws.send('echo?'));
    ws.on('message', (d) => resolve(d.toString()));
    ws.on('error', reject);
  });
  ws.terminate();
  expect(reply).toBe('echo!');
}

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** Writes frames in batches of `batch` so the client never holds them all at once. */
async function pump(client: RawClient, count: number, make: (i: number) => Buffer, batch = 2000): Promise<void> {
  for (let i = 0; i < count && !client.closed; i += batch) {
    const n = Math.min(batch, count - i);
    const ok = client.socket.write(Buffer.concat(Array.from({ length: n }, (_, k) => make(i + k))));
    if (!ok) await new Promise((resolve) => client.socket.once('drain', resolve));
  }
}

describe('unlimited by default, still bounded', () => {
  test('1-byte fragments: one 100 KiB message in 100,000 fragments; linear CPU, memory ~ the payload', async () => {
    const l = await live({ maxPayload: 256 * KiB });
    try {
      const cost = async (n: number) => {
        const client = await RawClient.open(l.port);
        const before = held();
        const frames = (i: number) =>
          clientFrame({ opcode: i === 0 ? 0x2 : 0x0, fin: i === n - 1, payload: Buffer.from([i & 0xff]) });
        const before2 = l.messages;
        const ms = await cpuMs(async () => {
          await pump(client, n, frames);
          await until(() => l.messages === before2 + 1);
        });
        const grown = held().buffers - before.buffers;
        client.destroy();
        return { ms, grown };
      };
      await cost(2_000);
      const small = await cost(10_000);
      const large = await cost(100_000);
      figures(`1-byte fragments: 10,000 in ${small.ms.toFixed(0)} ms CPU, 100,000 in ${large.ms.toFixed(0)} ms CPU (client and server in one process)`);
      expect(large.ms / Math.max(small.ms, 1)).toBeLessThan(30);
      expect(large.grown).toBeLessThan(4 * MiB); // 200 KiB message, doubling buffer, socket chunks
      await echoWorks(l.port);
    } finally {
      await stop(l);
    }
  });

  test('empty frames: 200,000 empty messages are each delivered; memory does not grow with the count', async () => {
    const l = await live();
    try {
      const client = await RawClient.open(l.port);
      const empty = clientFrame({ opcode: 0x2, payload: Buffer.alloc(0) });
      const before = held();
      const ms = await cpuMs(async () => {
        await pump(client, 200_000, () => empty);
        await until(() => l.messages === 200_000, 20_000);
      });
      const grown = held();
      figures(`empty frames: 200,000 delivered in ${ms.toFixed(0)} ms CPU, heap +${((grown.heap - before.heap) / MiB).toFixed(1)} MiB after GC`);
      expect(grown.buffers - before.buffers).toBeLessThan(4 * MiB);
      client.destroy();
      await echoWorks(l.port);
    } finally {
      await stop(l);
    }
  });

  test('tiny compressed frames that each inflate to maxPayload: every one inflated within the limit, memory flat', async () => {
    const l = await live({ perMessageDeflate: true, maxPayload: 64 * KiB });
    try {
      const client = await RawClient.open(l.port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      const bomb = clientFrame({ opcode: 0x2, rsv: 0x40, payload: deflateMessage(Buffer.alloc(64 * KiB)) });
      const before = held();
      const ms = await cpuMs(async () => {
        await pump(client, 2000, () => bomb, 200);
        await until(() => l.messages === 2000, 20_000);
      });
      figures(`compressed frames of ${bomb.length} bytes inflating to 64 KiB: 2,000 in ${ms.toFixed(0)} ms CPU (${(ms / 2).toFixed(2)} ms per 1,000)`);
      expect(held().buffers - before.buffers).toBeLessThan(8 * MiB);
      client.destroy();
      await echoWorks(l.port);
    } finally {
      await stop(l);
    }
  });

  test('2,000 handshakes from one address, 32 at a time: all served, CPU per handshake reported', async () => {
    const l = await live();
    try {
      const statuses: number[] = [];
      const ms = await cpuMs(async () => {
        for (let i = 0; i < 2000; i += 32) {
          const batch = await Promise.all(Array.from({ length: 32 }, () => ask(l.port, head(handshakeLines('/', l.port)))));
          statuses.push(...batch.map((a) => a.status));
        }
      });
      figures(`handshakes: 2,000 in ${ms.toFixed(0)} ms CPU, ${(ms / 2).toFixed(2)} ms per 1,000 (both ends)`);
      expect(statuses.every((s) => s === 101)).toBe(true);
      await until(() => l.endpoint.clients.size === 0);
    } finally {
      await stop(l);
    }
  });

  test('500 connections each sending half a frame and stalling: bounded memory each, the heartbeat ends them', async () => {
    const l = await live({ heartbeat: { interval: 2000, timeout: 1000 } });
    try {
      const before = held();
      const clients: RawClient[] = [];
      for (let i = 0; i < 500; i += 50) {
        clients.push(...(await Promise.all(Array.from({ length: 50 }, () => RawClient.open(l.port)))));
      }
      const half = clientFrame({ opcode: 0x2, payload: Buffer.alloc(1000) }).subarray(0, 507);
      for (const c of clients) c.write(half);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const during = held();
      const perConn = (during.heap + during.buffers - before.heap - before.buffers) / 500;
      figures(`half-frame stall: ${(perConn / KiB).toFixed(1)} KiB per connection (heap + buffers, both ends in one process)`);
      expect(perConn).toBeLessThan(64 * KiB);
      await echoWorks(l.port);
      await until(() => clients.every((c) => c.closed || c.ended), 15_000);
      expect(l.closes.filter((c) => c.code === 1006).length).toBeGreaterThanOrEqual(500);
    } finally {
      await stop(l);
    }
  });
});

describe('[wiring] rateLimit', () => {
  test("a ping flood with action 'close': 1008 'rate limit exceeded' after about `messages` pongs", async () => {
    const l = await live({ rateLimit: { messages: 100, window: 1000, action: 'close' } });
    try {
      const client = await RawClient.open(l.port);
      const ping = clientFrame({ opcode: 0x9, payload: 'p' });
      const started = Date.now();
      await pump(client, 10_000, () => ping, 1000);
      await client.waitClosed(5000);
      const pongs = client.frames.filter((f) => f.opcode === 0xa).length;
      // The burst, plus what the bucket refills (100/s) while a slow machine reads the flood.
      expect(pongs).toBeLessThanOrEqual(101 + Math.ceil(((Date.now() - started) * 100) / 1000));
      expect(client.closeFrame).toEqual({ code: 1008, reason: 'rate limit exceeded' });
      await until(() => l.closes.length === 1);
      expect(l.closes[0].code).toBe(1008);
      await echoWorks(l.port);
    } finally {
      await stop(l);
    }
  });

  test("a ping flood with action 'pause': answered at the configured rate, the socket stays open", async () => {
    const l = await live({ rateLimit: { messages: 100, window: 1000, action: 'pause' } });
    try {
      const client = await RawClient.open(l.port);
      const ping = clientFrame({ opcode: 0x9, payload: 'p' });
      void pump(client, 5000, () => ping, 500);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const pongs = client.frames.filter((f) => f.opcode === 0xa).length;
      expect(pongs).toBeGreaterThanOrEqual(100);
      expect(pongs).toBeLessThanOrEqual(100 + 100 * 1.5 + 10); // burst + ~1 s of refill, with slack
      expect(client.closed).toBe(false);
      client.destroy();
      await echoWorks(l.port);
    } finally {
      await stop(l);
    }
  });

  test('tiny compressed frames: the limit stops them before inflating (1008, far less CPU)', async () => {
    const l = await live({ perMessageDeflate: true, maxPayload: 64 * KiB, rateLimit: { messages: 50, window: 1000 } });
    try {
      const client = await RawClient.open(l.port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      const bomb = clientFrame({ opcode: 0x2, rsv: 0x40, payload: deflateMessage(Buffer.alloc(64 * KiB)) });
      const started = performance.now();
      await pump(client, 2000, () => bomb, 200);
      await client.waitClosed(5000);
      const elapsed = performance.now() - started;
      expect(client.closeFrame?.code).toBe(1008);
      // The burst of 50, plus what the bucket refills (50/s) while the frames are inflated one by
      // one: 51 alone fails on a slower server (53 seen under ts-node). Unlimited, all 2,000 would be.
      expect(l.messages).toBeLessThanOrEqual(51 + Math.ceil((elapsed * 50) / 1000));
    } finally {
      await stop(l);
    }
  });

  test('bytes per window count compressed bytes as they arrive', async () => {
    const l = await live({ maxPayload: 64 * KiB, rateLimit: { bytes: 10 * KiB, window: 1000 } });
    try {
      const client = await RawClient.open(l.port);
      for (let i = 0; i < 20; i++) client.send({ opcode: 0x2, payload: Buffer.alloc(1000) });
      await client.waitClosed(5000);
      expect(client.closeFrame?.code).toBe(1008);
      expect(l.messages).toBeLessThanOrEqual(10);
    } finally {
      await stop(l);
    }
  });
});

describe('[wiring] perClient', () => {
  test('handshakes per window: exactly `handshakes` get 101, the rest 429 with Retry-After, cheaply', async () => {
    const l = await live({ perClient: { handshakes: 100, window: 60_000 } });
    try {
      const answers = [];
      for (let i = 0; i < 1000; i += 50) {
        answers.push(...(await Promise.all(Array.from({ length: 50 }, () => ask(l.port, head(handshakeLines('/', l.port)))))));
      }
      const ok = answers.filter((a) => a.status === 101).length;
      const refused = answers.filter((a) => a.status === 429);
      expect(ok).toBe(100);
      expect(refused.length).toBe(900);
      for (const a of refused) {
        expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(a.closed).toBe(true);
      }
      expect(l.endpoint.stats().rejected[429]).toBe(900);
    } finally {
      await stop(l);
    }
  });

  test('maxConnections: the next socket from the address gets 429 until one closes', async () => {
    const l = await live({ perClient: { maxConnections: 5 } });
    try {
      const open = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(l.port)));
      const sixth = await ask(l.port, handshakeRequest('/', {}, l.port));
      expect(sixth.status).toBe(429);
      expect(sixth.headers['retry-after']).toBeDefined();
      open[0].destroy();
      await until(() => l.endpoint.clients.size === 4);
      expect((await ask(l.port, handshakeRequest('/', {}, l.port))).status).toBe(101);
      for (const c of open) c.destroy();
    } finally {
      await stop(l);
    }
  });

  test('clientId(req) groups by what it returns', async () => {
    const l = await live({ perClient: { maxConnections: 1, clientId: (req: http.IncomingMessage) => req.headers['x-user'] as string } });
    try {
      const a = await RawClient.open(l.port, '/', { 'X-User': 'alice' });
      const b = await RawClient.open(l.port, '/', { 'X-User': 'bob' });
      expect((await ask(l.port, handshakeRequest('/', { 'X-User': 'alice' }, l.port))).status).toBe(429);
      a.destroy();
      b.destroy();
    } finally {
      await stop(l);
    }
  });
});

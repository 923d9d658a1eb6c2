// What permessage-deflate costs in memory per connection, with context takeover on and off.
//   npx ts-node-transpile-only scripts/deflate-memory.ts [connections]
// Each configuration runs in a fresh server process (with --expose-gc); this process plays
// the clients over raw TCP, so its own memory does not count. Per configuration it measures
// the server after gc: before any connection, with N open idle connections, and after each
// connection exchanged one 16 KiB message each way (which creates the zlib contexts).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import * as zlib from 'node:zlib';
import { attachWebSocket, type DeflateOptions } from '../src';
import { zlibContexts } from '../src/io/deflate';

type Usage = { rss: number; heapUsed: number; external: number; deflate: number; inflate: number };

const CONFIGS: Record<string, { perMessageDeflate: DeflateOptions | false; offer: string }> = {
  'compression off': { perMessageDeflate: false, offer: '' },
  'context takeover (defaults: 15-bit windows, memLevel 8)': { perMessageDeflate: {}, offer: 'permessage-deflate; client_max_window_bits' },
  'context takeover, 10-bit windows, memLevel 4': {
    perMessageDeflate: { serverMaxWindowBits: 10, clientMaxWindowBits: 10, memLevel: 4 },
    offer: 'permessage-deflate; client_max_window_bits',
  },
  'no context takeover either way': {
    perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true },
    offer: 'permessage-deflate; client_max_window_bits',
  },
};

// ---- the server process -----------------------------------------------------------------

function usage(): Usage {
  for (let i = 0; i < 3; i++) global.gc!();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, ...zlibContexts };
}

function serve(config: string): void {
  const server = http.createServer();
  attachWebSocket(server, (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })), {
    perMessageDeflate: CONFIGS[config].perMessageDeflate,
    heartbeat: false,
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('message', (msg: string) => {
    if (msg === 'measure') process.send!({ usage: usage() });
    if (msg === 'exit') process.exit(0);
  });
}

// ---- the client side --------------------------------------------------------------------

/** Text that compresses about 3:1, like JSON. */
function message(): Buffer {
  const words = Array.from({ length: 300 }, () => randomBytes(4).toString('hex'));
  let s = '';
  while (s.length < 16 * 1024) s += `{"id":${s.length},"name":"${words[s.length % 300]}","tags":["${words[(s.length * 7) % 300]}"]},`;
  return Buffer.from(s.slice(0, 16 * 1024));
}

function frame(payload: Buffer, compressed: boolean): Buffer {
  const mask = randomBytes(4);
  const head = Buffer.alloc(8);
  head[0] = 0x81 | (compressed ? 0x40 : 0);
  head[1] = 0x80 | 126;
  head.writeUInt16BE(payload.length, 2);
  mask.copy(head, 4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, body]);
}

/** Opens a connection; exchange() then sends the message and waits for the whole echo. */
function connect(port: number, offer: string): Promise<{ exchange(data: Buffer): Promise<void>; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffered = Buffer.alloc(0);
    let open = false;
    let waiter: (() => void) | null = null;
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!open) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        if (!buffered.subarray(0, 12).toString().includes('101')) return reject(new Error('refused'));
        open = true;
        buffered = buffered.subarray(end + 4);
        resolve({ exchange, socket });
      }
      // A whole server frame has arrived?
      if (waiter && buffered.length >= 2) {
        const code = buffered[1] & 0x7f;
        const size = code < 126 ? 2 + code : code === 126 && buffered.length >= 4 ? 4 + buffered.readUInt16BE(2) : Infinity;
        if (buffered.length >= size) {
          buffered = buffered.subarray(size);
          const w = waiter;
          waiter = null;
          w();
        }
      }
    });
    const extensions = offer ? `Sec-WebSocket-Extensions: ${offer}\r\n` : '';
    socket.write(
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extensions}\r\n`,
    );
    function exchange(data: Buffer): Promise<void> {
      return new Promise((done) => {
        waiter = done;
        socket.write(data);
      });
    }
  });
}

async function measure(config: string, count: number): Promise<Record<string, Usage>> {
  const child = fork(__filename, ['--serve', config], { execArgv: ['--expose-gc', '-r', 'ts-node/register/transpile-only'] });
  const ask = <T>(msg?: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (m) => resolve(m as T));
      if (msg) child.send(msg);
    });
  const { port } = await ask<{ port: number }>();
  const results: Record<string, Usage> = {};
  results.empty = (await ask<{ usage: Usage }>('measure')).usage;
  const clients = [];
  for (let i = 0; i < count; i++) clients.push(await connect(port, CONFIGS[config].offer));
  results.idle = (await ask<{ usage: Usage }>('measure')).usage;
  // Compressed for any agreed client window: a 9-bit window never reaches back over 250 bytes.
  const text = message();
  const compressed = zlib.deflateRawSync(text, { windowBits: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  const data = config === 'compression off' ? frame(text, false) : frame(compressed, true);
  for (let i = 0; i < clients.length; i += 20) await Promise.all(clients.slice(i, i + 20).map((c) => c.exchange(data)));
  results.used = (await ask<{ usage: Usage }>('measure')).usage;
  for (const c of clients) c.socket.destroy();
  child.send('exit');
  await new Promise((resolve) => child.once('exit', resolve));
  return results;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 200);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`${count} connections, one 16 KiB message each way; server memory per connection (after gc):\n`);
  for (const config of Object.keys(CONFIGS)) {
    const r = await measure(config, count);
    const per = (a: Usage, b: Usage, key: 'rss' | 'heapUsed' | 'external') => kib((b[key] - a[key]) / count);
    console.log(config);
    console.log(`  open, idle:       rss ${per(r.empty, r.idle, 'rss')}, heap ${per(r.empty, r.idle, 'heapUsed')}, external ${per(r.empty, r.idle, 'external')}`);
    console.log(
      `  after a message:  rss ${per(r.empty, r.used, 'rss')}, heap ${per(r.empty, r.used, 'heapUsed')}, external ${per(r.empty, r.used, 'external')}` +
        `  (zlib contexts: ${r.used.deflate} deflate, ${r.used.inflate} inflate)`,
    );
  }
}

if (process.argv[2] === '--serve') serve(process.argv[3]);
else main().catch((err) => {
  console.error(err);
  process.exit(1);
});

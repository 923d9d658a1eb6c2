// `npm run bench:conn [-- --quick] [--only NAME] [--servers LIST] [--baseline DIR/dist]`: wsgate's own cost per message, in one process
// with no sockets and no kernel. Each connection is a real wsgate connection (attachWebSocket on
// an http.Server, a real upgrade request) over an in-memory Duplex whose writes only count
// bytes; the same Duplex under a "raw" handler (echo the chunk, write a prebuilt frame) is the
// floor that Node's stream layer alone costs. The difference is what wsgate adds per message,
// which the socket benchmark (npm run bench) cannot show apart from the kernel and the
// generator's own dynamics. With --baseline, another build of wsgate (its dist/) runs the same
// cases in the same process, in alternation, for before/after figures that a noisy machine
// cannot tell apart in socket runs. `ws` (without bufferutil, as the socket benchmark's plain
// `ws`) runs the same cases over the same Duplex, through its handleUpgrade, so wsgate / ws
// can be read without the kernel's share diluting it. For a profile:
// node --cpu-prof dist-bench/conn-micro.js --only push --servers wsgate.
import { createServer, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { join, resolve } from 'node:path';
import * as current from 'wsgate';
import type { WebSocket } from 'wsgate';
import { randomBytes } from 'node:crypto';
import { BINARY, CLOSE, makeText, maskedFrame, maskFor, pushMessage, pushTemplate, serverFrame, TEXT } from './common';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const CELL_MS = quick ? 40 : 100;
const ROUNDS = quick ? 5 : 15;
// The JIT settles only after a few hundred thousand messages (32 B echo: 2.3 µs per message
// after 200 ms, 0.96 µs after 500 ms).
const WARMUP_MS = 500;
const MAX_ITERATIONS = 1e7;
const baselineDir = argv.includes('--baseline') ? argv[argv.indexOf('--baseline') + 1] : null;
// Plain ws, as in the socket benchmark: set before ws is first required.
process.env.WS_NO_BUFFER_UTIL = '1';
process.env.WS_NO_UTF_8_VALIDATE = '1';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ws = require('ws') as typeof import('ws');
type Library = typeof current;

/** What the cases use of a server-side socket, which both wsgate's and ws's have. */
interface Peer {
  on(event: 'message', listener: (data: string | Buffer, isBinary: boolean) => void): unknown;
  send(data: string | Buffer, options?: { binary?: boolean }): unknown;
  terminate(): void;
}
type Handler = (s: Peer) => void;
/** A server under test: opens a connection over a fresh MemorySocket for `handler`. */
type Server = (handler: Handler) => () => MemorySocket;

const servers: [string, Server][] = [['wsgate', (h) => gateServer(current, h)]];
// eslint-disable-next-line @typescript-eslint/no-require-imports
if (baselineDir) servers.push(['wsgate@base', (h) => gateServer(require(join(resolve(baselineDir), 'index.js')) as Library, h)]);
servers.push(['ws', wsServer]);
// --servers wsgate,ws: only those (the raw stream always runs), e.g. for a profile of one.
if (argv.includes('--servers')) {
  const keep = argv[argv.indexOf('--servers') + 1].split(',');
  servers.splice(0, servers.length, ...servers.filter(([name]) => keep.includes(name)));
}

/** A socket that keeps nothing: reads are pushed by the benchmark, writes are counted. */
class MemorySocket extends Duplex {
  written = 0;
  remoteAddress = '127.0.0.1';
  remotePort = 40000;
  bytesWritten = 0;
  constructor() {
    super({ allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written += chunk.length;
    callback();
  }
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.written += chunk.length;
    callback();
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}

let upgrades = 0;
/** An upgrade request as http.Server would pass it, on `socket`. */
function upgradeRequest(socket: MemorySocket): IncomingMessage {
  return {
    method: 'GET',
    httpVersion: '1.1',
    url: '/',
    headers: {
      host: '127.0.0.1',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-version': '13',
      'sec-websocket-key': Buffer.from(`conn-micro-${String(++upgrades).padStart(5, '0')}`).toString('base64'),
    },
    socket,
  } as unknown as IncomingMessage;
}

/** A wsgate endpoint on an http.Server that never listens: upgrades are emitted by hand. */
function gateServer(lib: Library, handler: Handler): () => MemorySocket {
  const server = createServer();
  lib.attachWebSocket(server, (s: WebSocket) => handler(s), { heartbeat: false });
  return () => {
    const socket = new MemorySocket();
    server.emit('upgrade', upgradeRequest(socket), socket, Buffer.alloc(0));
    return socket;
  };
}

/** ws with no server of its own (noServer), handed each upgrade the way its README shows. */
function wsServer(handler: Handler): () => MemorySocket {
  const wss = new ws.WebSocketServer({ noServer: true, perMessageDeflate: false });
  return () => {
    const socket = new MemorySocket();
    wss.handleUpgrade(upgradeRequest(socket), socket as unknown as import('node:net').Socket, Buffer.alloc(0), (s) => handler(s));
    return socket;
  };
}

/** Lets pending reads start (a Duplex starts flowing on the next tick) and tick flushes run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One side of a case: a step that handles `unit` messages, and a check once it is done. */
interface Side {
  step: () => void | Promise<void>;
  check(): void;
  close(): void;
}

interface Case {
  unit: number;
  /** The same work for a server under test, or (null) for the raw stream. */
  side(lib: Server | null): Promise<Side>;
}

/**
 * Echo: chunks of `perChunk` masked text (or binary) frames of `size` bytes, answered by the same socket.
 * With `read`, the frames are one stream cut into chunks of `read` bytes, as the kernel hands
 * a busy socket's bytes over (64 KiB reads), so frames straddle chunks.
 */
function echo(size: number, mix: 'mixed' | 'ascii' | 'binary', perChunk: number, read = 0): Case {
  const opcode = mix === 'binary' ? BINARY : TEXT;
  const payloads = Array.from({ length: 64 }, (_, v) => (mix === 'binary' ? randomBytes(size) : makeText(size, mix, v)));
  const frameList = Array.from({ length: 64 }, (_, c) =>
    Array.from({ length: perChunk }, (_, k) => maskedFrame(opcode, payloads[(c + k) % 64], maskFor(c * perChunk + k))),
  );
  let chunks = frameList.map((f) => Buffer.concat(f));
  // Where each frame ends in the stream of one cycle of chunks, to count the messages due.
  const ends: number[] = [];
  for (const f of frameList.flat()) ends.push((ends.at(-1) ?? 0) + f.length);
  if (read > 0) {
    const stream = Buffer.concat(chunks);
    chunks = Array.from({ length: Math.ceil(stream.length / read) }, (_, c) => stream.subarray(c * read, (c + 1) * read));
  }
  const frames = 64 * perChunk;
  const payload = payloads.reduce((n, t) => n + t.length, 0) / 64;
  return {
    unit: frames / chunks.length,
    async side(lib) {
      let messages = 0;
      const socket = lib
        ? lib((s) =>
            s.on('message', (d, isBinary) => {
              messages++;
              s.send(d, { binary: isBinary });
            }),
          )()
        : new MemorySocket();
      if (!lib) socket.on('data', (chunk: Buffer) => socket.write(chunk));
      await turn();
      // The parser unmasks in place, so each chunk is restored from its masked original before
      // it is pushed again (a memcpy, on every side). Pushed into a flowing stream with
      // nothing buffered, a chunk is emitted at once, as a read from the kernel would be.
      const copies = chunks.map((chunk) => Buffer.allocUnsafeSlow(chunk.length));
      let fed = 0;
      let bytes = 0;
      return {
        step() {
          const i = fed++ % chunks.length;
          copies[i].set(chunks[i]);
          bytes += copies[i].length;
          socket.push(copies[i]);
        },
        check() {
          // Every message handled at once and answered, nothing left waiting in a stream buffer.
          if (socket.readableLength > 0) throw new Error('echo: a chunk waited in the stream');
          if (!lib && socket.written !== bytes) throw new Error('echo: raw did not echo every chunk at once');
          const cycles = Math.floor(fed / chunks.length);
          const at = chunks.slice(0, fed % chunks.length).reduce((n, c) => n + c.length, 0);
          const sent = cycles * frames + ends.filter((e) => e <= at).length;
          if (lib && messages !== sent) throw new Error(`echo: ${messages} of ${sent} messages handled`);
          if (lib && socket.written < messages * payload * 0.99) throw new Error('echo: the server did not write every answer');
        },
        close() {
          if (lib) socket.push(maskedFrame(CLOSE, Buffer.from([3, 232]), maskFor(1)));
        },
      };
    },
  };
}

/** Timer push: one 100 B text to each of `conns` sockets, then the end of the tick. */
function push(conns: number): Case {
  const template = pushTemplate();
  let seq = 0;
  return {
    unit: conns,
    async side(lib) {
      const sockets: Peer[] = [];
      const open = lib ? lib((s) => void sockets.push(s)) : () => new MemorySocket();
      const memory = Array.from({ length: conns }, () => open());
      await turn();
      return {
        async step() {
          if (lib) {
            const msg = pushMessage(template, ++seq);
            for (const s of sockets) s.send(msg);
          } else {
            const frame = serverFrame(TEXT, Buffer.from(pushMessage(template, ++seq)));
            for (const s of memory) s.write(frame);
          }
          await turn();
        },
        check() {
          if (memory.some((m) => m.written < 100 * 10)) throw new Error('push: a socket missed its messages');
        },
        close() {
          for (const s of sockets) s.terminate();
        },
      };
    },
  };
}

/** ns per message of `step` over about `ms`; a synchronous step is left no turn in between. */
async function slice(step: Side['step'], unit: number, ms: number): Promise<number> {
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(ms * 1e6));
  let ops = 0;
  for (let i = 0; i < MAX_ITERATIONS; i++) {
    const pending = step();
    if (pending !== undefined) await pending;
    ops += unit;
    if ((i & 7) === 7 && process.hrtime.bigint() - start > limit) break;
  }
  return Number(process.hrtime.bigint() - start) / ops;
}

/** Best of ROUNDS slices for each side, the sides in alternation, after a warm-up of each. */
async function measure(c: Case): Promise<number[]> {
  const sides = [...(await Promise.all(servers.map(([, server]) => c.side(server)))), await c.side(null)];
  for (const side of sides) await slice(side.step, c.unit, WARMUP_MS);
  const best = sides.map(() => Infinity);
  for (let i = 0; i < ROUNDS; i++) {
    for (let k = 0; k < sides.length; k++) best[k] = Math.min(best[k], await slice(sides[k].step, c.unit, CELL_MS));
  }
  for (const side of sides) {
    side.check();
    side.close();
  }
  return best;
}

async function main(): Promise<void> {
  const cells: [string, Case][] = [
    ['echo 32 B mixed, 8 per chunk', echo(32, 'mixed', 8)],
    ['echo 1 KiB mixed, 4 per chunk', echo(1024, 'mixed', 4)],
    ['echo 1 KiB ASCII, 4 per chunk', echo(1024, 'ascii', 4)],
    ['echo 16 KiB mixed, 1 per chunk', echo(16384, 'mixed', 1)],
    ['echo 16 KiB mixed, 64 KiB reads', echo(16384, 'mixed', 1, 64 * 1024)],
    ['echo 16 KiB ASCII, 64 KiB reads', echo(16384, 'ascii', 1, 64 * 1024)],
    ['echo 64 KiB binary, 64 KiB reads', echo(64 * 1024, 'binary', 1, 64 * 1024)],
    ['push 100 B to 1,000 sockets', push(1000)],
  ];
  console.log(`Node ${process.versions.node}, best of ${ROUNDS} slices of ${CELL_MS} ms each (ns per message, lower is better)\n`);
  const names = servers.map(([name]) => name);
  const cost = (best: number[], name: string) => (names.includes(name) ? best[names.indexOf(name)] : NaN);
  // A ratio whose server was left out by --servers shows as '-'.
  const ratioOf = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');
  const extra = baselineDir ? ' | wsgate / base |' : ' |';
  console.log(`| case | ${names.join(' | ')} | raw stream | wsgate - raw | ws / wsgate${extra}`);
  console.log(`|---|${names.map(() => '---:|').join('')}---:|---:|---:|${baselineDir ? '---:|' : ''}`);
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null;
  for (const [name, c] of cells) {
    if (only !== null && !name.includes(only)) continue;
    const best = await measure(c);
    const raw = best[best.length - 1];
    const gate = cost(best, 'wsgate');
    const ratio = baselineDir ? ` | ${ratioOf(gate, cost(best, 'wsgate@base'))} |` : ' |';
    const overRaw = Number.isFinite(gate) ? (gate - raw).toFixed(0) : '-';
    console.log(`| ${name} | ${best.map((x) => x.toFixed(0)).join(' | ')} | ${overRaw} | ${ratioOf(cost(best, 'ws'), gate)}${ratio}`);
  }
}

void main();

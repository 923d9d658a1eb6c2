// `npm run bench:conn [-- --quick] [--only NAME] [--baseline DIR/dist]`: wsgate's own cost per message, in one process
// with no sockets and no kernel. Each connection is a real wsgate connection (attachWebSocket on
// an http.Server, a real upgrade request) over an in-memory Duplex whose writes only count
// bytes; the same Duplex under a "raw" handler (echo the chunk, write a prebuilt frame) is the
// floor that Node's stream layer alone costs. The difference is what wsgate adds per message,
// which the socket benchmark (npm run bench) cannot show apart from the kernel and the
// generator's own dynamics. With --baseline, another build of wsgate (its dist/) runs the same
// cases in the same process, in alternation, for before/after figures that a noisy machine
// cannot tell apart in socket runs. For a profile: node --cpu-prof dist-bench/conn-micro.js --only push.
import { createServer, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { join, resolve } from 'node:path';
import * as current from 'wsgate';
import type { WebSocket } from 'wsgate';
import { makeText, maskedFrame, maskFor, pushMessage, pushTemplate, serverFrame, TEXT, CLOSE } from './common';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const CELL_MS = quick ? 40 : 100;
const ROUNDS = quick ? 5 : 15;
// The JIT settles only after a few hundred thousand messages (32 B echo: 2.3 µs per message
// after 200 ms, 0.96 µs after 500 ms).
const WARMUP_MS = 500;
const MAX_ITERATIONS = 1e7;
const baselineDir = argv.includes('--baseline') ? argv[argv.indexOf('--baseline') + 1] : null;
type Library = typeof current;
const libraries: [string, Library][] = [['wsgate', current]];
// eslint-disable-next-line @typescript-eslint/no-require-imports
if (baselineDir) libraries.push(['wsgate@base', require(join(resolve(baselineDir), 'index.js')) as Library]);

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

type Handler = (s: WebSocket) => void;

/** A wsgate endpoint on an http.Server that never listens: upgrades are emitted by hand. */
function gateServer(lib: Library, handler: Handler) {
  const server = createServer();
  lib.attachWebSocket(server, handler, { heartbeat: false });
  let n = 0;
  return (): MemorySocket => {
    const socket = new MemorySocket();
    const req = {
      method: 'GET',
      httpVersion: '1.1',
      url: '/',
      headers: {
        host: '127.0.0.1',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.from(`conn-micro-${String(++n).padStart(5, '0')}`).toString('base64'),
      },
      socket,
    } as unknown as IncomingMessage;
    server.emit('upgrade', req, socket, Buffer.alloc(0));
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
  /** The same work for a wsgate build, or (null) for the raw stream. */
  side(lib: Library | null): Promise<Side>;
}

/** Echo: chunks of `perChunk` masked text frames of `size` bytes, answered by the same socket. */
function echo(size: number, mix: 'mixed' | 'ascii', perChunk: number): Case {
  const texts = Array.from({ length: 64 }, (_, v) => makeText(size, mix, v));
  const chunks = Array.from({ length: 64 }, (_, c) =>
    Buffer.concat(Array.from({ length: perChunk }, (_, k) => maskedFrame(TEXT, texts[(c + k) % 64], maskFor(c * perChunk + k)))),
  );
  const payload = texts.reduce((n, t) => n + t.length, 0) / 64;
  return {
    unit: perChunk,
    async side(lib) {
      let messages = 0;
      const socket = lib
        ? gateServer(lib, (s) =>
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
          const i = fed++ & 63;
          copies[i].set(chunks[i]);
          bytes += copies[i].length;
          socket.push(copies[i]);
        },
        check() {
          // Every message handled at once and answered, nothing left waiting in a stream buffer.
          if (socket.readableLength > 0) throw new Error('echo: a chunk waited in the stream');
          if (!lib && socket.written !== bytes) throw new Error('echo: raw did not echo every chunk at once');
          if (lib && messages !== fed * perChunk) throw new Error(`echo: ${messages} of ${fed * perChunk} messages handled`);
          if (lib && socket.written < fed * perChunk * payload * 0.99) throw new Error('echo: wsgate did not write every answer');
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
      const sockets: WebSocket[] = [];
      const open = lib ? gateServer(lib, (s) => void sockets.push(s)) : () => new MemorySocket();
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
  const sides = [...(await Promise.all(libraries.map(([, lib]) => c.side(lib)))), await c.side(null)];
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
    ['push 100 B to 1,000 sockets', push(1000)],
  ];
  console.log(`Node ${process.versions.node}, best of ${ROUNDS} slices of ${CELL_MS} ms each (ns per message, lower is better)\n`);
  const names = libraries.map(([name]) => name);
  const extra = baselineDir ? ' | wsgate / base |' : ' |';
  console.log(`| case | ${names.join(' | ')} | raw stream | wsgate - raw${extra}`);
  console.log(`|---|${names.map(() => '---:|').join('')}---:|---:|${baselineDir ? '---:|' : ''}`);
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null;
  for (const [name, c] of cells) {
    if (only !== null && !name.includes(only)) continue;
    const best = await measure(c);
    const raw = best[best.length - 1];
    const ratio = baselineDir ? ` | ${(best[0] / best[1]).toFixed(2)} |` : ' |';
    console.log(`| ${name} | ${best.map((x) => x.toFixed(0)).join(' | ')} | ${(best[0] - raw).toFixed(0)}${ratio}`);
  }
}

void main();

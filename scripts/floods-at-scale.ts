// Floods at full scale: `npm run security:scale [-- --only a,b,c,d (or ids: d6,d9)
// --handshakes 10000 --stalls 10000 --fragments 1000000 --empty 1000000 --pings 1000000
// --bombs 10000 --pause-seconds 5 --timeout 900 --ts-node]` (npx ts-node --transpile-only
// scripts/floods-at-scale.ts works too; the npm script raises `ulimit -n` first, up to the
// hard limit). FLOODS_CPU_PROF=<dir> writes a CPU profile of each server process.
//
// The wsgate server runs in its own child process (a fresh one per scenario), so its CPU
// (process.cpuUsage) and memory (process.memoryUsage, sampled every 100 ms for the peak) are
// its own and not the clients'; it reports them over IPC. The server runs wsgate's src/ as it
// is now, transpiled into dist-floods/ (gitignored, removed afterwards) so that no TypeScript
// compiler sits in its memory (--ts-node: under ts-node instead). The clients run in this process,
// all from 127.0.0.1 to 127.0.0.1. Every loop is bounded in count and in time; every child is
// stopped by its PID. Prints a table and writes JSON to bench/results/ (gitignored).
//
//   (a) N handshakes from one address, no limits: all 101; server CPU per handshake, RSS after
//   (b) the same with perClient { handshakes: 100, window: 60000 }: exactly 100 × 101, the rest
//       429 with Retry-After; server CPU per refusal
//   (c) N connections that each send half a frame and stall: server memory per stalled
//       connection, an echo round trip while they are held, all ended by a short heartbeat
//       (2000 + 2000 ms) with 1006, memory after
//   (d) floods on one socket: 1-byte fragments of one message, empty frames, ping floods with
//       and without rateLimit, tiny compressed frames that each inflate to maxPayload
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as zlib from 'node:zlib';

const KiB = 1024;
const MiB = 1024 * 1024;
const CHILD_EXEC_ARGV = ['-r', 'ts-node/register/transpile-only', '--expose-gc'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}
function argText(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : String(process.argv[i + 1]);
}

// ---- server process ---------------------------------------------------------------------

interface Measure {
  /** user + system CPU of the server process since it started, in ms (read before any GC). */
  cpuMs: number;
  /** The same split: user and system (kernel) CPU, ms. */
  userMs: number;
  systemMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Highest RSS sampled (every 100 ms) since the last reset. */
  peakRss: number;
  clients: number;
  messages: number;
  bytes: number;
  lastLength: number;
  /** Server-side 'close' events by code. */
  closes: Record<string, number>;
  errors: number;
  firstError: string;
  stats: Record<string, unknown>;
}

/**
 * The server. Self-contained (only `require` and `process`), because it also runs as
 * `node -e "(<this function's source>)()"` on the built dist/, without ts-node's TypeScript
 * compiler in the measured process.
 */
function runServer(): void {
  const http = require('node:http') as typeof import('node:http');
  const { attachWebSocket } = require(process.env.FLOODS_WSGATE!) as typeof import('../src');
  const options = JSON.parse(process.env.FLOODS_OPTIONS ?? '{}') as Record<string, unknown>;
  const server = http.createServer((_req, res) => res.end('http ok'));
  let messages = 0;
  let bytes = 0;
  let lastLength = 0;
  let errors = 0;
  let firstError = '';
  const closes: Record<string, number> = {};
  const noteError = (err: unknown) => {
    if (errors++ === 0) firstError = String(err);
  };
  server.on('clientError', (_err, socket) => socket.destroy());
  const endpoint = attachWebSocket(
    server,
    (ws) => {
      ws.on('message', (data) => {
        messages++;
        const length = typeof data === 'string' ? Buffer.byteLength(data) : (data as Buffer).length;
        bytes += length;
        lastLength = length;
        if (data === 'echo?') ws.send('echo!');
      });
      ws.on('close', (code) => {
        closes[code] = (closes[code] ?? 0) + 1;
      });
    },
    { onError: noteError, ...options },
  );
  let peakRss = process.memoryUsage.rss();
  setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100).unref();

  const measure = (gc: boolean): Measure => {
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (gc) for (let i = 0; i < 3; i++) global.gc!();
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    return {
      cpuMs,
      userMs: cpu.user / 1000,
      systemMs: cpu.system / 1000,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      peakRss,
      clients: endpoint.clients.size,
      messages,
      bytes,
      lastLength,
      closes: { ...closes },
      errors,
      firstError,
      stats: endpoint.stats() as unknown as Record<string, unknown>,
    };
  };
  process.on('message', (msg: { cmd: string; gc?: boolean }) => {
    if (msg.cmd === 'measure') process.send!({ type: 'measure', measure: measure(msg.gc ?? false) });
    else if (msg.cmd === 'resetPeak') {
      peakRss = process.memoryUsage.rss();
      process.send!({ type: 'resetPeak' });
    } else if (msg.cmd === 'exit') process.exit(0);
  });
  process.on('disconnect', () => process.exit(0)); // the coordinator went away
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    process.send!({ type: 'ready', port: (server.address() as { port: number }).port });
  });
}

// ---- coordinator: the server handle --------------------------------------------------------

interface ServerHandle {
  child: ChildProcess;
  pid: number;
  port: number;
  measure(gc?: boolean): Promise<Measure>;
  resetPeak(): Promise<void>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();

function next<T>(child: ChildProcess, type: string, ms = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`timed out waiting for "${type}" from pid ${child.pid}`));
    }, ms);
    const onMessage = (msg: { type: string }) => {
      if (msg.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg as T);
    };
    child.on('message', onMessage);
  });
}

const ROOT = path.join(__dirname, '..');

/**
 * Transpiles src/ as it is now (as ts-node --transpile-only would) into dist-floods/
 * (gitignored), so that the measured server process runs plain JavaScript: no TypeScript
 * compiler in its memory, and no dependence on whether dist/ was rebuilt.
 */
function transpileSource(): string {
  const ts = require('typescript') as typeof import('typescript');
  const out = path.join(ROOT, 'dist-floods');
  fs.rmSync(out, { recursive: true, force: true });
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const { outputText } = ts.transpileModule(fs.readFileSync(full, 'utf8'), {
          fileName: full,
          compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true },
        });
        const dest = path.join(out, path.relative(ROOT, full)).replace(/\.ts$/, '.js');
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.writeFileSync(dest, outputText);
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  return path.join(out, 'src', 'index.js');
}
let entry = { file: '', built: true };

async function startServer(options: Record<string, unknown>): Promise<ServerHandle> {
  const env = { ...process.env, FLOODS_OPTIONS: JSON.stringify(options), FLOODS_WSGATE: entry.file };
  const child = entry.built
    ? spawn(
        process.execPath,
        // FLOODS_CPU_PROF=<dir>: a V8 CPU profile of each server process, written there on exit.
        [...(process.env.FLOODS_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.FLOODS_CPU_PROF] : []), '--expose-gc', '-e', `(${runServer.toString()})()`],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env },
      )
    : fork(__filename, ['server'], { execArgv: CHILD_EXEC_ARGV, env });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => children.delete(child));
  const { port } = await next<{ port: number }>(child, 'ready');
  const pid = child.pid!;
  const handle: ServerHandle = {
    child,
    pid,
    port,
    async measure(gc = false) {
      child.send({ cmd: 'measure', gc });
      return (await next<{ measure: Measure }>(child, 'measure', 30_000)).measure;
    },
    async resetPeak() {
      child.send({ cmd: 'resetPeak' });
      await next(child, 'resetPeak', 30_000);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        child.send({ cmd: 'exit' });
      } catch {
        /* channel already closed */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  await sleep(300); // let startup garbage settle before the baseline
  return handle;
}

// ---- coordinator: clients ----------------------------------------------------------------

function handshakeHead(port: number, extra: Record<string, string> = {}): string {
  let text =
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n`;
  for (const [k, v] of Object.entries(extra)) text += `${k}: ${v}\r\n`;
  return `${text}\r\n`;
}

/** One masked client frame (a fixed random mask per call). */
function frame(opcode: number, payload: Buffer = Buffer.alloc(0), fin = true, rsv = 0): Buffer {
  const length = payload.length;
  const ext = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const out = Buffer.alloc(2 + ext + 4 + length);
  out[0] = (fin ? 0x80 : 0) | rsv | opcode;
  out[1] = 0x80 | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(length, 2);
  if (ext === 8) out.writeBigUInt64BE(BigInt(length), 2);
  const mask = randomBytes(4);
  mask.copy(out, 2 + ext);
  for (let i = 0; i < length; i++) out[2 + ext + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

const repeat = (buf: Buffer, n: number) => Buffer.concat(Array.from({ length: n }, () => buf));

interface HandshakeAnswer {
  status: number;
  retryAfter: string | undefined;
  /** The server ended the connection. */
  closed: boolean;
}

/** A handshake on a fresh connection: a 101 is destroyed as soon as its head is here; any other answer is read until the server closes. */
function handshakeOnce(port: number, ms = 10_000): Promise<HandshakeAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
    let raw = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const end = raw.indexOf('\r\n\r\n');
      const headText = end === -1 ? '' : raw.subarray(0, end).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(headText);
      const ra = /\r\nretry-after:\s*([^\r\n]*)/i.exec(headText);
      resolve({ status: m ? Number(m[1]) : 0, retryAfter: ra?.[1], closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('connect', () => socket.write(handshakeHead(port)));
    socket.on('data', (chunk: Buffer) => {
      raw = Buffer.concat([raw, chunk]);
      if (raw.subarray(0, 12).toString('latin1') === 'HTTP/1.1 101' && raw.includes('\r\n\r\n')) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** Runs `count` tasks, at most `concurrency` at a time. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < count) {
      const i = nextIndex++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

/** A lean raw WebSocket client: parses the server's frames incrementally, keeps only counts. */
class Conn {
  head = false;
  private pending = Buffer.alloc(0);
  pongs = 0;
  texts: string[] = [];
  closeCode: number | null = null;
  closeReason = '';
  closed = false;
  /** Answer the server's pings (the heartbeat) while true. */
  autoPong = true;
  private onText: ((text: string) => void) | null = null;

  private constructor(readonly socket: net.Socket) {}

  static open(port: number, headers: Record<string, string> = {}, ms = 10_000): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
      const c = new Conn(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('handshake timed out'));
      }, ms);
      socket.setNoDelay(true);
      socket.on('connect', () => socket.write(handshakeHead(port, headers)));
      socket.on('data', (chunk: Buffer) => {
        try {
          if (c.feed(chunk)) {
            clearTimeout(timer);
            resolve(c);
          }
        } catch (err) {
          clearTimeout(timer);
          socket.destroy();
          reject(err);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        c.closed = true;
        clearTimeout(timer);
        reject(new Error('closed before the 101'));
      });
    });
  }

  /** Returns true once the 101 head has been read. */
  private feed(chunk: Buffer): boolean {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.head) {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        this.pending = Buffer.from(data);
        return false;
      }
      const status = data.subarray(0, 12).toString('latin1');
      if (status !== 'HTTP/1.1 101') throw new Error(`refused: ${data.subarray(0, 40).toString('latin1')}`);
      this.head = true;
      data = data.subarray(end + 4);
    }
    let at = 0;
    for (;;) {
      if (data.length - at < 2) break;
      const b0 = data[at];
      let len = data[at + 1] & 0x7f;
      let p = at + 2;
      if (len === 126) {
        if (data.length - at < 4) break;
        len = data.readUInt16BE(p);
        p += 2;
      } else if (len === 127) {
        if (data.length - at < 10) break;
        len = Number(data.readBigUInt64BE(p));
        p += 8;
      }
      if (data.length - p < len) break;
      const opcode = b0 & 0x0f;
      if (opcode === 0xa) this.pongs++;
      else if (opcode === 0x9) {
        if (this.autoPong) this.socket.write(frame(0xa, Buffer.from(data.subarray(p, p + len))));
      } else if (opcode === 0x1) {
        const text = data.subarray(p, p + len).toString();
        if (this.onText) this.onText(text);
        else if (this.texts.length < 100) this.texts.push(text);
      } else if (opcode === 0x8) {
        this.closeCode = len >= 2 ? data.readUInt16BE(p) : 1005;
        this.closeReason = data.subarray(p + 2, p + len).toString();
      }
      at = p + len;
    }
    this.pending = at === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(at));
    return true;
  }

  waitText(ms: number): Promise<string | null> {
    return new Promise((resolve) => {
      if (this.texts.length > 0) return resolve(this.texts.shift()!);
      const timer = setTimeout(() => {
        this.onText = null;
        resolve(null);
      }, ms);
      this.onText = (text) => {
        clearTimeout(timer);
        this.onText = null;
        resolve(text);
      };
    });
  }

  waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens a new client, sends 'echo?', waits for 'echo!': the round trip in ms, or null. */
async function echoRoundTrip(port: number, ms = 10_000): Promise<number | null> {
  const started = process.hrtime.bigint();
  let c: Conn | null = null;
  try {
    c = await Conn.open(port, {}, ms);
    c.socket.write(frame(0x1, Buffer.from('echo?')));
    const reply = await c.waitText(ms);
    if (reply !== 'echo!') return null;
    return Number(process.hrtime.bigint() - started) / 1e6;
  } catch {
    return null;
  } finally {
    c?.destroy();
  }
}

/**
 * Writes `batch` until `total` frames (of `perBatch` each) went out, the socket closed, or the
 * deadline passed; waits for 'drain' (bounded) between writes. Returns how many frames went out.
 */
async function pump(socket: net.Socket, total: number, batch: Buffer, perBatch: number, deadline: number): Promise<number> {
  let sent = 0;
  while (sent < total && !socket.destroyed && Date.now() < deadline) {
    const n = Math.min(perBatch, total - sent);
    const chunk = n === perBatch ? batch : batch.subarray(0, (batch.length / perBatch) * n);
    const ok = socket.write(chunk);
    sent += n;
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
        socket.once('drain', done);
        socket.once('close', done);
      });
    }
  }
  return sent;
}

/** Polls the server until `cond` holds or `ms` passed; returns the last measure and whether it held. */
async function serverUntil(s: ServerHandle, cond: (m: Measure) => boolean, ms: number, every = 50): Promise<{ m: Measure; ok: boolean }> {
  const end = Date.now() + ms;
  for (;;) {
    const m = await s.measure(false);
    if (cond(m)) return { m, ok: true };
    if (Date.now() > end) return { m, ok: false };
    await sleep(every);
  }
}

// ---- results --------------------------------------------------------------------------------

interface Row {
  id: string;
  scenario: string;
  outcome: string;
  figure: string;
  pass: boolean;
  data: Record<string, unknown>;
}
const rows: Row[] = [];
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
const kib = (b: number) => `${(b / KiB).toFixed(1)} KiB`;
const n0 = (x: number) => Math.round(x).toLocaleString('en-US');

function record(row: Row): void {
  rows.push(row);
  console.log(`  ${row.pass ? 'ok  ' : 'FAIL'} ${row.id} ${row.scenario}\n       ${row.outcome}\n       ${row.figure}`);
}

function memData(m: Measure) {
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external, peakRss: m.peakRss };
}

// ---- scenarios ----------------------------------------------------------------------------

async function scenarioA(count: number): Promise<void> {
  const s = await startServer({});
  try {
    const base = await s.measure(true);
    await s.resetPeak();
    const t0 = Date.now();
    const answers = await pool(count, 64, () => handshakeOnce(s.port));
    const wall = Date.now() - t0;
    const { m: end } = await serverUntil(s, (m) => m.clients === 0, 20_000);
    const after = await s.measure(true);
    const ok = answers.filter((a) => a.status === 101).length;
    const cpu = end.cpuMs - base.cpuMs;
    record({
      id: 'a',
      scenario: `${n0(count)} handshakes from one address, no limits (64 at a time)`,
      outcome: `${n0(ok)} × 101 of ${n0(count)}; server errors ${after.errors}; open after ${after.clients}`,
      figure:
        `server CPU ${n0(cpu)} ms = ${(cpu / count).toFixed(3)} ms per handshake; ${n0(count / (wall / 1000))}/s wall; ` +
        `RSS ${mib(base.rss)} before, peak ${mib(after.peakRss)}, ${mib(after.rss)} after (GC), heap ${mib(base.heapUsed)} → ${mib(after.heapUsed)}`,
      pass: ok === count && after.errors === 0 && after.clients === 0,
      data: { count, accepted: ok, wallMs: wall, serverCpuMs: cpu, cpuPerHandshakeMs: cpu / count, before: memData(base), after: memData(after), stats: after.stats },
    });
  } finally {
    await s.stop();
  }
}

async function scenarioB(count: number): Promise<void> {
  const limit = 100;
  const s = await startServer({ perClient: { handshakes: limit, window: 60_000 } });
  try {
    // The limiter is a sliding-window counter over fixed windows aligned to Date.now() (the
    // current window's count plus the previous one's, weighted by its overlap). "Exactly
    // `handshakes` accepted" holds for a flood inside one fixed window, so start just after a
    // boundary (waiting up to a window), and report whether the flood crossed the next one.
    const w = 60_000;
    const into = Date.now() % w;
    if (into > 1000) {
      console.log(`       (b waits ${((w - into) / 1000).toFixed(0)} s for the next ${w / 1000} s window boundary)`);
      await sleep(w - into + 100);
    }
    const base = await s.measure(true);
    await s.resetPeak();
    const tFirst = Date.now();
    const first = await pool(limit, 32, () => handshakeOnce(s.port));
    const mid = await s.measure(false);
    const t0 = Date.now();
    const rest = await pool(count - limit, 64, () => handshakeOnce(s.port));
    const wall = Date.now() - t0;
    const tLast = Date.now();
    const crossed = Math.floor(tFirst / w) !== Math.floor(tLast / w);
    const end = await s.measure(false);
    const after = await s.measure(true);
    // Again once every per-request timer (verifyTimeout, 10 s by default) has had time to fire.
    await sleep(11_000);
    const later = await s.measure(true);
    const all = [...first, ...rest];
    const ok = all.filter((a) => a.status === 101).length;
    const refused = all.filter((a) => a.status === 429);
    const withRetry = refused.filter((a) => Number(a.retryAfter) >= 1).length;
    const refusedClosed = refused.filter((a) => a.closed).length;
    const stats = after.stats as { rejected: Record<string, number>; refusedBy: Record<string, number> };
    const cpuRefusals = end.cpuMs - mid.cpuMs;
    const cpuAccepted = mid.cpuMs - base.cpuMs;
    const nRefused = count - limit;
    record({
      id: 'b',
      scenario: `${n0(count)} handshakes from one address, perClient { handshakes: ${limit}, window: 60000 }`,
      outcome:
        `${ok} × 101, ${n0(refused.length)} × 429 (${n0(withRetry)} with Retry-After ≥ 1, ${n0(refusedClosed)} closed by the server) ` +
        `in ${((tLast - tFirst) / 1000).toFixed(1)} s, ${crossed ? 'CROSSING a fixed window boundary' : 'within one fixed window'}; ` +
        `stats.rejected[429] ${stats.rejected?.['429'] ?? 0}, refusedBy.perClient ${stats.refusedBy?.perClient ?? 0}`,
      figure:
        `server CPU ${n0(cpuRefusals)} ms for the ${n0(nRefused)} refusals = ${(cpuRefusals / nRefused).toFixed(3)} ms per refusal ` +
        `(the first ${limit} accepted: ${(cpuAccepted / limit).toFixed(3)} ms each); ${n0(nRefused / (wall / 1000))} refusals/s wall; ` +
        `RSS peak ${mib(after.peakRss)}, ${mib(after.rss)} after (GC); JS heap after GC ${mib(base.heapUsed)} → ${mib(after.heapUsed)} at once, ${mib(later.heapUsed)} 11 s later`,
      pass:
        ok === limit &&
        refused.length === nRefused &&
        withRetry === nRefused &&
        refusedClosed === nRefused &&
        stats.rejected?.['429'] === nRefused &&
        after.errors === 0,
      data: {
        count,
        accepted: ok,
        refused: refused.length,
        withRetryAfter: withRetry,
        refusedClosed,
        serverCpuRefusalsMs: cpuRefusals,
        cpuPerRefusalMs: cpuRefusals / nRefused,
        cpuPerAcceptedMs: cpuAccepted / limit,
        wallMs: wall,
        spanMs: tLast - tFirst,
        crossedWindowBoundary: crossed,
        before: memData(base),
        after: memData(after),
        later: memData(later),
        stats: after.stats,
      },
    });
  } finally {
    await s.stop();
  }
}

interface Wave {
  failed: number;
  openMs: number;
  open: Measure;
  held: Measure;
  echoMs: number | null;
  endedMs: number;
  stillOpen: number;
  after: Measure;
}

/** Opens `count` connections (answering the heartbeat meanwhile), then all stall at once on half a frame. */
async function stallWave(s: ServerHandle, count: number, heartbeat: { interval: number; timeout: number }): Promise<Wave> {
  const conns: Conn[] = [];
  try {
    const t0 = Date.now();
    let failed = 0;
    await pool(count, 64, async () => {
      try {
        conns.push(await Conn.open(s.port));
      } catch {
        failed++;
      }
    });
    const openMs = Date.now() - t0;
    const open = await s.measure(true);
    // Half a 1000-byte binary frame: the 8-byte header and 499 of the payload bytes.
    const half = frame(0x2, Buffer.alloc(1000, 0x61)).subarray(0, 507);
    const stallAt = Date.now();
    for (const c of conns) {
      c.autoPong = false; // from now on the peer sends nothing more
      c.socket.write(half);
    }
    await sleep(300);
    const held = await s.measure(true);
    const echoMs = await echoRoundTrip(s.port, 5000);
    // Ended by the heartbeat: pinged after `interval` of silence, terminated `timeout` later.
    const deadline = Date.now() + 4 * (heartbeat.interval + heartbeat.timeout) + 10_000;
    while (conns.some((c) => !c.closed) && Date.now() < deadline) await sleep(50);
    const endedMs = Date.now() - stallAt;
    const stillOpen = conns.filter((c) => !c.closed).length;
    await serverUntil(s, (m) => m.clients === 0, 10_000);
    await sleep(1000);
    const after = await s.measure(true);
    return { failed, openMs, open, held, echoMs, endedMs, stillOpen, after };
  } finally {
    for (const c of conns) c.destroy();
  }
}

async function scenarioC(count: number): Promise<void> {
  const heartbeat = { interval: 2000, timeout: 2000 };
  const s = await startServer({ heartbeat });
  try {
    const base = await s.measure(true);
    await s.resetPeak();
    const w1 = await stallWave(s, count, heartbeat);
    // A second wave on the same server: memory freed by the first is reused, not added to.
    const w2 = await stallWave(s, count, heartbeat);
    const after = w2.after;
    const perConnRss = (w1.held.rss - base.rss) / count;
    const perConnJs = (w1.held.heapUsed + w1.held.arrayBuffers - base.heapUsed - base.arrayBuffers) / count;
    const perOpenRss = (w1.open.rss - base.rss) / count;
    const c1006 = after.closes['1006'] ?? 0;
    const expected1006 = 2 * count;
    const wavePass = (v: Wave) => v.failed === 0 && v.held.clients === count && v.echoMs !== null && v.stillOpen === 0;
    record({
      id: 'c',
      scenario: `${n0(count)} connections each sending half a frame and stalling; heartbeat ${heartbeat.interval} + ${heartbeat.timeout} ms; two waves`,
      outcome:
        `${n0(count - w1.failed)} held at once (${w1.failed} failed to open, server saw ${n0(w1.held.clients)}); echo round trip while held: ` +
        `${w1.echoMs === null ? 'FAILED' : `${w1.echoMs.toFixed(1)} ms`}; all ended ${(w1.endedMs / 1000).toFixed(1)} s after stalling ` +
        `(${w1.stillOpen} still open); second wave: ${n0(w2.held.clients)} held, echo ${w2.echoMs === null ? 'FAILED' : `${w2.echoMs.toFixed(1)} ms`}, ` +
        `all ended in ${(w2.endedMs / 1000).toFixed(1)} s; server closes with 1006: ${n0(c1006)} (of ${n0(expected1006)} stalled, + the echo clients)`,
      figure:
        `server RSS ${mib(base.rss)} → ${mib(w1.held.rss)} held = ${kib(perConnRss)} per stalled connection ` +
        `(JS heap + buffers ${kib(perConnJs)}; ${kib(perOpenRss)} RSS per open idle one before stalling); after the heartbeat: ` +
        `heap ${mib(base.heapUsed)} → ${mib(w1.after.heapUsed)}, buffers ${mib(base.arrayBuffers)} → ${mib(w1.after.arrayBuffers)}, RSS ${mib(w1.after.rss)}; ` +
        `second wave held RSS ${mib(w2.held.rss)}, after: RSS ${mib(w2.after.rss)}, heap ${mib(w2.after.heapUsed)}; ${n0(count / (w1.openMs / 1000))} opened/s`,
      pass:
        wavePass(w1) &&
        wavePass(w2) &&
        c1006 >= expected1006 &&
        after.clients === 0 &&
        after.heapUsed - base.heapUsed < 16 * MiB &&
        w2.held.rss < w1.held.rss + 32 * MiB,
      data: {
        count,
        heartbeat,
        closes: after.closes,
        perStalledConnRssBytes: perConnRss,
        perStalledConnHeapBuffersBytes: perConnJs,
        perOpenConnRssBytes: perOpenRss,
        before: memData(base),
        waves: [w1, w2].map((v) => ({
          failed: v.failed,
          openMs: v.openMs,
          heldByServer: v.held.clients,
          echoRoundTripMs: v.echoMs,
          endedMsAfterStall: v.endedMs,
          stillOpen: v.stillOpen,
          openIdle: memData(v.open),
          held: memData(v.held),
          after: memData(v.after),
        })),
        stats: after.stats,
      },
    });
  } finally {
    await s.stop();
  }
}

async function fragments(count: number): Promise<void> {
  const s = await startServer({ heartbeat: false }); // maxPayload: the 1 MiB default
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port);
    const base = await s.measure(true);
    await s.resetPeak();
    const perBatch = 10_000;
    const middle = repeat(frame(0x0, Buffer.from([0x61]), false), perBatch);
    const t0 = Date.now();
    c.socket.write(frame(0x2, Buffer.from([0x61]), false));
    await pump(c.socket, count - 2, middle, perBatch, Date.now() + 180_000);
    c.socket.write(frame(0x0, Buffer.from([0x61]), true));
    const { m: end, ok } = await serverUntil(s, (m) => m.messages >= 1, 180_000);
    const wall = Date.now() - t0;
    const after = await s.measure(true);
    const echoMs = await echoRoundTrip(s.port);
    const cpu = end.cpuMs - base.cpuMs;
    record({
      id: 'd1',
      scenario: `${n0(count)} one-byte fragments of one message (maxPayload 1 MiB, the default)`,
      outcome: `${ok ? `delivered as one message of ${n0(end.lastLength)} bytes` : 'NOT delivered in time'}; echo after: ${echoMs === null ? 'FAILED' : 'ok'}`,
      figure:
        `server CPU ${n0(cpu)} ms = ${((cpu * 1000) / count).toFixed(2)} µs per fragment, ${(wall / 1000).toFixed(1)} s wall; ` +
        `RSS ${mib(base.rss)} → peak ${mib(after.peakRss)}; buffers after GC ${mib(base.arrayBuffers)} → ${mib(after.arrayBuffers)}`,
      pass: ok && end.lastLength === count && echoMs !== null && after.arrayBuffers - base.arrayBuffers < 8 * MiB,
      data: { count, delivered: ok, length: end.lastLength, serverCpuMs: cpu, wallMs: wall, before: memData(base), after: memData(after) },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

async function emptyFrames(count: number): Promise<void> {
  const s = await startServer({ heartbeat: false });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port);
    const base = await s.measure(true);
    await s.resetPeak();
    const perBatch = 10_000;
    const batch = repeat(frame(0x2), perBatch);
    const t0 = Date.now();
    await pump(c.socket, count, batch, perBatch, Date.now() + 120_000);
    const { m: end, ok } = await serverUntil(s, (m) => m.messages >= count, 120_000);
    const wall = Date.now() - t0;
    const after = await s.measure(true);
    const echoMs = await echoRoundTrip(s.port);
    const cpu = end.cpuMs - base.cpuMs;
    record({
      id: 'd2',
      scenario: `${n0(count)} empty binary frames on one socket`,
      outcome: `${n0(end.messages)} delivered${ok ? '' : ' (NOT all in time)'}; echo after: ${echoMs === null ? 'FAILED' : 'ok'}`,
      figure:
        `server CPU ${n0(cpu)} ms = ${((cpu * 1000) / count).toFixed(2)} µs per frame, ${(wall / 1000).toFixed(1)} s wall; ` +
        `RSS ${mib(base.rss)} → peak ${mib(after.peakRss)}; heap after GC ${mib(base.heapUsed)} → ${mib(after.heapUsed)}, buffers ${mib(base.arrayBuffers)} → ${mib(after.arrayBuffers)}`,
      pass: ok && echoMs !== null && after.arrayBuffers - base.arrayBuffers < 4 * MiB && after.heapUsed - base.heapUsed < 8 * MiB,
      data: { count, delivered: end.messages, serverCpuMs: cpu, wallMs: wall, before: memData(base), after: memData(after) },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

async function pingFloodUnlimited(count: number): Promise<void> {
  const s = await startServer({ heartbeat: false });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port);
    const base = await s.measure(true);
    await s.resetPeak();
    const perBatch = 10_000;
    const batch = repeat(frame(0x9, Buffer.from('p')), perBatch);
    const t0 = Date.now();
    await pump(c.socket, count, batch, perBatch, Date.now() + 120_000);
    const deadline = Date.now() + 60_000;
    while (c.pongs < count && !c.closed && Date.now() < deadline) await sleep(20);
    const wall = Date.now() - t0;
    const end = await s.measure(false);
    const after = await s.measure(true);
    const cpu = end.cpuMs - base.cpuMs;
    record({
      id: 'd3',
      scenario: `ping flood, no rateLimit: ${n0(count)} pings on one socket, the client reading`,
      outcome: `${n0(c.pongs)} pongs (every ping answered), socket ${c.closed ? 'closed' : 'open'}`,
      figure:
        `server CPU ${n0(cpu)} ms = ${((cpu * 1000) / count).toFixed(2)} µs per ping, ${(wall / 1000).toFixed(1)} s wall; ` +
        `RSS ${mib(base.rss)} → peak ${mib(after.peakRss)}; buffers after GC ${mib(base.arrayBuffers)} → ${mib(after.arrayBuffers)}`,
      pass: c.pongs === count && !c.closed,
      data: { count, pongs: c.pongs, serverCpuMs: cpu, wallMs: wall, before: memData(base), after: memData(after) },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

async function pingFloodNotReading(count: number): Promise<void> {
  const s = await startServer({ heartbeat: false });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port);
    c.socket.pause(); // never read the pongs
    const base = await s.measure(true);
    await s.resetPeak();
    const perBatch = 1000;
    const batch = repeat(frame(0x9, Buffer.alloc(125, 0x70)), perBatch);
    const t0 = Date.now();
    const deadline = Date.now() + 60_000;
    let sent = 0;
    // Pump in slices, stopping once the server closed the connection (its stats say why).
    let closedBy: Record<string, number> = {};
    while (sent < count && Date.now() < deadline && !c.socket.destroyed) {
      sent += await pump(c.socket, Math.min(50_000, count - sent), batch, perBatch, Math.min(deadline, Date.now() + 5000));
      const m = await s.measure(false);
      closedBy = (m.stats.closedBy ?? {}) as Record<string, number>;
      if (m.clients === 0) break;
    }
    const wall = Date.now() - t0;
    const end = await s.measure(false);
    const after = await s.measure(true);
    const cpu = end.cpuMs - base.cpuMs;
    closedBy = (end.stats.closedBy ?? {}) as Record<string, number>;
    const stillOpen = end.clients > 0;
    record({
      id: 'd4',
      scenario: `ping flood, no rateLimit, the client never reading: 125-byte pings until the server acts (≤ ${n0(count)}, ≤ 60 s)`,
      outcome: stillOpen
        ? `after ${n0(sent)} pings written in ${(wall / 1000).toFixed(1)} s the socket is still open (server stopped reading: TCP pushes back)`
        : `server closed it after ${n0(sent)} pings written; server close codes ${JSON.stringify(end.closes)}, closedBy.backpressure ${closedBy.backpressure ?? 0}`,
      figure:
        `server CPU ${n0(cpu)} ms; RSS ${mib(base.rss)} → peak ${mib(end.peakRss)} (maxBackpressure 16 MiB, the default); ` +
        `after GC RSS ${mib(after.rss)}, buffers ${mib(after.arrayBuffers)}`,
      pass: end.peakRss - base.rss < 96 * MiB && (stillOpen || (end.closes['1008'] ?? 0) === 1),
      data: { sent, wallMs: wall, stillOpen, closes: end.closes, closedBy, serverCpuMs: cpu, before: memData(base), end: memData(end), after: memData(after) },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

async function pingFloodRateClose(count: number): Promise<void> {
  const s = await startServer({ heartbeat: false, rateLimit: { messages: 100, window: 1000, action: 'close' } });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port);
    const base = await s.measure(true);
    const perBatch = 1000;
    const batch = repeat(frame(0x9, Buffer.from('p')), perBatch);
    const t0 = Date.now();
    const sent = await pump(c.socket, count, batch, perBatch, Date.now() + 30_000);
    const closed = await c.waitClosed(10_000);
    const wall = Date.now() - t0;
    const { m: end } = await serverUntil(s, (m) => m.clients === 0, 5000);
    const cpu = end.cpuMs - base.cpuMs;
    const echoMs = await echoRoundTrip(s.port);
    record({
      id: 'd5',
      scenario: `ping flood with rateLimit { messages: 100, window: 1000, action: 'close' }: ${n0(count)} pings written`,
      outcome:
        `${c.pongs} pongs, then close ${c.closeCode} '${c.closeReason}' (${closed ? 'TCP closed' : 'TCP NOT closed'}); ` +
        `closedBy.rateLimit ${(end.stats.closedBy as Record<string, number>)?.rateLimit ?? 0}; echo after: ${echoMs === null ? 'FAILED' : 'ok'}`,
      figure: `server CPU ${n0(cpu)} ms for the whole flood (${n0(sent)} pings written, most never read), ${(wall / 1000).toFixed(2)} s wall`,
      pass: c.pongs <= 101 && c.closeCode === 1008 && c.closeReason === 'rate limit exceeded' && closed && echoMs !== null,
      data: { count, sent, pongs: c.pongs, closeCode: c.closeCode, closeReason: c.closeReason, serverCpuMs: cpu, wallMs: wall, closes: end.closes },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

/** `payload` bytes per ping: 1 (7 bytes on the wire) or 125 (131 bytes, what fills a socket fastest). */
async function pingFloodRatePause(count: number, seconds: number, payload: number, id: string): Promise<void> {
  const s = await startServer({ heartbeat: false, rateLimit: { messages: 100, window: 1000, action: 'pause' } });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port);
    const base = await s.measure(true);
    await s.resetPeak();
    const perBatch = 1000;
    const batch = repeat(frame(0x9, Buffer.alloc(payload, 0x70)), perBatch);
    const t0 = Date.now();
    // The writes block once TCP pushes back; the pump gives up at the deadline.
    const pumping = pump(c.socket, count, batch, perBatch, t0 + seconds * 1000);
    await sleep(1000); // the burst and the first second
    const steady = await s.measure(false);
    const steadyPongs = c.pongs;
    await sleep(Math.max(0, t0 + seconds * 1000 - Date.now()));
    const pongs = c.pongs;
    const end = await s.measure(false);
    const steadySeconds = (Date.now() - t0) / 1000 - 1;
    const steadyCpuPerSecond = (end.cpuMs - steady.cpuMs) / steadySeconds;
    const steadyCpuPerPong = (end.cpuMs - steady.cpuMs) / Math.max(1, pongs - steadyPongs);
    const steadySystemShare = (end.systemMs - steady.systemMs) / Math.max(1e-9, end.cpuMs - steady.cpuMs);
    const sent = await pumping;
    // Still connected: what the server holds for this one paused socket (unparsed input included).
    const heldOpen = await s.measure(true);
    const echoMs = await echoRoundTrip(s.port);
    const cpu = end.cpuMs - base.cpuMs;
    const ceiling = 100 + 100 * seconds * 1.5 + 10;
    const heldBytes = heldOpen.arrayBuffers + heldOpen.heapUsed - base.arrayBuffers - base.heapUsed;
    record({
      id,
      scenario: `ping flood (${payload}-byte pings) with rateLimit { messages: 100, window: 1000, action: 'pause' }: up to ${n0(count)} pings offered for ${seconds} s`,
      outcome:
        `${pongs} pongs in ${seconds} s (burst 100 + 100/s: expected ≈ ${100 + 100 * seconds}, asserted ≤ ${ceiling}); socket ${c.closed ? 'CLOSED' : 'open'}; ` +
        `${n0(sent)} pings (${mib(sent * (payload + 6))}) written by the client; echo on another socket: ${echoMs === null ? 'FAILED' : `${echoMs.toFixed(1)} ms`}`,
      figure:
        `server CPU ${n0(cpu)} ms over ${seconds} s; after the first second ${steadyCpuPerSecond.toFixed(1)} ms CPU per second ` +
        `(${steadyCpuPerPong.toFixed(2)} ms per frame let through, ${(steadySystemShare * 100).toFixed(0)}% of it system time); RSS ${mib(base.rss)} → peak ${mib(end.peakRss)}; ` +
        `held for the paused socket after GC (heap + buffers): ${mib(heldBytes)}`,
      pass: pongs >= 100 && pongs <= ceiling && !c.closed && echoMs !== null && heldBytes < 8 * MiB,
      data: { count, seconds, payload, pongs, sent, bytesWritten: sent * (payload + 6), open: !c.closed, serverCpuMs: cpu, steadyCpuMsPerSecond: steadyCpuPerSecond, steadyCpuMsPerPong: steadyCpuPerPong, steadySystemShare, heldBytes, before: memData(base), end: memData(end), heldOpen: memData(heldOpen) },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

function deflateMessage(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

async function compressed(count: number, maxPayload: number, id: string): Promise<void> {
  const s = await startServer({ heartbeat: false, perMessageDeflate: true, maxPayload });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    const base = await s.measure(true);
    await s.resetPeak();
    const bomb = frame(0x2, deflateMessage(Buffer.alloc(maxPayload)), true, 0x40);
    const perBatch = 100;
    const t0 = Date.now();
    await pump(c.socket, count, repeat(bomb, perBatch), perBatch, Date.now() + 180_000);
    const { m: end, ok } = await serverUntil(s, (m) => m.messages >= count || m.clients === 0, 180_000);
    const wall = Date.now() - t0;
    const after = await s.measure(true);
    const echoMs = await echoRoundTrip(s.port);
    const cpu = end.cpuMs - base.cpuMs;
    const inflated = end.bytes;
    record({
      id,
      scenario: `${n0(count)} compressed frames of ${bomb.length} bytes, each inflating to maxPayload (${kib(maxPayload)}), no rateLimit`,
      outcome: `${n0(end.messages)} messages of ${n0(end.lastLength)} bytes delivered${ok && end.messages >= count ? '' : ' (NOT all)'}; echo after: ${echoMs === null ? 'FAILED' : 'ok'}`,
      figure:
        `server CPU ${n0(cpu)} ms = ${(cpu / count).toFixed(3)} ms per frame (${mib(inflated)} inflated, ${(inflated / MiB / (cpu / 1000)).toFixed(0)} MiB/s of CPU), ` +
        `${(wall / 1000).toFixed(1)} s wall; RSS ${mib(base.rss)} → peak ${mib(after.peakRss)}; buffers after GC ${mib(base.arrayBuffers)} → ${mib(after.arrayBuffers)}`,
      pass: end.messages === count && end.lastLength === maxPayload && echoMs !== null && after.arrayBuffers - base.arrayBuffers < 8 * MiB,
      data: { count, maxPayload, frameBytes: bomb.length, delivered: end.messages, serverCpuMs: cpu, wallMs: wall, before: memData(base), after: memData(after) },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

async function compressedRateLimited(count: number): Promise<void> {
  const maxPayload = 64 * KiB;
  const s = await startServer({ heartbeat: false, perMessageDeflate: true, maxPayload, rateLimit: { messages: 50, window: 1000 } });
  let c: Conn | null = null;
  try {
    c = await Conn.open(s.port, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    const base = await s.measure(true);
    const bomb = frame(0x2, deflateMessage(Buffer.alloc(maxPayload)), true, 0x40);
    const perBatch = 100;
    const t0 = Date.now();
    const sent = await pump(c.socket, count, repeat(bomb, perBatch), perBatch, Date.now() + 30_000);
    const closed = await c.waitClosed(10_000);
    const wall = Date.now() - t0;
    const { m: end } = await serverUntil(s, (m) => m.clients === 0, 5000);
    const cpu = end.cpuMs - base.cpuMs;
    // The burst of 50 plus the refill (50/s) while the admitted frames are inflated one by one.
    const allowed = 51 + Math.ceil((wall * 50) / 1000);
    record({
      id: 'd9',
      scenario: `${n0(count)} compressed frames inflating to 64 KiB with rateLimit { messages: 50, window: 1000 }`,
      outcome: `close ${c.closeCode} '${c.closeReason}' after ${end.messages} messages inflated (burst 50 + refill: ≤ ${allowed} allowed; ${closed ? 'TCP closed' : 'TCP NOT closed'})`,
      figure: `server CPU ${n0(cpu)} ms for the whole flood (${n0(sent)} frames written), ${(wall / 1000).toFixed(2)} s wall`,
      pass: c.closeCode === 1008 && end.messages <= allowed && closed,
      data: { count, sent, messages: end.messages, allowed, closeCode: c.closeCode, closeReason: c.closeReason, serverCpuMs: cpu, wallMs: wall },
    });
  } finally {
    c?.destroy();
    await s.stop();
  }
}

// ---- coordinator --------------------------------------------------------------------------

function fdLimit(): number {
  return Number(execFileSync('bash', ['-c', 'ulimit -n']).toString().trim());
}

function killChildren(): void {
  for (const child of children) {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

async function coordinate(): Promise<void> {
  // --only a,b,c,d (d: every flood d1..d9) or single ids such as d6.
  const only = new Set(argText('only', 'a,b,c,d').split(','));
  const want = (id: string) => only.has(id) || (id.startsWith('d') && only.has('d')) || only.has(id.replace(/b$/, ''));
  const handshakes = arg('handshakes', 10_000);
  const stalls = arg('stalls', 10_000);
  const fragmentCount = arg('fragments', 1_000_000);
  const emptyCount = arg('empty', 1_000_000);
  const pingCount = arg('pings', 1_000_000);
  const bombs = arg('bombs', 10_000);
  const limitSeconds = arg('timeout', 900);

  // --ts-node: run the server child under ts-node on src/ instead (its RSS then includes TypeScript).
  entry = process.argv.includes('--ts-node') ? { file: path.join(ROOT, 'src', 'index.ts'), built: false } : { file: transpileSource(), built: true };
  const fds = fdLimit();
  // This process holds every client socket of (c) at once; the server child holds as many.
  if (want('c') && fds < stalls + 500) {
    throw new Error(`open-files limit ${fds} < ${stalls + 500}: run through \`npm run security:scale\` (raises it) or pass --stalls`);
  }
  const watchdog = setTimeout(() => {
    console.error(`floods-at-scale: over ${limitSeconds} s, stopping`);
    killChildren();
    process.exit(2);
  }, limitSeconds * 1000);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killChildren();
      process.exit(130);
    });
  }

  const started = new Date();
  const machine = {
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    memoryMiB: Math.round(os.totalmem() / MiB),
    loadavgStart: os.loadavg(),
    fdLimit: fds,
    wsgate: entry.built ? 'src/ transpiled to dist-floods/ (plain node)' : 'src/ through ts-node',
  };
  console.log(`floods at scale, ${started.toISOString()}, Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), load ${machine.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, ulimit -n ${fds}`);
  console.log(`server in its own process (a fresh one per scenario), wsgate from ${machine.wsgate}: CPU and memory below are the server's alone\n`);

  const run = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      record({ id: name, scenario: name, outcome: `ERROR ${String(err)}`, figure: '', pass: false, data: { error: String(err) } });
    }
  };
  if (want('a')) await run('a', () => scenarioA(handshakes));
  if (want('b')) await run('b', () => scenarioB(handshakes));
  if (want('c')) await run('c', () => scenarioC(stalls));
  if (want('d1')) await run('d1', () => fragments(fragmentCount));
  if (want('d2')) await run('d2', () => emptyFrames(emptyCount));
  if (want('d3')) await run('d3', () => pingFloodUnlimited(pingCount));
  if (want('d4')) await run('d4', () => pingFloodNotReading(1_000_000));
  if (want('d5')) await run('d5', () => pingFloodRateClose(10_000));
  if (want('d6')) await run('d6', () => pingFloodRatePause(100_000, arg('pause-seconds', 5), 1, 'd6'));
  if (want('d6b')) await run('d6b', () => pingFloodRatePause(1_000_000, arg('pause-seconds', 5) * 2, 125, 'd6b'));
  if (want('d7')) await run('d7', () => compressed(bombs, 64 * KiB, 'd7'));
  if (want('d8')) await run('d8', () => compressed(Math.max(1, Math.floor(bombs / 10)), MiB, 'd8'));
  if (want('d9')) await run('d9', () => compressedRateLimited(bombs));

  const finished = new Date();
  console.log('\n| id | scenario | outcome | figure | pass |\n|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.id} | ${r.scenario} | ${r.outcome} | ${r.figure} | ${r.pass ? 'yes' : 'NO'} |`);
  const out = path.join(__dirname, '..', 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `floods-at-scale-node${process.versions.node.split('.')[0]}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  const json = {
    started: started.toISOString(),
    finished: finished.toISOString(),
    machine: { ...machine, loadavgEnd: os.loadavg() },
    note: 'server in its own child process; CPU is process.cpuUsage() (user + system) and memory process.memoryUsage() of the server only; clients in the coordinator on 127.0.0.1',
    rows,
  };
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nwritten ${path.relative(process.cwd(), file)}; ${rows.filter((r) => !r.pass).length} of ${rows.length} rows failed`);
  if (rows.some((r) => !r.pass)) process.exitCode = 1;
  if (entry.built) fs.rmSync(path.join(ROOT, 'dist-floods'), { recursive: true, force: true });
}

if (process.argv[2] === 'server') {
  runServer();
} else {
  coordinate()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => {
      killChildren();
    });
}

// Issue 12's benchmark row: echo over HTTP/2 streams (RFC 8441) next to HTTP/1.1, both TLS,
// against the same server in the same run. `npm run bench:h2 [-- options]`.
//
//   server  http2.createSecureServer({ key, cert, allowHTTP1: true }) with the built wsgate
//           (dist/, by self-reference like the other bench servers) attached on /ws, echoing
//           text and binary. The certificate is made at start with the openssl command line,
//           in a temporary directory that is removed at the end.
//   load    one process, two modes against that server:
//             h2       SESSIONS TLS sessions (node:http2 connect) × STREAMS extended CONNECT
//                      streams each (:method CONNECT, :protocol websocket, :path /ws,
//                      sec-websocket-version 13): many WebSockets on few connections;
//             http1.1  the same number of WebSockets (SESSIONS × STREAMS), each its own TLS
//                      connection (raw tls socket, ALPN http/1.1, the classic Upgrade).
//           Frames are built and masked once up front; every socket keeps K messages in
//           flight; every echo is checked byte for byte (opcode, length, payload) against the
//           frame the server must send back before it counts. The server's own
//           stats().byTransport during the window proves which transport each mode used.
//
// Payloads: 1 KiB text with ~6% multi-byte UTF-8 (makeText 'mixed', as bench scenario 2u) and
// 64 KiB binary. Each round starts a fresh load process and a fresh server process (one per
// server kind with --raw); both modes (order rotated from round to round, as the main bench
// rotates its servers: A B, B A, ...) run one after the other against that same server
// process, each with its own connections, a warm-up and a measuring window. Figures: msg/s and MB/s (payload bytes echoed, one direction, 10^6 bytes) as the
// median with min–max over rounds; the h2/http1.1 ratio of the medians with the range of the
// per-round ratios (both modes of a round ran on the same server process, minutes apart at most).
// Server and load generator are pinned to different CPUs with taskset when there are two.
// Bounded: connects, each window, the drain after it and the whole run have deadlines; every
// child process is stopped by PID. Results: a table, and JSON in bench/results/.
//
// --raw adds a baseline server in each round (fresh process, same TLS and HTTP/2 setup, no
// WebSocket work: streams and sockets piped to themselves), for Node's own cost per transport.
// Options: --quick (1 round, 0.5 s warm-up, 1 s window), --rounds N (5), --warmup S (1),
// --duration S (3), --sessions S (4), --streams N (16), --inflight-text K (4),
// --inflight-binary K (2), --only text|binary, --server-window BYTES and --client-window BYTES
// (HTTP/2 flow-control windows, per stream and per session, of the server's and the load's
// side: what each end lets the other send; --window BYTES sets both; default: Node's, 64 KiB.
// Chrome advertises 6 MiB per stream, 15 MiB per session), --no-pin, --self-check
// (the server corrupts one byte of one echo per mode: both modes must catch it), --out FILE,
// --modes h2|http1.1 (one mode only), --profile (the server under --cpu-prof, profiles in
// bench/results/profiles/; use with --only and --modes: one profile covers a whole round).
// This file is all three roles: the orchestrator (no argument), `server`, `load`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { acceptKey, BINARY, makePayload, makeText, maskedFrame, maskFor, median, serverFrame, TEXT } from './common';

type Mode = 'h2' | 'http1.1';
const MODES: Mode[] = ['h2', 'http1.1'];
/** `raw` (with --raw): no WebSocket work, the streams and sockets echo their bytes; Node's own cost. */
type ServerKind = 'wsgate' | 'raw';

interface Scenario {
  id: 'text' | 'binary';
  label: string;
  size: number;
  binary: boolean;
  inflight: number;
}

interface LoadConfig {
  mode: Mode;
  port: number;
  sessions: number;
  streams: number;
  inflight: number;
  size: number;
  binary: boolean;
  warmup: number;
  duration: number;
  window: number | null;
  /** The raw server echoes our own (masked) frames. */
  expectMasked: boolean;
}

interface LoadResult {
  /** Echoes verified inside the window. */
  count: number;
  seconds: number;
  /** Load process CPU inside the window, as a fraction of one core. */
  cpu: number;
  opened: number;
  /** TLS version and cipher of the first connection (the same for both modes: Node's defaults). */
  tls?: string;
  errors: number;
  firstError?: string;
}

interface ServerStats {
  clients: number;
  byTransport: Record<string, number>;
}

type Msg =
  | { type: 'ready'; port: number }
  | { type: 'cpu'; micros: number }
  | { type: 'stats'; stats: ServerStats }
  | { type: 'armed' }
  | { type: 'window-start' }
  | { type: 'window-end' }
  | { type: 'result'; result: LoadResult };

type Cmd =
  | { type: 'cpu' }
  | { type: 'stats' }
  | { type: 'corrupt'; after: number }
  | { type: 'run'; config: LoadConfig };

const send = (m: Msg) => process.send!(m);
const HOST = '127.0.0.1';

// ---- server role ------------------------------------------------------------------------

function server(): void {
  if (process.env.H2_RAW) return rawServer();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { attachWebSocket } = require('wsgate') as typeof import('wsgate');
  const key = fs.readFileSync(process.env.H2_KEY!);
  const cert = fs.readFileSync(process.env.H2_CERT!);
  const window = process.env.H2_WINDOW ? Number(process.env.H2_WINDOW) : null;
  const srv = http2.createSecureServer({ key, cert, allowHTTP1: true, ...(window ? { settings: { initialWindowSize: window } } : {}) }, (_req, res) => {
    res.writeHead(404).end();
  });
  if (window) srv.on('session', (s) => s.setLocalWindowSize(window));
  // Self-check: corrupt one byte of the `after`-th next message (0: off).
  let corruptIn = 0;
  const endpoint = attachWebSocket(
    srv,
    (socket) => {
      socket.on('message', (data, isBinary) => {
        if (corruptIn > 0 && --corruptIn === 0) {
          const bad = Buffer.from(data as Buffer);
          // An ASCII byte from the middle on, so text stays valid UTF-8 (ASCII flips to ASCII).
          let at = bad.length >> 1;
          while (at < bad.length - 1 && bad[at] >= 0x80) at++;
          bad[at] ^= 0x01;
          socket.send(bad, { binary: isBinary });
          return;
        }
        socket.send(data, { binary: isBinary });
      });
      socket.on('error', () => {});
    },
    { path: '/ws', heartbeat: false, origins: '*' },
  );
  process.on('message', (cmd: Cmd) => {
    if (cmd.type === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', micros: u.user + u.system });
    } else if (cmd.type === 'stats') {
      send({ type: 'stats', stats: { clients: endpoint.clients.size, byTransport: { ...endpoint.stats().byTransport } } });
    } else if (cmd.type === 'corrupt') {
      corruptIn = cmd.after;
      send({ type: 'armed' });
    }
  });
  process.on('SIGTERM', async () => {
    const force = setTimeout(() => process.exit(1), 3000);
    srv.close();
    await endpoint.close({ timeout: 500 });
    clearTimeout(force);
    process.exit(0);
  });
  srv.listen(0, HOST, () => send({ type: 'ready', port: (srv.address() as { port: number }).port }));
}

/**
 * The baseline: the same http2.createSecureServer({ allowHTTP1: true }) with extended CONNECT
 * advertised, answering CONNECT :protocol websocket with 200 and piping the stream to itself,
 * and an HTTP/1.1 Upgrade with a 101 and piping the TLS socket to itself. No frame is parsed:
 * what is left is Node's HTTP/2 and TLS cost, the ceiling for any Node server on each transport.
 */
function rawServer(): void {
  const key = fs.readFileSync(process.env.H2_KEY!);
  const cert = fs.readFileSync(process.env.H2_CERT!);
  const window = process.env.H2_WINDOW ? Number(process.env.H2_WINDOW) : null;
  const settings = { enableConnectProtocol: true, ...(window ? { initialWindowSize: window } : {}) };
  const srv = http2.createSecureServer({ key, cert, allowHTTP1: true, settings });
  if (window) srv.on('session', (s) => s.setLocalWindowSize(window));
  const streams = new Set<http2.ServerHttp2Stream>();
  const sockets = new Set<import('node:stream').Duplex>();
  srv.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket' || headers[':path'] !== '/ws') {
      stream.respond({ ':status': 404 }, { endStream: true });
      return;
    }
    streams.add(stream);
    stream.on('close', () => streams.delete(stream));
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  });
  srv.on('upgrade', (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const k = req.headers['sec-websocket-key'];
    if (req.url !== '/ws' || typeof k !== 'string') return socket.destroy();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(k)}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  process.on('message', (cmd: Cmd) => {
    if (cmd.type === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', micros: u.user + u.system });
    } else if (cmd.type === 'stats') {
      send({ type: 'stats', stats: { clients: streams.size + sockets.size, byTransport: { h2: streams.size, 'http/1.1': sockets.size } } });
    } else if (cmd.type === 'corrupt') send({ type: 'armed' }); // not for the baseline
  });
  process.on('SIGTERM', () => {
    for (const st of streams) st.destroy();
    for (const so of sockets) so.destroy();
    srv.close();
    process.exit(0);
  });
  srv.listen(0, HOST, () => send({ type: 'ready', port: (srv.address() as { port: number }).port }));
}

// ---- load role --------------------------------------------------------------------------

/** Frames laid out twice in a row, so any run of up to `variants` consecutive frames is one slice. */
interface Ring {
  buf: Buffer;
  offsets: number[];
  variants: number;
}

function ring(frames: Buffer[]): Ring {
  const buf = Buffer.concat([...frames, ...frames]);
  const offsets = [0];
  for (let i = 0; i < frames.length * 2; i++) offsets.push(offsets[i] + frames[i % frames.length].length);
  return { buf, offsets, variants: frames.length };
}

/**
 * Checks a byte stream against the expected cyclic sequence of equal-sized server frames,
 * whatever the chunking. Returns how many frames completed, or -1 at the first wrong byte.
 */
class EchoCheck {
  private pos = 0;
  constructor(
    private readonly expected: Buffer,
    private readonly frameSize: number,
  ) {}
  feed(chunk: Buffer): number {
    const exp = this.expected;
    let done = 0;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, exp.length - this.pos);
      if (chunk.compare(exp, this.pos, this.pos + n, off, off + n) !== 0) return -1;
      done += Math.floor((this.pos + n) / this.frameSize) - Math.floor(this.pos / this.frameSize);
      this.pos += n;
      if (this.pos === exp.length) this.pos = 0;
      off += n;
    }
    return done;
  }
}

interface Wire {
  write(buf: Buffer): unknown;
}

function load(): void {
  const ca = fs.readFileSync(process.env.H2_CERT!);
  let busy = false;
  process.on('message', (cmd: Cmd) => {
    if (cmd.type !== 'run') return;
    if (busy) throw new Error('load: a run is already going');
    busy = true;
    runLoad(cmd.config, ca).then(
      (result) => {
        busy = false;
        send({ type: 'result', result });
      },
      (err: Error) => {
        busy = false;
        send({ type: 'result', result: { count: 0, seconds: 0, cpu: 0, opened: 0, errors: 1, firstError: err.message } });
      },
    );
  });
  process.on('SIGTERM', () => process.exit(0));
}

async function runLoad(cfg: LoadConfig, ca: Buffer): Promise<LoadResult> {
  const opcode = cfg.binary ? BINARY : TEXT;
  const variants = Math.max(cfg.inflight + 1, cfg.size >= 65536 ? 3 : 8);
  const payloads = Array.from({ length: variants }, (_, i) => (cfg.binary ? makePayload(cfg.size, true, i) : makeText(cfg.size, 'mixed', i)));
  const sent = payloads.map((p, i) => maskedFrame(opcode, p, maskFor(i)));
  const frames = ring(sent);
  const answers = cfg.expectMasked ? sent : payloads.map((p) => serverFrame(opcode, p));
  const expected = Buffer.concat(answers);
  const answerSize = answers[0].length;

  let count = 0;
  let outstanding = 0;
  let stopping = false;
  let errors = 0;
  let firstError: string | undefined;
  const fail = (msg: string) => {
    errors++;
    firstError ??= msg;
    stopping = true;
  };
  const closers: (() => void)[] = [];
  const starts: (() => void)[] = [];

  /** Wires one open WebSocket into the closed loop; returns its data handler. */
  const attach = (wire: Wire, drop: () => void): ((chunk: Buffer) => void) => {
    let next = 0;
    const sendN = (k: number) => {
      wire.write(frames.buf.subarray(frames.offsets[next], frames.offsets[next + k]));
      next = (next + k) % frames.variants;
      outstanding += k;
    };
    starts.push(() => sendN(cfg.inflight));
    const check = new EchoCheck(expected, answerSize);
    return (chunk: Buffer) => {
      const done = check.feed(chunk);
      if (done < 0) {
        fail(`${cfg.mode}: echo differs from what was sent (payload, length or opcode)`);
        drop();
        return;
      }
      if (done === 0) return;
      outstanding -= done;
      count += done;
      if (!stopping) sendN(done);
    };
  };

  const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e) => {
          clearTimeout(t);
          reject(e);
        },
      );
    });

  const total = cfg.sessions * cfg.streams;
  let opened = 0;
  let tlsInfo: string | undefined;
  const noteTls = (sock: tls.TLSSocket) => {
    tlsInfo ??= `${sock.getProtocol()} ${sock.getCipher()?.name}`;
  };
  try {
    if (cfg.mode === 'h2') {
      const openSession = (): Promise<http2.ClientHttp2Session> =>
        new Promise((resolve, reject) => {
          const session = http2.connect(`https://${HOST}:${cfg.port}`, {
            ca,
            ...(cfg.window ? { settings: { initialWindowSize: cfg.window } } : {}),
          });
          closers.push(() => session.destroy());
          session.on('error', (err) => {
            if (!stopping) fail(`h2 session: ${err.message}`);
            reject(err);
          });
          session.once('remoteSettings', (s) => {
            if (!s.enableConnectProtocol) return reject(new Error('the server did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL'));
            const alpn = (session.socket as tls.TLSSocket).alpnProtocol;
            if (alpn !== 'h2') return reject(new Error(`ALPN gave ${alpn}, not h2`));
            if (cfg.window) session.setLocalWindowSize(cfg.window);
            noteTls(session.socket as tls.TLSSocket);
            resolve(session);
          });
        });
      const openStream = (session: http2.ClientHttp2Session): Promise<void> =>
        new Promise((resolve, reject) => {
          const stream = session.request(
            { ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws', 'sec-websocket-version': '13' },
            { endStream: false },
          );
          let onData: ((chunk: Buffer) => void) | null = null;
          stream.on('error', (err) => {
            if (!stopping) fail(`h2 stream: ${err.message}`);
            reject(err);
          });
          stream.on('close', () => {
            if (!stopping) fail('h2 stream closed during the run');
          });
          stream.once('response', (headers) => {
            if (headers[':status'] !== 200) return reject(new Error(`CONNECT answered ${headers[':status']}`));
            onData = attach(stream, () => stream.close(http2.constants.NGHTTP2_CANCEL));
            opened++;
            resolve();
          });
          stream.on('data', (chunk: Buffer) => {
            if (onData) onData(chunk);
            else fail('h2: data before the 200');
          });
        });
      const sessions = await withTimeout(Promise.all(Array.from({ length: cfg.sessions }, openSession)), 20000, 'opening HTTP/2 sessions');
      await withTimeout(Promise.all(sessions.flatMap((s) => Array.from({ length: cfg.streams }, () => openStream(s)))), 20000, 'opening streams');
    } else {
      const key = randomBytes(16).toString('base64');
      const accept = acceptKey(key);
      const request = Buffer.from(
        `GET /ws HTTP/1.1\r\nHost: ${HOST}:${cfg.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        'latin1',
      );
      const openOne = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const sock = tls.connect({ host: HOST, port: cfg.port, ca, ALPNProtocols: ['http/1.1'] });
          sock.setNoDelay(true);
          closers.push(() => sock.destroy());
          let head: Buffer | null = Buffer.alloc(0);
          let onData: ((chunk: Buffer) => void) | null = null;
          sock.once('secureConnect', () => {
            if (sock.alpnProtocol !== 'http/1.1') return reject(new Error(`ALPN gave ${sock.alpnProtocol}, not http/1.1`));
            noteTls(sock);
            sock.write(request);
          });
          sock.on('error', (err) => {
            if (!stopping) fail(`tls socket: ${err.message}`);
            reject(err);
          });
          sock.on('close', () => {
            if (!stopping) fail('tls socket closed during the run');
          });
          sock.on('data', (chunk: Buffer) => {
            if (onData) return onData(chunk);
            head = Buffer.concat([head!, chunk]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            const text = head.subarray(0, end).toString('latin1');
            if (!text.startsWith('HTTP/1.1 101') || !new RegExp(`^sec-websocket-accept: *${accept.replace(/[+/]/g, '\\$&')} *$`, 'im').test(text)) {
              return reject(new Error(`bad handshake answer: ${text.split('\r\n')[0]}`));
            }
            const rest = head.subarray(end + 4);
            head = null;
            onData = attach(sock, () => sock.destroy());
            opened++;
            resolve();
            if (rest.length) onData(rest);
          });
        });
      // At most 16 TLS handshakes at a time.
      await withTimeout(
        (async () => {
          for (let i = 0; i < total; i += 16) await Promise.all(Array.from({ length: Math.min(16, total - i) }, openOne));
        })(),
        30000,
        'opening TLS connections',
      );
    }
    if (opened !== total) throw new Error(`only ${opened} of ${total} WebSockets opened`);

    for (const start of starts) start();
    await new Promise((r) => setTimeout(r, cfg.warmup * 1000));
    const c0 = count;
    const t0 = process.hrtime.bigint();
    const u0 = process.cpuUsage();
    send({ type: 'window-start' });
    await new Promise((r) => setTimeout(r, cfg.duration * 1000));
    const c1 = count;
    const t1 = process.hrtime.bigint();
    const u = process.cpuUsage(u0);
    send({ type: 'window-end' });
    const seconds = Number(t1 - t0) / 1e9;
    // Stop sending; every message in flight must still come back, within 3 s.
    stopping = true;
    const until = Date.now() + 3000;
    while (outstanding > 0 && errors === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    if (outstanding > 0 && errors === 0) fail(`${outstanding} messages in flight not answered within 3 s of the end`);
    const cpu = (u.user + u.system) / 1e6 / seconds;
    return { count: c1 - c0, seconds, cpu, opened, errors, ...(tlsInfo ? { tls: tlsInfo } : {}), ...(firstError ? { firstError } : {}) };
  } catch (err) {
    fail((err as Error).message);
    return { count: 0, seconds: 0, cpu: 0, opened, errors, firstError };
  } finally {
    stopping = true;
    for (const close of closers) close();
  }
}

// ---- orchestrator -----------------------------------------------------------------------

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
}

const hasTaskset = os.cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0;
const SERVER_CPU = 1;
const LOAD_CPU = 0;

/** This file in a child process, pinned with taskset (which execs node: the PID is node's). */
function start(role: 'server' | 'load', cpu: number | null, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): ChildProcess {
  const args = [process.execPath, ...nodeArgs, __filename, role];
  const child =
    cpu === null
      ? spawn(args[0], args.slice(1), { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : spawn('taskset', ['-c', String(cpu), ...args], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', (err) => {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') console.error(`${role} (pid ${child.pid}): ${err.message}`);
  });
  return child;
}

/** The next message of `type` from `child`, or an error after `ms`. */
function next<T extends Msg['type']>(child: ChildProcess, type: T, ms: number): Promise<Extract<Msg, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.off('message', on);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`pid ${child.pid}: no '${type}' within ${ms} ms`));
    }, ms);
    const on = (m: Msg) => {
      if (m.type !== type) return;
      done();
      resolve(m as Extract<Msg, { type: T }>);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`pid ${child.pid} exited (${code}) while waiting for '${type}'`));
    };
    child.on('message', on);
    child.once('exit', onExit);
  });
}

function ask<T extends Msg['type']>(child: ChildProcess, cmd: Cmd, answer: T, ms = 5000): Promise<Extract<Msg, { type: T }>> {
  const p = next(child, answer, ms);
  child.send(cmd);
  return p;
}

/** SIGTERM by PID, SIGKILL after 3 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && child.pid && process.kill(child.pid, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Busy and total jiffies per CPU from /proc/stat (Linux), to see who else used our CPUs. */
function cpuTimes(): Map<number, { busy: number; total: number }> | null {
  try {
    const out = new Map<number, { busy: number; total: number }>();
    for (const line of fs.readFileSync('/proc/stat', 'latin1').split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      out.set(Number(m[1]), { busy: total - v[3] - v[4], total });
    }
    return out;
  } catch {
    return null;
  }
}

function othersOn(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>, cpu: number, own: number | null): number | null {
  const x = a?.get(cpu);
  const y = b?.get(cpu);
  if (!x || !y || y.total === x.total || own === null) return null;
  return Math.max(0, (y.busy - x.busy) / (y.total - x.total) - own);
}

interface RunRecord {
  round: number;
  server: ServerKind;
  scenario: Scenario['id'];
  mode: Mode;
  msgPerSecond: number | null;
  mbPerSecond: number | null;
  serverCpu: number | null;
  loadCpu: number | null;
  /** CPU other processes used on the server's and the load's CPU in the window (pinned runs). */
  others: { server: number | null; load: number | null } | null;
  /** The server's stats().byTransport at the start of the window. */
  byTransport: Record<string, number> | null;
  result: LoadResult | null;
  error?: string;
}

interface Options {
  rounds: number;
  warmup: number;
  duration: number;
  sessions: number;
  streams: number;
  serverWindow: number | null;
  clientWindow: number | null;
  pin: boolean;
  /** --profile: the server runs with --cpu-prof, profiles in bench/results/profiles/. */
  profile: boolean;
  /** --modes h2 or http1.1: just one (for a profile); both by default. */
  modes: Mode[];
  /** --raw: the raw baseline server too, in each round. */
  servers: ServerKind[];
  scenarios: Scenario[];
}

async function measure(
  round: number,
  kind: ServerKind,
  s: Scenario,
  mode: Mode,
  srv: ChildProcess,
  port: number,
  ld: ChildProcess,
  o: Options,
): Promise<RunRecord> {
  const rec: RunRecord = {
    round,
    server: kind,
    scenario: s.id,
    mode,
    msgPerSecond: null,
    mbPerSecond: null,
    serverCpu: null,
    loadCpu: null,
    others: null,
    byTransport: null,
    result: null,
  };
  const config: LoadConfig = {
    mode,
    port,
    sessions: o.sessions,
    streams: o.streams,
    inflight: s.inflight,
    size: s.size,
    binary: s.binary,
    warmup: o.warmup,
    duration: o.duration,
    window: o.clientWindow,
    expectMasked: kind === 'raw',
  };
  // Never rejects (a promise nobody awaits must not end the run): null when the server did not answer.
  const sample = () =>
    ask(srv, { type: 'cpu' }, 'cpu').then(
      (m) => ({ cpu: m.micros, at: process.hrtime.bigint(), stat: cpuTimes() }),
      () => null,
    );
  // Filled in by the load's window events (a holder, so TypeScript sees the writes).
  const w: { a?: ReturnType<typeof sample>; b?: ReturnType<typeof sample>; stats?: Promise<ServerStats | null> } = {};
  const onMsg = (m: Msg) => {
    if (m.type === 'window-start') {
      w.a = sample();
      w.stats = ask(srv, { type: 'stats' }, 'stats').then(
        (x) => x.stats,
        () => null,
      );
    } else if (m.type === 'window-end') w.b = sample();
  };
  ld.on('message', onMsg);
  try {
    const r = (await ask(ld, { type: 'run', config }, 'result', (o.warmup + o.duration) * 1000 + 60000)).result;
    rec.result = r;
    rec.loadCpu = r.cpu || null;
    const x = await w.a;
    const y = await w.b;
    if (x && y) {
      rec.serverCpu = (y.cpu - x.cpu) / 1e6 / (Number(y.at - x.at) / 1e9);
      if (o.pin) rec.others = { server: othersOn(x.stat, y.stat, SERVER_CPU, rec.serverCpu), load: othersOn(x.stat, y.stat, LOAD_CPU, rec.loadCpu) };
    }
    rec.byTransport = (await w.stats)?.byTransport ?? null;
    const total = o.sessions * o.streams;
    const want = mode === 'h2' ? 'h2' : 'http/1.1';
    const other = mode === 'h2' ? 'http/1.1' : 'h2';
    if (r.errors > 0) rec.error = `${r.errors} error(s): ${r.firstError}`;
    else if (!rec.byTransport || rec.byTransport[want] !== total || (rec.byTransport[other] ?? 0) !== 0) {
      rec.error = `server saw ${JSON.stringify(rec.byTransport)} in the window, expected ${total} ${want}`;
    } else {
      rec.msgPerSecond = r.count / r.seconds;
      rec.mbPerSecond = (r.count * s.size) / 1e6 / r.seconds;
    }
  } catch (err) {
    rec.error = (err as Error).message;
  } finally {
    ld.off('message', onMsg);
  }
  // The load closed its sockets; the server must see them all gone before the next mode.
  const until = Date.now() + 5000;
  try {
    for (;;) {
      const st = (await ask(srv, { type: 'stats' }, 'stats')).stats;
      if (st.clients === 0) break;
      if (Date.now() > until) {
        rec.error ??= `${st.clients} sockets still open on the server 5 s after the run`;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    rec.error ??= (err as Error).message;
  }
  return rec;
}

function makeCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1']
      .concat(['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']),
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl could not make a certificate: ${r.error?.message ?? r.stderr}`);
  return { key, cert };
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const f2 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(2));
const pct = (n: number | null | undefined) => (n === null || n === undefined ? 'n/a' : `${Math.round(n * 100)}%`);
const stat = (xs: number[]) => (xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length } : null);
type Stat = ReturnType<typeof stat>;
interface ModeStats {
  msgPerSecond: Stat;
  mbPerSecond: Stat;
  serverCpu: Stat;
  loadCpu: Stat;
  othersServer: Stat;
  othersLoad: Stat;
  runs: number;
  failed: number;
}
const range = (s: Stat, f: (n: number) => string) => (s === null ? 'n/a' : s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median));

class RoundBroken extends Error {}

async function orchestrate(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (n: string) => argv.includes(n);
  const value = (n: string) => {
    const i = argv.indexOf(n);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = flag('--quick');
  const selfCheck = flag('--self-check');
  const num = (n: string, d: number, max: number) => {
    const v = Number(value(n) ?? d);
    if (!(v > 0) || v > max) throw new Error(`${n} must be a number in (0, ${max}]`);
    return v;
  };
  const only = value('--only');
  const windowOption = (n: string) => {
    const v = value(n) ?? value('--window');
    if (v === undefined) return null;
    const bytes = Number(v);
    if (!Number.isInteger(bytes) || bytes < 65535 || bytes > 2 ** 31 - 1) throw new Error(`${n}: an integer from 65535 to 2^31-1`);
    return bytes;
  };
  const scenarios: Scenario[] = [
    { id: 'text' as const, label: '1 KiB text (UTF-8, ~6% multi-byte)', size: 1024, binary: false, inflight: Math.round(num('--inflight-text', 4, 64)) },
    { id: 'binary' as const, label: '64 KiB binary', size: 65536, binary: true, inflight: Math.round(num('--inflight-binary', 2, 16)) },
  ].filter((s) => !only || only.split(',').includes(s.id));
  if (scenarios.length === 0) throw new Error('--only: text, binary or text,binary');
  if (value('--modes') && !value('--modes')!.split(',').every((m) => (MODES as string[]).includes(m))) throw new Error('--modes: h2, http1.1 or both');
  const o: Options = {
    rounds: Math.round(num('--rounds', quick || selfCheck ? 1 : 5, 50)),
    warmup: num('--warmup', selfCheck ? 0.3 : quick ? 0.5 : 1, 60),
    duration: num('--duration', selfCheck ? 0.5 : quick ? 1 : 3, 120),
    sessions: Math.round(num('--sessions', 4, 64)),
    streams: Math.round(num('--streams', 16, 100)),
    serverWindow: windowOption('--server-window'),
    clientWindow: windowOption('--client-window'),
    pin: !flag('--no-pin') && hasTaskset,
    profile: flag('--profile'),
    servers: flag('--raw') ? ['wsgate', 'raw'] : ['wsgate'],
    modes: MODES.filter((m) => !value('--modes') || value('--modes')!.split(',').includes(m)),
    scenarios,
  };

  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  // The whole run is bounded too: each measurement's window plus generous slack.
  const budget = o.rounds * o.servers.length * o.scenarios.length * o.modes.length * ((o.warmup + o.duration) * 1000 + 45000) + 60000;
  const guard = setTimeout(() => {
    console.error(`h2-echo: not finished within ${Math.round(budget / 1000)} s, stopping`);
    killAll();
    process.exit(1);
  }, budget);
  guard.unref();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-h2-bench-'));
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
  const { key, cert } = makeCert(tmp);
  const env: NodeJS.ProcessEnv = { ...process.env, H2_KEY: key, H2_CERT: cert, ...(o.serverWindow ? { H2_WINDOW: String(o.serverWindow) } : {}) };
  const load1 = os.loadavg()[0];
  const total = o.sessions * o.streams;
  console.log(
    `HTTP/2 vs HTTP/1.1 echo, both TLS, one http2.createSecureServer({ allowHTTP1: true }) per round: ` +
      `h2 = ${o.sessions} sessions × ${o.streams} streams, http1.1 = ${total} TLS connections; ` +
      `${o.rounds} round(s), ${o.warmup} s warm-up, ${o.duration} s window; ` +
      `HTTP/2 windows: server ${o.serverWindow ? `${o.serverWindow} bytes` : "Node's default"}, ` +
      `load ${o.clientWindow ? `${o.clientWindow} bytes` : "Node's default"}; ` +
      `${os.cpus().length} CPUs, load average ${load1.toFixed(2)} at start; pinning: ${o.pin ? `server CPU ${SERVER_CPU}, load CPU ${LOAD_CPU}` : 'no'}`,
  );

  if (selfCheck) return runSelfCheck(o, env);

  const records: RunRecord[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    const ld = start('load', o.pin ? LOAD_CPU : null, env);
    try {
      // Servers rotated too (with --raw): wsgate first in odd rounds, raw first in even ones.
      const kinds = round % 2 === 1 ? o.servers : [...o.servers].reverse();
      for (const kind of kinds) {
        const profileDir = path.join(__dirname, '..', 'bench', 'results', 'profiles');
        const profName = `h2-echo-${kind}-r${round}-${Date.now()}.cpuprofile`;
        const profArgs = o.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', profName] : [];
        const srv = start('server', o.pin ? SERVER_CPU : null, kind === 'raw' ? { ...env, H2_RAW: '1' } : env, profArgs);
        try {
          const { port } = await next(srv, 'ready', 15000);
          for (const s of o.scenarios) {
            // Rotated: A B in odd rounds, B A in even ones; both against this server process.
            const order = round % 2 === 1 ? o.modes : [...o.modes].reverse();
            for (const mode of order) {
              const rec = await measure(round, kind, s, mode, srv, port, ld, o);
              records.push(rec);
              console.log(
                `round ${round}/${o.rounds}  ${kind.padEnd(6)} ${s.id.padEnd(6)} ${mode.padEnd(7)} ` +
                  (rec.error
                    ? `ERROR ${rec.error}`
                    : `${f0(rec.msgPerSecond).padStart(9)} msg/s ${f0(rec.mbPerSecond).padStart(6)} MB/s  ` +
                      `server ${pct(rec.serverCpu)} load ${pct(rec.loadCpu)}` +
                      (rec.others ? `  others ${pct(rec.others.server)} / ${pct(rec.others.load)}` : '')),
              );
              // No answer from a process: this round's processes are not trusted any further.
              if (rec.result === null) throw new RoundBroken(rec.error ?? 'no result');
            }
          }
        } finally {
          await stop(srv);
        }
      }
    } catch (err) {
      if (!(err instanceof RoundBroken)) throw err;
      console.log(`round ${round}: stopped (${err.message}); its processes are restarted for the next round`);
    } finally {
      await stop(ld);
    }
  }

  // ---- summary --------------------------------------------------------------------------
  const nums = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
  const ok = (r: RunRecord) => r.msgPerSecond !== null;
  const statsOf = (rs: RunRecord[], failed: number): ModeStats => ({
    msgPerSecond: stat(rs.map((r) => r.msgPerSecond!)),
    mbPerSecond: stat(rs.map((r) => r.mbPerSecond!)),
    serverCpu: stat(nums(rs.map((r) => r.serverCpu))),
    loadCpu: stat(nums(rs.map((r) => r.loadCpu))),
    othersServer: stat(nums(rs.map((r) => r.others?.server ?? null))),
    othersLoad: stat(nums(rs.map((r) => r.others?.load ?? null))),
    runs: rs.length,
    failed,
  });
  /** Ratio of medians a/b, and the range of per-round ratios (a and b measured in the same round). */
  const ratioOf = (a: RunRecord[], b: RunRecord[]) => {
    const perRound: number[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const x = a.find((r) => r.round === round);
      const y = b.find((r) => r.round === round);
      if (x && y) perRound.push(x.msgPerSecond! / y.msgPerSecond!);
    }
    const ma = stat(a.map((r) => r.msgPerSecond!));
    const mb = stat(b.map((r) => r.msgPerSecond!));
    return { ratio: ma && mb ? ma.median / mb.median : null, perRound: stat(perRound) };
  };
  const rows = o.scenarios.map((s) => {
    const of = (kind: ServerKind, mode: Mode) => records.filter((r) => r.scenario === s.id && r.server === kind && r.mode === mode && ok(r));
    const failedOf = (kind: ServerKind, mode: Mode) => records.filter((r) => r.scenario === s.id && r.server === kind && r.mode === mode && r.error).length;
    const servers = Object.fromEntries(
      o.servers.map((kind) => [kind, Object.fromEntries(o.modes.map((mode) => [mode, statsOf(of(kind, mode), failedOf(kind, mode))]))]),
    ) as Partial<Record<ServerKind, Partial<Record<Mode, ModeStats>>>>;
    return {
      scenario: s.id,
      label: s.label,
      size: s.size,
      binary: s.binary,
      inflight: s.inflight,
      servers,
      /** wsgate h2 / wsgate http1.1: the row issue 12 asks for. */
      h2OverHttp1: ratioOf(of('wsgate', 'h2'), of('wsgate', 'http1.1')),
      rawH2OverHttp1: o.servers.includes('raw') ? ratioOf(of('raw', 'h2'), of('raw', 'http1.1')) : null,
      wsgateOverRaw: o.servers.includes('raw')
        ? Object.fromEntries(o.modes.map((mode) => [mode, ratioOf(of('wsgate', mode), of('raw', mode))]))
        : null,
    };
  });

  console.log('');
  console.log(`| payload | server | mode | WebSockets | in flight each | msg/s | MB/s | server CPU | load CPU | others (server / load CPU) |`);
  console.log(`|---|---|---|---|---:|---:|---:|---:|---:|---:|`);
  for (const r of rows) {
    for (const kind of o.servers) {
      for (const mode of o.modes) {
        const m = r.servers[kind]![mode]!;
        const layout = mode === 'h2' ? `${o.sessions} sessions × ${o.streams} streams` : `${total} TLS connections`;
        console.log(
          `| ${r.label} | ${kind} | ${mode} | ${layout} | ${r.inflight} | ${range(m.msgPerSecond, f0)} | ${range(m.mbPerSecond, f0)} | ` +
            `${pct(m.serverCpu?.median)} | ${pct(m.loadCpu?.median)} | ${pct(m.othersServer?.median)} / ${pct(m.othersLoad?.median)} |` +
            (m.failed ? ` (${m.failed} failed)` : '') +
            // The generator, not the server, was the busier process: the figure is a floor.
            ((m.loadCpu?.median ?? 0) >= 0.9 && (m.loadCpu?.median ?? 0) > (m.serverCpu?.median ?? 0) ? ' load-bound: a floor' : ''),
        );
      }
    }
  }
  const showRatio = (x: { ratio: number | null; perRound: Stat } | null | undefined) =>
    !x ? 'n/a' : `**${f2(x.ratio)}** (${x.perRound ? `${f2(x.perRound.min)}–${f2(x.perRound.max)}` : 'n/a'})`;
  console.log('');
  const rawCols = o.servers.includes('raw') ? ' raw h2 / raw http1.1 | wsgate/raw h2 | wsgate/raw http1.1 |' : '';
  console.log(`| payload | wsgate h2 / http1.1 |${rawCols}`);
  console.log(`|---|---:|${rawCols ? '---:|---:|---:|' : ''}`);
  for (const r of rows) {
    const raw = r.wsgateOverRaw
      ? ` ${showRatio(r.rawH2OverHttp1)} | ${showRatio(r.wsgateOverRaw.h2)} | ${showRatio(r.wsgateOverRaw['http1.1'])} |`
      : '';
    console.log(`| ${r.label} | ${showRatio(r.h2OverHttp1)} |${raw}`);
  }
  console.log('(ratio of the medians, in brackets the range of the per-round ratios)');
  const tlsOf = (mode: Mode) => [...new Set(records.filter((r) => r.mode === mode && r.result?.tls).map((r) => r.result!.tls))].join(', ') || 'n/a';
  console.log(`\nTLS: h2 ${tlsOf('h2')}; http1.1 ${tlsOf('http1.1')}. Every echo counted was checked byte for byte.`);
  const busy = records.some((r) => (r.others?.server ?? 0) > 0.1 || (r.others?.load ?? 0) > 0.1);
  if (busy) {
    console.log('\nOther processes used more than 10% of a pinned CPU in some windows: treat the absolute figures as noisy;');
    console.log('the ratios (both modes of a round on the same server process) are the comparison.');
  }
  const failed = records.filter((r) => r.error);
  if (failed.length) console.log(`\n${failed.length} run(s) failed; they are left out of the figures (see "records" in the JSON).`);

  const dir = path.join(__dirname, '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = value('--out') ?? path.join(dir, `h2-echo-node${process.versions.node.split('.')[0]}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        loadAverageAtStart: load1,
        pinned: o.pin ? { server: SERVER_CPU, load: LOAD_CPU } : null,
        options: { ...o, scenarios: undefined, quick },
        unit: { msgPerSecond: 'echoes verified per second', mbPerSecond: 'payload bytes echoed per second, one direction, 10^6 bytes' },
        rows,
        records,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
  if (failed.length) process.exitCode = 1;
}

/** Each mode once with one corrupted echo (must fail), then once clean (must pass). */
async function runSelfCheck(o: Options, env: NodeJS.ProcessEnv): Promise<void> {
  let ok = true;
  for (const s of o.scenarios) {
    for (const corrupt of [true, false]) {
      for (const mode of MODES) {
        const srv = start('server', o.pin ? SERVER_CPU : null, env);
        const ld = start('load', o.pin ? LOAD_CPU : null, env);
        try {
          const { port } = await next(srv, 'ready', 15000);
          if (corrupt) await ask(srv, { type: 'corrupt', after: 50 }, 'armed');
          const rec = await measure(1, 'wsgate', s, mode, srv, port, ld, o);
          const caught = rec.result !== null && rec.result.errors > 0 && /echo differs/.test(rec.result.firstError ?? '');
          const pass = corrupt ? caught : rec.error === undefined;
          ok &&= pass;
          const what = corrupt
            ? `corrupted echo: ${caught ? 'caught' : `not caught (${rec.error ?? 'no error'})`}`
            : `clean: ${rec.error ?? `${f0(rec.msgPerSecond)} msg/s`}`;
          console.log(`${pass ? 'ok  ' : 'FAIL'} ${s.id.padEnd(6)} ${mode.padEnd(7)} ${what}`);
        } finally {
          await Promise.all([ld, srv].map(stop));
        }
      }
    }
  }
  console.log(ok ? 'self-check passed' : 'self-check FAILED');
  if (!ok) process.exitCode = 1;
}

const role = process.argv[2];
if (role === 'server') server();
else if (role === 'load') load();
else
  orchestrate().catch((err) => {
    console.error(err);
    killAll();
    process.exit(1);
  });

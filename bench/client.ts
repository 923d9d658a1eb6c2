// The load generator, run in its own process and driven over IPC by run.ts. It speaks just
// enough WebSocket over raw net sockets to load a server cheaply: frames are built and
// masked once up front, each connection keeps N messages in flight, and every echo is
// checked byte for byte (length, opcode, payload) before it counts.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { createInflateRaw, inflateRawSync, constants as zc } from 'node:zlib';
import {
  acceptKey,
  BINARY,
  CLOSE,
  type ClientConfig,
  type ClientResult,
  DEFLATE_TAIL,
  deflateMessage,
  CHAT_K_AT,
  CHAT_K_LEN,
  CHAT_TS_AT,
  CHAT_TS_LEN,
  makeChat,
  makeJson,
  makePayload,
  makeText,
  PUSH_SEQ_AT,
  PUSH_SEQ_LEN,
  PUSH_SIZE,
  pushTemplate,
  type TextMix,
  maskedFrame,
  maskFor,
  serverFrame,
  TEXT,
} from './common';

const HOST = '127.0.0.1';
const KEY = randomBytes(16).toString('base64');
const ACCEPT = acceptKey(KEY);

let errors = 0;
let firstError: string | undefined;
let stopping = false;
const sockets = new Set<Socket>();

function fail(message: string): void {
  errors++;
  firstError ??= message;
}

// ---- counting inside the measuring window -------------------------------------------------

let count = 0;
let bytes = 0;
const mark = { count: 0, bytes: 0, time: 0n, cpu: process.cpuUsage() };
let result: ClientResult | null = null;

function startWindow(): void {
  mark.count = count;
  mark.bytes = bytes;
  mark.time = process.hrtime.bigint();
  mark.cpu = process.cpuUsage();
  process.send!({ event: 'window-start' });
}

function endWindow(): void {
  const seconds = Number(process.hrtime.bigint() - mark.time) / 1e9;
  const cpu = process.cpuUsage(mark.cpu);
  process.send!({ event: 'window-end' });
  result = {
    count: count - mark.count,
    bytes: bytes - mark.bytes,
    seconds,
    cpu: (cpu.user + cpu.system) / 1e6 / seconds,
    errors: 0,
  };
  if (latencyReport) result.latency = latencyReport();
  stopping = true;
}

/** Runs warmup then the window, then waits (bounded) for in-flight work and reports. */
function measure(warmup: number, duration: number, settled: () => boolean): void {
  setTimeout(() => {
    startWindow();
    setTimeout(() => {
      endWindow();
      const until = Date.now() + 3000;
      const poll = setInterval(() => {
        if (!settled() && Date.now() < until) return;
        clearInterval(poll);
        if (!settled()) fail('in-flight messages were not answered within 3 s of the end');
        finish();
      }, 10);
    }, duration * 1000);
  }, warmup * 1000);
}

let finished = false;

function finish(extra: Partial<ClientResult> = {}): void {
  if (finished) return;
  finished = true;
  stopping = true;
  for (const s of sockets) s.destroy();
  const r: ClientResult = { ...(result ?? { count: 0, bytes: 0, seconds: 0, cpu: 0 }), ...extra, errors };
  if (firstError !== undefined) r.firstError = firstError;
  process.send!({ result: r }, () => process.exit(0));
}

// ---- opening connections ------------------------------------------------------------------

function upgradeRequest(port: number, path: string, extensions?: string): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
      (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') +
      '\r\n',
    'latin1',
  );
}

/** Checks a 101 response head; returns the header map, or an error string. */
function check101(head: string): Map<string, string> | string {
  const lines = head.split('\r\n');
  if (!lines[0].startsWith('HTTP/1.1 101 ')) return `expected 101, got "${lines[0]}"`;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('sec-websocket-accept') !== ACCEPT) return 'wrong Sec-WebSocket-Accept';
  return headers;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Receives bytes read from a socket. The chunk is a view of one buffer shared by all sockets
 * (no allocation per read) and is valid only during the call: copy what must be kept.
 */
type DataHandler = (chunk: Buffer) => void;
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const EMPTY = Buffer.alloc(0);

/** A socket that reads through `onread` into READ_BUFFER, skipping the stream layer. */
function rawConnect(port: number, onChunk: DataHandler): Socket {
  const sock = connect({
    port,
    host: HOST,
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number) => {
        onChunk(READ_BUFFER.subarray(0, n));
        return true;
      },
    },
  });
  sock.setNoDelay(true);
  sockets.add(sock);
  return sock;
}

/**
 * Connects and upgrades; then calls onOpen with the socket and the response headers, which
 * returns the handler for everything after the 101 head.
 */
function open(
  port: number,
  request: Buffer,
  onOpen: (sock: Socket, headers: Map<string, string>) => DataHandler,
  onFail: () => void,
): Socket {
  let head: Buffer = EMPTY;
  let opened = false;
  let handler: DataHandler | null = null;
  const sock = rawConnect(port, (chunk) => {
    if (handler !== null) return handler(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf(CRLF2);
    if (end < 0) {
      if (head.length > 8192) sock.destroy(new Error('response head too long'));
      return;
    }
    const headers = check101(head.subarray(0, end).toString('latin1'));
    if (typeof headers === 'string') return void sock.destroy(new Error(headers));
    opened = true;
    handler = onOpen(sock, headers);
    const rest = head.subarray(end + 4);
    head = EMPTY;
    if (rest.length > 0) handler(rest);
  });
  sock.on('connect', () => sock.write(request));
  sock.on('error', (err) => {
    if (!stopping) fail(`socket error: ${err.message}`);
  });
  sock.on('close', () => {
    sockets.delete(sock);
    if (!opened) onFail();
    else if (!stopping) fail('server closed a connection during the run');
  });
  return sock;
}

/** Opens `n` connections, at most `parallel` handshakes at a time; bounded by `timeout` ms. */
function openMany(
  n: number,
  parallel: number,
  timeout: number,
  connectOne: (index: number, opened: () => void, failed: () => void) => void,
  done: (opened: number) => void,
): void {
  let started = 0;
  let settled = 0;
  let ok = 0;
  let finished = false;
  const timer = setTimeout(() => {
    fail(`only ${ok} of ${n} connections opened within ${timeout} ms`);
    end();
  }, timeout);
  const end = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(ok);
  };
  const next = () => {
    if (finished) return;
    if (settled === n) return end();
    while (started < n && started - settled < parallel) {
      const i = started++;
      let once = false;
      connectOne(
        i,
        () => {
          if (once) return;
          once = true;
          ok++;
          settled++;
          next();
        },
        () => {
          if (once) return;
          once = true;
          fail(`connection ${i} failed to open`);
          settled++;
          next();
        },
      );
    }
  };
  next();
}

// ---- rings of pre-built frames --------------------------------------------------------------

/** Frames laid out twice in a row, so any run of up to V consecutive frames is one slice. */
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

/** Sends the next k frames in ring order, in one write; k must not exceed the ring's variant count. */
type Send = (k: number) => void;

function sender(sock: Socket, frames: Ring): Send {
  let next = 0;
  return (k) => {
    sock.write(frames.buf.subarray(frames.offsets[next], frames.offsets[next + k]));
    next = (next + k) % frames.variants;
  };
}

/**
 * Checks a byte stream against an expected cyclic sequence of equal-sized frames, across
 * any chunking. Returns how many frames completed, or -1 at the first differing byte.
 */
class StreamCheck {
  private pos = 0;
  constructor(
    private readonly expected: Buffer,
    private readonly frameSize: number,
  ) {}
  feed(chunk: Buffer): number {
    const exp = this.expected;
    const size = this.frameSize;
    let done = 0;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, exp.length - this.pos);
      if (chunk.compare(exp, this.pos, this.pos + n, off, off + n) !== 0) return -1;
      done += Math.floor((this.pos + n) / size) - Math.floor(this.pos / size);
      this.pos += n;
      if (this.pos === exp.length) this.pos = 0;
      off += n;
    }
    return done;
  }
}

interface EchoSet {
  send: Ring;
  /** What wsgate and ws send back: unmasked frames. */
  plain: Buffer;
  plainSize: number;
  /** What the raw baseline sends back: our own masked frames. */
  masked: Buffer;
  maskedSize: number;
}

function echoSet(size: number, binary: boolean, variants: number, mix: TextMix): EchoSet {
  const opcode = binary ? BINARY : TEXT;
  const payloads = Array.from({ length: variants }, (_, i) => (binary ? makePayload(size, true, i) : makeText(size, mix, i)));
  const sent = payloads.map((p, i) => maskedFrame(opcode, p, maskFor(i)));
  const plain = payloads.map((p) => serverFrame(opcode, p));
  return {
    send: ring(sent),
    plain: Buffer.concat(plain),
    plainSize: plain[0].length,
    masked: Buffer.concat(sent),
    maskedSize: sent[0].length,
  };
}

/** Picks the expected stream from the first response frame: masked means the raw echo. */
function checkerFor(set: EchoSet, first: Buffer): StreamCheck {
  return (first[1] & 0x80) !== 0 ? new StreamCheck(set.masked, set.maskedSize) : new StreamCheck(set.plain, set.plainSize);
}

// ---- scenarios ------------------------------------------------------------------------------

/** Counts a bad answer, stops the run and drops the connection. */
function reject(sock: Socket, message: string): void {
  fail(message);
  stopping = true;
  sock.destroy();
}

/**
 * The closed loop of the echo and deflate scenarios: opens cfg.conns connections, keeps
 * cfg.inflight messages from `frames` in flight on each, and once all are open runs the
 * measuring window. `wire` sets up one connection and returns its data handler; that calls
 * `answered(n)` with the number of answers it verified, each of which is counted and
 * replaced by a new message.
 */
function closedLoop(
  cfg: { port: number; conns: number; inflight: number; size: number; warmup: number; duration: number },
  request: Buffer,
  frames: Ring,
  wire: (sock: Socket, headers: Map<string, string>, answered: (n: number) => void) => DataHandler,
): void {
  let outstanding = 0;
  const starts: (() => void)[] = [];

  openMany(
    cfg.conns,
    64,
    20000,
    (_i, opened, failed) => {
      open(
        cfg.port,
        request,
        (sock, headers) => {
          const send = sender(sock, frames);
          const answered = (n: number) => {
            outstanding -= n;
            count += n;
            bytes += n * cfg.size;
            if (!stopping && n > 0) {
              send(n);
              outstanding += n;
            }
          };
          const onData = wire(sock, headers, answered);
          starts.push(() => {
            send(cfg.inflight);
            outstanding += cfg.inflight;
          });
          opened();
          return onData;
        },
        failed,
      );
    },
    (opened) => {
      if (opened < cfg.conns) return finish();
      for (const start of starts) start();
      measure(cfg.warmup, cfg.duration, () => outstanding === 0 || errors > 0);
    },
  );
}

function runEcho(cfg: Extract<ClientConfig, { mode: 'echo' }>): void {
  const variants = Math.max(cfg.inflight + 1, cfg.size >= 65536 ? 3 : 8);
  const set = echoSet(cfg.size, cfg.binary, variants, cfg.mix);
  closedLoop(cfg, upgradeRequest(cfg.port, '/'), set.send, (sock, _headers, answered) => {
    let check: StreamCheck | null = null;
    let pre: Buffer | null = null;
    return (chunk: Buffer) => {
      if (check === null) {
        pre = Buffer.concat([pre ?? EMPTY, chunk]);
        if (pre.length < 2) return;
        check = checkerFor(set, pre);
        chunk = pre;
        pre = null;
      }
      const done = check.feed(chunk);
      if (done < 0) return reject(sock, 'echo differs from what was sent (payload, length or opcode)');
      answered(done);
    };
  });
}

function runBroadcast(cfg: Extract<ClientConfig, { mode: 'broadcast' }>): void {
  const variants = Math.max(cfg.inflight + 1, 8);
  const set = echoSet(cfg.size, false, variants, cfg.mix);
  const subRequest = upgradeRequest(cfg.port, '/sub');
  const SLOTS = 256;
  const delivered = new Int32Array(SLOTS);
  let published = 0;
  let completed = 0;
  let publisher: Send | null = null;

  const publish = (k: number) => {
    publisher!(k);
    published += k;
  };

  openMany(
    cfg.subs,
    64,
    30000,
    (_i, opened, failed) => {
      open(
        cfg.port,
        subRequest,
        (sock) => {
          const check = new StreamCheck(set.plain, set.plainSize);
          let received = 0;
          const onData = (chunk: Buffer) => {
            const done = check.feed(chunk);
            if (done < 0) return reject(sock, 'broadcast delivery differs from what was published');
            count += done;
            bytes += done * cfg.size;
            for (let k = 0; k < done; k++) {
              const slot = received++ % SLOTS;
              if (++delivered[slot] < cfg.subs) continue;
              delivered[slot] = 0;
              completed++;
              if (!stopping) publish(1);
            }
          };
          opened();
          return onData;
        },
        failed,
      );
    },
    (opened) => {
      if (opened < cfg.subs) return finish();
      open(
        cfg.port,
        upgradeRequest(cfg.port, '/pub'),
        (sock) => {
          publisher = sender(sock, set.send);
          publish(cfg.inflight);
          measure(cfg.warmup, cfg.duration, () => completed === published || errors > 0);
          return () => fail('the publisher received data');
        },
        () => {
          fail('publisher failed to open');
          finish();
        },
      );
    },
  );
}

function runHandshake(cfg: Extract<ClientConfig, { mode: 'handshake' }>): void {
  const request = upgradeRequest(cfg.port, '/');
  const closeFrame = maskedFrame(CLOSE, Buffer.from([0x03, 0xe8]), maskFor(1));
  const serverClose = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
  let active = cfg.concurrency;

  const cycle = () => {
    if (stopping) {
      active--;
      return;
    }
    let buf: Buffer = EMPTY;
    let upgraded = false;
    let closed = false;
    const sock = rawConnect(cfg.port, (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf(CRLF2);
        if (end < 0) return;
        const headers = check101(buf.subarray(0, end).toString('latin1'));
        if (typeof headers === 'string') return void sock.destroy(new Error(headers));
        upgraded = true;
        buf = buf.subarray(end + 4);
        sock.write(closeFrame);
      }
      // The close answer: the server's own (unmasked) frame, or our frame echoed by raw.
      if (closed || buf.length < 4) return;
      const expected = (buf[1] & 0x80) !== 0 ? closeFrame : serverClose;
      if (buf.length < expected.length) return;
      if (!buf.subarray(0, expected.length).equals(expected)) return void sock.destroy(new Error('wrong close frame'));
      closed = true;
      sock.end();
    });
    sock.on('connect', () => sock.write(request));
    sock.on('error', (err) => fail(`handshake cycle: ${err.message}`));
    sock.on('close', () => {
      sockets.delete(sock);
      if (closed) count++;
      else if (!stopping) fail('connection closed before the close handshake finished');
      cycle();
    });
  };
  for (let i = 0; i < cfg.concurrency; i++) cycle();
  measure(cfg.warmup, cfg.duration, () => active === 0 || errors > 0);
}

function runIdle(cfg: Extract<ClientConfig, { mode: 'idle' }>): void {
  // With deflate each connection also does one compressed round trip, so both servers
  // have set up their compression state before memory is measured.
  const ext = cfg.deflate ? 'permessage-deflate; client_no_context_takeover' : undefined;
  const request = upgradeRequest(cfg.port, '/', ext);
  const payload = makeJson(1024, 0);
  const frame = maskedFrame(TEXT, deflateMessage(payload), maskFor(0), true);

  openMany(
    cfg.conns,
    200,
    60000,
    (_i, opened, failed) => {
      open(
        cfg.port,
        request,
        (sock) => {
          if (!cfg.deflate) {
            opened();
            return () => fail('unexpected data on an idle connection');
          }
          let buf = EMPTY;
          let answered = false;
          sock.once('close', failed); // no-op once opened() ran
          sock.write(frame);
          return (chunk) => {
            if (answered) return fail('unexpected data on an idle connection');
            buf = Buffer.concat([buf, chunk]);
            const frames = parseFrames(buf);
            if (frames === null) return void sock.destroy(new Error('bad frame'));
            if (frames.items.length === 0) return;
            const f = frames.items[0];
            let data: Buffer | null = null;
            try {
              // The first message on a connection needs no earlier context to inflate.
              data = inflateRawSync(Buffer.concat([f.payload, DEFLATE_TAIL]), { finishFlush: zc.Z_SYNC_FLUSH });
            } catch {
              // reported below
            }
            if (!f.compressed || data === null || !data.equals(payload)) {
              fail('compressed echo differs');
              sock.destroy();
              return;
            }
            answered = true;
            buf = EMPTY;
            opened();
          };
        },
        failed,
      );
    },
    (opened) => {
      process.send!({ event: 'opened', opened });
      // run.ts measures the server now, then sends 'release'.
      process.once('message', () => finish({ opened }));
    },
  );
}

interface Frame {
  opcode: number;
  compressed: boolean;
  payload: Buffer;
}

/** Parses whole frames from buf (masked or not); returns them and the bytes used. */
function parseFrames(buf: Buffer): { items: Frame[]; used: number } | null {
  const items: Frame[] = [];
  let at = 0;
  while (buf.length - at >= 2) {
    const b0 = buf[at];
    const b1 = buf[at + 1];
    if ((b0 & 0x80) === 0 || (b0 & 0x30) !== 0) return null; // we never expect fragments
    const masked = (b1 & 0x80) !== 0;
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = buf.readUInt32BE(at + 2) * 0x100000000 + buf.readUInt32BE(at + 6);
      head = 10;
    }
    const maskAt = at + head;
    if (masked) head += 4;
    if (buf.length - at < head + len) break;
    let payload = buf.subarray(at + head, at + head + len);
    if (masked) {
      const copy = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) copy[i] = payload[i] ^ buf[maskAt + (i & 3)];
      payload = copy;
    }
    items.push({ opcode: b0 & 0x0f, compressed: (b0 & 0x40) !== 0, payload });
    at += head + len;
  }
  return { items, used: at };
}

function runDeflate(cfg: Extract<ClientConfig, { mode: 'deflate' }>): void {
  const variants = Math.max(cfg.inflight + 1, 8);
  const payloads = Array.from({ length: variants }, (_, i) => makeJson(cfg.size, i, cfg.mix));
  // client_no_context_takeover lets every message be compressed once, here, up front.
  const frames = ring(payloads.map((p, i) => maskedFrame(TEXT, deflateMessage(p), maskFor(i), true)));
  const request = upgradeRequest(cfg.port, '/', 'permessage-deflate; client_no_context_takeover');

  closedLoop(cfg, request, frames, (sock, headers, answered) => {
    if (headers.has('sec-websocket-extensions') && !/^permessage-deflate\b/.test(headers.get('sec-websocket-extensions')!)) {
      sock.destroy(new Error('permessage-deflate was not agreed'));
    }
    // Server messages use context takeover: one inflate stream per connection, fed in
    // order. Whole batches go through it at once to keep the generator cheap.
    const inflate = createInflateRaw();
    let out: Buffer[] = [];
    inflate.on('data', (c: Buffer) => out.push(c));
    inflate.on('error', (err) => {
      fail(`inflate: ${err.message}`);
      sock.destroy();
    });
    const queue: Frame[][] = [];
    let busy = false;
    let expect = 0;
    let buf: Buffer = EMPTY;

    const verify = (batch: Frame[], inflated: Buffer): boolean => {
      let off = 0;
      for (const f of batch) {
        const p = payloads[expect];
        expect = (expect + 1) % variants;
        // 1 KiB is at both servers' default threshold, so every answer must be compressed.
        if (f.opcode !== TEXT || !f.compressed) return false;
        if (!inflated.subarray(off, off + p.length).equals(p)) return false;
        off += p.length;
      }
      return off === inflated.length;
    };
    const settle = (batch: Frame[], inflated: Buffer) => {
      if (!verify(batch, inflated)) return reject(sock, 'compressed echo differs from what was sent');
      answered(batch.length);
    };
    const pump = () => {
      while (!busy && queue.length > 0) {
        const batch = queue.shift()!;
        const parts: Buffer[] = [];
        for (const f of batch) if (f.compressed) parts.push(f.payload, DEFLATE_TAIL);
        if (parts.length === 0) {
          settle(batch, Buffer.alloc(0)); // fails verification: nothing was compressed
          continue;
        }
        busy = true;
        inflate.write(Buffer.concat(parts));
        inflate.flush(zc.Z_SYNC_FLUSH, () => {
          const inflated = out.length === 1 ? out[0] : Buffer.concat(out);
          out = [];
          busy = false;
          settle(batch, inflated);
          pump();
        });
      }
    };
    sock.on('close', () => inflate.close());
    return (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]); // a copy: frames are kept until inflated
      const parsed = parseFrames(buf);
      if (parsed === null) {
        fail('unexpected frame from the server');
        return void sock.destroy();
      }
      buf = buf.subarray(parsed.used);
      if (parsed.items.length === 0) return;
      queue.push(parsed.items);
      pump();
    };
  });
}

// ---- relay and push scenarios --------------------------------------------------------------

/**
 * Splits a server's byte stream (unmasked, unfragmented frames) into frames across any
 * chunking; calls onFrame(opcode, buf, start, end) with the payload's place in buf, which is
 * valid only during the call. Returns false on a frame this generator never expects.
 */
function frameSplitter(onFrame: (opcode: number, buf: Buffer, start: number, end: number) => void): (chunk: Buffer) => boolean {
  let pending: Buffer | null = null;
  return (chunk) => {
    let buf = chunk;
    if (pending !== null) {
      buf = Buffer.concat([pending, chunk]);
      pending = null;
    }
    let at = 0;
    while (buf.length - at >= 2) {
      const b0 = buf[at];
      const b1 = buf[at + 1];
      if ((b0 & 0xf0) !== 0x80 || (b1 & 0x80) !== 0) return false; // FIN, no RSV, unmasked
      let len = b1;
      let head = 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = buf.readUInt32BE(at + 2) * 0x100000000 + buf.readUInt32BE(at + 6);
        head = 10;
      }
      if (buf.length - at < head + len) break;
      onFrame(b0 & 0x0f, buf, at + head, at + head + len);
      at += head + len;
    }
    // What is left is part of a frame: keep a copy (chunk is a view of the shared read buffer).
    if (at < buf.length) pending = Buffer.from(buf.subarray(at));
    return true;
  };
}

/** Latencies in microseconds, 1 µs buckets up to 2 s, one overflow bucket. */
class LatencyHistogram {
  private readonly buckets = new Uint32Array(2_000_001);
  private n = 0;
  private maxSeen = 0;
  add(us: number): void {
    const b = us < 0 ? 0 : us > 2_000_000 ? 2_000_000 : Math.round(us);
    this.buckets[b]++;
    this.n++;
    if (us > this.maxSeen) this.maxSeen = us;
  }
  quantile(q: number): number {
    const want = Math.ceil(q * this.n);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= want) return i;
    }
    return this.buckets.length - 1;
  }
  report(): ClientResult['latency'] {
    return { p50: this.quantile(0.5) / 1000, p99: this.quantile(0.99) / 1000, max: this.maxSeen / 1000, samples: this.n };
  }
}

const CLOCK_ZERO = performance.now();
/** The generator's clock in whole microseconds: what chat messages carry as their timestamp. */
const nowUs = () => Math.round((performance.now() - CLOCK_ZERO) * 1000);

/**
 * The chat room: cfg.conns members, each with cfg.inflight messages of its own in flight.
 * Each message (200-400 B JSON, non-ASCII) carries its send time; the server publishes it to
 * every member, the sender included. Every delivery is checked byte for byte against its
 * template (all but the timestamp digits) and timed; a member sends its next message when
 * its own comes back. Counted: deliveries.
 */
function runChat(cfg: Extract<ClientConfig, { mode: 'chat' }>): void {
  const VARIANTS = Math.max(4, cfg.inflight + 1);
  // Template k = member * VARIANTS + variant; the unmasked payload, and a masked frame to patch.
  const payloads: Buffer[] = [];
  const frames: Buffer[] = [];
  const masks: Buffer[] = [];
  for (let k = 0; k < cfg.conns * VARIANTS; k++) {
    const p = makeChat(k);
    const mask = maskFor(k);
    payloads.push(p);
    masks.push(mask);
    frames.push(maskedFrame(TEXT, p, mask));
  }
  const histogram = new LatencyHistogram();
  let inWindow = false;
  let outstanding = 0;
  const senders: ((n: number) => void)[] = [];
  const request = upgradeRequest(cfg.port, '/chat');
  const digits = Buffer.allocUnsafe(CHAT_TS_LEN);

  openMany(
    cfg.conns,
    64,
    20000,
    (member, opened, failed) => {
      open(
        cfg.port,
        request,
        (sock) => {
          let next = 0;
          const send = (n: number) => {
            for (let j = 0; j < n; j++) {
              const k = member * VARIANTS + next;
              next = (next + 1) % VARIANTS;
              // Patch the timestamp into the masked frame (payload offset CHAT_TS_AT).
              const frame = frames[k];
              const at = frame.length - payloads[k].length;
              digits.write(String(nowUs()).padStart(CHAT_TS_LEN, '0'), 0, 'latin1');
              const mask = masks[k];
              for (let i = 0; i < CHAT_TS_LEN; i++) frame[at + CHAT_TS_AT + i] = digits[i] ^ mask[(CHAT_TS_AT + i) & 3];
              sock.write(frame);
            }
            outstanding += n;
          };
          senders[member] = send;
          const split = frameSplitter((opcode, buf, start, end) => {
            let k = 0;
            for (let i = start + CHAT_K_AT; i < start + CHAT_K_AT + CHAT_K_LEN; i++) k = k * 10 + (buf[i] - 0x30);
            const t = payloads[k];
            if (
              opcode !== TEXT ||
              t === undefined ||
              end - start !== t.length ||
              buf.compare(t, 0, CHAT_TS_AT, start, start + CHAT_TS_AT) !== 0 ||
              buf.compare(t, CHAT_TS_AT + CHAT_TS_LEN, t.length, start + CHAT_TS_AT + CHAT_TS_LEN, end) !== 0
            ) {
              return reject(sock, 'chat delivery differs from every message sent');
            }
            let ts = 0;
            for (let i = start + CHAT_TS_AT; i < start + CHAT_TS_AT + CHAT_TS_LEN; i++) ts = ts * 10 + (buf[i] - 0x30);
            if (inWindow) histogram.add(nowUs() - ts);
            count++;
            bytes += t.length;
            if (((k / VARIANTS) | 0) === member) {
              outstanding--;
              if (!stopping) send(1);
            }
          });
          opened();
          return (chunk) => {
            if (!split(chunk)) reject(sock, 'unexpected frame from the server');
          };
        },
        failed,
      );
    },
    (opened) => {
      if (opened < cfg.conns) return finish();
      // Give the server a moment to have every member in the room before the first message.
      setTimeout(() => {
        for (const send of senders) send(cfg.inflight);
        setTimeout(() => {
          inWindow = true;
        }, cfg.warmup * 1000);
        measure(cfg.warmup, cfg.duration, () => outstanding === 0 || errors > 0);
      }, 200);
    },
  );
  latencyReport = () => {
    inWindow = false;
    return histogram.report();
  };
}

/**
 * Timer push: cfg.conns connections that send nothing; the server sends each a 100 B text
 * (JSON with multi-byte characters and a sequence number) every cfg.interval ms. Every
 * delivery is checked against the template (all but the sequence digits). Counted: deliveries.
 */
function runPush(cfg: Extract<ClientConfig, { mode: 'push' }>): void {
  const template = pushTemplate().bytes;
  const request = upgradeRequest(cfg.port, '/push');
  let first: Socket | null = null;
  openMany(
    cfg.conns,
    200,
    60000,
    (_i, opened, failed) => {
      open(
        cfg.port,
        request,
        (sock) => {
          first ??= sock;
          const split = frameSplitter((opcode, buf, start, end) => {
            if (
              opcode !== TEXT ||
              end - start !== PUSH_SIZE ||
              buf.compare(template, 0, PUSH_SEQ_AT, start, start + PUSH_SEQ_AT) !== 0 ||
              buf.compare(template, PUSH_SEQ_AT + PUSH_SEQ_LEN, PUSH_SIZE, start + PUSH_SEQ_AT + PUSH_SEQ_LEN, end) !== 0
            ) {
              return reject(sock, 'pushed message differs from the template');
            }
            count++;
            bytes += PUSH_SIZE;
          });
          opened();
          return (chunk) => {
            if (!split(chunk)) reject(sock, 'unexpected frame from the server');
          };
        },
        failed,
      );
    },
    (opened) => {
      if (opened < cfg.conns) return finish();
      // All open: one message tells the server to start its timer.
      first!.write(maskedFrame(TEXT, Buffer.from('start'), maskFor(0)));
      measure(cfg.warmup, cfg.duration, () => true);
    },
  );
}

let latencyReport: (() => ClientResult['latency']) | null = null;

// ---- entry ----------------------------------------------------------------------------------

process.once('message', (msg: { cmd: 'run'; config: ClientConfig }) => {
  const cfg = msg.config;
  // A hard stop in case anything above fails to finish.
  // Opening thousands of connections (push) gets up to 60 s of its own.
  const limit = 'duration' in cfg ? (cfg.warmup + cfg.duration) * 1000 + (cfg.mode === 'push' ? 100000 : 40000) : 180000;
  setTimeout(() => {
    fail('load generator timed out');
    finish();
  }, limit).unref();
  if (cfg.mode === 'echo') runEcho(cfg);
  else if (cfg.mode === 'broadcast') runBroadcast(cfg);
  else if (cfg.mode === 'handshake') runHandshake(cfg);
  else if (cfg.mode === 'idle') runIdle(cfg);
  else if (cfg.mode === 'chat') runChat(cfg);
  else if (cfg.mode === 'push') runPush(cfg);
  else runDeflate(cfg);
});
process.on('disconnect', () => process.exit(0));

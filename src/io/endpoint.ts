// attachWebSocket: claims upgrade requests on an existing http(s).Server by path, runs the
// handshake and the checks, then hands the open connection to the handler.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import {
  type CheckOutcome,
  formatRejection,
  type Middleware,
  middlewareRunner,
  runVerify,
  type VerifyFn,
  withTimeout,
} from './checks';
import { DeflateCodec } from './deflate';
import { resolveDeflateOptions } from './extensions';
import {
  formatAccept,
  formatReject,
  type HandshakeOptions,
  type HandshakeRequest,
  validateHandshake,
} from './handshake';
import { type HeartbeatOptions, type LivenessSettings, sweep, tickPeriod } from './heartbeat';
import { isValidCloseCode } from './protocol/close';
import { encodeFrame, encodeTextFrame, Opcode } from './protocol/encoder';
import { compilePath, type PathMatcher, splitUrl } from './route';
import {
  type BackpressurePolicy,
  type SendData,
  type SocketCounters,
  type SocketHost,
  type SocketOptions,
  toBuffer,
  WebSocket,
} from './socket';
import { LocalTopics, type Topics } from './topics';

/** Called once per accepted connection, after the 101. A returned promise's rejection is reported. */
export type Handler = (socket: WebSocket, req: UpgradeRequest) => unknown;

/** What the handler's request carries besides IncomingMessage. */
export interface UpgradeRequest extends IncomingMessage {
  params: Record<string, string | string[]>;
  query: Record<string, string | string[]>;
}

export interface AttachOptions extends Omit<HandshakeOptions, 'protocols'> {
  /** Exact path, list, or Express-style pattern ("/rooms/:room"). Default: every path. */
  path?: string | readonly string[];
  /** Path matching is case-sensitive. Default false, as in Express. */
  caseSensitive?: boolean;
  /** "/ws/" no longer matches "/ws". Default false, as in Express. */
  strict?: boolean;
  /** Subprotocols in the server's order of preference, or a selector. */
  protocols?: readonly string[] | ((offered: readonly string[], req: IncomingMessage) => string | false);
  /** Express middleware run before the upgrade, with a real response object. */
  use?: Middleware | readonly Middleware[];
  /** Your Express app: `use` then sees its settings (trust proxy, ...) and app.locals. */
  app?: unknown;
  /** A check for non-Express users; true accepts, false is 401, an object is the response. */
  verify?: VerifyFn;
  /** Longest time middleware and verify may take before a 503 (ms). Default 10000. */
  verifyTimeout?: number;
  /** Largest incoming message in bytes, all fragments counted. Default 1 MiB. */
  maxPayload?: number;
  /** Wait this long for the peer's half of the close handshake (ms). Default 5000. */
  closeTimeout?: number;
  /** Ping quiet sockets and drop dead ones; false turns it off. Default on: 30 s, 10 s. */
  heartbeat?: HeartbeatOptions | false;
  /** Close a socket that sent no message for this long (ms), code 1000. 0 (default) disables. */
  idleTimeout?: number;
  /** Most bytes a socket may have waiting to be sent. Default 16 MiB. */
  maxBackpressure?: number;
  /** Past maxBackpressure: 'close' the slow socket (default) or 'drop' the message. */
  backpressurePolicy?: BackpressurePolicy;
  /** More open connections than this get 503 with Retry-After. Default unlimited. */
  maxConnections?: number;
  /** Where errors from handlers, middleware and sockets go. Default: console.error. */
  onError?: (error: unknown, context: { socket?: WebSocket; req?: IncomingMessage }) => void;
  /** Replace the in-process topic registry (e.g. with a broker-backed one). */
  topics?: Topics;
}

export interface EndpointStats extends SocketCounters {
  connections: number;
  accepted: number;
  /** Refused handshakes, by HTTP status. */
  rejected: Record<number, number>;
}

export interface CloseOptions {
  code?: number;
  reason?: string;
  /** How long to wait for polite closes before terminating the rest (ms). Default 5000. */
  timeout?: number;
}

export interface BroadcastOptions {
  binary?: boolean;
  except?: WebSocket | ((socket: WebSocket) => boolean);
}

export interface Endpoint {
  /** The open sockets. */
  readonly clients: ReadonlySet<WebSocket>;
  readonly topics: Topics;
  /** Sends to every open socket, framed once; returns how many sockets took it. */
  broadcast(data: SendData, options?: BroadcastOptions): number;
  /** Sends to every subscriber of a topic, framed once; returns how many took it. */
  publish(topic: string, data: SendData, options?: { binary?: boolean }): number;
  /** Stops accepting (503), closes every socket, terminates laggards after the timeout. */
  close(options?: CloseOptions): Promise<void>;
  stats(): EndpointStats;
}

const DEFAULTS = {
  maxPayload: 1024 * 1024,
  closeTimeout: 5000,
  verifyTimeout: 10000,
  maxBackpressure: 16 * 1024 * 1024,
  heartbeat: { interval: 30000, timeout: 10000 },
};

type AnyServer = HttpServer | HttpsServer;

/** One upgrade listener per server, shared by every endpoint attached to it. */
class Dispatcher {
  readonly endpoints: EndpointImpl[] = [];
  readonly listener = (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head);
  constructor(private readonly server: AnyServer) {}

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { pathname, query } = splitUrl(req.url);
    for (const endpoint of this.endpoints) {
      const params = endpoint.match(pathname);
      if (params) return endpoint.handleUpgrade(req as UpgradeRequest, socket, head, params, query);
    }
    // Another library listening for upgrades may own this path; leave the request to it.
    if (this.server.listenerCount('upgrade') > 1) return;
    writeAndEnd(socket, formatReject({ status: 404, headers: {}, reason: `No WebSocket endpoint at ${pathname}` }));
  }
}

const dispatchers = new WeakMap<AnyServer, Dispatcher>();

function writeAndEnd(socket: Socket, response: string): void {
  if (socket.destroyed) return;
  socket.on('error', () => {}); // a peer that resets mid-response is not our error
  socket.end(response);
  // If the peer never reads, do not hold the socket forever.
  setTimeout(() => socket.destroy(), 5000).unref();
}

class EndpointImpl implements Endpoint, SocketHost {
  readonly clients = new Set<WebSocket>();
  readonly topics: Topics;
  readonly match: PathMatcher;
  readonly counters: SocketCounters = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, backpressureEvents: 0 };
  private readonly rejected: Record<number, number> = {};
  private accepted = 0;
  private pending = 0;
  private closing = false;
  private clock = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly liveness: LivenessSettings;
  private readonly handshakeOptions: HandshakeOptions;
  private readonly runMiddleware: ((req: IncomingMessage, socket: Socket) => Promise<CheckOutcome>) | null;
  private readonly deflate: ReturnType<typeof resolveDeflateOptions>;
  private readonly socketOptions: SocketOptions;
  // Sockets that agreed to server_no_context_takeover, with their window bits: a message
  // compressed once is valid for all of them (publish/broadcast).
  private readonly sharedDeflate = new WeakMap<WebSocket, number>();
  private readonly sharedCodecs = new Map<number, DeflateCodec>();

  constructor(
    private readonly handler: Handler,
    private readonly options: AttachOptions,
  ) {
    this.match = compilePath(options.path, { caseSensitive: options.caseSensitive, strict: options.strict });
    this.topics = options.topics ?? new LocalTopics();
    this.deflate = resolveDeflateOptions(options.perMessageDeflate);
    const use = options.use === undefined ? [] : typeof options.use === 'function' ? [options.use] : options.use;
    this.runMiddleware = use.length > 0 ? middlewareRunner(use, options.verifyTimeout ?? DEFAULTS.verifyTimeout, options.app) : null;
    const heartbeat = options.heartbeat === false ? null : (options.heartbeat ?? {});
    this.liveness = {
      interval: heartbeat ? (heartbeat.interval ?? DEFAULTS.heartbeat.interval) : 0,
      timeout: heartbeat ? (heartbeat.timeout ?? DEFAULTS.heartbeat.timeout) : 0,
      idleTimeout: options.idleTimeout ?? 0,
    };
    checkNumber('heartbeat.interval', this.liveness.interval);
    checkNumber('heartbeat.timeout', this.liveness.timeout);
    checkNumber('idleTimeout', this.liveness.idleTimeout);
    const { protocols: _p, ...rest } = options;
    this.handshakeOptions = rest;
    checkNumber('maxPayload', options.maxPayload);
    checkNumber('maxConnections', options.maxConnections);
    checkNumber('maxBackpressure', options.maxBackpressure);
    this.socketOptions = {
      maxPayload: options.maxPayload ?? DEFAULTS.maxPayload,
      closeTimeout: options.closeTimeout ?? DEFAULTS.closeTimeout,
      maxBackpressure: options.maxBackpressure ?? DEFAULTS.maxBackpressure,
      backpressurePolicy: options.backpressurePolicy ?? 'close',
    };
  }

  stats(): EndpointStats {
    return { ...this.counters, connections: this.clients.size, accepted: this.accepted, rejected: { ...this.rejected } };
  }

  // ---- SocketHost --------------------------------------------------------------------

  now(): number {
    return this.clock;
  }

  onSocketClosed(socket: WebSocket): void {
    this.clients.delete(socket);
    if (socket.topics) for (const topic of socket.topics) this.topics.unsubscribe(socket, topic);
    socket.topics = null;
    if (this.clients.size === 0) {
      this.stopTimer();
      for (const codec of this.sharedCodecs.values()) codec.close();
      this.sharedCodecs.clear();
    }
  }

  subscribe(socket: WebSocket, topic: string): void {
    this.topics.subscribe(socket, topic);
  }

  unsubscribe(socket: WebSocket, topic: string): void {
    this.topics.unsubscribe(socket, topic);
  }

  reportError(error: unknown, socket?: WebSocket, req?: IncomingMessage): void {
    const report = this.options.onError;
    try {
      if (report) report(error, { socket, req });
      else console.error('wsgate:', error);
    } catch {
      // An error reporter that throws must not take the process down.
    }
  }

  // ---- accepting ---------------------------------------------------------------------

  handleUpgrade(
    req: UpgradeRequest,
    socket: Socket,
    head: Buffer,
    params: Record<string, string | string[]>,
    query: Record<string, string | string[]>,
  ): void {
    socket.on('error', noop); // until the WebSocket owns the socket, resets are not errors
    if (this.closing) return this.refuse(socket, 503, 'Server is shutting down', {});
    const max = this.options.maxConnections;
    if (max !== undefined && this.clients.size + this.pending >= max) {
      return this.refuse(socket, 503, 'Too many connections', { 'Retry-After': '5' });
    }
    let decision: ReturnType<typeof validateHandshake>;
    try {
      decision = validateHandshake(req as HandshakeRequest, this.handshakeFor(req));
    } catch (err) {
      // A throwing origins or protocols function is the app's bug: report it, answer 500.
      this.reportError(err, undefined, req);
      return this.refuse(socket, 500, 'Internal Server Error', {});
    }
    if (!decision.ok) return this.refuse(socket, decision.status, decision.reason, decision.headers);

    // Own properties, so they also shadow Express's prototype getters once middleware ran.
    Object.defineProperty(req, 'params', { value: params, writable: true, configurable: true, enumerable: true });
    Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true, enumerable: true });
    if (!this.runMiddleware && !this.options.verify) return this.open(req, socket, head, decision);

    // Checks may be slow: keep reading so a disconnect is noticed, holding early bytes.
    this.pending++;
    const early: Buffer[] = [head];
    let earlyBytes = head.length;
    let gone = false;
    const onData = (chunk: Buffer) => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > (this.options.maxPayload ?? DEFAULTS.maxPayload) + 14) socket.destroy();
    };
    const onGone = () => {
      gone = true;
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('close', onGone);

    this.runChecks(req, socket).then(
      (outcome) => {
        this.pending--;
        socket.off('data', onData);
        socket.off('end', onGone);
        socket.off('close', onGone);
        if (outcome.kind === 'responded') return this.count(outcome.status); // the middleware's response owns the socket
        if (gone || socket.destroyed) return;
        if (outcome.kind === 'reject') {
          if (outcome.error !== undefined) this.reportError(outcome.error, undefined, req);
          this.count(outcome.status);
          return writeAndEnd(socket, formatRejection(outcome));
        }
        if (this.closing) return this.refuse(socket, 503, 'Server is shutting down', {});
        req.params = params; // Express's router leaves its own (empty) params behind
        socket.pause();
        this.open(req, socket, Buffer.concat(early, earlyBytes), decision, outcome.headers);
      },
      (err) => {
        this.pending--;
        this.reportError(err, undefined, req);
        socket.destroy();
      },
    );
  }

  private async runChecks(req: UpgradeRequest, socket: Socket): Promise<CheckOutcome> {
    const timeout = this.options.verifyTimeout ?? DEFAULTS.verifyTimeout;
    let headers: Record<string, string | string[]> | undefined;
    if (this.runMiddleware) {
      const outcome = await this.runMiddleware(req, socket); // it applies the timeout itself
      if (outcome.kind !== 'accept') return outcome;
      headers = outcome.headers;
    }
    if (this.options.verify) {
      const outcome = await withTimeout(runVerify(this.options.verify, req), timeout);
      if (outcome.kind !== 'accept') return outcome;
    }
    return { kind: 'accept', headers };
  }

  private handshakeFor(req: IncomingMessage): HandshakeOptions {
    const protocols = this.options.protocols;
    if (typeof protocols !== 'function') return { ...this.handshakeOptions, protocols };
    return { ...this.handshakeOptions, protocols: (offered) => protocols(offered, req) };
  }

  private refuse(socket: Socket, status: number, reason: string, headers: Record<string, string>): void {
    this.count(status);
    writeAndEnd(socket, formatReject({ status, headers, reason }));
  }

  private count(status: number): void {
    this.rejected[status] = (this.rejected[status] ?? 0) + 1;
  }

  private open(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    decision: Extract<ReturnType<typeof validateHandshake>, { ok: true }>,
    extraHeaders?: Record<string, string | string[]>,
  ): void {
    if (socket.destroyed || !socket.writable) return;
    socket.off('error', noop);
    socket.write(formatAccept(decision, extraHeaders));
    const codec = decision.deflate && this.deflate ? new DeflateCodec(decision.deflate, this.deflate) : null;
    // Before the socket reads now() for lastSeen: starting the timer refreshes a stale clock.
    this.startTimer();
    const ws = new WebSocket(socket, this, this.socketOptions, {
      protocol: decision.protocol,
      extensions: decision.extensions,
      codec,
    });
    if (codec && decision.deflate!.serverNoContextTakeover) {
      this.sharedDeflate.set(ws, decision.deflate!.serverMaxWindowBits);
    }
    this.accepted++;
    this.clients.add(ws);
    try {
      const result = this.handler(ws, req as UpgradeRequest);
      if (result instanceof Promise) result.catch((err) => this.handlerFailed(err, ws, req));
    } catch (err) {
      this.handlerFailed(err, ws, req);
    }
    ws.start(head);
  }

  private handlerFailed(err: unknown, ws: WebSocket, req: IncomingMessage): void {
    this.reportError(err, ws, req);
    if (ws.readyState === 1) ws.close(1011, 'internal error');
  }

  // ---- the liveness timer ------------------------------------------------------------

  private startTimer(): void {
    if (this.timer !== null) return;
    const period = tickPeriod(this.liveness);
    if (period === 0) return;
    this.clock = Date.now();
    this.timer = setInterval(() => {
      this.clock = Date.now();
      sweep(this.clients, this.clock, this.liveness);
    }, period);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  // ---- many sockets ------------------------------------------------------------------

  broadcast(data: SendData, options: BroadcastOptions = {}): number {
    const except = options.except;
    const skip = typeof except === 'function' ? except : (s: WebSocket) => s === except;
    return this.deliverAll(this.clients, data, options.binary, except === undefined ? null : skip);
  }

  publish(topic: string, data: SendData, options: { binary?: boolean } = {}): number {
    return this.deliverAll(this.topics.subscribers(topic), data, options.binary, null);
  }

  /**
   * Frames the message once and writes the same bytes to every recipient; compressed once
   * for the sockets without context takeover. Returns how many sockets took it.
   */
  private deliverAll(
    sockets: Iterable<WebSocket>,
    data: SendData,
    binary: boolean | undefined,
    skip: ((s: WebSocket) => boolean) | null,
  ): number {
    const isBinary = binary ?? typeof data !== 'string';
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    const uncompressed = this.deflate === null || size < this.deflate.threshold;
    let frame: Buffer | null = null;
    let shared: Map<number, ((frame: Buffer | null) => void)[]> | null = null;
    let sent = 0;
    for (const socket of sockets) {
      if (socket.readyState !== 1 || (skip && skip(socket))) continue;
      if (uncompressed || socket.extensions === '') {
        // What send() would write too: below the threshold nothing is compressed.
        frame ??= frameOnce(data, isBinary);
        if (socket.sendEncoded(frame)) sent++;
        continue;
      }
      const bits = this.sharedDeflate.get(socket);
      if (bits === undefined) {
        // Context takeover: each socket's deflate stream depends on its own history.
        // send()'s result means "flushed", not "taken"; the counter says whether it took it.
        const before = this.counters.messagesOut;
        socket.send(data, { binary: isBinary });
        if (this.counters.messagesOut !== before) sent++;
        continue;
      }
      const fill = socket.reserve(size);
      if (fill === null) continue;
      sent++;
      shared ??= new Map();
      const group = shared.get(bits);
      if (group) group.push(fill);
      else shared.set(bits, [fill]);
    }
    if (shared) for (const [bits, fills] of shared) this.compressOnce(bits, toBuffer(data), isBinary, fills);
    return sent;
  }

  private compressOnce(
    bits: number,
    payload: Buffer,
    binary: boolean,
    fills: ((frame: Buffer | null) => void)[],
  ): void {
    let codec = this.sharedCodecs.get(bits);
    if (!codec) {
      // Only the compressing half is used; a reset after every message keeps it shareable.
      const params = {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: bits,
        clientMaxWindowBits: 15,
      };
      codec = new DeflateCodec(params, this.deflate!);
      this.sharedCodecs.set(bits, codec);
    }
    codec.compress(payload, (err, compressed) => {
      // A closed codec means every socket left; fill(null) is then a no-op.
      if (err && this.clients.size > 0) this.reportError(err);
      const frame = err ? null : encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, compressed!, true, true);
      for (const fill of fills) fill(frame);
    });
  }

  close(options: CloseOptions = {}): Promise<void> {
    const { code = 1001, reason = '', timeout = 5000 } = options;
    // Checked before anything happens: a bad code must not leave a half-done shutdown.
    if (!Number.isInteger(code) || !isValidCloseCode(code)) {
      return Promise.reject(new RangeError(`invalid close code ${code}`));
    }
    if (Buffer.byteLength(reason) > 123) return Promise.reject(new RangeError('close reason over 123 bytes'));
    this.closing = true;
    const open = [...this.clients];
    if (open.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = open.length;
      const timer = setTimeout(() => {
        for (const socket of open) socket.terminate();
      }, timeout);
      const done = () => {
        if (--left > 0) return;
        clearTimeout(timer);
        resolve();
      };
      for (const socket of open) {
        if (socket.readyState === 3) {
          done();
          continue;
        }
        socket.once('close', done);
        socket.close(code, reason);
      }
    });
  }
}

function frameOnce(data: SendData, binary: boolean): Buffer {
  if (typeof data === 'string' && !binary) return encodeTextFrame(data);
  return encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, toBuffer(data));
}

function checkNumber(name: string, value: number | undefined): void {
  if (value !== undefined && !(typeof value === 'number' && value >= 0)) {
    throw new RangeError(`${name} must be a non-negative number`);
  }
}

function noop(): void {}

/**
 * Serves WebSocket connections on an existing http or https server, sharing its port.
 * Several endpoints may be attached to one server; they are tried in order.
 */
export function attachWebSocket(server: AnyServer, handler: Handler, options: AttachOptions = {}): Endpoint {
  let dispatcher = dispatchers.get(server);
  if (!dispatcher) {
    dispatcher = new Dispatcher(server);
    dispatchers.set(server, dispatcher);
    server.on('upgrade', dispatcher.listener);
  }
  const endpoint = new EndpointImpl(handler, options);
  dispatcher.endpoints.push(endpoint);
  return endpoint;
}

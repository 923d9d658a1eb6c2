// An endpoint: the registry of its open connections, their shared clock and liveness
// timer, stats, topics, fan-out and shutdown. Requests reach it through upgrade.ts.
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { DeflateParams } from '../core/extensions';
import { CloseCode, isValidCloseCode, MAX_CLOSE_REASON } from '../core/frames';
import type { Transport, TransportKind } from '../transport/transport';
import type { TopicSink, Topics } from '../topics/topics';
import type { Connection, ConnectionCounters, ConnectionHost, Negotiated, SendData } from './connection';
import { toBuffer } from './message';
import { WebSocket } from './websocket';
import type { CloseCause } from './connection-host';
import { PerClientLimits } from './guards/per-client';
import { DeflateCodec } from './deflate';
import { publishClose, publishError, publishOpen } from './diagnostics';
import { Fanout } from './fanout';
import { textBytes } from './text';
import { mayJudge, sweep, tickPeriod } from './liveness';
import { checkKeys, DEFAULTS, type EndpointSettings } from './settings';

/**
 * Called once per accepted connection. A returned promise's rejection is reported.
 * `P` is the type of `req.params`, inferred by attachWebSocket from a literal path.
 */
export type Handler<P extends object = import('../core/route-params').LooseParams> = (socket: WebSocket, req: UpgradeRequest<P>) => unknown;

/**
 * What the handler's request carries besides IncomingMessage. Properties your middleware
 * adds are typed by augmenting this interface (no type parameter needed):
 * `declare module 'wsgate' { interface UpgradeRequest { user?: User } }`.
 */
export interface UpgradeRequest<P extends object = import('../core/route-params').LooseParams> extends IncomingMessage {
  /**
   * The route params, decoded, in an object without a prototype. Typed from a literal path:
   * `:name` is a string, `*name` a string[] (one element per segment), a name inside
   * `{...}` may be absent. With a non-literal path, any key is `string | string[] | undefined`.
   */
  params: P;
  query: Record<string, string | string[]>;
}

export interface EndpointStats extends ConnectionCounters {
  connections: number;
  /** Open connections by transport. */
  byTransport: Record<TransportKind, number>;
  accepted: number;
  /** Refused handshakes, by HTTP status. */
  rejected: Record<number, number>;
  /** Refused handshakes, by cause: what an operator watches for an attack. */
  refusedBy: Record<RefusalCause, number>;
  /** Connections wsgate closed, by cause. */
  closedBy: Record<CloseCause, number>;
  /** What the topics implementation counts (a broker's published, received, dropped ...). */
  topics: Readonly<Record<string, number>>;
}

/** Why a handshake was refused, for the counts in stats().refusedBy. */
export type RefusalCause = 'origin' | 'perClient' | 'maxConnections' | 'shuttingDown';

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

export interface PublishOptions {
  binary?: boolean;
  /** A socket (usually the sender) or a test for sockets that should not get the message. */
  except?: WebSocket | ((socket: WebSocket) => boolean);
}

export interface Endpoint {
  /** The open sockets. */
  readonly clients: ReadonlySet<WebSocket>;
  readonly topics: Topics;
  /** Sends to every open socket, framed once; returns how many sockets took it. */
  broadcast(data: SendData, options?: BroadcastOptions): number;
  /**
   * Sends to every subscriber of a topic, framed once, and through the topics
   * implementation to other instances; returns how many local sockets took it.
   */
  publish(topic: string, data: SendData, options?: PublishOptions): number;
  /** As publish, resolving (with the local count) once the broker accepted the message. */
  publishAsync(topic: string, data: SendData, options?: PublishOptions): Promise<number>;
  /**
   * Stops accepting (503), closes every socket and terminates laggards after the timeout.
   * A later attachWebSocket on the same server replaces a closed endpoint.
   */
  close(options?: CloseOptions): Promise<void>;
  stats(): EndpointStats;
}

const CLOSE_KEYS = new Set(['code', 'reason', 'timeout']);
const SEND_KEYS = new Set(['binary', 'except']);

// The liveness clock, in whole milliseconds since the process started (never 0, which means
// "no ping out"). Small integers sit in a connection's fields as they are, where Date.now()
// values take a 16-byte box each (lastSeen, lastMessage, pingSentAt); past 2^31 ms of uptime
// (24 days) these are boxed too.
function clockNow(): number {
  return Math.floor(performance.now()) + 1;
}

export class EndpointImpl implements Endpoint, ConnectionHost, TopicSink {
  readonly clients = new Set<WebSocket>();
  readonly topics: Topics;
  readonly counters: ConnectionCounters = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, backpressureEvents: 0 };
  private readonly rejected: Record<number, number> = {};
  private readonly byTransport: Record<TransportKind, number> = { 'http/1.1': 0, h2: 0 };
  private readonly refusedBy: Record<RefusalCause, number> = { origin: 0, perClient: 0, maxConnections: 0, shuttingDown: 0 };
  private readonly closedBy: Record<CloseCause, number> = { backpressure: 0, payloadSize: 0, rateLimit: 0 };
  /** Limits per client, when the perClient option is set. */
  readonly perClient: PerClientLimits | null;
  private accepted = 0;
  /** Requests whose guards are still running: they count toward maxConnections. */
  pending = 0;
  closing = false;
  private clock = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly fanout: Fanout;

  constructor(
    readonly handler: Handler,
    readonly settings: EndpointSettings,
  ) {
    this.topics = settings.topics;
    this.perClient = settings.perClient ? new PerClientLimits(settings.perClient) : null;
    this.fanout = new Fanout(settings.deflate, (err) => this.reportError(err));
    this.topics.bind?.(this);
  }

  stats(): EndpointStats {
    return {
      ...this.counters,
      connections: this.clients.size,
      byTransport: { ...this.byTransport },
      accepted: this.accepted,
      rejected: { ...this.rejected },
      refusedBy: { ...this.refusedBy },
      closedBy: { ...this.closedBy },
      topics: { ...this.topics.stats?.() },
    };
  }

  /** Counts a refused handshake. */
  count(status: number, cause?: RefusalCause): void {
    this.rejected[status] = (this.rejected[status] ?? 0) + 1;
    if (cause !== undefined) this.refusedBy[cause]++;
  }

  countClose(cause: CloseCause): void {
    this.closedBy[cause]++;
  }

  // ---- ConnectionHost --------------------------------------------------------------------

  now(): number {
    return this.clock;
  }

  connectionClosed(connection: Connection): void {
    const socket = connection as WebSocket; // every connection is a WebSocket
    if (!this.clients.delete(socket)) return;
    this.byTransport[socket.transportKind]--;
    publishClose(socket);
    if (socket.clientKey !== null) this.perClient?.closed(socket.clientKey);
    if (socket.topics) for (const topic of socket.topics) this.topics.unsubscribe(socket, topic);
    socket.topics = null;
    if (this.clients.size === 0) {
      this.stopTimer();
      this.fanout.release();
    }
  }

  subscribe(socket: WebSocket, topic: string): void {
    this.topics.subscribe(socket, topic);
  }

  unsubscribe(socket: WebSocket, topic: string): void {
    this.topics.unsubscribe(socket, topic);
  }

  reportError(error: unknown, connection?: Connection, req?: IncomingMessage): void {
    const socket = connection as WebSocket | undefined; // every connection is a WebSocket
    publishError(error, socket, req);
    try {
      this.settings.onError(error, { socket, req });
    } catch {
      // An error reporter that throws must not take the process down.
    }
  }

  // ---- opening ---------------------------------------------------------------------------

  /** Makes the connection for an answered handshake and hands it to the handler. */
  open(
    transport: Transport,
    head: Buffer,
    req: UpgradeRequest,
    agreed: { protocol: string; extensions: string; deflate: DeflateParams | null },
    clientKey: string | null,
  ): void {
    const codec = agreed.deflate && this.settings.deflate ? new DeflateCodec(agreed.deflate, this.settings.deflate) : null;
    // Before the socket reads now() for lastSeen: starting the timer refreshes a stale clock.
    this.startTimer();
    const negotiated: Negotiated = { protocol: agreed.protocol, extensions: agreed.extensions, codec };
    const ws = new WebSocket(transport, this, this.settings.connection, negotiated);
    this.fanout.register(ws, codec ? agreed.deflate : null);
    if (clientKey !== null) {
      ws.clientKey = clientKey;
      this.perClient!.opened(clientKey);
    }
    this.accepted++;
    this.clients.add(ws);
    this.byTransport[transport.kind]++;
    publishOpen(ws);
    try {
      const result = this.handler(ws, req);
      if (result instanceof Promise) result.catch((err) => this.handlerFailed(err, ws, req));
    } catch (err) {
      this.handlerFailed(err, ws, req);
    }
    ws.start(head);
  }

  private handlerFailed(err: unknown, ws: WebSocket, req: IncomingMessage): void {
    this.reportError(err, ws, req);
    if (ws.readyState === 1) ws.close(CloseCode.INTERNAL_ERROR, 'internal error');
  }

  // ---- the liveness timer ----------------------------------------------------------------

  private startTimer(): void {
    if (this.timer !== null) return;
    const period = tickPeriod(this.settings.liveness);
    if (period === 0) return;
    this.clock = clockNow();
    let deferred = false;
    this.timer = setInterval(() => {
      const now = clockNow();
      const judge = mayJudge(this.clock, now, period, deferred);
      deferred = !judge;
      this.clock = now;
      sweep(this.clients, now, this.settings.liveness, judge);
    }, period);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  // ---- many sockets ----------------------------------------------------------------------

  broadcast(data: SendData, options: BroadcastOptions = {}): number {
    checkKeys('broadcast', options, SEND_KEYS);
    return this.fanout.deliver(this.clients, data, options.binary ?? typeof data !== 'string', skipper(options.except));
  }

  publish(topic: string, data: SendData, options: PublishOptions = {}): number {
    return this.publishLocally(topic, data, options).count;
  }

  async publishAsync(topic: string, data: SendData, options: PublishOptions = {}): Promise<number> {
    const { count, outwards } = this.publishLocally(topic, data, options);
    await outwards;
    return count;
  }

  private publishLocally(topic: string, data: SendData, options: PublishOptions): { count: number; outwards: Promise<void> | undefined } {
    checkKeys('publish', options, SEND_KEYS);
    if (typeof topic !== 'string') throw new TypeError('publish: topic must be a string');
    const binary = options.binary ?? typeof data !== 'string';
    const count = this.fanout.deliver(this.topics.subscribers(topic), data, binary, skipper(options.except));
    const outwards = this.topics.publish?.(topic, typeof data === 'string' ? textBytes(data) : toBuffer(data), binary);
    // A broker failure is counted by the implementation; an unawaited rejection must not crash.
    outwards?.catch(() => {});
    return { count, outwards };
  }

  /** TopicSink: a message published by another instance. */
  deliver(topic: string, data: Buffer, binary: boolean): void {
    this.fanout.deliver(this.topics.subscribers(topic), data, binary, null);
  }

  close(options: CloseOptions = {}): Promise<void> {
    checkKeys('close', options, CLOSE_KEYS);
    const { code = CloseCode.GOING_AWAY, reason = '', timeout = DEFAULTS.closeTimeout } = options;
    // Checked before anything happens: a bad code must not leave a half-done shutdown.
    if (!Number.isInteger(code) || !isValidCloseCode(code)) {
      return Promise.reject(new RangeError(`invalid close code ${code}`));
    }
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON) return Promise.reject(new RangeError('close reason over 123 bytes'));
    if (this.closing) return this.closed ?? Promise.resolve();
    this.closing = true;
    this.closed = this.closeAll(code, reason, timeout).then(async () => {
      this.fanout.release();
      await this.topics.close?.();
    });
    return this.closed;
  }

  private closed: Promise<void> | null = null;

  private closeAll(code: number, reason: string, timeout: number): Promise<void> {
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

function skipper(except: PublishOptions['except']): ((s: WebSocket) => boolean) | null {
  if (except === undefined) return null;
  return typeof except === 'function' ? except : (s) => s === except;
}

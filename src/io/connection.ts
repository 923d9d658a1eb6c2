// The connection underneath a WebSocket: what the transport and the parser call. Bytes in
// go through the frame parser to 'message' events; the close handshake state machine
// (close-state.ts) decides, this class acts. The API applications call is in websocket.ts.
import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { encodeFrame } from '../core/encoder';
import { ProtocolError } from '../core/errors';
import { CloseCode, encodeClosePayload, MAX_CONTROL_PAYLOAD, Opcode } from '../core/frames';
import { FrameParser, type ParserHandler } from '../core/parser';
import type { Transport, TransportKind, TransportSink } from '../transport/transport';
import { CloseHandshake, CloseState, type ReadyState } from './close-state';
import type { CloseCause, ConnectionHost, ConnectionSettings, Negotiated } from './connection-host';
import type { MessageCodec } from './deflate';
import type { WebSocketEvents } from './message';
import { Outbox, type OutboxOwner, type SendCallback } from './outbox';
import { decodeText } from './text';
import { RATE_LIMIT_REASON, RateLimiter } from './rate-limit';

export type { ReadyState } from './close-state';
export type { ConnectionCounters, ConnectionHost, ConnectionSettings, Negotiated } from './connection-host';
export { WebSocketError } from './errors';
export { type SendData, type SendOptions, toBuffer, type WebSocketEvents } from './message';
export type { BackpressurePolicy, SendCallback } from './outbox';

// The parser, the transport and the outbox call back into the connection through methods
// marked as internal: they are left out of the published types (stripInternal), so the
// interfaces they fill are checked where the connection is handed over, not on the class.
export abstract class Connection extends EventEmitter<WebSocketEvents> {

  /** The agreed subprotocol, or ''. */
  readonly protocol: string;
  /** The agreed Sec-WebSocket-Extensions value, or ''. */
  readonly extensions: string;

  /** @internal */
  protected readonly parser: FrameParser;
  /** @internal */
  protected readonly codec: MessageCodec | null;
  /** @internal */
  protected readonly outbox: Outbox;
  // Made when closing starts: an open connection carries no close bookkeeping.
  /** @internal */
  protected closing: CloseHandshake | null = null;
  /** @internal */
  protected closeTimer: NodeJS.Timeout | null = null;
  /** @internal */
  protected readingPaused = 0;
  // Only with the rateLimit option: a connection without it carries none of this.
  /** @internal */
  protected readonly limiter: RateLimiter | null;

  /** @internal heartbeat bookkeeping read by the endpoint's sweep. */
  lastSeen: number;
  /** @internal time of the last application message, for idleTimeout. */
  lastMessage: number;
  /** @internal when an unanswered heartbeat ping went out, or 0. */
  pingSentAt = 0;
  /** @internal topics this socket is subscribed to. */
  topics: Set<string> | null = null;
  /** @internal the client this connection counts against (perClient limits), or null. */
  clientKey: string | null = null;
  /** @internal this connection's own counts, for the diagnostics close event (whole performance.now() ms). */
  openedAt: number;
  /** @internal */
  bytesIn = 0;
  /** @internal */
  messagesIn = 0;
  /** @internal */
  messagesOut = 0;
  // Bytes handed to the outbox; the outbox counts through the bytesOut accessor below.
  /** @internal */
  protected sent = 0;

  /** @internal */
  protected readonly transport: Transport;
  /** @internal */
  protected readonly host: ConnectionHost;
  /** @internal */
  protected readonly settings: ConnectionSettings;

  /** Created by wsgate once the handshake is answered; not for applications. */
  constructor(transport: Transport, host: ConnectionHost, settings: ConnectionSettings, negotiated: Negotiated) {
    super();
    fastListeners(this);
    this.transport = transport;
    this.host = host;
    this.settings = settings;
    this.protocol = negotiated.protocol;
    this.extensions = negotiated.extensions;
    this.codec = negotiated.codec;
    this.limiter = settings.rateLimit ? new RateLimiter(settings.rateLimit, performance.now()) : null;
    this.parser = new FrameParser(this satisfies ParserHandler, {
      maxPayload: settings.maxPayload,
      allowCompression: negotiated.codec !== null,
      requireMask: true,
      reportHeaders: this.limiter !== null,
    });
    // The outbox counts bytesOut on this socket, which keeps the endpoint's total in step.
    this.outbox = new Outbox(transport, settings, this, this satisfies OutboxOwner);
    this.lastSeen = this.lastMessage = host.now();
    this.openedAt = Math.floor(performance.now()); // an integer: no 16-byte box per connection
    transport.bind(this satisfies TransportSink);
  }

  get readyState(): ReadyState {
    return this.closing === null ? 1 : this.closing.readyState;
  }

  /** 'http/1.1' for an upgraded TCP or TLS connection, 'h2' for an HTTP/2 stream. */
  get transportKind(): TransportKind {
    return this.transport.kind;
  }

  /** @internal bytes handed to the transport by this connection (frame headers included). */
  get bytesOut(): number {
    return this.sent;
  }

  set bytesOut(value: number) {
    this.host.counters.bytesOut += value - this.sent;
    this.sent = value;
  }

  /** @internal the code the 'close' event reports (1006 until something else is known). */
  get closeCode(): number {
    return this.closing?.code ?? CloseCode.ABNORMAL;
  }

  /** @internal the reason the 'close' event reports. */
  get closeReason(): string {
    return this.closing?.reason ?? '';
  }

  /** @internal feeds the bytes that arrived with the request, then starts reading. */
  start(head: Buffer): void {
    if (head.length > 0) this.onData(head);
    // The head may already have paused reading (a full async-iterator queue, inflating).
    if (this.readingPaused === 0) this.transport.resume();
  }

  // ---- the transport's events ------------------------------------------------------------

  /** @internal */
  onData(chunk: Buffer): void {
    this.lastSeen = this.host.now();
    this.pingSentAt = 0;
    this.host.counters.bytesIn += chunk.length;
    this.bytesIn += chunk.length;
    this.outbox.beginBatch();
    try {
      this.parser.push(chunk);
    } finally {
      this.outbox.endBatch();
    }
  }

  /** @internal */
  onEnd(): void {
    // The peer finished sending. Without a close frame first, that is an abnormal end.
    this.parser.stop();
    this.closeState().peerEnded();
    this.endTransport();
  }

  /** @internal */
  onError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emitSafely('error', error);
    this.transport.destroy();
  }

  /** @internal */
  onDrain(): void {
    this.outbox.transportDrained();
  }

  /** @internal */
  onClose(): void {
    this.transportClosed();
  }

  /** @internal */
  outboxDrained(): void {
    if (this.readyState !== 3) this.emitSafely('drain');
  }

  // ---- the parser's events ---------------------------------------------------------------

  /** @internal */
  onMessage(data: Buffer, isText: boolean, compressed: boolean, ascii?: boolean): void {
    if (this.closing?.sent) return;
    if (compressed) return this.inflate(data, isText);
    this.deliver(data, isText, ascii);
  }

  /** @internal the rate limit, charged per frame before its payload is read or inflated. */
  onFrameHeader(_opcode: number, payloadLength: number): boolean {
    const limiter = this.limiter!;
    const wait = limiter.frame(payloadLength, performance.now());
    if (wait === 0) return true;
    if (limiter.action === 'close') {
      this.fail(new ProtocolError('WS_RATE_LIMITED', RATE_LIMIT_REASON), RATE_LIMIT_REASON);
      return false;
    }
    // 'pause': stop reading until the tokens are back; TCP (or HTTP/2) flow control then
    // pushes back on the peer. One timer at most.
    if (limiter.timer === null) {
      this.parser.pause();
      this.pauseReading();
      limiter.timer = setTimeout(() => {
        limiter.timer = null;
        this.resumeReading();
        this.parser.resume();
      }, Math.max(wait, MIN_PAUSE));
    }
    return true;
  }

  /** @internal */
  onPing(data: Buffer): void {
    if (this.closing === null) {
      // A peer that pings but never reads the pongs must not grow the send buffer unbounded.
      if (this.admit()) this.writeControl(Opcode.PONG, data);
    }
    this.emitSafely('ping', data);
  }

  /** @internal */
  onPong(data: Buffer): void {
    this.emitSafely('pong', data);
  }

  /** `ascii`: whether the text is all ASCII, when the parser knows (see text.ts). */
  /** @internal */
  protected deliver(data: Buffer, isText: boolean, ascii?: boolean): void {
    this.lastMessage = this.lastSeen;
    this.host.counters.messagesIn++;
    this.messagesIn++;
    // textAs 'buffer': the validated UTF-8 bytes, for relays that never read the text.
    const message = isText && this.settings.textAs !== 'buffer' ? decodeText(data, ascii) : data;
    // Not through emitSafely: its rest parameters and spread allocate on every message.
    try {
      this.emit('message', message, !isText);
    } catch (err) {
      this.host.reportError(err, this);
    }
  }

  /** @internal */
  protected inflate(data: Buffer, isText: boolean): void {
    this.parser.pause();
    this.pauseReading();
    this.codec!.decompress(data, this.settings.maxPayload, (err, result) => {
      // Terminated or failed while inflating: nothing more is delivered.
      if (this.readyState === 3 || this.closing?.discarding) return;
      if (err) {
        const error = err instanceof ProtocolError ? err : new ProtocolError('WS_INVALID_COMPRESSED_DATA', err.message);
        return this.fail(error);
      }
      if (isText && !isUtf8(result!)) return this.fail(new ProtocolError('WS_INVALID_UTF8', 'text message is not valid UTF-8'));
      this.outbox.beginBatch();
      try {
        this.deliver(result!, isText);
        this.resumeReading();
        this.parser.resume();
      } finally {
        this.outbox.endBatch();
      }
    });
  }

  /** @internal */
  onProtocolError(error: ProtocolError): void {
    this.fail(error);
  }

  /** @internal */
  onCloseFrame(code: number, reason: string): void {
    const echo = this.closeState().received(code, reason);
    if (echo !== null) this.writeClose(echo, '');
    // RFC 6455 7.1.1: the server closes the TCP connection first.
    this.endTransport();
  }

  /** Fails the connection (RFC 6455 7.1.7): close frame with the error's code, then end. */
  /** @internal */
  protected fail(error: ProtocolError, reason = ''): void {
    const state = this.closeState();
    if (state.state === CloseState.CLOSED) return;
    this.parser.stop();
    const cause = CAUSES[error.code];
    if (cause !== undefined) this.host.countClose(cause);
    if (this.listenerCount('error') > 0) this.emitSafely('error', error);
    if (state.fail(error.closeCode)) {
      if (state.code === error.closeCode) state.reason = reason;
      this.writeClose(error.closeCode, reason);
    }
    this.endTransport();
  }

  /** @internal */
  protected transportClosed(): void {
    const state = this.closeState();
    if (!state.transportClosed()) return;
    this.parser.stop();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    if (this.limiter?.timer) clearTimeout(this.limiter.timer);
    this.outbox.clear();
    this.codec?.close();
    this.host.connectionClosed(this);
    this.emitSafely('close', state.code, state.reason);
  }

  /** Emits to user listeners: an exception there is reported, never thrown into socket I/O. */
  /** @internal */
  protected emitSafely<K extends keyof WebSocketEvents>(event: K, ...args: WebSocketEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: WebSocketEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.host.reportError(err, this);
    }
  }

  /** @internal */
  protected closeState(): CloseHandshake {
    return (this.closing ??= new CloseHandshake());
  }

  /** @internal whether send() would take a message: the outbox's admission with its policy applied. */
  admit(): boolean {
    const verdict = this.outbox.admit();
    if (verdict === 'ok') return true;
    this.host.counters.backpressureEvents++;
    // The peer reads nothing, so a close frame would never arrive either.
    if (verdict === 'close' && this.readyState === 1) {
      this.host.countClose('backpressure');
      this.abort(CloseCode.POLICY_VIOLATION, 'send buffer limit exceeded');
    }
    return false;
  }

  /** @internal */
  protected abort(code?: number, reason?: string): void {
    if (!this.closeState().abort(code, reason)) return;
    this.parser.stop(); // nothing more is delivered, not even the rest of the current chunk
    this.transport.destroy();
  }

  /** @internal stops reading from the peer (async iteration backpressure, inflating). */
  pauseReading(): void {
    if (this.readingPaused++ === 0) this.transport.pause();
  }

  /** @internal */
  resumeReading(): void {
    if (this.readingPaused > 0 && --this.readingPaused === 0 && this.readyState !== 3) this.transport.resume();
  }

  /** @internal */
  protected writeControl(opcode: number, payload: Buffer, callback?: SendCallback): boolean {
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      if (callback) process.nextTick(callback, new RangeError('control frame payload must be at most 125 bytes'));
      return false;
    }
    // Control frames may overtake a message being compressed; only the close frame may not.
    return this.outbox.pushNow({ frame: encodeFrame(opcode, payload), payload: null, callback });
  }

  /** @internal */
  protected writeClose(code: number | undefined, reason: string): void {
    this.outbox.push({ frame: closeFrame(code, reason), payload: null });
  }

  /** @internal */
  protected endTransport(): void {
    if (this.readyState === 3) return;
    // Frames still being compressed go out first; the outbox ends the transport after them.
    this.outbox.endWhenFlushed();
    this.armCloseTimer();
  }

  /** @internal */
  protected armCloseTimer(): void {
    if (this.closeTimer !== null) return;
    this.closeTimer = setTimeout(() => this.transport.destroy(), this.settings.closeTimeout);
    this.closeTimer.unref();
  }

}

// EventEmitter keeps listeners in a { __proto__: null } literal, which V8 holds in dictionary
// mode: about 140 bytes more per connection than a fast object. An instance of a function
// whose prototype has no prototype looks names up the same way (nothing inherited) and stays
// fast. Only the empty table EventEmitter itself made is replaced (no listener counted, no
// prototype): anything else is left as it is.
function ListenerTable(): void {}
ListenerTable.prototype = Object.create(null) as object;

function fastListeners(emitter: EventEmitter): void {
  const own = emitter as unknown as { _events?: object | null; _eventsCount?: number };
  const table = own._events;
  if (own._eventsCount !== 0 || typeof table !== 'object' || table === null || Object.getPrototypeOf(table) !== null) return;
  own._events = new (ListenerTable as unknown as new () => object)();
}

// Protocol errors an operator wants counted by cause (endpoint.stats().closedBy).
const CAUSES: Partial<Record<ProtocolError['code'], CloseCause>> = {
  WS_MESSAGE_TOO_BIG: 'payloadSize',
  WS_RATE_LIMITED: 'rateLimit',
};

// A paused reader waits at least this long (ms): resuming for every single token back would
// cost a timer and a pause/resume per frame.
const MIN_PAUSE = 50;

// Close frames without a reason for the codes of an ordinary close (1000-1015), made once:
// the echo of a peer's close has no reason. Frames are never written to once made.
const PLAIN_CLOSE: (Buffer | undefined)[] = [];

function closeFrame(code: number | undefined, reason: string): Buffer {
  if (reason !== '' || code === undefined || code < 1000 || code > 1015) return encodeFrame(Opcode.CLOSE, encodeClosePayload(code, reason));
  return (PLAIN_CLOSE[code - 1000] ??= encodeFrame(Opcode.CLOSE, encodeClosePayload(code, '')));
}

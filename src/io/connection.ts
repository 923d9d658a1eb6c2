// A server-side WebSocket connection: binds a net.Socket (or tls.TLSSocket) to the frame
// parser and encoder, and adds the close handshake, backpressure and the user-facing API.
import { isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { encodeClosePayload, isValidCloseCode } from './protocol/close';
import { encodeFrame, encodeHeader, encodeTextFrame, Opcode } from './protocol/encoder';
import { ProtocolError } from './protocol/errors';
import { FrameParser, type ParserHandler } from './protocol/parser';
import type { MessageCodec } from './deflate';

export type ReadyState = 0 | 1 | 2 | 3;

/** Anything `send` accepts. Strings go out as text, the rest as binary. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

export interface SendOptions {
  /** Force a binary (true) or text (false) frame regardless of the data's type. */
  binary?: boolean;
  /** Allow permessage-deflate for this message when it was agreed. Default true. */
  compress?: boolean;
}

export type SendCallback = (error?: Error) => void;

/** What happens when a peer does not read and bufferedAmount passes maxBackpressure. */
export type BackpressurePolicy = 'close' | 'drop';

/** Limits shared by all sockets of an endpoint (one object, not one per connection). */
export interface SocketOptions {
  maxPayload: number;
  /** How long to wait for the peer's side of the close handshake before destroying. */
  closeTimeout: number;
  maxBackpressure: number;
  backpressurePolicy: BackpressurePolicy;
}

/** What the handshake agreed for this connection. */
export interface Negotiated {
  protocol: string;
  extensions: string;
  codec: MessageCodec | null;
}

/** The endpoint a socket belongs to: counters, coarse clock, topics and bookkeeping. */
export interface SocketHost {
  /** Milliseconds, refreshed by the endpoint's timer; cheap to read on every frame. */
  now(): number;
  counters: SocketCounters;
  onSocketClosed(socket: WebSocket): void;
  subscribe(socket: WebSocket, topic: string): void;
  unsubscribe(socket: WebSocket, topic: string): void;
  reportError(error: unknown, socket: WebSocket): void;
}

export interface SocketCounters {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  backpressureEvents: number;
}

/** Raised through send callbacks and returned errors; `code` says which case it is. */
export class WebSocketError extends Error {
  override name = 'WebSocketError';
  constructor(
    message: string,
    readonly code: 'NOT_OPEN' | 'BACKPRESSURE' | 'COMPRESSION_FAILED',
  ) {
    super(message);
  }
}

export interface WebSocketEvents {
  message: [data: string | Buffer, isBinary: boolean];
  close: [code: number, reason: string];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  drain: [];
}

// Frames up to this size are copied into one buffer with their header; larger payloads
// are written as they are, after a separate header.
const COPY_LIMIT = 16 * 1024;
// Messages waiting in an async iterator before we stop reading from the peer.
const ITERATOR_HIGH_WATER = 16;

type Outgoing = { frame: Buffer; payload: Buffer | null; callback?: SendCallback };

export class WebSocket extends EventEmitter<WebSocketEvents> implements ParserHandler {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  // Getters on the prototype, as in the browser: no per-instance fields.
  get CONNECTING(): 0 {
    return 0;
  }
  get OPEN(): 1 {
    return 1;
  }
  get CLOSING(): 2 {
    return 2;
  }
  get CLOSED(): 3 {
    return 3;
  }

  /** The agreed subprotocol, or ''. */
  readonly protocol: string;
  /** The agreed Sec-WebSocket-Extensions value, or ''. */
  readonly extensions: string;

  private state: ReadyState = 1;
  private readonly parser: FrameParser;
  private readonly codec: MessageCodec | null;
  private readonly options: SocketOptions;

  // Writes made while handling one incoming chunk go out in one syscall.
  private batching = false;
  private batch: Buffer[] | null = null; // made on first use, then reused
  private batchBytes = 0;
  // Frames held back behind a message that is still being compressed, to keep order.
  private held: Outgoing[] | null = null;
  private heldBytes = 0;
  // send() returned false because of held frames; 'drain' is due once they are written.
  private drainOwed = false;

  private closeSent = false;
  private closeReceived = false;
  private closeCode = 1006;
  private closeReason = '';
  private closeTimer: NodeJS.Timeout | null = null;
  private closedEmitted = false;
  // The transport should end once the held (compressing) frames are written.
  private endPending = false;

  /** @internal heartbeat bookkeeping read by the endpoint's sweep. */
  lastSeen: number;
  /** @internal time of the last application message, for idleTimeout. */
  lastMessage: number;
  /** @internal when an unanswered heartbeat ping went out, or 0. */
  pingSentAt = 0;
  // Bytes handed to the net.Socket, and the backlog when the last ping went out: a peer
  // that drains the backlog is alive even if the ping has not reached it yet.
  private written = 0;
  private writtenAtPing = 0;
  private pendingAtPing = 0;
  private queuedAtPing = 0;
  /** @internal topics this socket is subscribed to. */
  topics: Set<string> | null = null;
  private readingPaused = 0;
  // Set by terminate() and fail(): later events from the peer are dropped.
  private discarding = false;

  /** @internal created by attachWebSocket after the 101 has been written. */
  constructor(
    private readonly socket: Socket,
    private readonly host: SocketHost,
    options: SocketOptions,
    negotiated: Negotiated,
  ) {
    super();
    this.options = options;
    this.protocol = negotiated.protocol;
    this.extensions = negotiated.extensions;
    this.codec = negotiated.codec;
    this.parser = new FrameParser(this, {
      maxPayload: options.maxPayload,
      allowCompression: negotiated.codec !== null,
      requireMask: true,
    });
    this.lastSeen = this.lastMessage = host.now();
    socket.setNoDelay(true);
    socket.setTimeout(0);
    // Shared listener functions find their WebSocket on the net.Socket: no closures per connection.
    (socket as OwnedSocket)[kWebSocket] = this;
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('close', socketOnClose);
    socket.on('error', socketOnError);
    socket.on('drain', socketOnDrain);
  }

  get readyState(): ReadyState {
    return this.state;
  }

  /** Bytes accepted by send() that the kernel has not taken yet. */
  get bufferedAmount(): number {
    return this.socket.writableLength + this.batchBytes + this.heldBytes;
  }

  /** The peer's address, as the TCP socket reports it. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** @internal feeds the bytes that arrived with the upgrade request, then starts reading. */
  start(head: Buffer): void {
    if (head.length > 0) this.onData(head);
    // The head may already have paused reading (a full async-iterator queue, inflating).
    if (this.readingPaused === 0) this.socket.resume();
  }

  // ---- receiving -------------------------------------------------------------------------

  /** @internal */
  onDrain(): void {
    this.drainOwed = false;
    this.emitSafely('drain');
  }

  /** @internal */
  onData(chunk: Buffer): void {
    this.lastSeen = this.host.now();
    this.pingSentAt = 0;
    this.host.counters.bytesIn += chunk.length;
    this.batching = true;
    try {
      this.parser.push(chunk);
    } finally {
      this.batching = false;
      this.flushBatch();
    }
  }

  /** @internal ParserHandler */
  onMessage(data: Buffer, isText: boolean, compressed: boolean): void {
    if (this.closeSent) return;
    if (compressed) return this.inflate(data, isText);
    this.deliver(data, isText);
  }

  private deliver(data: Buffer, isText: boolean): void {
    this.lastMessage = this.lastSeen;
    this.host.counters.messagesIn++;
    this.emitSafely('message', isText ? data.toString() : data, !isText);
  }

  private inflate(data: Buffer, isText: boolean): void {
    this.parser.pause();
    this.pauseReading();
    this.codec!.decompress(data, this.options.maxPayload, (err, result) => {
      // Terminated or failed while inflating: nothing more is delivered.
      if (this.state === 3 || this.discarding) return;
      if (err) {
        const code = err instanceof ProtocolError ? err.closeCode : 1007;
        return this.fail(new ProtocolError(err.message, code));
      }
      if (isText && !isUtf8(result!)) return this.fail(new ProtocolError('text message is not valid UTF-8', 1007));
      this.batching = true;
      try {
        this.deliver(result!, isText);
        this.resumeReading();
        this.parser.resume();
      } finally {
        this.batching = false;
        this.flushBatch();
      }
    });
  }

  /** @internal ParserHandler */
  onPing(data: Buffer): void {
    if (!this.closeSent && this.state === 1) {
      // A peer that pings but never reads the pongs must not grow the send buffer unbounded.
      if (!this.overLimit()) this.writeControl(Opcode.PONG, data);
    }
    this.emitSafely('ping', data);
  }

  /** @internal ParserHandler */
  onPong(data: Buffer): void {
    this.emitSafely('pong', data);
  }

  /** @internal ParserHandler */
  onClose(code: number, reason: string): void {
    this.closeReceived = true;
    this.closeCode = code;
    this.closeReason = reason;
    if (!this.closeSent) this.sendClose(code === 1005 ? undefined : code, '');
    this.state = 2;
    // RFC 6455 7.1.1: the server closes the TCP connection first.
    this.endTransport();
  }

  /** @internal ParserHandler */
  onError(error: ProtocolError): void {
    this.fail(error);
  }

  /** Fails the connection (RFC 6455 7.1.7): close frame with the error's code, then end. */
  private fail(error: ProtocolError): void {
    if (this.state === 3) return;
    this.discarding = true;
    this.parser.stop();
    if (this.listenerCount('error') > 0) this.emitSafely('error', error);
    if (!this.closeReceived) this.closeCode = error.closeCode;
    if (!this.closeSent) this.sendClose(error.closeCode, '');
    this.state = 2;
    this.endTransport();
  }

  /** @internal */
  onEnd(): void {
    // The peer finished sending. Without a close frame first, that is an abnormal end.
    this.parser.stop();
    if (this.state === 1) this.state = 2;
    this.endTransport();
  }

  /** @internal */
  onSocketError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emitSafely('error', err);
    this.socket.destroy();
  }

  /** @internal */
  onSocketClose(): void {
    this.state = 3;
    this.parser.stop();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    if (this.batch !== null) this.batch.length = 0;
    this.batchBytes = 0;
    this.held = null;
    this.heldBytes = 0;
    this.codec?.close();
    this.host.onSocketClosed(this);
    if (this.closedEmitted) return;
    this.closedEmitted = true;
    this.emitSafely('close', this.closeCode, this.closeReason);
  }

  /** Emits to user listeners: an exception there is reported, never thrown into socket I/O. */
  private emitSafely<K extends keyof WebSocketEvents>(event: K, ...args: WebSocketEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: WebSocketEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.host.reportError(err, this);
    }
  }

  // ---- sending ---------------------------------------------------------------------------

  /**
   * Sends a message. Returns true when the data went to the kernel without queueing
   * (like socket.write); false means wait for 'drain', or that the socket is not open
   * (the callback then receives a WebSocketError with code NOT_OPEN).
   */
  send(data: SendData, options?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    if (this.state !== 1) return this.refuse('the socket is not open', 'NOT_OPEN', callback);
    if (this.overLimit()) return this.refuse('the peer is not reading; message dropped', 'BACKPRESSURE', callback);
    const binary = options?.binary ?? typeof data !== 'string';
    const compress = options?.compress ?? true;
    this.host.counters.messagesOut++;
    if (typeof data === 'string' && !binary && this.codec === null) return this.sendText(data, callback);
    const payload = toBuffer(data);
    const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
    if (this.codec !== null && compress && payload.length >= this.codec.threshold) {
      return this.sendCompressed(opcode, payload, callback);
    }
    return this.queueFrame(opcode, payload, false, callback);
  }

  /**
   * @internal writes a frame encoded once for many sockets (broadcast, publish). True when
   * the message was taken (written or queued); false when not open or over maxBackpressure.
   */
  sendEncoded(frame: Buffer): boolean {
    if (this.state !== 1 || this.overLimit()) return false;
    this.host.counters.messagesOut++;
    this.output({ frame, payload: null });
    return true;
  }

  /**
   * @internal for a message compressed once for many sockets: takes the message's place in
   * the output now and returns the function that fills it in later (null: compression
   * failed, the socket is terminated). Returns null when the message is not taken.
   */
  reserve(size: number): ((frame: Buffer | null) => void) | null {
    if (this.state !== 1 || this.overLimit()) return null;
    this.host.counters.messagesOut++;
    const slot = this.placeholder(size);
    return (frame) => {
      if (this.held === null || !this.held.includes(slot)) return; // closed meanwhile
      if (frame === null) return this.terminate();
      this.fill(slot, size, { frame, payload: null });
    };
  }

  /** Sends a ping; the peer answers with a pong carrying the same data. */
  ping(data: SendData = EMPTY, callback?: SendCallback): boolean {
    if (this.state !== 1) return this.refuse('the socket is not open', 'NOT_OPEN', callback);
    this.markProgress();
    return this.writeControl(Opcode.PING, toBuffer(data), callback);
  }

  /** @internal see Sweepable.drainedSincePing */
  drainedSincePing(): boolean {
    const completed = this.pendingAtPing + (this.written - this.writtenAtPing) > this.socket.writableLength;
    // Node merges queued writes into one large write that completes only at its end; the
    // handle's live queue size shows the kernel taking it piece by piece (Node's own socket
    // timeout watches the same number).
    const queue = kernelQueue(this.socket);
    const taking = this.queuedAtPing > 0 && queue < this.queuedAtPing;
    const drained = this.pendingAtPing > 0 && (completed || taking);
    this.markProgress();
    return drained;
  }

  private markProgress(): void {
    this.pendingAtPing = this.socket.writableLength;
    this.writtenAtPing = this.written;
    this.queuedAtPing = kernelQueue(this.socket);
  }

  /** Sends an unsolicited pong (a one-way heartbeat). */
  pong(data: SendData = EMPTY, callback?: SendCallback): boolean {
    if (this.state !== 1) return this.refuse('the socket is not open', 'NOT_OPEN', callback);
    return this.writeControl(Opcode.PONG, toBuffer(data), callback);
  }

  /**
   * Starts the close handshake. Frames already sent are delivered first. If the peer does
   * not answer within closeTimeout, the connection is destroyed.
   */
  close(code = 1000, reason = ''): void {
    if (this.state !== 1) return;
    if (!Number.isInteger(code) || !isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    this.sendClose(code, reason);
    this.state = 2; // (a close frame received would already have left OPEN)
    this.armCloseTimer();
  }

  /** Destroys the connection at once, without a close handshake (close code 1006). */
  terminate(): void {
    if (this.state === 3) return;
    this.state = 2;
    this.discarding = true;
    this.parser.stop(); // nothing more is delivered, not even the rest of the current chunk
    this.socket.destroy();
  }

  /** Joins a topic; endpoint.publish(topic, data) then reaches this socket. */
  subscribe(topic: string): void {
    if (this.state !== 1) return;
    (this.topics ??= new Set()).add(topic);
    this.host.subscribe(this, topic);
  }

  unsubscribe(topic: string): void {
    if (!this.topics?.delete(topic)) return;
    this.host.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    return this.topics?.has(topic) ?? false;
  }

  /** Incoming messages in order; ends when the socket closes. */
  [Symbol.asyncIterator](): AsyncIterableIterator<string | Buffer> {
    return messageIterator(this);
  }

  /** @internal stops reading from the peer (async iteration backpressure, inflating). */
  pauseReading(): void {
    if (this.readingPaused++ === 0) this.socket.pause();
  }

  /** @internal */
  resumeReading(): void {
    if (this.readingPaused > 0 && --this.readingPaused === 0 && this.state !== 3) this.socket.resume();
  }

  private refuse(message: string, code: WebSocketError['code'], callback?: SendCallback): false {
    if (callback) {
      const error = new WebSocketError(message, code);
      process.nextTick(callback, error);
    }
    return false;
  }

  /**
   * True when bufferedAmount is past maxBackpressure; the backpressure policy is then
   * applied ('close' terminates the socket, 'drop' refuses this message).
   */
  private overLimit(): boolean {
    if (this.bufferedAmount <= this.options.maxBackpressure) return false;
    this.host.counters.backpressureEvents++;
    if (this.options.backpressurePolicy === 'close') {
      // The peer reads nothing, so a close frame would never arrive either.
      this.closeCode = 1008;
      this.closeReason = 'send buffer limit exceeded';
      this.terminate();
    }
    return true;
  }

  private sendText(text: string, callback?: SendCallback): boolean {
    // Short strings are encoded straight into the frame; long ones avoid the extra copy.
    if (text.length <= COPY_LIMIT / 3) return this.output({ frame: encodeTextFrame(text), payload: null, callback });
    return this.queueFrame(Opcode.TEXT, Buffer.from(text), false, callback);
  }

  private queueFrame(opcode: number, payload: Buffer, rsv1: boolean, callback?: SendCallback): boolean {
    return this.output({ ...frameParts(opcode, payload, rsv1), callback });
  }

  /** Holds a place in the output for a message not ready yet; `size` counts toward bufferedAmount meanwhile. */
  private placeholder(size: number, callback?: SendCallback): Outgoing {
    const slot: Outgoing = { frame: EMPTY, payload: null, callback };
    this.hold(slot);
    this.heldBytes += size;
    return slot;
  }

  /** Puts the finished frame into its placeholder and writes what is now in order. */
  private fill(slot: Outgoing, size: number, parts: { frame: Buffer; payload: Buffer | null }): void {
    slot.frame = parts.frame;
    slot.payload = parts.payload;
    this.heldBytes += parts.frame.length + (parts.payload?.length ?? 0) - size;
    this.releaseHeld();
  }

  private sendCompressed(opcode: number, payload: Buffer, callback?: SendCallback): boolean {
    // Until it is compressed the message counts in full toward bufferedAmount, so a sender
    // looping on send() sees backpressure even though nothing has reached the socket yet.
    const slot = this.placeholder(payload.length, callback);
    this.codec!.compress(payload, (err, compressed) => {
      if (this.state === 3) {
        // Closed while compressing (the codec fails pending jobs on close): not an error to report.
        callback?.(new WebSocketError('the socket closed before the message was sent', 'NOT_OPEN'));
        return;
      }
      if (err) {
        this.host.reportError(err, this);
        slot.callback = undefined;
        callback?.(new WebSocketError(`compression failed: ${err.message}`, 'COMPRESSION_FAILED'));
        this.terminate();
        return;
      }
      this.fill(slot, payload.length, frameParts(opcode, compressed!, true));
    });
    if (this.bufferedAmount < this.socket.writableHighWaterMark) return true;
    this.drainOwed = true;
    return false;
  }

  private hold(item: Outgoing): void {
    (this.held ??= []).push(item);
    this.heldBytes += item.frame.length + (item.payload?.length ?? 0);
  }

  /** Writes held frames in order, up to the first one still being compressed. */
  private releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    while (held.length > 0 && held[0].frame !== EMPTY) {
      const item = held.shift()!;
      this.heldBytes -= item.frame.length + (item.payload?.length ?? 0);
      this.write(item);
    }
    if (held.length === 0) {
      this.held = null;
      this.heldBytes = 0;
      if (this.endPending) this.endTransport();
      // send() returned false while frames were held; if the kernel took everything, the
      // net.Socket will not emit 'drain', so this is the moment to tell the sender.
      if (this.drainOwed && !this.socket.writableNeedDrain && this.state !== 3) {
        this.drainOwed = false;
        this.emitSafely('drain');
      }
    }
  }

  private writeControl(opcode: number, payload: Buffer, callback?: SendCallback): boolean {
    if (payload.length > 125) {
      if (callback) process.nextTick(callback, new RangeError('control frame payload must be at most 125 bytes'));
      return false;
    }
    // Control frames may overtake a message being compressed; only the close frame may not.
    return this.write({ frame: encodeFrame(opcode, payload), payload: null, callback });
  }

  private sendClose(code: number | undefined, reason: string): void {
    // Encode first: a reason over 123 bytes throws, and the socket must stay open then.
    const frame = encodeFrame(Opcode.CLOSE, encodeClosePayload(code, reason));
    this.closeSent = true;
    this.output({ frame, payload: null });
  }

  /** Sends now, or behind held (compressing) frames so order is kept. */
  private output(item: Outgoing): boolean {
    if (this.held !== null) {
      this.hold(item);
      this.drainOwed = true;
      return false;
    }
    return this.write(item);
  }

  private write(item: Outgoing): boolean {
    if (this.state === 3) return false;
    const size = item.frame.length + (item.payload?.length ?? 0);
    this.host.counters.bytesOut += size;
    if (this.batching && item.callback === undefined) {
      const batch = (this.batch ??= []);
      batch.push(item.frame);
      this.batchBytes += item.frame.length;
      if (item.payload !== null) {
        batch.push(item.payload);
        this.batchBytes += item.payload.length;
      }
      return this.bufferedAmount < this.socket.writableHighWaterMark;
    }
    this.flushBatch();
    this.written += size;
    const done = item.callback ? (err?: Error | null) => item.callback!(err ?? undefined) : undefined;
    if (item.payload === null) return this.socket.write(item.frame, done);
    this.socket.cork();
    this.socket.write(item.frame);
    const accepted = this.socket.write(item.payload, done);
    this.socket.uncork();
    return accepted;
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (batch === null || batch.length === 0) return;
    const count = batch.length;
    const bytes = this.batchBytes;
    this.batchBytes = 0;
    this.written += bytes;
    if (this.state !== 3) {
      if (count === 1) this.socket.write(batch[0]);
      else if (bytes <= COPY_LIMIT * 4) this.socket.write(Buffer.concat(batch, bytes));
      else {
        this.socket.cork();
        for (const buf of batch) this.socket.write(buf);
        this.socket.uncork();
      }
    }
    batch.length = 0; // the array is reused: one less allocation per incoming chunk
  }

  private endTransport(): void {
    if (this.state === 3) return;
    // Frames still being compressed go out first; releaseHeld() calls back here.
    if (this.held !== null) {
      this.endPending = true;
      this.armCloseTimer();
      return;
    }
    this.endPending = false;
    this.flushBatch();
    if (!this.socket.writableEnded) this.socket.end();
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.options.closeTimeout);
    this.closeTimer.unref();
  }
}

const kWebSocket = Symbol('wsgate.socket');

/** Bytes libuv still has to hand to the kernel, updated as partial writes go through. */
function kernelQueue(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return handle?.writeQueueSize ?? 0;
}
type OwnedSocket = Socket & { [kWebSocket]: WebSocket };

function socketOnData(this: OwnedSocket, chunk: Buffer): void {
  this[kWebSocket].onData(chunk);
}
function socketOnEnd(this: OwnedSocket): void {
  this[kWebSocket].onEnd();
}
function socketOnClose(this: OwnedSocket): void {
  this[kWebSocket].onSocketClose();
}
function socketOnError(this: OwnedSocket, err: Error): void {
  this[kWebSocket].onSocketError(err);
}
function socketOnDrain(this: OwnedSocket): void {
  this[kWebSocket].onDrain();
}

/** A frame as written: small payloads copied in after the header, large ones kept apart. */
function frameParts(opcode: number, payload: Buffer, rsv1: boolean): { frame: Buffer; payload: Buffer | null } {
  if (payload.length <= COPY_LIMIT) return { frame: encodeFrame(opcode, payload, true, rsv1), payload: null };
  return { frame: encodeHeader(opcode, payload.length, true, rsv1), payload };
}

/** The bytes of any SendData, without copying where it can be avoided. */
export function toBuffer(data: SendData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('send() takes a string, Buffer, ArrayBuffer or typed array');
}

/** Async iteration over messages with backpressure: reading pauses while many wait. */
function messageIterator(socket: WebSocket): AsyncIterableIterator<string | Buffer> {
  const queue: (string | Buffer)[] = [];
  const waiting: ((result: IteratorResult<string | Buffer>) => void)[] = [];
  let done = socket.readyState === 3;
  let paused = false;

  const onMessage = (data: string | Buffer) => {
    const next = waiting.shift();
    if (next) return next({ value: data, done: false });
    queue.push(data);
    if (!paused && queue.length >= ITERATOR_HIGH_WATER) {
      paused = true;
      socket.pauseReading();
    }
  };
  const finish = () => {
    done = true;
    socket.off('message', onMessage);
    socket.off('close', finish);
    if (paused) {
      paused = false;
      socket.resumeReading();
    }
    for (const resolve of waiting.splice(0)) resolve({ value: undefined, done: true });
  };
  if (!done) {
    socket.on('message', onMessage);
    socket.on('close', finish);
  }

  return {
    next() {
      if (queue.length > 0) {
        const value = queue.shift()!;
        if (paused && queue.length < ITERATOR_HIGH_WATER / 2) {
          paused = false;
          socket.resumeReading();
        }
        return Promise.resolve({ value, done: false });
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return() {
      // Leaving the loop stops the iteration; it does not close the socket.
      queue.length = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

const EMPTY = Buffer.alloc(0);

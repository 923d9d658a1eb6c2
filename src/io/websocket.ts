// The WebSocket applications hold: sending, closing, topics and iteration, after `ws` and the
// browser's WebSocket. What the transport and the parser call is in connection.ts.
import { Buffer } from 'node:buffer';
import { encodeFrame } from '../core/encoder';
import { CloseCode, encodeClosePayload, isValidCloseCode, Opcode } from '../core/frames';
import { Connection } from './connection';
import { closedBeforeSent, WebSocketError } from './errors';
import { messageIterator } from './iterator';
import { frameParts, type SendData, type SendOptions, toBuffer } from './message';
import type { SendCallback } from './outbox';
import { encodeText, textBytes } from './text';

const EMPTY = Buffer.alloc(0);

export class WebSocket extends Connection {

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

  /** Bytes accepted by send() that the transport has not handed on yet. */
  get bufferedAmount(): number {
    return this.outbox.bufferedAmount;
  }

  /** The peer's address, as the transport reports it. */
  get remoteAddress(): string | undefined {
    return this.transport.remoteAddress;
  }

  // ---- sending ---------------------------------------------------------------------------

  /**
   * Sends a message. Returns true when the data went to the transport without queueing
   * (like socket.write); false means wait for 'drain', or that the socket is not open
   * (the callback then receives a WebSocketError with code NOT_OPEN).
   */
  send(data: SendData, options?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    } else if (options != null) {
      // An unknown key is a TypeError, as for every options object. Enumerating the keys on
      // every send costs a fifth of a small send (the literal can no longer be optimized
      // away), so they are enumerated only for an object with neither known key, or with one
      // of ws's or broadcast's (fin, mask, except); the types reject the rest at compile time.
      if (typeof options !== 'object') throw new TypeError('send: options must be an object');
      const o = options as SendOptions & { fin?: unknown; mask?: unknown; except?: unknown };
      if ((o.binary === undefined && o.compress === undefined) || o.fin !== undefined || o.mask !== undefined || o.except !== undefined) {
        for (const key in o) {
          if (key !== 'binary' && key !== 'compress' && Object.hasOwn(o, key)) throw new TypeError(`send: unknown option "${key}"`);
        }
      }
    }
    if (this.closing !== null) return refuse('the socket is not open', 'NOT_OPEN', callback);
    if (!this.admit()) return refuse('the peer is not reading; message dropped', 'BACKPRESSURE', callback);
    const binary = options?.binary ?? typeof data !== 'string';
    return this.enqueue(data, binary, options?.compress ?? true, callback);
  }

  /** @internal send() for fan-out: true when the message was taken (written or queued). */
  take(data: SendData, binary: boolean): boolean {
    if (this.closing !== null || !this.admit()) return false;
    this.enqueue(data, binary, true, undefined);
    return true;
  }

  private enqueue(data: SendData, binary: boolean, compress: boolean, callback: SendCallback | undefined): boolean {
    this.host.counters.messagesOut++;
    this.messagesOut++;
    if (typeof data === 'string' && !binary && (this.codec === null || !compress)) return this.sendText(data, callback);
    const payload = typeof data === 'string' ? textBytes(data) : toBuffer(data);
    const opcode = binary ? Opcode.BINARY : Opcode.TEXT;
    if (this.codec !== null && compress && payload.length >= this.codec.threshold) {
      return this.sendCompressed(opcode, payload, callback);
    }
    return this.outbox.push({ ...frameParts(opcode, payload, false), callback });
  }

  /**
   * @internal writes a frame encoded once for many sockets (broadcast, publish). True when
   * the message was taken (written or queued); false when not open or over maxBackpressure.
   */
  sendEncoded(frame: Buffer, payload: Buffer | null = null): boolean {
    if (this.closing !== null || !this.admit()) return false;
    this.host.counters.messagesOut++;
    this.messagesOut++;
    this.outbox.push({ frame, payload });
    return true;
  }

  /**
   * @internal for a message compressed once for many sockets: takes the message's place in
   * the output now and returns the function that fills it in later (null: compression
   * failed, the socket is terminated). Returns null when the message is not taken.
   */
  reserve(size: number): ((frame: Buffer | null) => void) | null {
    if (this.closing !== null || !this.admit()) return null;
    this.host.counters.messagesOut++;
    this.messagesOut++;
    const slot = this.outbox.reserve(size);
    return (frame) => {
      if (!this.outbox.holds(slot)) return; // closed meanwhile
      if (frame === null) return this.terminate();
      this.outbox.fill(slot, size, frame, null);
    };
  }

  /** Sends a ping; the peer answers with a pong carrying the same data. */
  ping(data: SendData = EMPTY, callback?: SendCallback): boolean {
    if (this.closing !== null) return refuse('the socket is not open', 'NOT_OPEN', callback);
    this.outbox.markProgress();
    return this.writeControl(Opcode.PING, toBuffer(data), callback);
  }

  /** Sends an unsolicited pong (a one-way heartbeat). */
  pong(data: SendData = EMPTY, callback?: SendCallback): boolean {
    if (this.closing !== null) return refuse('the socket is not open', 'NOT_OPEN', callback);
    return this.writeControl(Opcode.PONG, toBuffer(data), callback);
  }

  /** @internal true when the peer took some of our backlog since the last ping (see liveness.ts). */
  drainedSincePing(): boolean {
    return this.outbox.drainedSinceMark();
  }

  /**
   * Starts the close handshake. Frames already sent are delivered first. If the peer does
   * not answer within closeTimeout, the connection is destroyed.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.closing !== null) return;
    if (!Number.isInteger(code) || !isValidCloseCode(code)) throw new RangeError(`invalid close code ${code}`);
    // Encode first: a reason over 123 bytes throws, and the socket must stay open then.
    const frame = encodeFrame(Opcode.CLOSE, encodeClosePayload(code, reason));
    this.closeState().start();
    this.outbox.push({ frame, payload: null });
    this.armCloseTimer();
  }

  /** Destroys the connection at once, without a close handshake (close code 1006). */
  terminate(): void {
    this.abort();
  }

  /** Joins a topic; endpoint.publish(topic, data) then reaches this socket. */
  subscribe(topic: string): void {
    if (this.closing !== null) return;
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

  private sendText(text: string, callback?: SendCallback): boolean {
    // Encoded once into its frame; the text just received (or just sent) is not encoded again.
    const encoded = encodeText(text);
    return this.outbox.push({ frame: encoded.frame, payload: encoded.payload, callback });
  }

  private sendCompressed(opcode: number, payload: Buffer, callback?: SendCallback): boolean {
    // Until it is compressed the message counts in full toward bufferedAmount, so a sender
    // looping on send() sees backpressure even though nothing has reached the transport yet.
    const slot = this.outbox.reserve(payload.length, callback);
    this.codec!.compress(payload, (err, compressed) => {
      if (this.readyState === 3) {
        // Closed while compressing (the codec fails pending jobs on close): not an error to report.
        callback?.(closedBeforeSent());
        return;
      }
      if (err) {
        this.host.reportError(err, this);
        slot.callback = undefined;
        callback?.(new WebSocketError(`compression failed: ${err.message}`, 'COMPRESSION_FAILED'));
        this.terminate();
        return;
      }
      const parts = frameParts(opcode, compressed!, true);
      this.outbox.fill(slot, payload.length, parts.frame, parts.payload);
    });
    return this.outbox.acceptedWhileHolding();
  }
}

function refuse(message: string, code: WebSocketError['code'], callback?: SendCallback): false {
  if (callback) process.nextTick(callback, new WebSocketError(message, code));
  return false;
}

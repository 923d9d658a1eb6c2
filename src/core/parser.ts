// Incremental parser for frames a client sends (RFC 6455 sections 5 and 7): bytes in,
// messages and control frames out. Any split of the input gives the same events.
import { Buffer, isAscii, isUtf8 } from 'node:buffer';
import { ProtocolError, type ProtocolErrorCode } from './errors';
import { CloseCode, isValidCloseCode, MAX_CLIENT_HEADER, MAX_CONTROL_PAYLOAD, Opcode } from './frames';
import { ChunkReader } from './chunk-reader';
import { copyMasked } from './mask';
import { Utf8Stream } from './utf8';

export interface ParserHandler {
  /**
   * A complete message. Text is already checked to be UTF-8 unless `compressed`, in which
   * case `data` is the raw compressed payload (RFC 7692) for the caller to inflate and check.
   * `ascii`: for text, true when the bytes are all ASCII, false when not, undefined when the
   * parser did not find out (fragmented or compressed messages).
   */
  onMessage(data: Buffer, isText: boolean, compressed: boolean, ascii?: boolean): void;
  onPing(data: Buffer): void;
  onPong(data: Buffer): void;
  /** A valid close frame; code is 1005 when the frame had no payload. */
  onCloseFrame(code: number, reason: string): void;
  /** The peer broke the protocol; the parser takes no more input. */
  onProtocolError(error: ProtocolError): void;
  /**
   * Every frame's header, before its payload is read (with ParserOptions.reportHeaders):
   * where limits that count frames apply. False stops parsing (the handler failed the peer).
   */
  onFrameHeader?(opcode: number, payloadLength: number): boolean;
}

export interface ParserOptions {
  /** Largest message, in bytes, counting all fragments. */
  maxPayload: number;
  /** RSV1 marks a compressed message (permessage-deflate agreed). */
  allowCompression?: boolean;
  /** Frames from clients must be masked; true for a server. */
  requireMask?: boolean;
  /** Call handler.onFrameHeader for every frame. Default false. */
  reportHeaders?: boolean;
}

// Parsing is synchronous, so every parser can share these; nothing per connection.
const SCRATCH = Buffer.alloc(MAX_CLIENT_HEADER);
const MASK = Buffer.alloc(4);
// Payloads at least this large are unmasked into their final buffer as they arrive, once
// half of them is here: the work is done while the rest is in flight, and memory stays
// within twice what the peer actually sent.
const STREAM_MIN = 32 * 1024;
// The part of an uncompressed text frame that has arrived is unmasked into this, a piece at a
// time, to be checked as UTF-8 before the rest of the frame is here (fail fast, RFC 6455 8.1).
const CHECK = Buffer.alloc(16 * 1024);

const enum State {
  Header,
  Payload,
  Done,
}

export class FrameParser extends ChunkReader {
  private readonly maxPayload: number;
  private readonly allowCompression: boolean;
  private readonly requireMask: boolean;
  private readonly reportHeaders: boolean;

  private state = State.Header;
  private paused = false;
  private running = false;

  // The frame being read.
  private fin = false;
  private opcode = 0;
  private payloadLength = 0;
  // A large payload being assembled as it arrives (see STREAM_MIN).
  private partial: Buffer | null = null;
  private partialFilled = 0;

  // The message being assembled from fragments (opcode 0 when none).
  private messageOpcode = 0;
  private messageCompressed = false;
  private messageLength = 0;
  private messageBuffer: Buffer | null = null;
  private utf8: Utf8Stream | null = null;
  // Whether the current frame's payload is text to check as it arrives (uncompressed text), and
  // how many of its bytes the stream has checked so far.
  private checking = false;
  private checked = 0;

  constructor(
    private readonly handler: ParserHandler,
    options: ParserOptions,
  ) {
    super();
    this.maxPayload = options.maxPayload;
    this.allowCompression = options.allowCompression ?? false;
    this.requireMask = options.requireMask ?? true;
    this.reportHeaders = options.reportHeaders === true && typeof handler.onFrameHeader === 'function';
  }

  /** Feeds bytes in. Events fire synchronously from inside this call. */
  push(chunk: Buffer): void {
    if (this.state === State.Done || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.run();
  }

  /** Stops emitting after the current event until resume(); input is kept. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.run();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Bytes received but not yet parsed. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Stops parsing for good and drops buffered input (after a close frame or an error). */
  stop(): void {
    this.state = State.Done;
    this.chunks = [];
    this.buffered = 0;
    this.messageBuffer = null;
    this.partial = null;
    this.checking = false;
  }

  private run(): void {
    if (this.running) return; // a handler called resume() or push() re-entrantly
    this.running = true;
    try {
      while (!this.paused) {
        if (this.state === State.Header) {
          if (!this.readHeader()) break;
        } else if (this.state === State.Payload) {
          if (this.buffered < this.payloadLength - this.partialFilled) {
            if (this.partial !== null || (this.payloadLength >= STREAM_MIN && this.buffered >= this.payloadLength >>> 1)) {
              this.absorb();
            }
            if (this.checking) this.checkArrived();
            break;
          }
          this.readPayload();
        } else break;
      }
    } finally {
      this.running = false;
    }
  }

  private fail(code: ProtocolErrorCode, message: string): false {
    this.stop();
    this.handler.onProtocolError(new ProtocolError(code, message));
    return false;
  }

  /** Parses one header if all its bytes are here. Returns false to wait for more input. */
  private readHeader(): boolean {
    if (this.buffered < 2) return false;
    let head = this.chunks[0];
    let at = this.offset;
    // chunks[0] always has a byte at offset; the second may start the next chunk.
    const b0 = head[at];
    const b1 = at + 1 < head.length ? head[at + 1] : this.chunks[1][0];

    // Everything decidable from the first two bytes is checked before waiting for more.
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const lengthCode = b1 & 0x7f;
    if ((b0 & 0x30) !== 0) return this.fail('WS_RESERVED_BITS', 'RSV2 and RSV3 must be clear');
    if (rsv1 && !this.allowCompression) return this.fail('WS_UNEXPECTED_RSV1', 'RSV1 set but no extension was negotiated');
    if (masked !== this.requireMask) {
      if (masked) return this.fail('WS_MASK_FORBIDDEN', 'frames from a server must not be masked');
      return this.fail('WS_MASK_REQUIRED', 'frames from a client must be masked');
    }
    if (opcode >= 0x8) {
      if (opcode > Opcode.PONG) return this.fail('WS_INVALID_OPCODE', `reserved opcode ${opcode}`);
      if (!fin) return this.fail('WS_FRAGMENTED_CONTROL', 'control frames must not be fragmented');
      if (lengthCode > MAX_CONTROL_PAYLOAD) return this.fail('WS_CONTROL_TOO_LONG', 'control frame payload longer than 125 bytes');
      if (rsv1) return this.fail('WS_UNEXPECTED_RSV1', 'RSV1 set on a control frame');
    } else if (opcode === Opcode.CONTINUATION) {
      if (this.messageOpcode === 0) return this.fail('WS_UNEXPECTED_CONTINUATION', 'continuation frame without a message in progress');
      if (rsv1) return this.fail('WS_UNEXPECTED_RSV1', 'RSV1 set on a continuation frame');
    } else if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if (this.messageOpcode !== 0) return this.fail('WS_EXPECTED_CONTINUATION', 'new data frame before the last message was finished');
    } else {
      return this.fail('WS_INVALID_OPCODE', `reserved opcode ${opcode}`);
    }

    const extra = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
    const size = 2 + extra + (masked ? 4 : 0);
    if (this.buffered < size) return false;
    if (head.length - at < size) {
      this.copyOut(SCRATCH, 0, size);
      head = SCRATCH;
      at = 0;
    }

    let length = lengthCode;
    if (lengthCode === 126) {
      length = (head[at + 2] << 8) | head[at + 3];
    } else if (lengthCode === 127) {
      const high = head.readUInt32BE(at + 2);
      if (high & 0x80000000) return this.fail('WS_INVALID_LENGTH', '64-bit payload length with the most significant bit set');
      // Past 2^53 the number is not exact; it is far beyond any maxPayload anyway.
      length = high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * 0x100000000 + head.readUInt32BE(at + 6);
    }
    if (opcode < 0x8 && this.messageLength + length > this.maxPayload) {
      return this.fail('WS_MESSAGE_TOO_BIG', `message exceeds the ${this.maxPayload}-byte limit`);
    }
    if (masked) this.mask = head.readUInt32BE(at + 2 + extra);
    this.skip(size);

    this.fin = fin;
    this.opcode = opcode;
    this.masked = masked;
    this.payloadLength = length;
    if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      this.messageOpcode = opcode;
      this.messageCompressed = rsv1;
    }
    this.state = State.Payload;
    this.checking = opcode < 0x8 && this.messageOpcode === Opcode.TEXT && !this.messageCompressed;
    this.checked = 0;
    if (this.reportHeaders && !this.handler.onFrameHeader!(opcode, length)) return false;
    return true;
  }

  private readPayload(): void {
    let payload: Buffer;
    let ascii: boolean | undefined;
    if (this.partial !== null) {
      payload = this.partial;
      this.moveOut(payload, this.partialFilled, payload.length - this.partialFilled);
      this.partial = null;
      this.partialFilled = 0;
    } else {
      const first = this.chunks[0];
      const n = this.payloadLength;
      if (n > 0 && first.length - this.offset >= n) {
        // Within one chunk: unmask in place and hand out a view, no copy.
        payload = first.subarray(this.offset, this.offset + n);
        this.skip(n);
        ascii = this.unmask(payload, 0, n, 0);
      } else {
        payload = n === 0 ? EMPTY : Buffer.allocUnsafe(n);
        this.moveOut(payload, 0, n);
      }
    }
    this.state = State.Header;
    if (this.opcode >= 0x8) this.controlFrame(payload);
    else this.dataFrame(payload, ascii);
  }

  /** Moves all buffered bytes into the partial payload, unmasked (see STREAM_MIN). */
  private absorb(): void {
    this.partial ??= Buffer.allocUnsafe(this.payloadLength);
    const n = this.buffered;
    this.moveOut(this.partial, this.partialFilled, n);
    this.partialFilled += n;
  }

  /**
   * Checks the part of a text frame's payload that has arrived and was not checked yet, so that
   * bytes which can never become valid UTF-8 fail the connection now, not once the frame is
   * complete. Only called while the frame is incomplete: every buffered byte belongs to it.
   */
  private checkArrived(): void {
    const utf8 = (this.utf8 ??= new Utf8Stream());
    if (this.partial !== null) {
      // Absorbed bytes are unmasked already.
      if (this.partialFilled > this.checked) {
        const ok = utf8.push(this.partial.subarray(this.checked, this.partialFilled));
        this.checked = this.partialFilled;
        if (!ok) this.fail('WS_INVALID_UTF8', 'text message is not valid UTF-8');
      }
      return;
    }
    let left = this.buffered - this.checked; // the newest bytes, at the end of the chunks
    if (left <= 0) return;
    // Walk back from the last chunk to where the unchecked bytes begin (usually the last chunk).
    let i = this.chunks.length - 1;
    let from = this.chunks[i].length - left;
    while (from < (i === 0 ? this.offset : 0)) {
      left -= this.chunks[i].length - (i === 0 ? this.offset : 0);
      i--;
      from = this.chunks[i].length - left;
    }
    if (this.masked) MASK.writeUInt32BE(this.mask >>> 0, 0);
    for (; i < this.chunks.length; i++, from = 0) {
      const chunk = this.chunks[i];
      for (let at = from; at < chunk.length; ) {
        const n = Math.min(CHECK.length, chunk.length - at);
        let piece: Buffer;
        if (this.masked) {
          copyMasked(chunk, at, at + n, CHECK, 0, MASK, this.checked);
          piece = CHECK.subarray(0, n);
        } else piece = chunk.subarray(at, at + n);
        this.checked += n;
        at += n;
        if (!utf8.push(piece)) return void this.fail('WS_INVALID_UTF8', 'text message is not valid UTF-8');
      }
    }
  }

  private controlFrame(payload: Buffer): void {
    if (this.opcode === Opcode.PING) return this.handler.onPing(payload);
    if (this.opcode === Opcode.PONG) return this.handler.onPong(payload);
    // Close.
    if (payload.length === 0) {
      this.stop();
      return this.handler.onCloseFrame(CloseCode.NO_STATUS, '');
    }
    if (payload.length === 1) return void this.fail('WS_INVALID_CLOSE_FRAME', 'close frame with a 1-byte payload');
    const code = payload.readUInt16BE(0);
    if (!isValidCloseCode(code)) return void this.fail('WS_INVALID_CLOSE_CODE', `invalid close code ${code}`);
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) return void this.fail('WS_INVALID_UTF8', 'close reason is not valid UTF-8');
    this.stop();
    this.handler.onCloseFrame(code, reason.toString());
  }

  /** `ascii`: whether the payload is all ASCII, when unmasking it found that out. */
  private dataFrame(payload: Buffer, ascii?: boolean): void {
    const isText = this.messageOpcode === Opcode.TEXT;
    const compressed = this.messageCompressed;
    const checked = this.checked;
    this.checked = 0;
    if (this.fin && this.messageBuffer === null && checked === 0) {
      // The common case: a whole message in one frame, delivered without a copy. ASCII is
      // valid UTF-8, and knowing it lets the text be decoded the cheap way.
      this.endMessage();
      if (!isText || compressed) return this.handler.onMessage(payload, isText, compressed);
      ascii ??= isAscii(payload);
      if (!ascii && !isUtf8(payload)) return void this.fail('WS_INVALID_UTF8', 'text message is not valid UTF-8');
      return this.handler.onMessage(payload, true, false, ascii);
    }
    if (isText && !compressed) {
      // Bytes checked while the frame was arriving are not checked again.
      this.utf8 ??= new Utf8Stream();
      if (!this.utf8.push(checked > 0 ? payload.subarray(checked) : payload)) return void this.fail('WS_INVALID_UTF8', 'text message is not valid UTF-8');
    }
    const whole = this.fin && this.messageBuffer === null; // one frame, checked as it arrived
    if (!whole) this.append(payload);
    if (!this.fin) return;
    if (isText && !compressed && !this.utf8!.complete()) {
      return void this.fail('WS_INVALID_UTF8', 'text message ends inside a UTF-8 sequence');
    }
    if (whole) {
      this.endMessage();
      return this.handler.onMessage(payload, isText, compressed);
    }
    const message = this.messageBuffer!.subarray(0, this.messageLength);
    this.endMessage();
    this.handler.onMessage(message, isText, compressed);
  }

  // Fragments are copied into one buffer that grows by doubling, so memory follows the
  // payload size, not the fragment count (a million 1-byte fragments cost ~1 MiB, not a
  // million buffers).
  private append(payload: Buffer): void {
    const needed = this.messageLength + payload.length;
    let buffer = this.messageBuffer;
    if (buffer === null || buffer.length < needed) {
      const capacity = Math.min(this.maxPayload, Math.max(needed, 256, buffer === null ? 0 : buffer.length * 2));
      const grown = Buffer.allocUnsafe(capacity);
      if (buffer !== null) buffer.copy(grown, 0, 0, this.messageLength);
      buffer = this.messageBuffer = grown;
    }
    buffer.set(payload, this.messageLength);
    this.messageLength = needed;
  }

  private endMessage(): void {
    this.messageOpcode = 0;
    this.messageCompressed = false;
    this.messageLength = 0;
    this.messageBuffer = null;
    this.utf8?.reset();
  }

}

const EMPTY = Buffer.alloc(0);

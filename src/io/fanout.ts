// One message to many sockets (broadcast, publish, deliveries from a broker): framed once
// and written as the same bytes to every recipient; compressed once for the sockets that
// agreed to no context takeover, so their compressed frames are interchangeable.
import { encodeFrame } from '../core/encoder';
import type { DeflateParams, ResolvedDeflateOptions } from '../core/extensions';
import { Opcode } from '../core/frames';
import { type SendData, toBuffer } from './message';
import type { WebSocket } from './websocket';
import { DeflateCodec } from './deflate';
import { frameParts } from './message';
import { encodeText, type TextFrame, textBytes } from './text';

export class Fanout {
  // Sockets that agreed to server_no_context_takeover, with their window bits.
  private readonly shared = new WeakMap<WebSocket, number>();
  // One compressor per window size; only its compressing half is used.
  private readonly codecs = new Map<number, DeflateCodec>();

  constructor(
    private readonly deflate: ResolvedDeflateOptions | null,
    private readonly reportError: (error: unknown) => void,
  ) {}

  /** Notes a new socket whose compressed frames can be shared. */
  register(socket: WebSocket, params: DeflateParams | null): void {
    if (params?.serverNoContextTakeover) this.shared.set(socket, params.serverMaxWindowBits);
  }

  /** Sends to every open socket not skipped; returns how many took the message. */
  deliver(sockets: Iterable<WebSocket>, data: SendData, binary: boolean, skip: ((s: WebSocket) => boolean) | null): number {
    // Without compression the size is not needed: encoding is left to frameOnce (once).
    const bytes = this.deflate === null ? null : typeof data === 'string' ? textBytes(data) : toBuffer(data);
    const size = bytes === null ? 0 : bytes.length;
    const uncompressed = this.deflate === null || size < this.deflate.threshold;
    let frame: TextFrame | null = null;
    let groups: Map<number, ((frame: Buffer | null) => void)[]> | null = null;
    let sent = 0;
    for (const socket of sockets) {
      if (socket.readyState !== 1 || (skip !== null && skip(socket))) continue;
      if (uncompressed || socket.extensions === '') {
        // What send() would write too: below the threshold nothing is compressed.
        frame ??= frameOnce(data, binary);
        if (socket.sendEncoded(frame.frame, frame.payload)) sent++;
        continue;
      }
      const bits = this.shared.get(socket);
      if (bits === undefined) {
        // Context takeover: each socket's deflate stream depends on its own history.
        if (socket.take(data, binary)) sent++;
        continue;
      }
      const fill = socket.reserve(size);
      if (fill === null) continue;
      sent++;
      groups ??= new Map();
      const group = groups.get(bits);
      if (group) group.push(fill);
      else groups.set(bits, [fill]);
    }
    if (groups) for (const [bits, fills] of groups) this.compressOnce(bits, bytes!, binary, fills);
    return sent;
  }

  /** Frees the shared compressors (when the last socket left, or the endpoint closed). */
  release(): void {
    for (const codec of this.codecs.values()) codec.close();
    this.codecs.clear();
  }

  private compressOnce(bits: number, payload: Buffer, binary: boolean, fills: ((frame: Buffer | null) => void)[]): void {
    let codec = this.codecs.get(bits);
    if (!codec) {
      // A reset after every message keeps the compressor shareable.
      const params = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: bits, clientMaxWindowBits: 15 };
      codec = new DeflateCodec(params, this.deflate!);
      this.codecs.set(bits, codec);
    }
    codec.compress(payload, (err, compressed) => {
      // A closed codec means every socket left; fill(null) is then a no-op.
      if (err && this.codecs.size > 0) this.reportError(err);
      const frame = err ? null : encodeFrame(binary ? Opcode.BINARY : Opcode.TEXT, compressed!, true, true);
      for (const fill of fills) fill(frame);
    });
  }
}

/** The frame every recipient gets: text through encodeText (the text just received is not encoded again). */
function frameOnce(data: SendData, binary: boolean): TextFrame {
  if (typeof data === 'string' && !binary) return encodeText(data);
  const payload = typeof data === 'string' ? textBytes(data) : toBuffer(data);
  return frameParts(binary ? Opcode.BINARY : Opcode.TEXT, payload, false);
}

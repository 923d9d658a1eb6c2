// The text path: UTF-8 bytes to the string a 'message' listener gets, strings to text frames,
// and a one-entry memory of the last text seen so that a message passed on unchanged (echo,
// relay, publish of the string just received; the same string sent to many sockets) is not
// encoded again.
//
// Measured with `npm run bench:text` (ns/op). Decoding: latin1Slice for bytes already known to
// be ASCII (the parser learns that while validating, see core/parser.ts); other text through
// UTF-16 with core/utf16.ts, faster than the runtime's UTF-8 decoder on Node before 24 (3x at
// 1 KiB, 6x at 16 KiB) and on Node 24 for text that is mostly ASCII or small; utf8Slice for
// tiny text and, on Node 24, for large text that is mostly non-ASCII (a JavaScript decoder
// was slower than both). Encoding costs about half with encodeInto-style writes into room
// sized for the worst case (3 bytes per UTF-16 unit) than with Buffer.byteLength + write or
// Buffer.from, which read the string twice.
import { Buffer, isAscii } from 'node:buffer';
import { headerSize, writeHeader } from '../core/encoder';
import { Opcode } from '../core/frames';
import { decodeUtf8, utf16Available } from '../core/utf16';

interface BufferInternals {
  utf8Slice?(start: number, end: number): string;
  latin1Slice?(start: number, end: number): string;
  utf8Write?(text: string, offset: number, length: number): number;
}
const proto = Buffer.prototype as unknown as BufferInternals;
// Buffer's own per-encoding methods (what toString() and write() end in, without their
// argument handling); the public calls where a runtime lacks them.
const hasSlices = typeof proto.utf8Slice === 'function' && typeof proto.latin1Slice === 'function';
const hasUtf8Write = typeof proto.utf8Write === 'function';

// Node 24's V8 decodes large dense non-ASCII UTF-8 (CJK, Cyrillic) a little faster than the
// detour through UTF-16, but text that is mostly ASCII with some accents and emoji slower
// (rotating texts: 1 KiB with 6% multi-byte characters 1.9 µs against 1.1 µs; Chinese text
// even at 1-2 KiB, 8-15% in V8's favour from 4 KiB). On a Zen 5 EPYC, V8's decoder takes
// 16 KiB of mixed text in 5.2 µs against 7.4 in isolation, but a server under load was no
// faster with it (16 KiB echo over sockets: 0.95 of the route), so the route stays.
const NATIVE_UTF8_FAST = Number(process.versions.node.split('.')[0]) >= 24;
// Non-ASCII text at least this large goes through UTF-16 where that is the faster way. On
// Node 24 too: 64 rotating texts with 6% multi-byte characters, 32 B 280 against 300 ns, 256 B
// 480 against 630 ns (a single repeated text, which the branch predictor learns, made the two
// look even up to a few hundred bytes).
const UTF16_MIN = !utf16Available ? Infinity : 24;
// On Node 24, text of DENSE_MIN bytes or more with at least DENSE of SAMPLES sampled bytes
// non-ASCII picks utf8Slice (where the two take the same time, about a third of the bytes are
// non-ASCII; for Chinese text they are even at 1-2 KiB).
const DENSE_MIN = 1024;
const SAMPLES = 16;
const DENSE = 6;
// Messages at least this large are checked for ASCII when the parser could not say (fragmented
// or inflated messages): the route the answer picks saves more than the check costs. From
// 128 B where non-ASCII text takes the UTF-16 route; from 1 KiB where only the latin1Slice of
// ASCII text gains (no WebAssembly SIMD).
const ASCII_CHECK_MIN = utf16Available ? 128 : 1024;

/** The string of valid UTF-8 bytes. `ascii`: true or false when known, undefined to find out. */
export function decodeText(data: Buffer, ascii?: boolean): string {
  const n = data.length;
  if (ascii === undefined && n >= ASCII_CHECK_MIN) ascii = isAscii(data);
  // Small text of unknown content is left to utf8Slice, which is quick when it is ASCII.
  let text: string;
  const own = data as unknown as Required<BufferInternals>;
  if (ascii === true) text = hasSlices ? own.latin1Slice(0, n) : data.toString('latin1');
  else if (ascii === false && n >= UTF16_MIN && !(NATIVE_UTF8_FAST && n >= DENSE_MIN && dense(data))) text = decodeUtf8(data);
  else text = hasSlices ? own.utf8Slice(0, n) : data.toString('utf8');
  remember(text, data, null);
  return text;
}

/** Whether many of the bytes are non-ASCII, judged from SAMPLES of them spread over the text. */
function dense(data: Buffer): boolean {
  const step = data.length / SAMPLES;
  let high = 0;
  for (let i = 0; i < SAMPLES; i++) high += data[(i * step) | 0] >> 7;
  return high >= DENSE;
}

// ---- encoding ----------------------------------------------------------------------------------

// Small frames are written into a shared slab, one after another with no gap, so that the
// frames one handler sends to one socket in a row (an echo of each message of a chunk) lie
// side by side and the outbox writes them as one view instead of joining copies (see
// outbox.ts). Like Node's own Buffer pool (8 KiB, used by Buffer.from for small strings) a
// frame waiting in a slow socket's queue keeps its slab alive, so the slab is kept small: at
// most SLAB bytes held per frame.
const SLAB = 16 * 1024;
// Frames whose worst case (3 bytes per UTF-16 unit, plus header) fits here use the slab.
const SLAB_FRAME_MAX = 4 * 1024;
let slab: Buffer | null = null;
// The slab's ArrayBuffer, kept apart because Buffer's .buffer getter is a call into C++.
let slabMemory: ArrayBuffer | null = null;
let slabUsed = 0;
// Larger ones are encoded into a reused scratch buffer and copied out at their exact size.
let scratch: Buffer | null = null;

/**
 * Takes slab[start, end) for a frame: the next frame goes right after it. A Buffer.from of the
 * slab's memory, cheaper than subarray (which looks up a species constructor).
 */
function claim(start: number, end: number): Buffer {
  slabUsed = end;
  return Buffer.from(slabMemory!, start, end - start);
}

/** Where `size` more bytes fit in the slab (a new slab when they do not). */
function slabRoom(size: number): number {
  if (slab === null || slabUsed + size > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    slabMemory = slab.buffer as ArrayBuffer;
    slabUsed = 0;
  }
  return slabUsed;
}

function utf8Write(target: Buffer, text: string, at: number, room: number): number {
  if (hasUtf8Write) return (target as unknown as Required<BufferInternals>).utf8Write(text, at, room);
  return target.write(text, at, room, 'utf8');
}

/** A text frame as written: header and payload in one buffer, or a header and a large payload apart. */
export interface TextFrame {
  readonly frame: Buffer;
  readonly payload: Buffer | null;
}

/**
 * The unmasked text frame (FIN set) for `text`. The result is shared (the last text's frame is
 * handed to every sender of that text) and must not be written to.
 */
export function encodeText(text: string): TextFrame {
  if (text === lastText) {
    if (lastFrame !== null) return lastFrame;
    if (lastPayload !== null) return (lastFrame = framePayload(lastPayload));
  }
  const room = 3 * text.length;
  let frame: Buffer;
  if (headerSize(room) + room <= SLAB_FRAME_MAX) {
    const start = slabRoom(4 + room);
    const buf = slab!;
    // The header is 2 or 4 bytes (no slab frame needs 10). Guessed from the length in UTF-16
    // units, which is at most the byte count; a wrong guess moves the payload 2 bytes up.
    let at = start + headerSize(text.length);
    const written = utf8Write(buf, text, at, room);
    if (at - start < headerSize(written)) {
      buf.copyWithin(at + 2, at, at + written);
      at += 2;
    }
    writeHeader(buf, start, Opcode.TEXT, written);
    frame = claim(start, at + written);
  } else {
    if (scratch === null || scratch.length < room) scratch = Buffer.allocUnsafeSlow(Math.max(room, 64 * 1024));
    const written = utf8Write(scratch, text, 0, room);
    const head = headerSize(written);
    frame = Buffer.allocUnsafe(head + written);
    writeHeader(frame, 0, Opcode.TEXT, written);
    scratch.copy(frame, head, 0, written);
  }
  const parts = { frame, payload: null };
  remember(text, null, parts);
  return parts;
}

/** The UTF-8 bytes of `text` (for compression, brokers): the received ones when it is the last text seen. */
export function textBytes(text: string): Buffer {
  if (text === lastText) {
    if (lastPayload !== null) return lastPayload;
    if (lastFrame !== null) return lastFrame.payload ?? lastFrame.frame.subarray(payloadStart(lastFrame.frame));
  }
  const bytes = Buffer.from(text);
  remember(text, bytes, null);
  return bytes;
}

function payloadStart(frame: Buffer): number {
  const code = frame[1] & 0x7f;
  return code < 126 ? 2 : code === 126 ? 4 : 10;
}

// Received text at least this large is written as it is, after its own header: it is copied at
// most once more (when the outbox joins a batch), not once into the frame and again there.
const APART_MIN = 4 * 1024;

/** Received bytes as a text frame: copied in after the header when small, else written as they are. */
function framePayload(payload: Buffer): TextFrame {
  const head = headerSize(payload.length);
  if (payload.length >= APART_MIN) {
    const header = Buffer.allocUnsafe(head);
    writeHeader(header, 0, Opcode.TEXT, payload.length);
    return { frame: header, payload };
  }
  const start = slabRoom(head + payload.length);
  const buf = slab!;
  writeHeader(buf, start, Opcode.TEXT, payload.length);
  buf.set(payload, start + head);
  return { frame: claim(start, start + head + payload.length), payload: null };
}

// ---- the last text seen ------------------------------------------------------------------------
// Strings have no identity a WeakMap could key on, but `===` between a string and itself is a
// pointer compare, and between equal strings still the right answer (equal text, equal
// bytes): a relay that sends on what it just received finds its bytes here. One entry, so at
// most one message's bytes are kept beyond their use. Frames and received payloads are never
// written to after they are made, so sharing them between sockets is safe.
let lastText: string | null = null;
let lastPayload: Buffer | null = null;
let lastFrame: TextFrame | null = null;

function remember(text: string, payload: Buffer | null, frame: TextFrame | null): void {
  lastText = text;
  lastPayload = payload;
  lastFrame = frame;
}

/** Test hook: forget the last text. */
export function forgetText(): void {
  lastText = null;
  lastPayload = null;
  lastFrame = null;
}

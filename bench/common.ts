// Pieces shared by the benchmark's orchestrator, servers and load generator.
import { createHash } from 'node:crypto';
import { deflateRawSync, constants as zc } from 'node:zlib';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const TEXT = 0x1;
export const BINARY = 0x2;
export const CLOSE = 0x8;
/** The 4 bytes a sync flush ends with; RFC 7692 strips them from each message. */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** A small deterministic PRNG (mulberry32), so runs send the same bytes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Payload number `variant` of `size` bytes: printable ASCII for text, any byte for binary. */
export function makePayload(size: number, binary: boolean, variant: number): Buffer {
  const rand = prng(0x5eed + variant * 7919 + size);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = binary ? (rand() * 256) | 0 : 0x21 + ((rand() * 94) | 0);
  return out;
}

/** JSON text of exactly `size` bytes (compresses about like real API traffic). */
export function makeJson(size: number, variant: number): Buffer {
  const rand = prng(0x150 + variant);
  const words = ['alpha', 'bravo', 'delta', 'order', 'status', 'pending', 'shipped', 'user', 'item', 'price'];
  const pick = () => words[(rand() * words.length) | 0];
  const head = `{"id":${variant},"user":"${pick()}_${(rand() * 1000) | 0}","items":[`;
  const tail = '],"note":""}';
  let items = '';
  for (let n = 0; n < 1000; n++) {
    const item = JSON.stringify({
      sku: `${pick().toUpperCase()}-${(rand() * 100000) | 0}`,
      qty: (rand() * 9 + 1) | 0,
      price: Math.round(rand() * 10000) / 100,
      state: pick(),
    });
    const next = items === '' ? item : `${items},${item}`;
    if (head.length + next.length + tail.length > size) break;
    items = next;
  }
  // The note pads the message to exactly `size` bytes.
  let note = '';
  const room = size - head.length - items.length - tail.length;
  while (note.length < room) note += `${pick()} `;
  const text = `${head}${items}],"note":"${note.slice(0, room)}"}`;
  if (Buffer.byteLength(text) !== size) throw new Error(`makeJson: ${size} bytes wanted, made ${text.length}`);
  return Buffer.from(text);
}

/** A client frame (FIN set, masked). With `compressed`, the payload is already deflated. */
export function maskedFrame(opcode: number, payload: Buffer, mask: Buffer, compressed = false): Buffer {
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + extra + 4 + len);
  frame[0] = 0x80 | (compressed ? 0x40 : 0) | opcode;
  if (extra === 0) frame[1] = 0x80 | len;
  else if (extra === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  mask.copy(frame, 2 + extra);
  const at = 6 + extra;
  for (let i = 0; i < len; i++) frame[at + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/** The frame a server sends back for `payload`: FIN, unmasked, uncompressed. */
export function serverFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + extra + len);
  frame[0] = 0x80 | opcode;
  if (extra === 0) frame[1] = len;
  else if (extra === 2) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  payload.copy(frame, 2 + extra);
  return frame;
}

/** Deflates one message on its own (no context), the way RFC 7692 frames it. */
export function deflateMessage(payload: Buffer): Buffer {
  const out = deflateRawSync(payload, { finishFlush: zc.Z_SYNC_FLUSH });
  if (!out.subarray(out.length - 4).equals(DEFLATE_TAIL)) throw new Error('unexpected deflate tail');
  return out.subarray(0, out.length - 4);
}

export function maskFor(variant: number): Buffer {
  const rand = prng(0xa5a5 + variant);
  return Buffer.from([(rand() * 256) | 0, (rand() * 256) | 0, (rand() * 256) | 0, (rand() * 256) | 0]);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `ws` runs without its native addon (as installed by most users); `ws+native` with bufferutil. */
export type ServerKind = 'wsgate' | 'ws' | 'ws+native' | 'raw';

/** Which masking code a ws server process runs, as seen from inside that process. */
export interface WsImpl {
  /** `native`: ws loaded bufferutil's compiled addon; `js fallback`: bufferutil's JS fallback. */
  bufferutil: 'native' | 'js fallback' | 'not loaded';
  /** Whether require.resolve('bufferutil') succeeds in that process. */
  installed: boolean;
  /** The WS_NO_BUFFER_UTIL and WS_NO_UTF_8_VALIDATE values the process ran with. */
  env: string;
}
export type ServerMode = 'echo' | 'broadcast' | 'deflate';

export interface ServerConfig {
  kind: ServerKind;
  mode: ServerMode;
  /** Debug: the raw server corrupts one byte of its echo, to prove verification works. */
  corrupt?: boolean;
}

export type ClientConfig =
  | { mode: 'echo'; port: number; conns: number; inflight: number; size: number; binary: boolean; warmup: number; duration: number }
  | { mode: 'deflate'; port: number; conns: number; inflight: number; size: number; warmup: number; duration: number }
  | { mode: 'handshake'; port: number; concurrency: number; warmup: number; duration: number }
  | { mode: 'idle'; port: number; conns: number; deflate: boolean }
  | { mode: 'broadcast'; port: number; subs: number; inflight: number; size: number; warmup: number; duration: number };

/** What a load generator process reports at the end. */
export interface ClientResult {
  /** Messages (or handshakes, or deliveries) completed and verified inside the window. */
  count: number;
  /** Payload bytes in those messages, one direction. */
  bytes: number;
  /** Length of the measuring window in seconds. */
  seconds: number;
  /** Generator CPU time inside the window, as a fraction of one core. */
  cpu: number;
  errors: number;
  firstError?: string;
  opened?: number;
}

export interface MemReport {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

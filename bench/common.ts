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

/** How text payloads mix characters: printable ASCII, chat-like (~6% multi-byte), or mostly CJK. */
export type TextMix = 'ascii' | 'mixed' | 'cjk';

// Two-, three- and four-byte UTF-8 sequences, the non-ASCII characters of real chat.
const TWO_BYTE = ['é', 'ü', 'ñ', 'ö', 'ç', 'ß', 'à', 'ø', 'ł', 'я'];
const THREE_BYTE = ['€', '中', '文', '日', '本', '語', '한', '…', '→', '✓'];
const FOUR_BYTE = ['😀', '🎉', '👍', '🚀', '🌍', '💬'];
const LETTERS = 'etaoinshrdlucmfwypvbgkqjxz';

/**
 * UTF-8 text of exactly `size` bytes. `ascii` is the historical payload (random printable
 * ASCII, what makePayload makes); `mixed` is words with about 6% of characters multi-byte
 * (half two-byte, a third three-byte, the rest four-byte emoji); `cjk` is mostly three-byte
 * CJK with some spaces, punctuation and emoji. Deterministic per (size, mix, variant).
 */
export function makeText(size: number, mix: TextMix, variant: number): Buffer {
  if (mix === 'ascii') return makePayload(size, false, variant);
  const rand = prng(0x7e47 + variant * 7919 + size * 31 + (mix === 'cjk' ? 1 : 0));
  const parts: string[] = [];
  let left = size;
  let word = 0;
  while (left > 0) {
    let ch: string;
    const r = rand();
    if (mix === 'mixed') {
      if (r < 0.03) ch = TWO_BYTE[(rand() * TWO_BYTE.length) | 0];
      else if (r < 0.05) ch = THREE_BYTE[(rand() * THREE_BYTE.length) | 0];
      else if (r < 0.06) ch = FOUR_BYTE[(rand() * FOUR_BYTE.length) | 0];
      else if (word > 2 && r < 0.22) ch = ' ';
      else ch = LETTERS[(rand() * rand() * LETTERS.length) | 0];
    } else {
      if (r < 0.85) ch = String.fromCharCode(0x4e00 + ((rand() * 0x51a5) | 0));
      else if (r < 0.95) ch = r < 0.9 ? ' ' : '，';
      else if (r < 0.97) ch = FOUR_BYTE[(rand() * FOUR_BYTE.length) | 0];
      else ch = LETTERS[(rand() * LETTERS.length) | 0];
    }
    let n = Buffer.byteLength(ch);
    if (n > left) {
      ch = LETTERS[(rand() * LETTERS.length) | 0];
      n = 1;
    }
    word = ch === ' ' ? 0 : word + 1;
    parts.push(ch);
    left -= n;
  }
  const out = Buffer.from(parts.join(''));
  if (out.length !== size) throw new Error(`makeText: ${size} bytes wanted, made ${out.length}`);
  return out;
}

/** Counts the characters of a UTF-8 buffer that take more than one byte. */
export function multiByteShare(buf: Buffer): number {
  let chars = 0;
  let multi = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if ((b & 0xc0) === 0x80) continue;
    chars++;
    if (b >= 0x80) multi++;
  }
  return chars === 0 ? 0 : multi / chars;
}

/**
 * A chat message: JSON text of 200-400 bytes with non-ASCII names and text. Its fields start
 * at fixed byte offsets: `ts` (16 digits, the sender's clock in microseconds, patched in at
 * send time) and `k` (5 digits, which template this is), so a receiver can check and time it.
 */
export const CHAT_TS_AT = 7;
export const CHAT_TS_LEN = 16;
export const CHAT_K_AT = CHAT_TS_AT + CHAT_TS_LEN + 7;
export const CHAT_K_LEN = 5;
const NAMES = ['Zoë', 'José', 'Jürgen', '李雷', 'Ольга', 'Søren', 'Amélie', 'Kenji', 'Ağrı', 'Nguyễn'];

export function makeChat(k: number): Buffer {
  const rand = prng(0xc4a7 + k * 131);
  const total = 200 + ((rand() * 201) | 0);
  const head = `{"ts":"${'0'.repeat(CHAT_TS_LEN)}","k":"${String(k).padStart(CHAT_K_LEN, '0')}","room":"lobby","user":"${NAMES[k % NAMES.length]}","text":"`;
  const tail = '"}';
  const room = total - Buffer.byteLength(head) - tail.length;
  const text = makeText(room, 'mixed', 1000 + k).toString();
  const out = Buffer.from(head + text + tail);
  if (out.length !== total || out.toString('latin1', CHAT_K_AT - 7, CHAT_K_AT) !== '","k":"') throw new Error('makeChat: layout');
  JSON.parse(out.toString());
  return out;
}

/** The timer-push message: exactly 100 bytes of JSON, `seq` (8 digits) at a fixed offset. */
export const PUSH_SIZE = 100;
export const PUSH_SEQ_AT = 8;
export const PUSH_SEQ_LEN = 8;
export function pushTemplate(): { head: string; tail: string; bytes: Buffer } {
  const head = '{"seq":"';
  const mid = '","msg":"';
  const tail0 = '"}';
  const room = PUSH_SIZE - head.length - PUSH_SEQ_LEN - mid.length - tail0.length;
  const tail = mid + makeText(room, 'mixed', 77).toString() + tail0;
  const bytes = Buffer.from(head + '0'.repeat(PUSH_SEQ_LEN) + tail);
  if (bytes.length !== PUSH_SIZE || head.length !== PUSH_SEQ_AT) throw new Error('pushTemplate: layout');
  JSON.parse(bytes.toString());
  return { head, tail, bytes };
}
/** The push message for tick `seq`, as the server sends it (a string). */
export function pushMessage(t: { head: string; tail: string }, seq: number): string {
  return t.head + String(seq % 1e8).padStart(PUSH_SEQ_LEN, '0') + t.tail;
}

/**
 * JSON text of exactly `size` bytes (compresses about like real API traffic). With `mixed`,
 * some words and the note carry multi-byte characters; `ascii` is the historical payload.
 */
export function makeJson(size: number, variant: number, mix: 'ascii' | 'mixed' = 'ascii'): Buffer {
  const rand = prng(0x150 + variant);
  const words =
    mix === 'ascii'
      ? ['alpha', 'bravo', 'delta', 'order', 'status', 'pending', 'shipped', 'user', 'item', 'price']
      : ['alpha', 'bravo', 'größe', 'order', 'état', 'pending', 'shipped', 'usuário', 'item', '価格'];
  const pick = () => words[(rand() * words.length) | 0];
  const bytes = (t: string) => Buffer.byteLength(t);
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
    if (bytes(head) + bytes(next) + tail.length > size) break;
    items = next;
  }
  // The note pads the message to exactly `size` bytes.
  const room = size - bytes(head) - bytes(items) - tail.length;
  let note = '';
  if (mix === 'ascii') {
    while (note.length < room) note += `${pick()} `;
    note = note.slice(0, room);
  } else note = makeText(room, 'mixed', variant).toString();
  const text = `${head}${items}],"note":"${note}"}`;
  if (Buffer.byteLength(text) !== size) throw new Error(`makeJson: ${size} bytes wanted, made ${Buffer.byteLength(text)}`);
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
export type ServerKind = 'wsgate' | 'wsgate@base' | 'ws' | 'ws+native' | 'raw' | 'bun';

/** Which masking code a ws server process runs, as seen from inside that process. */
export interface WsImpl {
  /** `native`: ws loaded bufferutil's compiled addon; `js fallback`: bufferutil's JS fallback. */
  bufferutil: 'native' | 'js fallback' | 'not loaded';
  /** Whether require.resolve('bufferutil') succeeds in that process. */
  installed: boolean;
  /** The WS_NO_BUFFER_UTIL and WS_NO_UTF_8_VALIDATE values the process ran with. */
  env: string;
}
export type ServerMode = 'echo' | 'broadcast' | 'deflate' | 'chat' | 'push';

/** What the push servers send: pushMessage(head/tail, seq) every `interval` ms to every connection. */
export interface PushConfig {
  head: string;
  tail: string;
  seqLen: number;
  interval: number;
}

export interface ServerConfig {
  kind: ServerKind;
  mode: ServerMode;
  /** Debug: the raw server corrupts one byte of its echo, to prove verification works. */
  corrupt?: boolean;
  push?: PushConfig;
  /** wsgate@base: the dist/ directory of the other wsgate build to load (`--baseline DIR`). */
  baseline?: string;
}

export type ClientConfig =
  | { mode: 'echo'; port: number; conns: number; inflight: number; size: number; binary: boolean; mix: TextMix; warmup: number; duration: number }
  | { mode: 'deflate'; port: number; conns: number; inflight: number; size: number; mix: 'ascii' | 'mixed'; warmup: number; duration: number }
  | { mode: 'chat'; port: number; conns: number; inflight: number; warmup: number; duration: number }
  | { mode: 'push'; port: number; conns: number; interval: number; warmup: number; duration: number }
  | { mode: 'handshake'; port: number; concurrency: number; warmup: number; duration: number }
  | { mode: 'idle'; port: number; conns: number; deflate: boolean }
  | { mode: 'broadcast'; port: number; subs: number; inflight: number; size: number; mix: TextMix; warmup: number; duration: number };

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
  /** Chat: delivery latency (message timestamp to arrival) inside the window, in ms. */
  latency?: { p50: number; p99: number; max: number; samples: number };
}

export interface MemReport {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

// Hostile framing input for the fuzz tests and scripts/fuzz.ts: client byte streams made of
// plausible frames, then damaged (fields changed, bits flipped, bytes cut or spliced), fed to
// the FrameParser in random chunks; plus the rules every outcome must obey.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { isValidCloseCode } from '../../src/core/frames';
import { ProtocolError } from '../../src/core/errors';
import { FrameParser, type ParserOptions } from '../../src/core/parser';
import { type ParserEvent, Recorder } from './parser-events';
import { clientFrame, closePayload, type FrameSpec, type ServerFrame } from './raw-client';

export interface FuzzInput {
  bytes: Buffer;
  /** Sorted offsets where the stream is cut into chunks. */
  cuts: number[];
  options: ParserOptions;
  /** Pause the parser after every event and resume it from outside, as inflating does. */
  pause: boolean;
}

export interface ParseResult {
  events: ParserEvent[];
  errors: ProtocolError[];
  threw: unknown;
}

// ---- generators -------------------------------------------------------------------------

// Lengths around every encoding boundary and limit, and absurd 64-bit ones.
const LENGTHS = [0, 1, 2, 125, 126, 127, 128, 255, 256, 0xffff, 0x10000, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63];
// Text that is valid UTF-8 with multi-byte characters, so fragment cuts can split them.
const textPayload = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => Buffer.from(s));
const bytesPayload = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
// Overlong, surrogate, truncated and out-of-range UTF-8.
const badUtf8 = fc
  .constantFrom('c0af', 'eda080', 'e282', 'f4908080', 'ff', 'f0', '80', 'cebae1bdb9cf83ceb5eda080656469746564')
  .map((h) => Buffer.from(h, 'hex'));
const closeBody = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.constant(Buffer.from([0x03])),
  fc
    .tuple(
      fc.oneof(fc.constantFrom(1000, 1001, 1002, 1005, 1006, 1015, 1016, 2999, 3000, 4999, 5000, 0, 65535), fc.integer({ min: 0, max: 65535 })),
      fc.oneof(fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)), badUtf8),
    )
    .map(([code, reason]) => Buffer.concat([closePayload(code), reason])),
);

type Item = { kind: 'message'; text: boolean; payload: Buffer; cuts: number[] } | { kind: 'control'; opcode: number; payload: Buffer };

const messageItem: fc.Arbitrary<Item> = fc
  .tuple(fc.boolean(), fc.oneof({ weight: 3, arbitrary: textPayload }, bytesPayload, badUtf8), fc.array(fc.nat(), { maxLength: 4 }))
  .map(([text, payload, cuts]) => ({
    kind: 'message' as const,
    text,
    payload,
    cuts: cuts.map((c) => c % (payload.length + 1)).sort((a, b) => a - b),
  }));
const controlItem: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ kind: fc.constant('control' as const), opcode: fc.constantFrom(0x9, 0xa), payload: fc.uint8Array({ maxLength: 130 }).map((a) => Buffer.from(a)) }),
  fc.record({ kind: fc.constant('control' as const), opcode: fc.constant(0x8), payload: closeBody }),
);

/** The frames of an item, as specs, fragmented as its cuts say. */
function specs(item: Item): FrameSpec[] {
  if (item.kind === 'control') return [{ opcode: item.opcode, payload: item.payload }];
  const bounds = [0, ...item.cuts, item.payload.length];
  const out: FrameSpec[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push({
      opcode: i === 0 ? (item.text ? 0x1 : 0x2) : 0x0,
      payload: item.payload.subarray(bounds[i], bounds[i + 1]),
      fin: i + 2 === bounds.length,
    });
  }
  return out;
}

// One change to a frame's header fields; most frames are left alone.
const fieldMutation: fc.Arbitrary<(spec: FrameSpec) => FrameSpec> = fc.oneof(
  { weight: 50, arbitrary: fc.constant((s: FrameSpec) => s) },
  fc.integer({ min: 0, max: 15 }).map((opcode) => (s: FrameSpec) => ({ ...s, opcode })),
  fc.constant((s: FrameSpec) => ({ ...s, fin: !(s.fin ?? true) })),
  fc.constantFrom(0x40, 0x20, 0x10, 0x70).map((rsv) => (s: FrameSpec) => ({ ...s, rsv })),
  fc.constant((s: FrameSpec) => ({ ...s, masked: false })),
  fc.constantFrom(...LENGTHS).map((length) => (s: FrameSpec) => ({ ...s, length })),
  fc.integer({ min: -3, max: 3 }).map((d) => (s: FrameSpec) => {
    const n = typeof s.payload === 'string' ? Buffer.byteLength(s.payload) : (s.payload?.length ?? 0);
    return { ...s, length: Math.max(0, n + d) };
  }),
);

type ByteMutation = (b: Buffer) => Buffer;
const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => (b: Buffer) => {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    out[at % b.length] ^= 1 << bit;
    return out;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, v]) => (b: Buffer) => {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    out[at % b.length] = v;
    return out;
  }),
  fc.nat().map((at) => (b: Buffer) => b.subarray(0, at % (b.length + 1))),
  fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 20 })).map(([at, from, n]) => (b: Buffer) => {
    const i = at % (b.length + 1);
    const j = from % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), b.subarray(j, j + n), b.subarray(i)]);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 20 })).map(([at, n]) => (b: Buffer) => {
    const i = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), b.subarray(i + n)]);
  }),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, junk]) => (b: Buffer) => {
    const i = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), junk, b.subarray(i)]);
  }),
);

/** A client stream: valid-looking frames, a few fields changed, a few bytes damaged. */
export const mutatedStream: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.array(fc.oneof({ weight: 3, arbitrary: messageItem }, controlItem), { minLength: 1, maxLength: 10, size: 'medium' }),
    fc.array(fieldMutation, { minLength: 24, maxLength: 24 }),
    fc.oneof(fc.constant([]), fc.array(byteMutation, { minLength: 1, maxLength: 3 })),
    fc.uint8Array({ minLength: 4, maxLength: 4 }),
  )
  .map(([items, fieldChanges, byteChanges, mask]) => {
    const frames = items.flatMap(specs).map((spec, i) => clientFrame({ ...fieldChanges[i % 24](spec), mask: Buffer.from(mask) }));
    return byteChanges.reduce<Buffer>((b, change) => change(b), Buffer.concat(frames));
  });

/** Plain random bytes, and random bytes behind a plausible first byte. */
export const randomStream: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 400, size: 'medium' }).map((a) => Buffer.from(a)),
  fc
    .tuple(fc.constantFrom(0x81, 0x82, 0x01, 0x80, 0x89, 0x8a, 0x88), fc.uint8Array({ maxLength: 400, size: 'medium' }))
    .map(([first, rest]) => Buffer.from([first, 0x80 | (rest[0] ?? 0), ...rest.subarray(1)])),
);

export const anyStream: fc.Arbitrary<Buffer> = fc.oneof({ weight: 3, arbitrary: mutatedStream }, randomStream);

export const parserOptions: fc.Arbitrary<ParserOptions> = fc.record({
  maxPayload: fc.constantFrom(0, 1, 125, 126, 1000, 65536, 1 << 20),
  allowCompression: fc.boolean(),
});

export const fuzzInput: fc.Arbitrary<FuzzInput> = fc
  .tuple(anyStream, fc.array(fc.nat(), { maxLength: 12 }), parserOptions, fc.boolean(), fc.boolean())
  .map(([bytes, cuts, options, bytewise, pause]) => ({
    bytes,
    cuts: bytewise
      ? Array.from({ length: bytes.length }, (_, i) => i)
      : [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b),
    options,
    pause,
  }));

// ---- running and judging ----------------------------------------------------------------

/** A valid ping pushed after the input: once the parser has ended, nothing may come of it. */
const TRAILER = clientFrame({ opcode: 0x9, payload: 'after', mask: Buffer.from([1, 2, 3, 4]) });

export function runParser(
  bytes: Buffer,
  cuts: readonly number[],
  options: ParserOptions,
  pause = false,
  trailer = true,
): ParseResult {
  const rec = new Recorder();
  const parser = new FrameParser(rec, options);
  if (pause) rec.after = () => parser.pause();
  const input = Buffer.from(bytes); // the parser unmasks in place
  let threw: unknown = null;
  try {
    const bounds = [0, ...cuts, input.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      parser.push(input.subarray(bounds[i], bounds[i + 1]));
      while (parser.isPaused) parser.resume();
    }
    if (trailer) parser.push(Buffer.from(TRAILER));
    while (parser.isPaused) parser.resume();
  } catch (err) {
    threw = err;
  }
  return { events: rec.events, errors: rec.errors, threw };
}

/** Why the result breaks the rules, or null when it is a valid outcome. */
export function violation(result: ParseResult, options: ParserOptions): string | null {
  if (result.threw !== null) return `the parser threw: ${String(result.threw)}`;
  const { events } = result;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const terminal = e.type === 'error' || e.type === 'close';
    if (terminal && i !== events.length - 1) return `event ${i} (${e.type}) is followed by ${events[i + 1].type}`;
    if (e.type === 'error' && ![1002, 1007, 1009].includes(e.code)) return `error with close code ${e.code}`;
    if (e.type === 'message') {
      const data = Buffer.from(e.data, 'hex');
      if (data.length > options.maxPayload) return `a ${data.length}-byte message passed maxPayload ${options.maxPayload}`;
      if (e.compressed && !options.allowCompression) return 'a compressed message without compression';
      if (e.text && !e.compressed && !isUtf8(data)) return 'a text message that is not UTF-8';
    }
    if ((e.type === 'ping' || e.type === 'pong') && e.data.length / 2 > 125) return `a ${e.type} over 125 bytes`;
    if (e.type === 'close') {
      if (e.code !== 1005 && !isValidCloseCode(e.code)) return `close code ${e.code} accepted`;
      if (Buffer.byteLength(e.reason) > 123) return 'close reason over 123 bytes';
    }
  }
  if (result.errors.some((err) => !(err instanceof ProtocolError))) return 'onError got something other than a ProtocolError';
  return null;
}

/** Checks one input: the rules, and that chunking and pausing change nothing. */
export function judge(input: FuzzInput): string | null {
  const whole = runParser(input.bytes, [], input.options);
  const bad = violation(whole, input.options);
  if (bad) return `whole: ${bad}`;
  const split = runParser(input.bytes, input.cuts, input.options, input.pause);
  const badSplit = violation(split, input.options);
  if (badSplit) return `chunked: ${badSplit}`;
  if (JSON.stringify(split.events) !== JSON.stringify(whole.events)) return 'chunking or pausing changed the events';
  return null;
}

/**
 * What an echo server (each message sent back, pings answered) must write for these parser
 * events: echoes and pongs in order, then a close frame for a close or an error.
 */
export function expectedServerFrames(events: readonly ParserEvent[]): { opcode: number; payload: string }[] {
  const out: { opcode: number; payload: string }[] = [];
  for (const e of events) {
    if (e.type === 'message') out.push({ opcode: e.text ? 0x1 : 0x2, payload: e.data });
    else if (e.type === 'ping') out.push({ opcode: 0xa, payload: e.data });
    else if (e.type === 'close') out.push({ opcode: 0x8, payload: e.code === 1005 ? '' : closePayload(e.code).toString('hex') });
    else if (e.type === 'error') out.push({ opcode: 0x8, payload: closePayload(e.code).toString('hex') });
  }
  return out;
}

export function frameSummary(frames: readonly ServerFrame[]): { opcode: number; payload: string }[] {
  return frames.map((f) => ({ opcode: f.opcode, payload: f.payload.toString('hex') }));
}

/** Fixture names carry the parser options: name[.max-N][.deflate].bin (default max 65536). */
export function fixtureOptions(name: string): ParserOptions {
  const max = /\.max-(\d+)/.exec(name);
  return { maxPayload: max ? Number(max[1]) : 65536, allowCompression: /\.deflate\./.test(name) };
}

export function fixtureName(stem: string, options: ParserOptions): string {
  return `${stem}.max-${options.maxPayload}${options.allowCompression ? '.deflate' : ''}.bin`;
}

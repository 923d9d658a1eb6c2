// Property tests: random messages, fragmented at random, with pings between fragments,
// masked as a client would, cut into random chunks, parse back to the same events.
import fc from 'fast-check';
import { encodeFrame, encodeTextFrame } from '../../src/core/encoder';
import { Opcode } from '../../src/core/frames';
import { clientFrame, closePayload } from '../helpers/raw-client';
import { message, parseChunked } from '../helpers/parser-events';
import type { ParserEvent } from '../helpers/parser-events';

interface Msg {
  text: boolean;
  payload: Buffer;
  /** Fragment boundaries: sorted byte offsets into payload (duplicates make empty fragments). */
  cuts: number[];
  /** Ping payloads sent after fragment i, for i < fragments - 1. */
  pings: Buffer[][];
}

const textMsg = fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ text: true, payload: Buffer.from(s) }));
// Up to 700 bytes: fragments then cross the assembly buffer's growth points (256, 512).
const binaryMsg = fc.uint8Array({ maxLength: 700 }).map((a) => ({ text: false, payload: Buffer.from(a) }));
const pingPayload = fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a));

const msgArb: fc.Arbitrary<Msg> = fc
  .tuple(
    fc.oneof(textMsg, binaryMsg, fc.constant({ text: true, payload: Buffer.alloc(0) })),
    fc.array(fc.nat(), { maxLength: 6 }),
    fc.array(fc.array(pingPayload, { maxLength: 2 }), { maxLength: 7 }),
  )
  .map(([m, rawCuts, pings]) => {
    const cuts = rawCuts.map((c) => c % (m.payload.length + 1)).sort((a, b) => a - b);
    return { ...m, cuts, pings: pings.slice(0, cuts.length) };
  });

const maskArb = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => Buffer.from(a));

/** Chunk sizes for feeding the stream; 1 means byte by byte. */
const chunking = fc.oneof(fc.constant([1]), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }));

function fragments(m: Msg): Buffer[] {
  const bounds = [0, ...m.cuts, m.payload.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) out.push(m.payload.subarray(bounds[i], bounds[i + 1]));
  return out;
}

/** The client byte stream for the messages, and the events a parser must report. */
function build(messages: Msg[], mask: Buffer, close?: { code: number; reason: string }): { data: Buffer; expected: ParserEvent[] } {
  const frames: Buffer[] = [];
  const expected: ParserEvent[] = [];
  for (const m of messages) {
    const parts = fragments(m);
    parts.forEach((part, i) => {
      const fin = i === parts.length - 1;
      frames.push(clientFrame({ opcode: i === 0 ? (m.text ? Opcode.TEXT : Opcode.BINARY) : Opcode.CONTINUATION, payload: part, fin, mask }));
      for (const ping of m.pings[i] ?? []) {
        frames.push(clientFrame({ opcode: Opcode.PING, payload: ping, mask }));
        expected.push({ type: 'ping', data: ping.toString('hex') });
      }
    });
    expected.push(message(m.payload, m.text));
  }
  if (close) {
    frames.push(clientFrame({ opcode: Opcode.CLOSE, payload: closePayload(close.code, close.reason), mask }));
    expected.push({ type: 'close', code: close.code, reason: close.reason });
    // Anything after the close frame must be ignored.
    frames.push(clientFrame({ opcode: Opcode.TEXT, payload: 'after close', mask }));
  }
  return { data: Buffer.concat(frames), expected };
}

const closeArb = fc.option(
  fc.record({
    code: fc.oneof(fc.constantFrom(1000, 1001, 1011), fc.integer({ min: 3000, max: 4999 })),
    reason: fc.string({ unit: 'binary', maxLength: 30 }).filter((r) => Buffer.byteLength(r) <= 123),
  }),
  { nil: undefined },
);

test('random messages, fragmentation, pings and chunking give back the same events', () => {
  fc.assert(
    fc.property(fc.array(msgArb, { maxLength: 6 }), maskArb, chunking, closeArb, (messages, mask, sizes, close) => {
      const { data, expected } = build(messages, mask, close);
      expect(parseChunked(data, sizes)).toEqual(expected);
    }),
    { numRuns: 200 },
  );
});

test('any two chunkings of the same stream give the same events, including errors', () => {
  // Valid frames with random bytes spliced in, so that errors happen at random places.
  const stream = fc
    .tuple(fc.array(msgArb, { maxLength: 4 }), maskArb, fc.uint8Array({ maxLength: 12 }), fc.nat())
    .map(([messages, mask, junk, at]) => {
      const { data } = build(messages, mask);
      const cut = at % (data.length + 1);
      return Buffer.concat([data.subarray(0, cut), junk, data.subarray(cut)]);
    });
  fc.assert(
    fc.property(stream, chunking, chunking, fc.boolean(), (data, a, b, allowCompression) => {
      const options = { allowCompression, maxPayload: 200 };
      const whole = parseChunked(data, [], options);
      expect(parseChunked(data, a, options)).toEqual(whole);
      expect(parseChunked(data, b, options)).toEqual(whole);
      // At most one terminal event, and it is the last one.
      const terminal = whole.findIndex((e) => e.type === 'error' || e.type === 'close');
      expect(terminal === -1 || terminal === whole.length - 1).toBe(true);
    }),
    { numRuns: 200 },
  );
});

test('frames from the server encoder parse back unmasked', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(textMsg, binaryMsg), { maxLength: 5 }), chunking, (messages, sizes) => {
      const data = Buffer.concat(
        messages.map((m) => (m.text ? encodeTextFrame(m.payload.toString()) : encodeFrame(Opcode.BINARY, m.payload))),
      );
      expect(parseChunked(data, sizes, { requireMask: false })).toEqual(messages.map((m) => message(m.payload, m.text)));
    }),
    { numRuns: 150 },
  );
});

test('random bytes never make the parser throw, and it reports at most one error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), chunking, (bytes, sizes) => {
      const events = parseChunked(Buffer.from(bytes), sizes, { maxPayload: 100 });
      expect(events.filter((e) => e.type === 'error' || e.type === 'close').length).toBeLessThanOrEqual(1);
    }),
    { numRuns: 300 },
  );
});

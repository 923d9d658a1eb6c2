// A text frame whose bytes arrive in several TCP chunks is checked as they come: the parser
// fails with 1007 on the chunk that makes valid UTF-8 impossible, not once the frame is
// complete (Autobahn 6.4.x, cut by TCP rather than by fragments).
import fc from 'fast-check';
import { clientFrame } from '../helpers/raw-client';
import { makeParser } from '../helpers/parser-events';

const hex = (s: string) => Buffer.from(s, 'hex');

/** A masked text frame for `payload`, split so that the payload pieces are `pieces`. */
function splitFrame(pieces: Buffer[], opts: { fin?: boolean; opcode?: number } = {}): Buffer[] {
  const payload = Buffer.concat(pieces);
  const frame = clientFrame({ opcode: opts.opcode ?? 1, payload, fin: opts.fin ?? true });
  const head = frame.length - payload.length;
  const out: Buffer[] = [];
  let at = head;
  pieces.forEach((p, i) => {
    out.push(frame.subarray(i === 0 ? 0 : at, at + p.length));
    at += p.length;
  });
  return out;
}

describe('UTF-8 checked while a text frame arrives', () => {
  test('cebae1bdb9cf83cebcceb5 | f4908080 | 656469746564: fails on the second chunk', () => {
    const { parser, rec } = makeParser();
    const chunks = splitFrame([hex('cebae1bdb9cf83cebcceb5'), hex('f4908080'), hex('656469746564')]);
    parser.push(chunks[0]);
    expect(rec.events).toEqual([]);
    parser.push(chunks[1]);
    expect(rec.events).toEqual([{ type: 'error', code: 1007 }]);
    expect(rec.errors[0].code).toBe('WS_INVALID_UTF8');
    parser.push(chunks[2]); // ignored: the parser takes no more input
    expect(rec.events).toHaveLength(1);
  });

  test('cebae1bdb9cf83cebcceb5f4 | 90: fails on the byte after the lead byte', () => {
    const { parser, rec } = makeParser();
    const chunks = splitFrame([hex('cebae1bdb9cf83cebcceb5f4'), hex('90'), hex('8080656469746564')]);
    parser.push(chunks[0]);
    expect(rec.events).toEqual([]); // f4 may still start a valid sequence
    parser.push(chunks[1]);
    expect(rec.events).toEqual([{ type: 'error', code: 1007 }]);
  });

  test('a bad byte in the first chunk of a frame fails before the rest arrives', () => {
    const { parser, rec } = makeParser();
    const chunks = splitFrame([hex('41ff'), Buffer.alloc(100, 0x41)]);
    parser.push(chunks[0]);
    expect(rec.events).toEqual([{ type: 'error', code: 1007 }]);
  });

  test('the same, inside a continuation frame of a fragmented message', () => {
    const { parser, rec } = makeParser();
    parser.push(clientFrame({ opcode: 1, fin: false, payload: hex('cebae1bdb9') }));
    const chunks = splitFrame([hex('cf83cebcceb5'), hex('f4908080'), hex('656469746564')], { opcode: 0 });
    parser.push(chunks[0]);
    expect(rec.events).toEqual([]);
    parser.push(chunks[1]);
    expect(rec.events).toEqual([{ type: 'error', code: 1007 }]);
  });

  test('a large frame (streamed into its buffer) fails on the chunk with the bad bytes', () => {
    const { parser, rec } = makeParser();
    const good = Buffer.alloc(40_000, 0x61);
    const chunks = splitFrame([good.subarray(0, 30_000), good.subarray(30_000), Buffer.concat([hex('c0af'), Buffer.alloc(30_000, 0x61)])]);
    parser.push(chunks[0]);
    parser.push(chunks[1]); // over half of the frame: absorbed, and checked there
    expect(rec.events).toEqual([]);
    parser.push(chunks[2].subarray(0, 10));
    expect(rec.events).toEqual([{ type: 'error', code: 1007 }]);
  });

  test('a code point cut by TCP between chunks is not an error', () => {
    const { parser, rec } = makeParser();
    const text = 'κόσμε € 中文 😀 edited';
    const bytes = Buffer.from(text);
    const pieces = [...bytes].map((b) => Buffer.from([b])); // one byte per chunk
    for (const c of splitFrame(pieces)) parser.push(c);
    expect(rec.events).toEqual([{ type: 'message', text: true, compressed: false, data: bytes.toString('hex') }]);
  });

  test('binary frames are not checked', () => {
    const { parser, rec } = makeParser();
    const chunks = splitFrame([hex('ff'), hex('fe')], { opcode: 2 });
    parser.push(chunks[0]);
    parser.push(chunks[1]);
    expect(rec.events).toEqual([{ type: 'message', text: false, compressed: false, data: 'fffe' }]);
  });

  test('compressed text is left to the caller (checked after inflating)', () => {
    const { parser, rec } = makeParser({ allowCompression: true });
    const frame = clientFrame({ opcode: 1, rsv: 0x40, payload: hex('ffff00ff') });
    parser.push(frame.subarray(0, frame.length - 2));
    expect(rec.events).toEqual([]);
    parser.push(frame.subarray(frame.length - 2));
    expect(rec.events).toEqual([{ type: 'message', text: true, compressed: true, data: 'ffff00ff' }]);
  });

  test('any split gives the verdict of the whole: same events, and an error no later than the whole', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 320 }), { maxLength: 8 }),
        fc.boolean(),
        (raw, cuts, utf8ish) => {
          // Mostly valid text with a few random bytes, or arbitrary bytes.
          const payload = utf8ish ? Buffer.concat([Buffer.from('héllo wörld € 😀 '), Buffer.from(raw.subarray(0, 3)), Buffer.from(' ok')]) : Buffer.from(raw);
          const frame = clientFrame({ opcode: 1, payload });
          const whole = makeParser();
          whole.parser.push(Buffer.from(frame));
          const split = makeParser();
          const input = Buffer.from(frame);
          let at = 0;
          let failedAt = -1;
          for (const cut of [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b)) {
            if (cut <= at) continue;
            split.parser.push(input.subarray(at, cut));
            at = cut;
            if (failedAt < 0 && split.rec.errors.length > 0) failedAt = at;
          }
          split.parser.push(input.subarray(at));
          expect(split.rec.events).toEqual(whole.rec.events);
          if (failedAt >= 0) expect(whole.rec.errors.length).toBe(1);
        },
      ),
      { numRuns: 500 },
    );
  });
});

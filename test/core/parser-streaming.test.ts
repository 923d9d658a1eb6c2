// Large payloads are unmasked into their final buffer while they arrive (once half is
// here). Whatever the chunking, the result must equal parsing the stream in one piece.
import fc from 'fast-check';
import { clientFrame } from '../helpers/raw-client';
import { makeParser } from '../helpers/parser-events';

function feed(bytes: Buffer, cuts: number[]): { messages: Buffer[]; errors: number[] } {
  const { parser, rec } = makeParser({ maxPayload: 1 << 20 });
  const messages: Buffer[] = [];
  rec.after = (e) => {
    if (e.type === 'message') messages.push(Buffer.from(rec.lastMessage!));
  };
  const input = Buffer.from(bytes);
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < input.length)].sort((a, b) => a - b)) {
    parser.push(input.subarray(at, cut));
    at = cut;
  }
  parser.push(input.subarray(at));
  return { messages, errors: rec.errors.map((e) => e.closeCode) };
}

describe('large payloads assembled as they arrive', () => {
  test('random sizes around the threshold, random chunking, mixed with small frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 900_000 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 255 }),
        (sizes, cuts, seed) => {
          const payloads = sizes.map((n, k) => Buffer.alloc(n, (seed + k * 31) & 0xff).map((b, i) => (b + i * 7) & 0xff) as Buffer);
          const frames: Buffer[] = [];
          for (const p of payloads) {
            frames.push(clientFrame({ opcode: 2, payload: p }));
            frames.push(clientFrame({ opcode: 9, payload: 'x' }));
          }
          const stream = Buffer.concat(frames);
          const { messages, errors } = feed(stream, cuts.map((c) => c % (stream.length + 1)));
          expect(errors).toEqual([]);
          expect(messages.length).toBe(payloads.length);
          messages.forEach((m, k) => expect(m.equals(payloads[k])).toBe(true));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a large fragment of a fragmented message, delivered byte-exact', () => {
    const a = Buffer.alloc(50_000, 1);
    const b = Buffer.alloc(70_001, 2);
    const stream = Buffer.concat([
      clientFrame({ opcode: 2, payload: a, fin: false }),
      clientFrame({ opcode: 0, payload: b }),
    ]);
    const cuts = Array.from({ length: 200 }, (_, i) => (i * 613) % stream.length);
    const { messages } = feed(stream, cuts);
    expect(messages).toHaveLength(1);
    expect(messages[0].equals(Buffer.concat([a, b]))).toBe(true);
  });

  test('memory: nothing is allocated for a large frame until half of it has arrived', () => {
    const { parser } = makeParser({ maxPayload: 1 << 20 });
    const frame = clientFrame({ opcode: 2, payload: Buffer.alloc(1 << 20, 9) });
    parser.push(Buffer.from(frame.subarray(0, 1000)));
    expect((parser as unknown as { partial: Buffer | null }).partial).toBeNull();
    parser.push(Buffer.from(frame.subarray(1000, 600_000)));
    expect((parser as unknown as { partial: Buffer | null }).partial?.length).toBe(1 << 20);
  });
});

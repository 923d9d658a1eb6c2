// Utf8Stream against Node's isUtf8 on the concatenation, for any split of the input.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { Utf8Stream } from '../../src/core/utf8';

// Bytes that complete any viable prefix: position 2 needs 80..BF, except after E0/F0
// (needs A0..BF / 90..BF) and ED/F4 (needs 80..9F / 80..8F); 80 or A0 covers all of them.
const COMPLETIONS = [[], [0x80], [0xa0], [0x80, 0x80], [0xa0, 0x80], [0x80, 0x80, 0x80], [0xa0, 0x80, 0x80]].map((b) =>
  Buffer.from(b),
);

/** Reference: can these bytes still be extended into valid UTF-8? */
function viable(bytes: Buffer): boolean {
  return COMPLETIONS.some((c) => isUtf8(Buffer.concat([bytes, c])));
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const bounds = [0, ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) out.push(bytes.subarray(bounds[i], bounds[i + 1]));
  return out;
}

// Mostly valid text with tricky bytes mixed in, so that both outcomes are common.
const tricky = fc.constantFrom(
  [0xc0],
  [0xc1, 0x80],
  [0xc2],
  [0xe0, 0x80],
  [0xe0, 0xa0],
  [0xed, 0xa0],
  [0xed, 0x9f],
  [0xef, 0xbf],
  [0xf0, 0x80],
  [0xf0, 0x90],
  [0xf4, 0x8f],
  [0xf4, 0x90],
  [0xf5],
  [0xff],
  [0x80],
  [0xbf],
);
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: tricky.map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a)) },
);
const input = fc.array(piece, { maxLength: 10 }).map((pieces) => Buffer.concat(pieces));

test('push() is false exactly when the bytes so far can never become valid; complete() agrees with isUtf8', () => {
  let valid = 0;
  fc.assert(
    fc.property(input, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
      const stream = new Utf8Stream();
      let seen = 0;
      for (const part of split(bytes, cuts)) {
        seen += part.length;
        const ok = stream.push(part);
        expect(ok).toBe(viable(bytes.subarray(0, seen)));
        if (!ok) return;
      }
      expect(stream.complete()).toBe(isUtf8(bytes));
      if (isUtf8(bytes)) valid++;
    }),
    { numRuns: 300 },
  );
  expect(valid).toBeGreaterThan(30); // the generator really exercises the valid path
});

test('byte-by-byte and whole give the same verdict', () => {
  fc.assert(
    fc.property(input, (bytes) => {
      const whole = new Utf8Stream();
      const wholeOk = whole.push(bytes) && whole.complete();
      const single = new Utf8Stream();
      let singleOk = true;
      for (let i = 0; i < bytes.length && singleOk; i++) singleOk = single.push(bytes.subarray(i, i + 1));
      singleOk &&= single.complete();
      expect(wholeOk).toBe(isUtf8(bytes));
      expect(singleOk).toBe(isUtf8(bytes));
    }),
    { numRuns: 300 },
  );
});

describe('early failure', () => {
  const hopeless = [[0xc0], [0xc1], [0xf5], [0xff], [0x80], [0xed, 0xa0], [0xe0, 0x80], [0xf0, 0x80], [0xf4, 0x90], [0xe2, 0x41], [0xc2, 0xc2]];

  test.each(hopeless.map((b) => [Buffer.from(b).toString('hex'), b]))('%s fails at once and no continuation is valid', (_hex, prefix) => {
    const p = Buffer.from(prefix);
    expect(new Utf8Stream().push(p)).toBe(false);
    // Pushed one byte at a time, after valid text, the failure shows up at the bad byte.
    const s = new Utf8Stream();
    expect(s.push(Buffer.from('ok €'))).toBe(true);
    let failedAt = -1;
    for (let i = 0; i < p.length && failedAt === -1; i++) if (!s.push(p.subarray(i, i + 1))) failedAt = i;
    expect(failedAt).toBeGreaterThanOrEqual(0);
    // No continuation of up to 2 bytes (and a sample of 3) makes it valid.
    const valid: string[] = [];
    const tryBytes = (...tail: number[]) => {
      const b = Buffer.from([...prefix, ...tail]);
      if (isUtf8(b)) valid.push(b.toString('hex'));
    };
    for (let a = 0; a < 256; a++) {
      tryBytes(a);
      tryBytes(a, 0x80, 0x80);
      for (let b = 0; b < 256; b++) tryBytes(a, b);
    }
    expect(valid).toEqual([]);
  });

  const viablePrefixes = [[0xc2], [0xe2], [0xe2, 0x82], [0xe0, 0xa0], [0xed, 0x9f], [0xf0, 0x9f], [0xf0, 0x9f, 0x9a], [0xf4, 0x8f, 0xbf]];
  test.each(viablePrefixes.map((b) => [Buffer.from(b).toString('hex'), b]))(
    'a viable prefix %s is not refused, but is incomplete',
    (_hex, prefix) => {
      const s = new Utf8Stream();
      expect(s.push(Buffer.from(prefix))).toBe(true);
      expect(s.complete()).toBe(false);
      expect(viable(Buffer.from(prefix))).toBe(true);
    },
  );
});

test('reset() forgets a pending partial code point', () => {
  const s = new Utf8Stream();
  expect(s.push(Buffer.from([0xe2]))).toBe(true);
  s.reset();
  expect(s.complete()).toBe(true);
  expect(s.push(Buffer.from('a'))).toBe(true);
  expect(s.complete()).toBe(true);
});

test('a code point split into every possible set of pieces is accepted', () => {
  for (const ch of ['é', '€', '🚀', '\u{10ffff}', '\u{d7ff}', '\u{e000}']) {
    const b = Buffer.from(`a${ch}b`);
    for (let mask = 0; mask < 1 << (b.length - 1); mask++) {
      const s = new Utf8Stream();
      let start = 0;
      let ok = true;
      for (let i = 1; i <= b.length; i++) {
        if (i === b.length || mask & (1 << (i - 1))) {
          ok &&= s.push(b.subarray(start, i));
          start = i;
        }
      }
      expect(ok && s.complete()).toBe(true);
    }
  }
});

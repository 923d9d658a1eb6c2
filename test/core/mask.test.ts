// applyMask against a naive byte loop, for every length up to 200 at every alignment; and
// unmaskAscii's answer about the unmasked bytes.
import { applyMask, unmaskAscii } from '../../src/core/mask';

function naive(bytes: Uint8Array, mask: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = start; i < end; i++) out[i] ^= mask[(i - start) % 4];
  return out;
}

/** Deterministic pseudo-random bytes. */
function fill(target: Uint8Array, seed: number): void {
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < target.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    target[i] = x >>> 24;
  }
}

const MASKS = [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x12, 0x34, 0x56, 0x78), Uint8Array.of(0x80, 1, 0xfe, 7)];

test('lengths 0..200 at byte offsets 0..7 match the naive loop and round-trip', () => {
  for (const mask of MASKS) {
    for (let offset = 0; offset < 8; offset++) {
      for (let len = 0; len <= 200; len++) {
        const backing = Buffer.alloc(len + 16);
        fill(backing, len * 8 + offset);
        const before = Buffer.from(backing);
        const view = backing.subarray(offset, offset + len);
        const original = Uint8Array.from(view);
        applyMask(view, mask);
        expect(Buffer.from(view).equals(Buffer.from(naive(original, mask)))).toBe(true);
        // Bytes around the view are untouched.
        expect(backing.subarray(0, offset).equals(before.subarray(0, offset))).toBe(true);
        expect(backing.subarray(offset + len).equals(before.subarray(offset + len))).toBe(true);
        applyMask(view, mask);
        expect(Buffer.from(view).equals(Buffer.from(original))).toBe(true);
      }
    }
  }
});

test('start and end: the mask applies from start, only inside [start, end)', () => {
  const mask = Uint8Array.of(0xa1, 0xb2, 0xc3, 0xd4);
  for (let offset = 0; offset < 4; offset++) {
    for (const [start, end] of [[0, 0], [3, 3], [1, 60], [5, 130], [7, 200], [64, 65], [2, 51]]) {
      const backing = new Uint8Array(new ArrayBuffer(220));
      fill(backing, start * 31 + end + offset);
      const view = backing.subarray(offset, offset + 210);
      const expected = naive(view, mask, start, end);
      applyMask(view, mask, start, end);
      expect(Buffer.from(view).equals(Buffer.from(expected))).toBe(true);
    }
  }
});

test('works on a plain Uint8Array over a shared ArrayBuffer', () => {
  const buffer = new ArrayBuffer(100);
  const a = new Uint8Array(buffer, 3, 90);
  fill(a, 9);
  const original = Uint8Array.from(a);
  applyMask(a, MASKS[2]);
  expect(Array.from(a)).toEqual(Array.from(naive(original, MASKS[2])));
});

test('unmaskAscii unmasks like applyMask and says whether the result is all ASCII', () => {
  const mask = MASKS[3];
  for (let offset = 0; offset < 4; offset++) {
    for (let len = 1; len <= 200; len++) {
      // ASCII once unmasked, then with one high byte at each of a few places.
      for (const high of [-1, 0, (len / 2) | 0, len - 1]) {
        const plain = Buffer.alloc(len);
        fill(plain, len + offset);
        for (let i = 0; i < len; i++) plain[i] &= 0x7f;
        if (high >= 0) plain[high] |= 0x80;
        const backing = Buffer.alloc(len + 8);
        const view = backing.subarray(offset, offset + len);
        view.set(naive(plain, mask));
        expect(unmaskAscii(view, mask, 0, len, 0)).toBe(high < 0);
        expect(view.equals(plain)).toBe(true);
      }
    }
  }
});

test('unmaskAscii with a start and phase, and undefined where it does not look (large runs with SIMD)', () => {
  const plain = Buffer.from('..' + 'abc'.repeat(300) + '..');
  const masked = Buffer.from(naive(plain, MASKS[2], 2, 902));
  const answer = unmaskAscii(masked, MASKS[2], 2, 902, 0);
  expect(masked.equals(plain)).toBe(true);
  expect(answer === undefined || answer === true).toBe(true);
  const small = Buffer.from(naive(Buffer.from('xyzé!'), MASKS[1], 1, 6));
  expect(unmaskAscii(small, MASKS[1], 1, 6, 0)).toBe(false);
  expect(small.toString()).toBe('xyzé!');
});

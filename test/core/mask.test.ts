// applyMask against a naive byte loop, for every length up to 200 at every alignment.
import { applyMask } from '../../src/core/mask';

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

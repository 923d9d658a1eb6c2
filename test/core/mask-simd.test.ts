// Large runs are unmasked by a WebAssembly SIMD function, small ones by JavaScript loops.
// Both must equal the plain definition, at any offset, length, alignment and phase.
import fc from 'fast-check';
import { applyMask, copyMasked, maskUsesSimd } from '../../src/core/mask';

function naive(bytes: Uint8Array, mask: Uint8Array, phase: number): Buffer {
  return Buffer.from(bytes.map((b, i) => b ^ mask[(i + phase) & 3]));
}

test('this Node has WebAssembly SIMD, so the fast path is what the other tests exercise', () => {
  expect(maskUsesSimd).toBe(true);
});

test('applyMask and copyMasked agree with the definition across the SIMD threshold', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 200_000 }),
      fc.integer({ min: 0, max: 15 }),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 1000 }),
      (mask, length, offset, targetOffset, phase) => {
        const backing = Buffer.alloc(offset + length + 8);
        for (let i = 0; i < backing.length; i++) backing[i] = (i * 31 + 7) & 0xff;
        const original = Buffer.from(backing);
        const expected = naive(original.subarray(offset, offset + length), mask, phase);

        applyMask(backing, mask, offset, offset + length, phase);
        expect(backing.subarray(offset, offset + length).equals(expected)).toBe(true);
        expect(backing.subarray(0, offset).equals(original.subarray(0, offset))).toBe(true);
        expect(backing.subarray(offset + length).equals(original.subarray(offset + length))).toBe(true);

        const target = Buffer.alloc(targetOffset + length + 3, 0xee);
        const source = Buffer.from(original);
        copyMasked(source, offset, offset + length, target, targetOffset, mask, phase);
        expect(source.equals(original)).toBe(true); // the source is left as it was
        expect(target.subarray(targetOffset, targetOffset + length).equals(expected)).toBe(true);
        expect(target.subarray(0, targetOffset).every((b) => b === 0xee)).toBe(true);
        expect(target.subarray(targetOffset + length).every((b) => b === 0xee)).toBe(true);
      },
    ),
    { numRuns: 150 },
  );
});

test('every length from 512 to 640 (the WebAssembly loop takes 64 bytes a step, then 16) is exact and leaves the bytes after it alone', () => {
  const mask = Uint8Array.from([0x9d, 0x31, 0xe4, 0x07]);
  for (let length = 512; length <= 640; length++) {
    for (const phase of [0, 3]) {
      const backing = Buffer.alloc(length + 80);
      for (let i = 0; i < backing.length; i++) backing[i] = (i * 13 + 5) & 0xff;
      const original = Buffer.from(backing);
      applyMask(backing, mask, 1, 1 + length, phase);
      expect(backing.subarray(1, 1 + length).equals(naive(original.subarray(1, 1 + length), mask, phase))).toBe(true);
      expect(backing.subarray(1 + length).equals(original.subarray(1 + length))).toBe(true);
      expect(backing[0]).toBe(original[0]);
    }
  }
});

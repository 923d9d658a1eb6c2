// RFC 6455 section 5.3 masking: XOR with a 4-byte key. Large runs go through a tiny
// WebAssembly SIMD function (64 bytes a step; 64 KiB in place, copies in and out included,
// 1.8 µs against 6.9 µs for a 32-bit word loop in JavaScript on Node 20 and 24); the rest,
// and any runtime without WebAssembly SIMD, use the word loop.
import { MASK_WASM } from './wasm/binaries';
import { instantiate } from './wasm/instantiate';

// The word loop reads the mask as a little-endian word.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// Below this, making a typed-array view costs more than the byte loop it saves.
const WORD_LOOP_MIN = 48;
// Below this, copying into WebAssembly memory and back costs more than it saves.
const SIMD_MIN = 512;

// Pieces are copied into the memory of the module (wasm/mask.wat) in blocks of this size (its
// 2 pages hold 128 KiB).
const BLOCK = 64 * 1024;

interface Simd {
  bytes: Uint8Array;
  xor: (at: number, length: number, word: number) => void;
}

function loadSimd(): Simd | null {
  const exports = LITTLE_ENDIAN ? instantiate(MASK_WASM) : null;
  if (exports === null) return null; // the word loop does all the work
  return { bytes: new Uint8Array(exports.memory.buffer), xor: exports.xor as Simd['xor'] };
}

const simd = loadSimd();

/** Whether large runs use WebAssembly SIMD in this process (for tests and benchmarks). */
export const maskUsesSimd = simd !== null;

/** The mask as one little-endian 32-bit word, starting at mask byte `r`. */
function maskWord(mask: Uint8Array, r: number): number {
  return mask[r & 3] | (mask[(r + 1) & 3] << 8) | (mask[(r + 2) & 3] << 16) | (mask[(r + 3) & 3] << 24);
}

/**
 * Copies src[start, end) to target at `at`, unmasked, leaving src as it was; `phase` is
 * the position of `start` in the payload. One pass through WebAssembly memory for large
 * runs, instead of unmasking in place and copying.
 */
export function copyMasked(
  src: Uint8Array,
  start: number,
  end: number,
  target: Uint8Array,
  at: number,
  mask: Uint8Array,
  phase: number,
): void {
  if (simd === null || end - start < SIMD_MIN) {
    target.set(src.subarray(start, end), at);
    applyMask(target, mask, at, at + end - start, phase);
    return;
  }
  for (let from = start; from < end; from += BLOCK) {
    const n = Math.min(BLOCK, end - from);
    simd.bytes.set(src.subarray(from, from + n));
    // Rounding up to 16 only touches scratch bytes past n, which are never copied out.
    simd.xor(0, (n + 15) & ~15, maskWord(mask, phase + from - start));
    target.set(simd.bytes.subarray(0, n), at + from - start);
  }
}

/**
 * XORs buf[start, end) with the 4-byte mask in place. The mask applies from `start`, at
 * mask byte `phase` (the position in the payload, for payloads unmasked piece by piece),
 * so masking twice restores the input.
 */
export function applyMask(buf: Uint8Array, mask: Uint8Array, start = 0, end = buf.length, phase = 0): void {
  unmaskAscii(buf, mask, start, end, phase);
}

/**
 * applyMask, and whether the unmasked bytes are all ASCII where the loop learns it for free
 * (runs below the SIMD size; undefined above it). Saves a text message's separate ASCII check,
 * a native call that costs as much as unmasking 32 bytes.
 */
export function unmaskAscii(buf: Uint8Array, mask: Uint8Array, start: number, end: number, phase: number): boolean | undefined {
  if (simd !== null && end - start >= SIMD_MIN) {
    copyMasked(buf, start, end, buf, start, mask, phase);
    return undefined;
  }
  return (xorLoop(buf, mask, start, end, phase) & 0x80808080) === 0;
}

/** The JavaScript unmasking loop; returns the OR of the unmasked bytes (in a word's four lanes). */
function xorLoop(buf: Uint8Array, mask: Uint8Array, start: number, end: number, phase: number): number {
  let i = start;
  let seen = 0;
  const shift = phase - start;
  if (end - start < WORD_LOOP_MIN || !LITTLE_ENDIAN) {
    for (; i < end; i++) seen |= buf[i] ^= mask[(i + shift) & 3];
    return seen;
  }
  // Bytes up to a 4-byte aligned address, so the word view is legal.
  const lead = (4 - ((buf.byteOffset + i) & 3)) & 3;
  for (const stop = i + lead; i < stop; i++) seen |= buf[i] ^= mask[(i + shift) & 3];
  const word = maskWord(mask, i + shift);
  const count = (end - i) >>> 2;
  const words = new Int32Array(buf.buffer, buf.byteOffset + i, count);
  let w = 0;
  for (const stop4 = count - 3; w < stop4; w += 4) {
    seen |= words[w] ^= word;
    seen |= words[w + 1] ^= word;
    seen |= words[w + 2] ^= word;
    seen |= words[w + 3] ^= word;
  }
  for (; w < count; w++) seen |= words[w] ^= word;
  i += count << 2;
  for (; i < end; i++) seen |= buf[i] ^= mask[(i + shift) & 3];
  return seen;
}

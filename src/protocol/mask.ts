// RFC 6455 section 5.3 masking: XOR with a 4-byte key, a 32-bit word at a time.
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';
// Below this, making a typed-array view costs more than the byte loop it saves.
const WORD_LOOP_MIN = 48;

/**
 * XORs buf[start, end) with the 4-byte mask in place. The mask applies from `start`, at
 * mask byte `phase` (the position in the payload, for payloads unmasked piece by piece),
 * so masking twice restores the input.
 */
export function applyMask(buf: Uint8Array, mask: Uint8Array, start = 0, end = buf.length, phase = 0): void {
  let i = start;
  const shift = phase - start;
  if (end - start < WORD_LOOP_MIN || !LITTLE_ENDIAN) {
    for (; i < end; i++) buf[i] ^= mask[(i + shift) & 3];
    return;
  }
  // Bytes up to a 4-byte aligned address, so the word view is legal.
  const lead = (4 - ((buf.byteOffset + i) & 3)) & 3;
  for (const stop = i + lead; i < stop; i++) buf[i] ^= mask[(i + shift) & 3];
  const r = (i + shift) & 3;
  const word = mask[r] | (mask[(r + 1) & 3] << 8) | (mask[(r + 2) & 3] << 16) | (mask[(r + 3) & 3] << 24);
  const count = (end - i) >>> 2;
  const words = new Int32Array(buf.buffer, buf.byteOffset + i, count);
  let w = 0;
  for (const stop4 = count - 3; w < stop4; w += 4) {
    words[w] ^= word;
    words[w + 1] ^= word;
    words[w + 2] ^= word;
    words[w + 3] ^= word;
  }
  for (; w < count; w++) words[w] ^= word;
  i += count << 2;
  for (; i < end; i++) buf[i] ^= mask[(i + shift) & 3];
}

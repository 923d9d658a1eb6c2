// Server frames (RFC 6455 section 5.2): never masked; 7-, 16- or 64-bit payload lengths.
import { Buffer } from 'node:buffer';
import { Opcode } from './frames';

/** Header bytes for an unmasked frame of `length` payload bytes. */
export function headerSize(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/** Writes a frame header at `offset`; returns the offset just after it. */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  length: number,
  fin = true,
  rsv1 = false,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (length < 126) {
    target[offset + 1] = length;
    return offset + 2;
  }
  if (length < 0x10000) {
    target[offset + 1] = 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    return offset + 4;
  }
  target[offset + 1] = 127;
  const high = Math.floor(length / 0x100000000);
  const low = length >>> 0;
  target[offset + 2] = high >>> 24;
  target[offset + 3] = (high >>> 16) & 0xff;
  target[offset + 4] = (high >>> 8) & 0xff;
  target[offset + 5] = high & 0xff;
  target[offset + 6] = low >>> 24;
  target[offset + 7] = (low >>> 16) & 0xff;
  target[offset + 8] = (low >>> 8) & 0xff;
  target[offset + 9] = low & 0xff;
  return offset + 10;
}

/** A frame header on its own, for payloads large enough to be written without copying. */
export function encodeHeader(opcode: number, length: number, fin = true, rsv1 = false): Buffer {
  const header = Buffer.allocUnsafe(headerSize(length));
  writeHeader(header, 0, opcode, length, fin, rsv1);
  return header;
}

/** A whole frame in one buffer: header then a copy of the payload. */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true, rsv1 = false): Buffer {
  const size = headerSize(payload.length);
  const frame = Buffer.allocUnsafe(size + payload.length);
  writeHeader(frame, 0, opcode, payload.length, fin, rsv1);
  frame.set(payload, size);
  return frame;
}

/** A whole text frame, the string encoded straight into the frame buffer. */
export function encodeTextFrame(text: string, rsv1 = false): Buffer {
  const length = Buffer.byteLength(text);
  const size = headerSize(length);
  const frame = Buffer.allocUnsafe(size + length);
  writeHeader(frame, 0, Opcode.TEXT, length, true, rsv1);
  frame.write(text, size);
  return frame;
}

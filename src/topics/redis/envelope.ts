// The binary envelope every message on a wsgate channel travels in. Pure: no I/O.
//
//   byte 0      (VERSION << 1) | binary      VERSION = 1: 0x02 text, 0x03 binary
//   bytes 1..8  the publishing instance's id (8 random bytes)
//   bytes 9..   the message's bytes, unchanged (UTF-8 for text)
//
// The instance id lets an instance recognise (and ignore) its own messages echoed by Redis.
import { Buffer } from 'node:buffer';

const VERSION = 1;
/** Bytes before the message: the version/type byte and the instance id. */
export const HEADER = 9;
/** Length of an instance id. */
export const ID_BYTES = 8;

/** Wraps a message in the envelope. Exported for tests. */
export function encodeEnvelope(instanceId: Buffer, data: Buffer, binary: boolean): Buffer {
  const out = Buffer.allocUnsafe(HEADER + data.length);
  out[0] = (VERSION << 1) | (binary ? 1 : 0);
  instanceId.copy(out, 1, 0, ID_BYTES);
  data.copy(out, HEADER);
  return out;
}

/** Unwraps a message; null when it is not a version-1 envelope. Exported for tests. */
export function decodeEnvelope(message: Buffer): { instanceId: Buffer; data: Buffer; binary: boolean } | null {
  if (message.length < HEADER || message[0] >> 1 !== VERSION) return null;
  return {
    instanceId: message.subarray(1, HEADER),
    data: message.subarray(HEADER),
    binary: (message[0] & 1) === 1,
  };
}

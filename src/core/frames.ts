// The frame rules of RFC 6455 that both directions share: opcodes (section 5.2), close codes
// (sections 7.4 and 11.7), control frame limits (section 5.5) and the close payload (5.5.1).
import { Buffer } from 'node:buffer';

export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** The close codes wsgate uses, by name. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
} as const;

/** Section 5.5: a control frame carries at most this many payload bytes. */
export const MAX_CONTROL_PAYLOAD = 125;
/** A close reason fits after the 2-byte code within a control frame. */
export const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;
/** The largest frame header a client can send: 2 bytes, 8 of length, 4 of mask. */
export const MAX_CLIENT_HEADER = 14;

/** Codes a peer may put on the wire. 1004-1006 and 1015 are reserved; 1016-2999 unassigned. */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Close payload: 2-byte code then UTF-8 reason, at most 125 bytes in all. */
export function encodeClosePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonLength = Buffer.byteLength(reason);
  if (reasonLength > MAX_CLOSE_REASON) {
    throw new RangeError(`close reason must be at most ${MAX_CLOSE_REASON} bytes of UTF-8`);
  }
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

// Close frame rules: RFC 6455 sections 5.5.1 and 7.4.

/** Codes a peer may put on the wire. 1004-1006 and 1015 are reserved; 1016-2999 unassigned. */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}


/** Close payload: 2-byte code then UTF-8 reason, at most 125 bytes in all. */
export function encodeClosePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonLength = Buffer.byteLength(reason);
  if (reasonLength > 123) throw new RangeError('close reason must be at most 123 bytes of UTF-8');
  const payload = Buffer.allocUnsafe(2 + reasonLength);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

// Typed errors. Each protocol error carries the close code the connection ends with.

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    message: string,
    /** The close code sent to the peer: 1002 protocol, 1007 bad data, 1009 too big. */
    readonly closeCode: number,
  ) {
    super(message);
  }
}

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

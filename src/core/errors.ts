// Typed errors of the protocol core. Each protocol error carries the close code the
// connection ends with and a stable string code to branch on.
import { CloseCode } from './frames';

/** Why a peer's bytes were refused; each maps to one close code. */
export const ProtocolErrorCode = {
  WS_RESERVED_BITS: CloseCode.PROTOCOL_ERROR,
  WS_UNEXPECTED_RSV1: CloseCode.PROTOCOL_ERROR,
  WS_MASK_REQUIRED: CloseCode.PROTOCOL_ERROR,
  WS_MASK_FORBIDDEN: CloseCode.PROTOCOL_ERROR,
  WS_INVALID_OPCODE: CloseCode.PROTOCOL_ERROR,
  WS_FRAGMENTED_CONTROL: CloseCode.PROTOCOL_ERROR,
  WS_CONTROL_TOO_LONG: CloseCode.PROTOCOL_ERROR,
  WS_UNEXPECTED_CONTINUATION: CloseCode.PROTOCOL_ERROR,
  WS_EXPECTED_CONTINUATION: CloseCode.PROTOCOL_ERROR,
  WS_INVALID_LENGTH: CloseCode.PROTOCOL_ERROR,
  WS_INVALID_CLOSE_FRAME: CloseCode.PROTOCOL_ERROR,
  WS_INVALID_CLOSE_CODE: CloseCode.PROTOCOL_ERROR,
  WS_INVALID_UTF8: CloseCode.INVALID_PAYLOAD,
  WS_INVALID_COMPRESSED_DATA: CloseCode.INVALID_PAYLOAD,
  WS_MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
  WS_RATE_LIMITED: CloseCode.POLICY_VIOLATION,
} as const;

export type ProtocolErrorCode = keyof typeof ProtocolErrorCode;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  /** The close code sent to the peer: 1002 protocol, 1007 bad data, 1008 policy, 1009 too big. */
  readonly closeCode: number;
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.closeCode = ProtocolErrorCode[code];
  }
}

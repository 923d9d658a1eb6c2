// wsgate/protocol: the pure pieces, for use on their own: the opening handshake decision
// and the frame codec. No sockets, no timers.
export {
  computeAcceptKey,
  validateConnect,
  validateHandshake,
  WEBSOCKET_GUID,
} from './core/handshake';
export type {
  ConnectAccept,
  ConnectDecision,
  ConnectRequest,
  HandshakeAccept,
  HandshakeDecision,
  HandshakeOptions,
  HandshakeReject,
  HandshakeRequest,
  HeaderValue,
  ProtocolSelector,
} from './core/handshake';
export { formatAccept, formatReject, formatResponse, statusText } from './core/http-response';
export type { Refusal, ResponseHeaders } from './core/http-response';
export { negotiateDeflate, parseExtensions, ExtensionHeaderError } from './core/extensions';
export type { DeflateOptions, DeflateParams, ExtensionOffer } from './core/extensions';
export { parseProtocols, selectProtocol } from './core/subprotocols';
export { originAllowed } from './core/origin';
export type { OriginRule } from './core/origin';
export { CloseCode, encodeClosePayload, isValidCloseCode, MAX_CONTROL_PAYLOAD, Opcode } from './core/frames';
export { encodeFrame, encodeHeader, encodeTextFrame } from './core/encoder';
export { FrameParser } from './core/parser';
export type { ParserHandler, ParserOptions } from './core/parser';
export { applyMask } from './core/mask';
export { ProtocolError } from './core/errors';
export type { ProtocolErrorCode } from './core/errors';

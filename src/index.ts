// The public surface of wsgate.
export { attachWebSocket } from './attach';
export type { AttachOptions, BroadcastOptions, CloseOptions, Endpoint, EndpointStats, Handler, UpgradeRequest } from './attach';
export type { Middleware, Rejection, VerifyFn, VerifyResult } from './checks';
export { DeflateCodec, JobLimiter, zlibContexts } from './deflate';
export type { MessageCodec } from './deflate';
export { acceptDeflateOffer, negotiateDeflate, parseExtensions, ExtensionHeaderError } from './extensions';
export type { DeflateOptions, DeflateParams, ExtensionOffer } from './extensions';
export {
  computeAcceptKey,
  formatAccept,
  formatReject,
  validateHandshake,
  WEBSOCKET_GUID,
} from './handshake';
export type { HandshakeAccept, HandshakeDecision, HandshakeOptions, HandshakeReject, HandshakeRequest, OriginRule } from './handshake';
export type { HeartbeatOptions } from './heartbeat';
export { isValidCloseCode } from './protocol/close';
export { encodeFrame, encodeHeader, Opcode } from './protocol/encoder';
export { CloseCode, ProtocolError } from './protocol/errors';
export { applyMask } from './protocol/mask';
export { FrameParser } from './protocol/parser';
export type { ParserHandler, ParserOptions } from './protocol/parser';
export { WebSocket, WebSocketError } from './socket';
export type { BackpressurePolicy, ReadyState, SendCallback, SendData, SendOptions } from './socket';
export { LocalTopics } from './topics';
export type { Topics } from './topics';

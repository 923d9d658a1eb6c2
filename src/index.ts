// The public surface of wsgate: what the README documents, and nothing else.
export { attachWebSocket } from './io/attach';
export type { AttachableServer, AttachOptionsFor } from './io/attach';
export type { LooseParams, ParamsOf } from './core/route-params';
export type {
  BroadcastOptions,
  CloseOptions,
  Endpoint,
  EndpointStats,
  Handler,
  PublishOptions,
  UpgradeRequest,
} from './io/endpoint';
export type { AttachOptions } from './io/settings';
export type { Middleware } from './io/guards/middleware';
export type { Rejection, VerifyFn, VerifyResult } from './io/guards/verify';
export type { HeartbeatOptions } from './io/liveness';
export type { DeflateOptions } from './core/extensions';
export type { OriginRule } from './core/origin';
export { WebSocket } from './io/websocket';
export { WebSocketError } from './io/errors';
export type { ReadyState, SendCallback, SendData, SendOptions, WebSocketEvents } from './io/connection';
export type { BackpressurePolicy } from './io/outbox';
export type { TransportKind } from './transport/transport';
export { CloseCode } from './core/frames';
export { channels } from './io/diagnostics';
export type {
  ChannelName,
  ErrorMessage,
  HandshakeAcceptedMessage,
  HandshakeRefusedMessage,
  RefusedCause,
  SocketCloseMessage,
  SocketOpenMessage,
} from './io/diagnostics';
export { ProtocolError } from './core/errors';
export type { ProtocolErrorCode } from './core/errors';
export { LocalTopics } from './topics/local';
export type { TopicSink, Topics } from './topics/topics';
export { computeAcceptKey, validateHandshake } from './core/handshake';

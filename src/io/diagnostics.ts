// Lifecycle events on node:diagnostics_channel, Node's own publish/subscribe mechanism that
// APM tools listen on. Nothing is built when nobody listens: each publish helper checks the
// channel's hasSubscribers first, so the cost without subscribers is one property read.
//
//   import diagnostics_channel from 'node:diagnostics_channel';
//   import { channels } from 'wsgate';
//   diagnostics_channel.subscribe(channels.socketClose, (msg) => console.log(msg.code, msg.durationMs));
import diagnostics_channel from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { TransportKind } from '../transport/transport';
import type { UpgradeAttempt } from './attempt';
import type { WebSocket } from './websocket';
import type { RefusalCause } from './endpoint';

/** The channel names wsgate publishes on. */
export const channels = Object.freeze({
  /** A handshake was answered with success: HandshakeAcceptedMessage. */
  handshakeAccepted: 'wsgate:handshake:accepted',
  /** A handshake was refused with an HTTP status: HandshakeRefusedMessage. */
  handshakeRefused: 'wsgate:handshake:refused',
  /** A connection opened, before the handler runs: SocketOpenMessage. */
  socketOpen: 'wsgate:socket:open',
  /** A connection ended, once: SocketCloseMessage. */
  socketClose: 'wsgate:socket:close',
  /** An error reported to onError: ErrorMessage. */
  error: 'wsgate:error',
} as const);

export type ChannelName = (typeof channels)[keyof typeof channels];

/**
 * Why a handshake was refused: the causes counted in stats().refusedBy, and
 * 'handshake' (the request is not a valid WebSocket handshake: 400, 426 ...),
 * 'middleware' (a `use` middleware wrote its own response, e.g. a 401),
 * 'guard' (verify() refused, a middleware passed an error, or the guards timed out),
 * 'internal' (an origins or protocols function threw: 500).
 */
export type RefusedCause = RefusalCause | 'handshake' | 'middleware' | 'guard' | 'internal';

export interface HandshakeAcceptedMessage {
  path: string;
  transport: TransportKind;
  remoteAddress: string | undefined;
  /** The agreed subprotocol, or ''. */
  protocol: string;
  /** The agreed Sec-WebSocket-Extensions value, or ''. */
  extensions: string;
  req: IncomingMessage;
}

export interface HandshakeRefusedMessage {
  status: number;
  reason: string;
  cause: RefusedCause;
  path: string;
  transport: TransportKind;
  remoteAddress: string | undefined;
  req: IncomingMessage;
}

export interface SocketOpenMessage {
  socket: WebSocket;
  transport: TransportKind;
}

export interface SocketCloseMessage {
  socket: WebSocket;
  code: number;
  reason: string;
  /** From the socket's creation to the end of its connection. */
  durationMs: number;
  /** Bytes read from and handed to the transport, frame headers included. */
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
}

export interface ErrorMessage {
  error: unknown;
  socket?: WebSocket;
  req?: IncomingMessage;
}

const acceptedChannel = diagnostics_channel.channel(channels.handshakeAccepted);
const refusedChannel = diagnostics_channel.channel(channels.handshakeRefused);
const openChannel = diagnostics_channel.channel(channels.socketOpen);
const closeChannel = diagnostics_channel.channel(channels.socketClose);
const errorChannel = diagnostics_channel.channel(channels.error);

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** @internal the message builders, called only when a channel has subscribers (tests spy on them). */
export const build = {
  accepted(attempt: UpgradeAttempt, agreed: { protocol: string; extensions: string }): HandshakeAcceptedMessage {
    return {
      path: pathOf(attempt.url),
      transport: attempt.form,
      remoteAddress: attempt.remoteAddress,
      protocol: agreed.protocol,
      extensions: agreed.extensions,
      req: attempt.req,
    };
  },
  refused(attempt: UpgradeAttempt, status: number, reason: string, cause: RefusedCause): HandshakeRefusedMessage {
    return {
      status,
      reason,
      cause,
      path: pathOf(attempt.url),
      transport: attempt.form,
      remoteAddress: attempt.remoteAddress,
      req: attempt.req,
    };
  },
  open(socket: WebSocket): SocketOpenMessage {
    return { socket, transport: socket.transportKind };
  },
  close(socket: WebSocket): SocketCloseMessage {
    return {
      socket,
      code: socket.closeCode,
      reason: socket.closeReason,
      durationMs: performance.now() - socket.openedAt,
      bytesIn: socket.bytesIn,
      bytesOut: socket.bytesOut,
      messagesIn: socket.messagesIn,
      messagesOut: socket.messagesOut,
    };
  },
  error(error: unknown, socket: WebSocket | undefined, req: IncomingMessage | undefined): ErrorMessage {
    const message: ErrorMessage = { error };
    if (socket !== undefined) message.socket = socket;
    if (req !== undefined) message.req = req;
    return message;
  },
};

export function publishAccepted(attempt: UpgradeAttempt, agreed: { protocol: string; extensions: string }): void {
  if (acceptedChannel.hasSubscribers) acceptedChannel.publish(build.accepted(attempt, agreed));
}

export function publishRefused(attempt: UpgradeAttempt, status: number, reason: string, cause: RefusedCause): void {
  if (refusedChannel.hasSubscribers) refusedChannel.publish(build.refused(attempt, status, reason, cause));
}

export function publishOpen(socket: WebSocket): void {
  if (openChannel.hasSubscribers) openChannel.publish(build.open(socket));
}

export function publishClose(socket: WebSocket): void {
  if (closeChannel.hasSubscribers) closeChannel.publish(build.close(socket));
}

export function publishError(error: unknown, socket?: WebSocket, req?: IncomingMessage): void {
  if (errorChannel.hasSubscribers) errorChannel.publish(build.error(error, socket, req));
}

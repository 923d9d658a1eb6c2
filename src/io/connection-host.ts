// The contract between a connection and the endpoint that owns it: shared settings,
// shared counters, the clock and the bookkeeping calls a connection makes.
import type { MessageCodec } from './deflate';
import type { OutboxLimits } from './outbox';
import type { RateLimitSettings } from './rate-limit';
import type { Connection } from './connection';
import type { WebSocket } from './websocket';

/** Limits shared by all connections of an endpoint (one frozen object, not one per connection). */
export interface ConnectionSettings extends OutboxLimits {
  readonly maxPayload: number;
  /** How long to wait for the peer's side of the close handshake before destroying. */
  readonly closeTimeout: number;
  /** Per-socket message rate limit, or null for none. */
  readonly rateLimit: RateLimitSettings | null;
  /** How text messages are delivered: decoded to a string, or as their (validated) UTF-8 bytes. */
  readonly textAs: TextAs;
}

/** 'string' (the default): text messages arrive as strings; 'buffer': as Buffers of valid UTF-8. */
export type TextAs = 'string' | 'buffer';

/** Why wsgate closed a connection, as counted in endpoint.stats().closedBy. */
export type CloseCause = 'backpressure' | 'payloadSize' | 'rateLimit';

/** What the handshake agreed for this connection. */
export interface Negotiated {
  protocol: string;
  extensions: string;
  codec: MessageCodec | null;
}

export interface ConnectionCounters {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  backpressureEvents: number;
}

/** The endpoint a connection belongs to: counters, coarse clock, topics and bookkeeping. */
export interface ConnectionHost {
  /** Milliseconds, refreshed by the endpoint's timer; cheap to read on every frame. */
  now(): number;
  readonly counters: ConnectionCounters;
  connectionClosed(socket: Connection): void;
  /** wsgate is closing this connection for a reason an operator counts. */
  countClose(cause: CloseCause): void;
  subscribe(socket: WebSocket, topic: string): void;
  unsubscribe(socket: WebSocket, topic: string): void;
  reportError(error: unknown, socket: Connection): void;
}

// The topics seam: where a topic's subscribers live and how a publish reaches them. The
// in-process registry (local.ts) is the default; a broker-backed implementation (redis.ts)
// fills the same interface so that a publish reaches every instance.
import type { WebSocket } from '../io/websocket';

/** What an implementation calls back into the endpoint it is bound to. */
export interface TopicSink {
  /**
   * A message published by another instance: deliver it to this instance's subscribers of
   * `topic`. `data` is the message's bytes (UTF-8 for text).
   */
  deliver(topic: string, data: Buffer, binary: boolean): void;
}

export interface Topics {
  /** A socket of this instance joins a topic. */
  subscribe(socket: WebSocket, topic: string): void;
  unsubscribe(socket: WebSocket, topic: string): void;
  /** This instance's subscribers of a topic. */
  subscribers(topic: string): Iterable<WebSocket>;
  subscriberCount(topic: string): number;
  /** All topics that have at least one local subscriber. */
  topics(): Iterable<string>;
  /**
   * Sends a message outwards, to the other instances, after the endpoint delivered it to
   * the local subscribers. Resolves once the broker accepted it. Absent: in-process only.
   */
  publish?(topic: string, data: Buffer, binary: boolean): Promise<void>;
  /** Called once by the endpoint the implementation serves, before any subscribe. */
  bind?(sink: TopicSink): void;
  /** Called by endpoint.close(): unsubscribe and release what the implementation made. */
  close?(): Promise<void>;
  /** Counters shown under endpoint.stats().topics. */
  stats?(): Readonly<Record<string, number>>;
}

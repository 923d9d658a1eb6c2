// Publish/subscribe within one process. The Topics interface is what an endpoint needs, so
// a broker-backed implementation (Redis, NATS, ...) can replace LocalTopics for many instances.
import type { WebSocket } from './socket';

export interface Topics {
  subscribe(socket: WebSocket, topic: string): void;
  unsubscribe(socket: WebSocket, topic: string): void;
  /** Local subscribers of a topic. */
  subscribers(topic: string): Iterable<WebSocket>;
  subscriberCount(topic: string): number;
  /** All topics that have at least one local subscriber. */
  topics(): Iterable<string>;
}

export class LocalTopics implements Topics {
  private readonly byTopic = new Map<string, Set<WebSocket>>();

  subscribe(socket: WebSocket, topic: string): void {
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(socket);
  }

  unsubscribe(socket: WebSocket, topic: string): void {
    const set = this.byTopic.get(topic);
    if (!set) return;
    set.delete(socket);
    if (set.size === 0) this.byTopic.delete(topic);
  }

  subscribers(topic: string): Iterable<WebSocket> {
    return this.byTopic.get(topic) ?? [];
  }

  subscriberCount(topic: string): number {
    return this.byTopic.get(topic)?.size ?? 0;
  }

  topics(): Iterable<string> {
    return this.byTopic.keys();
  }
}

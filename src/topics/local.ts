// Publish/subscribe within one process: the default Topics, and the registry that a
// broker-backed implementation keeps for its own instance.
import type { WebSocket } from '../io/websocket';
import type { Topics } from './topics';

/** Told when a topic gains its first local subscriber or loses its last one. */
export interface TopicWatcher {
  first(topic: string): void;
  last(topic: string): void;
}

export class LocalTopics implements Topics {
  private readonly byTopic = new Map<string, Set<WebSocket>>();

  constructor(private readonly watcher?: TopicWatcher) {}

  subscribe(socket: WebSocket, topic: string): void {
    let set = this.byTopic.get(topic);
    if (!set) {
      this.byTopic.set(topic, (set = new Set()));
      this.watcher?.first(topic);
    }
    set.add(socket);
  }

  unsubscribe(socket: WebSocket, topic: string): void {
    const set = this.byTopic.get(topic);
    if (!set || !set.delete(socket) || set.size > 0) return;
    this.byTopic.delete(topic);
    this.watcher?.last(topic);
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

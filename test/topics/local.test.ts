// src/topics/local.ts: the in-process topic registry and its first/last watcher.
import type { WebSocket } from '../../src/io/websocket';
import { LocalTopics, type TopicWatcher } from '../../src/topics/local';

// The registry only keeps sockets as keys; any distinct object stands in for one.
const sock = (name: string) => ({ name }) as unknown as WebSocket;

function watched(): { topics: LocalTopics; events: string[] } {
  const events: string[] = [];
  const watcher: TopicWatcher = {
    first: (t) => events.push(`first:${t}`),
    last: (t) => events.push(`last:${t}`),
  };
  return { topics: new LocalTopics(watcher), events };
}

describe('LocalTopics', () => {
  test('first fires once per topic, on the first subscriber only', () => {
    const { topics, events } = watched();
    const a = sock('a');
    const b = sock('b');
    topics.subscribe(a, 'news');
    topics.subscribe(b, 'news');
    topics.subscribe(a, 'news'); // again: still a member, no event
    topics.subscribe(a, 'sport');
    expect(events).toEqual(['first:news', 'first:sport']);
    expect(topics.subscriberCount('news')).toBe(2);
    expect(topics.subscriberCount('sport')).toBe(1);
  });

  test('last fires once, when the last subscriber leaves', () => {
    const { topics, events } = watched();
    const a = sock('a');
    const b = sock('b');
    topics.subscribe(a, 'news');
    topics.subscribe(b, 'news');
    topics.unsubscribe(a, 'news');
    expect(events).toEqual(['first:news']);
    topics.unsubscribe(b, 'news');
    expect(events).toEqual(['first:news', 'last:news']);
    topics.unsubscribe(b, 'news'); // already gone
    expect(events).toEqual(['first:news', 'last:news']);
    expect(topics.subscriberCount('news')).toBe(0);
  });

  test('unsubscribing a non-member does not fire last nor change the count', () => {
    const { topics, events } = watched();
    const a = sock('a');
    const stranger = sock('x');
    topics.subscribe(a, 'news');
    topics.unsubscribe(stranger, 'news');
    topics.unsubscribe(stranger, 'never-existed');
    expect(events).toEqual(['first:news']);
    expect(topics.subscriberCount('news')).toBe(1);
    expect([...topics.subscribers('news')]).toEqual([a]);
  });

  test('a topic emptied and filled again fires first again', () => {
    const { topics, events } = watched();
    const a = sock('a');
    topics.subscribe(a, 't');
    topics.unsubscribe(a, 't');
    topics.subscribe(a, 't');
    expect(events).toEqual(['first:t', 'last:t', 'first:t']);
  });

  test('subscribers() lists the members; an unknown topic has none', () => {
    const topics = new LocalTopics();
    const a = sock('a');
    const b = sock('b');
    topics.subscribe(a, 'x');
    topics.subscribe(b, 'x');
    expect(new Set(topics.subscribers('x'))).toEqual(new Set([a, b]));
    expect([...topics.subscribers('nobody')]).toEqual([]);
    expect(topics.subscriberCount('nobody')).toBe(0);
  });

  test('topics() lists exactly the topics with a subscriber', () => {
    const topics = new LocalTopics();
    const a = sock('a');
    const b = sock('b');
    topics.subscribe(a, 'one');
    topics.subscribe(b, 'two');
    topics.subscribe(b, 'three');
    topics.unsubscribe(b, 'two');
    expect([...topics.topics()].sort()).toEqual(['one', 'three']);
    topics.unsubscribe(a, 'one');
    topics.unsubscribe(b, 'three');
    expect([...topics.topics()]).toEqual([]);
  });

  test('works without a watcher', () => {
    const topics = new LocalTopics();
    const a = sock('a');
    expect(() => {
      topics.subscribe(a, 't');
      topics.unsubscribe(a, 't');
    }).not.toThrow();
    expect(topics.subscriberCount('t')).toBe(0);
  });

  test('a socket in several topics leaves one without affecting the others', () => {
    const { topics, events } = watched();
    const a = sock('a');
    topics.subscribe(a, 'p');
    topics.subscribe(a, 'q');
    topics.unsubscribe(a, 'p');
    expect(events).toEqual(['first:p', 'first:q', 'last:p']);
    expect(topics.subscriberCount('q')).toBe(1);
  });
});

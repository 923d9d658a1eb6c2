// Async iteration over a socket's messages, with backpressure: reading from the peer
// pauses while many messages wait, so a slow loop never means unbounded memory.

/** What the iterator needs from a connection. */
export interface Iterable {
  readonly readyState: number;
  on(event: 'message', listener: (data: string | Buffer) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  off(event: 'message', listener: (data: string | Buffer) => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  pauseReading(): void;
  resumeReading(): void;
}

// Messages waiting before we stop reading from the peer.
const HIGH_WATER = 16;

export function messageIterator(socket: Iterable): AsyncIterableIterator<string | Buffer> {
  const queue: (string | Buffer)[] = [];
  const waiting: ((result: IteratorResult<string | Buffer>) => void)[] = [];
  let done = socket.readyState === 3;
  let paused = false;

  const onMessage = (data: string | Buffer) => {
    const next = waiting.shift();
    if (next) return next({ value: data, done: false });
    queue.push(data);
    if (!paused && queue.length >= HIGH_WATER) {
      paused = true;
      socket.pauseReading();
    }
  };
  const finish = () => {
    done = true;
    socket.off('message', onMessage);
    socket.off('close', finish);
    if (paused) {
      paused = false;
      socket.resumeReading();
    }
    for (const resolve of waiting.splice(0)) resolve({ value: undefined, done: true });
  };
  if (!done) {
    socket.on('message', onMessage);
    socket.on('close', finish);
  }

  return {
    next() {
      if (queue.length > 0) {
        const value = queue.shift()!;
        if (paused && queue.length < HIGH_WATER / 2) {
          paused = false;
          socket.resumeReading();
        }
        return Promise.resolve({ value, done: false });
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return() {
      // Leaving the loop stops the iteration; it does not close the socket.
      queue.length = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

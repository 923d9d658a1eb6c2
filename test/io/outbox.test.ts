// src/io/outbox.ts against a fake Transport that records every write and lets the test set
// writableLength, needDrain and queuedBelow: no sockets.
import type { Transport, TransportSink } from '../../src/transport/transport';
import { WebSocketError } from '../../src/io/errors';
import { type BackpressurePolicy, Outbox, type Outgoing } from '../../src/io/outbox';

type Callback = (error?: Error | null) => void;

interface Write {
  kind: 'write' | 'writeMany';
  chunks: Buffer[];
  callback?: Callback;
}

class FakeTransport implements Transport {
  readonly kind = 'http/1.1' as const;
  readonly remoteAddress = '127.0.0.1';
  writableLength = 0;
  writableHighWaterMark = 16 * 1024;
  needDrain = false;
  ended = false;
  queued = 0;
  /** What write() returns; by default whether writableLength is under the high-water mark. */
  accept: (() => boolean) | null = null;
  /** Buffered bytes grow by what is written (as a socket whose peer does not read). */
  buffers = false;
  writes: Write[] = [];
  endCalls = 0;
  destroyCalls = 0;

  bind(_sink: TransportSink): void {}
  write(chunk: Buffer, callback?: Callback): boolean {
    return this.record({ kind: 'write', chunks: [chunk], callback });
  }
  writeMany(chunks: readonly Buffer[], callback?: Callback): boolean {
    return this.record({ kind: 'writeMany', chunks: [...chunks], callback });
  }
  end(): void {
    this.endCalls++;
    this.ended = true;
  }
  destroy(): void {
    this.destroyCalls++;
    this.ended = true;
  }
  pause(): void {}
  resume(): void {}
  queuedBelow(): number {
    return this.queued;
  }

  /** Every byte written, in order, as one string (frames below are ASCII). */
  get text(): string {
    return this.writes.map((w) => Buffer.concat(w.chunks).toString()).join('');
  }

  private record(w: Write): boolean {
    this.writes.push(w);
    if (this.buffers) this.writableLength += w.chunks.reduce((n, c) => n + c.length, 0);
    return this.accept ? this.accept() : this.writableLength < this.writableHighWaterMark;
  }
}

function setup(limits: { maxBackpressure?: number; backpressurePolicy?: BackpressurePolicy } = {}) {
  const transport = new FakeTransport();
  const counters = { bytesOut: 0 };
  let drained = 0;
  const outbox = new Outbox(
    transport,
    { maxBackpressure: limits.maxBackpressure ?? 1000, backpressurePolicy: limits.backpressurePolicy ?? 'close' },
    counters,
    { outboxDrained: () => void drained++ },
  );
  return { transport, counters, outbox, drained: () => drained };
}

const frame = (text: string, callback?: (error?: Error) => void): Outgoing => ({ frame: Buffer.from(text), payload: null, callback });
/** The end of the current tick, when frames pushed outside a batch are written. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('writing and batching', () => {
  test('outside a batch, pushes in one tick go out as one write at the end of the tick, in order', async () => {
    const { transport, outbox, counters } = setup();
    expect(outbox.push(frame('a'))).toBe(true);
    expect(outbox.push(frame('bb'))).toBe(true);
    expect(transport.writes).toHaveLength(0);
    expect(outbox.bufferedAmount).toBe(3); // waiting bytes count
    await tick();
    expect(transport.writes.map((w) => w.kind)).toEqual(['write']);
    expect(transport.text).toBe('abb');
    expect(counters.bytesOut).toBe(3);
    expect(outbox.bufferedAmount).toBe(0);
    outbox.push(frame('c')); // a new tick, a new write
    await tick();
    expect(transport.text).toBe('abbc');
    expect(transport.writes).toHaveLength(2);
  });

  test('a control frame (pushNow) writes the waiting tick batch first, then itself', () => {
    const { transport, outbox } = setup();
    outbox.push(frame('a'));
    outbox.pushNow(frame('P'));
    expect(transport.writes.map((w) => Buffer.concat(w.chunks).toString())).toEqual(['a', 'P']);
  });

  test('a frame with a separate payload goes through writeMany as [frame, payload]', async () => {
    const { transport, outbox, counters } = setup();
    const header = Buffer.from('H');
    const payload = Buffer.from('payload');
    outbox.push({ frame: header, payload });
    await tick();
    expect(transport.writes).toHaveLength(1);
    expect(transport.writes[0].kind).toBe('writeMany');
    expect(transport.writes[0].chunks[0]).toBe(header);
    expect(transport.writes[0].chunks[1]).toBe(payload);
    expect(counters.bytesOut).toBe(8);
  });

  test('beginBatch/endBatch: frames without callbacks go out as ONE write, joined', () => {
    const { transport, outbox, counters } = setup();
    outbox.beginBatch();
    outbox.push(frame('one,'));
    outbox.push({ frame: Buffer.from('two:'), payload: Buffer.from('2,') });
    outbox.pushNow(frame('three'));
    expect(transport.writes).toHaveLength(0);
    expect(outbox.bufferedAmount).toBe(15); // the batch counts
    outbox.endBatch();
    expect(transport.writes).toHaveLength(1);
    expect(transport.writes[0].kind).toBe('write');
    expect(transport.text).toBe('one,two:2,three');
    expect(outbox.bufferedAmount).toBe(0);
    expect(counters.bytesOut).toBe(15);
  });

  test('frames side by side in one buffer are written as one view of it, not a copy', () => {
    const { transport, outbox } = setup();
    const memory = Buffer.from('one,two,three');
    outbox.beginBatch();
    outbox.push({ frame: memory.subarray(0, 4), payload: null });
    outbox.push({ frame: memory.subarray(4, 8), payload: null });
    outbox.push({ frame: memory.subarray(8), payload: null });
    outbox.endBatch();
    expect(transport.writes).toHaveLength(1);
    const written = transport.writes[0].chunks[0];
    expect(written.toString()).toBe('one,two,three');
    expect(written.buffer).toBe(memory.buffer);
    expect(written.byteOffset).toBe(memory.byteOffset);
  });

  test('frames of one buffer out of order, or the same frame twice, are joined as copies', () => {
    const { transport, outbox } = setup();
    const memory = Buffer.alloc(2, 'ab'); // not from Node's pool, where the copy could land
    outbox.beginBatch();
    outbox.push({ frame: memory.subarray(1, 2), payload: null });
    outbox.push({ frame: memory.subarray(0, 1), payload: null });
    outbox.push({ frame: memory.subarray(0, 1), payload: null });
    outbox.endBatch();
    expect(transport.text).toBe('baa');
    expect(transport.writes[0].chunks[0].buffer).not.toBe(memory.buffer);
  });

  test('a batch of one frame is written as that very buffer', () => {
    const { transport, outbox } = setup();
    const only = Buffer.from('only');
    outbox.beginBatch();
    outbox.push({ frame: only, payload: null });
    outbox.endBatch();
    expect(transport.writes).toHaveLength(1);
    expect(transport.writes[0].chunks[0]).toBe(only);
  });

  test('an empty batch writes nothing', () => {
    const { transport, outbox } = setup();
    outbox.beginBatch();
    outbox.endBatch();
    expect(transport.writes).toHaveLength(0);
  });

  test('a batch over 64 KiB goes out through writeMany with the original buffers', () => {
    const { transport, outbox } = setup({ maxBackpressure: 1 << 30 });
    const a = Buffer.alloc(40 * 1024, 'a');
    const b = Buffer.alloc(30 * 1024, 'b');
    outbox.beginBatch();
    outbox.push({ frame: a, payload: null });
    outbox.push({ frame: b, payload: null });
    outbox.endBatch();
    expect(transport.writes).toHaveLength(1);
    expect(transport.writes[0].kind).toBe('writeMany');
    expect(transport.writes[0].chunks).toHaveLength(2);
    expect(transport.writes[0].chunks[0]).toBe(a);
    expect(transport.writes[0].chunks[1]).toBe(b);
  });

  test('a batch of exactly 64 KiB is still joined', () => {
    const { transport, outbox } = setup({ maxBackpressure: 1 << 30 });
    outbox.beginBatch();
    outbox.push({ frame: Buffer.alloc(32 * 1024), payload: null });
    outbox.push({ frame: Buffer.alloc(32 * 1024), payload: null });
    outbox.endBatch();
    expect(transport.writes.map((w) => w.kind)).toEqual(['write']);
    expect(transport.writes[0].chunks[0].length).toBe(64 * 1024);
  });

  test('a frame with a callback flushes the batch first, then goes alone with its callback', () => {
    const { transport, outbox } = setup();
    const cb = jest.fn();
    outbox.beginBatch();
    outbox.push(frame('a'));
    outbox.push(frame('b'));
    outbox.push(frame('C', cb));
    outbox.push(frame('d'));
    outbox.endBatch();
    expect(transport.writes.map((w) => Buffer.concat(w.chunks).toString())).toEqual(['ab', 'C', 'd']);
    expect(transport.writes[1].callback).toBeDefined();
    expect(transport.writes[0].callback).toBeUndefined();
  });

  test('the batch buffer is reused: a second batch does not resend the first', () => {
    const { transport, outbox } = setup();
    outbox.beginBatch();
    outbox.push(frame('x'));
    outbox.endBatch();
    outbox.beginBatch();
    outbox.push(frame('y'));
    outbox.endBatch();
    expect(transport.writes.map((w) => Buffer.concat(w.chunks).toString())).toEqual(['x', 'y']);
  });

  test('push reports the high-water mark from bufferedAmount, batched bytes included', async () => {
    const { transport, outbox } = setup({ maxBackpressure: 1 << 30 });
    transport.writableHighWaterMark = 10;
    outbox.beginBatch();
    expect(outbox.push(frame('12345'))).toBe(true);
    expect(outbox.push(frame('67890'))).toBe(false); // 10 bytes batched: at the mark
    outbox.endBatch();
    transport.writableLength = 9;
    expect(outbox.push(frame('z'))).toBe(false); // tick batch: 9 + 1
    await tick();
    transport.writableLength = 0;
    expect(outbox.push(frame('z'))).toBe(true);
  });

  test("false from a tick batch the transport then took at once: the outbox emits 'drain'", async () => {
    const { transport, outbox, drained } = setup({ maxBackpressure: 1 << 30 });
    transport.writableHighWaterMark = 4;
    expect(outbox.push(frame('12'))).toBe(true);
    expect(outbox.push(frame('34'))).toBe(false);
    await tick(); // written; the fake transport needs no drain
    await tick();
    expect(drained()).toBe(1);
  });

  test('a tick batch on a transport ended meanwhile is dropped, not written', async () => {
    const { transport, outbox } = setup();
    outbox.push(frame('a'));
    transport.destroy();
    await tick();
    expect(transport.writes).toHaveLength(0);
    expect(outbox.bufferedAmount).toBe(0);
  });
});

describe('held slots keep order', () => {
  test('frames pushed behind a reserved slot wait; fill writes the slot then them, in order', () => {
    const { transport, outbox } = setup();
    const slot = outbox.reserve(5);
    expect(outbox.holds(slot)).toBe(true);
    expect(outbox.push(frame('B'))).toBe(false); // held: drain is owed
    expect(outbox.push(frame('C'))).toBe(false);
    expect(transport.writes).toHaveLength(0);
    outbox.fill(slot, 5, Buffer.from('A'), null);
    expect(transport.text).toBe('ABC');
    expect(outbox.holds(slot)).toBe(false);
  });

  test('a control frame (pushNow) overtakes the held message', () => {
    const { transport, outbox } = setup();
    const slot = outbox.reserve(3);
    outbox.push(frame('data'));
    expect(outbox.pushNow(frame('ping'))).toBe(true);
    expect(transport.text).toBe('ping');
    outbox.fill(slot, 3, Buffer.from('msg'), null);
    expect(transport.text).toBe('pingmsgdata');
  });

  test('two slots filled out of order still go out in reservation order', () => {
    const { transport, outbox } = setup();
    const first = outbox.reserve(1);
    const second = outbox.reserve(1);
    outbox.push(frame('3'));
    outbox.fill(second, 1, Buffer.from('2'), null);
    expect(transport.writes).toHaveLength(0); // the first is still pending
    outbox.fill(first, 1, Buffer.from('1'), null);
    expect(transport.text).toBe('123');
  });

  test('a filled slot with a separate payload goes through writeMany with the slot\'s callback', () => {
    const { transport, outbox } = setup();
    const cb = jest.fn();
    const slot = outbox.reserve(100, cb);
    const payload = Buffer.from('compressed');
    outbox.fill(slot, 100, Buffer.from('H'), payload);
    expect(transport.writes).toHaveLength(1);
    expect(transport.writes[0].kind).toBe('writeMany');
    expect(transport.writes[0].chunks[1]).toBe(payload);
    transport.writes[0].callback!();
    expect(cb).toHaveBeenCalledWith(undefined);
  });

  test('acceptedWhileHolding: true under the high-water mark, false (drain owed) at it', () => {
    const { transport, outbox, drained } = setup({ maxBackpressure: 1 << 30 });
    transport.writableHighWaterMark = 100;
    const small = outbox.reserve(10);
    expect(outbox.acceptedWhileHolding()).toBe(true);
    outbox.fill(small, 10, Buffer.from('s'), null);
    expect(drained()).toBe(0); // nothing was owed
    const big = outbox.reserve(100);
    expect(outbox.acceptedWhileHolding()).toBe(false);
    outbox.fill(big, 100, Buffer.from('b'), null);
    expect(drained()).toBe(1);
  });
});

describe('bufferedAmount', () => {
  test('= transport.writableLength + batched bytes + held bytes', () => {
    const { transport, outbox } = setup({ maxBackpressure: 1 << 30 });
    transport.writableLength = 1000;
    expect(outbox.bufferedAmount).toBe(1000);
    outbox.beginBatch();
    outbox.push(frame('12345')); // 5 batched
    expect(outbox.bufferedAmount).toBe(1005);
    const slot = outbox.reserve(70); // 70 held as a placeholder
    expect(outbox.bufferedAmount).toBe(1075);
    outbox.push(frame('abc')); // 3 held behind it
    expect(outbox.bufferedAmount).toBe(1078);
    outbox.endBatch(); // the batch goes out; the fake transport's writableLength is the test's
    expect(outbox.bufferedAmount).toBe(1073);
    // Filled with a 20-byte frame instead of the 70 reserved: held bytes follow the real size.
    outbox.beginBatch();
    outbox.fill(slot, 70, Buffer.alloc(20), null);
    expect(outbox.bufferedAmount).toBe(1000 + 23);
    outbox.endBatch();
    expect(outbox.bufferedAmount).toBe(1000);
    transport.writableLength = 0;
    expect(outbox.bufferedAmount).toBe(0);
  });
});

describe('admit() and the backpressure policy', () => {
  test.each(['close', 'drop'] as const)("policy '%s': ok up to maxBackpressure, the policy past it", (policy) => {
    const { transport, outbox } = setup({ maxBackpressure: 100, backpressurePolicy: policy });
    transport.writableLength = 100;
    expect(outbox.admit()).toBe('ok');
    transport.writableLength = 101;
    expect(outbox.admit()).toBe(policy);
    transport.writableLength = 0;
    expect(outbox.admit()).toBe('ok');
  });

  test('held and batched bytes count toward the limit', () => {
    const { outbox } = setup({ maxBackpressure: 100, backpressurePolicy: 'drop' });
    outbox.reserve(90);
    expect(outbox.admit()).toBe('ok');
    outbox.beginBatch();
    outbox.pushNow(frame('x'.repeat(11)));
    expect(outbox.admit()).toBe('drop');
  });
});

describe('drain', () => {
  test('owed when push returned false behind held frames; emitted once they are released and the transport does not need drain', () => {
    const { outbox, drained } = setup();
    const slot = outbox.reserve(4);
    expect(outbox.push(frame('later'))).toBe(false);
    expect(drained()).toBe(0);
    outbox.fill(slot, 4, Buffer.from('done'), null);
    expect(drained()).toBe(1);
  });

  test('not emitted on release while the transport still needs drain; then the transport\'s drain delivers it', () => {
    const { transport, outbox, drained } = setup();
    const slot = outbox.reserve(4);
    outbox.push(frame('later'));
    transport.needDrain = true;
    outbox.fill(slot, 4, Buffer.from('done'), null);
    expect(drained()).toBe(0);
    transport.needDrain = false;
    outbox.transportDrained();
    expect(drained()).toBe(1);
  });

  test('not owed when nothing said false: releasing a slot emits nothing', () => {
    const { outbox, drained } = setup();
    const slot = outbox.reserve(4);
    outbox.fill(slot, 4, Buffer.from('done'), null);
    expect(drained()).toBe(0);
  });

  test('owed only once: after it is paid, the next release emits nothing', () => {
    const { outbox, drained } = setup();
    let slot = outbox.reserve(1);
    outbox.push(frame('x'));
    outbox.fill(slot, 1, Buffer.from('a'), null);
    expect(drained()).toBe(1);
    slot = outbox.reserve(1);
    outbox.fill(slot, 1, Buffer.from('b'), null);
    expect(drained()).toBe(1);
  });

  test('transportDrained always tells the owner', () => {
    const { outbox, drained } = setup();
    outbox.transportDrained();
    outbox.transportDrained();
    expect(drained()).toBe(2);
  });

  test('not emitted after clear(), even if owed', () => {
    const { outbox, drained } = setup();
    const slot = outbox.reserve(1);
    outbox.push(frame('x'));
    outbox.clear();
    outbox.fill(slot, 1, Buffer.from('a'), null);
    expect(drained()).toBe(0);
  });
});

describe('endWhenFlushed', () => {
  test('with nothing held: flushes the batch, then ends the transport', () => {
    const { transport, outbox } = setup();
    outbox.beginBatch();
    outbox.push(frame('close'));
    expect(outbox.endWhenFlushed()).toBe(true);
    expect(transport.text).toBe('close');
    expect(transport.endCalls).toBe(1);
  });

  test('waits for held frames: the transport ends only after they are written', () => {
    const { transport, outbox } = setup();
    const slot = outbox.reserve(3);
    outbox.push(frame('CLOSE'));
    expect(outbox.endWhenFlushed()).toBe(false);
    expect(transport.endCalls).toBe(0);
    expect(transport.writes).toHaveLength(0);
    let endedAfter = '';
    transport.end = () => {
      endedAfter = transport.text;
      transport.endCalls++;
    };
    outbox.fill(slot, 3, Buffer.from('msg'), null);
    expect(transport.endCalls).toBe(1);
    expect(endedAfter).toBe('msgCLOSE');
  });

  test('a second slot still pending keeps the end waiting', () => {
    const { transport, outbox } = setup();
    const a = outbox.reserve(1);
    const b = outbox.reserve(1);
    outbox.endWhenFlushed();
    outbox.fill(a, 1, Buffer.from('a'), null);
    expect(transport.endCalls).toBe(0);
    outbox.fill(b, 1, Buffer.from('b'), null);
    expect(transport.endCalls).toBe(1);
  });
});

describe('clear()', () => {
  test('drops the batch and the held frames; bufferedAmount falls to the transport\'s', () => {
    const { transport, outbox } = setup();
    transport.writableLength = 7;
    outbox.beginBatch();
    outbox.push(frame('batched'));
    const slot = outbox.reserve(50);
    outbox.push(frame('held'));
    outbox.clear();
    expect(outbox.bufferedAmount).toBe(7);
    expect(outbox.holds(slot)).toBe(false);
    outbox.endBatch();
    expect(transport.writes).toHaveLength(0);
  });

  test('later writes are refused: push and pushNow return false and nothing reaches the transport', () => {
    const { transport, outbox, counters } = setup();
    outbox.clear();
    expect(outbox.push(frame('a'))).toBe(false);
    expect(outbox.pushNow(frame('b'))).toBe(false);
    outbox.beginBatch();
    outbox.push(frame('c'));
    outbox.endBatch();
    expect(transport.writes).toHaveLength(0);
    expect(counters.bytesOut).toBe(0);
  });

  // BUG (latent, reported): fill() on a slot that clear() already dropped still adds
  // (frame size - reserved size) to the held byte count, so bufferedAmount goes wrong (here -40).
  // The connection guards every fill with holds() or readyState today, so it is not reachable
  // through WebSocket; the outbox's own contract does not hold it.
  test('filling a slot after clear writes nothing and leaves bufferedAmount alone', () => {
    const { transport, outbox } = setup();
    const slot = outbox.reserve(50);
    outbox.clear();
    outbox.fill(slot, 50, Buffer.alloc(10), null);
    expect(transport.writes).toHaveLength(0);
    expect(outbox.bufferedAmount).toBe(0);
  });

  // BUG (reported): a frame held behind a message that is still being compressed, sent with a
  // callback, is dropped by clear() without its callback ever being called. The README says the
  // callback of a message that could not be sent gets a WebSocketError NOT_OPEN; here the sender
  // waits forever. The connection only answers the compressed slot's own callback (via the codec).
  test('the callback of a frame dropped by clear() is called with NOT_OPEN', async () => {
    const { outbox } = setup();
    outbox.reserve(10); // a compressed message in progress
    const cb = jest.fn();
    outbox.push(frame('behind', cb));
    outbox.clear();
    await new Promise((r) => setImmediate(r));
    expect(cb).toHaveBeenCalledTimes(1);
    expect(cb.mock.calls[0][0]).toBeInstanceOf(WebSocketError);
    expect((cb.mock.calls[0][0] as WebSocketError).code).toBe('NOT_OPEN');
  });
});

describe('callbacks', () => {
  test('a successful write calls back with no error', () => {
    const { transport, outbox } = setup();
    const cb = jest.fn();
    outbox.push(frame('x', cb));
    transport.writes[0].callback!(null);
    expect(cb).toHaveBeenCalledTimes(1);
    expect(cb).toHaveBeenCalledWith(undefined);
  });

  test('a transport write error reaches the callback as WebSocketError NOT_OPEN with the cause', () => {
    const { transport, outbox } = setup();
    const cb = jest.fn();
    outbox.push(frame('x', cb));
    const cause = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_DESTROYED' });
    transport.writes[0].callback!(cause);
    expect(cb).toHaveBeenCalledTimes(1);
    const err = cb.mock.calls[0][0] as WebSocketError;
    expect(err).toBeInstanceOf(WebSocketError);
    expect(err.code).toBe('NOT_OPEN');
    expect(err.cause).toBe(cause);
  });

  test('the same for a writeMany (large payload) and a pushNow control frame', () => {
    const { transport, outbox } = setup();
    const big = jest.fn();
    const ctl = jest.fn();
    outbox.push({ frame: Buffer.from('H'), payload: Buffer.from('P'), callback: big });
    outbox.pushNow(frame('ping', ctl));
    const cause = new Error('ECANCELED');
    transport.writes[0].callback!(cause);
    transport.writes[1].callback!(cause);
    expect((big.mock.calls[0][0] as WebSocketError).code).toBe('NOT_OPEN');
    expect((ctl.mock.calls[0][0] as WebSocketError).cause).toBe(cause);
  });

  test('a frame without a callback passes none to the transport', async () => {
    const { transport, outbox } = setup();
    outbox.push(frame('x'));
    await tick();
    expect(transport.writes[0].callback).toBeUndefined();
  });
});

describe('liveness: markProgress / drainedSinceMark', () => {
  test('no backlog at the mark: never "drained" (nothing to take)', () => {
    const { outbox } = setup();
    outbox.markProgress();
    expect(outbox.drainedSinceMark()).toBe(false);
  });

  test('a backlog that did not shrink: not drained', () => {
    const { transport, outbox } = setup();
    transport.writableLength = 5000;
    outbox.markProgress();
    expect(outbox.drainedSinceMark()).toBe(false);
  });

  test('a backlog that shrank: drained', () => {
    const { transport, outbox } = setup();
    transport.writableLength = 5000;
    outbox.markProgress();
    transport.writableLength = 4000;
    expect(outbox.drainedSinceMark()).toBe(true);
  });

  test('the backlog grew by our own writes but less than we wrote: the peer took some', async () => {
    const { transport, outbox } = setup({ maxBackpressure: 1 << 30 });
    transport.writableLength = 5000;
    outbox.markProgress();
    outbox.push(frame('x'.repeat(1000)));
    await tick();
    transport.writableLength = 5500; // +1000 written, only +500 stayed
    expect(outbox.drainedSinceMark()).toBe(true);
  });

  test('the backlog grew by exactly what we wrote: not drained', async () => {
    const { transport, outbox } = setup({ maxBackpressure: 1 << 30 });
    transport.buffers = true;
    transport.writableLength = 5000;
    outbox.markProgress();
    outbox.push(frame('x'.repeat(1000)));
    await tick();
    expect(transport.writableLength).toBe(6000);
    expect(outbox.drainedSinceMark()).toBe(false);
  });

  test('the kernel queue shrinking counts as progress even when writableLength stays', () => {
    const { transport, outbox } = setup();
    transport.writableLength = 5000;
    transport.queued = 3000;
    outbox.markProgress();
    transport.queued = 2000;
    expect(outbox.drainedSinceMark()).toBe(true);
  });

  test('the kernel queue not shrinking: not drained', () => {
    const { transport, outbox } = setup();
    transport.writableLength = 5000;
    transport.queued = 3000;
    outbox.markProgress();
    expect(outbox.drainedSinceMark()).toBe(false);
  });

  test('drainedSinceMark starts a new measurement', () => {
    const { transport, outbox } = setup();
    transport.writableLength = 5000;
    outbox.markProgress();
    transport.writableLength = 4000;
    expect(outbox.drainedSinceMark()).toBe(true);
    // Same 4000 still there: measured from the new mark, no progress.
    expect(outbox.drainedSinceMark()).toBe(false);
    transport.writableLength = 10;
    expect(outbox.drainedSinceMark()).toBe(true);
  });
});

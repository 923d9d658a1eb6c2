// A connection's outgoing side: frames wait here until the transport takes them. It batches
// writes, keeps places for messages still being compressed (so order holds), counts
// bufferedAmount, owes 'drain' when send() said false, and applies the backpressure policy.
import { Buffer } from 'node:buffer';
import type { Transport } from '../transport/transport';
import { closedBeforeSent, notSent } from './errors';

/** What happens when a peer does not read and bufferedAmount passes maxBackpressure. */
export type BackpressurePolicy = 'close' | 'drop';

export interface OutboxLimits {
  readonly maxBackpressure: number;
  readonly backpressurePolicy: BackpressurePolicy;
}

export type SendCallback = (error?: Error) => void;

/** One frame as written: a header with a small payload copied in, or a header and a large payload apart. */
export interface Outgoing {
  frame: Buffer;
  payload: Buffer | null;
  callback?: SendCallback;
}

/** What the outbox tells its connection. */
export interface OutboxOwner {
  /** Everything that send() said would wait has gone out. */
  outboxDrained(): void;
}

export interface OutboxCounters {
  bytesOut: number;
}

/** The verdict on one more message: take it, refuse it ('drop'), or give up on the peer ('close'). */
export type Admission = 'ok' | 'drop' | 'close';

// Batches up to this size are joined into one buffer; larger ones go through cork/uncork.
const JOIN_LIMIT = 64 * 1024;
// A payload this large, kept apart from its header, is written as it is: writev costs less than
// copying it into a joined buffer.
const APART_MIN = 8 * 1024;
const PENDING = Buffer.alloc(0);

// Tick batching: frames sent outside the handling of an incoming chunk (from timers, from
// another socket's message, after an await) are collected per outbox and written once the
// current turn of the event loop is done, so many sends to one socket in one tick cost one
// write. One setImmediate for all outboxes: it runs after every I/O callback of this loop
// iteration, so a fan-out fed by many incoming chunks (a chat room) joins them all (measured
// against a microtask flush: 1.07M against 133k chat deliveries/s).
let due: Outbox[] = [];
let armed = false;

function flushDue(): void {
  armed = false;
  const list = due;
  due = [];
  for (let i = 0; i < list.length; i++) list[i].tickFlush();
}

function arm(outbox: Outbox): void {
  due.push(outbox);
  if (armed) return;
  armed = true;
  setImmediate(flushDue);
}

/**
 * The batch as one buffer: a view when its parts lie side by side in one ArrayBuffer, in
 * order (frames written one after another into io/text.ts's slab), else a joined copy.
 */
function join(parts: Buffer[], bytes: number): Buffer {
  const first = parts[0];
  const memory = first.buffer;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    if (part.buffer !== memory || part.byteOffset !== end) return Buffer.concat(parts, bytes);
    end += part.length;
  }
  return Buffer.from(memory, first.byteOffset, bytes);
}

export class Outbox {
  // Writes made while a batch is open go out in one transport write.
  private batching = false;
  // In the list of outboxes the next tick flush writes (see the tick batching above).
  private scheduled = false;
  private batch: Buffer[] | null = null; // made on first use, then reused
  private batchBytes = 0;
  // Frames in the batch, and whether one has a large payload apart from its header.
  private batchFrames = 0;
  private batchLarge = false;
  // Frames held back behind a message that is still being compressed, to keep order.
  private held: Outgoing[] | null = null;
  private heldBytes = 0;
  // send() returned false because of held frames; 'drain' is due once they are written.
  private drainOwed = false;
  private endPending = false;
  private closed = false;
  // Bytes handed to the transport, and the backlog when progress was last marked (liveness).
  private written = 0;
  private writtenAtMark = 0;
  private pendingAtMark = 0;
  private queuedAtMark = 0;

  constructor(
    private readonly transport: Transport,
    private readonly limits: OutboxLimits,
    private readonly counters: OutboxCounters,
    private readonly owner: OutboxOwner,
  ) {}

  /** Bytes accepted and not yet taken by the kernel (or the HTTP/2 session). */
  get bufferedAmount(): number {
    return this.transport.writableLength + this.batchBytes + this.heldBytes;
  }

  /** Whether one more message may be queued, by the backpressure policy. */
  admit(): Admission {
    if (this.bufferedAmount <= this.limits.maxBackpressure) return 'ok';
    return this.limits.backpressurePolicy;
  }

  /** From here until endBatch(), frames without callbacks are collected into one write. */
  beginBatch(): void {
    this.batching = true;
  }

  endBatch(): void {
    this.batching = false;
    this.flushBatch();
  }

  /** @internal the end-of-tick write (see the tick batching above). */
  tickFlush(): void {
    this.scheduled = false;
    if (this.batching) return; // endBatch() writes it
    // Destroyed (terminate(), a transport error) before the tick ended: the 'close' that
    // clears this outbox is on its way; nothing more may be written.
    if (this.transport.ended) return this.dropBatch();
    this.flushBatch();
  }

  /** Queues a frame behind any held ones. True while under the transport's high-water mark. */
  push(item: Outgoing): boolean {
    if (this.held !== null) {
      this.hold(item);
      this.drainOwed = true;
      return false;
    }
    return this.write(item, true);
  }

  /** Writes a control frame now: it may overtake a message being compressed. */
  pushNow(item: Outgoing): boolean {
    return this.write(item);
  }

  /** Holds a place for a message not ready yet; `size` counts toward bufferedAmount meanwhile. */
  reserve(size: number, callback?: SendCallback): Outgoing {
    const slot: Outgoing = { frame: PENDING, payload: null, callback };
    (this.held ??= []).push(slot);
    this.heldBytes += size;
    return slot;
  }

  /** True while the slot still waits in this outbox (false once the connection closed). */
  holds(slot: Outgoing): boolean {
    return this.held !== null && this.held.includes(slot);
  }

  /** Puts the finished frame into its place and writes what is now in order. */
  fill(slot: Outgoing, size: number, frame: Buffer, payload: Buffer | null): void {
    if (!this.holds(slot)) return; // the connection closed meanwhile
    slot.frame = frame;
    slot.payload = payload;
    this.heldBytes += frame.length + (payload?.length ?? 0) - size;
    this.releaseHeld();
  }

  /** After reserving: true when under the high-water mark, else 'drain' is owed. */
  acceptedWhileHolding(): boolean {
    if (this.bufferedAmount < this.transport.writableHighWaterMark) return true;
    this.drainOwed = true;
    return false;
  }

  /** The transport drained. */
  transportDrained(): void {
    this.drainOwed = false;
    this.owner.outboxDrained();
  }

  /** Ends the transport once held frames are out; false while they are still held. */
  endWhenFlushed(): boolean {
    if (this.held !== null) {
      this.endPending = true;
      return false;
    }
    this.endPending = false;
    this.flushBatch();
    this.transport.end();
    return true;
  }

  /** The connection is gone: drop everything queued here. */
  clear(): void {
    this.closed = true;
    this.dropBatch();
    // Frames waiting behind a message still being compressed never go out: their senders
    // hear so. (A slot still compressing hears it from the codec, when its job fails.)
    for (const item of this.held ?? []) {
      if (item.callback !== undefined && item.frame !== PENDING) process.nextTick(item.callback, closedBeforeSent());
    }
    this.held = null;
    this.heldBytes = 0;
  }

  /** Starts a liveness measurement: how much of our backlog the peer takes from now on. */
  markProgress(): void {
    this.pendingAtMark = this.transport.writableLength;
    this.writtenAtMark = this.written;
    this.queuedAtMark = this.transport.queuedBelow();
  }

  /** True when the peer took some of the backlog since the mark; starts a new measurement. */
  drainedSinceMark(): boolean {
    const completed = this.pendingAtMark + (this.written - this.writtenAtMark) > this.transport.writableLength;
    const taking = this.queuedAtMark > 0 && this.transport.queuedBelow() < this.queuedAtMark;
    const drained = this.pendingAtMark > 0 && (completed || taking);
    this.markProgress();
    return drained;
  }

  private hold(item: Outgoing): void {
    this.held!.push(item);
    this.heldBytes += item.frame.length + (item.payload?.length ?? 0);
  }

  /** Writes held frames in order, up to the first one still being compressed. */
  private releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    while (held.length > 0 && held[0].frame !== PENDING) {
      const item = held.shift()!;
      this.heldBytes -= item.frame.length + (item.payload?.length ?? 0);
      this.write(item);
    }
    if (held.length > 0) return;
    this.held = null;
    this.heldBytes = 0;
    if (this.endPending) this.endWhenFlushed();
    // send() returned false while frames were held; if the transport took everything, it
    // will not emit 'drain' itself, so this is the moment to tell the sender.
    if (this.drainOwed && !this.transport.needDrain && !this.closed) this.transportDrained();
  }

  /** `tick`: a new message (push), which may wait for the end of the tick (see the tick batching above). */
  private write(item: Outgoing, tick = false): boolean {
    if (this.closed) return false;
    const size = item.frame.length + (item.payload?.length ?? 0);
    this.counters.bytesOut += size;
    if (item.callback === undefined && (this.batching || (tick && (this.scheduled || this.schedule())))) {
      const batch = (this.batch ??= []);
      batch.push(item.frame);
      if (item.payload !== null) {
        batch.push(item.payload);
        if (item.payload.length >= APART_MIN) this.batchLarge = true;
      }
      this.batchFrames++;
      this.batchBytes += size;
      if (this.bufferedAmount < this.transport.writableHighWaterMark) return true;
      // The flush may find the transport emptied meanwhile, and then it owes no 'drain'.
      this.drainOwed = true;
      return false;
    }
    this.flushBatch();
    this.written += size;
    // Node reports a write cut short by a destroy differently by version (ERR_STREAM_DESTROYED,
    // ECANCELED): to the sender it is one thing, the message did not go out.
    const done = item.callback ? (err?: Error | null) => item.callback!(err ? notSent(err) : undefined) : undefined;
    if (item.payload === null) return this.transport.write(item.frame, done);
    return this.transport.writeMany([item.frame, item.payload], done);
  }

  private dropBatch(): void {
    if (this.batch !== null) this.batch.length = 0;
    this.batchBytes = 0;
    this.batchFrames = 0;
    this.batchLarge = false;
  }

  /** Joins the tick's batch; false when tick batching is off. */
  private schedule(): boolean {
    this.scheduled = true;
    arm(this);
    return true;
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (batch === null || batch.length === 0) return;
    const bytes = this.batchBytes;
    this.batchBytes = 0;
    this.written += bytes;
    if (!this.closed) {
      if (batch.length === 1) this.transport.write(batch[0]);
      // A lone frame with its payload apart, or a large payload (writev costs less than a
      // copy of it), goes as it is.
      else if (bytes <= JOIN_LIMIT && !this.batchLarge && this.batchFrames > 1) this.transport.write(join(batch, bytes));
      else this.transport.writeMany(batch);
    }
    this.batchLarge = false;
    this.batchFrames = 0;
    // The array is reused: one less allocation per incoming chunk. A lone frame is popped:
    // setting length is a call into the runtime, and most batches of a tick hold one frame.
    if (batch.length === 1) batch.pop();
    else batch.length = 0;
    // send() said false for a batched frame; if the transport took it all without needing to
    // drain, it will not emit 'drain', so the outbox does, once this call has returned (the
    // listener may send again, and must not cut in before a write in progress).
    if (this.drainOwed && !this.drainCheck) {
      this.drainCheck = true;
      queueMicrotask(() => this.checkDrain());
    }
  }

  private drainCheck = false;

  private checkDrain(): void {
    this.drainCheck = false;
    if (this.drainOwed && this.held === null && this.batchBytes === 0 && !this.transport.needDrain && !this.closed) this.transportDrained();
  }
}

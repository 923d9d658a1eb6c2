// permessage-deflate (RFC 7692): the per-connection codec on node:zlib. Negotiation of
// the parameters is pure and lives in core/extensions.ts.
import { Buffer } from 'node:buffer';
import * as zlib from 'node:zlib';
import { ProtocolError } from '../core/errors';
import type { DeflateParams, ResolvedDeflateOptions } from '../core/extensions';
import { type JobLimiter, sharedLimiter } from './job-limiter';

/** A compression job that could not run because the connection's codec was closed first. */
export class CodecClosedError extends Error {
  override name = 'CodecClosedError';
  readonly code = 'CODEC_CLOSED';
  constructor() {
    super('codec closed');
  }
}

type Done = (error: Error | null, result?: Buffer) => void;

/** What the socket needs from a message compressor. */
export interface MessageCodec {
  /** Messages below this many bytes are sent uncompressed. */
  readonly threshold: number;
  /** Compresses one whole message; the result lacks the 00 00 ff ff tail (RFC 7692 7.2.1). */
  compress(data: Buffer, done: Done): void;
  /** Inflates one whole message; fails with a 1009 ProtocolError past maxSize bytes. */
  decompress(data: Buffer, maxSize: number, done: Done): void;
  /** Frees the zlib contexts; later calls fail. */
  close(): void;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * @internal live zlib contexts, for tests: every deflate and inflate stream made and not
 * yet freed, `pooled` of them idle in the pool below. Not part of the public surface.
 */
export const zlibContexts = { deflate: 0, inflate: 0, pooled: 0 };

type Stream = zlib.DeflateRaw | zlib.InflateRaw;
type Kind = 'deflate' | 'inflate';

// Without context takeover a message needs no history, so its stream need not belong to a
// connection: it is borrowed for one job and handed back reset. Idle connections then hold
// no zlib memory, and the limiter bounds how many streams are ever busy at once.
const pool = new Map<string, Stream[]>();

function makeStream(kind: 'deflate', options: zlib.ZlibOptions): zlib.DeflateRaw;
function makeStream(kind: 'inflate', options: zlib.ZlibOptions): zlib.InflateRaw;
function makeStream(kind: Kind, options: zlib.ZlibOptions): Stream {
  zlibContexts[kind]++;
  // Every write is sync-flushed, so a message is one write and, while its output fits the
  // 16 KiB output buffer, one thread-pool job. (finishFlush only applies to end(), unused.)
  const flushed = { ...options, flush: zlib.constants.Z_SYNC_FLUSH };
  return kind === 'deflate' ? zlib.createDeflateRaw(flushed) : zlib.createInflateRaw(flushed);
}

/**
 * Call in a write's callback. A flowing stream with a 'data' listener and nothing buffered
 * (so here: one job at a time, listener added before the write) emits each piece of zlib
 * output at once, and the write's callback follows the last piece (Node 20: zlib.js
 * processCallback, Readable addChunk, Transform _write). Should output ever sit buffered
 * instead, read() emits it to the 'data' listeners now. Each read takes at least a byte.
 */
function drainOutput(stream: Stream): Error | null {
  while (stream.readableLength > 0) {
    if (stream.read() === null) return new Error('zlib output left buffered');
  }
  return null;
}

function freeStream(kind: Kind, stream: Stream): void {
  zlibContexts[kind]--;
  stream.on('error', () => {}); // a late error from a closed stream is of no interest
  stream.close();
}

function borrow<S extends Stream>(key: string, make: () => S): S {
  const idle = pool.get(key)?.pop();
  if (idle === undefined) return make();
  zlibContexts.pooled--;
  return idle as S;
}

/** Returns a healthy stream whose job is complete; beyond `limit` idle ones it is freed. */
function giveBack(kind: Kind, key: string, stream: Stream, limit: number): void {
  let idle = pool.get(key);
  if (idle === undefined) pool.set(key, (idle = []));
  if (idle.length >= limit) return freeStream(kind, stream);
  stream.reset();
  idle.push(stream);
  zlibContexts.pooled++;
}

/**
 * Runs jobs one after another, in order. Jobs on one zlib stream must not overlap: each
 * listens to the stream's output, so two at once would mix their messages.
 */
class Serial<T> {
  private readonly waiting: T[] = [];
  private busy = false;
  constructor(private readonly start: (job: T, next: () => void) => void) {}

  push(job: T): void {
    this.waiting.push(job);
    if (!this.busy) this.next();
  }

  /** Takes out the jobs not started yet. */
  drain(): T[] {
    return this.waiting.splice(0);
  }

  private readonly next = (): void => {
    const job = this.waiting.shift();
    this.busy = job !== undefined;
    if (job !== undefined) this.start(job, this.next);
  };
}

type CompressJob = { data: Buffer; done: Done };
type DecompressJob = { data: Buffer; maxSize: number; done: Done };

export class DeflateCodec implements MessageCodec {
  readonly threshold: number;
  // Per-connection streams, for context takeover; made on first use, as many connections
  // never send a message big enough to compress.
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;
  private closed = false;
  private readonly compressions = new Serial<CompressJob>((job, next) => this.compressNow(job, next));
  private readonly decompressions = new Serial<DecompressJob>((job, next) => this.decompressNow(job, next));
  private readonly deflateOptions: zlib.ZlibOptions;
  private readonly inflateOptions: zlib.ZlibOptions;

  constructor(
    private readonly params: DeflateParams,
    options: ResolvedDeflateOptions,
    private readonly limiter: JobLimiter = sharedLimiter(options.concurrency),
  ) {
    this.threshold = options.threshold;
    this.deflateOptions = {
      level: options.level,
      memLevel: options.memLevel,
      // zlib rejects a raw 8-bit window (Node quietly turns 8 into 9). A 9-bit window is
      // still right for a peer that agreed to 8: zlib never emits a match distance over
      // window size - 262 (MAX_DIST), i.e. 250 bytes, which fits a 256-byte window.
      windowBits: Math.max(9, params.serverMaxWindowBits),
    };
    // The client promised to stay within the agreed window (15 unless we asked for less),
    // so a smaller window saves memory. A client breaking that promise gets a 1007 once it
    // refers back past what this window holds.
    this.inflateOptions = { windowBits: params.clientMaxWindowBits };
  }

  compress(data: Buffer, done: Done): void {
    this.compressions.push({ data, done });
  }

  decompress(data: Buffer, maxSize: number, done: Done): void {
    this.decompressions.push({ data, maxSize, done });
  }

  /**
   * Runs `body` when the limiter allows, unless the codec closed meanwhile; `then` gets the
   * result, and the connection's next job starts after it.
   */
  private schedule(then: Done, next: () => void, body: (release: () => void, done: Done) => void): void {
    const done: Done = (err, result) => {
      try {
        then(err, result);
      } finally {
        next();
      }
    };
    this.limiter.run((release) => {
      if (!this.closed) return body(release, done);
      release();
      done(new CodecClosedError());
    });
  }

  private get deflateKey(): string {
    return `deflate ${this.deflateOptions.windowBits} ${this.deflateOptions.level} ${this.deflateOptions.memLevel}`;
  }

  private get inflateKey(): string {
    return `inflate ${this.inflateOptions.windowBits}`;
  }

  // Without context takeover a stream is borrowed from the pool for one job; with it, the
  // connection keeps its own, made on first use.
  private deflaterFor(): zlib.DeflateRaw {
    if (this.params.serverNoContextTakeover) return borrow(this.deflateKey, () => makeStream('deflate', this.deflateOptions));
    return (this.deflater ??= makeStream('deflate', this.deflateOptions));
  }

  private inflaterFor(): zlib.InflateRaw {
    if (this.params.clientNoContextTakeover) return borrow(this.inflateKey, () => makeStream('inflate', this.inflateOptions));
    return (this.inflater ??= makeStream('inflate', this.inflateOptions));
  }

  /** After a job: a pooled stream goes back (or is freed if broken); an own broken one is freed. */
  private returnStream(kind: Kind, stream: Stream, healthy: boolean): void {
    const pooled = kind === 'deflate' ? this.params.serverNoContextTakeover : this.params.clientNoContextTakeover;
    if (pooled) {
      if (healthy) giveBack(kind, kind === 'deflate' ? this.deflateKey : this.inflateKey, stream, this.limiter.limit);
      else freeStream(kind, stream);
      return;
    }
    if (healthy) return;
    if (kind === 'inflate' && this.inflater === stream) {
      this.inflater = null;
      freeStream(kind, stream);
    }
  }

  private compressNow({ data, done: then }: CompressJob, next: () => void): void {
    this.schedule(then, next, (release, done) => {
      const deflater = this.deflaterFor();
      const chunks: Buffer[] = [];
      let length = 0;
      let finished = false;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
      };
      const finish = (err: Error | null) => {
        if (finished) return;
        finished = true;
        deflater.off('data', onData);
        deflater.off('error', finish);
        release();
        this.returnStream('deflate', deflater, err === null);
        if (this.closed) return done(new CodecClosedError());
        if (err) return done(err);
        let out = Buffer.concat(chunks, length);
        // A sync flush ends with an empty stored block, 00 00 ff ff, which RFC 7692 drops.
        if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
        done(null, out);
      };
      deflater.on('data', onData);
      deflater.once('error', finish);
      // The stream sync-flushes every write (see makeStream), so this is one thread-pool job,
      // not a write plus a flush. Its callback comes after the last 'data' (drainOutput).
      deflater.write(data, (err) => finish(err ?? drainOutput(deflater)));
    });
  }

  private decompressNow({ data, maxSize, done: then }: DecompressJob, next: () => void): void {
    this.schedule(then, next, (release, done) => {
      const inflater = this.inflaterFor();
      const chunks: Buffer[] = [];
      let length = 0;
      let finished = false;
      // `reusable`: the stream finished its job cleanly and may inflate the next message.
      const finish = (err: Error | null, reusable: boolean) => {
        if (finished) return;
        finished = true;
        inflater.off('data', onData);
        inflater.off('error', onError);
        release();
        this.returnStream('inflate', inflater, reusable);
        if (this.closed) return done(new CodecClosedError());
        if (err) return done(err);
        done(null, Buffer.concat(chunks, length));
      };
      const onData = (chunk: Buffer) => {
        length += chunk.length;
        // Checked while inflating: a bomb is stopped at maxSize, not after it is all in memory.
        if (length > maxSize) {
          return finish(new ProtocolError('WS_MESSAGE_TOO_BIG', `inflated message exceeds the ${maxSize}-byte limit`), false);
        }
        chunks.push(chunk);
      };
      const onError = (err: Error) => finish(new ProtocolError('WS_INVALID_COMPRESSED_DATA', `corrupt compressed data: ${err.message}`), false);
      inflater.on('data', onData);
      inflater.on('error', onError);
      const consumedBefore = inflater.bytesWritten;
      // One write, message and tail together: one thread-pool job while the output fits the
      // stream's 16 KiB output buffer. More output comes in pieces of at most 16 KiB, each a
      // job and a 'data' event, so a bomb is still cut off at the first piece past maxSize.
      const input = Buffer.concat([data, TAIL], data.length + TAIL.length);
      inflater.write(input, (err) => {
        if (err) return onError(err);
        const stray = drainOutput(inflater);
        if (stray) return finish(stray, false);
        // A block with BFINAL set (RFC 7692 7.2.3.4) ends the DEFLATE stream and zlib ignores
        // what follows; the next message starts a new stream, so this one is done.
        const ended = inflater.bytesWritten - consumedBefore < input.length;
        finish(null, !ended);
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Jobs not started yet fail now; one in progress fails when zlib calls back.
    const error = new CodecClosedError();
    for (const job of this.compressions.drain()) job.done(error);
    for (const job of this.decompressions.drain()) job.done(error);
    if (this.deflater) freeStream('deflate', this.deflater);
    if (this.inflater) freeStream('inflate', this.inflater);
    this.deflater = null;
    this.inflater = null;
  }
}

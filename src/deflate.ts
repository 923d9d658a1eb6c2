// permessage-deflate (RFC 7692): the per-connection codec on node:zlib. Negotiation of
// the parameters is pure and lives in extensions.ts.
import * as zlib from 'node:zlib';
import type { DeflateOptions, DeflateParams } from './extensions';
import { ProtocolError } from './protocol/errors';

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

/** Runs at most `limit` jobs at once; zlib work is costly in memory and thread-pool time. */
export class JobLimiter {
  private running = 0;
  private readonly queue: ((release: () => void) => void)[] = [];
  constructor(readonly limit: number) {}

  run(job: (release: () => void) => void): void {
    if (this.running < this.limit) {
      this.running++;
      job(this.releaser());
    } else this.queue.push(job);
  }

  get active(): number {
    return this.running;
  }

  get pending(): number {
    return this.queue.length;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next(this.releaser());
      else this.running--;
    };
  }
}

const limiters = new Map<number, JobLimiter>();

/** The process-wide limiter for a concurrency setting. */
export function sharedLimiter(concurrency: number): JobLimiter {
  let limiter = limiters.get(concurrency);
  if (!limiter) limiters.set(concurrency, (limiter = new JobLimiter(concurrency)));
  return limiter;
}

/** Counts of live zlib contexts, for tests and monitoring. */
export const zlibContexts = { deflate: 0, inflate: 0 };

export class DeflateCodec implements MessageCodec {
  readonly threshold: number;
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;
  private closed = false;

  constructor(
    private readonly params: DeflateParams,
    private readonly options: Required<DeflateOptions>,
    private readonly limiter: JobLimiter = sharedLimiter(options.concurrency),
  ) {
    this.threshold = options.threshold;
  }

  compress(data: Buffer, done: Done): void {
    this.limiter.run((release) => {
      if (this.closed) {
        release();
        return done(new Error('codec closed'));
      }
      const deflater = this.getDeflater();
      const chunks: Buffer[] = [];
      let length = 0;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
      };
      const onError = (err: Error) => finish(err);
      const finish = (err: Error | null) => {
        deflater.off('data', onData);
        deflater.off('error', onError);
        release();
        if (err) return done(err);
        let out = Buffer.concat(chunks, length);
        // A sync flush ends with an empty stored block, 00 00 ff ff, which RFC 7692 drops.
        if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
        if (this.params.serverNoContextTakeover) deflater.reset();
        done(null, out);
      };
      deflater.on('data', onData);
      deflater.once('error', onError);
      deflater.write(data);
      deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (!this.closed) finish(null);
        else {
          deflater.off('data', onData);
          release();
          done(new Error('codec closed'));
        }
      });
    });
  }

  decompress(data: Buffer, maxSize: number, done: Done): void {
    this.limiter.run((release) => {
      if (this.closed) {
        release();
        return done(new Error('codec closed'));
      }
      const inflater = this.getInflater();
      const chunks: Buffer[] = [];
      let length = 0;
      let finished = false;
      const finish = (err: Error | null) => {
        if (finished) return;
        finished = true;
        inflater.off('data', onData);
        inflater.off('error', onError);
        release();
        if (err) {
          // The context is now unusable; the connection fails anyway.
          this.dropInflater();
          return done(err);
        }
        if (this.params.clientNoContextTakeover) inflater.reset();
        done(null, Buffer.concat(chunks, length));
      };
      const onData = (chunk: Buffer) => {
        length += chunk.length;
        // Checked while inflating: a bomb is stopped at maxSize, not after it is all in memory.
        if (length > maxSize) return finish(new ProtocolError(`inflated message exceeds the ${maxSize}-byte limit`, 1009));
        chunks.push(chunk);
      };
      const onError = (err: Error) => finish(new ProtocolError(`corrupt compressed data: ${err.message}`, 1007));
      inflater.on('data', onData);
      inflater.on('error', onError);
      inflater.write(data);
      inflater.write(TAIL);
      inflater.flush(() => finish(null));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.deflater) {
      this.deflater.close();
      this.deflater = null;
      zlibContexts.deflate--;
    }
    this.dropInflater();
  }

  private dropInflater(): void {
    if (!this.inflater) return;
    const inflater = this.inflater;
    this.inflater = null;
    zlibContexts.inflate--;
    inflater.on('error', () => {}); // a late error from a destroyed stream is of no interest
    inflater.close();
  }

  // Contexts are made on first use: many connections never send a large message.
  private getDeflater(): zlib.DeflateRaw {
    if (!this.deflater) {
      this.deflater = zlib.createDeflateRaw({
        level: this.options.level,
        memLevel: this.options.memLevel,
        windowBits: this.params.serverMaxWindowBits,
      });
      zlibContexts.deflate++;
    }
    return this.deflater;
  }

  private getInflater(): zlib.InflateRaw {
    if (!this.inflater) {
      // A 15-bit window inflates anything a smaller client window produced.
      this.inflater = zlib.createInflateRaw({ windowBits: 15 });
      zlibContexts.inflate++;
    }
    return this.inflater;
  }
}

// A frame parser's input: the chunks received and not yet consumed, read across chunk
// edges without joining them, and payload bytes moved out unmasked (RFC 6455 5.3).
import { Buffer } from 'node:buffer';
import { copyMasked, unmaskAscii } from './mask';

// Shared by every reader: reading is synchronous, so no state is kept here between calls.
const MASK = Buffer.alloc(4);

export abstract class ChunkReader {
  // Unconsumed input: chunks[0] is read from `offset`.
  protected chunks: Buffer[] = [];
  protected offset = 0;
  protected buffered = 0;
  /** Whether the current frame is masked, and its 4 mask bytes (big-endian). */
  protected masked = false;
  protected mask = 0;

  /**
   * Consumes the next n payload bytes into target at `at` (also their position in the
   * payload), unmasking them on the way.
   */
  protected moveOut(target: Buffer, at: number, n: number): void {
    let done = 0;
    while (done < n) {
      const chunk = this.chunks[0];
      const start = this.offset;
      const count = Math.min(chunk.length - start, n - done);
      if (this.masked) {
        MASK.writeUInt32BE(this.mask >>> 0, 0);
        copyMasked(chunk, start, start + count, target, at + done, MASK, at + done);
      } else {
        chunk.copy(target, at + done, start, start + count);
      }
      done += count;
      this.skip(count);
    }
  }

  /**
   * Unmasks buf[start, end), `phase` being the position of `start` in the payload. Returns
   * whether those bytes are all ASCII when unmasking found it out (see unmaskAscii), else undefined.
   */
  protected unmask(buf: Buffer, start: number, end: number, phase: number): boolean | undefined {
    if (!this.masked || end === start) return undefined;
    MASK.writeUInt32BE(this.mask >>> 0, 0);
    return unmaskAscii(buf, MASK, start, end, phase);
  }

  /** Copies the next n buffered bytes into target at `at`, without consuming them. */
  protected copyOut(target: Buffer, at: number, n: number): void {
    let written = 0;
    let from = this.offset;
    for (const chunk of this.chunks) {
      if (written === n) return;
      const count = Math.min(chunk.length - from, n - written);
      chunk.copy(target, at + written, from, from + count);
      written += count;
      from = 0;
    }
  }

  protected skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const chunk = this.chunks[0];
      const left = chunk.length - this.offset;
      if (n < left) {
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

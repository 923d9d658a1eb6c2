// What the two transports share: each wraps one Node Duplex (a socket, an HTTP/2 stream)
// and reports its write buffer as the outbox needs it.
import type { Duplex } from 'node:stream';

export abstract class DuplexTransport {
  constructor(protected readonly duplex: Duplex) {}

  /** Bytes accepted by write() and not yet handed on. */
  get writableLength(): number {
    return this.duplex.writableLength;
  }

  get writableHighWaterMark(): number {
    return this.duplex.writableHighWaterMark;
  }

  get needDrain(): boolean {
    return this.duplex.writableNeedDrain;
  }
}

// The transport for a WebSocket carried on an HTTP/2 stream (RFC 8441): the stream's DATA
// frames carry RFC 6455 frames both ways. Our END_STREAM plays the part of TCP's FIN, an
// RST_STREAM CANCEL that of a reset; neither touches the session or its other streams.
//
// Flow control (facts from Node 20's lib/internal/http2/core.js and node_http2.cc): a
// write to an Http2Stream is handed to the session at once, but its callback only runs
// once nghttp2 has put the bytes into DATA frames, which it does only while the peer's
// stream and session windows allow. Until then the write counts in stream.writableLength,
// so a peer that stops reading shows here as writableLength growing past the high-water
// mark, write() returning false and 'drain' coming once its WINDOW_UPDATEs arrive. Other
// streams of the session are scheduled independently by nghttp2 and keep moving.
// Reading: stream.pause() stops Node from consuming received DATA, so no WINDOW_UPDATE is
// sent and the peer's sending stops at the stream window: backpressure towards the peer.
import { constants, type ServerHttp2Stream } from 'node:http2';
import { DuplexTransport } from './duplex';
import type { Transport, TransportKind, TransportSink } from './transport';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = constants;

// Http2Stream keeps, under a private symbol, the bytes it handed to the native session and
// that have not been written out yet; its public `bufferSize` is that plus writableLength.
function handedBelow(stream: ServerHttp2Stream): number {
  const total = (stream as unknown as { bufferSize?: number }).bufferSize;
  if (typeof total !== 'number') return 0;
  return Math.max(0, total - stream.writableLength);
}

export class Http2StreamTransport extends DuplexTransport implements Transport {
  readonly kind: TransportKind = 'h2';
  readonly remoteAddress: string | undefined;
  private sink: TransportSink | null = null;
  private done = false;
  private closed = false;
  private endPending = false;

  constructor(readonly stream: ServerHttp2Stream) {
    super(stream);
    // The session's socket is gone once the session is destroyed: read the address now.
    this.remoteAddress = stream.session?.socket?.remoteAddress;
    // Until bind(), nothing reads: bytes that arrive early wait in the stream (and its window).
    stream.pause();
  }

  get ended(): boolean {
    return this.done || this.stream.destroyed || this.stream.writableEnded;
  }

  /** The HTTP/2 stream id, for logs and tests. */
  get id(): number | undefined {
    return this.stream.id;
  }

  bind(sink: TransportSink): void {
    if (this.sink) throw new Error('Http2StreamTransport.bind called twice');
    this.sink = sink;
    const stream = this.stream;
    stream.on('data', (chunk: Buffer) => sink.onData(chunk));
    // END_STREAM from the peer. The stream is half-open (allowHalfOpen): we may still write.
    // Node also ends the readable side when the peer resets the stream, and does so before
    // it marks the stream closed ('end', then 'aborted' and 'close'). A reset is no
    // END_STREAM (as a TCP reset is no FIN): onEnd waits a turn of the event loop and is
    // dropped if the stream turned out to be reset.
    stream.on('end', () => {
      this.endPending = true;
      setImmediate(() => this.flushEnd());
    });
    stream.on('drain', () => sink.onDrain());
    // A peer's RST_STREAM other than NO_ERROR/CANCEL, a session error: 'error', then 'close'.
    stream.on('error', (err: Error) => sink.onError(err));
    stream.on('close', () => this.onClosed());
    if (stream.destroyed || stream.closed) {
      // Gone between accept and bind: report it as it would have been.
      process.nextTick(() => this.onClosed());
      return;
    }
    stream.resume();
  }

  private flushEnd(): void {
    if (!this.endPending) return;
    this.endPending = false;
    if (this.stream.closed && this.stream.rstCode !== NGHTTP2_NO_ERROR) return;
    this.sink?.onEnd();
  }

  private onClosed(): void {
    if (this.closed) return;
    this.flushEnd();
    this.closed = true;
    this.done = true;
    this.sink?.onClose();
  }

  write(chunk: Buffer, callback?: (error?: Error | null) => void): boolean {
    if (this.ended) {
      if (callback) process.nextTick(callback, new Error('write after the HTTP/2 stream ended'));
      return false;
    }
    return callback ? this.stream.write(chunk, callback) : this.stream.write(chunk);
  }

  writeMany(chunks: readonly Buffer[], callback?: (error?: Error | null) => void): boolean {
    if (this.ended || chunks.length === 0) {
      if (callback) process.nextTick(callback, this.ended ? new Error('write after the HTTP/2 stream ended') : null);
      return !this.ended;
    }
    const last = chunks.length - 1;
    if (last === 0) return this.write(chunks[0], callback);
    // Http2Stream implements _writev: one corked batch becomes one handoff to the session.
    this.stream.cork();
    let ok = true;
    for (let i = 0; i <= last; i++) ok = i === last && callback ? this.stream.write(chunks[i], callback) : this.stream.write(chunks[i]);
    this.stream.uncork();
    return ok;
  }

  /**
   * END_STREAM once everything written is out. The connection calls this once the close
   * handshake is done (or the connection failed), when TCP would send its FIN. An HTTP/2
   * stream only closes when both sides have ended, and clients do not all end theirs on our
   * END_STREAM (undici 7 does not: its close event would wait forever), so when the peer's
   * side is still open, Node follows our END_STREAM with RST_STREAM NO_ERROR, which
   * RFC 9113 section 8.1 allows after a complete response. Nothing the peer could still send
   * matters by then.
   */
  end(): void {
    if (this.done) return;
    this.done = true;
    const stream = this.stream;
    if (stream.destroyed) return;
    stream.end();
    if (!stream.readableEnded && !stream.closed) stream.close(NGHTTP2_NO_ERROR);
  }

  /** RST_STREAM CANCEL now: queued bytes are dropped; the session and other streams live on. */
  destroy(): void {
    this.done = true;
    const stream = this.stream;
    if (stream.destroyed) return;
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    else stream.destroy();
  }

  pause(): void {
    if (!this.stream.destroyed) this.stream.pause();
  }

  resume(): void {
    if (this.sink && !this.stream.destroyed) this.stream.resume();
  }

  /**
   * Bytes handed to the HTTP/2 session for this stream and not yet framed: they shrink only
   * as the peer reads and opens its window. Per stream, so one stalled peer stream never
   * makes another look busy.
   */
  queuedBelow(): number {
    if (this.stream.destroyed) return 0;
    return handedBelow(this.stream);
  }
}

// The transport seam: what a WebSocket connection needs from whatever carries its bytes.
// A TCP or TLS socket (net-socket.ts) and an HTTP/2 stream each sit behind this interface,
// so the codec, the outbox and the endpoint never see Node's stream classes.

/** What the connection hears from its transport. Called with the transport as `this`-free functions. */
export interface TransportSink {
  /** Bytes from the peer. */
  onData(chunk: Buffer): void;
  /** The peer finished sending (TCP FIN, HTTP/2 END_STREAM). */
  onEnd(): void;
  /** The transport is gone; no more events follow. */
  onClose(): void;
  /** A transport error (reset, TLS failure); onClose follows. */
  onError(error: Error): void;
  /** Everything queued earlier has been handed on; writing may go on. */
  onDrain(): void;
}

/** How the bytes travel, for stats and for users who ask. */
export type TransportKind = 'http/1.1' | 'h2';

export interface Transport {
  readonly kind: TransportKind;
  /** The peer's address as the connection reports it. */
  readonly remoteAddress: string | undefined;
  /** Bytes accepted by write() and not yet handed to the kernel (or the HTTP/2 session). */
  readonly writableLength: number;
  /** Above this many buffered bytes write() returns false. */
  readonly writableHighWaterMark: number;
  /** A write returned false and 'drain' has not come yet. */
  readonly needDrain: boolean;
  /** end() or destroy() was called; nothing more can be written. */
  readonly ended: boolean;
  /** Starts delivering events to the sink; called once, before the first read. */
  bind(sink: TransportSink): void;
  /** Writes one buffer; false means buffered past the high-water mark (wait for onDrain). */
  write(chunk: Buffer, callback?: (error?: Error | null) => void): boolean;
  /** Writes several buffers as one unit where the transport can (cork, writev); the callback follows the last. */
  writeMany(chunks: readonly Buffer[], callback?: (error?: Error | null) => void): boolean;
  /** Ends our side politely (FIN, END_STREAM) once buffered bytes are out. */
  end(): void;
  /** Tears the transport down now (socket destroy, RST_STREAM CANCEL). */
  destroy(): void;
  pause(): void;
  resume(): void;
  /**
   * Bytes still queued beneath the stream layer, shrinking as the peer reads them; 0 when
   * the transport cannot tell. The heartbeat uses it to tell a slow reader from a dead one.
   */
  queuedBelow(): number;
}

// The transport for an HTTP/1.1 upgrade: a net.Socket or tls.TLSSocket after the 101.
import type { Socket } from 'node:net';
import { DuplexTransport } from './duplex';
import type { Transport, TransportSink } from './transport';

const kTransport = Symbol('wsgate.transport');
type OwnedSocket = Socket & { [kTransport]: NetSocketTransport };

// Shared listener functions find their transport on the socket: no closures per connection.
function onData(this: OwnedSocket, chunk: Buffer): void {
  this[kTransport].sink!.onData(chunk);
}
function onEnd(this: OwnedSocket): void {
  this[kTransport].sink!.onEnd();
}
function onClose(this: OwnedSocket): void {
  this[kTransport].sink!.onClose();
}
function onError(this: OwnedSocket, error: Error): void {
  this[kTransport].sink!.onError(error);
}
function onDrain(this: OwnedSocket): void {
  this[kTransport].sink!.onDrain();
}

export class NetSocketTransport extends DuplexTransport implements Transport {
  readonly kind = 'http/1.1' as const;
  /** @internal */
  sink: TransportSink | null = null;

  constructor(private readonly socket: Socket) {
    super(socket);
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get ended(): boolean {
    return this.socket.writableEnded || this.socket.destroyed;
  }

  bind(sink: TransportSink): void {
    this.sink = sink;
    const socket = this.socket as OwnedSocket;
    socket[kTransport] = this;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.on('drain', onDrain);
  }

  write(chunk: Buffer, callback?: (error?: Error | null) => void): boolean {
    return this.socket.write(chunk, callback);
  }

  writeMany(chunks: readonly Buffer[], callback?: (error?: Error | null) => void): boolean {
    const socket = this.socket;
    const last = chunks.length - 1;
    socket.cork();
    let accepted = true;
    for (let i = 0; i <= last; i++) accepted = socket.write(chunks[i], i === last ? callback : undefined);
    socket.uncork();
    return accepted;
  }

  end(): void {
    if (!this.socket.writableEnded) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  queuedBelow(): number {
    // Node merges queued writes into one large write that completes only at its end; the
    // handle's live queue size shows the kernel taking it piece by piece (Node's own socket
    // timeout watches the same number). Only this adapter knows about the handle.
    const handle = (this.socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
    return handle?.writeQueueSize ?? 0;
  }
}

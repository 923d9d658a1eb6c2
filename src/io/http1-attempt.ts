// An HTTP/1.1 upgrade request ('upgrade' event: request, socket, head) as an UpgradeAttempt.
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { formatAccept, formatResponse, type ResponseHeaders } from '../core/http-response';
import { NetSocketTransport } from '../transport/net-socket';
import type { UpgradeAttempt } from './attempt';
import { DEFAULTS } from './settings';

function noop(): void {}

/** Ends a socket after a final response; a peer that never reads is cut after a while. */
export function writeAndEnd(socket: Socket, response: string): void {
  if (socket.destroyed) return;
  socket.on('error', noop); // a peer that resets mid-response is not our error
  socket.end(response);
  const timer = setTimeout(() => socket.destroy(), DEFAULTS.lingerTimeout).unref();
  socket.once('close', () => clearTimeout(timer));
}

export class Http1Attempt implements UpgradeAttempt {
  readonly form = 'http/1.1' as const;
  private early: Buffer[] | null = null;
  private earlyBytes = 0;
  private left = false;
  private goneListener: (() => void) | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly socket: Socket,
    private readonly head: Buffer,
  ) {
    socket.on('error', noop); // until a WebSocket owns the socket, resets are not errors
  }

  get method(): string {
    return this.req.method ?? '';
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
  get headers(): IncomingMessage['headers'] {
    return this.req.headers;
  }
  get url(): string {
    return this.req.url ?? '/';
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get gone(): boolean {
    return this.left || this.socket.destroyed;
  }

  onGone(listener: () => void): void {
    this.goneListener = listener;
  }

  await(maxBytes: number): void {
    this.watch();
    this.early = [this.head];
    this.earlyBytes = this.head.length;
    this.socket.on('data', this.onEarlyData);
    this.socket.on('end', this.onLeave);
    this.socket.on('close', this.onLeave);
    this.maxEarly = maxBytes;
    if (this.earlyBytes > maxBytes) this.socket.destroy();
  }

  refuse(status: number, headers: Record<string, string>, body: string): void {
    this.stopWaiting();
    writeAndEnd(this.socket, formatResponse(status, headers, body));
  }

  accept(headers: ResponseHeaders): { transport: NetSocketTransport; head: Buffer } | null {
    const waited = this.early !== null;
    const head = waited ? Buffer.concat(this.early!, this.earlyBytes) : this.head;
    this.stopWaiting();
    const socket = this.socket;
    if (this.left || socket.destroyed || !socket.writable) return null;
    if (waited) socket.pause();
    socket.off('error', noop);
    socket.write(formatAccept({ headers }));
    return { transport: new NetSocketTransport(socket), head };
  }

  handedOver(): void {
    this.stopWaiting();
  }

  destroy(): void {
    this.stopWaiting();
    this.socket.destroy();
  }

  /** The guards are done: stop holding early bytes and watching for the peer. */
  private stopWaiting(): void {
    if (this.early === null) return;
    this.socket.off('data', this.onEarlyData);
    this.socket.off('end', this.onLeave);
    this.socket.off('close', this.onLeave);
    this.early = null;
  }

  private maxEarly = 0;
  // Made only when the guards run: most attempts are answered at once.
  private onEarlyData: (chunk: Buffer) => void = noop;
  private onLeave: () => void = noop;

  private watch(): void {
    this.onEarlyData = (chunk) => {
      this.early!.push(chunk);
      this.earlyBytes += chunk.length;
      if (this.earlyBytes > this.maxEarly) this.socket.destroy();
    };
    this.onLeave = () => {
      this.left = true;
      this.socket.destroy();
      const listener = this.goneListener;
      this.goneListener = null;
      listener?.();
    };
  }
}

// One request to open a WebSocket, whatever form it came in: an HTTP/1.1 upgrade on a TCP
// or TLS socket, or an HTTP/2 extended CONNECT stream (RFC 8441). The endpoint's pipeline
// (guards, handshake, accept) works on this shape only.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderValue } from '../core/tokens';
import type { ResponseHeaders } from '../core/http-response';
import type { Transport, TransportKind } from '../transport/transport';

export interface UpgradeAttempt {
  readonly form: TransportKind;
  /** The request object the guards and the handler see. */
  readonly req: IncomingMessage;
  /** Request facts for the pure handshake; header names lower case. */
  readonly method: string;
  readonly httpVersion: string;
  readonly headers: Readonly<Record<string, HeaderValue>>;
  /** The request target: path and query. */
  readonly url: string;
  /** The peer's address. */
  readonly remoteAddress: string | undefined;
  /** The connection's socket, where Express middleware writes its response; HTTP/1.1 only. */
  readonly socket: Socket | null;
  /** True once the peer went away; nothing can be answered then. */
  readonly gone: boolean;
  /** Calls back once if the peer goes away before accept() or refuse(). */
  onGone(listener: () => void): void;
  /**
   * The guards are about to run and may take a while: watch for the peer leaving and hold
   * what it sends meanwhile, up to `maxBytes` (more is a reason to drop it).
   */
  await(maxBytes: number): void;
  /** The guards answered by themselves (a middleware's own response): let go of the request. */
  handedOver(): void;
  /** Drops the request without an answer (an internal failure). */
  destroy(): void;
  /** Answers with a complete HTTP response and ends the attempt. */
  refuse(status: number, headers: Record<string, string>, body: string): void;
  /**
   * Answers success (101 over HTTP/1.1, 200 over HTTP/2) with these headers and returns
   * the transport the connection runs on, with any bytes that came early; null when the
   * peer left meanwhile.
   */
  accept(headers: ResponseHeaders): { transport: Transport; head: Buffer } | null;
}

// The HTTP/2 form of an UpgradeAttempt: an extended CONNECT stream (RFC 8441 section 4)
// and its headers. refuse() answers a complete HTTP/2 response (HEADERS with :status, then
// the body and END_STREAM); accept() answers :status 200 without END_STREAM (section 5)
// and hands the stream over as an Http2StreamTransport.
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import {
  constants,
  Http2ServerRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { ResponseHeaders } from '../core/http-response';
import type { HeaderValue } from '../core/tokens';
import { Http2StreamTransport } from '../transport/http2-stream';
import type { UpgradeAttempt } from './attempt';

const { NGHTTP2_NO_ERROR } = constants;

// RFC 9113 section 8.2.2: never in an HTTP/2 message (Node throws on them in respond()).
// The framing of a refusal is ours (RFC 9113 section 8.1.1: END_STREAM ends the body).
const NOT_IN_H2 = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'http2-settings']);

// After a refusal, how long the peer may take to end its side before the stream is reset.
const REFUSAL_LINGER_MS = 5000;

function h2Headers(status: number, headers: ResponseHeaders, omit: ReadonlySet<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': status };
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith(':') || NOT_IN_H2.has(lower) || omit.has(lower)) continue;
    const value = headers[name];
    if (/[\r\n\0]/.test(name) || (typeof value === 'string' ? [value] : value).some((v) => /[\r\n\0]/.test(v))) {
      throw new TypeError(`header ${name} contains CR, LF or NUL`);
    }
    const prior = out[lower];
    if (prior === undefined) out[lower] = typeof value === 'string' ? value : [...value];
    else out[lower] = ([] as string[]).concat(prior as string | string[], value as string | string[]);
  }
  return out;
}

const OMIT_ON_REFUSE = new Set(['content-length']);
// RFC 9110 section 9.3.6: no Content-Length or Transfer-Encoding in a 2xx answer to CONNECT.
const OMIT_ON_ACCEPT = new Set(['content-length', 'content-type']);

export class Http2Attempt implements UpgradeAttempt {
  readonly form = 'h2' as const;
  readonly req: IncomingMessage;
  readonly method: string;
  readonly httpVersion = '2.0';
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly url: string;
  readonly remoteAddress: string | undefined;
  /** No socket of its own: Express middleware cannot write a raw HTTP/1.1 response here. */
  readonly socket = null;
  private answered = false;
  /** Set by await(): the most DATA the peer may send before the answer. */
  private maxEarly = Infinity;
  private goneListeners: (() => void)[] | null = [];

  constructor(
    readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders?: string[],
  ) {
    this.headers = headers as Readonly<Record<string, HeaderValue>>;
    this.method = String(headers[':method'] ?? '');
    this.url = String(headers[':path'] ?? '');
    this.remoteAddress = stream.session?.socket?.remoteAddress;
    // Nothing reads the stream until accept(): early DATA waits in it and in its window.
    stream.pause();
    // The request object the guards and the handler see: Node's compatibility request, which
    // has url, method, headers, httpVersion '2.0', socket (a proxy to the stream). `host`
    // is added from :authority when missing, for code written for HTTP/1.1.
    const reqHeaders: IncomingHttpHeaders = { ...headers };
    if (reqHeaders.host === undefined && typeof headers[':authority'] === 'string') reqHeaders.host = headers[':authority'];
    this.req = new Http2ServerRequest(stream, reqHeaders, {}, rawHeaders ?? []) as unknown as IncomingMessage;
    const onGone = () => this.fireGone();
    stream.once('close', onGone);
    stream.once('aborted', onGone);
  }

  get gone(): boolean {
    const s = this.stream;
    return s.destroyed || s.closed || s.aborted || s.session === undefined || s.session.destroyed;
  }

  onGone(listener: () => void): void {
    if (this.goneListeners === null) return;
    if (this.gone) {
      this.goneListeners = null;
      process.nextTick(listener);
      return;
    }
    this.goneListeners.push(listener);
  }

  private fireGone(): void {
    const listeners = this.goneListeners;
    this.goneListeners = null;
    if (this.answered || listeners === null) return;
    for (const listener of listeners) listener();
  }

  /**
   * The guards may take a while. The stream is paused, so what the peer sends meanwhile
   * stays in the stream, and HTTP/2 flow control bounds it: without our WINDOW_UPDATEs the
   * peer can send at most the stream window (the server's initialWindowSize setting, 65535
   * bytes by default). Beyond `maxBytes` the stream is reset (RST_STREAM
   * ENHANCE_YOUR_CALM), as the HTTP/1.1 form destroys its socket.
   */
  await(maxBytes: number): void {
    this.maxEarly = maxBytes;
    this.checkEarly();
  }

  /** Bytes of DATA buffered so far; checked against maxBytes at each answer. */
  private checkEarly(): boolean {
    if (this.stream.readableLength <= this.maxEarly) return true;
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    return false;
  }

  /**
   * The guards answered by themselves (a middleware's response through Node's
   * Http2ServerResponse on this stream). As after refuse(): once that response is out, a
   * client side still open is reset with NO_ERROR; an unfinished response is ended first.
   */
  handedOver(): void {
    this.answered = true;
    this.goneListeners = null;
    const stream = this.stream;
    if (stream.destroyed || stream.closed || stream.readableEnded) return;
    stream.resume();
    if (!stream.headersSent) {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.end();
    stream.close(NGHTTP2_NO_ERROR);
  }

  /** Drops the request without an answer: RST_STREAM INTERNAL_ERROR (the session lives on). */
  destroy(): void {
    this.answered = true;
    this.goneListeners = null;
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  refuse(status: number, headers: Record<string, string>, body: string): void {
    if (this.answered) return;
    this.answered = true;
    this.goneListeners = null;
    const stream = this.stream;
    if (this.gone || stream.headersSent) return;
    const out = h2Headers(status, headers, OMIT_ON_REFUSE);
    if (!Object.keys(out).some((k) => k === 'content-type')) out['content-type'] = 'text/plain; charset=utf-8';
    const bytes = Buffer.from(body);
    out['content-length'] = bytes.length;
    try {
      stream.respond(out, { endStream: bytes.length === 0 });
      if (bytes.length > 0) stream.end(bytes);
    } catch {
      if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // RFC 9113 section 8.1: after a complete response the server may reset with NO_ERROR a
    // request the client is still sending; a CONNECT's client side stays open otherwise.
    // Node sends that RST_STREAM only after our END_STREAM has been written.
    if (!stream.readableEnded) {
      stream.resume();
      stream.close(NGHTTP2_NO_ERROR);
      const timer = setTimeout(() => {
        if (!stream.destroyed) stream.destroy();
      }, REFUSAL_LINGER_MS);
      timer.unref();
      stream.once('close', () => clearTimeout(timer));
    }
  }

  accept(headers: ResponseHeaders): { transport: Http2StreamTransport; head: Buffer } | null {
    if (this.answered) throw new Error('the attempt was already answered');
    this.answered = true;
    this.goneListeners = null;
    if (this.gone || !this.checkEarly()) return null;
    const stream = this.stream;
    // Section 5: a 2xx opens the tunnel; END_STREAM stays for the end of the WebSocket.
    stream.respond(h2Headers(200, headers, OMIT_ON_ACCEPT), { endStream: false });
    // Early DATA frames are still in the stream's buffer and reach the sink after bind().
    return { transport: new Http2StreamTransport(stream), head: Buffer.alloc(0) };
  }
}

/** The UpgradeAttempt for one extended CONNECT stream. */
export function http2Attempt(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders?: string[]): Http2Attempt {
  return new Http2Attempt(stream, headers, rawHeaders);
}

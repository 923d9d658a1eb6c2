// attachWebSocket: one dispatcher per server listens for upgrade requests and hands each
// to the first endpoint whose path matches; unclaimed ones get 404.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Http2SecureServer, Http2Server } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { formatReject } from '../core/http-response';
import type { CheckPath, ParamsOf } from '../core/route-params';
import { splitUrl } from '../core/routes';
import { type Endpoint, EndpointImpl, type Handler } from './endpoint';
import { Http1Attempt, writeAndEnd } from './http1-attempt';
import type { Http2Attempt } from './http2-attempt';
import { type Http2Listening, listenHttp2 } from './http2-listen';
import { type AttachOptions, resolveSettings } from './settings';
import { handleAttempt } from './upgrade';

type AnyHttp2Server = Http2Server | Http2SecureServer;
/** Any server wsgate attaches to: HTTP/1.1 (http, https) or HTTP/2 (h2c, h2 with or without allowHTTP1). */
export type AttachableServer = HttpServer | HttpsServer | AnyHttp2Server;

function isHttp2(server: AttachableServer): server is AnyHttp2Server {
  return typeof (server as Partial<AnyHttp2Server>).updateSettings === 'function';
}

/** One upgrade listener per server, shared by every endpoint attached to it. */
class Dispatcher {
  private endpoints: EndpointImpl[] = [];
  private http2: Http2Listening | null = null;
  readonly listener = (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head);
  // Runs before every other upgrade listener: how many listeners a socket had as Node gave it.
  // Only needed when someone else listens too: the common case pays nothing.
  readonly baseline = (_req: IncomingMessage, socket: Socket) => {
    if ((this.server as Upgradable).listenerCount('upgrade') > OWN_LISTENERS) baselines.set(socket, listeners(socket));
  };

  constructor(private readonly server: AttachableServer) {}

  add(endpoint: EndpointImpl): void {
    // A closed endpoint stays only to answer 503 while nothing replaces it: attaching anew
    // (a restart in tests, hot reload) frees its paths.
    this.endpoints = this.endpoints.filter((e) => !e.closing);
    this.endpoints.push(endpoint);
    // HTTP/2 servers advertise extended CONNECT only once an endpoint wants it.
    if (this.http2 === null && endpoint.settings.http2 && isHttp2(this.server)) {
      this.http2 = listenHttp2(this.server, (attempt) => this.onConnect(attempt), {
        claims: (headers) => this.route(headers[':path'], true) !== null,
      });
    }
  }

  /** The first endpoint whose path matches (live ones before closed ones). */
  private route(url: string | undefined, http2: boolean): { endpoint: EndpointImpl; params: Params; query: Params } | null {
    const { pathname, query } = splitUrl(url);
    for (const endpoint of this.endpoints) {
      if (http2 && !endpoint.settings.http2) continue;
      const params = endpoint.settings.match(pathname);
      if (params) return { endpoint, params, query };
    }
    return null;
  }

  private onConnect(attempt: Http2Attempt): void {
    const found = this.route(attempt.url, true);
    if (found) handleAttempt(found.endpoint, attempt, found.params, found.query);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const found = this.route(req.url, false);
    if (found) return handleAttempt(found.endpoint, new Http1Attempt(req, socket, head), found.params, found.query);
    const { pathname } = splitUrl(req.url);
    const reason = `No WebSocket endpoint at ${pathname}`;
    if ((this.server as Upgradable).listenerCount('upgrade') === OWN_LISTENERS) return notFound(socket, reason);
    // Another upgrade listener may own this path. If by the next turn of the event loop it
    // has neither answered nor taken the socket (listened on it), nobody will: answer 404.
    const before = baselines.get(socket) ?? 0;
    setImmediate(() => {
      if (untouched(socket, before)) notFound(socket, reason);
    });
  }
}

function notFound(socket: Socket, reason: string): void {
  writeAndEnd(socket, formatReject({ status: 404, headers: {}, reason }));
}

const WATCHED = ['data', 'error', 'close', 'end'] as const;
const OWN_LISTENERS = 2;
const baselines = new WeakMap<Socket, number>();

function listeners(socket: Socket): number {
  let count = 0;
  for (const event of WATCHED) count += socket.listenerCount(event);
  return count;
}

/** True when no other listener wrote to, ended, destroyed or started listening on the socket. */
function untouched(socket: Socket, listenersBefore: number): boolean {
  if (socket.destroyed || socket.writableEnded || socket.bytesWritten > 0 || socket.writableLength > 0) return false;
  return listeners(socket) <= listenersBefore;
}

type Params = Record<string, string | string[]>;
type Upgradable = HttpServer | HttpsServer;

const dispatchers = new WeakMap<AttachableServer, Dispatcher>();

/**
 * attachWebSocket's options with the path as a type parameter: a literal path types
 * `req.params`, and an Express 4 pattern ("/chat/:room?") is a compile error.
 */
export type AttachOptionsFor<Path extends string = string> = Omit<AttachOptions, 'path'> & {
  /** Exact path, list, or Express 5 pattern ("/rooms/:room", "/files/*path", "/users{/:id}"). Default: every path. */
  path?: CheckPath<Path> | readonly CheckPath<Path>[];
};

/**
 * Serves WebSocket connections on an existing server, sharing its port: HTTP/1.1 upgrades
 * on http, https and allowHTTP1 servers, and RFC 8441 extended CONNECT streams on HTTP/2
 * servers. Several endpoints may be attached to one server; they are tried in order.
 * `req.params` is typed from a literal `path` (`/rooms/:room` gives `{ room: string }`).
 */
export function attachWebSocket<Path extends string = string>(
  server: AttachableServer,
  handler: Handler<ParamsOf<Path>>,
  options: AttachOptionsFor<Path> = {},
): Endpoint {
  if (typeof handler !== 'function') throw new TypeError('attachWebSocket: handler must be a function');
  const endpoint = new EndpointImpl(handler as Handler, resolveSettings(options as AttachOptions));
  let dispatcher = dispatchers.get(server);
  if (!dispatcher) {
    dispatcher = new Dispatcher(server);
    dispatchers.set(server, dispatcher);
    // HTTP/2 servers with allowHTTP1 emit 'upgrade' for their HTTP/1.1 connections too.
    (server as Upgradable).prependListener('upgrade', dispatcher.baseline);
    (server as Upgradable).on('upgrade', dispatcher.listener);
  }
  dispatcher.add(endpoint);
  return endpoint;
}

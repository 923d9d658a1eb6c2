// attachWebSocket: one dispatcher per server listens for upgrade requests and hands each
// to the first endpoint whose path matches; unclaimed ones get 404.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { formatReject } from '../core/http-response';
import { splitUrl } from '../core/routes';
import { type Endpoint, EndpointImpl, type Handler } from './endpoint';
import { Http1Attempt, writeAndEnd } from './http1-attempt';
import { type AttachOptions, resolveSettings } from './settings';
import { handleAttempt } from './upgrade';

type AnyServer = HttpServer | HttpsServer;

/** One upgrade listener per server, shared by every endpoint attached to it. */
class Dispatcher {
  private endpoints: EndpointImpl[] = [];
  readonly listener = (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head);
  // Runs before every other upgrade listener: how many listeners a socket had as Node gave it.
  readonly baseline = (_req: IncomingMessage, socket: Socket) => baselines.set(socket, listeners(socket));

  constructor(private readonly server: AnyServer) {}

  add(endpoint: EndpointImpl): void {
    // A closed endpoint stays only to answer 503 while nothing replaces it: attaching anew
    // (a restart in tests, hot reload) frees its paths.
    this.endpoints = this.endpoints.filter((e) => !e.closing);
    this.endpoints.push(endpoint);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { pathname, query } = splitUrl(req.url);
    for (const endpoint of this.endpoints) {
      const params = endpoint.settings.match(pathname);
      if (params) return handleAttempt(endpoint, new Http1Attempt(req, socket, head), params, query);
    }
    const reason = `No WebSocket endpoint at ${pathname}`;
    if (this.server.listenerCount('upgrade') === OWN_LISTENERS) return notFound(socket, reason);
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

const dispatchers = new WeakMap<AnyServer, Dispatcher>();

/**
 * Serves WebSocket connections on an existing http or https server, sharing its port.
 * Several endpoints may be attached to one server; they are tried in order.
 */
export function attachWebSocket(server: AnyServer, handler: Handler, options: AttachOptions = {}): Endpoint {
  if (typeof handler !== 'function') throw new TypeError('attachWebSocket: handler must be a function');
  const endpoint = new EndpointImpl(handler, resolveSettings(options));
  let dispatcher = dispatchers.get(server);
  if (!dispatcher) {
    dispatcher = new Dispatcher(server);
    dispatchers.set(server, dispatcher);
    server.prependListener('upgrade', dispatcher.baseline);
    server.on('upgrade', dispatcher.listener);
  }
  dispatcher.add(endpoint);
  return endpoint;
}

// Express middleware before an HTTP/2 extended CONNECT (RFC 8441): the HTTP/2 twin of
// middleware.ts, with the same contract (a MiddlewareRun that settles exactly once).
//
// Express cannot run on Node's compatibility objects as they are: app.handle (Express 5) and
// the init middleware (Express 4) set the prototypes of req and res to app.request and
// app.response, which inherit from http.IncomingMessage and http.ServerResponse, and the
// Http2ServerRequest / Http2ServerResponse getters (url, method, headers, statusCode, ...)
// are lost. This runner's private Express app gets its own app.request and app.response:
// Express's methods (and the user's app extensions, when `app` is given) copied onto
// objects that inherit from Http2ServerRequest.prototype and Http2ServerResponse.prototype.
//
// The response is an Http2ServerResponse on a stand-in for the stream: while the middleware
// decides, the stand-in forwards to the real stream, so res.status(401).send() goes out as
// a real HTTP/2 response (HEADERS :status 401, DATA, END_STREAM). Once the run settled
// any other way (accept, error, timeout), the stand-in is cut off: a late res.write() or
// res.end() from a confused middleware reaches nothing, never the WebSocket's DATA frames.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';
import { type Middleware, privateApp, type Req, settler, startRun } from './express-app';
import type { CheckOutcome } from './outcome';

/** Runs the middleware for one HTTP/2 request on its stream; `timeoutMs` is what is left of the budget. */
export type MiddlewareRunH2 = (req: IncomingMessage, stream: ServerHttp2Stream, timeoutMs: number) => Promise<CheckOutcome>;

/**
 * The members of `from` and its prototypes down to (not including) `stop`, nearest first,
 * defined on a new object inheriting from `base`. Express's request and response methods
 * (and extensions a user put on app.request / app.response) on top of the HTTP/2 classes.
 */
function rebase(from: object, stop: object, base: object): object {
  const chain: object[] = [];
  for (let p: object | null = from; p !== null && p !== stop && p !== Object.prototype; p = Object.getPrototypeOf(p)) chain.push(p);
  const descriptors: PropertyDescriptorMap = {};
  for (let i = chain.length - 1; i >= 0; i--) Object.assign(descriptors, Object.getOwnPropertyDescriptors(chain[i]));
  delete (descriptors as { constructor?: unknown }).constructor;
  return Object.create(base, descriptors);
}

const STREAM_EVENTS = new Set(['on', 'addListener', 'once', 'prependListener', 'prependOnceListener']);
const DETACHED_NOOP = new Set(['respond', 'write', 'end', 'close', 'destroy', 'setTimeout', 'pushStream', 'additionalHeaders', 'sendTrailers', 'cork', 'uncork']);

/**
 * A stand-in for the stream that Http2ServerResponse writes to. detach() removes the
 * listeners the response put on the real stream and turns the stand-in into a closed,
 * inert stream.
 */
function standIn(stream: ServerHttp2Stream): { proxy: ServerHttp2Stream; detach(): void } {
  const added: [string | symbol, (...args: any[]) => void][] = [];
  let detached = false;
  const proxy = new Proxy(stream, {
    get(target, prop) {
      if (detached) {
        if (prop === 'destroyed' || prop === 'closed' || prop === 'writableEnded' || prop === 'writableFinished') return true;
        if (prop === 'headersSent' || prop === 'writable') return false;
        if (typeof prop === 'string' && DETACHED_NOOP.has(prop)) {
          return (...args: unknown[]) => {
            const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
            if (cb) process.nextTick(cb);
            return false;
          };
        }
      }
      if (typeof prop === 'string' && STREAM_EVENTS.has(prop)) {
        return (event: string | symbol, listener: (...args: any[]) => void) => {
          if (detached) return proxy;
          added.push([event, listener]);
          (target[prop as 'on'] as (e: string | symbol, l: (...args: any[]) => void) => unknown).call(target, event, listener);
          return proxy;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    proxy,
    detach() {
      if (detached) return;
      detached = true;
      for (const [event, listener] of added) stream.removeListener(event, listener);
      added.length = 0;
    },
  };
}

/**
 * Compiles the middleware list for HTTP/2 requests. The run settles exactly once: accept
 * (with the headers the middleware set, for the 200), a response the middleware wrote on
 * the stream, an error, a timeout (503 after `timeoutMs`; 0 disables) or the client leaving
 * (the stream closed or reset). With `parent` (the user's Express app) the middleware sees
 * its settings, locals and request/response extensions, as over HTTP/1.1.
 */
export function middlewareRunnerH2(use: readonly Middleware[], parent?: unknown): MiddlewareRunH2 {
  const app = privateApp(use, parent, (app) => {
    // app.request keeps its own `app` property; what it inherits becomes HTTP/2-based. The
    // copy is taken now: extensions added to the parent's app.request later are not seen.
    Object.setPrototypeOf(app.request, rebase(Object.getPrototypeOf(app.request), IncomingMessage.prototype, Http2ServerRequest.prototype));
    Object.setPrototypeOf(app.response, rebase(Object.getPrototypeOf(app.response), ServerResponse.prototype, Http2ServerResponse.prototype));
  });
  return (request, stream, timeoutMs) =>
    new Promise<CheckOutcome>((resolve) => {
      const req = request as Req;
      const { proxy, detach } = standIn(stream);
      const res = new Http2ServerResponse(proxy) as Http2ServerResponse & { statusCode: number };
      const { settle, keep } = settler(req, resolve, (outcome) => {
        stream.off('close', onGone);
        stream.off('aborted', onGone);
        stream.off('finish', onFinish);
        // Unless the middleware answered, cut the response off from the stream.
        if (outcome.kind !== 'responded') detach();
      });
      // Headers are out: the response can be neither replaced nor completed by us. The
      // attempt's handedOver() ends the stream after what was written.
      const responded = () => settle({ kind: 'responded', status: res.statusCode });
      const onGone = () => {
        if (stream.headersSent) return responded();
        settle({ kind: 'reject', status: 400, headers: {}, body: 'client went away' });
      };
      // The middleware's response is complete (END_STREAM handed to the session).
      const onFinish = () => {
        if (stream.headersSent) responded();
      };
      stream.on('close', onGone);
      stream.on('aborted', onGone);
      stream.on('finish', onFinish);
      startRun(app, req, res, timeoutMs, { sent: () => stream.headersSent, responded, settle, keep });
    });
}

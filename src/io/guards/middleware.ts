// Express middleware before the upgrade: the `use` list runs in a small private Express
// app with a real ServerResponse bound to the upgrade socket, so a middleware can refuse
// with a genuine HTTP response; nothing reaches the socket until the decision is made.
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { statusText } from '../../core/http-response';
import type { CheckOutcome } from './outcome';

/** An Express-style middleware: (req, res, next). */
export type Middleware = (req: any, res: any, next: (err?: unknown) => void) => unknown;

const kState = Symbol('wsgate.checks');

interface RunState {
  params: unknown;
  done(err: unknown): void;
}

type Req = IncomingMessage & { params?: unknown; [kState]?: RunState };

type ExpressApp = ((req: any, res: any, next: (err?: unknown) => void) => void) & {
  use: (...fns: unknown[]) => unknown;
  disable: (name: string) => unknown;
  emit: (event: string, ...args: unknown[]) => boolean;
  locals: unknown;
  parent?: unknown;
};

// Express's router gives every middleware its own (empty) params; give back the endpoint's,
// so a guard on "/rooms/:room" can read req.params.room. A rejected promise from an async
// middleware goes to next(err) here, as Express 5 does and Express 4 does not; the promise is
// not returned, so Express 5 does not report it a second time.
function withRouteParams(fn: Middleware): Middleware {
  if (typeof fn !== 'function') return fn;
  if (fn.length === 4) {
    const handler = fn as unknown as (err: unknown, req: Req, res: unknown, next: (e?: unknown) => void) => unknown;
    return ((err: unknown, req: Req, res: unknown, next: (e?: unknown) => void) => {
      if (req[kState]) req.params = req[kState].params;
      forwardRejection(handler(err, req, res, next), next);
    }) as unknown as Middleware;
  }
  return (req: Req, res, next) => {
    if (req[kState]) req.params = req[kState].params;
    forwardRejection(fn(req, res, next), next);
  };
}

function forwardRejection(result: unknown, next: (err?: unknown) => void): void {
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(undefined, (err: unknown) => next(err ?? new Error('middleware rejected')));
  }
}

/** Runs the middleware for one request; `timeoutMs` is what is left of the guards' budget. */
export type MiddlewareRun = (req: IncomingMessage, socket: Socket, timeoutMs: number) => Promise<CheckOutcome>;

/**
 * Compiles the middleware list into a function that runs it for one request. The run
 * settles exactly once: accept, a response the middleware wrote, an error, a timeout
 * (503 after `timeoutMs`; 0 disables) or the client leaving. With `parent` (the user's
 * Express app) the middleware sees its settings (trust proxy, ...), locals and extensions.
 */
export function middlewareRunner(use: readonly Middleware[], parent?: unknown): MiddlewareRun {
  // Express is loaded only by endpoints that use middleware; it stays an optional peer.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  let express: () => ExpressApp;
  try {
    express = require('express') as () => ExpressApp;
  } catch (err) {
    throw new Error('the `use` option runs Express middleware and needs the express package: npm install express', { cause: err });
  }
  const app = express();
  app.disable('x-powered-by');
  if (parent !== undefined) {
    const p = parent as { use?: unknown; locals?: unknown };
    if (typeof parent !== 'function' || typeof p.use !== 'function' || p.locals === undefined) {
      throw new TypeError('app must be an Express application');
    }
    // What app.use(subApp) does, without routing the parent's HTTP traffic through us.
    app.parent = parent;
    app.emit('mount', parent);
    app.locals = p.locals;
  }
  for (const fn of use) app.use(withRouteParams(fn));
  app.use((req: Req) => req[kState]?.done(null));
  app.use((err: unknown, req: Req, _res: unknown, _next: unknown) => req[kState]?.done(err ?? new Error('middleware error')));

  return (request, socket, timeoutMs) =>
    new Promise<CheckOutcome>((resolve) => {
      const req = request as Req;
      const params = req.params;
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false; // the response says Connection: close; we end the socket after it
      res.assignSocket(socket);
      let settled = false;
      let owned = true; // the response may still write to the socket
      let timer: NodeJS.Timeout | undefined;

      const settle = (outcome: CheckOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('close', onClose);
        delete req[kState];
        req.params = params;
        // Unless the middleware answered, take the socket back: a late res.end() then goes nowhere.
        if (outcome.kind !== 'responded' && owned) {
          owned = false;
          res.detachSocket(socket);
        }
        resolve(outcome);
      };
      // Headers are out: the response can be neither replaced nor, if unfinished, completed.
      const responded = () => {
        if (!res.writableEnded) socket.destroy();
        settle({ kind: 'responded', status: res.statusCode });
      };
      const onClose = () => settle({ kind: 'reject', status: 400, headers: {}, body: 'client went away' });

      // The middleware's response is flushed to the socket: now end the connection.
      res.on('finish', () => {
        if (owned) {
          socket.end();
          // A peer that never closes its side must not hold the socket forever.
          setTimeout(() => socket.destroy(), 5000).unref();
        }
        settle({ kind: 'responded', status: res.statusCode });
      });
      // E.g. a write after end by a confused middleware; once accepted, the socket is not ours to cut.
      res.on('error', () => {
        if (owned) socket.destroy();
      });
      socket.on('close', onClose);
      if (timeoutMs > 0 && timeoutMs < Infinity) {
        timer = setTimeout(() => {
          if (res.headersSent) return responded();
          settle({
            kind: 'reject',
            status: 503,
            headers: {},
            body: 'handshake checks timed out',
            error: new Error(`handshake middleware took longer than ${timeoutMs} ms`),
          });
        }, timeoutMs);
      }
      req[kState] = {
        params,
        done: (err) => {
          if (res.headersSent) return responded();
          settle(err ? errorOutcome(err) : { kind: 'accept', headers: carriedHeaders(res) });
        },
      };
      // Express gets here only when the chain ended early, as with next('router'): that must not
      // skip the remaining checks into an accept. Express's own final handler would say 404.
      const finalHandler = (err?: unknown) => {
        const state = req[kState];
        if (!state) return;
        if (err || res.headersSent) return state.done(err);
        settle({ kind: 'reject', status: 404, headers: {}, body: statusText(404) });
      };
      try {
        app(req, res, finalHandler);
      } catch (err) {
        settle(errorOutcome(err));
      }
    });
}

// Headers that describe the 101 itself or a body; the handshake owns them.
const NOT_CARRIED = new Set([
  'connection',
  'upgrade',
  'content-length',
  'content-type',
  'transfer-encoding',
  'keep-alive',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** Headers a middleware set before calling next(), such as a session's Set-Cookie. */
function carriedHeaders(res: ServerResponse): Record<string, string | string[]> | undefined {
  let out: Record<string, string | string[]> | undefined;
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (value === undefined || NOT_CARRIED.has(name)) continue;
    (out ??= {})[name] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return out;
}

/** The answer to a middleware's next(err) or throw: the error's status, its message if it may be shown. */
export function errorOutcome(err: unknown): CheckOutcome {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  const raw = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
  const status = Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  // As http-errors: client errors say what went wrong, server errors do not leak details.
  const expose = status < 500 && e?.expose !== false && typeof e?.message === 'string' && e.message !== '';
  return { kind: 'reject', status, headers: {}, body: expose ? String(e.message) : statusText(status), error: err };
}

// What the HTTP/1.1 and HTTP/2 middleware runners share: the private Express app the `use`
// list runs in, the endpoint's route params handed to each middleware, the headers a
// middleware sets that go out with the success response, and the answer to next(err).
import type { IncomingMessage } from 'node:http';
import { statusText } from '../../core/http-response';
import { type CheckOutcome, timedOut } from './outcome';

/** An Express-style middleware: (req, res, next). */
export type Middleware = (req: any, res: any, next: (err?: unknown) => void) => unknown;

export const kState = Symbol('wsgate.checks');

/** What a run keeps on its request while the middleware decides. */
export interface RunState {
  params: unknown;
  done(err: unknown): void;
}

export type Req = IncomingMessage & { params?: unknown; [kState]?: RunState };

export type ExpressApp = ((req: any, res: any, next: (err?: unknown) => void) => void) & {
  use: (...fns: unknown[]) => unknown;
  disable: (name: string) => unknown;
  emit: (event: string, ...args: unknown[]) => boolean;
  locals: unknown;
  parent?: unknown;
  request: object;
  response: object;
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

/**
 * The private Express app for a `use` list, mounted under the user's app when given (its
 * settings, locals and extensions are then seen). `adapt` runs after mounting, before the
 * middleware is added (the HTTP/2 runner rebases app.request/app.response there).
 */
export function privateApp(use: readonly Middleware[], parent: unknown, adapt?: (app: ExpressApp) => void): ExpressApp {
  // Express is loaded only by endpoints that use middleware; it stays an optional peer.
  let express: () => ExpressApp;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
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
  adapt?.(app);
  for (const fn of use) app.use(withRouteParams(fn));
  app.use((req: Req) => req[kState]?.done(null));
  app.use((err: unknown, req: Req, _res: unknown, _next: unknown) => req[kState]?.done(err ?? new Error('middleware error')));
  return app;
}

// Headers that describe the success response itself or a body; the handshake owns them.
// (Those HTTP/2 forbids, such as Connection, are dropped again when its 200 is sent.)
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
export function carriedHeaders(res: { getHeaders(): Record<string, unknown> }): Record<string, string | string[]> | undefined {
  let out: Record<string, string | string[]> | undefined;
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (value === undefined || name.startsWith(':') || NOT_CARRIED.has(name)) continue;
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

/** How a runner's response object tells the shared run what happened. */
export interface RunHooks {
  /** The middleware's response headers are out: the request is answered. */
  sent(): boolean;
  responded(): void;
  settle(outcome: CheckOutcome): void;
  /** The budget's timer, armed before the app runs, for the runner to clear when it settles. */
  keep(timer: NodeJS.Timeout): void;
}

/**
 * Runs the private app for one request: the time budget (503 unless the middleware already
 * answered), the done hook the last middleware calls, and a final handler for a chain that
 * ended early (next('router') must not skip into an accept: 404, as Express would say).
 */
export function startRun(app: ExpressApp, req: Req, res: unknown, timeoutMs: number, hooks: RunHooks): void {
  if (timeoutMs > 0 && timeoutMs < Infinity) {
    hooks.keep(
      setTimeout(() => {
        if (hooks.sent()) return hooks.responded();
        hooks.settle(timedOut('the handshake middleware', timeoutMs));
      }, timeoutMs),
    );
  }
  req[kState] = {
    params: req.params,
    done: (err) => {
      if (hooks.sent()) return hooks.responded();
      hooks.settle(err ? errorOutcome(err) : { kind: 'accept', headers: carriedHeaders(res as { getHeaders(): Record<string, unknown> }) });
    },
  };
  const finalHandler = (err?: unknown) => {
    const state = req[kState];
    if (!state) return;
    if (err || hooks.sent()) return state.done(err);
    hooks.settle({ kind: 'reject', status: 404, headers: {}, body: statusText(404) });
  };
  try {
    app(req, res, finalHandler);
  } catch (err) {
    if (hooks.sent()) hooks.responded();
    else hooks.settle(errorOutcome(err));
  }
}

/**
 * The one way a run ends: at most once, the budget timer cleared, the request given back its
 * route params, then the runner's own `cleanup` and the outcome.
 */
export function settler(
  req: Req,
  resolve: (outcome: CheckOutcome) => void,
  cleanup: (outcome: CheckOutcome) => void,
): { settle(outcome: CheckOutcome): void; keep(timer: NodeJS.Timeout): void } {
  const params = req.params;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  return {
    settle(outcome) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      delete req[kState];
      req.params = params;
      cleanup(outcome);
      resolve(outcome);
    },
    keep(t) {
      timer = t;
    },
  };
}

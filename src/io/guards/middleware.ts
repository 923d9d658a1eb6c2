// Express middleware before the upgrade: the `use` list runs in a small private Express
// app with a real ServerResponse bound to the upgrade socket, so a middleware can refuse
// with a genuine HTTP response; nothing reaches the socket until the decision is made.
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Middleware, privateApp, type Req, settler, startRun } from './express-app';
import type { CheckOutcome } from './outcome';

export type { Middleware } from './express-app';

/** Runs the middleware for one request; `timeoutMs` is what is left of the guards' budget. */
export type MiddlewareRun = (req: IncomingMessage, socket: Socket, timeoutMs: number) => Promise<CheckOutcome>;

/**
 * Compiles the middleware list into a function that runs it for one request. The run
 * settles exactly once: accept, a response the middleware wrote, an error, a timeout
 * (503 after `timeoutMs`; 0 disables) or the client leaving. With `parent` (the user's
 * Express app) the middleware sees its settings (trust proxy, ...), locals and extensions.
 */
export function middlewareRunner(use: readonly Middleware[], parent?: unknown): MiddlewareRun {
  const app = privateApp(use, parent);
  return (request, socket, timeoutMs) =>
    new Promise<CheckOutcome>((resolve) => {
      const req = request as Req;
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false; // the response says Connection: close; we end the socket after it
      res.assignSocket(socket);
      let owned = true; // the response may still write to the socket
      const { settle, keep } = settler(req, resolve, (outcome) => {
        socket.off('close', onClose);
        // Unless the middleware answered, take the socket back: a late res.end() then goes nowhere.
        if (outcome.kind !== 'responded' && owned) {
          owned = false;
          res.detachSocket(socket);
        }
      });
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
      startRun(app, req, res, timeoutMs, { sent: () => res.headersSent, responded, settle, keep });
    });
}

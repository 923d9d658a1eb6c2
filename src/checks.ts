// Checks that run before the 101 is written: Express middleware with a real ServerResponse
// bound to the upgrade socket, and a plain verify(req) hook. Either can refuse with a
// genuine HTTP response; nothing reaches the socket until the decision is made.
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** An Express-style middleware: (req, res, next). */
export type Middleware = (req: any, res: any, next: (err?: unknown) => void) => unknown;

/** A refusal from verify(): sent as the HTTP response. */
export interface Rejection {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export type VerifyResult = boolean | Rejection;
export type VerifyFn = (req: IncomingMessage) => VerifyResult | Promise<VerifyResult>;

export type CheckOutcome =
  | { kind: 'accept' }
  /** A middleware already wrote its own response. */
  | { kind: 'responded'; status: number }
  | { kind: 'reject'; status: number; headers: Record<string, string>; body: string; error?: unknown };

const kDone = Symbol('wsgate.checksDone');

type ExpressApp = ((req: any, res: any, next: (err?: unknown) => void) => void) & {
  use: (...fns: unknown[]) => unknown;
  disable: (name: string) => unknown;
};

/** Compiles the middleware list into a function that runs it for one request. */
export function middlewareRunner(use: readonly Middleware[]): (req: IncomingMessage, socket: Socket) => Promise<CheckOutcome> {
  // Express is loaded only by endpoints that use middleware; it stays an optional peer.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const express = require('express') as () => ExpressApp;
  const app = express();
  app.disable('x-powered-by');
  for (const fn of use) app.use(fn);
  app.use((req: any) => req[kDone](null));
  app.use((err: unknown, req: any, _res: unknown, _next: unknown) => req[kDone](err ?? new Error('middleware error')));

  return (req, socket) =>
    new Promise<CheckOutcome>((resolve) => {
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket);
      let settled = false;
      const settle = (outcome: CheckOutcome) => {
        if (settled) return;
        settled = true;
        delete (req as any)[kDone];
        if (outcome.kind === 'accept') res.detachSocket(socket);
        resolve(outcome);
      };
      // A middleware that answers: the response goes out as written, then the socket ends.
      res.on('finish', () => {
        socket.end();
        settle({ kind: 'responded', status: res.statusCode });
      });
      (req as any)[kDone] = (err: unknown) => {
        if (res.headersSent) return settle({ kind: 'responded', status: res.statusCode });
        if (err) return settle(errorOutcome(err));
        settle({ kind: 'accept' });
      };
      try {
        app(req, res, (err?: unknown) => (req as any)[kDone]?.(err ?? null));
      } catch (err) {
        settle(errorOutcome(err));
      }
    });
}

function errorOutcome(err: unknown): CheckOutcome {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  const raw = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
  const status = Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  const expose = status < 500 && e?.expose !== false && typeof e?.message === 'string';
  return { kind: 'reject', status, headers: {}, body: expose ? String(e.message) : '', error: err };
}

/** Runs verify(req); a throw or rejected promise becomes a 500 carrying the error. */
export async function runVerify(verify: VerifyFn, req: IncomingMessage): Promise<CheckOutcome> {
  try {
    const result = await verify(req);
    if (result === true) return { kind: 'accept' };
    if (result === false) return { kind: 'reject', status: 401, headers: {}, body: '' };
    if (result && typeof result === 'object' && Number.isInteger(result.status) && result.status >= 400 && result.status <= 599) {
      return { kind: 'reject', status: result.status, headers: result.headers ?? {}, body: result.body ?? '' };
    }
    return { kind: 'reject', status: 500, headers: {}, body: '', error: new TypeError('verify() returned an invalid result') };
  } catch (err) {
    return { kind: 'reject', status: 500, headers: {}, body: '', error: err };
  }
}

/** Resolves to the check's outcome, or to a 503 when it takes longer than `ms`. */
export function withTimeout(check: Promise<CheckOutcome>, ms: number): Promise<CheckOutcome> {
  if (!(ms > 0 && ms < Infinity)) return check;
  return new Promise((resolve) => {
    const timer = setTimeout(
      () => resolve({ kind: 'reject', status: 503, headers: {}, body: 'handshake checks timed out', error: new Error(`handshake checks took longer than ${ms} ms`) }),
      ms,
    );
    check.then((outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
}

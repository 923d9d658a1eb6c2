// The guards of one request share one time budget (verifyTimeout): middleware first, then
// verify() with whatever time the middleware left, so no request waits longer than the limit.
import type { IncomingMessage } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { MiddlewareRun } from './middleware';
import type { MiddlewareRunH2 } from './middleware-h2';
import { type CheckOutcome, timedOut } from './outcome';
import { runVerify, type VerifyFn } from './verify';

export interface Guards {
  readonly middleware: MiddlewareRun | null;
  /** The same middleware for HTTP/2 extended CONNECTs (set whenever `middleware` is). */
  readonly middlewareH2?: MiddlewareRunH2;
  readonly verify: VerifyFn | null;
  /** The budget for all of them together, in ms; 0 or Infinity disables. */
  readonly timeout: number;
}

/**
 * Runs the guards of one request. A middleware's own response goes to `socket` (HTTP/1.1)
 * or, for an HTTP/2 extended CONNECT, to `stream` (then `socket` is null).
 */
export async function runGuards(
  guards: Guards,
  req: IncomingMessage,
  socket: Socket | null,
  stream?: ServerHttp2Stream,
): Promise<CheckOutcome> {
  const limited = guards.timeout > 0 && guards.timeout < Infinity;
  const deadline = limited ? Date.now() + guards.timeout : Infinity;
  let headers: Record<string, string | string[]> | undefined;
  if (guards.middleware) {
    const ms = limited ? guards.timeout : 0;
    let outcome: CheckOutcome;
    if (socket !== null) outcome = await guards.middleware(req, socket, ms);
    else if (stream !== undefined && guards.middlewareH2) outcome = await guards.middlewareH2(req, stream, ms);
    else throw new TypeError('Express middleware needs the request socket or stream');
    if (outcome.kind !== 'accept') return outcome;
    headers = outcome.headers;
  }
  if (guards.verify) {
    const left = deadline - Date.now();
    if (limited && left <= 0) return timedOut('the handshake middleware', guards.timeout);
    const outcome = await withDeadline(runVerify(guards.verify, req), limited ? left : 0, guards.timeout);
    if (outcome.kind !== 'accept') return outcome;
  }
  return { kind: 'accept', headers };
}

/** Resolves to the check's outcome, or to a 503 when it takes longer than `ms` (0 disables). */
function withDeadline(check: Promise<CheckOutcome>, ms: number, budget: number): Promise<CheckOutcome> {
  if (ms === 0) return check;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(timedOut('verify()', budget)), ms);
    check.then(
      (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

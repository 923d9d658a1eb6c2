// The guards of one request share one time budget (verifyTimeout): middleware first, then
// verify() with whatever time the middleware left, so no request waits longer than the limit.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { MiddlewareRun } from './middleware';
import { type CheckOutcome, timedOut } from './outcome';
import { runVerify, type VerifyFn } from './verify';

export interface Guards {
  readonly middleware: MiddlewareRun | null;
  readonly verify: VerifyFn | null;
  /** The budget for all of them together, in ms; 0 or Infinity disables. */
  readonly timeout: number;
}

export async function runGuards(guards: Guards, req: IncomingMessage, socket: Socket | null): Promise<CheckOutcome> {
  const limited = guards.timeout > 0 && guards.timeout < Infinity;
  const deadline = limited ? Date.now() + guards.timeout : Infinity;
  let headers: Record<string, string | string[]> | undefined;
  if (guards.middleware) {
    if (socket === null) throw new TypeError('Express middleware needs the request socket');
    const outcome = await guards.middleware(req, socket, limited ? guards.timeout : 0);
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

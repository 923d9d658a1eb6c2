// src/io/guards/budget.ts runGuards: middleware and verify share one verifyTimeout budget.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { type Guards, runGuards } from '../../../src/io/guards/budget';
import type { MiddlewareRun } from '../../../src/io/guards/middleware';
import type { CheckOutcome } from '../../../src/io/guards/outcome';
import type { VerifyFn } from '../../../src/io/guards/verify';

const req = { url: '/ws', headers: {} } as unknown as IncomingMessage;
// runGuards only hands the socket on to the middleware runner; a stand-in object will do.
const socket = {} as Socket;
const noSocket = null;

/** The one call into runGuards (its signature is the part of the contract most likely to move). */
function run(g: Guards, sock: Socket | null): Promise<CheckOutcome> {
  return runGuards(g, req, sock);
}

function guards(g: Partial<Guards>): Guards {
  return { middleware: null, verify: null, timeout: 0, ...g } as Guards;
}

/** A middleware run that accepts after `ms` (advanced by fake timers) with `headers`. */
function slowMiddleware(ms: number, headers?: Record<string, string | string[]>): MiddlewareRun & { calls: number[] } {
  const calls: number[] = [];
  const run = ((_req: IncomingMessage, _socket: Socket, timeoutMs: number) => {
    calls.push(timeoutMs);
    return new Promise<CheckOutcome>((resolve) => setTimeout(() => resolve({ kind: 'accept', headers }), ms));
  }) as MiddlewareRun & { calls: number[] };
  run.calls = calls;
  return run;
}

function slowVerify(ms: number, result: boolean = true): VerifyFn {
  return () => new Promise((resolve) => setTimeout(() => resolve(result), ms));
}

/** Runs the guards under fake timers, advancing the clock until they settle (bounded). */
async function settle(p: Promise<CheckOutcome>, stepMs = 5, maxMs = 10_000): Promise<CheckOutcome> {
  let done: CheckOutcome | undefined;
  let failed: unknown;
  p.then(
    (o) => (done = o),
    (e) => (failed = e ?? new Error('rejected')),
  );
  for (let t = 0; t <= maxMs && done === undefined && failed === undefined; t += stepMs) {
    await jest.advanceTimersByTimeAsync(stepMs);
  }
  if (failed !== undefined) throw failed;
  if (done === undefined) throw new Error('guards did not settle');
  return done;
}

beforeEach(() => {
  jest.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('one budget for middleware and verify', () => {
  test('middleware taking 60% leaves verify only 40%: a verify of 60% times out with 503', async () => {
    const mw = slowMiddleware(600);
    const outcome = await settle(run(guards({ middleware: mw, verify: slowVerify(600), timeout: 1000 }), socket));
    expect(outcome).toMatchObject({ kind: 'reject', status: 503 });
    const error = (outcome as { error?: Error }).error!;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/verify\(\).*1000 ms verifyTimeout/);
    // The middleware itself was given the whole budget.
    expect(mw.calls).toEqual([1000]);
  });

  test('the same verify alone fits in the full budget', async () => {
    const outcome = await settle(run(guards({ verify: slowVerify(600), timeout: 1000 }), socket));
    expect(outcome).toEqual({ kind: 'accept', headers: undefined });
  });

  test('the 503 comes when the budget ends, not a full budget after the middleware', async () => {
    const started = Date.now();
    const outcome = await settle(run(guards({ middleware: slowMiddleware(600), verify: slowVerify(5000), timeout: 1000 }), socket), 1);
    expect(outcome).toMatchObject({ kind: 'reject', status: 503 });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(1100);
  });

  test('middleware and verify that together fit are accepted', async () => {
    const outcome = await settle(
      run(guards({ middleware: slowMiddleware(500, { 'set-cookie': 'a=1' }), verify: slowVerify(300), timeout: 1000 }), socket),
    );
    expect(outcome).toEqual({ kind: 'accept', headers: { 'set-cookie': 'a=1' } });
  });

  test('a middleware that used the whole budget leaves verify nothing: 503 naming the middleware', async () => {
    let verified = false;
    const outcome = await settle(
      run(guards({ middleware: slowMiddleware(1000), verify: () => (verified = true), timeout: 1000 }), socket),
    );
    expect(outcome).toMatchObject({ kind: 'reject', status: 503 });
    expect((outcome as { error: Error }).error.message).toMatch(/middleware/);
    expect(verified).toBe(false);
  });
});

describe('one guard only', () => {
  test('verify only: its outcome', async () => {
    await expect(settle(run(guards({ verify: () => false, timeout: 1000 }), noSocket))).resolves.toMatchObject({
      kind: 'reject',
      status: 401,
    });
    await expect(settle(run(guards({ verify: () => true, timeout: 1000 }), noSocket))).resolves.toEqual({ kind: 'accept', headers: undefined });
  });

  test('verify only, too slow: 503 at the budget', async () => {
    const started = Date.now();
    const outcome = await settle(run(guards({ verify: slowVerify(2000), timeout: 300 }), noSocket), 1);
    expect(outcome).toMatchObject({ kind: 'reject', status: 503 });
    expect(Date.now() - started).toBeLessThan(400);
  });

  test('verify rejecting its promise: a 500 outcome, not a rejection of runGuards', async () => {
    const boom = new Error('x');
    const outcome = await settle(run(guards({ verify: () => Promise.reject(boom), timeout: 300 }), noSocket));
    expect(outcome).toMatchObject({ kind: 'reject', status: 500, error: boom });
  });

  test('middleware only: accept carries its headers', async () => {
    const mw = slowMiddleware(10, { 'set-cookie': ['a=1', 'b=2'], 'x-trace': 't' });
    const outcome = await settle(run(guards({ middleware: mw, timeout: 1000 }), socket));
    expect(outcome).toEqual({ kind: 'accept', headers: { 'set-cookie': ['a=1', 'b=2'], 'x-trace': 't' } });
  });

  test('middleware only: its refusal is returned as is and verify is not run', async () => {
    let verified = false;
    const refusal: CheckOutcome = { kind: 'responded', status: 403 };
    const mw: MiddlewareRun = async () => refusal;
    const outcome = await settle(run(guards({ middleware: mw, verify: () => (verified = true), timeout: 1000 }), socket));
    expect(outcome).toBe(refusal);
    expect(verified).toBe(false);
  });

  test('middleware without a socket or stream is a TypeError', async () => {
    await expect(run(guards({ middleware: slowMiddleware(1), timeout: 100 }), noSocket)).rejects.toThrow(TypeError);
  });

  test('no guards: accept', async () => {
    await expect(run(guards({ timeout: 100 }), noSocket)).resolves.toEqual({ kind: 'accept', headers: undefined });
  });
});

describe('no timeout', () => {
  test.each([0, Infinity])('timeout %p: the middleware gets 0 (disabled) and a slow verify still decides', async (timeout) => {
    const mw = slowMiddleware(20_000, { 'x-a': '1' });
    const outcome = await settle(run(guards({ middleware: mw, verify: slowVerify(30_000, false), timeout }), socket), 1000, 100_000);
    expect(mw.calls).toEqual([0]);
    expect(outcome).toMatchObject({ kind: 'reject', status: 401 });
  });

  test('no timer is left behind after verify answers within the budget', async () => {
    const outcome = await settle(run(guards({ verify: slowVerify(10), timeout: 60_000 }), noSocket));
    expect(outcome.kind).toBe('accept');
    expect(jest.getTimerCount()).toBe(0);
  });
});

// What a guard decides about one upgrade request.

export type CheckOutcome =
  /** `headers`: what the middleware set on the response (e.g. Set-Cookie), for the success response. */
  | { kind: 'accept'; headers?: Record<string, string | string[]> }
  /** A middleware wrote its own response; the socket belongs to it and is ended after it. */
  | { kind: 'responded'; status: number }
  /** Nothing was written yet: send this response. */
  | { kind: 'reject'; status: number; headers: Record<string, string>; body: string; error?: unknown };

export function timedOut(what: string, ms: number): CheckOutcome {
  const error = new Error(`${what} took longer than the ${ms} ms verifyTimeout`);
  return { kind: 'reject', status: 503, headers: {}, body: 'handshake checks timed out', error };
}

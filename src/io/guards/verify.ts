// verify(req): the guard for apps without Express. true accepts, false is 401, an object is
// the response to send; a throw or an unusable answer is a 500 that carries the error.
import type { IncomingMessage } from 'node:http';
import { statusText } from '../../core/http-response';
import { isFieldValue, isToken } from '../../core/tokens';
import type { CheckOutcome } from './outcome';

/** A refusal from verify(): sent as the HTTP response. */
export interface Rejection {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export type VerifyResult = boolean | Rejection;
export type VerifyFn = (req: IncomingMessage) => VerifyResult | Promise<VerifyResult>;

function invalid(message: string): CheckOutcome {
  return { kind: 'reject', status: 500, headers: {}, body: statusText(500), error: new TypeError(message) };
}

/** Runs verify(req); a throw, a rejected promise or an unusable result becomes a 500 carrying the error. */
export async function runVerify(verify: VerifyFn, req: IncomingMessage): Promise<CheckOutcome> {
  let result: VerifyResult;
  try {
    result = await verify(req);
  } catch (err) {
    return { kind: 'reject', status: 500, headers: {}, body: statusText(500), error: err ?? new Error('verify() threw') };
  }
  if (result === true) return { kind: 'accept' };
  if (result === false) return { kind: 'reject', status: 401, headers: {}, body: statusText(401) };
  if (!result || typeof result !== 'object' || !Number.isInteger(result.status) || result.status < 400 || result.status > 599) {
    return invalid('verify() must return true, false or { status: 400-599, headers?, body? }');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (!isToken(name) || !isFieldValue(String(value))) return invalid(`verify() returned an invalid header: ${JSON.stringify(name)}`);
    headers[name] = String(value);
  }
  const body = result.body === undefined ? statusText(result.status) : String(result.body);
  return { kind: 'reject', status: result.status, headers, body };
}

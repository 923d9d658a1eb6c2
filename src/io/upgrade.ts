// The path of one request to open a WebSocket: admission, the pure handshake decision, the
// guards (middleware, verify) within one time budget, then the answer and the connection.
// It works on an UpgradeAttempt, so HTTP/1.1 upgrades and HTTP/2 CONNECTs share it.
import {
  type ConnectDecision,
  type HandshakeDecision,
  type HandshakeOptions,
  validateConnect,
  validateHandshake,
} from '../core/handshake';
import { statusText } from '../core/http-response';
import type { UpgradeAttempt } from './attempt';
import { publishAccepted, publishRefused, type RefusedCause } from './diagnostics';
import type { EndpointImpl, RefusalCause, UpgradeRequest } from './endpoint';
import { runGuards } from './guards/budget';
import type { Http2Attempt } from './http2-attempt';
import { DEFAULTS, type EndpointSettings } from './settings';

type Params = Record<string, string | string[]>;
type Decision = HandshakeDecision | ConnectDecision;
type Accepted = Extract<Decision, { ok: true }>;

export function handleAttempt(endpoint: EndpointImpl, attempt: UpgradeAttempt, params: Params, query: Params): void {
  const settings = endpoint.settings;
  if (endpoint.closing) return refuse(endpoint, attempt, 503, 'Server is shutting down', {}, 'shuttingDown');
  if (endpoint.clients.size + endpoint.pending >= settings.maxConnections) {
    const headers = { 'Retry-After': String(DEFAULTS.retryAfter) };
    return refuse(endpoint, attempt, 503, 'Too many connections', headers, 'maxConnections');
  }
  // Per-client limits by address come first, before any work; by clientId (which may read
  // what the guards set, such as req.user) just before the answer.
  const byAddress = endpoint.perClient !== null && endpoint.perClient.clientIdFn === undefined;
  let clientKey: string | null = null;
  if (byAddress) {
    clientKey = clientKeyOf(endpoint, attempt);
    if (!admitClient(endpoint, attempt, clientKey)) return;
  }
  let decision: Decision;
  try {
    decision = decide(attempt, settings);
  } catch (err) {
    // A throwing origins or protocols function is the app's bug: report it, answer 500.
    endpoint.reportError(err, undefined, attempt.req);
    return refuse(endpoint, attempt, 500, statusText(500), {}, undefined, 'internal');
  }
  if (!decision.ok) return refuse(endpoint, attempt, decision.status, decision.reason, decision.headers, decision.cause);

  const req = attempt.req as UpgradeRequest;
  setOwn(req, 'params', params);
  setOwn(req, 'query', query);
  if (!settings.guards.middleware && !settings.guards.verify) return accept(endpoint, attempt, req, decision, clientKey);

  // Guards may be slow: watch for the peer leaving, holding what it sends early.
  endpoint.pending++;
  attempt.await(settings.maxEarlyBytes);
  runGuards(settings.guards, req, attempt.socket, attempt.form === 'h2' ? (attempt as Http2Attempt).stream : undefined).then(
    (outcome) => {
      endpoint.pending--;
      if (outcome.kind === 'responded') {
        endpoint.count(outcome.status); // the middleware's response owns the request
        publishRefused(attempt, outcome.status, statusText(outcome.status), 'middleware');
        return attempt.handedOver();
      }
      if (attempt.gone) return attempt.handedOver();
      if (outcome.kind === 'reject') {
        if (outcome.error !== undefined) endpoint.reportError(outcome.error, undefined, req);
        endpoint.count(outcome.status);
        publishRefused(attempt, outcome.status, outcome.body, 'guard');
        return attempt.refuse(outcome.status, outcome.headers, outcome.body);
      }
      if (endpoint.closing) return refuse(endpoint, attempt, 503, 'Server is shutting down', {}, 'shuttingDown');
      req.params = params; // Express's router leaves its own (empty) params behind
      accept(endpoint, attempt, req, decision, clientKey, outcome.headers);
    },
    (err) => {
      endpoint.pending--;
      endpoint.reportError(err, undefined, req);
      attempt.destroy();
    },
  );
}

/**
 * An own data property, so that it also shadows Express's prototype getters once middleware
 * ran. A plain assignment where nothing in the prototype chain has the name (the usual
 * upgrade request): defineProperty costs several times as much and leaves the object slower
 * to read.
 */
function setOwn(req: UpgradeRequest, key: 'params' | 'query', value: Params): void {
  if (key in req) Object.defineProperty(req, key, { value, writable: true, configurable: true, enumerable: true });
  else req[key] = value;
}

/** The pure handshake decides both forms: RFC 6455 4.2.1 over HTTP/1.1, RFC 8441 over HTTP/2. */
function decide(attempt: UpgradeAttempt, settings: EndpointSettings): Decision {
  const options = handshakeOptions(attempt, settings);
  return attempt.form === 'h2' ? validateConnect(attempt, options) : validateHandshake(attempt, options);
}

function handshakeOptions(attempt: UpgradeAttempt, settings: EndpointSettings): HandshakeOptions {
  const protocols = settings.protocols;
  if (typeof protocols !== 'function') return settings.handshake;
  return { ...settings.handshake, protocols: (offered) => protocols(offered, attempt.req) };
}

function refuse(
  endpoint: EndpointImpl,
  attempt: UpgradeAttempt,
  status: number,
  reason: string,
  headers: Record<string, string> = {},
  cause?: RefusalCause,
  reported: RefusedCause = cause ?? 'handshake',
): void {
  endpoint.count(status, cause);
  publishRefused(attempt, status, reason, reported);
  attempt.refuse(status, headers, `${reason}\n`);
}

function clientKeyOf(endpoint: EndpointImpl, attempt: UpgradeAttempt): string {
  // The user's Express app decides which X-Forwarded-For hops to believe (trust proxy).
  const app = endpoint.settings.app as { get?: (name: string) => unknown } | undefined;
  const trust = typeof app?.get === 'function' ? app.get('trust proxy fn') : undefined;
  return endpoint.perClient!.clientId(attempt.req, typeof trust === 'function' ? (trust as TrustFn) : undefined);
}

type TrustFn = (address: string, hop: number) => boolean;

/** Applies the per-client limits; false when the request was refused with 429. */
function admitClient(endpoint: EndpointImpl, attempt: UpgradeAttempt, clientKey: string): boolean {
  const admission = endpoint.perClient!.admit(clientKey, Date.now());
  if (admission.ok) return true;
  refuse(endpoint, attempt, 429, admission.reason, { 'Retry-After': String(admission.retryAfter) }, 'perClient');
  return false;
}

function accept(
  endpoint: EndpointImpl,
  attempt: UpgradeAttempt,
  req: UpgradeRequest,
  decision: Accepted,
  clientKey: string | null,
  extra?: Record<string, string | string[]>,
): void {
  if (clientKey === null && endpoint.perClient !== null) {
    clientKey = clientKeyOf(endpoint, attempt);
    if (!admitClient(endpoint, attempt, clientKey)) return;
  }
  const opened = attempt.accept(extra ? { ...decision.headers, ...extra } : decision.headers);
  if (opened === null) return;
  publishAccepted(attempt, decision);
  endpoint.open(opened.transport, opened.head, req, decision, clientKey);
}

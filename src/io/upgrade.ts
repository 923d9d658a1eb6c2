// The path of one request to open a WebSocket: admission, the pure handshake decision, the
// guards (middleware, verify) within one time budget, then the answer and the connection.
// It works on an UpgradeAttempt, so HTTP/1.1 upgrades and HTTP/2 CONNECTs share it.
import { type HandshakeDecision, type HandshakeOptions, validateHandshake } from '../core/handshake';
import { statusText } from '../core/http-response';
import type { UpgradeAttempt } from './attempt';
import type { EndpointImpl, UpgradeRequest } from './endpoint';
import { runGuards } from './guards/budget';
import { DEFAULTS, type EndpointSettings } from './settings';

type Params = Record<string, string | string[]>;
type Accepted = Extract<HandshakeDecision, { ok: true }>;

export function handleAttempt(endpoint: EndpointImpl, attempt: UpgradeAttempt, params: Params, query: Params): void {
  const settings = endpoint.settings;
  if (endpoint.closing) return refuse(endpoint, attempt, 503, 'Server is shutting down');
  if (endpoint.clients.size + endpoint.pending >= settings.maxConnections) {
    return refuse(endpoint, attempt, 503, 'Too many connections', { 'Retry-After': String(DEFAULTS.retryAfter) });
  }
  let decision: HandshakeDecision;
  try {
    decision = decide(attempt, settings);
  } catch (err) {
    // A throwing origins or protocols function is the app's bug: report it, answer 500.
    endpoint.reportError(err, undefined, attempt.req);
    return refuse(endpoint, attempt, 500, statusText(500));
  }
  if (!decision.ok) return refuse(endpoint, attempt, decision.status, decision.reason, decision.headers);

  const req = attempt.req as UpgradeRequest;
  // Own properties, so they also shadow Express's prototype getters once middleware ran.
  Object.defineProperty(req, 'params', { value: params, writable: true, configurable: true, enumerable: true });
  Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true, enumerable: true });
  if (!settings.guards.middleware && !settings.guards.verify) return accept(endpoint, attempt, req, decision);

  // Guards may be slow: watch for the peer leaving, holding what it sends early.
  endpoint.pending++;
  attempt.await(settings.maxEarlyBytes);
  runGuards(settings.guards, req, attempt.socket).then(
    (outcome) => {
      endpoint.pending--;
      if (outcome.kind === 'responded') {
        endpoint.count(outcome.status); // the middleware's response owns the request
        return attempt.handedOver();
      }
      if (attempt.gone) return attempt.handedOver();
      if (outcome.kind === 'reject') {
        if (outcome.error !== undefined) endpoint.reportError(outcome.error, undefined, req);
        endpoint.count(outcome.status);
        return attempt.refuse(outcome.status, outcome.headers, outcome.body);
      }
      if (endpoint.closing) return refuse(endpoint, attempt, 503, 'Server is shutting down');
      req.params = params; // Express's router leaves its own (empty) params behind
      accept(endpoint, attempt, req, decision, outcome.headers);
    },
    (err) => {
      endpoint.pending--;
      endpoint.reportError(err, undefined, req);
      attempt.destroy();
    },
  );
}

function decide(attempt: UpgradeAttempt, settings: EndpointSettings): HandshakeDecision {
  return validateHandshake(attempt, handshakeOptions(attempt, settings));
}

function handshakeOptions(attempt: UpgradeAttempt, settings: EndpointSettings): HandshakeOptions {
  const protocols = settings.protocols;
  if (typeof protocols !== 'function') return { ...settings.handshake, protocols };
  return { ...settings.handshake, protocols: (offered) => protocols(offered, attempt.req) };
}

function refuse(endpoint: EndpointImpl, attempt: UpgradeAttempt, status: number, reason: string, headers: Record<string, string> = {}): void {
  endpoint.count(status);
  attempt.refuse(status, headers, `${reason}\n`);
}

function accept(
  endpoint: EndpointImpl,
  attempt: UpgradeAttempt,
  req: UpgradeRequest,
  decision: Accepted,
  extra?: Record<string, string | string[]>,
): void {
  const opened = attempt.accept(extra ? { ...decision.headers, ...extra } : decision.headers);
  if (opened === null) return;
  endpoint.open(opened.transport, opened.head, req, decision);
}

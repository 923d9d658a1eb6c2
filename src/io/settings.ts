// attachWebSocket's options, checked and resolved once into one frozen settings object per
// endpoint: every default is written here and nowhere else.
import type { IncomingMessage } from 'node:http';
import { type DeflateOptions, resolveDeflateOptions, type ResolvedDeflateOptions } from '../core/extensions';
import { MAX_CLIENT_HEADER } from '../core/frames';
import type { HandshakeOptions, OriginRule } from '../core/handshake';
import { checkPublicOrigin } from '../core/origin';
import { compilePath, type PathMatcher } from '../core/routes';
import { LocalTopics } from '../topics/local';
import type { Topics } from '../topics/topics';
import type { ConnectionSettings } from './connection';
import type { WebSocket } from './websocket';
import type { TextAs } from './connection-host';
import type { Guards } from './guards/budget';
import { type Middleware, middlewareRunner } from './guards/middleware';
import { middlewareRunnerH2 } from './guards/middleware-h2';
import type { PerClientOptions } from './guards/per-client';
import type { VerifyFn } from './guards/verify';
import type { HeartbeatOptions, LivenessSettings } from './liveness';
import type { BackpressurePolicy } from './outbox';
import { resolveRateLimit, type RateLimitOptions } from './rate-limit';

export interface AttachOptions {
  /** Exact path, list, or Express-style pattern ("/rooms/:room"). Default: every path. */
  path?: string | readonly string[];
  /** Path matching is case-sensitive. Default false, as in Express. */
  caseSensitive?: boolean;
  /** "/ws/" no longer matches "/ws". Default false, as in Express. */
  strict?: boolean;
  /**
   * Allowed Origin values (strings, RegExps, predicates), or '*' for any. Without it only
   * same-origin requests are accepted (Origin's host:port equal to Host); others get 403.
   */
  origins?: readonly OriginRule[] | OriginRule;
  /** Behind a proxy that rewrites Host: the origin(s) the public reaches this server at. */
  publicOrigin?: string | readonly string[];
  /** Refuse requests that carry no Origin header (only browsers send one). Default false. */
  requireOrigin?: boolean;
  /** Subprotocols in the server's order of preference, or a selector. */
  protocols?: readonly string[] | ((offered: readonly string[], req: IncomingMessage) => string | false);
  /** Refuse with 400 when no offered subprotocol is acceptable. Default false. */
  requireProtocol?: boolean;
  /** permessage-deflate (RFC 7692); off by default. */
  perMessageDeflate?: DeflateOptions | boolean;
  /** Express middleware run before the upgrade, with a real response object. */
  use?: Middleware | readonly Middleware[];
  /** Your Express app: `use` then sees its settings (trust proxy, ...) and app.locals. */
  app?: unknown;
  /** A check for non-Express users; true accepts, false is 401, an object is the response. */
  verify?: VerifyFn;
  /** Longest time middleware and verify may take together before a 503 (ms). Default 10000. */
  verifyTimeout?: number;
  /** Largest incoming message in bytes, all fragments counted. Default 1 MiB. */
  maxPayload?: number;
  /** Wait this long for the peer's half of the close handshake (ms). Default 5000. */
  closeTimeout?: number;
  /** Ping quiet sockets and drop dead ones; false turns it off. Default on: 30 s, 10 s. */
  heartbeat?: HeartbeatOptions | false;
  /** Close a socket that sent no message for this long (ms), code 1000. 0 (default) disables. */
  idleTimeout?: number;
  /** Most bytes a socket may have waiting to be sent. Default 16 MiB. */
  maxBackpressure?: number;
  /** Past maxBackpressure: 'close' the slow socket (default) or 'drop' the message. */
  backpressurePolicy?: BackpressurePolicy;
  /** More open connections than this get 503 with Retry-After. Default unlimited. */
  maxConnections?: number;
  /** Where errors from handlers, middleware and sockets go. Default: console.error. */
  onError?: (error: unknown, context: { socket?: WebSocket; req?: IncomingMessage }) => void;
  /** Replace the in-process topic registry (e.g. with a broker-backed one). */
  topics?: Topics;
  /** On an HTTP/2 server, take RFC 8441 extended CONNECT streams. Default true; false leaves HTTP/2 alone. */
  http2?: boolean;
  /** Limits per client address (or clientId): open sockets and handshakes per window; 429 beyond. Off by default. */
  perClient?: PerClientOptions;
  /** Per-socket message rate limit: frames and bytes per window; 'close' (1008) or 'pause' beyond. Off by default. */
  rateLimit?: RateLimitOptions | false;
  /**
   * How text messages reach 'message' listeners: 'string' (default) decoded, or 'buffer', the
   * message's UTF-8 bytes, already validated, with isBinary false. 'buffer' is for servers
   * that pass text on without reading it (relays, brokers, fan-out): no decoding at all, and
   * send(data, { binary: false }) or publish(topic, data, { binary: false }) sends the same
   * bytes as text again without encoding.
   */
  textAs?: TextAs;
}

export const DEFAULTS = Object.freeze({
  maxPayload: 1024 * 1024,
  closeTimeout: 5000,
  verifyTimeout: 10000,
  maxBackpressure: 16 * 1024 * 1024,
  backpressurePolicy: 'close' as BackpressurePolicy,
  heartbeatInterval: 30000,
  heartbeatTimeout: 10000,
  idleTimeout: 0,
  /** How long a refused client may take to read our answer before it is cut. */
  lingerTimeout: 5000,
  /** What a 503 for too many connections suggests, in seconds. */
  retryAfter: 5,
});

export type ErrorReporter = NonNullable<AttachOptions['onError']>;

export interface EndpointSettings {
  readonly match: PathMatcher;
  /**
   * The handshake's options, deflate resolved, made once: with a fixed protocols list they are
   * used as they are; a protocols selector (left out here) gets the request added per call.
   */
  readonly handshake: Readonly<HandshakeOptions>;
  readonly protocols: AttachOptions['protocols'];
  readonly deflate: ResolvedDeflateOptions | null;
  readonly connection: ConnectionSettings;
  readonly liveness: LivenessSettings;
  readonly guards: Guards;
  readonly maxConnections: number;
  /** Bytes a client may send before the guards decide: one largest message and its header. */
  readonly maxEarlyBytes: number;
  readonly onError: ErrorReporter;
  readonly topics: Topics;
  readonly http2: boolean;
  readonly perClient: PerClientOptions | null;
  /** The user's Express app, whose `trust proxy` setting says which X-Forwarded-For hops count. */
  readonly app: unknown;
}

const KNOWN = new Set<string>([
  'path', 'caseSensitive', 'strict', 'origins', 'requireOrigin', 'protocols', 'requireProtocol',
  'perMessageDeflate', 'use', 'app', 'verify', 'verifyTimeout', 'maxPayload', 'closeTimeout',
  'heartbeat', 'idleTimeout', 'maxBackpressure', 'backpressurePolicy', 'maxConnections', 'onError', 'topics', 'http2',
  'publicOrigin', 'perClient', 'rateLimit', 'textAs',
]);

/** Throws TypeError on an unknown key: a misspelt option must not pass silently. */
export function checkKeys(what: string, options: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`${what}: unknown option "${key}"`);
  }
}

function number(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) throw new RangeError(`${name} must be a non-negative number`);
  return value;
}

function defaultReporter(error: unknown): void {
  console.error('wsgate:', error);
}

export function resolveSettings(options: AttachOptions): EndpointSettings {
  if (options === null || typeof options !== 'object') throw new TypeError('attachWebSocket: options must be an object');
  checkKeys('attachWebSocket', options, KNOWN);
  const deflate = resolveDeflateOptions(options.perMessageDeflate);
  const heartbeat = options.heartbeat === false ? null : (options.heartbeat ?? {});
  const maxPayload = number('maxPayload', options.maxPayload, DEFAULTS.maxPayload);
  const policy = options.backpressurePolicy ?? DEFAULTS.backpressurePolicy;
  if (policy !== 'close' && policy !== 'drop') throw new TypeError(`backpressurePolicy must be 'close' or 'drop'`);
  const textAs = options.textAs ?? 'string';
  if (textAs !== 'string' && textAs !== 'buffer') throw new TypeError(`textAs must be 'string' or 'buffer'`);
  const use = options.use === undefined ? [] : typeof options.use === 'function' ? [options.use] : options.use;
  checkPublicOrigin(options.publicOrigin);
  const protocols = options.protocols;
  return Object.freeze({
    match: compilePath(options.path, { caseSensitive: options.caseSensitive, strict: options.strict }),
    handshake: Object.freeze({
      origins: options.origins,
      publicOrigin: options.publicOrigin,
      requireOrigin: options.requireOrigin,
      protocols: typeof protocols === 'function' ? undefined : protocols,
      requireProtocol: options.requireProtocol,
      perMessageDeflate: deflate ?? false,
    }),
    protocols,
    deflate,
    connection: Object.freeze({
      maxPayload,
      closeTimeout: number('closeTimeout', options.closeTimeout, DEFAULTS.closeTimeout),
      maxBackpressure: number('maxBackpressure', options.maxBackpressure, DEFAULTS.maxBackpressure),
      backpressurePolicy: policy,
      rateLimit: resolveRateLimit(options.rateLimit),
      textAs,
    }),
    liveness: Object.freeze({
      interval: heartbeat ? number('heartbeat.interval', heartbeat.interval, DEFAULTS.heartbeatInterval) : 0,
      timeout: heartbeat ? number('heartbeat.timeout', heartbeat.timeout, DEFAULTS.heartbeatTimeout) : 0,
      idleTimeout: number('idleTimeout', options.idleTimeout, DEFAULTS.idleTimeout),
    }),
    guards: Object.freeze({
      middleware: use.length > 0 ? middlewareRunner(use, options.app) : null,
      middlewareH2: use.length > 0 ? middlewareRunnerH2(use, options.app) : undefined,
      verify: options.verify ?? null,
      timeout: number('verifyTimeout', options.verifyTimeout, DEFAULTS.verifyTimeout),
    }),
    maxConnections: number('maxConnections', options.maxConnections, Infinity),
    maxEarlyBytes: maxPayload + MAX_CLIENT_HEADER,
    onError: options.onError ?? defaultReporter,
    topics: options.topics ?? new LocalTopics(),
    http2: options.http2 ?? true,
    perClient: options.perClient ?? null,
    app: options.app,
  });
}

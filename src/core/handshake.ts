// The opening handshake of RFC 6455 section 4.2, as pure functions: request data in, a
// decision out. No sockets, no Node http objects, no I/O. The rules every form of the
// request shares (version, origin, subprotocol, extensions) are in negotiate().
import { createHash } from 'node:crypto';
import {
  type DeflateOptions,
  type DeflateParams,
  ExtensionHeaderError,
  negotiateDeflate,
  parseExtensions,
  resolveDeflateOptions,
  type ResolvedDeflateOptions,
} from './extensions';
import type { Refusal } from './http-response';
import { type OriginRule, originRefusal } from './origin';
import { parseProtocols, type ProtocolSelector, selectProtocol } from './subprotocols';
import { hasToken, type HeaderValue, single } from './tokens';

export type { HeaderValue } from './tokens';
export type { OriginRule } from './origin';
export type { ProtocolSelector } from './subprotocols';

/** RFC 6455 section 1.3: the GUID appended to the client's key. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The parts of an HTTP request the handshake looks at. Header names are lower case. */
export interface HandshakeRequest {
  method: string;
  /** "1.1", "2.0", ... as in IncomingMessage.httpVersion. */
  httpVersion: string;
  headers: Readonly<Record<string, HeaderValue>>;
}

export interface HandshakeOptions {
  /**
   * Allowed origins; others get 403. '*' allows any. Absent: same origin only, i.e. a
   * request whose Origin names another host:port than its Host (or publicOrigin) gets 403.
   */
  origins?: readonly OriginRule[] | OriginRule;
  /**
   * The origin the server is reached at ('https://example.com'), for the same-origin default
   * behind a proxy that rewrites Host. Host is trusted otherwise; X-Forwarded-Host is not read.
   */
  publicOrigin?: string | readonly string[];
  /** Refuse requests that carry no Origin header (only browsers send one). Default false. */
  requireOrigin?: boolean;
  /** Subprotocols the server speaks, in its order of preference, or a selector. */
  protocols?: readonly string[] | ProtocolSelector;
  /** Refuse with 400 when no offered subprotocol is acceptable. Default false. */
  requireProtocol?: boolean;
  /** permessage-deflate (RFC 7692); off by default. Already resolved options are taken as they are. */
  perMessageDeflate?: DeflateOptions | boolean | ResolvedDeflateOptions;
}

export interface HandshakeAccept {
  ok: true;
  status: 101;
  headers: Record<string, string>;
  /** The chosen subprotocol, or '' for none. */
  protocol: string;
  /** The Sec-WebSocket-Extensions response value, or '' for none. */
  extensions: string;
  /** Agreed permessage-deflate parameters, or null when compression is off. */
  deflate: DeflateParams | null;
}

export interface HandshakeReject extends Refusal {
  ok: false;
  /** Set when the refusal is the Origin rule (403), so operators can count it apart. */
  cause?: 'origin';
}

export type HandshakeDecision = HandshakeAccept | HandshakeReject;

/** What negotiate() agreed: the parts of an accept common to every request form. */
export interface Agreement {
  protocol: string;
  extensions: string;
  deflate: DeflateParams | null;
}

/** base64(SHA-1(key + GUID)), the value of Sec-WebSocket-Accept. */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

// 16 bytes encode to 22 base64 characters and "==" padding, nothing else.
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

function reject(status: number, reason: string, headers: Record<string, string> = {}): HandshakeReject {
  return { ok: false, status, headers, reason };
}

export { hasToken };

function httpVersionAtLeast11(version: string): boolean {
  if (version === '1.1') return true; // nearly every request: no pattern to run
  const match = /^(\d+)\.(\d+)$/.exec(version);
  if (!match) return false;
  const major = Number(match[1]);
  return major > 1 || (major === 1 && Number(match[2]) >= 1);
}

/** True when the key is base64 for exactly 16 bytes (section 4.1, item 7). */
export function isValidKey(key: string): boolean {
  return KEY_PATTERN.test(key.trim());
}

/**
 * Validates an HTTP/1.1 upgrade request (RFC 6455 section 4.2.1) and decides the answer
 * (section 4.2.2). Throws only for invalid options, never for a bad request.
 */
export function validateHandshake(request: HandshakeRequest, options: HandshakeOptions = {}): HandshakeDecision {
  const h = request.headers;
  if (request.method !== 'GET') {
    return reject(405, `Method ${request.method} is not allowed for a WebSocket handshake; use GET`, { Allow: 'GET' });
  }
  if (!httpVersionAtLeast11(request.httpVersion)) {
    return reject(400, `HTTP/${request.httpVersion} cannot carry a WebSocket handshake; HTTP/1.1 or newer is required`);
  }
  if (!single(h.host)) return reject(400, 'Missing Host header');
  if (!hasToken(h.upgrade, 'websocket')) return reject(400, 'Upgrade header must contain "websocket"');
  if (!hasToken(h.connection, 'upgrade')) return reject(400, 'Connection header must contain "upgrade"');
  const versionRefusal = checkVersion(h);
  if (versionRefusal) return versionRefusal;

  const key = single(h['sec-websocket-key']);
  if (key === undefined) return reject(400, 'Missing Sec-WebSocket-Key header');
  if (!isValidKey(key)) return reject(400, 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes');

  const agreed = negotiate(h, options);
  if (!agreed.ok) return agreed;
  const headers: Record<string, string> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': computeAcceptKey(key.trim()),
  };
  addAgreementHeaders(headers, agreed.value);
  const { protocol, extensions, deflate } = agreed.value;
  return { ok: true, status: 101, headers, protocol, extensions, deflate };
}

/** Section 4.2.1 item 6: version 13, or 426 naming the version we speak. */
export function checkVersion(h: Readonly<Record<string, HeaderValue>>): HandshakeReject | null {
  const version = single(h['sec-websocket-version']);
  if (version === undefined) {
    return reject(400, 'Missing Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13' });
  }
  if (version.trim() !== '13') {
    return reject(426, `Unsupported WebSocket version "${version}"; this server speaks 13`, {
      'Sec-WebSocket-Version': '13',
    });
  }
  return null;
}

/** The response headers that state an agreement (subprotocol, extensions). */
export function agreementHeaders(agreed: { value: Agreement }): Record<string, string> {
  return addAgreementHeaders({}, agreed.value);
}

function addAgreementHeaders(headers: Record<string, string>, agreement: Agreement): Record<string, string> {
  if (agreement.protocol !== '') headers['Sec-WebSocket-Protocol'] = agreement.protocol;
  if (agreement.extensions !== '') headers['Sec-WebSocket-Extensions'] = agreement.extensions;
  return headers;
}

/**
 * The rules every request form shares: origin (section 10.2), subprotocol (section 4.2.2
 * item 5.4) and extensions (item 5.5, RFC 7692).
 */
export function negotiate(
  h: Readonly<Record<string, HeaderValue>>,
  options: HandshakeOptions,
): HandshakeReject | { ok: true; value: Agreement } {
  const origin = single(h.origin) ?? single(h['sec-websocket-origin']);
  const originProblem = originRefusal(origin, single(h.host) ?? single(h[':authority']), options);
  if (originProblem !== null) return { ...reject(403, originProblem), cause: 'origin' };

  const offered = parseProtocols(h['sec-websocket-protocol']);
  if (offered === null) return reject(400, 'Malformed Sec-WebSocket-Protocol header');
  const protocol = selectProtocol(offered, options.protocols);
  if (protocol === false && options.requireProtocol) {
    const wanted = Array.isArray(options.protocols) ? `: expected one of ${options.protocols.join(', ')}` : '';
    return reject(400, `No acceptable subprotocol offered${wanted}`);
  }

  let extensions = '';
  let deflate: DeflateParams | null = null;
  const deflateOptions = resolveDeflateOptions(options.perMessageDeflate);
  if (deflateOptions) {
    try {
      const agreed = negotiateDeflate(parseExtensions(h['sec-websocket-extensions']), deflateOptions);
      if (agreed) {
        extensions = agreed.header;
        deflate = agreed.params;
      }
    } catch (err) {
      // A header we cannot parse is a malformed request; an offer we merely dislike is declined above.
      if (err instanceof ExtensionHeaderError) return reject(400, `Malformed Sec-WebSocket-Extensions: ${err.message}`);
      throw err;
    }
  }
  return { ok: true, value: { protocol: protocol === false ? '' : protocol, extensions, deflate } };
}

// ---------------------------------------------------------------------------------------
// WebSocket over HTTP/2: the extended CONNECT of RFC 8441. The same rules as above
// (checkVersion, negotiate, agreementHeaders); only the request line and the answer differ.

/** The parts of an HTTP/2 request the handshake looks at: pseudo-headers and headers, lower case. */
export interface ConnectRequest {
  headers: Readonly<Record<string, HeaderValue>>;
}

export interface ConnectAccept {
  ok: true;
  /** RFC 8441 section 5: a 2xx answer opens the tunnel; we always send 200. */
  status: 200;
  /** Response headers without :status, names lower case (RFC 9113 section 8.2.1). */
  headers: Record<string, string>;
  protocol: string;
  extensions: string;
  deflate: DeflateParams | null;
}

export type ConnectDecision = ConnectAccept | HandshakeReject;

// RFC 9113 section 8.2.2: a request carrying these is malformed. (TE is allowed only as "trailers".)
const CONNECTION_SPECIFIC = ['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding'];

/**
 * Validates an HTTP/2 extended CONNECT that opens a WebSocket (RFC 8441 sections 4 and 5)
 * and decides the answer. Throws only for invalid options, never for a bad request.
 */
export function validateConnect(request: ConnectRequest, options: HandshakeOptions = {}): ConnectDecision {
  const h = request.headers;
  const method = single(h[':method']);
  // Section 4: the extended CONNECT is a CONNECT carrying :protocol.
  if (method !== 'CONNECT') {
    return reject(405, `Method ${method ?? '(none)'} cannot open a WebSocket over HTTP/2; use an extended CONNECT`, {
      Allow: 'CONNECT',
    });
  }
  const protocol = single(h[':protocol']);
  if (protocol === undefined) return reject(400, 'A CONNECT without :protocol is not a WebSocket request');
  // Section 5: the :protocol value is "websocket" (an HTTP Upgrade Token, compared case-insensitively).
  if (protocol.toLowerCase() !== 'websocket') {
    return reject(400, `The :protocol "${protocol}" is not supported here; this endpoint speaks "websocket"`);
  }
  // Section 4: with :protocol, :scheme and :path are required (unlike a plain CONNECT), and
  // section 5 gives :authority the target host (RFC 9113 section 8.3.1 allows Host instead).
  const scheme = single(h[':scheme']);
  if (scheme === undefined || scheme === '') return reject(400, 'Missing :scheme pseudo-header');
  if (scheme !== 'https' && scheme !== 'http') return reject(400, `The :scheme "${scheme}" cannot carry a WebSocket`);
  const path = single(h[':path']);
  if (path === undefined || path === '') return reject(400, 'Missing :path pseudo-header');
  if (!single(h[':authority']) && !single(h.host)) return reject(400, 'Missing :authority pseudo-header');
  for (const name of CONNECTION_SPECIFIC) {
    if (h[name] !== undefined) return reject(400, `The connection-specific header ${name} is not allowed in HTTP/2`);
  }
  const te = single(h.te);
  if (te !== undefined && te.trim().toLowerCase() !== 'trailers') {
    return reject(400, 'The TE header may only be "trailers" in HTTP/2');
  }

  // Section 5: Sec-WebSocket-Version (and its 426 rule) applies unchanged.
  const versionRefusal = checkVersion(h);
  if (versionRefusal) return versionRefusal;

  // Section 5: Sec-WebSocket-Key and Sec-WebSocket-Accept are not used. Some clients
  // (undici) send a key anyway and check the accept; we answer one whenever a key comes,
  // and hold a key that is sent to the same format as over HTTP/1.1.
  const key = single(h['sec-websocket-key']);
  if (key !== undefined && !isValidKey(key)) {
    return reject(400, 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes');
  }

  // Section 5: origin, subprotocol and extension negotiation as in RFC 6455.
  const agreed = negotiate(h, options);
  if (!agreed.ok) return agreed;
  const headers: Record<string, string> = {};
  if (key !== undefined) headers['sec-websocket-accept'] = computeAcceptKey(key.trim());
  const agreement = agreementHeaders(agreed);
  for (const name of Object.keys(agreement)) headers[name.toLowerCase()] = agreement[name];
  return { ok: true, status: 200, headers, ...agreed.value };
}

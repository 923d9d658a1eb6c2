// The opening handshake of RFC 6455 section 4.2, as a pure function: request data in,
// a decision out. No sockets, no Node http objects, no I/O.

import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import {
  type DeflateOptions,
  type DeflateParams,
  ExtensionHeaderError,
  negotiateDeflate,
  parseExtensions,
  resolveDeflateOptions,
} from './extensions';

/** RFC 6455 section 1.3: the GUID appended to the client's key. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export type HeaderValue = string | string[] | undefined;

/** The parts of an HTTP request the handshake looks at. Header names are lower case. */
export interface HandshakeRequest {
  method: string;
  /** "1.1", "2.0", ... as in IncomingMessage.httpVersion. */
  httpVersion: string;
  headers: Readonly<Record<string, HeaderValue>>;
}

/** Allowed origins: exact strings (scheme://host[:port]), regular expressions, or a predicate. */
export type OriginRule = string | RegExp | ((origin: string) => boolean);

/** Picks one of the offered subprotocols, or false for none. */
export type ProtocolSelector = (offered: readonly string[]) => string | false;

export interface HandshakeOptions {
  /** When set, a request whose Origin matches no rule is refused with 403. */
  origins?: readonly OriginRule[] | OriginRule;
  /** Refuse requests that carry no Origin header (only browsers send one). Default false. */
  requireOrigin?: boolean;
  /** Subprotocols the server speaks, in its order of preference, or a selector. */
  protocols?: readonly string[] | ProtocolSelector;
  /** Refuse with 400 when no offered subprotocol is acceptable. Default false. */
  requireProtocol?: boolean;
  /** permessage-deflate (RFC 7692); off by default. */
  perMessageDeflate?: DeflateOptions | boolean;
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

export interface HandshakeReject {
  ok: false;
  status: number;
  headers: Record<string, string>;
  /** Human-readable, sent as the text/plain body. */
  reason: string;
}

export type HandshakeDecision = HandshakeAccept | HandshakeReject;

/** base64(SHA-1(key + GUID)), the value of Sec-WebSocket-Accept. */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

// 16 bytes encode to 22 base64 characters and "==" padding, nothing else.
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function reject(status: number, reason: string, headers: Record<string, string> = {}): HandshakeReject {
  return { ok: false, status, headers, reason };
}

/** One header as a single string; repeated headers are joined as HTTP lists are. */
function single(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** True when the comma-separated token list contains `token`, case-insensitively. */
export function hasToken(value: HeaderValue, token: string): boolean {
  const text = single(value);
  if (!text) return false;
  return text.split(',').some((part) => part.trim().toLowerCase() === token);
}

function httpVersionAtLeast11(version: string): boolean {
  const match = /^(\d+)\.(\d+)$/.exec(version);
  if (!match) return false;
  const major = Number(match[1]);
  return major > 1 || (major === 1 && Number(match[2]) >= 1);
}

export function originAllowed(
  origin: string | undefined,
  rules: HandshakeOptions['origins'],
  requireOrigin = false,
): boolean {
  if (origin === undefined || origin === '') return !requireOrigin;
  if (rules === undefined) return true;
  const list = Array.isArray(rules) ? rules : [rules as OriginRule];
  const lower = origin.toLowerCase();
  return list.some((rule) => {
    if (typeof rule === 'string') return rule.toLowerCase() === lower;
    if (rule instanceof RegExp) {
      rule.lastIndex = 0; // a /g or /y rule would otherwise resume where the last test stopped
      return rule.test(origin);
    }
    return rule(origin);
  });
}

/**
 * Parses Sec-WebSocket-Protocol into its tokens. Returns null when malformed
 * (non-token characters, duplicates, no token at all).
 */
export function parseProtocols(value: HeaderValue): string[] | null {
  const text = single(value);
  if (text === undefined) return [];
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const token = part.trim();
    if (token === '') continue; // RFC 7230 section 7: empty list elements are ignored
    if (!TOKEN.test(token) || seen.has(token)) return null;
    seen.add(token);
  }
  // The header is 1#token: at least one protocol.
  return seen.size === 0 ? null : [...seen];
}

function selectProtocol(offered: readonly string[], protocols: HandshakeOptions['protocols']): string | false {
  if (protocols === undefined || offered.length === 0) return false;
  if (typeof protocols === 'function') {
    const chosen = protocols(offered);
    // A selector may only choose something the client offered.
    return chosen !== false && offered.includes(chosen) ? chosen : false;
  }
  return protocols.find((p) => offered.includes(p)) ?? false;
}

/**
 * Validates an opening handshake request (RFC 6455 section 4.2.1) and decides the answer
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

  const version = single(h['sec-websocket-version']);
  if (version === undefined) {
    return reject(400, 'Missing Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13' });
  }
  if (version.trim() !== '13') {
    return reject(426, `Unsupported WebSocket version "${version}"; this server speaks 13`, {
      'Sec-WebSocket-Version': '13',
    });
  }

  const key = single(h['sec-websocket-key']);
  if (key === undefined) return reject(400, 'Missing Sec-WebSocket-Key header');
  if (!KEY_PATTERN.test(key.trim())) {
    return reject(400, 'Sec-WebSocket-Key must be the base64 encoding of exactly 16 bytes');
  }

  const origin = single(h.origin) ?? single(h['sec-websocket-origin']);
  if (!originAllowed(origin, options.origins, options.requireOrigin)) {
    return reject(403, origin === undefined ? 'An Origin header is required' : `Origin "${origin}" is not allowed`);
  }

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

  const headers: Record<string, string> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': computeAcceptKey(key.trim()),
  };
  if (protocol !== false) headers['Sec-WebSocket-Protocol'] = protocol;
  if (extensions) headers['Sec-WebSocket-Extensions'] = extensions;
  return { ok: true, status: 101, headers, protocol: protocol === false ? '' : protocol, extensions, deflate };
}

/** The reason phrase for a status code (Node's table, a plain constant). */
export function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

// Header values we write must never break the response apart.
function headerLines(headers: Record<string, string | readonly string[]>): string {
  let out = '';
  for (const name of Object.keys(headers)) {
    const values = headers[name];
    for (const value of typeof values === 'string' ? [values] : values) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError(`header ${name} contains CR or LF`);
      out += `${name}: ${value}\r\n`;
    }
  }
  return out;
}

/**
 * The bytes of a 101 response. `extra` adds headers set before the upgrade (e.g. a
 * session's Set-Cookie); a repeated header is given as an array.
 */
export function formatAccept(decision: HandshakeAccept, extra?: Record<string, string | readonly string[]>): string {
  const more = extra ? headerLines(extra) : '';
  return `HTTP/1.1 101 Switching Protocols\r\n${headerLines(decision.headers)}${more}\r\n`;
}

/**
 * The bytes of a complete HTTP response that ends the connection: the body exactly as
 * given, the caller's headers (their Content-Type wins over text/plain), and our own
 * framing: Connection: close and Content-Length, whatever the caller said about those.
 */
export function formatResponse(status: number, headers: Record<string, string>, body: string): string {
  const own: Record<string, string> = {};
  let typed = false;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
    if (lower === 'content-type') typed = true;
    own[name] = headers[name];
  }
  own.Connection = 'close';
  if (!typed) own['Content-Type'] = 'text/plain; charset=utf-8';
  own['Content-Length'] = String(Buffer.byteLength(body));
  return `HTTP/1.1 ${status} ${statusText(status)}\r\n${headerLines(own)}\r\n${body}`;
}

/** The bytes of a refused handshake: its status, headers and reason as a text/plain body. */
export function formatReject(decision: Pick<HandshakeReject, 'status' | 'headers' | 'reason'>): string {
  return formatResponse(decision.status, decision.headers, `${decision.reason}\n`);
}

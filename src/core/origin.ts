// Which Origin values a handshake accepts (RFC 6455 sections 4.2.2 and 10.2). Browsers
// send Origin; other clients usually do not.
//
// Same-origin by default: with no `origins` option, a request whose Origin names another
// host (or port) than the request's own Host is refused. Browsers attach cookies to
// cross-site WebSocket requests and apply no same-origin policy to them, so "allow any"
// would leave every cookie-authenticated endpoint open to cross-site WebSocket hijacking.
// The check needs only what a browser cannot forge: Origin, and the Host it addressed.
// X-Forwarded-Host is not read (the core does not know which proxies to trust); behind a
// proxy that rewrites Host, state the public origin with `publicOrigin`.
import { formatIPv6, parseIPv6 } from './client-address';
import { echo } from './tokens';

/** Allowed origins: exact strings (scheme://host[:port]), regular expressions, or a predicate. '*' allows any. */
export type OriginRule = string | RegExp | ((origin: string) => boolean);

export interface OriginPolicy {
  /** Allowed origins; '*' (alone or in a list) allows any. Absent: same origin only. */
  origins?: readonly OriginRule[] | OriginRule;
  /** Refuse requests that carry no Origin header. */
  requireOrigin?: boolean;
  /**
   * The origin (or origins) the server is reached at, e.g. 'https://example.com', for the
   * default same-origin check when a proxy rewrites Host. Scheme, host and port must then
   * all match. Absent: the request's Host counts.
   */
  publicOrigin?: string | readonly string[];
}

/** scheme, lower-case host (IPv6 in RFC 5952 form, bracketed) and port of an origin or authority. */
interface Authority {
  scheme: string | undefined;
  host: string;
  port: number | undefined;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, ws: 80, https: 443, wss: 443 };

// host is a reg-name (no delimiters) or a bracketed IPv6 literal; port is 1-5 digits.
const AUTHORITY = /^(\[[0-9A-Fa-f:.%a-zA-Z0-9]+\]|[^\s/?#@[\]:]+)(?::(\d{1,5}))?$/;
const ORIGIN = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\s]+)$/;

function parseAuthority(text: string, scheme: string | undefined): Authority | null {
  if (text.length > 300) return null;
  const match = AUTHORITY.exec(text);
  if (!match) return null;
  let host = match[1].toLowerCase();
  if (host.startsWith('[')) {
    const groups = parseIPv6(host);
    if (groups === null) return null;
    host = `[${formatIPv6(groups)}]`;
  }
  if (host.endsWith('.')) host = host.slice(0, -1); // "example.com." is example.com
  let port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65535) return null;
  if (port === undefined && scheme !== undefined) port = DEFAULT_PORTS[scheme];
  return { scheme, host, port };
}

/** Parses a serialized origin ("https://example.com:8443"); null for "null" and anything malformed. */
export function parseOrigin(origin: string): Authority | null {
  if (origin.length > 300) return null;
  const match = ORIGIN.exec(origin);
  if (!match) return null;
  return parseAuthority(match[2], match[1].toLowerCase());
}

/**
 * True when an Origin names the host a request was sent to. `host` is the Host header
 * (or HTTP/2 :authority). A Host without a port matches an origin on its scheme's default
 * port (80 for http, 443 for https): behind a TLS-terminating proxy the server cannot tell
 * which one the browser used, so the scheme itself is not compared here.
 */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const o = parseOrigin(origin);
  const h = parseAuthority(host.trim(), undefined);
  if (o === null || h === null || o.host !== h.host) return false;
  // Only web origins are same-origin with a web server; not chrome-extension:// and the like.
  if (DEFAULT_PORTS[o.scheme ?? ''] === undefined) return false;
  if (h.port === undefined) return o.port === DEFAULT_PORTS[o.scheme ?? ''];
  return o.port === h.port;
}

/** True when an Origin equals one of the stated public origins: scheme, host and port. */
export function matchesPublicOrigin(origin: string, publicOrigin: string | readonly string[]): boolean {
  const o = parseOrigin(origin);
  if (o === null) return false;
  const list = typeof publicOrigin === 'string' ? [publicOrigin] : publicOrigin;
  return list.some((text) => {
    const p = parseOrigin(text.replace(/\/+$/, ''));
    return p !== null && p.scheme === o.scheme && p.host === o.host && p.port === o.port;
  });
}

/** Throws when publicOrigin is not a list of origins such as 'https://example.com'. */
export function checkPublicOrigin(publicOrigin: string | readonly string[] | undefined): void {
  if (publicOrigin === undefined) return;
  const list = typeof publicOrigin === 'string' ? [publicOrigin] : publicOrigin;
  for (const text of list) {
    if (typeof text !== 'string' || parseOrigin(text.replace(/\/+$/, '')) === null) {
      throw new TypeError(`publicOrigin must be an origin such as "https://example.com", got ${JSON.stringify(text)}`);
    }
  }
}

/** True when the Origin matches an explicit rule; '*' matches any. */
export function originAllowed(
  origin: string | undefined,
  rules: readonly OriginRule[] | OriginRule | undefined,
  requireOrigin = false,
): boolean {
  if (origin === undefined || origin === '') return !requireOrigin;
  if (rules === undefined) return true;
  const list = Array.isArray(rules) ? rules : [rules as OriginRule];
  const lower = origin.toLowerCase();
  return list.some((rule) => {
    if (typeof rule === 'string') return rule === '*' || rule.toLowerCase() === lower;
    if (rule instanceof RegExp) {
      rule.lastIndex = 0; // a /g or /y rule would otherwise resume where the last test stopped
      return rule.test(origin);
    }
    return rule(origin);
  });
}

/**
 * The origin decision for one request: null to go on, or the reason for a 403. `host` is
 * the request's Host (or :authority).
 */
export function originRefusal(origin: string | undefined, host: string | undefined, policy: OriginPolicy): string | null {
  if (origin === undefined || origin === '') {
    return policy.requireOrigin ? 'An Origin header is required' : null;
  }
  if (policy.origins !== undefined) {
    return originAllowed(origin, policy.origins) ? null : `Origin "${echo(origin)}" is not allowed`;
  }
  if (policy.publicOrigin !== undefined) {
    if (matchesPublicOrigin(origin, policy.publicOrigin)) return null;
    return (
      `Origin "${echo(origin)}" is not this server's origin (publicOrigin); cross-origin WebSocket requests ` +
      `are refused by default: list the pages allowed to connect in the \`origins\` option, or set \`origins: '*'\``
    );
  }
  if (sameOrigin(origin, host)) return null;
  return (
    `Origin "${echo(origin)}" does not match the Host "${echo(host ?? '')}"; cross-origin WebSocket requests ` +
    `are refused by default: list the pages allowed to connect in the \`origins\` option (or \`origins: '*'\` ` +
    'to allow any), or set `publicOrigin` behind a proxy that rewrites Host'
  );
}

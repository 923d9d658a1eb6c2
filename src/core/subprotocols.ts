// Sec-WebSocket-Protocol (RFC 6455 sections 4.1 and 11.3.4): the client offers a list of
// tokens, the server picks at most one of them.
import { type HeaderValue, isToken, listItems } from './tokens';

/** Picks one of the offered subprotocols, or false for none. */
export type ProtocolSelector = (offered: readonly string[]) => string | false;

/**
 * Parses Sec-WebSocket-Protocol into its tokens. Returns null when malformed
 * (non-token characters, duplicates, no token at all).
 */
export function parseProtocols(value: HeaderValue): string[] | null {
  if (value === undefined) return [];
  const items = listItems(value);
  const seen = new Set<string>();
  for (const token of items) {
    if (!isToken(token) || seen.has(token)) return null;
    seen.add(token);
  }
  // The header is 1#token: at least one protocol.
  return seen.size === 0 ? null : [...seen];
}

export function selectProtocol(
  offered: readonly string[],
  protocols: readonly string[] | ProtocolSelector | undefined,
): string | false {
  if (protocols === undefined || offered.length === 0) return false;
  if (typeof protocols === 'function') {
    const chosen = protocols(offered);
    // A selector may only choose something the client offered.
    return chosen !== false && offered.includes(chosen) ? chosen : false;
  }
  return protocols.find((p) => offered.includes(p)) ?? false;
}

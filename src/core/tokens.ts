// The HTTP token grammar (RFC 9110 section 5.6.2) and comma-separated header lists, used
// by the handshake, the extension and subprotocol parsers and the header checks.

export type HeaderValue = string | string[] | undefined;

/** tchar: any visible ASCII except delimiters. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A field value may hold tab, space, visible ASCII and obs-text; never CR, LF or NUL. */
const BAD_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

export function isFieldValue(text: string): boolean {
  return !BAD_FIELD_VALUE.test(text);
}

/** One header as a single string; repeated headers are joined as HTTP lists are. */
export function single(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The elements of a comma-separated list, trimmed; empty elements dropped (RFC 9110 5.6.1). */
export function listItems(value: HeaderValue): string[] {
  const text = single(value);
  if (!text) return [];
  const items: string[] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item !== '') items.push(item);
  }
  return items;
}

/** True when the comma-separated token list contains `token` (lower case), case-insensitively. */
export function hasToken(value: HeaderValue, token: string): boolean {
  const text = single(value);
  if (!text) return false;
  // The common case, a header that is exactly the token, needs no splitting.
  if (text.length === token.length) return text.toLowerCase() === token;
  for (const part of text.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

// What a refusal may quote of a client's header: enough to recognise it, never all of it.
const MAX_ECHO = 200;

/** A client's value made safe to quote in a response: printable ASCII, at most 200 characters. */
export function echo(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > MAX_ECHO ? `${clean.slice(0, MAX_ECHO)}...` : clean;
}

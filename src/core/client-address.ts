// Client addresses as keys for per-client limits: IPv4 as is, IPv6 grouped by a prefix
// (one host or one customer owns a whole /64, often a /56 or /48), IPv4-mapped IPv6 as
// the IPv4 it carries. Pure: strings in, strings out.

/** The 32-bit value of a dotted-quad IPv4 address, or null. */
export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const n = Number(part);
    if (n > 255 || (part.length > 1 && part[0] === '0')) return null;
    value = value * 256 + n;
  }
  return value;
}

/**
 * The eight 16-bit groups of an IPv6 address ("2001:db8::1", "::ffff:1.2.3.4", with or
 * without brackets and a zone id), or null when it is not one.
 */
export function parseIPv6(input: string): number[] | null {
  let text = input;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;

  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (v4 === null) return null;
        groups.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(item)) return null;
        groups.push(parseInt(item, 16));
      }
    }
    return groups;
  };
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** RFC 5952 text for eight groups: lower case, the longest run of 2+ zero groups as "::". */
export function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Zeroes every bit after the first `prefix` bits. */
export function maskIPv6(groups: readonly number[], prefix: number): number[] {
  return groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, prefix - i * 16));
    return keep === 0 ? 0 : g & ((0xffff << (16 - keep)) & 0xffff);
  });
}

function isMappedIPv4(groups: readonly number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

/**
 * The key that groups a client address: "203.0.113.7" for IPv4 (also when it arrives as
 * "::ffff:203.0.113.7"), "2001:db8:1:2::/64" for any IPv6 address in that /64 (for the
 * default prefix), the text itself (lower case, at most 64 characters) for anything else,
 * and "unknown" for no address at all (a socket that is already gone).
 */
export function clientKey(address: string | undefined, ipv6Prefix = 64): string {
  if (address === undefined || address === '') return 'unknown';
  if (parseIPv4(address) !== null) return address;
  const groups = parseIPv6(address);
  if (groups === null) return address.slice(0, 64).toLowerCase();
  if (isMappedIPv4(groups)) return `${groups[6] >>> 8}.${groups[6] & 0xff}.${groups[7] >>> 8}.${groups[7] & 0xff}`;
  if (ipv6Prefix >= 128) return formatIPv6(groups);
  return `${formatIPv6(maskIPv6(groups, ipv6Prefix))}/${ipv6Prefix}`;
}

/** Throws unless `prefix` is an integer from 0 to 128. */
export function checkIPv6Prefix(prefix: number): number {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
    throw new RangeError(`ipv6Prefix must be an integer from 0 to 128, got ${String(prefix)}`);
  }
  return prefix;
}

/**
 * The client's address behind trusted proxies, as Express's `req.ip` computes it: walk
 * from the socket's address back through X-Forwarded-For (right to left) and stop at the
 * first hop `trust(address, hop)` does not vouch for. `trust` is Express's compiled
 * `trust proxy` function (`app.get('trust proxy fn')`); with none, the socket's address.
 * At most `maxHops` entries are looked at, so a long header costs bounded work.
 */
export function forwardedAddress(
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trust: ((address: string, hop: number) => boolean) | undefined,
  maxHops = 32,
): string | undefined {
  if (socketAddress === undefined || trust === undefined || forwardedFor === undefined) return socketAddress;
  const text = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  let address = socketAddress;
  let hop = 0;
  let end = text.length;
  while (hop < maxHops && trust(address, hop)) {
    if (end <= 0) return address;
    const comma = text.lastIndexOf(',', end - 1);
    const item = text.slice(comma + 1, end).trim();
    end = comma === -1 ? 0 : comma;
    hop++;
    if (item === '') continue;
    address = item;
  }
  return address;
}

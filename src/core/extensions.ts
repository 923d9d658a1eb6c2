// Pure parsing of Sec-WebSocket-Extensions (RFC 6455 section 9.1) and the
// permessage-deflate negotiation of RFC 7692 section 7. No zlib here.
import { echo, isToken } from './tokens';

export interface ExtensionOffer {
  name: string;
  /** Parameter name to value (the first one given); `true` for a parameter without a value. */
  params: Map<string, string | true>;
  /** Names of parameters given more than once. Not a syntax error: RFC 7692 section 7 declines such an offer. */
  repeated: string[];
}

export interface DeflateOptions {
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /**
   * Compress each message on its own. Costs some ratio, saves memory: with context takeover
   * a connection keeps its zlib streams once it has used them (measured about 250 KiB for
   * both with the defaults, about 100 KiB with 10-bit windows and memLevel 4; see
   * scripts/deflate-memory.ts). Without, streams come from a pool shared by all connections.
   */
  serverNoContextTakeover?: boolean;
  /** Ask the client to compress each message on its own; the server's inflate stream is then pooled too. */
  clientNoContextTakeover?: boolean;
  /** Largest LZ77 window the server will use, 8..15. Default 15. (8 is compressed with zlib's 9; see deflate.ts.) */
  serverMaxWindowBits?: number;
  /** Largest window asked of the client, 8..15, when the client allows it. Default 15. */
  clientMaxWindowBits?: number;
  /** zlib compression level, 0..9. Default 1 (fast: most of the gain for little CPU). */
  level?: number;
  /** zlib memLevel, 1..9. Default 8. */
  memLevel?: number;
  /** Compression jobs (compress + decompress) running at once per process; also caps the idle pooled streams. Default 10. */
  concurrency?: number;
}

/** What both sides agreed; used to build the codec and the response header. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

export class ExtensionHeaderError extends Error {
  override name = 'ExtensionHeaderError';
}

/**
 * Parses one or more Sec-WebSocket-Extensions header values into offers, in order.
 * Throws ExtensionHeaderError on a value that does not follow the grammar.
 */
export function parseExtensions(header: string | readonly string[] | undefined): ExtensionOffer[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const offers: ExtensionOffer[] = [];
  for (const value of values) parseInto(value, offers);
  return offers;
}

function parseInto(value: string, offers: ExtensionOffer[]): void {
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && !' \t,;="'.includes(value[i])) i++;
    const token = value.slice(start, i);
    if (!isToken(token)) throw new ExtensionHeaderError(`invalid token at ${start} in "${echo(value)}"`);
    return token;
  };
  const readQuoted = (): string => {
    i++; // opening quote
    let out = '';
    while (i < n && value[i] !== '"') {
      if (value[i] === '\\') i++;
      if (i >= n) break;
      out += value[i++];
    }
    if (i >= n) throw new ExtensionHeaderError(`unterminated quoted string in "${echo(value)}"`);
    i++; // closing quote
    // RFC 6455 9.1: a quoted value must still be a token once unquoted.
    if (!isToken(out)) throw new ExtensionHeaderError(`invalid quoted value "${echo(out)}"`);
    return out;
  };

  for (;;) {
    skipSpace();
    if (i === n) return;
    // Empty list elements ("a, , b", a trailing comma) are allowed by the #rule (RFC 7230 7).
    if (value[i] === ',') {
      i++;
      continue;
    }
    const offer: ExtensionOffer = { name: readToken(), params: new Map(), repeated: [] };
    skipSpace();
    while (value[i] === ';') {
      i++;
      skipSpace();
      const name = readToken();
      skipSpace();
      let paramValue: string | true = true;
      if (value[i] === '=') {
        i++;
        skipSpace();
        paramValue = value[i] === '"' ? readQuoted() : readToken();
        skipSpace();
      }
      if (offer.params.has(name)) offer.repeated.push(name);
      else offer.params.set(name, paramValue);
    }
    offers.push(offer);
    if (i === n) return;
    if (value[i] !== ',') throw new ExtensionHeaderError(`unexpected "${echo(value[i])}" at ${i} in "${echo(value)}"`);
    i++;
  }
}

const WINDOW_BITS = /^(?:8|9|1[0-5])$/;

function checkedBits(name: string, value: number | undefined, fallback: number): number {
  const bits = value ?? fallback;
  if (!Number.isInteger(bits) || bits < 8 || bits > 15) {
    throw new RangeError(`perMessageDeflate.${name} must be an integer from 8 to 15`);
  }
  return bits;
}

/** Deflate options with every default filled in and every range checked; frozen. */
export type ResolvedDeflateOptions = Readonly<Required<DeflateOptions>>;

// Objects resolveDeflateOptions made, so resolving twice returns the same object.
const resolvedOnce = new WeakSet<object>();

/** Fills in defaults and checks ranges; throws RangeError on a bad option. */
export function resolveDeflateOptions(options: DeflateOptions | boolean | undefined): ResolvedDeflateOptions | null {
  if (!options) return null;
  if (typeof options === 'object' && resolvedOnce.has(options)) return options as ResolvedDeflateOptions;
  const o = options === true ? {} : options;
  const resolved: Required<DeflateOptions> = {
    threshold: o.threshold ?? 1024,
    serverNoContextTakeover: o.serverNoContextTakeover ?? false,
    clientNoContextTakeover: o.clientNoContextTakeover ?? false,
    serverMaxWindowBits: checkedBits('serverMaxWindowBits', o.serverMaxWindowBits, 15),
    clientMaxWindowBits: checkedBits('clientMaxWindowBits', o.clientMaxWindowBits, 15),
    level: o.level ?? 1,
    memLevel: o.memLevel ?? 8,
    concurrency: o.concurrency ?? 10,
  };
  if (!(resolved.threshold >= 0)) throw new RangeError('perMessageDeflate.threshold must be >= 0');
  if (!Number.isInteger(resolved.level) || resolved.level < 0 || resolved.level > 9) {
    throw new RangeError('perMessageDeflate.level must be an integer from 0 to 9');
  }
  if (!Number.isInteger(resolved.memLevel) || resolved.memLevel < 1 || resolved.memLevel > 9) {
    throw new RangeError('perMessageDeflate.memLevel must be an integer from 1 to 9');
  }
  if (!Number.isInteger(resolved.concurrency) || resolved.concurrency < 1) {
    throw new RangeError('perMessageDeflate.concurrency must be a positive integer');
  }
  resolvedOnce.add(Object.freeze(resolved));
  return resolved;
}

/**
 * Answers one permessage-deflate offer, or returns null to decline it
 * (unknown, invalid or repeated parameters: RFC 7692 section 7).
 */
export function acceptDeflateOffer(offer: ExtensionOffer, options: ResolvedDeflateOptions): DeflateParams | null {
  if (offer.repeated.length > 0) return null;
  let serverBits = options.serverMaxWindowBits;
  let clientBits: number | null = null; // null: client did not say it can limit its window
  let serverNoTakeover = options.serverNoContextTakeover;
  for (const [name, value] of offer.params) {
    switch (name) {
      case 'server_no_context_takeover':
        if (value !== true) return null;
        serverNoTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== true) return null;
        break;
      case 'server_max_window_bits':
        if (value === true || !WINDOW_BITS.test(value)) return null;
        serverBits = Math.min(serverBits, Number(value));
        break;
      case 'client_max_window_bits':
        if (value === true) clientBits = 15;
        else if (WINDOW_BITS.test(value)) clientBits = Number(value);
        else return null;
        break;
      default:
        return null;
    }
  }
  // server_max_window_bits=8 is accepted: zlib refuses a raw 8-bit window, so the codec
  // deflates with 9, whose matches never reach back more than 250 bytes (deflate.ts).
  return {
    serverNoContextTakeover: serverNoTakeover,
    clientNoContextTakeover: options.clientNoContextTakeover || offer.params.has('client_no_context_takeover'),
    serverMaxWindowBits: serverBits,
    // Without client_max_window_bits in the offer we must accept any window up to 15.
    clientMaxWindowBits: clientBits === null ? 15 : Math.min(clientBits, options.clientMaxWindowBits),
  };
}

/** Walks the offers in the client's order and accepts the first one we can honour. */
export function negotiateDeflate(
  offers: readonly ExtensionOffer[],
  options: ResolvedDeflateOptions,
): { params: DeflateParams; header: string } | null {
  for (const offer of offers) {
    if (offer.name !== 'permessage-deflate') continue;
    const params = acceptDeflateOffer(offer, options);
    if (params) return { params, header: formatDeflateResponse(params, offer) };
  }
  return null;
}

/** The Sec-WebSocket-Extensions value that states exactly what was agreed. */
export function formatDeflateResponse(params: DeflateParams, offer: ExtensionOffer): string {
  const parts = ['permessage-deflate'];
  if (params.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (params.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (offer.params.has('server_max_window_bits') || params.serverMaxWindowBits < 15) {
    parts.push(`server_max_window_bits=${params.serverMaxWindowBits}`);
  }
  // We may only send client_max_window_bits if the client offered it (RFC 7692 7.1.2.2).
  if (offer.params.has('client_max_window_bits') && params.clientMaxWindowBits < 15) {
    parts.push(`client_max_window_bits=${params.clientMaxWindowBits}`);
  }
  return parts.join('; ');
}

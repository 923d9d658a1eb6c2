// Per-client limits before the upgrade: `perClient: { maxConnections, handshakes, window,
// ipv6Prefix, clientId, maxClients }`. A client is its address (IPv6 grouped by prefix, the
// address behind trusted proxies when the user's Express app says so) or whatever
// clientId(req) returns. Over a limit the pipeline answers 429 with Retry-After.
//
// Bookkeeping is O(1) per handshake and bounded: one entry per client in a Map kept in
// least-recently-active order (touching an entry moves it to the end). When the table is
// full, the quietest entry without open connections is forgotten. Entries with open
// connections are never evicted (closed() must find them); there are at most as many of
// those as open connections, each of which costs far more than its entry.
//
// Handshakes are counted with a sliding-window counter: the count of the current fixed
// window plus the previous window's count weighted by how much of it still overlaps the
// sliding window. Three numbers per client, no timestamps list.
import type { IncomingMessage } from 'node:http';
import { checkIPv6Prefix, clientKey, forwardedAddress } from '../../core/client-address';

export interface PerClientOptions {
  /** Most open sockets per client; more get 429. Default: no limit. */
  maxConnections?: number;
  /** Most handshakes per client within `window`; more get 429. Default: no limit. */
  handshakes?: number;
  /** The handshake window in ms. Default 60000. */
  window?: number;
  /** IPv6 clients are grouped by this prefix length. Default 64. */
  ipv6Prefix?: number;
  /**
   * The client's identity (an API key, a user id set by `use`/`verify`); return undefined
   * to fall back to the address. When set, the check runs after `use` and `verify`.
   */
  clientId?: (req: IncomingMessage) => string | undefined;
  /** Most clients remembered at once (quiet ones are forgotten first). Default 50000. */
  maxClients?: number;
}

export type Admission = { ok: true } | { ok: false; retryAfter: number; reason: string };

interface Entry {
  /** Open sockets. */
  open: number;
  /** Start of the current fixed window (ms). */
  start: number;
  /** Handshakes admitted in the current window and in the one before it. */
  current: number;
  previous: number;
}

const DEFAULT_WINDOW = 60_000;
const DEFAULT_MAX_CLIENTS = 50_000;
// Entries with open sockets met at the front of the table are moved back at most this
// many times per eviction, so eviction stays O(1).
const EVICTION_PROBES = 8;

function positive(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new RangeError(`perClient.${name} must be a positive integer, got ${String(value)}`);
  }
}

export class PerClientLimits {
  readonly maxConnections: number;
  readonly handshakes: number;
  readonly window: number;
  readonly ipv6Prefix: number;
  readonly maxClients: number;
  readonly clientIdFn: ((req: IncomingMessage) => string | undefined) | undefined;
  private readonly table = new Map<string, Entry>();
  /** Entries forgotten to keep the table bounded (a sign of a flood of distinct clients). */
  evictions = 0;

  constructor(options: PerClientOptions) {
    positive('maxConnections', options.maxConnections);
    positive('handshakes', options.handshakes);
    positive('window', options.window);
    positive('maxClients', options.maxClients);
    this.maxConnections = options.maxConnections ?? Infinity;
    this.handshakes = options.handshakes ?? Infinity;
    this.window = options.window ?? DEFAULT_WINDOW;
    this.ipv6Prefix = checkIPv6Prefix(options.ipv6Prefix ?? 64);
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.clientIdFn = options.clientId;
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.table.size;
  }

  /**
   * The key for a request: clientId(req) when given and defined, else the address,
   * taken through X-Forwarded-For only as far as `trust` (Express's compiled
   * `trust proxy`, `app.get('trust proxy fn')`) allows.
   */
  clientId(req: IncomingMessage, trust?: (address: string, hop: number) => boolean): string {
    if (this.clientIdFn) {
      const id = this.clientIdFn(req);
      if (typeof id === 'string' && id !== '') return `id:${id.slice(0, 256)}`;
    }
    const address = forwardedAddress(req.socket?.remoteAddress, req.headers['x-forwarded-for'], trust);
    return clientKey(address, this.ipv6Prefix);
  }

  /**
   * Decides one handshake at time `now` (ms). An admitted handshake is counted; a refused
   * one is not, so a client that waits Retry-After gets in.
   */
  admit(id: string, now: number): Admission {
    const entry = this.touch(id, now);
    if (entry.open >= this.maxConnections) {
      // When a socket closes is unknowable; a second is a polite pace for retries.
      return { ok: false, retryAfter: 1, reason: `Too many open connections from this client (limit ${this.maxConnections})` };
    }
    if (this.handshakes !== Infinity) {
      const elapsed = (now - entry.start) / this.window;
      const estimate = entry.previous * (1 - elapsed) + entry.current;
      if (estimate + 1 > this.handshakes) {
        return {
          ok: false,
          retryAfter: this.retryAfter(entry, now),
          reason: `Too many handshakes from this client (limit ${this.handshakes} per ${this.window} ms)`,
        };
      }
      entry.current++;
    }
    return { ok: true };
  }

  /** A socket of this client is open (after the 101). */
  opened(id: string): void {
    const entry = this.table.get(id);
    if (entry) entry.open++;
    else this.insert(id, { open: 1, start: 0, current: 0, previous: 0 });
  }

  /** A socket of this client closed. */
  closed(id: string): void {
    const entry = this.table.get(id);
    if (entry === undefined || entry.open === 0) return;
    entry.open--;
  }

  /** Open sockets of a client (for tests and stats). */
  openCount(id: string): number {
    return this.table.get(id)?.open ?? 0;
  }

  /** Rolls the entry's windows forward to `now` and marks it most recently active. */
  private touch(id: string, now: number): Entry {
    let entry = this.table.get(id);
    if (entry === undefined) {
      // A client's windows start at its first handshake, so a first burst is judged whole.
      entry = { open: 0, start: now, current: 0, previous: 0 };
      this.insert(id, entry);
      return entry;
    }
    // Most recently active goes last: delete and set again, both O(1).
    this.table.delete(id);
    this.table.set(id, entry);
    if (now >= entry.start + this.window) {
      const windows = Math.floor((now - entry.start) / this.window);
      entry.previous = windows === 1 ? entry.current : 0;
      entry.current = 0;
      entry.start += windows * this.window;
    }
    return entry;
  }

  private insert(id: string, entry: Entry): void {
    if (this.table.size >= this.maxClients) this.evict();
    this.table.set(id, entry);
  }

  /** Forgets the quietest entry that has no open socket, looking at a bounded number of entries. */
  private evict(): void {
    for (let probe = 0; probe < EVICTION_PROBES; probe++) {
      const first = this.table.keys().next();
      if (first.done) return;
      const entry = this.table.get(first.value)!;
      this.table.delete(first.value);
      if (entry.open === 0) {
        this.evictions++;
        return;
      }
      this.table.set(first.value, entry); // in use: keep it, look at the next quietest
    }
    // Every probed entry has open sockets: let the table grow by one; it stays within the
    // number of open sockets plus maxClients.
  }

  /** Seconds until one more handshake fits the sliding window. */
  private retryAfter(entry: Entry, now: number): number {
    const w = this.window;
    const limit = this.handshakes;
    let at: number;
    if (entry.current + 1 <= limit) {
      // The previous window's weight has to shrink: previous * (1 - f) + current + 1 <= limit.
      const f = 1 - (limit - 1 - entry.current) / entry.previous;
      at = entry.start + f * w;
    } else {
      // Wait for the next window, in which this window's count weighs previous.
      const f = 1 - (limit - 1) / entry.current;
      at = entry.start + w + Math.max(0, f) * w;
    }
    return Math.max(1, Math.ceil((at - now) / 1000));
  }
}

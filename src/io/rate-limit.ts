// Message rate limits per socket: `rateLimit: { messages, bytes, window, action }`.
// Checked on every frame header as it arrives, before the payload is read or inflated:
// the cost of a frame is 1 message token and its payload length (on the wire, before
// decompression) in byte tokens. Control frames count too, so a ping flood is throttled
// like any other. One RateLimiter per socket holds three numbers and a reference to the
// endpoint's shared settings.
import { type BucketRate, bucketRate, refill, waitFor } from '../core/token-bucket';

export interface RateLimitOptions {
  /** Frames (data, continuation and control) per window. Default: no frame limit. */
  messages?: number;
  /** Payload bytes per window, as sent (compressed size for compressed frames). Default: no byte limit. */
  bytes?: number;
  /** The window in ms; the buckets refill continuously at messages/window and bytes/window. Default 1000. */
  window?: number;
  /**
   * Over the limit: 'close' the socket with 1008 (default), or 'pause' reading until the
   * tokens are back (TCP flow control then slows the client down).
   */
  action?: 'close' | 'pause';
}

/** Validated, shared by every socket of an endpoint. */
export interface RateLimitSettings {
  readonly messages: BucketRate | null;
  readonly bytes: BucketRate | null;
  readonly action: 'close' | 'pause';
}

/** The close reason sent with 1008 when action is 'close'. */
export const RATE_LIMIT_REASON = 'rate limit exceeded';

/** Checks the options once per endpoint; null when rate limiting is off. Throws on invalid options. */
export function resolveRateLimit(options: RateLimitOptions | false | undefined): RateLimitSettings | null {
  if (options === undefined || options === false) return null;
  const window = options.window ?? 1000;
  const action = options.action ?? 'close';
  if (action !== 'close' && action !== 'pause') throw new TypeError(`rateLimit.action must be 'close' or 'pause', got ${String(action)}`);
  if (!(window > 0) || !Number.isFinite(window)) throw new RangeError(`rateLimit.window must be a number of ms above 0, got ${String(window)}`);
  for (const name of ['messages', 'bytes'] as const) {
    const value = options[name];
    if (value !== undefined && !(value > 0)) throw new RangeError(`rateLimit.${name} must be above 0, got ${String(value)}`);
  }
  if (options.messages === undefined && options.bytes === undefined) {
    throw new TypeError('rateLimit needs messages, bytes or both');
  }
  return {
    messages: options.messages === undefined ? null : bucketRate(options.messages, window),
    bytes: options.bytes === undefined ? null : bucketRate(options.bytes, window),
    action,
  };
}

/**
 * One socket's limiter. Both buckets start full. frame() charges a frame and returns 0
 * when it is within the limit, else the milliseconds until the buckets are back to zero
 * (what to pause for; with action 'close', close with 1008 instead). A frame whose payload
 * alone exceeds `bytes` passes when the bucket is full and leaves it in debt, so `bytes`
 * below maxPayload throttles large messages rather than refusing them for ever.
 */
export class RateLimiter {
  private messageTokens: number;
  private byteTokens: number;
  private last: number;
  /** @internal with action 'pause': the timer that resumes reading, owned by the connection. */
  timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: RateLimitSettings,
    now: number,
  ) {
    this.messageTokens = settings.messages?.capacity ?? 0;
    this.byteTokens = settings.bytes?.capacity ?? 0;
    this.last = now;
  }

  get action(): 'close' | 'pause' {
    return this.settings.action;
  }

  frame(payloadBytes: number, now: number): number {
    const elapsed = now - this.last;
    if (elapsed > 0) this.last = now;
    let wait = 0;
    const m = this.settings.messages;
    if (m !== null) {
      const before = refill(m, this.messageTokens, elapsed);
      this.messageTokens = before - 1;
      if (this.messageTokens < 0 && before < m.capacity) wait = waitFor(m, this.messageTokens);
    }
    const b = this.settings.bytes;
    if (b !== null) {
      const before = refill(b, this.byteTokens, elapsed);
      this.byteTokens = before - payloadBytes;
      if (this.byteTokens < 0 && before < b.capacity) wait = Math.max(wait, waitFor(b, this.byteTokens));
    }
    return wait;
  }
}

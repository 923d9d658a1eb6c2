// A token bucket, pure: the caller passes the time (milliseconds, any monotonic clock) and
// keeps the state, which is two numbers (tokens, last refill time). The bucket holds at
// most `capacity` tokens and gains `capacity` every `window` ms, continuously.
//
// take() charges first and judges after: a cost is always recorded, and the answer is
// how long the bucket needs to climb back to zero (0 when it did not go below). The
// caller can thus pause for that long and lose nothing, or refuse. One exception keeps a
// single cost larger than the whole bucket from being refused forever: it passes when the
// bucket is full, and leaves it in debt.

export interface BucketRate {
  /** Most tokens held; also the burst allowed after a quiet period. */
  readonly capacity: number;
  /** Tokens gained per millisecond (capacity / window). */
  readonly perMs: number;
}

export function bucketRate(capacity: number, windowMs: number): BucketRate {
  if (!(capacity > 0) || !(windowMs > 0)) throw new RangeError('a token bucket needs a capacity and a window above 0');
  return { capacity, perMs: capacity / windowMs };
}

/** Tokens after refilling from `tokens` over `elapsed` ms, capped at capacity. */
export function refill(rate: BucketRate, tokens: number, elapsed: number): number {
  if (!(elapsed > 0)) return tokens; // a clock that went back, or no time at all
  return Math.min(rate.capacity, tokens + elapsed * rate.perMs);
}

/** Milliseconds until `tokens` (negative: a debt) is back to zero; 0 when it is not below. */
export function waitFor(rate: BucketRate, tokens: number): number {
  return tokens >= 0 ? 0 : Math.max(1, Math.ceil(-tokens / rate.perMs));
}

/** The bucket as an object, for single use; the rate limiter keeps the numbers inline. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: BucketRate,
    now: number,
  ) {
    this.tokens = rate.capacity;
    this.last = now;
  }

  /** Tokens now (may be negative: a debt). */
  level(now: number): number {
    this.tokens = refill(this.rate, this.tokens, now - this.last);
    if (now > this.last) this.last = now;
    return this.tokens;
  }

  /** Charges `cost`; returns 0 when allowed, else ms until the bucket is back to zero. */
  take(cost: number, now: number): number {
    const before = this.level(now);
    this.tokens = before - cost;
    if (this.tokens >= 0 || before >= this.rate.capacity) return 0;
    return waitFor(this.rate, this.tokens);
  }
}

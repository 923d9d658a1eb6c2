// The per-socket message rate limiter: frames are charged as their headers arrive.
import { RateLimiter, resolveRateLimit } from '../../src/io/rate-limit';

test('messages per window: a burst of `messages` frames, then the wait until a token returns', () => {
  const limiter = new RateLimiter(resolveRateLimit({ messages: 100, window: 1000 })!, 0);
  for (let i = 0; i < 100; i++) expect(limiter.frame(10, 0)).toBe(0);
  expect(limiter.frame(0, 0)).toBe(10); // one frame's worth of debt at 0.1 token/ms
  expect(limiter.frame(0, 30)).toBe(0); // 3 tokens back, 1 owed, 1 spent
  expect(limiter.frame(0, 30)).toBe(0);
  expect(limiter.frame(0, 30)).toBe(10);
});

test('bytes per window count payload bytes as sent', () => {
  const limiter = new RateLimiter(resolveRateLimit({ bytes: 1000, window: 1000 })!, 0);
  expect(limiter.frame(600, 0)).toBe(0);
  expect(limiter.frame(400, 0)).toBe(0);
  expect(limiter.frame(100, 0)).toBe(100);
  expect(limiter.frame(0, 200)).toBe(0); // 200 bytes back, 100 owed: +100
});

test('both limits: the longer wait wins', () => {
  const limiter = new RateLimiter(resolveRateLimit({ messages: 10, bytes: 100, window: 1000 })!, 0);
  expect(limiter.frame(100, 0)).toBe(0);
  expect(limiter.frame(50, 0)).toBe(500);
});

test('a single frame larger than `bytes` passes on a full bucket and leaves a debt', () => {
  const limiter = new RateLimiter(resolveRateLimit({ bytes: 1000, window: 1000 })!, 0);
  expect(limiter.frame(5000, 0)).toBe(0);
  expect(limiter.frame(1, 0)).toBe(4001);
  expect(limiter.frame(1, 6000)).toBe(0);
});

test('a flood is throttled to the configured rate whatever the frame sizes (ping flood, empty frames)', () => {
  const limiter = new RateLimiter(resolveRateLimit({ messages: 1000, window: 1000, action: 'pause' })!, 0);
  // A peer sending 1,000,000 empty frames per second for 5 s, paused whenever told to:
  let now = 0;
  let delivered = 0;
  let resumeAt = 0;
  for (let i = 0; i < 5_000_000 && now < 5000; i++) {
    now = i / 1000; // one frame per microsecond
    if (now < resumeAt) continue; // reading is paused: the frame is not read
    const wait = limiter.frame(0, now);
    delivered++;
    if (wait > 0) resumeAt = now + wait;
  }
  expect(delivered).toBeLessThanOrEqual(1000 + 5 * 1000 + 10);
  expect(delivered).toBeGreaterThanOrEqual(5 * 1000);
});

test('per-socket state is three numbers, a timer slot (pause) and a shared reference', () => {
  const settings = resolveRateLimit({ messages: 10, bytes: 10 })!;
  const limiter = new RateLimiter(settings, 0);
  const fields = Object.keys(limiter);
  expect(fields.sort()).toEqual(['byteTokens', 'last', 'messageTokens', 'settings', 'timer'].sort());
  expect(limiter.action).toBe('close');
});

test('option validation', () => {
  expect(resolveRateLimit(undefined)).toBeNull();
  expect(resolveRateLimit(false)).toBeNull();
  expect(() => resolveRateLimit({})).toThrow(TypeError);
  expect(() => resolveRateLimit({ messages: 0 })).toThrow(RangeError);
  expect(() => resolveRateLimit({ messages: 5, window: 0 })).toThrow(RangeError);
  expect(() => resolveRateLimit({ messages: 5, action: 'drop' as 'close' })).toThrow(TypeError);
  expect(resolveRateLimit({ bytes: 5 })!.messages).toBeNull();
});

// The pure token bucket: time is passed in.
import { bucketRate, refill, TokenBucket, waitFor } from '../../src/core/token-bucket';

test('a full bucket allows capacity takes, then tells how long to wait', () => {
  const b = new TokenBucket(bucketRate(10, 1000), 0); // 10 per second
  for (let i = 0; i < 10; i++) expect(b.take(1, 0)).toBe(0);
  expect(b.take(1, 0)).toBe(100); // one token is 100 ms away
  expect(b.level(0)).toBe(-1);
  expect(b.take(1, 150)).toBe(50); // 1.5 back, 2 charged: -0.5
  expect(b.take(1, 1000)).toBe(0);
});

test('refill is continuous and capped; a clock going back changes nothing', () => {
  const r = bucketRate(100, 1000);
  expect(refill(r, 0, 500)).toBe(50);
  expect(refill(r, 90, 500)).toBe(100);
  expect(refill(r, 10, -5)).toBe(10);
  const b = new TokenBucket(r, 1000);
  b.take(100, 1000);
  expect(b.level(500)).toBe(0);
  expect(b.level(1010)).toBeCloseTo(1);
});

test('a cost larger than the bucket passes when full and leaves a debt', () => {
  const b = new TokenBucket(bucketRate(1000, 1000), 0);
  expect(b.take(5000, 0)).toBe(0);
  expect(b.level(0)).toBe(-4000);
  expect(b.take(1, 0)).toBe(4001);
  expect(b.take(1, 5000)).toBe(0);
});

test('the average rate over a long run is the configured one', () => {
  const b = new TokenBucket(bucketRate(50, 1000), 0);
  let allowed = 0;
  for (let t = 0; t <= 10_000; t += 1) if (b.take(1, t) === 0) allowed++;
  // 50 burst + 50/s for 10 s (refused takes still charge, so the peer that ignores the wait gets less)
  expect(allowed).toBeLessThanOrEqual(550);
  expect(allowed).toBeGreaterThan(0);
});

test('waitFor and validation', () => {
  const r = bucketRate(10, 1000);
  expect(waitFor(r, 5)).toBe(0);
  expect(waitFor(r, -0.0001)).toBe(1);
  expect(() => bucketRate(0, 1000)).toThrow(RangeError);
  expect(() => bucketRate(10, 0)).toThrow(RangeError);
});

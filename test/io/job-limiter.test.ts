// src/io/job-limiter.ts: at most `limit` jobs at once, FIFO, release once, no recursion.
import { JobLimiter, sharedLimiter } from '../../src/io/job-limiter';

describe('JobLimiter', () => {
  test('runs at most `limit` jobs at once; the rest wait', () => {
    const limiter = new JobLimiter(2);
    const releases: (() => void)[] = [];
    const started: number[] = [];
    for (let i = 0; i < 5; i++) {
      limiter.run((release) => {
        started.push(i);
        releases.push(release);
      });
    }
    expect(started).toEqual([0, 1]);
    expect(limiter.active).toBe(2);
    expect(limiter.pending).toBe(3);
    releases[0]();
    expect(started).toEqual([0, 1, 2]);
    expect(limiter.active).toBe(2);
    expect(limiter.pending).toBe(2);
  });

  test('jobs start in the order they were submitted', () => {
    const limiter = new JobLimiter(1);
    const order: string[] = [];
    const releases: (() => void)[] = [];
    for (const name of ['a', 'b', 'c', 'd']) {
      limiter.run((release) => {
        order.push(name);
        releases.push(release);
      });
    }
    while (releases.length > 0) releases.shift()!();
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
  });

  test('a release called twice frees one place only', () => {
    const limiter = new JobLimiter(1);
    let first!: () => void;
    const started: number[] = [];
    limiter.run((release) => {
      started.push(0);
      first = release;
    });
    limiter.run(() => started.push(1)); // never releases
    limiter.run(() => started.push(2));
    first();
    first();
    first();
    expect(started).toEqual([0, 1]);
    expect(limiter.active).toBe(1);
    expect(limiter.pending).toBe(1);
  });

  test('thousands of jobs released at once run without recursion', () => {
    const limiter = new JobLimiter(1);
    // Hold the only slot so that everything queues, then let them all release instantly.
    let hold!: () => void;
    limiter.run((release) => (hold = release));
    let ran = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      limiter.run((release) => {
        ran++;
        release();
      });
    }
    expect(limiter.pending).toBe(n);
    expect(() => hold()).not.toThrow();
    expect(ran).toBe(n);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
  });

  test('a job that releases synchronously while running lets the next start', () => {
    const limiter = new JobLimiter(1);
    const order: number[] = [];
    limiter.run((release) => {
      order.push(1);
      release();
      order.push(2);
    });
    limiter.run((release) => {
      order.push(3);
      release();
    });
    expect(order).toEqual([1, 2, 3]);
  });

  test('a job submitted from inside a running job starts after the queue ahead of it', () => {
    const limiter = new JobLimiter(1);
    const order: string[] = [];
    const releases: (() => void)[] = [];
    limiter.run((release) => {
      order.push('outer');
      limiter.run((r) => {
        order.push('inner');
        r();
      });
      releases.push(release);
    });
    limiter.run((r) => {
      order.push('second');
      r();
    });
    expect(order).toEqual(['outer']);
    releases[0]();
    expect(order).toEqual(['outer', 'inner', 'second']);
  });

  test('the limit is exposed', () => {
    expect(new JobLimiter(7).limit).toBe(7);
  });
});

describe('sharedLimiter', () => {
  test('one limiter per concurrency, shared process-wide', () => {
    const a = sharedLimiter(3);
    expect(sharedLimiter(3)).toBe(a);
    expect(a.limit).toBe(3);
    const b = sharedLimiter(4);
    expect(b).not.toBe(a);
    expect(b.limit).toBe(4);
  });

  test('the shared limiter bounds jobs across callers', () => {
    const limiter = sharedLimiter(2);
    const releases: (() => void)[] = [];
    let started = 0;
    for (let i = 0; i < 3; i++) {
      sharedLimiter(2).run((release) => {
        started++;
        releases.push(release);
      });
    }
    expect(started).toBe(2);
    expect(limiter.pending).toBe(1);
    for (const r of releases.splice(0)) r();
    for (const r of releases.splice(0)) r();
    expect(started).toBe(3);
    expect(limiter.active).toBe(0);
  });
});

// A process-wide bound on concurrent zlib jobs: compression costs memory and thread-pool
// time, so at most `limit` jobs run at once, whatever the number of connections.

/** Runs at most `limit` jobs at once; zlib work is costly in memory and thread-pool time. */
export class JobLimiter {
  private running = 0;
  private readonly queue: ((release: () => void) => void)[] = [];
  private pumping = false;
  constructor(readonly limit: number) {}

  run(job: (release: () => void) => void): void {
    this.queue.push(job);
    this.pump();
  }

  get active(): number {
    return this.running;
  }

  get pending(): number {
    return this.queue.length;
  }

  // A loop, not recursion: jobs that release at once (their codec closed) may be thousands.
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running < this.limit && this.queue.length > 0) {
        this.running++;
        this.queue.shift()!(this.releaser());
      }
    } finally {
      this.pumping = false;
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.pump();
    };
  }
}

const limiters = new Map<number, JobLimiter>();

/** The process-wide limiter for a concurrency setting. */
export function sharedLimiter(concurrency: number): JobLimiter {
  let limiter = limiters.get(concurrency);
  if (!limiter) limiters.set(concurrency, (limiter = new JobLimiter(concurrency)));
  return limiter;
}

// Per-client limits, pure-ish: time is passed in, no sockets.
import type { IncomingMessage } from 'node:http';
import { PerClientLimits } from '../../../src/io/guards/per-client';

const req = (remoteAddress: string | undefined, headers: Record<string, string> = {}) =>
  ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;

describe('handshakes per window', () => {
  test('the limit holds within a window and frees up as the window slides', () => {
    const limits = new PerClientLimits({ handshakes: 10, window: 1000 });
    for (let i = 0; i < 10; i++) expect(limits.admit('a', 100).ok).toBe(true);
    const refused = limits.admit('a', 100);
    expect(refused).toMatchObject({ ok: false, retryAfter: expect.any(Number) });
    // another client is not affected
    expect(limits.admit('b', 100).ok).toBe(true);
    // a client's first window starts at its first handshake (100): at 1100 the next one starts
    // and the previous still weighs 100%, at 1600 half of it
    expect(limits.admit('a', 1000).ok).toBe(false);
    expect(limits.admit('a', 1100).ok).toBe(false);
    let ok = 0;
    for (let i = 0; i < 10; i++) if (limits.admit('a', 1600).ok) ok++;
    expect(ok).toBe(5);
    // two windows later, nothing weighs
    for (let i = 0; i < 10; i++) expect(limits.admit('a', 3100).ok).toBe(true);
  });

  test('the sliding count never lets through more than the limit in any window-long span', () => {
    const limits = new PerClientLimits({ handshakes: 20, window: 1000 });
    const admitted: number[] = [];
    for (let t = 0; t < 10_000; t += 7) if (limits.admit('x', t).ok) admitted.push(t);
    for (let i = 0; i < admitted.length; i++) {
      let j = i;
      while (j < admitted.length && admitted[j] < admitted[i] + 1000) j++;
      // the sliding-window counter is an approximation; it may exceed by at most the limit once
      expect(j - i).toBeLessThanOrEqual(40);
    }
    // over 10 s at most ~ (10 + 1) windows' worth
    expect(admitted.length).toBeLessThanOrEqual(20 * 11);
    expect(admitted.length).toBeGreaterThanOrEqual(20 * 9);
  });

  test('Retry-After is when one more handshake would pass', () => {
    const limits = new PerClientLimits({ handshakes: 5, window: 10_000 });
    for (let i = 0; i < 5; i++) limits.admit('a', 0);
    const r = limits.admit('a', 0);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    // current = 5 = limit: next window (10 s) plus until 5*(1-f)+1 <= 5, f = 0.2: 12 s
    expect(r.retryAfter).toBe(12);
    expect(limits.admit('a', 11_000).ok).toBe(false);
    expect(limits.admit('a', 12_000).ok).toBe(true);
    expect(r.reason).toContain('handshakes');
  });

  test('refused handshakes are not counted: a client that waits gets in', () => {
    const limits = new PerClientLimits({ handshakes: 2, window: 1000 });
    limits.admit('a', 0);
    limits.admit('a', 0);
    for (let i = 0; i < 1000; i++) expect(limits.admit('a', 500).ok).toBe(false);
    expect(limits.admit('a', 2000).ok).toBe(true);
  });
});

describe('open connections', () => {
  test('maxConnections counts opened minus closed', () => {
    const limits = new PerClientLimits({ maxConnections: 2 });
    expect(limits.admit('a', 0).ok).toBe(true);
    limits.opened('a');
    expect(limits.admit('a', 0).ok).toBe(true);
    limits.opened('a');
    const r = limits.admit('a', 0);
    expect(r).toMatchObject({ ok: false, retryAfter: 1 });
    limits.closed('a');
    expect(limits.admit('a', 0).ok).toBe(true);
    expect(limits.openCount('a')).toBe(1);
    limits.closed('a');
    limits.closed('a'); // an extra close never goes below zero
    expect(limits.openCount('a')).toBe(0);
  });
});

describe('bounded memory under a flood of distinct clients', () => {
  test('the table never grows past maxClients; quiet entries go first; open ones stay', () => {
    const limits = new PerClientLimits({ handshakes: 5, maxConnections: 3, window: 60_000, maxClients: 1000 });
    limits.admit('busy', 0);
    limits.opened('busy');
    for (let i = 0; i < 100_000; i++) limits.admit(`flood-${i}`, i);
    expect(limits.size).toBeLessThanOrEqual(1001);
    expect(limits.evictions).toBeGreaterThan(90_000);
    expect(limits.openCount('busy')).toBe(1); // never evicted while a socket is open
    limits.closed('busy');
    expect(limits.openCount('busy')).toBe(0);
  });

  test('O(1) per decision: 10x the clients costs about 10x the time', () => {
    const run = (n: number) => {
      const limits = new PerClientLimits({ handshakes: 5, maxClients: 5000 });
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) limits.admit(`c${i}`, i);
      return Number(process.hrtime.bigint() - start);
    };
    run(20_000); // warm up
    const small = Math.min(run(20_000), run(20_000));
    const large = Math.min(run(200_000), run(200_000));
    expect(large / small).toBeLessThan(30);
  });

  test('a table full of clients with open sockets grows only with the sockets', () => {
    const limits = new PerClientLimits({ maxConnections: 1, maxClients: 10 });
    for (let i = 0; i < 50; i++) {
      limits.admit(`c${i}`, 0);
      limits.opened(`c${i}`);
    }
    expect(limits.size).toBe(50);
    for (let i = 0; i < 50; i++) expect(limits.openCount(`c${i}`)).toBe(1);
  });
});

describe('client ids', () => {
  test('address by default, IPv6 by /64, mapped IPv4 unwrapped', () => {
    const limits = new PerClientLimits({ handshakes: 1 });
    expect(limits.clientId(req('10.1.2.3'))).toBe('10.1.2.3');
    expect(limits.clientId(req('::ffff:10.1.2.3'))).toBe('10.1.2.3');
    expect(limits.clientId(req('2001:db8:a:b::1'))).toBe(limits.clientId(req('2001:db8:a:b:ffff::2')));
    expect(limits.clientId(req(undefined))).toBe('unknown');
  });
  test('ipv6Prefix groups wider', () => {
    const limits = new PerClientLimits({ handshakes: 1, ipv6Prefix: 48 });
    expect(limits.clientId(req('2001:db8:a:b::1'))).toBe(limits.clientId(req('2001:db8:a:c::1')));
  });
  test('X-Forwarded-For only through a trust function (Express trust proxy)', () => {
    const limits = new PerClientLimits({ handshakes: 1 });
    const r = req('127.0.0.1', { 'x-forwarded-for': '6.6.6.6' });
    expect(limits.clientId(r)).toBe('127.0.0.1');
    expect(limits.clientId(r, (a) => a === '127.0.0.1')).toBe('6.6.6.6');
  });
  test('clientId(req) wins; undefined falls back to the address; prototype names are plain keys', () => {
    const limits = new PerClientLimits({ handshakes: 1, clientId: (r) => (r.headers['x-key'] as string) || undefined });
    expect(limits.clientId(req('1.1.1.1', { 'x-key': 'k1' }))).toBe('id:k1');
    expect(limits.clientId(req('1.1.1.1'))).toBe('1.1.1.1');
    for (const name of ['__proto__', 'constructor', 'hasOwnProperty']) {
      const id = limits.clientId(req('1.1.1.1', { 'x-key': name }));
      expect(limits.admit(id, 0).ok).toBe(true);
      expect(limits.admit(id, 0).ok).toBe(false);
    }
    expect(({} as Record<string, unknown>).open).toBeUndefined();
  });
  test('invalid options throw at construction', () => {
    expect(() => new PerClientLimits({ handshakes: 0 })).toThrow(RangeError);
    expect(() => new PerClientLimits({ maxConnections: 1.5 })).toThrow(RangeError);
    expect(() => new PerClientLimits({ ipv6Prefix: 129 })).toThrow(RangeError);
  });
});

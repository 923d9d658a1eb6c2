// Client keys for per-client limits: IPv4, IPv6 grouped by prefix, mapped IPv4, proxies.
import {
  checkIPv6Prefix,
  clientKey,
  formatIPv6,
  forwardedAddress,
  maskIPv6,
  parseIPv4,
  parseIPv6,
} from '../../src/core/client-address';

describe('parsing', () => {
  test('IPv4', () => {
    expect(parseIPv4('1.2.3.4')).toBe(0x01020304);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', 'a.b.c.d', '', '1..2.3']) expect(parseIPv4(bad)).toBeNull();
  });
  test('IPv6 forms', () => {
    expect(parseIPv6('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('[2001:db8::1]')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6('fe80::1%eth0')).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const bad of ['1:2:3', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', ':::', 'g::1', '1:2:3:4:5:6:7::8', '', ':']) {
      expect(parseIPv6(bad)).toBeNull();
    }
  });
  test('RFC 5952 formatting and masking', () => {
    expect(formatIPv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])).toBe('2001:db8::1:0:0:1');
    expect(formatIPv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIPv6([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
    expect(maskIPv6([0x2001, 0xdb8, 0x1234, 0x5678, 9, 9, 9, 9], 64)).toEqual([0x2001, 0xdb8, 0x1234, 0x5678, 0, 0, 0, 0]);
    expect(maskIPv6([0x2001, 0xdb8, 0x12ff, 0, 0, 0, 0, 0], 44)).toEqual([0x2001, 0xdb8, 0x12f0, 0, 0, 0, 0, 0]);
    expect(maskIPv6([0x2001, 0xdb8, 0x12ff, 0, 0, 0, 0, 0], 40)).toEqual([0x2001, 0xdb8, 0x1200, 0, 0, 0, 0, 0]);
  });
});

describe('clientKey', () => {
  test('IPv4 as is, mapped IPv4 unwrapped', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:cb00:7107')).toBe('203.0.113.7');
  });
  test('IPv6 addresses of one /64 share a key, others do not', () => {
    const a = clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    expect(a).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0DB8:0001:0002::1')).toBe(a);
    expect(clientKey('[2001:db8:1:2::ffff]')).toBe(a);
    expect(clientKey('2001:db8:1:3::1')).not.toBe(a);
  });
  test('a configurable prefix', () => {
    expect(clientKey('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(clientKey('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2::1');
    expect(clientKey('2001:db8:1:2::1', 0)).toBe('::/0');
  });
  test('no address, or something else', () => {
    expect(clientKey(undefined)).toBe('unknown');
    expect(clientKey('')).toBe('unknown');
    expect(clientKey('X'.repeat(500))).toHaveLength(64);
  });
  test('prefix validation', () => {
    expect(checkIPv6Prefix(56)).toBe(56);
    for (const bad of [-1, 129, 1.5, NaN]) expect(() => checkIPv6Prefix(bad)).toThrow(RangeError);
  });
});

describe('forwardedAddress (Express trust proxy semantics)', () => {
  const trustLoopback = (a: string) => a === '127.0.0.1' || a === '10.0.0.1';
  test('no trust function or no header: the socket address', () => {
    expect(forwardedAddress('127.0.0.1', '1.1.1.1', undefined)).toBe('127.0.0.1');
    expect(forwardedAddress('127.0.0.1', undefined, trustLoopback)).toBe('127.0.0.1');
  });
  test('walks right to left while hops are trusted', () => {
    expect(forwardedAddress('127.0.0.1', '6.6.6.6, 1.1.1.1', trustLoopback)).toBe('1.1.1.1');
    expect(forwardedAddress('127.0.0.1', '6.6.6.6, 1.1.1.1, 10.0.0.1', trustLoopback)).toBe('1.1.1.1');
    expect(forwardedAddress('8.8.8.8', '6.6.6.6', trustLoopback)).toBe('8.8.8.8');
    expect(forwardedAddress('127.0.0.1', ['6.6.6.6', '10.0.0.1'], trustLoopback)).toBe('6.6.6.6');
  });
  test('trust-all stops at the leftmost entry; hop counts as Express numbers them', () => {
    expect(forwardedAddress('127.0.0.1', '1.1.1.1, 2.2.2.2', () => true)).toBe('1.1.1.1');
    expect(forwardedAddress('127.0.0.1', '1.1.1.1, 2.2.2.2', (_a, hop) => hop < 1)).toBe('2.2.2.2');
  });
  test('a huge header costs bounded work (maxHops)', () => {
    const header = Array.from({ length: 5000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',');
    let calls = 0;
    forwardedAddress('127.0.0.1', header, () => (calls++, true));
    expect(calls).toBeLessThanOrEqual(32);
  });
});

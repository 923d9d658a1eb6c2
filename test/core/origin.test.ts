// The Origin decision, pure: same-origin by default, explicit rules, '*', publicOrigin.
import { originAllowed, originRefusal, parseOrigin, sameOrigin, checkPublicOrigin } from '../../src/core/origin';
import { validateHandshake } from '../../src/core/handshake';

describe('sameOrigin: Origin against Host', () => {
  test.each([
    ['http://example.com', 'example.com'],
    ['https://example.com', 'example.com'],
    ['http://example.com', 'example.com:80'],
    ['https://example.com', 'example.com:443'],
    ['https://example.com:443', 'example.com'],
    ['http://localhost:8080', 'localhost:8080'],
    ['HTTP://EXAMPLE.COM', 'Example.Com'],
    ['http://127.0.0.1:3000', '127.0.0.1:3000'],
    ['http://[::1]:8080', '[::1]:8080'],
    ['http://[0:0::1]:8080', '[::1]:8080'],
    ['https://[2001:DB8::1]', '[2001:db8:0:0:0:0:0:1]'],
    ['http://example.com.', 'example.com'],
  ])('%s matches Host %s', (origin, host) => {
    expect(sameOrigin(origin, host)).toBe(true);
  });

  test.each([
    ['http://evil.com', 'example.com'],
    ['http://example.com:8080', 'example.com'],
    ['http://example.com', 'example.com:8080'],
    ['https://example.com', 'example.com:80'],
    ['http://example.com:443', 'example.com:80'],
    ['http://localhost:8081', 'localhost:8080'],
    ['http://example.com.evil.com', 'example.com'],
    ['http://evil.com/example.com', 'example.com'],
    ['http://user@example.com', 'example.com'],
    ['null', 'example.com'],
    ['file://', 'example.com'],
    ['example.com', 'example.com'],
    ['http://[::2]:8080', '[::1]:8080'],
    ['http://[::1', '[::1]'],
    ['http://example.com', undefined],
    ['http://example.com', ''],
    ['http://example.com:99999', 'example.com:99999'],
  ])('%s does not match Host %s', (origin, host) => {
    expect(sameOrigin(origin, host as string | undefined)).toBe(false);
  });

  test('only web schemes (http, https, ws, wss) are same-origin', () => {
    expect(sameOrigin('chrome-extension://abc', 'abc')).toBe(false);
    expect(sameOrigin('foo://example.com:81', 'example.com:81')).toBe(false);
    expect(sameOrigin('wss://example.com', 'example.com:443')).toBe(true);
  });
});

describe('originRefusal', () => {
  const host = 'example.com';
  test('no origins option: same origin passes, another origin gets a reason naming the options', () => {
    expect(originRefusal('https://example.com', host, {})).toBeNull();
    const reason = originRefusal('https://evil.com', host, {});
    expect(reason).toContain('`origins`');
    expect(reason).toContain("origins: '*'");
    expect(reason).toContain('publicOrigin');
    expect(reason).toContain('evil.com');
  });
  test('requests without Origin pass unless requireOrigin', () => {
    expect(originRefusal(undefined, host, {})).toBeNull();
    expect(originRefusal('', host, {})).toBeNull();
    expect(originRefusal(undefined, host, { requireOrigin: true })).toBe('An Origin header is required');
  });
  test("origins: '*' (alone or in a list) opts out", () => {
    expect(originRefusal('https://evil.com', host, { origins: '*' })).toBeNull();
    expect(originRefusal('null', host, { origins: ['https://a.com', '*'] })).toBeNull();
    expect(originRefusal(undefined, host, { origins: '*', requireOrigin: true })).not.toBeNull();
  });
  test('explicit rules replace the same-origin rule', () => {
    expect(originRefusal('https://app.example.com', host, { origins: ['https://app.example.com'] })).toBeNull();
    expect(originRefusal('https://example.com', host, { origins: ['https://app.example.com'] })).toBe(
      'Origin "https://example.com" is not allowed',
    );
    expect(originRefusal('https://x.example.com', host, { origins: /^https:\/\/[a-z]+\.example\.com$/ })).toBeNull();
    expect(originRefusal('https://x.evil.com', host, { origins: (o) => o.endsWith('.example.com') })).not.toBeNull();
  });
  test('publicOrigin replaces Host: scheme, host and port must match', () => {
    const policy = { publicOrigin: 'https://example.com' };
    expect(originRefusal('https://example.com', 'internal:3000', policy)).toBeNull();
    expect(originRefusal('https://example.com:443', 'internal:3000', policy)).toBeNull();
    expect(originRefusal('http://example.com', 'example.com', policy)).toContain('publicOrigin');
    expect(originRefusal('https://internal:3000', 'internal:3000', policy)).not.toBeNull();
    expect(originRefusal('https://b.com', 'x', { publicOrigin: ['https://a.com', 'https://b.com/'] })).toBeNull();
  });
  test('the reason never echoes control characters or unbounded text', () => {
    const reason = originRefusal(`http://e\u0000vil.com${'a'.repeat(5000)}`, host, {})!;
    expect(reason.length).toBeLessThan(700);
    expect(reason).not.toMatch(/[\x00-\x1f]/);
  });
  test('checkPublicOrigin refuses what is not an origin', () => {
    expect(() => checkPublicOrigin('https://example.com')).not.toThrow();
    expect(() => checkPublicOrigin('https://example.com/')).not.toThrow();
    expect(() => checkPublicOrigin('example.com')).toThrow(TypeError);
    expect(() => checkPublicOrigin(['https://a.com', 'https://a.com/path'])).toThrow(TypeError);
  });
  test('over-long origins and hosts are refused without parsing them', () => {
    expect(parseOrigin(`http://${'a'.repeat(400)}`)).toBeNull();
    expect(sameOrigin('http://a.com', `${'a'.repeat(400)}.com`)).toBe(false);
  });
});

describe('originAllowed (explicit rules) is unchanged', () => {
  test('strings compare case-insensitively, RegExps are reset, functions are called', () => {
    expect(originAllowed('HTTPS://A.COM', ['https://a.com'])).toBe(true);
    const g = /a\.com/g;
    expect(originAllowed('https://a.com', g)).toBe(true);
    expect(originAllowed('https://a.com', g)).toBe(true);
    expect(originAllowed('https://b.com', (o) => o === 'https://b.com')).toBe(true);
    expect(originAllowed(undefined, [], true)).toBe(false);
  });
});

describe('validateHandshake with the same-origin default', () => {
  const request = (headers: Record<string, string>) => ({
    method: 'GET',
    httpVersion: '1.1',
    headers: {
      host: 'example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      ...headers,
    },
  });
  test('cross-origin is 403 with the option named; same origin and no Origin are 101', () => {
    const refused = validateHandshake(request({ origin: 'https://evil.com' }));
    expect(refused.ok).toBe(false);
    expect(refused.status).toBe(403);
    if (!refused.ok) expect(refused.reason).toContain('`origins`');
    expect(validateHandshake(request({ origin: 'https://example.com' })).status).toBe(101);
    expect(validateHandshake(request({})).status).toBe(101);
    expect(validateHandshake(request({ origin: 'https://evil.com' }), { origins: '*' }).status).toBe(101);
  });
  test('the legacy Sec-WebSocket-Origin header is checked the same way', () => {
    expect(validateHandshake(request({ 'sec-websocket-origin': 'https://evil.com' })).status).toBe(403);
  });
  test('publicOrigin is honoured through HandshakeOptions', () => {
    const h = request({ host: '10.0.0.5:3000', origin: 'https://example.com' });
    expect(validateHandshake(h).status).toBe(403);
    expect(validateHandshake(h, { publicOrigin: 'https://example.com' }).status).toBe(101);
  });
});

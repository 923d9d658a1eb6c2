// validateHandshake and the response formatters: RFC 6455 section 4.2.1 rule by rule,
// each with a request that passes and one that fails.
import fc from 'fast-check';
import { computeAcceptKey, validateHandshake } from '../../src';
import { formatAccept, formatReject } from '../../src/core/http-response';
import type { HandshakeAccept, HandshakeDecision, HandshakeOptions, HandshakeReject, HandshakeRequest } from '../../src/core/handshake';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

type Headers = HandshakeRequest['headers'];

/** A valid request; `headers` entries override (undefined removes one). */
function request(headers: Headers = {}, method = 'GET', httpVersion = '1.1'): HandshakeRequest {
  const base: Record<string, string | string[] | undefined> = {
    host: 'example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return { method, httpVersion, headers: base };
}

function accepted(decision: HandshakeDecision): HandshakeAccept {
  if (!decision.ok) throw new Error(`expected 101, got ${decision.status}: ${decision.reason}`);
  expect(decision.status).toBe(101);
  return decision;
}

function rejected(decision: HandshakeDecision, status: number): HandshakeReject {
  if (decision.ok) throw new Error(`expected ${status}, got 101`);
  expect(decision.status).toBe(status);
  expect(decision.reason.length).toBeGreaterThan(0);
  return decision;
}

const check = (headers: Headers, options?: HandshakeOptions) => validateHandshake(request(headers), options);

describe('method and HTTP version', () => {
  test('GET is accepted', () => {
    accepted(validateHandshake(request({}, 'GET')));
  });

  test.each(['POST', 'HEAD', 'PUT', 'get', ''])('%j is refused with 405 and Allow: GET', (method) => {
    const r = rejected(validateHandshake(request({}, method)), 405);
    expect(r.headers).toEqual({ Allow: 'GET' });
  });

  test.each(['1.1', '2.0'])('HTTP/%s is accepted', (version) => {
    accepted(validateHandshake(request({}, 'GET', version)));
  });

  test.each(['1.0', '0.9', '', 'x', '1.1.1'])('HTTP/%j is refused with 400', (version) => {
    rejected(validateHandshake(request({}, 'GET', version)), 400);
  });
});

describe('Host', () => {
  test('present is accepted', () => {
    accepted(check({ host: 'localhost:8080' }));
  });
  test('missing is 400', () => {
    rejected(check({ host: undefined }), 400);
  });
  test('empty is 400', () => {
    rejected(check({ host: '' }), 400);
  });
});

describe('Upgrade', () => {
  test.each(['websocket', 'WebSocket', 'WEBSOCKET', 'foo, websocket', 'foo ,  WebSocket , bar'])('%j is accepted', (v) => {
    accepted(check({ upgrade: v }));
  });
  test('as a repeated header is accepted', () => {
    accepted(check({ upgrade: ['h2c', 'websocket'] }));
  });
  test.each([undefined, '', 'h2c', 'websocketx', 'web socket', 'websocket/13x'])('%j is 400', (v) => {
    rejected(check({ upgrade: v }), 400);
  });
});

describe('Connection', () => {
  test.each(['Upgrade', 'upgrade', 'keep-alive, Upgrade', 'Upgrade,keep-alive'])('%j is accepted', (v) => {
    accepted(check({ connection: v }));
  });
  test.each([undefined, '', 'keep-alive', 'upgradefoo', 'close'])('%j is 400', (v) => {
    rejected(check({ connection: v }), 400);
  });
});

describe('Sec-WebSocket-Key', () => {
  test('a 16-byte base64 value is accepted', () => {
    for (let i = 0; i < 20; i++) {
      const key = Buffer.alloc(16, i * 13).toString('base64');
      expect(accepted(check({ 'sec-websocket-key': key })).headers['Sec-WebSocket-Accept']).toBe(computeAcceptKey(key));
    }
  });

  test.each([
    ['missing', undefined],
    ['15 bytes', Buffer.alloc(15, 7).toString('base64')],
    ['17 bytes', Buffer.alloc(17, 7).toString('base64')],
    ['not base64', '!!!!!!!!!!!!!!!!!!!!!!=='],
    ['base64url alphabet', '-_-_-_-_-_-_-_-_-_-_-_=='],
    ['no padding', 'dGhlIHNhbXBsZSBub25jZQ'],
    ['empty', ''],
    ['two keys in one value', `${KEY}, ${KEY}`],
    ['two keys as a repeated header', [KEY, KEY]],
  ])('%s is 400', (_name, key) => {
    rejected(check({ 'sec-websocket-key': key }), 400);
  });
});

describe('Sec-WebSocket-Version', () => {
  test('13 is accepted', () => {
    accepted(check({ 'sec-websocket-version': '13' }));
  });
  test('missing is 400 and names the supported version', () => {
    const r = rejected(check({ 'sec-websocket-version': undefined }), 400);
    expect(r.headers).toEqual({ 'Sec-WebSocket-Version': '13' });
  });
  test.each(['8', '13, 8', '14', '', 'x'])('%j is 426 with Sec-WebSocket-Version: 13', (v) => {
    const r = rejected(check({ 'sec-websocket-version': v }), 426);
    expect(r.headers).toEqual({ 'Sec-WebSocket-Version': '13' });
  });
  test('a repeated header is 426', () => {
    rejected(check({ 'sec-websocket-version': ['13', '8'] }), 426);
  });
});

describe('the 101 decision', () => {
  test('computeAcceptKey matches the RFC 6455 example', () => {
    expect(computeAcceptKey(KEY)).toBe(ACCEPT);
  });

  test('carries Sec-WebSocket-Accept, Upgrade and Connection, and nothing optional', () => {
    const a = accepted(check({}));
    expect(a.headers).toEqual({ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Accept': ACCEPT });
    expect(a.protocol).toBe('');
    expect(a.extensions).toBe('');
    expect(a.deflate).toBeNull();
  });
});

describe('origins', () => {
  const origin = (value: string | undefined, options: HandshakeOptions) => check({ origin: value }, options);

  test('exact string, case-insensitively', () => {
    const options = { origins: 'https://App.example.com' };
    accepted(origin('https://app.example.com', options));
    accepted(origin('HTTPS://APP.EXAMPLE.COM', options));
    rejected(origin('https://app.example.com:444', options), 403);
    rejected(origin('http://app.example.com', options), 403);
  });

  test('a list of rules: any match is enough', () => {
    const options = { origins: ['https://a.test', /^https:\/\/[a-z]+\.b\.test$/] };
    accepted(origin('https://a.test', options));
    accepted(origin('https://x.b.test', options));
    rejected(origin('https://x.y.b.test', options), 403);
  });

  test('RegExp', () => {
    const options = { origins: /^https:\/\/(www\.)?example\.org$/ };
    accepted(origin('https://www.example.org', options));
    rejected(origin('https://evil.example.org', options), 403);
  });

  test('a global RegExp gives the same answer every time', () => {
    const options = { origins: /^https:\/\/ok\.test$/g };
    for (let i = 0; i < 4; i++) accepted(origin('https://ok.test', options));
  });

  test('function', () => {
    const seen: string[] = [];
    const options = {
      origins: (o: string) => {
        seen.push(o);
        return o.endsWith('.trusted.test');
      },
    };
    accepted(origin('https://a.trusted.test', options));
    rejected(origin('https://a.untrusted.test', options), 403);
    expect(seen).toEqual(['https://a.trusted.test', 'https://a.untrusted.test']);
  });

  test('the legacy Sec-WebSocket-Origin header is checked too', () => {
    const options = { origins: 'https://a.test' };
    accepted(check({ 'sec-websocket-origin': 'https://a.test' }, options));
    rejected(check({ 'sec-websocket-origin': 'https://b.test' }, options), 403);
  });

  test('absent Origin is allowed unless requireOrigin', () => {
    accepted(origin(undefined, { origins: 'https://a.test' }));
    accepted(origin(undefined, {}));
    rejected(origin(undefined, { origins: 'https://a.test', requireOrigin: true }), 403);
    rejected(origin(undefined, { requireOrigin: true }), 403);
    accepted(origin('https://a.test', { requireOrigin: true, origins: '*' }));
  });

  // Breaking in 0.2.0: without rules only the same origin is allowed; '*' allows any.
  test('without rules only the same origin is allowed; "*" allows any', () => {
    rejected(origin('https://anything.test', {}), 403);
    accepted(origin('https://example.com', {}));
    accepted(origin('https://anything.test', { origins: '*' }));
  });
});

describe('subprotocols', () => {
  const offer = (value: string | string[] | undefined, options: HandshakeOptions) =>
    check({ 'sec-websocket-protocol': value }, options);

  test("the server's order of preference wins among the offered", () => {
    const a = accepted(offer('chat, superchat', { protocols: ['superchat', 'chat'] }));
    expect(a.protocol).toBe('superchat');
    expect(a.headers['Sec-WebSocket-Protocol']).toBe('superchat');
    expect(accepted(offer('v1, v2', { protocols: ['v3', 'v2', 'v1'] })).protocol).toBe('v2');
  });

  test('a repeated header is one list', () => {
    expect(accepted(offer(['a', 'b'], { protocols: ['b'] })).protocol).toBe('b');
  });

  test('a selector function gets the offer and its choice is used', () => {
    let got: readonly string[] = [];
    const a = accepted(
      offer('x, y, z', {
        protocols: (offered) => {
          got = offered;
          return 'y';
        },
      }),
    );
    expect(got).toEqual(['x', 'y', 'z']);
    expect(a.protocol).toBe('y');
    expect(a.headers['Sec-WebSocket-Protocol']).toBe('y');
  });

  test('a selector may only pick an offered protocol', () => {
    const a = accepted(offer('x, y', { protocols: () => 'other' }));
    expect(a.protocol).toBe('');
    expect(a.headers['Sec-WebSocket-Protocol']).toBeUndefined();
    rejected(offer('x, y', { protocols: () => 'other', requireProtocol: true }), 400);
    expect(accepted(offer('x', { protocols: () => false })).protocol).toBe('');
  });

  test('no match means no header, or 400 with requireProtocol', () => {
    const a = accepted(offer('a, b', { protocols: ['c'] }));
    expect(a.headers['Sec-WebSocket-Protocol']).toBeUndefined();
    expect(a.protocol).toBe('');
    rejected(offer('a, b', { protocols: ['c'], requireProtocol: true }), 400);
    rejected(offer(undefined, { protocols: ['c'], requireProtocol: true }), 400);
    expect(accepted(offer('c', { protocols: ['c'], requireProtocol: true })).protocol).toBe('c');
  });

  test('an offer without server protocols is accepted with none chosen', () => {
    expect(accepted(offer('a', {})).headers['Sec-WebSocket-Protocol']).toBeUndefined();
  });

  test.each([
    ['duplicate', 'chat, chat'],
    ['duplicate across repeated headers', ['chat', 'chat']],
    ['bad token character', 'ch@t'],
    ['space inside a token', 'ch at'],
    ['empty value', ''],
    ['only commas', ' , ,'],
  ])('malformed (%s) is 400', (_name, value) => {
    rejected(offer(value, { protocols: ['chat'] }), 400);
    rejected(offer(value, {}), 400);
  });

  test.each([
    ['empty element', 'chat,,superchat'],
    ['trailing comma', 'superchat,'],
  ])('an %s is ignored, as HTTP lists require', (_name, value) => {
    expect(accepted(offer(value, { protocols: ['superchat'] })).protocol).toBe('superchat');
  });
});

describe('permessage-deflate', () => {
  const ext = (value: string | undefined, options: HandshakeOptions) => check({ 'sec-websocket-extensions': value }, options);

  test('off: the offer is ignored, even a malformed one', () => {
    const a = accepted(ext('permessage-deflate', {}));
    expect(a.extensions).toBe('');
    expect(a.deflate).toBeNull();
    expect(a.headers['Sec-WebSocket-Extensions']).toBeUndefined();
    accepted(ext('permessage-deflate;;;"', { perMessageDeflate: false }));
  });

  test('on: the agreed extension is in the response', () => {
    const a = accepted(ext('permessage-deflate; client_max_window_bits', { perMessageDeflate: true }));
    expect(a.headers['Sec-WebSocket-Extensions']).toBe('permessage-deflate');
    expect(a.extensions).toBe('permessage-deflate');
    expect(a.deflate).toEqual({
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    });
    const b = accepted(ext('permessage-deflate; server_max_window_bits=10', { perMessageDeflate: true }));
    expect(b.headers['Sec-WebSocket-Extensions']).toBe('permessage-deflate; server_max_window_bits=10');
  });

  test('on without an offer: no extension', () => {
    const a = accepted(ext(undefined, { perMessageDeflate: true }));
    expect(a.headers['Sec-WebSocket-Extensions']).toBeUndefined();
    expect(a.deflate).toBeNull();
  });

  test('on: an unknown extension is declined, not refused', () => {
    expect(accepted(ext('x-unknown; a=1', { perMessageDeflate: true })).extensions).toBe('');
  });

  test('on: empty list elements are allowed; a repeated parameter declines the offer', () => {
    expect(accepted(ext(',', { perMessageDeflate: true })).extensions).toBe('');
    expect(accepted(ext(', permessage-deflate,', { perMessageDeflate: true })).extensions).toBe('permessage-deflate');
    const a = accepted(ext('permessage-deflate; server_max_window_bits=10; server_max_window_bits=11', { perMessageDeflate: true }));
    expect(a.extensions).toBe('');
    expect(a.deflate).toBeNull();
  });

  test.each(['permessage-deflate;', 'permessage-deflate; a="', 'permessage-deflate; a=', 'permessage-deflate x', 'p@d'])(
    'on: malformed %j is 400',
    (value) => {
      rejected(ext(value, { perMessageDeflate: true }), 400);
    },
  );
});

describe('formatAccept / formatReject', () => {
  test('formatAccept writes the exact 101 response', () => {
    const a = accepted(check({ 'sec-websocket-protocol': 'chat' }, { protocols: ['chat'] }));
    expect(formatAccept(a)).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });

  test('formatAccept writes a repeated header once per value, extra headers after ours', () => {
    const headers = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Accept': ACCEPT };
    const response = formatAccept({ headers }, { 'Set-Cookie': ['a=1', 'b=2'], 'X-Id': '7' });
    expect(response.split('\r\n').slice(4)).toEqual(['Set-Cookie: a=1', 'Set-Cookie: b=2', 'X-Id: 7', '', '']);
  });

  test('a header name or value with CR or LF is a TypeError, never a split response', () => {
    const headers = { Upgrade: 'websocket' };
    expect(() => formatAccept({ headers }, { 'X-A': 'x\r\nInjected: 1' })).toThrow(TypeError);
    expect(() => formatAccept({ headers }, { 'X-A': ['ok', 'x\nInjected: 1'] })).toThrow(/X-A contains CR or LF/);
    expect(() => formatAccept({ headers: { 'X\rB': 'v' } })).toThrow(TypeError);
  });

  test('formatReject writes status line, headers, Connection: close and a text body', () => {
    const r = rejected(validateHandshake(request({}, 'POST')), 405);
    const body = `${r.reason}\n`;
    expect(formatReject(r)).toBe(
      'HTTP/1.1 405 Method Not Allowed\r\n' +
        'Allow: GET\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${body.length}\r\n` +
        '\r\n' +
        body,
    );
  });

  test('Content-Length counts bytes of a multibyte reason', () => {
    const text = formatReject({ status: 403, headers: {}, reason: 'héllo ✓ 🚀' });
    // h é(2) l l o space ✓(3) space 🚀(4) \n
    expect(text).toBe(
      'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        'Content-Length: 16\r\n\r\nhéllo ✓ 🚀\n',
    );
  });

  test('426 and an unknown status get a status text', () => {
    expect(formatReject({ status: 426, headers: { 'Sec-WebSocket-Version': '13' }, reason: 'x' })).toMatch(
      /^HTTP\/1\.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n/,
    );
    expect(formatReject({ status: 418, headers: {}, reason: 'x' })).toMatch(/^HTTP\/1\.1 418 I'm a Teapot\r\n/);
    expect(formatReject({ status: 499, headers: {}, reason: 'x' })).toMatch(/^HTTP\/1\.1 499 Error\r\n/);
  });

  test('the caller cannot override Connection or Content-Length', () => {
    const text = formatReject({ status: 400, headers: { Connection: 'keep-alive', 'Content-Length': '999' }, reason: 'ab' });
    expect(text).toContain('Connection: close\r\n');
    expect(text).toContain('Content-Length: 3\r\n');
    expect(text).not.toContain('keep-alive');
    expect(text).not.toContain('999');
  });

  test.each([
    ['CRLF in a value', { 'X-A': 'a\r\nSet-Cookie: x=1' }],
    ['LF in a value', { 'X-A': 'a\nb' }],
    ['CR in a value', { 'X-A': 'a\rb' }],
    ['CRLF in a name', { 'X-A\r\nX-B': 'v' }],
  ])('formatReject refuses %s', (_name, headers) => {
    expect(() => formatReject({ status: 401, headers, reason: 'no' })).toThrow(TypeError);
  });

  test('formatAccept refuses CR/LF in a header value too', () => {
    const a = accepted(check({}));
    expect(() => formatAccept({ ...a, headers: { ...a.headers, 'X-Bad': 'a\r\nb' } })).toThrow(TypeError);
  });

  test('CR/LF in the reason is harmless: it is body text counted by Content-Length', () => {
    const text = formatReject({ status: 400, headers: {}, reason: 'a\r\nb' });
    expect(text.endsWith('\r\n\r\na\r\nb\n')).toBe(true);
    expect(text).toContain('Content-Length: 5\r\n');
  });
});

describe('garbage requests', () => {
  const headerNames = [
    'host',
    'upgrade',
    'connection',
    'sec-websocket-key',
    'sec-websocket-version',
    'sec-websocket-protocol',
    'sec-websocket-extensions',
    'origin',
    'sec-websocket-origin',
  ];
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom('websocket', 'Upgrade', '13', KEY, 'chat', 'permessage-deflate', 'https://a.test', ''),
    fc.array(fc.constantFrom('websocket', 'upgrade', '13', ',', ' ', ';', '=', '"', 'chat', 'permessage-deflate', 'x'), {
      maxLength: 8,
    }).map((parts) => parts.join('')),
  );
  const value = fc.oneof(text, fc.array(text, { maxLength: 3 }), fc.constant(undefined));
  const headers = fc.dictionary(fc.oneof(fc.constantFrom(...headerNames), fc.string({ maxLength: 12 })), value, {
    maxKeys: 12,
  });
  const options: fc.Arbitrary<HandshakeOptions> = fc.record(
    {
      origins: fc.constantFrom<HandshakeOptions['origins']>('https://a.test', /a/, (o: string) => o.length > 3, [
        'x',
        /y/g,
      ]),
      requireOrigin: fc.boolean(),
      protocols: fc.constantFrom<HandshakeOptions['protocols']>(['chat', 'x'], () => 'chat', () => false),
      requireProtocol: fc.boolean(),
      perMessageDeflate: fc.constantFrom<HandshakeOptions['perMessageDeflate']>(true, false, { serverMaxWindowBits: 10 }),
    },
    { requiredKeys: [] },
  );

  test('validateHandshake never throws and always returns a decision that formats', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom('GET', 'POST'), fc.string({ maxLength: 8 })),
        fc.oneof(fc.constantFrom('1.1', '1.0', '2.0'), fc.string({ maxLength: 6 })),
        headers,
        options,
        (method, httpVersion, h, opts) => {
          const decision = validateHandshake({ method, httpVersion, headers: h }, opts);
          if (decision.ok) {
            expect(decision.status).toBe(101);
            expect(formatAccept(decision).startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
          } else {
            expect([400, 403, 405, 426]).toContain(decision.status);
            expect(formatReject(decision).startsWith(`HTTP/1.1 ${decision.status} `)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('near-valid requests with one header mutated never throw', () => {
    const base = request().headers;
    fc.assert(
      fc.property(fc.constantFrom(...headerNames), value, options, (name, v, opts) => {
        const decision = validateHandshake({ method: 'GET', httpVersion: '1.1', headers: { ...base, [name]: v } }, opts);
        expect(typeof decision.ok).toBe('boolean');
        if (decision.ok) formatAccept(decision);
        else formatReject(decision);
      }),
      { numRuns: 300 },
    );
  });
});

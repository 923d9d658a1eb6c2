// RFC 8441: the extended CONNECT as a pure decision, next to the HTTP/1.1 rules it shares.
import { computeAcceptKey, type HeaderValue, validateConnect, validateHandshake } from '../../src/core/handshake';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function connect(extra: Record<string, HeaderValue> = {}, drop: string[] = []): Record<string, HeaderValue> {
  const h: Record<string, HeaderValue> = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':path': '/ws?room=1',
    ':authority': 'example.com',
    'sec-websocket-version': '13',
    ...extra,
  };
  for (const name of drop) delete h[name];
  return h;
}

describe('validateConnect (RFC 8441)', () => {
  test('a minimal extended CONNECT is accepted with 200 and no accept key (section 5: no key needed)', () => {
    const d = validateConnect({ headers: connect() });
    expect(d).toMatchObject({ ok: true, status: 200, protocol: '', extensions: '', deflate: null });
    if (d.ok) expect(d.headers).toEqual({});
  });

  test('a sent Sec-WebSocket-Key is answered with the matching sec-websocket-accept (undici checks it)', () => {
    const d = validateConnect({ headers: connect({ 'sec-websocket-key': KEY }) });
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(computeAcceptKey(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  test('a malformed key is refused as over HTTP/1.1', () => {
    expect(validateConnect({ headers: connect({ 'sec-websocket-key': 'short' }) })).toMatchObject({ ok: false, status: 400 });
  });

  test('a method other than CONNECT is 405 with Allow: CONNECT', () => {
    expect(validateConnect({ headers: connect({ ':method': 'GET' }) })).toMatchObject({
      ok: false,
      status: 405,
      headers: { Allow: 'CONNECT' },
    });
  });

  test('section 4: a CONNECT without :protocol, or with another protocol, is 400', () => {
    expect(validateConnect({ headers: connect({}, [':protocol']) })).toMatchObject({ ok: false, status: 400 });
    expect(validateConnect({ headers: connect({ ':protocol': 'connect-udp' }) })).toMatchObject({ ok: false, status: 400 });
    expect(validateConnect({ headers: connect({ ':protocol': 'WebSocket' }) }).ok).toBe(true);
  });

  test.each([[':scheme'], [':path'], [':authority']])('section 4: missing %s is 400', (name) => {
    expect(validateConnect({ headers: connect({}, [name]) })).toMatchObject({ ok: false, status: 400 });
  });

  test('Host stands in for :authority (RFC 9113 section 8.3.1); an odd :scheme is 400', () => {
    expect(validateConnect({ headers: connect({ host: 'example.com' }, [':authority']) }).ok).toBe(true);
    expect(validateConnect({ headers: connect({ ':scheme': 'ftp' }) })).toMatchObject({ ok: false, status: 400 });
    expect(validateConnect({ headers: connect({ ':scheme': 'http' }) }).ok).toBe(true);
  });

  test.each([['connection', 'Upgrade'], ['upgrade', 'websocket'], ['keep-alive', '5'], ['proxy-connection', 'x'], ['transfer-encoding', 'chunked'], ['te', 'gzip']])(
    'RFC 9113 section 8.2.2: %s makes the request malformed (400)',
    (name, value) => {
      expect(validateConnect({ headers: connect({ [name]: value }) })).toMatchObject({ ok: false, status: 400 });
    },
  );

  test('te: trailers is allowed', () => {
    expect(validateConnect({ headers: connect({ te: 'trailers' }) }).ok).toBe(true);
  });

  test('section 5: the version rules are RFC 6455 (400 missing, 426 other), same as HTTP/1.1', () => {
    const missing = validateConnect({ headers: connect({}, ['sec-websocket-version']) });
    expect(missing).toMatchObject({ ok: false, status: 400, headers: { 'Sec-WebSocket-Version': '13' } });
    const old = validateConnect({ headers: connect({ 'sec-websocket-version': '8' }) });
    expect(old).toMatchObject({ ok: false, status: 426, headers: { 'Sec-WebSocket-Version': '13' } });
    const h1 = validateHandshake({
      method: 'GET',
      httpVersion: '1.1',
      headers: { host: 'x', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': KEY, 'sec-websocket-version': '8' },
    });
    expect(h1.ok ? 0 : h1.status).toBe(426);
  });

  test('origins apply: 403 for a foreign origin, 403 without one when required', () => {
    const options = { origins: ['https://example.com'] };
    expect(validateConnect({ headers: connect({ origin: 'https://example.com' }) }, options).ok).toBe(true);
    expect(validateConnect({ headers: connect({ origin: 'https://evil.test' }) }, options)).toMatchObject({ ok: false, status: 403 });
    expect(validateConnect({ headers: connect() }, { requireOrigin: true })).toMatchObject({ ok: false, status: 403 });
  });

  test('subprotocols: the server preference wins, the answer header is lower case; requireProtocol refuses with 400', () => {
    const d = validateConnect({ headers: connect({ 'sec-websocket-protocol': 'a, chat' }) }, { protocols: ['chat', 'a'] });
    expect(d).toMatchObject({ ok: true, protocol: 'chat', headers: { 'sec-websocket-protocol': 'chat' } });
    const none = validateConnect({ headers: connect({ 'sec-websocket-protocol': 'x' }) }, { protocols: ['chat'], requireProtocol: true });
    expect(none).toMatchObject({ ok: false, status: 400 });
    expect(validateConnect({ headers: connect({ 'sec-websocket-protocol': 'a b' }) }, { protocols: ['a'] })).toMatchObject({ ok: false, status: 400 });
  });

  test('permessage-deflate is negotiated as over HTTP/1.1', () => {
    const offer = 'permessage-deflate; client_max_window_bits';
    const d = validateConnect({ headers: connect({ 'sec-websocket-extensions': offer }) }, { perMessageDeflate: true });
    const h1 = validateHandshake(
      {
        method: 'GET',
        httpVersion: '1.1',
        headers: { host: 'x', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': KEY, 'sec-websocket-version': '13', 'sec-websocket-extensions': offer },
      },
      { perMessageDeflate: true },
    );
    expect(d.ok && h1.ok).toBe(true);
    if (d.ok && h1.ok) {
      expect(d.extensions).toBe(h1.extensions);
      expect(d.extensions).toMatch(/^permessage-deflate/);
      expect(d.headers['sec-websocket-extensions']).toBe(h1.extensions);
      expect(d.deflate).toEqual(h1.deflate);
    }
    const bad = validateConnect({ headers: connect({ 'sec-websocket-extensions': 'permessage-deflate; ;' }) }, { perMessageDeflate: true });
    expect(bad).toMatchObject({ ok: false, status: 400 });
  });

  test('repeated headers (arrays) are joined like HTTP lists', () => {
    const d = validateConnect({ headers: connect({ 'sec-websocket-protocol': ['a', 'chat'] }) }, { protocols: ['chat'] });
    expect(d).toMatchObject({ ok: true, protocol: 'chat' });
  });
});

// Sec-WebSocket-Extensions parsing and permessage-deflate negotiation (RFC 6455 9.1, RFC 7692 7),
// tested as pure functions.
import { validateHandshake } from '../../src';
import { type DeflateOptions, ExtensionHeaderError, type ExtensionOffer, negotiateDeflate, parseExtensions, resolveDeflateOptions } from '../../src/core/extensions';

const plain = (offers: ExtensionOffer[]) =>
  offers.map((o) => ({ name: o.name, params: Object.fromEntries(o.params), repeated: o.repeated }));

describe('parseExtensions', () => {
  test('no header, empty header and empty list elements offer nothing', () => {
    expect(parseExtensions(undefined)).toEqual([]);
    expect(parseExtensions('')).toEqual([]);
    expect(parseExtensions('  \t ')).toEqual([]);
    expect(parseExtensions(' , ,')).toEqual([]);
    expect(parseExtensions([])).toEqual([]);
  });

  test('one offer without parameters', () => {
    expect(plain(parseExtensions('permessage-deflate'))).toEqual([{ name: 'permessage-deflate', params: {}, repeated: [] }]);
  });

  test('several offers in order, parameters with and without values', () => {
    const offers = parseExtensions(
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate, x-webkit-deflate-frame',
    );
    expect(plain(offers)).toEqual([
      { name: 'permessage-deflate', params: { client_max_window_bits: true, server_max_window_bits: '10' }, repeated: [] },
      { name: 'permessage-deflate', params: {}, repeated: [] },
      { name: 'x-webkit-deflate-frame', params: {}, repeated: [] },
    ]);
  });

  test('quoted values are unquoted, with backslash escapes', () => {
    expect(plain(parseExtensions('permessage-deflate; server_max_window_bits="10"'))[0].params).toEqual({
      server_max_window_bits: '10',
    });
    expect(plain(parseExtensions('x; a="b\\c"; d="e"'))[0].params).toEqual({ a: 'bc', d: 'e' });
  });

  test('whitespace (spaces and tabs) around every separator is ignored', () => {
    const offers = parseExtensions(' \tpermessage-deflate ;  client_max_window_bits = 12 ;\tserver_no_context_takeover ,  foo ');
    expect(plain(offers)).toEqual([
      { name: 'permessage-deflate', params: { client_max_window_bits: '12', server_no_context_takeover: true }, repeated: [] },
      { name: 'foo', params: {}, repeated: [] },
    ]);
  });

  test('repeated headers (an array) are read in order, as one list', () => {
    const offers = parseExtensions(['permessage-deflate; server_max_window_bits=9', 'x-one, permessage-deflate']);
    expect(offers.map((o) => o.name)).toEqual(['permessage-deflate', 'x-one', 'permessage-deflate']);
    expect(offers[0].params.get('server_max_window_bits')).toBe('9');
  });

  test('a repeated parameter is noted, not a syntax error; the first value is kept', () => {
    const [offer] = parseExtensions('permessage-deflate; server_max_window_bits=10; server_max_window_bits=11');
    expect(offer.params.get('server_max_window_bits')).toBe('10');
    expect(offer.repeated).toEqual(['server_max_window_bits']);
  });

  test.each([
    ['a lone semicolon', 'permessage-deflate;'],
    ['an empty parameter name', 'permessage-deflate; =1'],
    ['an empty value', 'permessage-deflate; server_max_window_bits='],
    ['two tokens without a separator', 'permessage-deflate foo'],
    ['an unterminated quoted string', 'permessage-deflate; server_max_window_bits="10'],
    ['an empty quoted string', 'permessage-deflate; a=""'],
    ['a quoted value that is not a token', 'permessage-deflate; a="1 0"'],
    ['a second "="', 'permessage-deflate; a=b=c'],
    ['a separator as the name', 'permessage-deflate, ;a'],
    ['a non-token character', 'permessage-deflate; a=(1)'],
    ['a control character', 'permessage-deflate\r\n'],
    ['a parameter before any name', '; a'],
  ])('throws ExtensionHeaderError on %s', (_what, header) => {
    expect(() => parseExtensions(header)).toThrow(ExtensionHeaderError);
  });

  test('a malformed value in an array of headers throws too', () => {
    expect(() => parseExtensions(['permessage-deflate', 'x;'])).toThrow(ExtensionHeaderError);
  });
});

describe('negotiateDeflate', () => {
  const defaults = resolveDeflateOptions(true)!;
  const negotiate = (header: string | string[], options: DeflateOptions | true = true) =>
    negotiateDeflate(parseExtensions(header), resolveDeflateOptions(options)!);
  const headerFor = (header: string | string[], options: DeflateOptions | true = true) => negotiate(header, options)?.header ?? null;

  test('a plain offer is accepted with every default', () => {
    expect(negotiate('permessage-deflate')).toEqual({
      header: 'permessage-deflate',
      params: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
    });
  });

  test('no permessage-deflate offer, or no header at all, means no compression', () => {
    expect(negotiateDeflate([], defaults)).toBeNull();
    expect(negotiate('x-webkit-deflate-frame, deflate-frame')).toBeNull();
  });

  test('other extensions are skipped; the first acceptable permessage-deflate offer wins', () => {
    expect(headerFor('x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=12, permessage-deflate')).toBe(
      'permessage-deflate; server_max_window_bits=12',
    );
  });

  test.each([
    ['an unknown parameter', 'permessage-deflate; foo'],
    ['an unknown parameter with a value', 'permessage-deflate; mode=fast'],
    ['server_no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
    ['client_no_context_takeover with a value', 'permessage-deflate; client_no_context_takeover=true'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits with a leading zero', 'permessage-deflate; server_max_window_bits=09'],
    ['server_max_window_bits=abc', 'permessage-deflate; server_max_window_bits=abc'],
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['client_max_window_bits=1.5', 'permessage-deflate; client_max_window_bits=1.5'],
    ['a repeated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['a repeated parameter with different values', 'permessage-deflate; client_max_window_bits=10; client_max_window_bits'],
  ])('an offer with %s is declined and the next offer is tried', (_what, offer) => {
    expect(negotiate(offer)).toBeNull();
    expect(headerFor(`${offer}, permessage-deflate; client_no_context_takeover`)).toBe(
      'permessage-deflate; client_no_context_takeover',
    );
  });

  test('server_no_context_takeover in the offer is agreed and stated', () => {
    const agreed = negotiate('permessage-deflate; server_no_context_takeover')!;
    expect(agreed.header).toBe('permessage-deflate; server_no_context_takeover');
    expect(agreed.params.serverNoContextTakeover).toBe(true);
    expect(agreed.params.clientNoContextTakeover).toBe(false);
  });

  test('client_no_context_takeover in the offer is agreed and stated', () => {
    const agreed = negotiate('permessage-deflate; client_no_context_takeover')!;
    expect(agreed.header).toBe('permessage-deflate; client_no_context_takeover');
    expect(agreed.params.clientNoContextTakeover).toBe(true);
    expect(agreed.params.serverNoContextTakeover).toBe(false);
  });

  // 8 is accepted: the codec deflates with zlib's 9-bit window, whose matches reach back at
  // most 250 bytes, so the stream is valid for a 256-byte window (checked in deflate-codec.test.ts).
  test.each([8, 9, 10, 11, 12, 13, 14, 15])('server_max_window_bits=%i is agreed with the same value', (bits) => {
    const agreed = negotiate(`permessage-deflate; server_max_window_bits=${bits}`)!;
    expect(agreed.header).toBe(`permessage-deflate; server_max_window_bits=${bits}`);
    expect(agreed.params.serverMaxWindowBits).toBe(bits);
  });

  test('client_max_window_bits without a value: the server may leave it out and inflates with 15', () => {
    const agreed = negotiate('permessage-deflate; client_max_window_bits')!;
    expect(agreed.header).toBe('permessage-deflate');
    expect(agreed.params.clientMaxWindowBits).toBe(15);
  });

  test.each([8, 9, 10, 11, 12, 13, 14])('client_max_window_bits=%i (the client limits itself) is stated back', (bits) => {
    const agreed = negotiate(`permessage-deflate; client_max_window_bits=${bits}`)!;
    expect(agreed.header).toBe(`permessage-deflate; client_max_window_bits=${bits}`);
    expect(agreed.params.clientMaxWindowBits).toBe(bits);
  });

  test('client_max_window_bits=15 needs no mention in the response', () => {
    expect(headerFor('permessage-deflate; client_max_window_bits=15')).toBe('permessage-deflate');
  });

  describe('server options', () => {
    test('serverNoContextTakeover is stated even when the client did not ask (RFC 7692 7.1.1.1)', () => {
      expect(headerFor('permessage-deflate', { serverNoContextTakeover: true })).toBe(
        'permessage-deflate; server_no_context_takeover',
      );
    });

    test('clientNoContextTakeover is stated even when the client did not offer it (7.1.1.2)', () => {
      const agreed = negotiate('permessage-deflate', { clientNoContextTakeover: true })!;
      expect(agreed.header).toBe('permessage-deflate; client_no_context_takeover');
      expect(agreed.params.clientNoContextTakeover).toBe(true);
    });

    test('serverMaxWindowBits below 15 is stated in the response (7.1.2.1)', () => {
      expect(headerFor('permessage-deflate', { serverMaxWindowBits: 10 })).toBe('permessage-deflate; server_max_window_bits=10');
      expect(headerFor('permessage-deflate', { serverMaxWindowBits: 8 })).toBe('permessage-deflate; server_max_window_bits=8');
    });

    test('the smaller of the offered and configured server window wins, and is stated', () => {
      expect(headerFor('permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 })).toBe(
        'permessage-deflate; server_max_window_bits=10',
      );
      expect(headerFor('permessage-deflate; server_max_window_bits=9', { serverMaxWindowBits: 10 })).toBe(
        'permessage-deflate; server_max_window_bits=9',
      );
      // The offer had the parameter, so the response must carry it even at 15.
      expect(headerFor('permessage-deflate; server_max_window_bits=15')).toBe('permessage-deflate; server_max_window_bits=15');
    });

    test('clientMaxWindowBits is asked of a client that offered client_max_window_bits', () => {
      const agreed = negotiate('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 })!;
      expect(agreed.header).toBe('permessage-deflate; client_max_window_bits=10');
      expect(agreed.params.clientMaxWindowBits).toBe(10);
      expect(headerFor('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 })).toBe(
        'permessage-deflate; client_max_window_bits=10',
      );
      expect(headerFor('permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 10 })).toBe(
        'permessage-deflate; client_max_window_bits=9',
      );
    });

    test('clientMaxWindowBits is never sent to a client that did not offer client_max_window_bits (7.1.2.2)', () => {
      const agreed = negotiate('permessage-deflate', { clientMaxWindowBits: 10 })!;
      expect(agreed.header).toBe('permessage-deflate');
      // Such a client may use any window, so the server must inflate with 15.
      expect(agreed.params.clientMaxWindowBits).toBe(15);
    });

    test('every parameter at once, in a fixed order', () => {
      const agreed = negotiate('permessage-deflate; client_max_window_bits; server_max_window_bits=11', {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        clientMaxWindowBits: 9,
      })!;
      expect(agreed.header).toBe(
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=9',
      );
      expect(agreed.params).toEqual({
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 11,
        clientMaxWindowBits: 9,
      });
    });

    test('the response parses back to exactly one offer with the agreed parameters', () => {
      const { header } = negotiate('permessage-deflate; server_no_context_takeover; client_max_window_bits=12')!;
      expect(plain(parseExtensions(header))).toEqual([
        { name: 'permessage-deflate', params: { server_no_context_takeover: true, client_max_window_bits: '12' }, repeated: [] },
      ]);
    });
  });
});

describe('resolveDeflateOptions', () => {
  test('off unless asked for', () => {
    expect(resolveDeflateOptions(undefined)).toBeNull();
    expect(resolveDeflateOptions(false)).toBeNull();
  });

  test('true gives the defaults', () => {
    expect(resolveDeflateOptions(true)).toEqual({
      threshold: 1024,
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
      level: 1,
      memLevel: 8,
      concurrency: 10,
    });
  });

  test('given values are kept', () => {
    const options = { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 9, level: 9, memLevel: 1, concurrency: 1 };
    expect(resolveDeflateOptions(options)).toMatchObject(options);
  });

  test.each<[string, DeflateOptions]>([
    ['serverMaxWindowBits 7', { serverMaxWindowBits: 7 }],
    ['serverMaxWindowBits 16', { serverMaxWindowBits: 16 }],
    ['serverMaxWindowBits 9.5', { serverMaxWindowBits: 9.5 }],
    ['serverMaxWindowBits NaN', { serverMaxWindowBits: NaN }],
    ['clientMaxWindowBits 7', { clientMaxWindowBits: 7 }],
    ['clientMaxWindowBits 16', { clientMaxWindowBits: 16 }],
    ['level -1', { level: -1 }],
    ['level 10', { level: 10 }],
    ['level 1.5', { level: 1.5 }],
    ['memLevel 0', { memLevel: 0 }],
    ['memLevel 10', { memLevel: 10 }],
    ['concurrency 0', { concurrency: 0 }],
    ['concurrency 2.5', { concurrency: 2.5 }],
    ['threshold -1', { threshold: -1 }],
    ['threshold NaN', { threshold: NaN }],
  ])('%s is a RangeError', (_what, options) => {
    expect(() => resolveDeflateOptions(options)).toThrow(RangeError);
  });
});

describe('in the handshake', () => {
  const request = (extensions?: string | string[]) => ({
    method: 'GET',
    httpVersion: '1.1',
    headers: {
      host: 'example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      ...(extensions === undefined ? {} : { 'sec-websocket-extensions': extensions }),
    },
  });

  test('an agreed offer appears in the 101 headers', () => {
    const decision = validateHandshake(request('permessage-deflate; client_max_window_bits'), { perMessageDeflate: true });
    expect(decision).toMatchObject({ ok: true, status: 101, extensions: 'permessage-deflate' });
    expect(decision.headers['Sec-WebSocket-Extensions']).toBe('permessage-deflate');
  });

  test('a declined offer still gives a 101, without the extension', () => {
    for (const header of ['permessage-deflate; foo', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover']) {
      const decision = validateHandshake(request(header), { perMessageDeflate: true });
      expect(decision).toMatchObject({ ok: true, status: 101, extensions: '', deflate: null });
      expect(decision.headers['Sec-WebSocket-Extensions']).toBeUndefined();
    }
  });

  test('compression off: the offer is ignored', () => {
    const decision = validateHandshake(request('permessage-deflate'));
    expect(decision).toMatchObject({ ok: true, extensions: '', deflate: null });
  });

  test('a header that breaks the grammar is a 400', () => {
    const decision = validateHandshake(request('permessage-deflate; a="'), { perMessageDeflate: true });
    expect(decision).toMatchObject({ ok: false, status: 400 });
  });
});

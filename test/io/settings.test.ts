// src/io/settings.ts: options checked and resolved once into one frozen settings object.
import { MAX_CLIENT_HEADER } from '../../src/core/frames';
import { resolveDeflateOptions } from '../../src/core/extensions';
import { DEFAULTS, checkKeys, resolveSettings, type AttachOptions } from '../../src/io/settings';
import { LocalTopics } from '../../src/topics/local';
import type { Topics } from '../../src/topics/topics';

describe('defaults', () => {
  const s = resolveSettings({});

  test('the settings object and every nested object are frozen', () => {
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.handshake)).toBe(true);
    expect(Object.isFrozen(s.connection)).toBe(true);
    expect(Object.isFrozen(s.liveness)).toBe(true);
    expect(Object.isFrozen(s.guards)).toBe(true);
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
  });

  test('assigning to a frozen setting throws in strict mode', () => {
    expect(() => {
      (s.connection as { maxPayload: number }).maxPayload = 1;
    }).toThrow(TypeError);
    expect(s.connection.maxPayload).toBe(DEFAULTS.maxPayload);
  });

  test('the documented defaults, all taken from DEFAULTS', () => {
    expect(DEFAULTS.maxPayload).toBe(1024 * 1024);
    expect(DEFAULTS.maxBackpressure).toBe(16 * 1024 * 1024);
    expect(s.connection).toMatchObject({
      maxPayload: DEFAULTS.maxPayload,
      closeTimeout: DEFAULTS.closeTimeout,
      maxBackpressure: DEFAULTS.maxBackpressure,
      backpressurePolicy: 'close',
    });
    expect(s.liveness).toMatchObject({ interval: 30000, timeout: 10000, idleTimeout: 0 });
    expect(s.guards).toMatchObject({ middleware: null, verify: null, timeout: DEFAULTS.verifyTimeout });
    expect(DEFAULTS.verifyTimeout).toBe(10000);
    expect(s.maxConnections).toBe(Infinity);
    expect(s.deflate).toBeNull();
    expect(s.handshake.perMessageDeflate).toBe(false);
    expect(s.http2).toBe(true);
    expect(s.topics).toBeInstanceOf(LocalTopics);
    expect(typeof s.onError).toBe('function');
  });

  test('every path matches by default', () => {
    expect(s.match('/')).not.toBeNull();
    expect(s.match('/anything/at/all')).not.toBeNull();
  });

  test('each endpoint gets its own topics registry', () => {
    expect(resolveSettings({}).topics).not.toBe(resolveSettings({}).topics);
  });

  test('the default error reporter writes to console.error', () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const err = new Error('x');
      s.onError(err, {});
      expect(spy).toHaveBeenCalledWith('wsgate:', err);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('options are taken', () => {
  test('numbers, policy, callbacks and topics pass through', () => {
    const onError = () => {};
    const verify = () => true;
    const topics: Topics = new LocalTopics();
    const s = resolveSettings({
      maxPayload: 1000,
      closeTimeout: 10,
      maxBackpressure: 2000,
      backpressurePolicy: 'drop',
      heartbeat: { interval: 100, timeout: 50 },
      idleTimeout: 300,
      verifyTimeout: 40,
      maxConnections: 3,
      onError,
      verify,
      topics,
      http2: false,
      requireOrigin: true,
      requireProtocol: true,
      origins: ['http://a.test'],
      protocols: ['chat'],
      path: '/ws',
    });
    expect(s.connection).toMatchObject({ maxPayload: 1000, closeTimeout: 10, maxBackpressure: 2000, backpressurePolicy: 'drop' });
    expect(s.liveness).toMatchObject({ interval: 100, timeout: 50, idleTimeout: 300 });
    expect(s.guards.timeout).toBe(40);
    expect(s.guards.verify).toBe(verify);
    expect(s.maxConnections).toBe(3);
    expect(s.onError).toBe(onError);
    expect(s.topics).toBe(topics);
    expect(s.http2).toBe(false);
    expect(s.handshake).toMatchObject({ requireOrigin: true, requireProtocol: true, origins: ['http://a.test'] });
    expect(s.protocols).toEqual(['chat']);
    expect(s.match('/ws')).not.toBeNull();
    expect(s.match('/other')).toBeNull();
  });

  test('0 is a valid number (disables where documented)', () => {
    const s = resolveSettings({ verifyTimeout: 0, idleTimeout: 0, maxConnections: 0, maxPayload: 0 });
    expect(s.guards.timeout).toBe(0);
    expect(s.maxConnections).toBe(0);
    expect(s.connection.maxPayload).toBe(0);
  });

  test('a single middleware or a list becomes one runner; none → null', () => {
    const mw = (_req: unknown, _res: unknown, next: () => void) => next();
    expect(typeof resolveSettings({ use: mw }).guards.middleware).toBe('function');
    expect(typeof resolveSettings({ use: [mw, mw] }).guards.middleware).toBe('function');
    expect(resolveSettings({ use: [] }).guards.middleware).toBeNull();
  });
});

describe('maxEarlyBytes', () => {
  test('is maxPayload + 14 (the largest client frame header)', () => {
    expect(MAX_CLIENT_HEADER).toBe(14);
    expect(resolveSettings({}).maxEarlyBytes).toBe(DEFAULTS.maxPayload + 14);
    expect(resolveSettings({ maxPayload: 100 }).maxEarlyBytes).toBe(114);
    expect(resolveSettings({ maxPayload: 0 }).maxEarlyBytes).toBe(14);
  });
});

describe('heartbeat', () => {
  test('false → interval and timeout 0', () => {
    const s = resolveSettings({ heartbeat: false });
    expect(s.liveness.interval).toBe(0);
    expect(s.liveness.timeout).toBe(0);
  });

  test('false still validates idleTimeout', () => {
    expect(resolveSettings({ heartbeat: false, idleTimeout: 5 }).liveness.idleTimeout).toBe(5);
    expect(() => resolveSettings({ heartbeat: false, idleTimeout: -1 })).toThrow(RangeError);
  });

  test('an object with some fields fills the rest with defaults', () => {
    expect(resolveSettings({ heartbeat: { interval: 1000 } }).liveness).toMatchObject({ interval: 1000, timeout: DEFAULTS.heartbeatTimeout });
    expect(resolveSettings({ heartbeat: {} }).liveness).toMatchObject({ interval: DEFAULTS.heartbeatInterval, timeout: DEFAULTS.heartbeatTimeout });
  });

  test('bad heartbeat numbers are RangeErrors naming the field', () => {
    expect(() => resolveSettings({ heartbeat: { interval: -5 } })).toThrow(/heartbeat\.interval/);
    expect(() => resolveSettings({ heartbeat: { timeout: NaN } })).toThrow(RangeError);
  });
});

describe('validation', () => {
  test('an unknown option is a TypeError naming the key', () => {
    expect(() => resolveSettings({ maxPayLoad: 5 } as unknown as AttachOptions)).toThrow(TypeError);
    expect(() => resolveSettings({ maxPayLoad: 5 } as unknown as AttachOptions)).toThrow(/"maxPayLoad"/);
  });

  test('options that are not an object are a TypeError', () => {
    expect(() => resolveSettings(null as unknown as AttachOptions)).toThrow(TypeError);
    expect(() => resolveSettings('x' as unknown as AttachOptions)).toThrow(TypeError);
  });

  test.each(['maxPayload', 'closeTimeout', 'maxBackpressure', 'idleTimeout', 'verifyTimeout', 'maxConnections'] as const)(
    'a bad %s is a RangeError naming it',
    (name) => {
      for (const bad of [-1, NaN, '10', null]) {
        const options = { [name]: bad } as unknown as AttachOptions;
        expect(() => resolveSettings(options)).toThrow(RangeError);
        expect(() => resolveSettings(options)).toThrow(name);
      }
    },
  );

  test('Infinity is accepted where a number is', () => {
    expect(resolveSettings({ maxBackpressure: Infinity }).connection.maxBackpressure).toBe(Infinity);
  });

  test('backpressurePolicy must be close or drop', () => {
    expect(resolveSettings({ backpressurePolicy: 'close' }).connection.backpressurePolicy).toBe('close');
    expect(resolveSettings({ backpressurePolicy: 'drop' }).connection.backpressurePolicy).toBe('drop');
    expect(() => resolveSettings({ backpressurePolicy: 'queue' as never })).toThrow(TypeError);
    expect(() => resolveSettings({ backpressurePolicy: 'queue' as never })).toThrow(/backpressurePolicy/);
  });

  test('bad deflate options are RangeErrors', () => {
    expect(() => resolveSettings({ perMessageDeflate: { level: 12 } })).toThrow(RangeError);
    expect(() => resolveSettings({ perMessageDeflate: { serverMaxWindowBits: 7 } })).toThrow(RangeError);
  });
});

describe('deflate resolved once', () => {
  test('true → defaults, frozen, and the handshake sees the same object', () => {
    const s = resolveSettings({ perMessageDeflate: true });
    expect(s.deflate).not.toBeNull();
    expect(s.deflate).toMatchObject({ threshold: 1024, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
    expect(Object.isFrozen(s.deflate)).toBe(true);
    expect(s.handshake.perMessageDeflate).toBe(s.deflate);
  });

  test('false or absent → null, handshake perMessageDeflate false', () => {
    for (const value of [false, undefined]) {
      const s = resolveSettings({ perMessageDeflate: value });
      expect(s.deflate).toBeNull();
      expect(s.handshake.perMessageDeflate).toBe(false);
    }
  });

  test('resolveDeflateOptions returns the same object when given it back', () => {
    const once = resolveDeflateOptions({ threshold: 10 })!;
    expect(resolveDeflateOptions(once)).toBe(once);
    const s = resolveSettings({ perMessageDeflate: once });
    expect(s.deflate).toBe(once);
    expect(s.handshake.perMessageDeflate).toBe(once);
  });

  test('a user\'s own options object is not taken as resolved', () => {
    const mine = { threshold: 10 };
    const resolved = resolveDeflateOptions(mine)!;
    expect(resolved).not.toBe(mine);
    expect(resolveDeflateOptions(mine)).not.toBe(resolved); // resolved again: a new object
    expect(Object.isFrozen(mine)).toBe(false);
  });
});

describe('checkKeys', () => {
  test('passes known keys and names the first unknown one with its context', () => {
    const known = new Set(['a', 'b']);
    expect(() => checkKeys('thing', { a: 1, b: 2 }, known)).not.toThrow();
    expect(() => checkKeys('thing', { a: 1, c: 2 }, known)).toThrow(new TypeError('thing: unknown option "c"'));
  });
});

// FrameParser rule by rule (RFC 6455 sections 5 and 7): each violation with its close code.
import { clientFrame, closePayload } from '../helpers/raw-client';
import type { FrameSpec } from '../helpers/raw-client';
import { makeParser, message, parseChunked } from '../helpers/parser-events';
import type { ParserEvent } from '../helpers/parser-events';

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const frame = (spec: FrameSpec) => clientFrame({ mask: MASK, ...spec });
const bytes = (...frames: Buffer[]) => Buffer.concat(frames);
const err = (code: number): ParserEvent => ({ type: 'error', code });

const TEXT = 0x1;
const BINARY = 0x2;
const CONT = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

/** Parses whole and byte by byte; both must agree. */
function parse(data: Buffer, options = {}): ParserEvent[] {
  const whole = parseChunked(data, [], options);
  expect(parseChunked(data, [1], options)).toEqual(whole);
  return whole;
}

describe('valid traffic', () => {
  test('text, binary, empty, ping, pong', () => {
    const events = parse(
      bytes(
        frame({ opcode: TEXT, payload: 'héllo 🚀' }),
        frame({ opcode: BINARY, payload: Buffer.from([0, 255, 1]) }),
        frame({ opcode: TEXT }),
        frame({ opcode: BINARY }),
        frame({ opcode: PING, payload: 'p' }),
        frame({ opcode: PONG, payload: Buffer.alloc(125, 9) }),
      ),
    );
    expect(events).toEqual([
      message('héllo 🚀'),
      message(Buffer.from([0, 255, 1])),
      message(''),
      message(Buffer.alloc(0), false),
      { type: 'ping', data: '70' },
      { type: 'pong', data: Buffer.alloc(125, 9).toString('hex') },
    ]);
  });

  test('a text message says whether it is ASCII, at every size the unmasking loops switch at', () => {
    for (const size of [2, 3, 47, 48, 49, 130, 511, 512, 513, 2000]) {
      // All ASCII, then one two-byte character at the start, the middle and the end.
      for (const at of [-1, 0, Math.min(size >> 1, size - 2), size - 2]) {
        const text = at < 0 ? 'q'.repeat(size) : 'q'.repeat(at) + 'é' + 'q'.repeat(size - at - 2);
        for (const chunks of [[], [1], [7]]) {
          const { parser, rec } = makeParser();
          const input = frame({ opcode: TEXT, payload: text });
          if (chunks.length === 0) parser.push(input);
          else for (let i = 0; i < input.length; i += chunks[0]) parser.push(input.subarray(i, i + chunks[0]));
          expect(rec.events).toEqual([message(text)]);
          // Whole, the parser always knows; in pieces it may leave the question to the decoder.
          if (chunks.length === 0) expect(rec.asciiSeen).toEqual([at < 0]);
          else expect([undefined, at < 0]).toContain(rec.asciiSeen[0]);
        }
      }
    }
  });

  test.each([125, 126, 65535, 65536, 70000])('a %d-byte message (7/16/64-bit length)', (n) => {
    const payload = Buffer.alloc(n);
    for (let i = 0; i < n; i++) payload[i] = (i * 31) & 0xff;
    expect(parseChunked(frame({ opcode: BINARY, payload }), [1000])).toEqual([message(payload)]);
  });

  test('fragments with pings between them make one message', () => {
    const events = parse(
      bytes(
        frame({ opcode: TEXT, payload: 'ab', fin: false }),
        frame({ opcode: PING, payload: '1' }),
        frame({ opcode: CONT, payload: '', fin: false }),
        frame({ opcode: PONG, payload: '2' }),
        frame({ opcode: CONT, payload: 'cd' }),
      ),
    );
    expect(events).toEqual([{ type: 'ping', data: '31' }, { type: 'pong', data: '32' }, message('abcd')]);
  });

  test('binary messages are not checked for UTF-8', () => {
    expect(parse(frame({ opcode: BINARY, payload: Buffer.from([0xc0, 0xff]) }))).toEqual([message(Buffer.from([0xc0, 0xff]))]);
  });

  test('with requireMask false, unmasked frames are read and masked ones refused', () => {
    expect(parse(frame({ opcode: TEXT, payload: 'hi', masked: false }), { requireMask: false })).toEqual([message('hi')]);
    expect(parse(frame({ opcode: TEXT, payload: 'hi' }), { requireMask: false })).toEqual([err(1002)]);
  });
});

describe('framing errors: 1002', () => {
  test('an unmasked client frame', () => {
    expect(parse(frame({ opcode: TEXT, payload: 'hi', masked: false }))).toEqual([err(1002)]);
  });

  test('RSV1 without compression', () => {
    expect(parse(frame({ opcode: TEXT, payload: 'hi', rsv: 0x40 }))).toEqual([err(1002)]);
  });

  test('RSV1 with compression marks the message compressed and skips the UTF-8 check', () => {
    const raw = Buffer.from([0xff, 0xc0, 0x01]);
    const events = parse(
      bytes(frame({ opcode: TEXT, payload: raw, rsv: 0x40, fin: false }), frame({ opcode: CONT, payload: 'x' })),
      { allowCompression: true },
    );
    expect(events).toEqual([message(Buffer.concat([raw, Buffer.from('x')]), true, true)]);
    expect(parse(frame({ opcode: BINARY, payload: 'y' }), { allowCompression: true })).toEqual([message(Buffer.from('y'), false, false)]);
  });

  test('RSV1 on a continuation or a control frame, even with compression', () => {
    const opts = { allowCompression: true };
    expect(parse(bytes(frame({ opcode: TEXT, payload: 'a', fin: false }), frame({ opcode: CONT, payload: 'b', rsv: 0x40 })), opts)).toEqual([
      err(1002),
    ]);
    expect(parse(frame({ opcode: PING, rsv: 0x40 }), opts)).toEqual([err(1002)]);
  });

  test.each([0x20, 0x10, 0x30])('RSV bits %s', (rsv) => {
    expect(parse(frame({ opcode: TEXT, payload: 'a', rsv }), { allowCompression: true })).toEqual([err(1002)]);
  });

  test.each([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf])('reserved opcode %d', (opcode) => {
    expect(parse(frame({ opcode, payload: 'a' }))).toEqual([err(1002)]);
  });

  test.each([PING, PONG, CLOSE])('control frame (opcode %d) over 125 bytes', (opcode) => {
    const payload = (n: number) => (opcode === CLOSE ? closePayload(1000, 'x'.repeat(n - 2)) : Buffer.alloc(n, 7));
    expect(parse(frame({ opcode, payload: payload(126) }))).toEqual([err(1002)]);
    expect(parse(frame({ opcode, payload: payload(125) }))).toEqual([
      opcode === PING
        ? { type: 'ping', data: payload(125).toString('hex') }
        : opcode === PONG
          ? { type: 'pong', data: payload(125).toString('hex') }
          : { type: 'close', code: 1000, reason: 'x'.repeat(123) },
    ]);
  });

  test.each([PING, PONG, CLOSE])('fragmented control frame (opcode %d)', (opcode) => {
    expect(parse(frame({ opcode, fin: false }))).toEqual([err(1002)]);
  });

  test('continuation without a message in progress', () => {
    expect(parse(frame({ opcode: CONT, payload: 'a' }))).toEqual([err(1002)]);
    // ... also right after a finished message.
    expect(parse(bytes(frame({ opcode: TEXT, payload: 'a' }), frame({ opcode: CONT, payload: 'b' })))).toEqual([message('a'), err(1002)]);
  });

  test.each([TEXT, BINARY])('new data frame (opcode %d) in the middle of a message', (opcode) => {
    expect(parse(bytes(frame({ opcode: TEXT, payload: 'a', fin: false }), frame({ opcode, payload: 'b' })))).toEqual([err(1002)]);
  });

  test('64-bit length with the most significant bit set', () => {
    expect(parse(frame({ opcode: BINARY, length: 2 ** 63 }))).toEqual([err(1002)]);
    expect(parse(frame({ opcode: BINARY, length: 2 ** 63 + 2 ** 40 }))).toEqual([err(1002)]);
  });
});

describe('message size: 1009', () => {
  test('decided from the header alone, before any payload arrives', () => {
    const { parser, rec } = makeParser({ maxPayload: 1000 });
    const header = frame({ opcode: BINARY, length: 1001 }); // header only: no payload bytes
    expect(header.length).toBe(8);
    parser.push(Buffer.from(header));
    expect(rec.events).toEqual([err(1009)]);
  });

  test('a huge 64-bit length is refused from the header', () => {
    const { parser, rec } = makeParser({ maxPayload: 1000 });
    parser.push(frame({ opcode: TEXT, length: 2 ** 62 }));
    expect(rec.events).toEqual([err(1009)]);
  });

  test('exactly maxPayload is fine', () => {
    expect(parse(frame({ opcode: BINARY, payload: Buffer.alloc(1000, 1) }), { maxPayload: 1000 })).toEqual([
      message(Buffer.alloc(1000, 1)),
    ]);
  });

  test('counted across fragments, not counting control frames', () => {
    const opts = { maxPayload: 10 };
    const first = frame({ opcode: TEXT, payload: 'abcdef', fin: false });
    const ping = frame({ opcode: PING, payload: 'pppppppppp' });
    expect(parse(bytes(first, ping, frame({ opcode: CONT, payload: 'ghij' })), opts)).toEqual([
      { type: 'ping', data: Buffer.from('pppppppppp').toString('hex') },
      message('abcdefghij'),
    ]);
    // The fragment pushing the total to 11 fails on its header.
    const { parser, rec } = makeParser(opts);
    parser.push(Buffer.from(first));
    parser.push(frame({ opcode: CONT, length: 5 }));
    expect(rec.events).toEqual([err(1009)]);
  });

  test('the count starts over with each message', () => {
    const opts = { maxPayload: 4 };
    const msg = bytes(frame({ opcode: BINARY, payload: 'ab', fin: false }), frame({ opcode: CONT, payload: 'cd' }));
    expect(parse(bytes(msg, msg, msg), opts)).toEqual([message(Buffer.from('abcd')), message(Buffer.from('abcd')), message(Buffer.from('abcd'))]);
  });
});

describe('UTF-8: 1007', () => {
  test('invalid text in a single frame', () => {
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff], [0x80]]) {
      expect(parse(frame({ opcode: TEXT, payload: Buffer.from(bad) }))).toEqual([err(1007)]);
    }
  });

  test.each([
    ['C0', [0xc0]],
    ['ED A0 (surrogate)', [0xed, 0xa0]],
    ['E0 80 (overlong)', [0xe0, 0x80]],
    ['F4 90 (above U+10FFFF)', [0xf4, 0x90]],
    ['F5', [0xf5]],
    ['a lone continuation byte', [0x41, 0x80]],
  ])('fails early on a prefix that can never be valid: %s', (_name, prefix) => {
    const { parser, rec } = makeParser();
    parser.push(frame({ opcode: TEXT, payload: Buffer.from(prefix), fin: false }));
    expect(rec.events).toEqual([err(1007)]);
    parser.push(frame({ opcode: CONT, payload: 'x' }));
    expect(rec.events).toEqual([err(1007)]);
  });

  test('a code point split across fragments is fine', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    const rocket = Buffer.from('🚀'); // f0 9f 9a 80
    const events = parse(
      bytes(
        frame({ opcode: TEXT, payload: euro.subarray(0, 1), fin: false }),
        frame({ opcode: CONT, payload: euro.subarray(1, 2), fin: false }),
        frame({ opcode: CONT, payload: Buffer.concat([euro.subarray(2), rocket.subarray(0, 3)]), fin: false }),
        frame({ opcode: PING }),
        frame({ opcode: CONT, payload: rocket.subarray(3) }),
      ),
    );
    expect(events).toEqual([{ type: 'ping', data: '' }, message('€🚀')]);
  });

  test('a prefix that could still be valid does not fail early', () => {
    const { parser, rec } = makeParser();
    parser.push(frame({ opcode: TEXT, payload: Buffer.from([0xf0, 0x9f, 0x9a]), fin: false }));
    expect(rec.events).toEqual([]);
  });

  test('a message ending inside a sequence', () => {
    expect(parse(bytes(frame({ opcode: TEXT, payload: 'a', fin: false }), frame({ opcode: CONT, payload: Buffer.from([0xe2, 0x82]) })))).toEqual([
      err(1007),
    ]);
    expect(parse(frame({ opcode: TEXT, payload: Buffer.from([0xe2, 0x82]) }))).toEqual([err(1007)]);
  });

  test('the UTF-8 state starts over with each message', () => {
    const a = bytes(frame({ opcode: TEXT, payload: 'é', fin: false }), frame({ opcode: CONT, payload: 'e' }));
    expect(parse(bytes(a, a))).toEqual([message('ée'), message('ée')]);
  });
});

describe('close frames', () => {
  test('empty close is code 1005', () => {
    expect(parse(frame({ opcode: CLOSE }))).toEqual([{ type: 'close', code: 1005, reason: '' }]);
  });

  test('a 1-byte payload is 1002', () => {
    expect(parse(frame({ opcode: CLOSE, payload: Buffer.from([3]) }))).toEqual([err(1002)]);
  });

  test.each([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])('code %d is 1002', (code) => {
    expect(parse(frame({ opcode: CLOSE, payload: closePayload(code) }))).toEqual([err(1002)]);
  });

  test.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999])('code %d is accepted', (code) => {
    expect(parse(frame({ opcode: CLOSE, payload: closePayload(code, 'bye ✓') }))).toEqual([{ type: 'close', code, reason: 'bye ✓' }]);
  });

  test('a reason that is not UTF-8 is 1007', () => {
    const payload = Buffer.concat([closePayload(1000), Buffer.from([0x61, 0xc0, 0xaf])]);
    expect(parse(frame({ opcode: CLOSE, payload }))).toEqual([err(1007)]);
  });

  test('a close frame in the middle of a fragmented message is fine', () => {
    expect(parse(bytes(frame({ opcode: TEXT, payload: 'a', fin: false }), frame({ opcode: CLOSE, payload: closePayload(1001) })))).toEqual([
      { type: 'close', code: 1001, reason: '' },
    ]);
  });
});

describe('after the end', () => {
  const later = () => bytes(frame({ opcode: TEXT, payload: 'later' }), frame({ opcode: PING }));

  test('input after a close frame is ignored, in the same chunk or later ones', () => {
    const { parser, rec } = makeParser();
    parser.push(bytes(frame({ opcode: CLOSE, payload: closePayload(1000) }), later()));
    parser.push(later());
    expect(rec.events).toEqual([{ type: 'close', code: 1000, reason: '' }]);
    expect(parser.bufferedBytes).toBe(0);
  });

  test('input after an error is ignored', () => {
    const { parser, rec } = makeParser();
    parser.push(bytes(frame({ opcode: TEXT, payload: 'ok' }), frame({ opcode: 3 }), later()));
    parser.push(later());
    expect(rec.events).toEqual([message('ok'), err(1002)]);
    expect(rec.errors[0].name).toBe('ProtocolError');
    expect(rec.errors[0].closeCode).toBe(1002);
    expect(rec.errors[0].message).toMatch(/opcode 3/);
    expect(parser.bufferedBytes).toBe(0);
  });

  test('stop() drops buffered input and ends parsing', () => {
    const { parser, rec } = makeParser();
    const data = frame({ opcode: TEXT, payload: 'abc' });
    parser.push(data.subarray(0, 5));
    expect(parser.bufferedBytes).toBe(5);
    parser.stop();
    expect(parser.bufferedBytes).toBe(0);
    parser.push(data.subarray(5));
    parser.push(later());
    expect(rec.events).toEqual([]);
  });
});

describe('pause and resume', () => {
  const stream = () =>
    bytes(
      frame({ opcode: TEXT, payload: 'one' }),
      frame({ opcode: PING, payload: 'p' }),
      frame({ opcode: TEXT, payload: 't', fin: false }),
      frame({ opcode: CONT, payload: 'wo' }),
      frame({ opcode: BINARY, payload: 'three' }),
      frame({ opcode: CLOSE, payload: closePayload(1000, 'end') }),
    );
  const expected: ParserEvent[] = [
    message('one'),
    { type: 'ping', data: '70' },
    message('two'),
    message(Buffer.from('three')),
    { type: 'close', code: 1000, reason: 'end' },
  ];

  test('pausing after every event delivers one event per resume, in order', () => {
    const { parser, rec } = makeParser();
    rec.after = () => parser.pause();
    parser.push(stream());
    let resumes = 0;
    while (rec.events.length < expected.length && resumes < 20) {
      expect(parser.isPaused).toBe(true);
      expect(rec.events.length).toBe(resumes + 1);
      resumes++;
      parser.resume();
    }
    expect(rec.events).toEqual(expected);
  });

  test('input pushed while paused is kept and parsed on resume', () => {
    const { parser, rec } = makeParser();
    parser.pause();
    const data = stream();
    for (let i = 0; i < data.length; i += 3) parser.push(Buffer.from(data.subarray(i, i + 3)));
    expect(rec.events).toEqual([]);
    expect(parser.bufferedBytes).toBe(data.length);
    parser.resume();
    expect(rec.events).toEqual(expected);
  });

  test('resume() from inside a handler continues in order', () => {
    const { parser, rec } = makeParser();
    rec.after = () => {
      parser.pause();
      parser.resume();
    };
    parser.push(stream());
    expect(rec.events).toEqual(expected);
    expect(parser.isPaused).toBe(false);
  });

  test('push() from inside a handler is queued behind the current input', () => {
    const { parser, rec } = makeParser();
    let pushed = false;
    rec.after = () => {
      if (pushed) return;
      pushed = true;
      parser.push(frame({ opcode: TEXT, payload: 'reentrant' }));
    };
    parser.push(bytes(frame({ opcode: TEXT, payload: 'a' }), frame({ opcode: TEXT, payload: 'b' })));
    expect(rec.events).toEqual([message('a'), message('b'), message('reentrant')]);
  });

  test('resume() when not paused does nothing', () => {
    const { parser, rec } = makeParser();
    parser.resume();
    parser.push(frame({ opcode: TEXT, payload: 'x' }));
    expect(rec.events).toEqual([message('x')]);
  });
});

describe('memory', () => {
  test('100,000 one-byte fragments are assembled in one buffer at most twice the payload', () => {
    const n = 100_000;
    const fragment = 2 + 4 + 1; // header, zero mask key, one byte
    const data = Buffer.alloc(n * fragment);
    for (let i = 0; i < n; i++) {
      const at = i * fragment;
      data[at] = (i === n - 1 ? 0x80 : 0) | (i === 0 ? BINARY : CONT);
      data[at + 1] = 0x80 | 1;
      data[at + 6] = i & 0xff;
    }
    const { parser, rec } = makeParser({ maxPayload: 1 << 20 });
    parser.push(data);
    expect(rec.events.length).toBe(1);
    const msg = rec.lastMessage!;
    expect(msg.length).toBe(n);
    const expected = Buffer.alloc(n);
    for (let i = 0; i < n; i++) expected[i] = i & 0xff;
    expect(msg.equals(expected)).toBe(true);
    expect(msg.buffer.byteLength).toBeLessThanOrEqual(2 * n);
  });

  test('the assembly buffer never grows past maxPayload', () => {
    const max = 300;
    const { parser, rec } = makeParser({ maxPayload: max });
    // The private assembly buffer, to see its capacity while a message is in progress.
    const assembly = () => (parser as unknown as { messageBuffer: Buffer | null }).messageBuffer;
    parser.push(frame({ opcode: BINARY, payload: Buffer.alloc(200, 1), fin: false }));
    expect(assembly()!.length).toBe(256);
    parser.push(frame({ opcode: CONT, payload: Buffer.alloc(99, 2), fin: false }));
    expect(assembly()!.length).toBe(max); // doubling to 512 is capped
    parser.push(frame({ opcode: CONT, payload: Buffer.alloc(1, 3) }));
    expect(rec.lastMessage!.equals(Buffer.concat([Buffer.alloc(200, 1), Buffer.alloc(99, 2), Buffer.alloc(1, 3)]))).toBe(true);
    expect(assembly()).toBeNull();
  });
});

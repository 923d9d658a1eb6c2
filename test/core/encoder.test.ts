// Server frame encoding (exact header bytes at the length boundaries) and close payloads.
import { encodeClosePayload, isValidCloseCode } from '../../src/core/frames';
import { encodeFrame, encodeHeader, encodeTextFrame, headerSize, writeHeader } from '../../src/core/encoder';
import { Opcode } from '../../src/core/frames';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('headers', () => {
  test.each([
    [0, '8200'],
    [1, '8201'],
    [125, '827d'],
    [126, '827e007e'],
    [127, '827e007f'],
    [65535, '827effff'],
    [65536, '827f0000000000010000'],
    [2 ** 32 - 1, '827f00000000ffffffff'],
    [2 ** 32 + 5, '827f0000000100000005'],
    [2 ** 53 - 1, '827f001fffffffffffff'],
  ])('binary frame of %d bytes: %s', (length, expected) => {
    expect(hex(encodeHeader(Opcode.BINARY, length))).toBe(expected);
    expect(headerSize(length)).toBe(expected.length / 2);
  });

  test('FIN, RSV1 and opcode bits', () => {
    expect(hex(encodeHeader(Opcode.TEXT, 3))).toBe('8103');
    expect(hex(encodeHeader(Opcode.TEXT, 3, false))).toBe('0103');
    expect(hex(encodeHeader(Opcode.CONTINUATION, 3, true))).toBe('8003');
    expect(hex(encodeHeader(Opcode.TEXT, 3, true, true))).toBe('c103');
    expect(hex(encodeHeader(Opcode.CLOSE, 2))).toBe('8802');
    expect(hex(encodeHeader(Opcode.PING, 0))).toBe('8900');
    expect(hex(encodeHeader(Opcode.PONG, 0))).toBe('8a00');
  });

  test('writeHeader writes at an offset and returns the end', () => {
    const target = Buffer.alloc(16, 0xee);
    expect(writeHeader(target, 3, Opcode.BINARY, 300)).toBe(7);
    expect(hex(target)).toBe(`eeeeee827e012c${'ee'.repeat(9)}`);
  });
});

describe('whole frames', () => {
  test.each([0, 125, 126, 65535, 65536])('encodeFrame of %d bytes is header then payload', (n) => {
    const payload = Buffer.alloc(n);
    for (let i = 0; i < n; i++) payload[i] = i & 0xff;
    const frame = encodeFrame(Opcode.BINARY, payload);
    const size = headerSize(n);
    expect(frame.length).toBe(size + n);
    expect(frame.subarray(0, size).equals(encodeHeader(Opcode.BINARY, n))).toBe(true);
    expect(frame.subarray(size).equals(payload)).toBe(true);
  });

  test('encodeTextFrame writes UTF-8 and counts bytes, not characters', () => {
    expect(hex(encodeTextFrame('hé🚀'))).toBe(`8107${Buffer.from('hé🚀').toString('hex')}`);
    const long = 'é'.repeat(63); // 126 bytes: needs the 16-bit length
    const frame = encodeTextFrame(long);
    expect(hex(frame.subarray(0, 4))).toBe('817e007e');
    expect(frame.subarray(4).toString()).toBe(long);
    expect(hex(encodeTextFrame('', true))).toBe('c100');
  });
});

describe('close payloads', () => {
  test('no code: empty payload', () => {
    expect(encodeClosePayload(undefined).length).toBe(0);
  });

  test('code and UTF-8 reason', () => {
    expect(hex(encodeClosePayload(1000))).toBe('03e8');
    expect(hex(encodeClosePayload(4321, 'bye ✓'))).toBe(`10e1${Buffer.from('bye ✓').toString('hex')}`);
  });

  test('reason is limited to 123 bytes of UTF-8', () => {
    expect(encodeClosePayload(1000, 'x'.repeat(123)).length).toBe(125);
    expect(() => encodeClosePayload(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => encodeClosePayload(1000, 'é'.repeat(62))).toThrow(RangeError); // 124 bytes, 62 characters
  });

  test('isValidCloseCode', () => {
    const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2999, 5000, 65535, -1];
    for (const code of valid) expect([code, isValidCloseCode(code)]).toEqual([code, true]);
    for (const code of invalid) expect([code, isValidCloseCode(code)]).toEqual([code, false]);
  });
});

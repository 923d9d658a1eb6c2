// io/text.ts on its own: decoding by every route gives Node's own string, frames carry the
// UTF-8 of the string, and text passed on unchanged reuses the bytes it arrived as.
import { decodeText, encodeText, forgetText, textBytes } from '../../src/io/text';

const mixed = (n: number) => {
  let s = '';
  for (let i = 0, bytes = 0; bytes < n; i++) {
    const ch = i % 15 === 0 ? ['é', '€', '中', '😀'][(i / 15) % 4] : 'abcdefghij'[i % 10];
    s += ch;
    bytes += Buffer.byteLength(ch);
  }
  return s;
};

function payloadOf(frame: { frame: Buffer; payload: Buffer | null }): Buffer {
  if (frame.payload !== null) return frame.payload;
  const code = frame.frame[1] & 0x7f;
  return frame.frame.subarray(code < 126 ? 2 : code === 126 ? 4 : 10);
}

beforeEach(() => forgetText());

describe('decodeText', () => {
  test.each([0, 1, 23, 24, 100, 1023, 1024, 5000, 70_000])('%i bytes: ASCII and mixed, told or not', (n) => {
    const ascii = 'q'.repeat(n);
    const text = mixed(n);
    const bytes = Buffer.from(text);
    expect(decodeText(Buffer.from(ascii), true)).toBe(ascii);
    expect(decodeText(Buffer.from(ascii))).toBe(ascii);
    expect(decodeText(Buffer.from(ascii), false)).toBe(ascii); // 'false' only steers the route
    expect(decodeText(bytes, false)).toBe(text);
    expect(decodeText(bytes)).toBe(text);
  });
});

describe('encodeText', () => {
  test.each([0, 10, 125, 126, 1000, 1400, 4000, 65_535, 65_536, 200_000])('a %i-byte text frame', (n) => {
    const text = mixed(n);
    const frame = encodeText(text);
    expect(frame.frame[0]).toBe(0x81); // FIN + text
    expect(payloadOf(frame).toString()).toBe(text);
  });

  test('a lone surrogate is sent as U+FFFD, as Buffer.from does', () => {
    forgetText();
    expect(payloadOf(encodeText('a\ud800b')).equals(Buffer.from('a\ud800b'))).toBe(true);
  });

  test('the string just received is framed from the bytes it came in, not encoded again', () => {
    const bytes = Buffer.from(mixed(8000));
    const text = decodeText(bytes, false);
    const frame = encodeText(text);
    expect(frame.payload).toBe(bytes); // large: written as received, after its own header
    expect(encodeText(text)).toBe(frame); // the same string again: the same frame
    expect(textBytes(text)).toBe(bytes);
  });

  test('another string is encoded afresh', () => {
    decodeText(Buffer.from('first'), true);
    expect(payloadOf(encodeText('second')).toString()).toBe('second');
    expect(textBytes('third').toString()).toBe('third');
  });
});

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

  test.each([30, 300, 1023, 1024, 1025, 20_000])('%i bytes of dense non-ASCII text (on Node 24, from 1 KiB, V8\'s own decoder)', (n) => {
    let text = '';
    while (Buffer.byteLength(text) + 3 <= n) text += String.fromCharCode(0x4e00 + ((text.length * 37) % 0x5000));
    text += 'x'.repeat(n - Buffer.byteLength(text));
    expect(decodeText(Buffer.from(text), false)).toBe(text);
    expect(decodeText(Buffer.from(text))).toBe(text);
  });
});

describe('encodeText', () => {
  test.each([0, 10, 125, 126, 1000, 1400, 4000, 65_535, 65_536, 200_000])('a %i-byte text frame', (n) => {
    const text = mixed(n);
    const frame = encodeText(text);
    expect(frame.frame[0]).toBe(0x81); // FIN + text
    expect(payloadOf(frame).toString()).toBe(text);
  });

  /** The exact frame RFC 6455 5.2 gives for `payload`: FIN + text, the shortest length form. */
  const expected = (payload: Buffer) => {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x81, n]) : Buffer.from([0x81, 126, n >> 8, n & 0xff]);
    return Buffer.concat([head, payload]);
  };

  test.each([
    ['ASCII, 125 bytes', 'a'.repeat(125)],
    ['ASCII, 126 bytes', 'a'.repeat(126)],
    ['41 euro signs: 123 bytes in 41 units', '€'.repeat(41)],
    ['42 euro signs: 126 bytes in 42 units (the 2-byte header guess is wrong)', '€'.repeat(42)],
    ['125 units, 250 bytes', 'é'.repeat(125)],
    ['emoji: 4 bytes per 2 units', '😀'.repeat(40)],
    ['mixed, 4000 bytes', mixed(4000)],
  ])('%s: the whole frame is exactly header + UTF-8', (_name, text) => {
    forgetText();
    expect(encodeText(text).frame.equals(expected(Buffer.from(text)))).toBe(true);
  });

  test('small frames made one after another lie side by side, so a batch of them is one view', () => {
    const texts = ['one', '€'.repeat(42), 'two', 'é'.repeat(30)];
    const frames = texts.map((t) => encodeText(t).frame);
    // Passed on as received: framed from the received bytes, also side by side.
    const received = decodeText(Buffer.from('drei ü'), false);
    frames.push(encodeText(received).frame);
    frames.forEach((f, i) => expect(f.equals(expected(Buffer.from([...texts, received][i])))).toBe(true));
    // A new slab may have begun before any of them; from the second frame on they follow one another.
    let adjacent = 0;
    for (let i = 1; i < frames.length; i++) {
      if (frames[i].buffer === frames[i - 1].buffer) {
        expect(frames[i].byteOffset).toBe(frames[i - 1].byteOffset + frames[i - 1].length);
        adjacent++;
      }
    }
    expect(adjacent).toBeGreaterThanOrEqual(frames.length - 2);
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

// UTF-8 to string through the WebAssembly UTF-16 loop: the same string as Node's own decoder
// for every valid input, across the 16-byte blocks, the ASCII runs and the 64 KiB input blocks.
import fc from 'fast-check';
import { decodeUtf8, utf16Available } from '../../src/core/utf16';

const sample = ['a', '~', '\u0080', 'é', 'ß', '\u07ff', '\u0800', '€', '中', '\ud7ff', '\ue000', '\uffff', '😀', '\u{10000}', '\u{10ffff}'];

function same(text: string): void {
  const bytes = Buffer.from(text);
  const got = decodeUtf8(bytes);
  expect(got.length).toBe(text.length);
  expect(got === text).toBe(true);
}

test('WebAssembly SIMD is available on the Node versions the package supports', () => {
  expect(utf16Available).toBe(true);
});

test('empty input is the empty string', () => {
  expect(decodeUtf8(new Uint8Array(0))).toBe('');
});

test.each(sample)('each kind of code point (%s) at every offset of a 16-byte block', (ch) => {
  for (let before = 0; before < 40; before++) {
    for (let after = 0; after < 20; after += 3) same('x'.repeat(before) + ch + 'y'.repeat(after));
  }
});

test('blocks of several two- and three-byte code points, cut anywhere by the block end', () => {
  // Decoded all lanes at once; a sequence that runs past lane 15 is read on into the next block.
  const dense = ['é€中ß', '€€€€€€', 'ééééééééé', 'é中é中é中', '\u07ff\u0800\u0080\uffff', 'é😀€中'];
  for (const run of dense) {
    for (let before = 0; before < 20; before++) {
      same('x'.repeat(before) + run.repeat(7));
      same('x'.repeat(before) + run + 'y' + run + '😀' + run.repeat(3) + 'z'.repeat(before));
    }
  }
});

test('four-byte sequences across block ends: the high surrogate in one block, the low in the next', () => {
  for (let before = 0; before < 20; before++) {
    same('x'.repeat(before) + '😀'.repeat(9));
    same('x'.repeat(before) + '😀é😀€😀中😀' + 'y'.repeat(17) + '\u{10ffff}\u{10000}');
    // The low surrogate of the last sequence comes from the last, partial block.
    for (let tail = 0; tail < 3; tail++) same('é'.repeat(before) + '😀' + 'z'.repeat(tail));
  }
});

test('bytes left in memory past the end of the input are never decoded', () => {
  // A long decode leaves lead and continuation bytes beyond where a short one ends.
  for (let n = 1; n < 40; n++) {
    decodeUtf8(Buffer.from('😀€é'.repeat(50)));
    same('a'.repeat(n));
    decodeUtf8(Buffer.from('😀€é'.repeat(50)));
    same('é'.repeat(n >> 1) + 'a'.repeat(n & 1));
  }
});

test('random strings of every code point class (fast-check)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
      expect(decodeUtf8(Buffer.from(text))).toBe(text);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...sample), { maxLength: 200 }), (parts) => {
      const text = parts.join('');
      expect(decodeUtf8(Buffer.from(text))).toBe(text);
    }),
    { numRuns: 2000 },
  );
});

test.each(['é', '€', '😀'])('a %s cut by the 64 KiB input block boundary stays whole', (ch) => {
  const width = Buffer.byteLength(ch);
  for (let shift = 0; shift < width + 1; shift++) {
    const text = 'a'.repeat(64 * 1024 - shift) + ch.repeat(5) + 'b'.repeat(10);
    same(text);
  }
});

test('large mixed text over several blocks, and CJK text', () => {
  let text = '';
  for (let i = 0; i < 40_000; i++) text += i % 17 === 0 ? sample[i % sample.length] : String.fromCharCode(97 + (i % 26));
  same(text.repeat(6)); // ~250 KiB: four blocks
  same('中文字'.repeat(50_000)); // 450 KiB of three-byte sequences
  same('😀'.repeat(40_000));
});

test('the input is left as it was', () => {
  const bytes = Buffer.from('héllo wörld, 中文 😀'.repeat(10));
  const copy = Buffer.from(bytes);
  decodeUtf8(bytes);
  expect(bytes.equals(copy)).toBe(true);
});

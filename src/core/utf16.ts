// Valid UTF-8 to a string by way of UTF-16: a WebAssembly loop (wasm/utf16.wat) writes the
// UTF-16 code units, and Buffer's UTF-16 slice, close to a copy, makes the string. Up to Node
// 23, V8 turns non-ASCII UTF-8 into a string one code point at a time (16 KiB of text with 6%
// multi-byte characters on Node 20: about 50 µs, against 14 µs this way); from Node 24 its own
// decoder is the faster one for dense non-ASCII text. Which to use is the caller's choice
// (io/text.ts).
import { Buffer } from 'node:buffer';
import { UTF16_WASM } from './wasm/binaries';
import { instantiate } from './wasm/instantiate';

// Input and output areas in the module's memory (see the .wat): one block of input, and its
// UTF-16 (at most 2 bytes per input byte) plus 32 bytes the loop may write past the end.
const BLOCK = 64 * 1024;
const OUT = BLOCK;
// The shuffle table (see the .wat): for each 8-bit keep mask, the byte indexes that gather
// the kept 16-bit lanes to the front, in order; the other indexes are out of range (zero).
const TABLE = 0x31000;

function writeTable(memory: Uint8Array): void {
  for (let mask = 0; mask < 256; mask++) {
    const entry = memory.subarray(TABLE + 16 * mask, TABLE + 16 * mask + 16);
    entry.fill(0xff);
    let k = 0;
    for (let lane = 0; lane < 8; lane++) {
      if ((mask & (1 << lane)) === 0) continue;
      entry[k++] = 2 * lane;
      entry[k++] = 2 * lane + 1;
    }
  }
}

interface Utf16Module {
  input: Uint8Array;
  output: Buffer;
  utf16: (at: number, length: number, out: number) => number;
}

function load(): Utf16Module | null {
  const exports = instantiate(UTF16_WASM);
  if (exports === null) return null;
  const memory = exports.memory.buffer;
  writeTable(new Uint8Array(memory));
  return { input: new Uint8Array(memory), output: Buffer.from(memory), utf16: exports.utf16 as Utf16Module['utf16'] };
}

const wasm = load();

/** Whether decodeUtf8 can run here (WebAssembly with SIMD). */
export const utf16Available = wasm !== null;

interface Ucs2 {
  ucs2Slice?(start: number, end: number): string;
}
const ucs2Slice = (Buffer.prototype as unknown as Ucs2).ucs2Slice;

function slice(output: Buffer, start: number, end: number): string {
  return ucs2Slice !== undefined ? ucs2Slice.call(output, start, end) : output.toString('utf16le', start, end);
}

/**
 * The string of `data`, which must be valid UTF-8 (it is not checked again: the parser has
 * validated every text message before it is decoded). Needs utf16Available.
 */
export function decodeUtf8(data: Uint8Array): string {
  if (wasm === null) throw new Error('decodeUtf8: WebAssembly SIMD is not available');
  const n = data.length;
  let text = '';
  for (let start = 0; start < n; ) {
    let cut = Math.min(start + BLOCK, n);
    // A block ends on a code point boundary: back up over continuation bytes.
    while (cut < n && (data[cut] & 0xc0) === 0x80) cut--;
    wasm.input.set(cut - start === n ? data : data.subarray(start, cut));
    const written = wasm.utf16(0, cut - start, OUT);
    const part = slice(wasm.output, OUT, OUT + written);
    text = start === 0 ? part : text + part;
    start = cut;
  }
  return text;
}
